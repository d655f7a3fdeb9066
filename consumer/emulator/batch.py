"""``POST /v3/company/{realm}/batch``: up to 30 operations in one request.

    {"BatchItemRequest": [
        {"bId": "1", "operation": "create", "JournalEntry": {...}},
        {"bId": "2", "operation": "create", "InventoryAdjustment": {...}},
        {"bId": "3", "Query": "select * from Item where Id in ('11')"}]}

The reply is HTTP 200 with one ``BatchItemResponse`` per item, in order: the created
object, a ``QueryResponse``, or a ``Fault`` that concerns that item alone. Items run
one after another with the checks of the single endpoints; a later item sees what an
earlier one changed (QuickBooks does not document this: do not depend on it). Of the
operations QuickBooks offers, the emulator runs create and query; update and delete
are item faults.

The request as a whole is refused with HTTP 400 and nothing acts when it is not a
list of 1 to 30 objects, each with its own non-empty ``bId``: code 2020 for no items
or a missing ``bId``, 2010 for more than 30 items or anything else malformed. A
``requestid`` on a batch holds at most 36 characters (2050 otherwise) and replays the
whole original reply.
"""

from __future__ import annotations

from typing import Any

from consumer.emulator import faults, operations
from consumer.emulator.company import Company
from consumer.emulator.encoding import qbo_time
from consumer.emulator.faults import Fault
from consumer.emulator.wire import Reply, Request, json_reply

MAX_ITEMS = 30
REQUEST_ID_LIMIT = 36
_NOT_AN_OBJECT = ("bId", "operation", "optionsData")


def run_batch(company: Company, request: Request, request_id: str | None) -> Reply:
    items = _items(operations.json_object(request.body))
    answers = [_answer(company, item, request_id) for item in items]
    return json_reply(200, {"BatchItemResponse": answers, "time": qbo_time()})


def _items(body: dict[str, Any]) -> list[dict[str, Any]]:
    items = body.get("BatchItemRequest")
    if items is None or items == []:
        raise faults.missing_value("BatchItemRequest")
    if not isinstance(items, list):
        raise faults.invalid_value("BatchItemRequest", "it must be a list")
    if len(items) > MAX_ITEMS:
        raise faults.invalid_value(
            "BatchItemRequest",
            f"a batch holds at most {MAX_ITEMS} operations; {len(items)} were sent",
        )

    seen: set[str] = set()
    for index, item in enumerate(items):
        where = f"BatchItemRequest[{index}]"
        if not isinstance(item, dict):
            raise faults.invalid_value(where, "an operation must be an object")
        bid = item.get("bId")
        if bid is None or bid == "":
            raise faults.missing_value(f"{where}.bId")
        if not isinstance(bid, str) or bid in seen:
            raise faults.invalid_value(
                f"{where}.bId", f"{bid!r} is not a string used by no other operation"
            )
        seen.add(bid)
    return items


def _answer(
    company: Company, item: dict[str, Any], request_id: str | None
) -> dict[str, Any]:
    try:
        return {"bId": item["bId"], **_run(company, item, request_id)}
    except Fault as fault:
        return {"bId": item["bId"], "Fault": fault.body()}


def _run(
    company: Company, item: dict[str, Any], request_id: str | None
) -> dict[str, Any]:
    if "Query" in item:
        statement = item["Query"]
        if not isinstance(statement, str):
            raise faults.query_syntax("Query must be a string")
        return {"QueryResponse": operations.run_query(company, statement)}

    objects = [key for key in item if key not in _NOT_AN_OBJECT]
    if len(objects) != 1:
        raise faults.invalid_value(
            "BatchItemRequest", "an operation carries exactly one object, or a Query"
        )
    [entity] = objects
    operation = item.get("operation")
    if operation is None or operation == "":
        raise faults.missing_value("operation")
    if operation != "create":
        raise faults.invalid_value(
            "operation", f"the emulator runs create and Query, not {operation!r}"
        )
    if entity not in operations.CREATABLE:
        raise faults.invalid_value(entity, f"the emulator cannot create {entity}")
    body = item[entity]
    if not isinstance(body, dict):
        raise faults.invalid_value(entity, "it must be an object")
    return {entity: operations.create(company, entity, body, request_id)}
