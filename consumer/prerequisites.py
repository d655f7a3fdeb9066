"""What must hold in QuickBooks before an export is posted.

The settings and links a build needs are checked without I/O in ``translate``. Here the
accounts and items an export names are looked up (a few at a time, and kept for a
minute per company) and checked the way QuickBooks would check them, so that a person
learns exactly which setting or product to fix instead of reading a raw fault.
QuickBooks' queries return active records only: an absent one is missing or inactive.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from consumer.errors import NeedsPerson
from consumer.model import AccountingRequest, InventoryAdjustmentRequest, TenantSettings
from consumer.quickbooks_client import CompanyConnection, escape_query_value

_ACCOUNT_SETTINGS = (
    ("cogs_account_id", "COGS account"),
    ("waste_account_id", "waste account"),
    ("build_debit_account_id", "build debit account"),
    ("build_credit_account_id", "build credit account"),
)
_IDS_PER_QUERY = 100


@dataclass
class References:
    accounts: dict[str, dict[str, Any]] = field(default_factory=dict)
    items: dict[str, dict[str, Any]] = field(default_factory=dict)


class ReferenceCache:
    """A company's accounts and items, as recently read from QuickBooks."""

    def __init__(
        self, ttl_seconds: float = 60.0, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self._ttl = ttl_seconds
        self._clock = clock
        self._read_at = clock()
        self._refs = References()

    def forget(self) -> None:
        self._refs = References()

    def fetch(
        self, connection: CompanyConnection, requests: Iterable[AccountingRequest]
    ) -> References:
        if self._clock() - self._read_at > self._ttl:
            self.forget()
            self._read_at = self._clock()
        requests = list(requests)
        accounts = {a for r in requests for a in account_ids(r)} - set(
            self._refs.accounts
        )
        items = {i for r in requests for i in item_ids(r)} - set(self._refs.items)
        self._refs.accounts.update(_by_id(connection, "Account", accounts))
        self._refs.items.update(_by_id(connection, "Item", items))
        return self._refs


def account_ids(request: AccountingRequest) -> list[str]:
    if isinstance(request, InventoryAdjustmentRequest):
        return [request.adjust_account_id]
    return list(dict.fromkeys(line.account_id for line in request.lines))


def item_ids(request: AccountingRequest) -> list[str]:
    if isinstance(request, InventoryAdjustmentRequest):
        return list(dict.fromkeys(line.item_id for line in request.lines))
    return []


def check(
    request: AccountingRequest, settings: TenantSettings, refs: References
) -> None:
    """Raise ``NeedsPerson`` naming every account or product that needs fixing."""
    _check_accounts(request, settings, refs)
    if isinstance(request, InventoryAdjustmentRequest):
        _check_items(request, settings, refs)


def _check_accounts(
    request: AccountingRequest, settings: TenantSettings, refs: References
) -> None:
    problems = []
    for account_id in account_ids(request):
        account = refs.accounts.get(account_id)
        setting = _setting_naming(settings, account_id)
        if account is None:
            problems.append(
                f"the {setting} (account {account_id}) does not exist "
                "or is inactive in QuickBooks"
            )
        elif not account.get("Active", True):
            problems.append(
                f"the {setting} ({account.get('Name', account_id)}) "
                "is inactive in QuickBooks"
            )
    if problems:
        raise NeedsPerson(
            "ACCOUNT_INVALID",
            "Choose another account in the export settings, then retry: "
            + "; ".join(problems)
            + ".",
        )


def _check_items(
    request: InventoryAdjustmentRequest, settings: TenantSettings, refs: References
) -> None:
    problems = []
    offset_used_as_asset = []
    for line in request.lines:
        item = refs.items.get(line.item_id)
        label = line.product.label
        name = item.get("Name", line.item_id) if item else line.item_id
        if item is None:
            problems.append(
                f"{label} is linked to item {line.item_id}, "
                "which does not exist or is inactive in QuickBooks"
            )
        elif not item.get("Active", True):
            problems.append(f"{label} is linked to {name}, which is inactive")
        elif item.get("Type") != "Inventory":
            problems.append(
                f"{label} is linked to {name}, "
                f"which is of type {item.get('Type', 'unknown')}, not Inventory"
            )
        elif _starts_after(item, request.txn_date):
            problems.append(
                f"{label} is linked to {name}, whose inventory start date in "
                f"QuickBooks is {item['InvStartDate']}, after the build's date "
                f"{request.txn_date.isoformat()} (move the item's start date)"
            )
        elif (item.get("AssetAccountRef") or {}).get(
            "value"
        ) == request.adjust_account_id:
            offset_used_as_asset.append(name)
    if problems:
        raise NeedsPerson(
            "ITEMS_INVALID",
            "Fix these products' QuickBooks items (link each to an active inventory "
            "item), then retry: " + "; ".join(dict.fromkeys(problems)) + ".",
        )
    if offset_used_as_asset:
        setting = _setting_naming(settings, request.adjust_account_id)
        raise NeedsPerson(
            "OFFSET_IS_ASSET_ACCOUNT",
            f"The {setting} (account {request.adjust_account_id}) is the inventory "
            f"asset account of {', '.join(dict.fromkeys(offset_used_as_asset))}; "
            "QuickBooks cannot offset an adjustment to it. Choose an expense or cost "
            "of goods sold account, then retry.",
        )


def _starts_after(item: dict[str, Any], txn_date: date) -> bool:
    start = item.get("InvStartDate")
    try:
        return bool(start) and date.fromisoformat(str(start)[:10]) > txn_date
    except ValueError:
        return False


def _setting_naming(settings: TenantSettings, account_id: str) -> str:
    names = [
        label
        for attr, label in _ACCOUNT_SETTINGS
        if getattr(settings, attr) == account_id
    ]
    return " and ".join(names) or "account"


def _by_id(
    connection: CompanyConnection, entity: str, ids: set[str]
) -> dict[str, dict[str, Any]]:
    found: dict[str, dict[str, Any]] = {}
    ordered = sorted(ids)
    for start in range(0, len(ordered), _IDS_PER_QUERY):
        quoted = ", ".join(
            f"'{escape_query_value(i)}'"
            for i in ordered[start : start + _IDS_PER_QUERY]
        )
        statement = f"select * from {entity} where Id in ({quoted}) maxresults 1000"
        found.update({str(r["Id"]): r for r in connection.query(statement)})
    return found
