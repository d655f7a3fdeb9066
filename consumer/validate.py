"""Turn decoded records into domain objects, refusing what is impossible in the domain.

Everything here is pure: a record in, a domain object or an ``InvalidEvent`` out.
"""

from __future__ import annotations

import re
from collections import defaultdict
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from consumer.errors import InvalidEvent
from consumer.model import (
    Build,
    BuildLine,
    BuildStatus,
    CostLine,
    ExportMode,
    InventoryMode,
    LostQuantity,
    QaDecision,
    RecoveryMode,
    TenantSettings,
)

_CURRENCY = re.compile(r"^[A-Z]{3}$")
_MAX_ID = 200
_MAX_REFERENCE = 64  # QuickBooks ids: realms, accounts, items
_MAX_TEXT = 1000
_MAX_NOTES = 4000


@dataclass(frozen=True)
class ExportCommand:
    command_id: str
    occurred_at: datetime
    tenant_id: str
    build_id: str
    action: str
    requested_by: str


def build_from_record(record: dict[str, Any]) -> Build:
    tenant_id = _text(record["tenant_id"], "tenant_id", _MAX_ID)
    build_number = _text(record["build_number"], "build_number", _MAX_ID)
    currency = _currency(record["currency"])

    finished_good = _line(record["finished_good"], "finished_good")
    components = tuple(
        _line(c, f"components[{i}]") for i, c in enumerate(record["components"])
    )
    if not components:
        raise InvalidEvent("a build must consume at least one component")
    cost_lines = tuple(_cost_line(c, i) for i, c in enumerate(record["cost_lines"]))

    _plausible(record["occurred_at"], "occurred_at")
    if record["ready_at"] is not None:
        _plausible(record["ready_at"], "ready_at")
    status = BuildStatus(record["status"])
    if status is BuildStatus.PENDING_EXPORT and record["ready_at"] is None:
        raise InvalidEvent("a build pending export needs ready_at")
    qa = _qa(record["qa"], components) if record["qa"] is not None else None

    return Build(
        event_id=str(record["event_id"]),
        occurred_at=record["occurred_at"],
        tenant_id=tenant_id,
        build_id=str(record["build_id"]),
        build_number=build_number,
        status=status,
        ready_at=record["ready_at"],
        currency=currency,
        finished_good=finished_good,
        components=components,
        cost_lines=cost_lines,
        qa=qa,
    )


def command_from_record(record: dict[str, Any]) -> ExportCommand:
    return ExportCommand(
        command_id=str(record["command_id"]),
        occurred_at=record["occurred_at"],
        tenant_id=_text(record["tenant_id"], "tenant_id", _MAX_ID),
        build_id=str(record["build_id"]),
        action=record["action"],
        requested_by=_text(record["requested_by"], "requested_by", _MAX_TEXT),
    )


@dataclass(frozen=True)
class SettingsChange:
    event_id: str
    occurred_at: datetime
    settings: TenantSettings
    connection_status: str | None


def settings_from_record(record: dict[str, Any]) -> SettingsChange:
    timezone = record["timezone"]
    try:
        ZoneInfo(timezone)
    except (ZoneInfoNotFoundError, ValueError):
        raise InvalidEvent(
            f"timezone {timezone[:60]!r} is not an IANA time zone such as Europe/Berlin"
        ) from None
    accounts = {
        name: None
        if record[name] is None
        else _text(record[name], name, _MAX_REFERENCE)
        for name in (
            "cogs_account_id",
            "waste_account_id",
            "build_debit_account_id",
            "build_credit_account_id",
        )
    }
    settings = TenantSettings(
        tenant_id=_text(record["tenant_id"], "tenant_id", _MAX_ID),
        realm_id=_text(record["realm_id"], "realm_id", _MAX_REFERENCE),
        inventory_mode=InventoryMode(record["inventory_mode"]),
        export_mode=ExportMode(record["export_mode"]),
        timezone=timezone,
        home_currency=_currency(record["home_currency"]),
        **accounts,
    )
    return SettingsChange(
        str(record["event_id"]),
        record["occurred_at"],
        settings,
        record["connection_status"],
    )


def _line(raw: dict[str, Any], where: str) -> BuildLine:
    quantity: Decimal = raw["quantity"]
    unit_cost: Decimal = raw["unit_cost"]
    if quantity <= 0:
        raise InvalidEvent(f"{where}.quantity must be positive, got {quantity}")
    if unit_cost < 0:
        raise InvalidEvent(f"{where}.unit_cost must not be negative, got {unit_cost}")
    item = raw["accounting_item_id"]
    return BuildLine(
        product_id=_text(raw["product_id"], f"{where}.product_id", _MAX_ID),
        sku=_text(raw["sku"], f"{where}.sku", _MAX_ID),
        name=_text(raw["name"], f"{where}.name", _MAX_TEXT),
        accounting_item_id=None
        if item is None
        else _bounded(item, f"{where}.accounting_item_id", _MAX_REFERENCE),
        quantity=quantity,
        unit_cost=unit_cost,
    )


def _cost_line(raw: dict[str, Any], index: int) -> CostLine:
    amount: Decimal = raw["amount"]
    if amount < 0:
        raise InvalidEvent(
            f"cost_lines[{index}].amount must not be negative, got {amount}"
        )
    return CostLine(kind=raw["kind"], amount=amount)


def _qa(raw: dict[str, Any], components: tuple[BuildLine, ...]) -> QaDecision:
    mode = RecoveryMode(raw["recovery_mode"]) if raw["recovery_mode"] else None
    lost = tuple(LostQuantity(str(x["product_id"]), x["quantity"]) for x in raw["lost"])
    notes = raw["notes"]
    if notes is not None:
        _bounded(notes, "qa.notes", _MAX_NOTES)

    if raw["result"] == "APPROVED":
        if mode is not None or lost:
            raise InvalidEvent(
                "an approved build has no recovery mode and no lost quantities"
            )
    elif mode is None:
        raise InvalidEvent("a rejected build needs qa.recovery_mode")
    elif mode is RecoveryMode.PARTIAL_LOSS:
        _check_partial_loss(lost, components)
    elif lost:
        raise InvalidEvent(f"qa.lost is only for PARTIAL_LOSS, not {mode}")

    return QaDecision(raw["result"], raw["reason"], mode, lost, notes)


def _check_partial_loss(
    lost: tuple[LostQuantity, ...], components: tuple[BuildLine, ...]
) -> None:
    if not lost:
        raise InvalidEvent(
            "a partial loss needs qa.lost: the quantities that were lost"
        )
    consumed: dict[str, Decimal] = defaultdict(Decimal)
    for c in components:
        consumed[c.product_id] += c.quantity
    claimed: dict[str, Decimal] = defaultdict(Decimal)
    for x in lost:
        if x.product_id not in consumed:
            raise InvalidEvent(
                f"qa.lost names product {x.product_id[:_MAX_ID]!r}, "
                "which the build did not consume"
            )
        if x.quantity <= 0:
            raise InvalidEvent(
                f"qa.lost quantity of {x.product_id} must be positive, got {x.quantity}"
            )
        claimed[x.product_id] += x.quantity
    for product_id, quantity in claimed.items():
        if quantity > consumed[product_id]:
            raise InvalidEvent(
                f"qa.lost claims {quantity} of {product_id}, more than the "
                f"{consumed[product_id]} consumed"
            )


def _currency(code: str) -> str:
    if not _CURRENCY.match(code):
        raise InvalidEvent(
            f"currency {code[:20]!r} is not an ISO 4217 code such as USD"
        )
    return code


_EARLIEST = datetime(1971, 1, 1, tzinfo=UTC)
_LATEST = datetime(2200, 1, 1, tzinfo=UTC)


def _plausible(moment: datetime, where: str) -> None:
    if not _EARLIEST <= moment < _LATEST:
        raise InvalidEvent(
            f"{where} {moment.isoformat()} is not a plausible time for a build"
        )


def _text(value: str, where: str, limit: int) -> str:
    if not value.strip():
        raise InvalidEvent(f"{where} is empty")
    return _bounded(value, where, limit)


def _bounded(value: str, where: str, limit: int) -> str:
    if len(value) > limit:
        raise InvalidEvent(
            f"{where} is {len(value)} characters long; at most {limit} are allowed"
        )
    if "\x00" in value:
        raise InvalidEvent(f"{where} contains a NUL character")
    return value
