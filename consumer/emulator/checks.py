"""Checks every transaction goes through, in the order QuickBooks reports them."""

from __future__ import annotations

from datetime import date
from typing import Any

from consumer.emulator import faults
from consumer.emulator.company import Company
from consumer.emulator.encoding import parse_date

DOC_NUMBER_LIMIT = 21
PRIVATE_NOTE_LIMIT = 4000


def header(body: dict[str, Any]) -> date:
    """Check reference and note; return the transaction date (today if absent)."""
    for key, limit in (
        ("DocNumber", DOC_NUMBER_LIMIT),
        ("PrivateNote", PRIVATE_NOTE_LIMIT),
    ):
        value = body.get(key)
        if value is None:
            continue
        if not isinstance(value, str):
            raise faults.invalid_value(key, "it must be a string")
        if len(value) > limit:
            raise faults.too_long(key, limit, len(value))

    raw_date = body.get("TxnDate")
    if raw_date in (None, ""):
        return date.today()
    txn_date = parse_date(raw_date)
    if txn_date is None:
        raise faults.invalid_value(
            "TxnDate", f"{raw_date!r} is not a date written YYYY-MM-DD"
        )
    return txn_date


def open_period(company: Company, txn_date: date) -> None:
    closed = company.closed_books_date
    if closed is not None and txn_date <= closed:
        raise faults.period_closed(txn_date.isoformat(), closed.isoformat())


def reference(holder: dict[str, Any], key: str, element: str) -> str:
    """The id a ``{"value": ...}`` reference points at; 2020 when there is none."""
    ref = holder.get(key)
    value = ref.get("value") if isinstance(ref, dict) else None
    if value is None or str(value).strip() == "":
        raise faults.missing_value(element)
    return str(value).strip()


def active_account(company: Company, account_id: str, element: str) -> dict[str, Any]:
    account = company.accounts.get(account_id)
    if account is None:
        raise faults.invalid_reference("Account", account_id, element)
    if not account.get("Active", True):
        raise faults.inactive_object("Account", account_id, account["Name"], element)
    return account


def active_item(company: Company, item_id: str, element: str) -> dict[str, Any]:
    item = company.items.get(item_id)
    if item is None:
        raise faults.invalid_reference("Item", item_id, element)
    if not item.get("Active", True):
        raise faults.inactive_object("Item", item_id, item["Name"], element)
    return item


def named_ref(obj: dict[str, Any]) -> dict[str, str]:
    """A reference as QuickBooks returns it: the id and the current name."""
    return {"value": obj["Id"], "name": obj["Name"]}


def without_nulls(value: Any) -> Any:
    """A copy without null members, as QuickBooks stores what it was sent."""
    if isinstance(value, dict):
        return {k: without_nulls(v) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [without_nulls(v) for v in value]
    return value
