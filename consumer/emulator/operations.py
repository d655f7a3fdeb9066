"""What a create or a query does to a company, for single requests and batch items.

Each raises a ``Fault`` for what QuickBooks refuses; nothing changes then.
"""

from __future__ import annotations

import json
from typing import Any

from consumer.emulator import faults, query
from consumer.emulator.company import Company
from consumer.emulator.inventory_adjustment import check_inventory_adjustment
from consumer.emulator.journal_entry import check_journal_entry

CREATABLE = ("JournalEntry", "InventoryAdjustment")


def create(
    company: Company, entity: str, body: dict[str, Any], request_id: str | None
) -> dict[str, Any]:
    """Check and record a transaction; return it as stored, with its new Id."""
    if entity == "JournalEntry":
        return company.record(entity, check_journal_entry(company, body), request_id)

    adjustment = check_inventory_adjustment(company, body)
    stored = company.record(entity, adjustment.body, request_id)
    for change in adjustment.changes:
        item = company.items[change.item_id]
        item["QtyOnHand"] = change.apply(item["QtyOnHand"])
    return stored


def run_query(company: Company, statement: str | None) -> dict[str, Any]:
    """The ``QueryResponse`` member for a statement."""
    if not statement or not statement.strip():
        raise faults.query_syntax("the request carries no query")
    parsed = query.parse(statement)
    return query.run(parsed, company.objects(parsed.entity))


def json_object(body: bytes) -> dict[str, Any]:
    try:
        parsed = json.loads(body.decode("utf-8"))
    except (UnicodeDecodeError, ValueError) as exc:
        raise faults.not_json(str(exc)) from exc
    if not isinstance(parsed, dict):
        raise faults.not_json("the top level must be an object")
    return parsed
