"""Batch requests to the emulator, through python-quickbooks and plain HTTP."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
import requests
from quickbooks import QuickBooks
from quickbooks.batch import batch_create
from quickbooks.exceptions import QuickbooksException

from consumer.emulator import Emulator
from tests.emulator_support import (
    accounts,
    adjustment,
    connect,
    item_line,
    on_hand,
    raw_post,
    seed,
    transactions,
    work_in_process_entry,
)

pytestmark = pytest.mark.usefixtures("plain_http_allowed")

REALM = "9130350000000301"
COMPANY: dict[str, Any] = {
    "realm_id": REALM,
    "name": "Batch Widgets",
    "refresh_token": "RT-batch",
    "accounts": accounts("81", "82", "83"),
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


@pytest.fixture(scope="module")
def emulator() -> Iterator[Emulator]:
    with Emulator(seed()) as emulator:
        yield emulator


@pytest.fixture
def qb(emulator: Emulator) -> QuickBooks:
    """A client of a freshly seeded company: empty ledger, ten widgets on hand."""
    return connect(emulator, COMPANY)


def create(bid: str, entity: str, body: dict[str, Any]) -> dict[str, Any]:
    return {"bId": bid, "operation": "create", entity: body}


def entry_body() -> dict[str, Any]:
    """A balanced journal entry of 5.00 as a batch item carries it."""
    body: dict[str, Any] = json.loads(work_in_process_entry("5.00").to_json())
    return body


def adjust_item(item_id: str, qty_diff: int) -> dict[str, Any]:
    return adjustment(item_line(item_id, QtyDiff=qty_diff))


def post_batch(
    qb: QuickBooks, items: list[dict[str, Any]], request_id: str | None = None
) -> requests.Response:
    return raw_post(qb, "batch", {"BatchItemRequest": items}, request_id)


def test_batch_create_through_the_library_reports_successes_and_faults(
    emulator: Emulator, qb: QuickBooks
) -> None:
    result = batch_create(
        [work_in_process_entry("5.00"), work_in_process_entry("5.00", "4.00")],
        qb=qb,
    )

    [saved] = result.successes
    [fault] = result.faults
    assert saved.Id and saved.TotalAmt == 5
    assert fault.type == "ValidationFault"
    assert fault.Error[0].code == "6000" and "not balanced" in fault.Error[0].Detail
    assert [t["id"] for t in transactions(emulator, REALM)] == [saved.Id]
    assert emulator.stats(REALM)["batches"] == 1


def test_items_run_in_order_and_fault_one_by_one(
    emulator: Emulator, qb: QuickBooks
) -> None:
    items = [
        create("je", "JournalEntry", entry_body()),
        create("labor", "InventoryAdjustment", adjust_item("12", -1)),
        create("widget", "InventoryAdjustment", adjust_item("11", -3)),
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
    assert len(transactions(emulator, REALM)) == 2
    assert on_hand(emulator, REALM, "11") == 7


def test_thirty_items_pass_and_thirty_one_are_refused_whole(
    emulator: Emulator, qb: QuickBooks
) -> None:
    items = [create(str(n), "JournalEntry", entry_body()) for n in range(31)]

    with pytest.raises(QuickbooksException) as refused:
        qb.batch_operation(json.dumps({"BatchItemRequest": items}))
    assert transactions(emulator, REALM) == []
    accepted = qb.batch_operation(json.dumps({"BatchItemRequest": items[:30]}))

    assert refused.value.error_code == 2010
    assert "at most 30" in refused.value.detail
    assert len(accepted["BatchItemResponse"]) == 30
    assert len(transactions(emulator, REALM)) == 30


def test_request_id_replays_the_whole_batch_without_acting_again(
    emulator: Emulator, qb: QuickBooks
) -> None:
    items = [
        create("1", "JournalEntry", entry_body()),
        create("2", "InventoryAdjustment", adjust_item("11", -2)),
    ]
    request_id = "b" * 36

    first = post_batch(qb, items, request_id)
    again = post_batch(qb, items, request_id)
    too_long = post_batch(qb, items, "b" * 37)

    assert first.status_code == again.status_code == 200
    assert again.content == first.content
    recorded = transactions(emulator, REALM)
    assert [t["request_id"] for t in recorded] == [request_id, request_id]
    assert on_hand(emulator, REALM, "11") == 8
    assert too_long.status_code == 400
    assert too_long.json()["Fault"]["Error"][0]["code"] == "2050"
    assert len(transactions(emulator, REALM)) == 2


def test_injected_faults_answer_the_batch_as_a_whole(
    emulator: Emulator, qb: QuickBooks
) -> None:
    items = [create("1", "JournalEntry", entry_body())]
    emulator.control(
        REALM, fail_next=[{"status": 503}, {"status": 502, "applied": True}]
    )

    outage = post_batch(qb, items, "batch-outage")
    assert transactions(emulator, REALM) == []
    lost = post_batch(qb, items, "batch-lost")
    posted = transactions(emulator, REALM)
    replayed = post_batch(qb, items, "batch-lost")

    assert outage.status_code == 503 and lost.status_code == 502
    assert len(posted) == 1
    assert replayed.status_code == 200
    [answer] = replayed.json()["BatchItemResponse"]
    assert answer["JournalEntry"]["Id"] == posted[0]["id"]
    assert len(transactions(emulator, REALM)) == 1


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
    reply = raw_post(qb, "batch", body)

    assert reply.status_code == 400
    assert reply.json()["Fault"]["Error"][0]["code"] == code
    assert transactions(emulator, REALM) == []
