"""Builds and settings for tests, in the JSON form upstream publishes."""

from __future__ import annotations

import uuid
from typing import Any

from consumer import codec, jsonform
from consumer.model import Build, ExportMode, InventoryMode, TenantSettings
from consumer.schemas import BUILD_STATUS_CHANGED
from consumer.validate import build_from_record


def line(
    product_id: str,
    quantity: str,
    unit_cost: str,
    item: str | None = "auto",
    sku: str | None = None,
) -> dict[str, Any]:
    return {
        "product_id": product_id,
        "sku": sku or product_id.upper(),
        "name": f"Product {product_id}",
        "accounting_item_id": f"item-{product_id}" if item == "auto" else item,
        "quantity": quantity,
        "unit_cost": unit_cost,
    }


def event(
    *,
    tenant_id: str = "acme",
    build_id: str | None = None,
    status: str = "PENDING_EXPORT",
    components: list[dict[str, Any]] | None = None,
    finished_good: dict[str, Any] | None = None,
    cost_lines: list[dict[str, Any]] | None = None,
    qa: dict[str, Any] | None = None,
    ready_at: str | None = "2026-03-01T15:30:00Z",
    occurred_at: str = "2026-03-01T15:30:00Z",
    build_number: str = "B-1042",
) -> dict[str, Any]:
    return {
        "event_id": str(uuid.uuid4()),
        "occurred_at": occurred_at,
        "tenant_id": tenant_id,
        "build_id": build_id or str(uuid.uuid4()),
        "build_number": build_number,
        "status": status,
        "ready_at": ready_at,
        "currency": "USD",
        "finished_good": finished_good or line("fg", "1", "0"),
        "components": components if components is not None else [line("c1", "2", "10")],
        "cost_lines": cost_lines or [],
        "qa": qa,
    }


def rejected(mode: str, lost: list[dict[str, str]] | None = None) -> dict[str, Any]:
    return {
        "result": "REJECTED",
        "reason": "QUALITY_DEFECT",
        "recovery_mode": mode,
        "lost": lost or [],
        "notes": None,
    }


APPROVED = {
    "result": "APPROVED",
    "reason": None,
    "recovery_mode": None,
    "lost": [],
    "notes": None,
}


def avro_bytes(data: dict[str, Any]) -> bytes:
    return codec.encode(
        BUILD_STATUS_CHANGED, jsonform.to_avro(BUILD_STATUS_CHANGED, data)
    )


def build(**kwargs: Any) -> Build:
    """A Build read back from real Avro bytes, the way the consumer reads it."""
    _, record = codec.decode(avro_bytes(event(**kwargs)))
    return build_from_record(record)


def synced(**overrides: Any) -> TenantSettings:
    values: dict[str, Any] = dict(
        tenant_id="acme",
        realm_id="realm-1",
        inventory_mode=InventoryMode.SYNCED,
        cogs_account_id="80",
        export_mode=ExportMode.AUTO,
    )
    values.update(overrides)
    return TenantSettings(**values)


def partsemble_only(**overrides: Any) -> TenantSettings:
    values: dict[str, Any] = dict(
        tenant_id="birch",
        realm_id="realm-2",
        inventory_mode=InventoryMode.PARTSEMBLE_ONLY,
        build_debit_account_id="90",
        build_credit_account_id="91",
        export_mode=ExportMode.AUTO,
    )
    values.update(overrides)
    return TenantSettings(**values)
