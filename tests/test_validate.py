"""Domain rules a decoded build event must satisfy before anything is exported."""

from __future__ import annotations

import pytest

from consumer.errors import InvalidEvent
from tests.builders import APPROVED, build, line, rejected


@pytest.mark.parametrize(
    ("kwargs", "reason"),
    [
        (
            {"components": [line("c1", "-1", "1")]},
            r"components\[0\].quantity must be positive",
        ),
        ({"components": [line("c1", "0", "1")]}, "must be positive"),
        ({"components": [line("c1", "1", "-0.01")]}, "unit_cost must not be negative"),
        ({"components": []}, "at least one component"),
        (
            {"finished_good": line("fg", "0", "0")},
            "finished_good.quantity must be positive",
        ),
        (
            {"cost_lines": [{"kind": "LABOR", "amount": "-5"}]},
            "amount must not be negative",
        ),
        ({"ready_at": None}, "needs ready_at"),
        (
            {"qa": {**APPROVED, "recovery_mode": "TOTAL_LOSS"}},
            "approved build has no recovery mode",
        ),
        (
            {"qa": {**rejected("TOTAL_LOSS"), "recovery_mode": None}},
            "needs qa.recovery_mode",
        ),
        ({"qa": rejected("PARTIAL_LOSS")}, "partial loss needs qa.lost"),
        (
            {"qa": rejected("PARTIAL_LOSS", [{"product_id": "zz", "quantity": "1"}])},
            "did not consume",
        ),
        (
            {"qa": rejected("PARTIAL_LOSS", [{"product_id": "c1", "quantity": "3"}])},
            "more than the",
        ),
        (
            {"qa": rejected("TOTAL_LOSS", [{"product_id": "c1", "quantity": "1"}])},
            "only for PARTIAL_LOSS",
        ),
        ({"tenant_id": "   "}, "tenant_id is empty"),
        ({"components": [line("c1", "1", "1", sku="S" * 201)]}, "at most 200"),
    ],
)
def test_impossible_builds_are_invalid(kwargs, reason):
    with pytest.raises(InvalidEvent, match=reason):
        build(**kwargs)


def test_a_valid_build_reads_back_whole():
    b = build(qa=rejected("PARTIAL_LOSS", [{"product_id": "c1", "quantity": "1.5"}]))
    assert b.qa is not None and b.qa.rejected
    assert str(b.components[0].quantity) == "2.0000"
