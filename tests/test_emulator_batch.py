"""Batch requests to the emulator, through python-quickbooks and plain HTTP."""

from __future__ import annotations

import json
from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import pytest
import requests
from intuitlib.client import AuthClient
from quickbooks import QuickBooks
from quickbooks.batch import batch_create
from quickbooks.exceptions import QuickbooksException
from quickbooks.objects.base import Ref
from quickbooks.objects.journalentry import (
    JournalEntry,
    JournalEntryLine,
    JournalEntryLineDetail,
)

from consumer.emulator import Emulator

CLIENT_ID, CLIENT_SECRET = "partsemble-test", "test-secret"
REALM = "9130350000000301"
COMPANY: dict[str, Any] = {
    "realm_id": REALM,
    "name": "Batch Widgets",
    "refresh_token": "RT-batch",
    "accounts": [
        {"Id": "81", "Name": "Inventory Asset", "AccountType": "Other Current Asset"},
        {
            "Id": "82",
            "Name": "Inventory Shrinkage",
            "AccountType": "Cost of Goods Sold",
        },
        {"Id": "83", "Name": "Work in Process", "AccountType": "Other Current Asset"},
    ],
    "items": [
        {
            "Id": "11",
            "Name": "Widget",
            "Type": "Inventory",
            "QtyOnHand": 10,
            "AssetAccountRef": {"value": "81"},
        },
        {"Id": "12", "Name": "Assembly Labor", "Type": "Service"},
    ],
}
SEED = {"apps": [{"client_id": CLIENT_ID, "client_secret": CLIENT_SECRET}]}


@pytest.fixture(scope="module", autouse=True)
def plain_http_allowed() -> Iterator[None]:
    # requests-oauthlib refuses http:// URLs unless told the transport is trusted.
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("OAUTHLIB_INSECURE_TRANSPORT", "1")
        yield


@pytest.fixture(scope="module")
def emulator() -> Iterator[Emulator]:
    with Emulator(SEED) as emulator:
        yield emulator


@pytest.fixture
def qb(emulator: Emulator) -> QuickBooks:
    """A client of a freshly seeded company: empty ledger, ten widgets on hand."""
    emulator.load_seed({"companies": [COMPANY]})
    auth = AuthClient(
        CLIENT_ID,
        CLIENT_SECRET,
        redirect_uri="http://127.0.0.1/callback",
        environment=emulator.discovery_url,
    )
    auth.refresh(refresh_token=COMPANY["refresh_token"])
    client = QuickBooks(
        auth_client=auth,
        refresh_token=auth.refresh_token,
        company_id=REALM,
        minorversion=75,
    )
    client.api_url_v3 = emulator.api_url
    return client


def journal_entry(debit: str = "5.00", credit: str = "5.00") -> JournalEntry:
    entry = JournalEntry()
    entry.DocNumber = "PSB-00000099"
    entry.TxnDate = "2024-05-01"
    for posting, account_id, amount in (
        ("Debit", "83", debit),
        ("Credit", "81", credit),
    ):
        detail = JournalEntryLineDetail()
        detail.PostingType = posting
        detail.AccountRef = Ref()
        detail.AccountRef.value = account_id
        line = JournalEntryLine()
        line.Amount = Decimal(amount)
        line.JournalEntryLineDetail = detail
        entry.Line.append(line)
    return entry


def adjustment(item_id: str, qty_diff: int) -> dict[str, Any]:
    return {
        "TxnDate": "2024-05-01",
        "DocNumber": "PSB-00000099-W",
        "AdjustAccountRef": {"value": "82"},
        "Line": [
            {
                "DetailType": "ItemAdjustmentLineDetail",
                "ItemAdjustmentLineDetail": {
                    "ItemRef": {"value": item_id},
                    "QtyDiff": qty_diff,
                },
            }
        ],
    }


def create(bid: str, entity: str, body: dict[str, Any]) -> dict[str, Any]:
    return {"bId": bid, "operation": "create", entity: body}


def entry_body() -> dict[str, Any]:
    body: dict[str, Any] = json.loads(journal_entry().to_json())
    return body


def post_batch(
    emulator: Emulator,
    qb: QuickBooks,
    items: list[dict[str, Any]],
    request_id: str | None = None,
) -> requests.Response:
    return requests.post(
        f"{emulator.api_url}/company/{REALM}/batch",
        params={"requestid": request_id} if request_id else {},
        json={"BatchItemRequest": items},
        headers={"Authorization": f"Bearer {qb.session.access_token}"},
        timeout=5,
    )


def ledger(emulator: Emulator) -> dict[str, Any]:
    company: dict[str, Any] = emulator.ledger(REALM)["companies"][REALM]
    return company


def on_hand(emulator: Emulator) -> Any:
    return next(i["QtyOnHand"] for i in ledger(emulator)["items"] if i["Id"] == "11")


def test_batch_create_through_the_library_reports_successes_and_faults(
    emulator: Emulator, qb: QuickBooks
) -> None:
    result = batch_create([journal_entry(), journal_entry("5.00", "4.00")], qb=qb)

    [saved] = result.successes
    [fault] = result.faults
    assert saved.Id and saved.TotalAmt == 5
    assert fault.type == "ValidationFault"
    assert fault.Error[0].code == "6000" and "not balanced" in fault.Error[0].Detail
    assert [t["id"] for t in ledger(emulator)["transactions"]] == [saved.Id]
    assert emulator.stats(REALM)["batches"] == 1


def test_items_run_in_order_and_fault_one_by_one(
    emulator: Emulator, qb: QuickBooks
) -> None:
    items = [
        create("je", "JournalEntry", entry_body()),
        create("labor", "InventoryAdjustment", adjustment("12", -1)),
        create("widget", "InventoryAdjustment", adjustment("11", -3)),
        {"bId": "count", "Query": "select * from Item where Id in ('11')"},
        {"bId": "delete", "operation": "delete", "JournalEntry": {"Id": "1"}},
        create("invoice", "Invoice", {"Line": []}),
        {"bId": "bad-query", "Query": "select * from Invoice"},
    ]

    reply = qb.batch_operation(json.dumps({"BatchItemRequest": items}))

    answers = {answer["bId"]: answer for answer in reply["BatchItemResponse"]}
    assert [a["bId"] for a in reply["BatchItemResponse"]] == [i["bId"] for i in items]
    assert answers["je"]["JournalEntry"]["Id"]
    assert answers["widget"]["InventoryAdjustment"]["Id"]
    assert answers["count"]["QueryResponse"]["Item"][0]["QtyOnHand"] == 7
    codes = {
        bid: a["Fault"]["Error"][0]["code"]
        for bid, a in answers.items()
        if "Fault" in a
    }
    assert codes == {
        "labor": "6000",
        "delete": "2010",
        "invoice": "2010",
        "bad-query": "4001",
    }
    assert answers["labor"]["Fault"]["type"] == "ValidationFault"
    assert "time" in reply
    assert len(ledger(emulator)["transactions"]) == 2
    assert on_hand(emulator) == 7


def test_thirty_items_pass_and_thirty_one_are_refused_whole(
    emulator: Emulator, qb: QuickBooks
) -> None:
    items = [create(str(n), "JournalEntry", entry_body()) for n in range(31)]

    with pytest.raises(QuickbooksException) as refused:
        qb.batch_operation(json.dumps({"BatchItemRequest": items}))
    assert ledger(emulator)["transactions"] == []
    accepted = qb.batch_operation(json.dumps({"BatchItemRequest": items[:30]}))

    assert refused.value.error_code == 2010
    assert "at most 30" in refused.value.detail
    assert len(accepted["BatchItemResponse"]) == 30
    assert len(ledger(emulator)["transactions"]) == 30


def test_request_id_replays_the_whole_batch_without_acting_again(
    emulator: Emulator, qb: QuickBooks
) -> None:
    items = [
        create("1", "JournalEntry", entry_body()),
        create("2", "InventoryAdjustment", adjustment("11", -2)),
    ]
    request_id = "b" * 36

    first = post_batch(emulator, qb, items, request_id)
    again = post_batch(emulator, qb, items, request_id)
    too_long = post_batch(emulator, qb, items, "b" * 37)

    assert first.status_code == again.status_code == 200
    assert again.content == first.content
    recorded = ledger(emulator)["transactions"]
    assert [t["request_id"] for t in recorded] == [request_id, request_id]
    assert on_hand(emulator) == 8
    assert too_long.status_code == 400
    assert too_long.json()["Fault"]["Error"][0]["code"] == "2050"
    assert len(ledger(emulator)["transactions"]) == 2


def test_injected_faults_answer_the_batch_as_a_whole(
    emulator: Emulator, qb: QuickBooks
) -> None:
    items = [create("1", "JournalEntry", entry_body())]
    emulator.control(
        REALM, fail_next=[{"status": 503}, {"status": 502, "applied": True}]
    )

    outage = post_batch(emulator, qb, items, "batch-outage")
    assert ledger(emulator)["transactions"] == []
    lost = post_batch(emulator, qb, items, "batch-lost")
    posted = ledger(emulator)["transactions"]
    replayed = post_batch(emulator, qb, items, "batch-lost")

    assert outage.status_code == 503 and lost.status_code == 502
    assert len(posted) == 1
    assert replayed.status_code == 200
    [answer] = replayed.json()["BatchItemResponse"]
    assert answer["JournalEntry"]["Id"] == posted[0]["id"]
    assert len(ledger(emulator)["transactions"]) == 1


@pytest.mark.parametrize(
    ("body", "code"),
    [
        ({}, "2020"),
        ({"BatchItemRequest": []}, "2020"),
        ({"BatchItemRequest": "everything"}, "2010"),
        ({"BatchItemRequest": [{"operation": "create", "JournalEntry": {}}]}, "2020"),
        ({"BatchItemRequest": [{"bId": "1", "Query": "x"}, {"bId": "1"}]}, "2010"),
        ({"BatchItemRequest": ["select * from Item"]}, "2010"),
    ],
    ids=["no-items", "empty", "not-a-list", "no-bid", "same-bid", "not-an-object"],
)
def test_malformed_batches_are_refused_whole(
    emulator: Emulator, qb: QuickBooks, body: dict[str, Any], code: str
) -> None:
    reply = requests.post(
        f"{emulator.api_url}/company/{REALM}/batch",
        json=body,
        headers={"Authorization": f"Bearer {qb.session.access_token}"},
        timeout=5,
    )

    assert reply.status_code == 400
    assert reply.json()["Fault"]["Error"][0]["code"] == code
    assert ledger(emulator)["transactions"] == []
