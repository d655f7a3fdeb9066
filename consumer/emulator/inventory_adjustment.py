"""Checking an inventory adjustment as QuickBooks does, and the quantities it moves."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from typing import Any

from consumer.emulator import checks, faults
from consumer.emulator.company import Company
from consumer.emulator.encoding import parse_date, parse_decimal

DETAIL_TYPE = "ItemAdjustmentLineDetail"
_COMPUTED = ("Id", "SyncToken", "MetaData", "domain", "sparse")


@dataclass(frozen=True)
class QuantityChange:
    item_id: str
    quantity: Decimal
    absolute: bool  # NewQty sets the quantity on hand, QtyDiff moves it

    def apply(self, on_hand: Decimal) -> Decimal:
        return self.quantity if self.absolute else on_hand + self.quantity


@dataclass(frozen=True)
class CheckedAdjustment:
    body: dict[str, Any]  # as it will be stored, without Id
    changes: list[QuantityChange]


def check_inventory_adjustment(
    company: Company, body: dict[str, Any]
) -> CheckedAdjustment:
    if not company.inventory_tracking:
        raise faults.business(
            f"The QuickBooks Online edition of {company.name} cannot track inventory "
            "quantities, so it cannot record inventory adjustments"
        )
    txn_date = checks.header(body)
    account_id = checks.reference(body, "AdjustAccountRef", "AdjustAccountRef")
    account = checks.active_account(company, account_id, "AdjustAccountRef")

    lines = body.get("Line")
    if not isinstance(lines, list) or not lines:
        raise faults.missing_value("Line")
    checked = [_line(company, raw, index, txn_date) for index, raw in enumerate(lines)]
    _offset_is_not_an_asset_account(company, account, [change for _, change in checked])
    checks.open_period(company, txn_date)

    stored = {k: v for k, v in checks.without_nulls(body).items() if k not in _COMPUTED}
    stored.update(
        TxnDate=txn_date.isoformat(),
        AdjustAccountRef=checks.named_ref(account),
        Line=[line for line, _ in checked],
    )
    return CheckedAdjustment(stored, [change for _, change in checked])


def _line(
    company: Company, raw: object, index: int, txn_date: date
) -> tuple[dict[str, Any], QuantityChange]:
    where = f"Line[{index}]"
    if not isinstance(raw, dict):
        raise faults.invalid_value(where, "a line must be an object")
    line: dict[str, Any] = checks.without_nulls(raw)
    line["Id"] = str(index)
    if line.get("DetailType") != DETAIL_TYPE:
        raise faults.invalid_value(f"{where}.DetailType", f"expected {DETAIL_TYPE}")
    detail = line.get(DETAIL_TYPE)
    if not isinstance(detail, dict):
        raise faults.missing_value(f"{where}.{DETAIL_TYPE}")

    element = f"{where}.{DETAIL_TYPE}.ItemRef"
    item = checks.active_item(
        company, checks.reference(detail, "ItemRef", element), element
    )
    _tracks_quantity(item, txn_date, element)
    detail["ItemRef"] = checks.named_ref(item)

    change = _quantity(detail, item["Id"], f"{where}.{DETAIL_TYPE}")
    detail["NewQty" if change.absolute else "QtyDiff"] = change.quantity
    return line, change


def _tracks_quantity(item: dict[str, Any], txn_date: date, element: str) -> None:
    label = f"{item['Name']} (Id {item['Id']})"
    if item.get("Type") != "Inventory":
        raise faults.business(
            f"Item {label} is of type {item.get('Type')}; only Inventory items "
            "track quantity on hand and can be adjusted",
            element,
        )
    start = parse_date(item.get("InvStartDate"))
    if start is not None and txn_date < start:
        raise faults.business(
            f"Transaction date {txn_date.isoformat()} is prior to the inventory "
            "start date "
            f"{start.isoformat()} of item {label}",
            element,
            code="6270",
        )


def _quantity(detail: dict[str, Any], item_id: str, where: str) -> QuantityChange:
    has_diff, has_new = "QtyDiff" in detail, "NewQty" in detail
    if not has_diff and not has_new:
        raise faults.missing_value(f"{where}.QtyDiff")
    if has_diff and has_new:
        raise faults.invalid_value(where, "give either QtyDiff or NewQty, not both")

    key = "QtyDiff" if has_diff else "NewQty"
    quantity = parse_decimal(detail[key])
    if quantity is None or (key == "NewQty" and quantity < 0):
        raise faults.invalid_value(
            f"{where}.{key}", f"{detail[key]!r} is not a usable quantity"
        )
    return QuantityChange(item_id, quantity, absolute=has_new)


def _offset_is_not_an_asset_account(
    company: Company, account: dict[str, Any], changes: list[QuantityChange]
) -> None:
    for change in changes:
        item = company.items[change.item_id]
        asset = item.get("AssetAccountRef")
        if isinstance(asset, dict) and str(asset.get("value")) == account["Id"]:
            raise faults.business(
                f"The adjustment account {account['Name']} (Id {account['Id']}) is the "
                f"inventory asset account of item {item['Name']}; "
                "choose an expense account",
                "AdjustAccountRef",
            )
