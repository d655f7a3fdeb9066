"""What must hold in QuickBooks before an export is posted, checked by asking it.

The settings and links a build needs are checked without I/O in ``translate``; here the
accounts and items they name are looked up (QuickBooks' queries return active records
only, so an absent one is missing or inactive), so that a person learns exactly which
setting or product to fix instead of reading a raw QuickBooks fault.
"""

from __future__ import annotations

from consumer.errors import NeedsPerson
from consumer.model import (
    AccountingRequest,
    InventoryAdjustmentRequest,
    TenantSettings,
)
from consumer.quickbooks_client import CompanyConnection, escape_query_value

_ACCOUNT_SETTINGS = (
    ("cogs_account_id", "COGS account"),
    ("waste_account_id", "waste account"),
    ("build_debit_account_id", "build debit account"),
    ("build_credit_account_id", "build credit account"),
)


def check_references(
    connection: CompanyConnection, request: AccountingRequest, settings: TenantSettings
) -> None:
    _check_accounts(connection, request, settings)
    if isinstance(request, InventoryAdjustmentRequest):
        _check_items(connection, request)


def _account_ids(request: AccountingRequest) -> list[str]:
    if isinstance(request, InventoryAdjustmentRequest):
        return [request.adjust_account_id]
    return list(dict.fromkeys(line.account_id for line in request.lines))


def _check_accounts(
    connection: CompanyConnection, request: AccountingRequest, settings: TenantSettings
) -> None:
    ids = _account_ids(request)
    found = {a["Id"]: a for a in connection.query(_select_by_ids("Account", ids))}
    problems = []
    for account_id in ids:
        account = found.get(account_id)
        setting = _setting_naming(settings, account_id)
        if account is None:
            problems.append(f"the {setting} (account {account_id}) does not exist or is inactive in QuickBooks")
        elif not account.get("Active", True):
            problems.append(f"the {setting} ({account.get('Name', account_id)}) is inactive in QuickBooks")
    if problems:
        raise NeedsPerson(
            "ACCOUNT_INVALID",
            "Choose another account in the export settings, then retry: " + "; ".join(problems) + ".",
        )


def _check_items(connection: CompanyConnection, request: InventoryAdjustmentRequest) -> None:
    ids = list(dict.fromkeys(line.item_id for line in request.lines))
    found = {i["Id"]: i for i in connection.query(_select_by_ids("Item", ids))}
    problems = []
    for line in request.lines:
        item = found.get(line.item_id)
        label = line.product.label
        if item is None:
            problems.append(
                f"{label} is linked to item {line.item_id}, which does not exist or is inactive "
                "in QuickBooks"
            )
        elif not item.get("Active", True):
            problems.append(f"{label} is linked to {item.get('Name', line.item_id)}, which is inactive")
        elif item.get("Type") != "Inventory":
            problems.append(
                f"{label} is linked to {item.get('Name', line.item_id)}, which is of type "
                f"{item.get('Type', 'unknown')}, not Inventory"
            )
    if problems:
        raise NeedsPerson(
            "ITEMS_INVALID",
            "Link these products to active QuickBooks inventory items, then retry: "
            + "; ".join(dict.fromkeys(problems))
            + ".",
        )


def _setting_naming(settings: TenantSettings, account_id: str) -> str:
    names = [label for attr, label in _ACCOUNT_SETTINGS if getattr(settings, attr) == account_id]
    return " and ".join(names) or "account"


def _select_by_ids(entity: str, ids: list[str]) -> str:
    quoted = ", ".join(f"'{escape_query_value(i)}'" for i in ids)
    return f"select * from {entity} where Id in ({quoted})"
