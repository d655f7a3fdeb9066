"""The emulator's query-language subset, parsed and run without a server."""

from __future__ import annotations

import pytest

from consumer.emulator import query
from consumer.emulator.faults import Fault
from consumer.emulator.query import Condition, Query

ITEMS = [
    {"Id": "2", "Name": "Widget", "Sku": "W-1", "Type": "Inventory", "Active": True},
    {"Id": "10", "Name": "Gadget", "Sku": "G-1", "Type": "Inventory", "Active": True},
    {"Id": "3", "Name": "Labor", "Type": "Service", "Active": False},
]


@pytest.mark.parametrize(
    ("statement", "expected"),
    [
        ("select * from Item", Query("Item")),
        ("SELECT *, Sku FROM item", Query("Item")),
        ("select count(*) from JournalEntry", Query("JournalEntry", count=True)),
        (
            r"select * from JournalEntry where DocNumber = 'O\'Neil\\7'",
            Query("JournalEntry", conditions=(Condition("DocNumber", ("O'Neil\\7",)),)),
        ),
        (
            "select * from Item where id in ('1', '2') and Active = true",
            Query(
                "Item",
                conditions=(
                    Condition("Id", ("1", "2")),
                    Condition("Active", ("true",)),
                ),
            ),
        ),
        (
            "select * from Account ORDERBY Name desc STARTPOSITION 3 MAXRESULTS 5000",
            Query(
                "Account",
                order_by="Name",
                descending=True,
                start_position=3,
                max_results=1000,
            ),
        ),
        (
            "SELECT * FROM Account  ORDER BY Id",
            Query("Account", order_by="Id"),
        ),
    ],
)
def test_statements_parse(statement: str, expected: Query) -> None:
    assert query.parse(statement) == expected


@pytest.mark.parametrize(
    ("statement", "code"),
    [
        ("", "4000"),
        ("delete from Item", "4000"),
        ("select Name from Item", "4000"),
        ("select * from Item where Name = 'unterminated", "4000"),
        ("select * from Item where Name like 'W%'", "4000"),
        ("select * from Item startposition 0", "4000"),
        ("select * from Item maxresults 10 extra", "4000"),
        ("select * from Item where Name = 'a' or Name = 'b'", "4000"),
        ("select * from Customer", "4001"),
        ("select * from Item where DocNumber = 'x'", "4001"),
    ],
)
def test_malformed_statements_are_faults(statement: str, code: str) -> None:
    with pytest.raises(Fault) as refused:
        query.parse(statement)

    assert refused.value.code == code
    assert refused.value.detail


def test_inactive_objects_are_hidden_unless_asked_for() -> None:
    everything = query.run(query.parse("select * from Item"), ITEMS)
    inactive = query.run(query.parse("select * from Item where Active = false"), ITEMS)
    both = query.run(
        query.parse("select * from Item where Active in (true, false)"), ITEMS
    )

    assert [item["Id"] for item in everything["Item"]] == ["2", "10"]
    assert [item["Id"] for item in inactive["Item"]] == ["3"]
    assert len(both["Item"]) == 3


def test_results_are_ordered_and_paged() -> None:
    by_name = query.run(query.parse("select * from Item orderby Name"), ITEMS)
    second = query.run(
        query.parse("select * from Item startposition 2 maxresults 1"), ITEMS
    )
    beyond = query.run(query.parse("select * from Item startposition 9"), ITEMS)

    assert [item["Name"] for item in by_name["Item"]] == ["Gadget", "Widget"]
    assert second == {"Item": [ITEMS[1]], "startPosition": 2, "maxResults": 1}
    assert beyond == {}


def test_count_ignores_paging() -> None:
    statement = "select count(*) from Item where Type = 'Inventory' maxresults 1"

    assert query.run(query.parse(statement), ITEMS) == {"totalCount": 2}
