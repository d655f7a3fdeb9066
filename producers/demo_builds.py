"""The demo: two companies, one per inventory mode, and a realistic set of builds.

Everything is returned in the JSON forms the rest of the service reads: the emulator
seed, the tenants file, and BuildStatusChanged events in the order upstream emits them.
Build ids are fresh on every call, so each demo run exports new builds.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from consumer.jsonform import format_timestamp

APP = {"client_id": "partsemble-demo", "client_secret": "demo-client-secret"}
ACME_REALM = "9130350000000001"
BIRCH_REALM = "9130350000000002"


@dataclass(frozen=True)
class DemoBuild:
    tenant_id: str
    build_number: str
    story: str  # what happened to it, for the table
    events: list[dict[str, Any]]


def seed() -> dict[str, Any]:
    acme_accounts = [
        _account("80", "Cost of Goods Sold", "Cost of Goods Sold"),
        _account("81", "Inventory Shrinkage", "Cost of Goods Sold"),
        _account("82", "Inventory Asset", "Other Current Asset"),
    ]
    acme_items = [
        _item("11", "Steel frame", "FRM-100", "120"),
        _item("12", "Hub motor 250W", "MTR-250", "60"),
        _item("13", "Battery pack 36V", "BAT-360", "60"),
        _item("14", "Fastener kit", "FST-010", "500"),
        _item("20", "City e-scooter", "SCT-900", "5"),
    ]
    birch_accounts = [
        _account("90", "Finished Goods Inventory", "Other Current Asset"),
        _account("91", "Raw Materials Inventory", "Other Current Asset"),
        _account("92", "Production Waste", "Expense"),
    ]
    return {
        "apps": [APP],
        "companies": [
            {
                "realm_id": ACME_REALM,
                "name": "Acme Scooters",
                "inventory_tracking": True,
                "refresh_token": f"RT-acme-{uuid.uuid4().hex[:12]}",
                "accounts": acme_accounts,
                "items": acme_items,
            },
            {
                "realm_id": BIRCH_REALM,
                "name": "Birch Furniture",
                "inventory_tracking": False,
                "refresh_token": f"RT-birch-{uuid.uuid4().hex[:12]}",
                "accounts": birch_accounts,
                "items": [],
            },
        ],
    }


def tenants(seed_document: dict[str, Any]) -> dict[str, Any]:
    tokens = {c["realm_id"]: c["refresh_token"] for c in seed_document["companies"]}
    return {
        "tenants": [
            {
                "tenant_id": "acme-scooters",
                "realm_id": ACME_REALM,
                "inventory_mode": "SYNCED",
                "export_mode": "AUTO",
                "cogs_account_id": "80",
                "waste_account_id": "81",
                "timezone": "America/Chicago",
                "connection": {"refresh_token": tokens[ACME_REALM]},
            },
            {
                "tenant_id": "birch-furniture",
                "realm_id": BIRCH_REALM,
                "inventory_mode": "PARTSEMBLE_ONLY",
                "export_mode": "AUTO",
                "build_debit_account_id": "90",
                "build_credit_account_id": "91",
                "waste_account_id": "92",
                "timezone": "Europe/Berlin",
                "connection": {"refresh_token": tokens[BIRCH_REALM]},
            },
        ]
    }


def builds(now: datetime | None = None) -> list[DemoBuild]:
    now = now or datetime.now(UTC)
    frame = _line("p-frm", "FRM-100", "Steel frame", "11", "1", "84.50")
    motor = _line("p-mtr", "MTR-250", "Hub motor 250W", "12", "1", "129.99")
    battery = _line("p-bat", "BAT-360", "Battery pack 36V", "13", "1", "212.40")
    fasteners = _line("p-fst", "FST-010", "Fastener kit", "14", "2", "3.3333")
    scooter = _line("p-sct", "SCT-900", "City e-scooter", "20", "1", "0")
    brake = _line("p-brk", "BRK-410", "Brake cable set", None, "2", "6.25")
    scooter_parts = [frame, motor, battery, fasteners]
    labour = [
        {"kind": "LABOR", "amount": "42.00"},
        {"kind": "OVERHEAD", "amount": "12.35"},
    ]

    slab = _line("p-oak", "OAK-SLAB", "Oak slab 2m", None, "1.5", "96.40")
    legs = _line("p-leg", "LEG-04", "Steel leg", None, "4", "18.75")
    oil = _line("p-oil", "OIL-HW", "Hardwax oil 0.25l", None, "0.3", "31.90")
    table = _line("p-tbl", "TBL-OAK", "Oak dining table", None, "1", "0")
    table_parts = [slab, legs, oil]
    joinery = [
        {"kind": "LABOR", "amount": "120.00"},
        {"kind": "OTHER", "amount": "8.5"},
    ]

    def at(hours: float) -> datetime:
        return now - timedelta(hours=hours)

    acme, birch = "acme-scooters", "birch-furniture"
    return [
        _approved(acme, "B-1001", scooter, scooter_parts, labour, at(5)),
        _no_qa(acme, "B-1002", scooter, [*scooter_parts[:3], fasteners], [], at(4)),
        _rejected(
            acme,
            "B-1003",
            scooter,
            scooter_parts,
            labour,
            at(3),
            "TOTAL_LOSS",
            "EQUIPMENT_FAILURE",
            [],
        ),
        _rejected(
            acme,
            "B-1004",
            scooter,
            scooter_parts,
            labour,
            at(3),
            "PARTIAL_LOSS",
            "QUALITY_DEFECT",
            [
                {"product_id": "p-bat", "quantity": "1"},
                {"product_id": "p-fst", "quantity": "0.5"},
            ],
        ),
        _rejected(
            acme,
            "B-1005",
            scooter,
            scooter_parts,
            labour,
            at(2),
            "FULL_RECOVERY",
            "WRONG_MATERIALS",
            [],
        ),
        _no_qa(acme, "B-1006", scooter, [*scooter_parts, brake], labour, at(1)),
        _approved(birch, "B-2001", table, table_parts, joinery, at(6)),
        _no_qa(birch, "B-2002", table, table_parts, [], at(5)),
        _rejected(
            birch,
            "B-2003",
            table,
            table_parts,
            joinery,
            at(4),
            "TOTAL_LOSS",
            "PROCESS_ERROR",
            [],
        ),
        _rejected(
            birch,
            "B-2004",
            table,
            table_parts,
            joinery,
            at(3),
            "PARTIAL_LOSS",
            "QUALITY_DEFECT",
            [{"product_id": "p-oak", "quantity": "0.5"}],
        ),
        _rejected(
            birch,
            "B-2005",
            table,
            table_parts,
            joinery,
            at(2),
            "FULL_RECOVERY",
            "OTHER",
            [],
        ),
    ]


def _approved(
    tenant: str,
    number: str,
    fg: dict[str, Any],
    parts: list[dict[str, Any]],
    costs: list[dict[str, Any]],
    when: datetime,
) -> DemoBuild:
    snapshot = _snapshot(tenant, number, fg, parts, costs)
    qa: dict[str, Any] = {
        "result": "APPROVED",
        "reason": None,
        "recovery_mode": None,
        "lost": [],
        "notes": "passed final inspection",
    }
    return DemoBuild(
        tenant,
        number,
        "approved after QA",
        [
            _event(snapshot, "EXECUTED", when, None, None),
            _event(snapshot, "APPROVED", when + timedelta(minutes=40), None, qa),
            _event(
                snapshot,
                "PENDING_EXPORT",
                when + timedelta(minutes=40),
                when + timedelta(minutes=40),
                qa,
            ),
        ],
    )


def _no_qa(
    tenant: str,
    number: str,
    fg: dict[str, Any],
    parts: list[dict[str, Any]],
    costs: list[dict[str, Any]],
    when: datetime,
) -> DemoBuild:
    snapshot = _snapshot(tenant, number, fg, parts, costs)
    unlinked = [p["sku"] for p in parts if p["accounting_item_id"] is None]
    story = "executed, no QA" + (
        f"; {', '.join(unlinked)} not linked"
        if unlinked and fg["accounting_item_id"]
        else ""
    )
    return DemoBuild(
        tenant,
        number,
        story,
        [
            _event(snapshot, "EXECUTED", when, None, None),
            _event(snapshot, "PENDING_EXPORT", when, when, None),
        ],
    )


def _rejected(
    tenant: str,
    number: str,
    fg: dict[str, Any],
    parts: list[dict[str, Any]],
    costs: list[dict[str, Any]],
    when: datetime,
    mode: str,
    reason: str,
    lost: list[dict[str, Any]],
) -> DemoBuild:
    snapshot = _snapshot(tenant, number, fg, parts, costs)
    qa = {
        "result": "REJECTED",
        "reason": reason,
        "recovery_mode": mode,
        "lost": lost,
        "notes": None,
    }
    rejected = when + timedelta(minutes=25)
    events = [
        _event(snapshot, "EXECUTED", when, None, None),
        _event(snapshot, "REJECTED", rejected, None, qa),
    ]
    if mode != "FULL_RECOVERY":
        events.append(_event(snapshot, "PENDING_EXPORT", rejected, rejected, qa))
    return DemoBuild(
        tenant, number, f"rejected, {mode.lower().replace('_', ' ')}", events
    )


def _snapshot(
    tenant: str,
    number: str,
    fg: dict[str, Any],
    parts: list[dict[str, Any]],
    costs: list[dict[str, Any]],
) -> dict[str, Any]:
    return {
        "tenant_id": tenant,
        "build_id": str(uuid.uuid4()),
        "build_number": number,
        "currency": "USD",
        "finished_good": fg,
        "components": parts,
        "cost_lines": costs,
    }


def _event(
    snapshot: dict[str, Any],
    status: str,
    occurred: datetime,
    ready: datetime | None,
    qa: dict[str, Any] | None,
) -> dict[str, Any]:
    return {
        "event_id": str(uuid.uuid4()),
        "occurred_at": format_timestamp(occurred),
        "status": status,
        "ready_at": format_timestamp(ready) if ready else None,
        "qa": qa,
        **snapshot,
    }


def _line(
    product_id: str,
    sku: str,
    name: str,
    item_id: str | None,
    quantity: str,
    unit_cost: str,
) -> dict[str, Any]:
    return {
        "product_id": product_id,
        "sku": sku,
        "name": name,
        "accounting_item_id": item_id,
        "quantity": quantity,
        "unit_cost": unit_cost,
    }


def _account(account_id: str, name: str, account_type: str) -> dict[str, Any]:
    return {"Id": account_id, "Name": name, "AccountType": account_type, "Active": True}


def _item(item_id: str, name: str, sku: str, on_hand: str) -> dict[str, Any]:
    return {
        "Id": item_id,
        "Name": name,
        "Sku": sku,
        "Type": "Inventory",
        "Active": True,
        "QtyOnHand": on_hand,
        "InvStartDate": "2024-01-01",
        "AssetAccountRef": {"value": "82"},
    }
