"""What to tell a person when QuickBooks refuses an export, in the domain's terms."""

from __future__ import annotations

import re

from consumer.errors import ExportFailure, NeedsPerson, Rejected, RetryLater
from consumer.faults import Action, Fault
from consumer.model import AccountingRequest, InventoryAdjustmentRequest

_RECONNECT = "reconnect QuickBooks in the export settings, then retry the export."
_NO_INVENTORY = re.compile(
    r"track(ing)? (quantit|inventor)|inventory tracking|edition|\bPlus\b", re.I
)


def explain(fault: Fault, request: AccountingRequest | None = None) -> ExportFailure:
    if fault.code == "APP_CREDENTIALS":
        return NeedsPerson(
            "APP_CREDENTIALS",
            "Intuit refused the app's own credentials: check QBO_CLIENT_ID and "
            "QBO_CLIENT_SECRET, then retry the export. The companies' connections are "
            "unchanged.",
        )
    if fault.code == "CONNECTION_EXPIRED":
        return NeedsPerson(
            "CONNECTION_EXPIRED",
            f"The QuickBooks connection has expired or was revoked: {_RECONNECT}",
        )
    if fault.action is Action.REFRESH_TOKEN:
        # The refresh itself worked; QuickBooks refused the new token too. That passes.
        return RetryLater(
            f"QB_{fault.code}",
            "QuickBooks refused a freshly refreshed access token.",
        )
    if fault.action is Action.THROTTLED:
        return RetryLater("QB_3001", "QuickBooks is throttling this company.")
    if fault.action is Action.RETRY_LATER or fault.action is Action.RETRY_NOW:
        return RetryLater(
            f"QB_{fault.code}", f"QuickBooks asked to try again later: {fault.text}."
        )

    said = f"QuickBooks said: {fault.text}"
    code = f"QB_{fault.code}"
    if fault.code == "3100":
        return NeedsPerson(
            code, f"The app is not authorised for this QuickBooks company: {_RECONNECT}"
        )
    if fault.code == "6190":
        return NeedsPerson(
            code,
            "The company's QuickBooks subscription has ended: renew it, "
            f"then retry the export. {said}",
        )
    if fault.code == "6210":
        when = f" on {request.txn_date.isoformat()}" if request else ""
        return NeedsPerson(
            code,
            f"The books are closed in QuickBooks{when}: the export's date falls in a "
            "closed period. Reopen the period or move the closing date in QuickBooks, "
            f"then retry. {said}",
        )
    if fault.code in ("610", "2500"):
        return NeedsPerson(
            code,
            "An account or item this export names is missing or inactive in "
            "QuickBooks: fix the export settings or the product's link, then retry. "
            f"{said}",
        )
    if isinstance(request, InventoryAdjustmentRequest) and _NO_INVENTORY.search(
        fault.text
    ):
        return NeedsPerson(
            "QB_EDITION",
            "This QuickBooks company cannot track inventory quantities (synced "
            "inventory mode needs QuickBooks Online Plus or Advanced): upgrade it, or "
            f"switch the company to Partsemble-only inventory mode, then retry. {said}",
        )
    if fault.action is Action.NEEDS_PERSON:
        return NeedsPerson(code, f"QuickBooks refused the export. {said}")
    return Rejected(code, f"QuickBooks refused the export. {said}")
