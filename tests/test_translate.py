"""Translation from a build and its company's settings to the accounting request."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest

from consumer import translate
from consumer.model import ExportKind, InventoryAdjustmentRequest, JournalEntryRequest
from tests.builders import APPROVED, build, line, partsemble_only, rejected, synced

BUILD, WASTE = ExportKind.BUILD, ExportKind.WASTE
ID = "1a2b3c4d-5e6f-4a1b-8c2d-000000000001"


@pytest.mark.parametrize(
    ("qa", "status", "expected"),
    [
        (None, "PENDING_EXPORT", (BUILD,)),
        (APPROVED, "PENDING_EXPORT", (BUILD,)),
        (rejected("TOTAL_LOSS"), "PENDING_EXPORT", (WASTE,)),
        (
            rejected("PARTIAL_LOSS", [{"product_id": "c1", "quantity": "1"}]),
            "PENDING_EXPORT",
            (WASTE,),
        ),
        (rejected("FULL_RECOVERY"), "PENDING_EXPORT", ()),
        (rejected("FULL_RECOVERY"), "REJECTED", ()),
        (APPROVED, "APPROVED", ()),
        (None, "EXECUTED", ()),
        (None, "SYNCED", ()),
    ],
)
def test_what_a_build_exports(qa, status, expected):
    assert translate.exports_needed(build(qa=qa, status=status)) == expected


@pytest.mark.parametrize(
    ("build_id", "kind", "expected"),
    [
        (ID, BUILD, "PSB-1A2B3C4D"),
        (ID, WASTE, "PSB-1A2B3C4D-W"),
        ("00ff00aa-0000-4000-8000-000000000000", BUILD, "PSB-00FF00AA"),
    ],
)
def test_reference_is_first_eight_hex_digits_upper_case(build_id, kind, expected):
    ref = translate.reference(build_id, kind)
    assert ref == expected
    assert len(ref) <= 21


@pytest.mark.parametrize(
    ("components", "fg", "expected_lines"),
    [
        (
            [line("c1", "2", "10")],
            line("fg", "1", "0"),
            [("item-c1", "-2"), ("item-fg", "1")],
        ),
        (
            [line("c1", "2.5", "1"), line("c2", "0.0001", "3")],
            line("fg", "3", "0"),
            [("item-c1", "-2.5"), ("item-c2", "-0.0001"), ("item-fg", "3")],
        ),
    ],
)
def test_synced_build_adjustment_lines(components, fg, expected_lines):
    request = translate.translate(
        build(components=components, finished_good=fg, build_id=ID), synced(), BUILD
    )
    assert isinstance(request, InventoryAdjustmentRequest)
    assert [(x.item_id, x.qty_diff) for x in request.lines] == [
        (i, Decimal(q)) for i, q in expected_lines
    ]
    assert request.adjust_account_id == "80"
    assert request.reference == "PSB-1A2B3C4D"
    assert ID in request.private_note


@pytest.mark.parametrize(
    ("qa", "settings", "expected_lines", "account"),
    [
        (
            rejected("TOTAL_LOSS"),
            synced(waste_account_id="81"),
            [("item-c1", "-2"), ("item-c2", "-4")],
            "81",
        ),
        (
            rejected("TOTAL_LOSS"),
            synced(),
            [("item-c1", "-2"), ("item-c2", "-4")],
            "80",
        ),
        (
            rejected("PARTIAL_LOSS", [{"product_id": "c2", "quantity": "1.5"}]),
            synced(waste_account_id="81"),
            [("item-c2", "-1.5")],
            "81",
        ),
    ],
)
def test_synced_waste_adjustment(qa, settings, expected_lines, account):
    components = [line("c1", "2", "10"), line("c2", "4", "1.25")]
    request = translate.translate(
        build(components=components, qa=qa, build_id=ID), settings, WASTE
    )
    assert isinstance(request, InventoryAdjustmentRequest)
    assert [(x.item_id, x.qty_diff) for x in request.lines] == [
        (i, Decimal(q)) for i, q in expected_lines
    ]
    assert request.adjust_account_id == account
    assert request.reference == "PSB-1A2B3C4D-W"


@pytest.mark.parametrize(
    ("components", "cost_lines", "expected_total"),
    [
        ([line("c1", "2", "10")], [], "20.00"),
        # Per-line rounding, half up, before summing: 0.005 -> 0.01 on all three lines.
        (
            [line("a", "1", "0.005"), line("b", "1", "0.005"), line("c", "1", "0.005")],
            [],
            "0.03",
        ),
        ([line("c1", "3", "3.3333")], [{"kind": "LABOR", "amount": "10.125"}], "20.13"),
        (
            [line("c1", "1.5", "96.40"), line("c2", "0.3", "31.90")],
            [{"kind": "OTHER", "amount": "8.5"}],
            "162.67",
        ),
    ],
)
def test_partsemble_only_journal_entry_balances_to_the_cent(
    components, cost_lines, expected_total
):
    request = translate.translate(
        build(components=components, cost_lines=cost_lines), partsemble_only(), BUILD
    )
    assert isinstance(request, JournalEntryRequest)
    assert request.total("Debit") == request.total("Credit") == Decimal(expected_total)
    assert [(x.posting_type, x.account_id) for x in request.lines] == [
        ("Debit", "90"),
        ("Credit", "91"),
    ]
    assert all(x.amount == x.amount.quantize(Decimal("0.01")) for x in request.lines)


@pytest.mark.parametrize(
    ("qa", "settings", "debit", "amount"),
    [
        (rejected("TOTAL_LOSS"), partsemble_only(waste_account_id="92"), "92", "25.00"),
        (rejected("TOTAL_LOSS"), partsemble_only(), "90", "25.00"),
        (
            rejected("PARTIAL_LOSS", [{"product_id": "c2", "quantity": "1"}]),
            partsemble_only(),
            "90",
            "1.25",
        ),
    ],
)
def test_partsemble_only_waste_carries_material_cost_of_lost_components(
    qa, settings, debit, amount
):
    components = [line("c1", "2", "10"), line("c2", "4", "1.25")]
    labour = [{"kind": "LABOR", "amount": "50"}]
    request = translate.translate(
        build(components=components, cost_lines=labour, qa=qa), settings, WASTE
    )
    assert isinstance(request, JournalEntryRequest)
    assert [(x.posting_type, x.account_id, x.amount) for x in request.lines] == [
        ("Debit", debit, Decimal(amount)),
        ("Credit", "91", Decimal(amount)),
    ]


@pytest.mark.parametrize(
    ("ready_at", "timezone", "expected"),
    [
        ("2026-03-01T15:30:00Z", "UTC", date(2026, 3, 1)),
        ("2026-03-01T03:30:00Z", "America/Chicago", date(2026, 2, 28)),
        ("2026-03-01T23:30:00Z", "Europe/Berlin", date(2026, 3, 2)),
        ("2026-12-31T23:59:59.999Z", "Pacific/Auckland", date(2027, 1, 1)),
    ],
)
def test_transaction_date_is_ready_date_in_company_timezone(
    ready_at, timezone, expected
):
    request = translate.translate(
        build(ready_at=ready_at), synced(timezone=timezone), BUILD
    )
    assert request.txn_date == expected


@pytest.mark.parametrize(
    ("settings", "kind", "missing"),
    [
        (
            synced(cogs_account_id=None),
            BUILD,
            ["COGS account (the offset account of build adjustments)"],
        ),
        (synced(), WASTE, []),
        (partsemble_only(build_debit_account_id=None), BUILD, ["build debit account"]),
        (
            partsemble_only(build_credit_account_id=None),
            WASTE,
            ["build credit account"],
        ),
        (
            partsemble_only(build_debit_account_id=None, waste_account_id="92"),
            WASTE,
            [],
        ),
        (
            partsemble_only(build_debit_account_id=None),
            WASTE,
            ["waste account (or the build debit account it falls back to)"],
        ),
    ],
)
def test_missing_settings_name_the_setting(settings, kind, missing):
    assert translate.missing_settings(settings, kind) == missing


def test_unlinked_products_are_listed_for_synced_exports():
    components = [
        line("c1", "1", "1"),
        line("c2", "1", "1", item=None),
        line("c3", "1", "1", item="  "),
    ]
    unlinked = translate.unlinked_products(build(components=components), BUILD)
    assert [p.sku for p in unlinked] == ["C2", "C3"]
