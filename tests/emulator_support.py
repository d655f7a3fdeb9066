"""What the QuickBooks emulator's tests share, as plain helpers.

- Seeds: the test app's credentials, ``seed`` and the accounts of ``CHART``.
- Clients: ``auth_client`` and ``connect``, a python-quickbooks client of a company
  freshly loaded into the emulator (empty ledger, seed tokens).
- Bodies: journal entries and inventory adjustments as a build's export posts them.
- Raw HTTP: ``raw_get``, ``raw_post`` and ``post_controls``, for what the library hides
  (status codes, headers, fault bodies) or cannot send.
- The ledger: ``ledger_of``, ``transactions`` and ``on_hand``.

The client must be allowed plain HTTP: test modules ask for the ``plain_http_allowed``
fixture of ``conftest.py``. Each test still names the amounts, dates, items and
accounts its assertions depend on.
"""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any

import requests
from intuitlib.client import AuthClient
from quickbooks import QuickBooks
from quickbooks.objects.base import Ref
from quickbooks.objects.journalentry import (
    JournalEntry,
    JournalEntryLine,
    JournalEntryLineDetail,
)

from consumer.emulator import Emulator

CLIENT_ID, CLIENT_SECRET = "partsemble-test", "test-secret"
REDIRECT_URI = "http://127.0.0.1/callback"
MINOR_VERSION = 75
TIMEOUT = 5.0

# Account id: (name, account type), as most seeded companies hold them.
CHART = {
    "80": ("Cost of Goods Sold", "Cost of Goods Sold"),
    "81": ("Inventory Asset", "Other Current Asset"),
    "82": ("Inventory Shrinkage", "Cost of Goods Sold"),
    "83": ("Work in Process", "Other Current Asset"),
}


# --- Seeds and clients ----------------------------------------------------------------


def seed(*companies: dict[str, Any]) -> dict[str, Any]:
    """A seed with the test app and these companies."""
    return {
        "apps": [{"client_id": CLIENT_ID, "client_secret": CLIENT_SECRET}],
        "companies": list(companies),
    }


def accounts(*account_ids: str) -> list[dict[str, Any]]:
    """The seed entries of these accounts of ``CHART``."""
    entries = []
    for account_id in account_ids:
        name, account_type = CHART[account_id]
        entries.append({"Id": account_id, "Name": name, "AccountType": account_type})
    return entries


def auth_client(emulator: Emulator, secret: str = CLIENT_SECRET) -> AuthClient:
    return AuthClient(
        CLIENT_ID, secret, redirect_uri=REDIRECT_URI, environment=emulator.discovery_url
    )


def connect(emulator: Emulator, company: dict[str, Any]) -> QuickBooks:
    """A fresh copy of the company (empty ledger, seed tokens) and a client for it."""
    emulator.load_seed({"companies": [company]})
    auth = auth_client(emulator)
    auth.refresh(refresh_token=company["refresh_token"])

    qb = QuickBooks(
        auth_client=auth,
        refresh_token=auth.refresh_token,
        company_id=company["realm_id"],
        minorversion=MINOR_VERSION,
    )
    qb.api_url_v3 = emulator.api_url
    return qb


# --- Journal entries and inventory adjustments ----------------------------------------


def journal_entry(
    doc_number: str, *lines: tuple[str, str, str], txn_date: str = "2024-05-01"
) -> JournalEntry:
    """A journal entry from (posting type, account id, amount) triples."""
    entry = JournalEntry()
    entry.DocNumber = doc_number
    entry.TxnDate = txn_date
    entry.PrivateNote = f"build for {doc_number}"
    for posting, account_id, amount in lines:
        detail = JournalEntryLineDetail()
        detail.PostingType = posting
        detail.AccountRef = Ref()
        detail.AccountRef.value = account_id
        line = JournalEntryLine()
        line.Amount = Decimal(amount)
        line.JournalEntryLineDetail = detail
        entry.Line.append(line)
    return entry


def work_in_process_entry(
    amount: str = "10.00",
    credit: str | None = None,
    *,
    doc_number: str = "PSB-00000001",
    txn_date: str = "2024-05-01",
) -> JournalEntry:
    """Debits Work in Process (83) and credits Inventory Asset (81) with ``amount``.

    A ``credit`` other than ``amount`` makes the entry unbalanced.
    """
    return journal_entry(
        doc_number,
        ("Debit", "83", amount),
        ("Credit", "81", amount if credit is None else credit),
        txn_date=txn_date,
    )


def item_line(item_id: str, **quantity: Any) -> dict[str, Any]:
    """An ItemAdjustmentLineDetail: the item and its QtyDiff or NewQty."""
    return {"ItemRef": {"value": item_id}, **quantity}


def adjustment(
    *lines: dict[str, Any], account: str = "82", **header: Any
) -> dict[str, Any]:
    """An inventory adjustment body; each line is the ItemAdjustmentLineDetail."""
    return {
        "TxnDate": "2024-05-01",
        "DocNumber": "PSB-00000001-W",
        "PrivateNote": "waste of build 00000001",
        "AdjustAccountRef": {"value": account},
        "Line": [
            {
                "DetailType": "ItemAdjustmentLineDetail",
                "ItemAdjustmentLineDetail": detail,
            }
            for detail in lines
        ],
        **header,
    }


def post_adjustment(
    qb: QuickBooks, body: dict[str, Any], request_id: str | None = None
) -> dict[str, Any]:
    """Posts through the library, which has no InventoryAdjustment object."""
    url = f"{qb.api_url}/company/{qb.company_id}/inventoryadjustment"
    result: dict[str, Any] = qb.post(url, json.dumps(body), request_id=request_id)
    return result


# --- Raw HTTP -------------------------------------------------------------------------


def bearer(qb: QuickBooks) -> dict[str, str]:
    """The Authorization header of the client's current access token."""
    return {"Authorization": f"Bearer {qb.session.access_token}"}


def raw_get(qb: QuickBooks, path: str, timeout: float = TIMEOUT) -> requests.Response:
    """GET ``path`` below the client's company, e.g. ``account/81``."""
    return requests.get(
        f"{qb.api_url}/company/{qb.company_id}/{path}",
        headers=bearer(qb),
        timeout=timeout,
    )


def raw_post(
    qb: QuickBooks,
    path: str,
    body: str | dict[str, Any],
    request_id: str | None = None,
) -> requests.Response:
    """POST a JSON body, as text or as a dict, below the client's company."""
    return requests.post(
        f"{qb.api_url}/company/{qb.company_id}/{path}",
        params={"requestid": request_id} if request_id else {},
        data=body if isinstance(body, str) else json.dumps(body),
        headers=bearer(qb) | {"Content-Type": "application/json"},
        timeout=TIMEOUT,
    )


def post_controls(
    emulator: Emulator, realm_id: str, controls: dict[str, Any]
) -> requests.Response:
    """Sets a company's controls through the emulator's own HTTP endpoint."""
    return requests.post(
        f"{emulator.url}/_emulator/companies/{realm_id}/controls",
        json=controls,
        timeout=TIMEOUT,
    )


# --- The ledger -----------------------------------------------------------------------


def ledger_of(emulator: Emulator, realm_id: str) -> dict[str, Any]:
    """One company's part of the ledger: transactions, items and request counts."""
    ledger: dict[str, Any] = emulator.ledger(realm_id)["companies"][realm_id]
    return ledger


def transactions(emulator: Emulator, realm_id: str) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = ledger_of(emulator, realm_id)["transactions"]
    return found


def on_hand(emulator: Emulator, realm_id: str, item_id: str) -> Any:
    items = ledger_of(emulator, realm_id)["items"]
    return next(item["QtyOnHand"] for item in items if item["Id"] == item_id)
