"""Checking a journal entry the way QuickBooks does, and shaping what it stores."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from consumer.emulator import checks, faults
from consumer.emulator.company import Company
from consumer.emulator.encoding import decimal_places, parse_decimal

_POSTING_TYPES = ("Debit", "Credit")
# Members the client sends with library defaults; QuickBooks computes them itself.
_COMPUTED = ("Id", "SyncToken", "MetaData", "TotalAmt", "domain", "sparse")


def check_journal_entry(company: Company, body: dict[str, Any]) -> dict[str, Any]:
    """The journal entry as it will be stored (without Id), or a Fault."""
    txn_date = checks.header(body)
    lines = body.get("Line")
    if not isinstance(lines, list) or not lines:
        raise faults.missing_value("Line")

    stored_lines = [_line(company, raw, index) for index, raw in enumerate(lines)]
    _balanced(stored_lines)
    checks.open_period(company, txn_date)

    stored = {k: v for k, v in checks.without_nulls(body).items() if k not in _COMPUTED}
    stored.update(TxnDate=txn_date.isoformat(), Line=stored_lines)
    stored["TotalAmt"] = sum(
        (line["Amount"] for line in stored_lines if _posting(line) == "Debit"),
        Decimal(0),
    )
    return stored


def _line(company: Company, raw: object, index: int) -> dict[str, Any]:
    where = f"Line[{index}]"
    if not isinstance(raw, dict):
        raise faults.invalid_value(where, "a line must be an object")
    line: dict[str, Any] = checks.without_nulls(raw)
    line["Id"] = str(index)
    if line.get("DetailType") == "DescriptionOnly":
        return line
    if line.get("DetailType") != "JournalEntryLineDetail":
        raise faults.invalid_value(
            f"{where}.DetailType", "expected JournalEntryLineDetail"
        )

    detail = line.get("JournalEntryLineDetail")
    if not isinstance(detail, dict):
        raise faults.missing_value(f"{where}.JournalEntryLineDetail")
    posting = detail.get("PostingType")
    if posting in (None, ""):
        raise faults.missing_value(f"{where}.JournalEntryLineDetail.PostingType")
    if posting not in _POSTING_TYPES:
        raise faults.invalid_value(
            f"{where}.PostingType", f"{posting!r} is not Debit or Credit"
        )

    line["Amount"] = _amount(line.get("Amount"), f"{where}.Amount")
    element = f"{where}.JournalEntryLineDetail.AccountRef"
    account_id = checks.reference(detail, "AccountRef", element)
    account = checks.active_account(company, account_id, element)
    detail["AccountRef"] = checks.named_ref(account)
    return line


def _amount(raw: object, element: str) -> Decimal:
    if raw is None:
        raise faults.missing_value(element)
    amount = parse_decimal(raw)
    if amount is None or decimal_places(amount) > 2:
        raise faults.invalid_value(
            element, f"{raw!r} is not an amount with at most 2 decimals"
        )
    if amount <= 0:
        raise faults.business(
            f"{element} is {raw}; journal entry amounts must be positive "
            "(post the other side instead of a negative amount)",
            element,
        )
    return amount


def _posting(line: dict[str, Any]) -> str | None:
    detail = line.get("JournalEntryLineDetail")
    return detail.get("PostingType") if isinstance(detail, dict) else None


def _balanced(lines: list[dict[str, Any]]) -> None:
    totals = {posting: Decimal(0) for posting in _POSTING_TYPES}
    counts = dict.fromkeys(_POSTING_TYPES, 0)
    for line in lines:
        posting = _posting(line)
        if posting in totals:
            totals[posting] += line["Amount"]
            counts[posting] += 1

    if not counts["Debit"] or not counts["Credit"]:
        raise faults.business(
            "A journal entry needs at least one debit line and one credit line", "Line"
        )
    if totals["Debit"] != totals["Credit"]:
        raise faults.business(
            "You can't save this transaction because it is not balanced: "
            f"debits total {totals['Debit']} and credits total {totals['Credit']}",
            "Line",
        )
