"""Build events in as Avro on a real broker; QuickBooks transactions (over HTTP, in the
emulator) and status events out. Both inventory modes, waste, and bad input."""

from __future__ import annotations

import os
import uuid
from decimal import Decimal

import pytest

from consumer.emulator import Emulator
from producers.jsonl import Message
from tests.builders import APPROVED, avro_bytes, event, line, rejected
from tests.pipeline import APP, Pipeline

pytestmark = pytest.mark.broker

SYNCED_REALM = "4620816365000001"
JOURNAL_REALM = "4620816365000002"


def _seed() -> dict:
    items = [
        {
            "Id": str(i),
            "Name": f"Part {i}",
            "Sku": f"P-{i}",
            "Type": "Inventory",
            "Active": True,
            "QtyOnHand": "100",
            "InvStartDate": "2020-01-01",
            "AssetAccountRef": {"value": "82"},
        }
        for i in (11, 12, 20)
    ]
    accounts = [
        {
            "Id": "80",
            "Name": "Cost of Goods Sold",
            "AccountType": "Cost of Goods Sold",
            "Active": True,
        },
        {
            "Id": "81",
            "Name": "Shrinkage",
            "AccountType": "Cost of Goods Sold",
            "Active": True,
        },
        {
            "Id": "82",
            "Name": "Inventory Asset",
            "AccountType": "Other Current Asset",
            "Active": True,
        },
        {
            "Id": "90",
            "Name": "Finished Goods",
            "AccountType": "Other Current Asset",
            "Active": True,
        },
        {
            "Id": "91",
            "Name": "Raw Materials",
            "AccountType": "Other Current Asset",
            "Active": True,
        },
        {
            "Id": "92",
            "Name": "Production Waste",
            "AccountType": "Expense",
            "Active": True,
        },
    ]
    return {
        "apps": [APP],
        "companies": [
            {
                "realm_id": SYNCED_REALM,
                "name": "Synced Co",
                "inventory_tracking": True,
                "refresh_token": "RT-synced",
                "accounts": accounts,
                "items": items,
            },
            {
                "realm_id": JOURNAL_REALM,
                "name": "Journal Co",
                "inventory_tracking": False,
                "refresh_token": "RT-journal",
                "accounts": accounts,
                "items": [],
            },
        ],
    }


TENANTS = {
    "tenants": [
        {
            "tenant_id": "synced-co",
            "realm_id": SYNCED_REALM,
            "inventory_mode": "SYNCED",
            "cogs_account_id": "80",
            "waste_account_id": "81",
            "timezone": "America/Chicago",
            "connection": {"refresh_token": "RT-synced"},
        },
        {
            "tenant_id": "journal-co",
            "realm_id": JOURNAL_REALM,
            "inventory_mode": "PARTSEMBLE_ONLY",
            "build_debit_account_id": "90",
            "build_credit_account_id": "91",
            "waste_account_id": "92",
            "timezone": "Europe/Berlin",
            "connection": {"refresh_token": "RT-journal"},
        },
    ]
}


@pytest.fixture
def pipeline(kafka_bootstrap, tmp_path):
    emulator = Emulator(_seed())
    emulator.start()
    try:
        yield Pipeline.start(kafka_bootstrap, emulator, tmp_path, TENANTS)
    finally:
        emulator.stop()


def parts(linked: bool = True) -> list[dict]:
    return [
        line("p11", "2", "10.00", "11" if linked else None, sku="FRAME-11"),
        line("p12", "1.5", "3.3333", "12"),
    ]


FINISHED = line("p20", "1", "0", "20", sku="SCOOTER-20")


def test_synced_mode_build_becomes_an_inventory_adjustment(pipeline):
    approved = event(
        tenant_id="synced-co",
        components=parts(),
        finished_good=FINISHED,
        qa=APPROVED,
        ready_at="2026-03-02T03:00:00Z",
        occurred_at="2026-03-02T03:00:00Z",
    )
    pipeline.publish(
        [
            {
                **approved,
                "status": "EXECUTED",
                "ready_at": None,
                "qa": None,
                "event_id": str(uuid.uuid4()),
                "occurred_at": "2026-03-01T20:00:00Z",
            },
            approved,
        ]
    )
    pipeline.run_until_settled([approved["build_id"]])

    [txn] = pipeline.transactions(SYNCED_REALM)
    body = txn["body"]
    reference = "PSB-" + approved["build_id"].replace("-", "")[:8].upper()
    assert txn["type"] == "InventoryAdjustment"
    assert body["DocNumber"] == reference
    assert body["TxnDate"] == "2026-03-01"  # 03:00 UTC is still March 1st in Chicago
    assert body["AdjustAccountRef"]["value"] == "80"
    assert approved["build_id"] in body["PrivateNote"]
    lines = [
        (
            ln["ItemAdjustmentLineDetail"]["ItemRef"]["value"],
            Decimal(str(ln["ItemAdjustmentLineDetail"]["QtyDiff"])),
        )
        for ln in body["Line"]
    ]
    assert lines == [
        ("11", Decimal("-2")),
        ("12", Decimal("-1.5")),
        ("20", Decimal("1")),
    ]

    [status] = pipeline.status_events(1)
    assert status["status"] == "SYNCED"
    assert status["kind"] == "BUILD"
    assert status["reference"] == reference
    assert status["transaction"] == {
        "system": "QuickBooksOnline",
        "realm_id": SYNCED_REALM,
        "type": "InventoryAdjustment",
        "id": txn["id"],
    }
    assert status["causation_id"] == approved["event_id"]


def test_partsemble_only_build_becomes_a_balanced_journal_entry(pipeline):
    build = event(
        tenant_id="journal-co",
        components=parts(linked=False),
        finished_good=line("fg", "1", "0", None),
        cost_lines=[{"kind": "LABOR", "amount": "12.345"}],
    )
    pipeline.publish([build])
    pipeline.run_until_settled([build["build_id"]])

    [txn] = pipeline.transactions(JOURNAL_REALM)
    assert txn["type"] == "JournalEntry"
    sides = {
        ln["JournalEntryLineDetail"]["PostingType"]: (
            ln["JournalEntryLineDetail"]["AccountRef"]["value"],
            Decimal(str(ln["Amount"])),
        )
        for ln in txn["body"]["Line"]
    }
    # 2 x 10.00 + 1.5 x 3.3333 (5.00) + 12.345 labour (12.35)
    assert sides == {
        "Debit": ("90", Decimal("37.35")),
        "Credit": ("91", Decimal("37.35")),
    }
    [status] = pipeline.status_events(1)
    assert (status["status"], status["transaction"]["type"]) == (
        "SYNCED",
        "JournalEntry",
    )


def test_waste_is_exported_in_both_modes_and_full_recovery_is_not(pipeline):
    synced_loss = event(
        tenant_id="synced-co",
        components=parts(),
        finished_good=FINISHED,
        qa=rejected("PARTIAL_LOSS", [{"product_id": "p11", "quantity": "0.5"}]),
    )
    journal_loss = event(
        tenant_id="journal-co",
        components=parts(),
        finished_good=FINISHED,
        qa=rejected("TOTAL_LOSS"),
    )
    recovered = event(
        tenant_id="synced-co",
        components=parts(),
        finished_good=FINISHED,
        status="REJECTED",
        ready_at=None,
        qa=rejected("FULL_RECOVERY"),
    )
    pipeline.publish([synced_loss, journal_loss, recovered])
    pipeline.run_until_settled(
        [synced_loss["build_id"], journal_loss["build_id"], recovered["build_id"]]
    )

    [adjustment] = pipeline.transactions(SYNCED_REALM)
    assert adjustment["body"]["DocNumber"].endswith("-W")
    assert adjustment["body"]["AdjustAccountRef"]["value"] == "81"
    assert [
        ln["ItemAdjustmentLineDetail"]["QtyDiff"] for ln in adjustment["body"]["Line"]
    ] == [-0.5]

    [entry] = pipeline.transactions(JOURNAL_REALM)
    assert entry["body"]["DocNumber"].endswith("-W")
    amounts = {
        ln["JournalEntryLineDetail"]["PostingType"]: (
            ln["JournalEntryLineDetail"]["AccountRef"]["value"],
            Decimal(str(ln["Amount"])),
        )
        for ln in entry["body"]["Line"]
    }
    assert amounts == {
        "Debit": ("92", Decimal("25.00")),
        "Credit": ("91", Decimal("25.00")),
    }

    statuses = pipeline.status_events(2)
    assert sorted((s["kind"], s["status"]) for s in statuses) == [
        ("WASTE", "SYNCED"),
        ("WASTE", "SYNCED"),
    ]
    [recovered_row] = pipeline.store.exports([recovered["build_id"]])
    assert recovered_row.state == "NOT_EXPORTED"


def test_unlinked_component_fails_naming_its_sku_and_posts_nothing(pipeline):
    build = event(
        tenant_id="synced-co", components=parts(linked=False), finished_good=FINISHED
    )
    pipeline.publish([build])
    pipeline.run_until_settled([build["build_id"]])

    assert pipeline.transactions(SYNCED_REALM) == []
    [status] = pipeline.status_events(1)
    assert status["status"] == "FAILED"
    assert status["error"]["code"] == "PRODUCTS_NOT_LINKED"
    assert "FRAME-11" in status["error"]["message"]
    [(key, _, headers)] = pipeline.dead_letters(1)
    assert key == build["build_id"].encode()
    assert headers["dlt.stage"] == "export"
    assert "FRAME-11" in headers["dlt.error.message"]


def test_malformed_messages_go_to_the_dead_letter_topic_with_reasons(pipeline):
    unknown_fingerprint = b"\xc3\x01" + os.urandom(8) + b"\x02\x04"
    negative = event(
        tenant_id="synced-co",
        components=[line("p11", "-1", "10", "11")],
        finished_good=FINISHED,
    )
    stranger = event(
        tenant_id="no-such-company", components=parts(), finished_good=FINISHED
    )
    good = event(tenant_id="synced-co", components=parts(), finished_good=FINISHED)
    pipeline.publish_raw(
        [
            Message(b"k1", os.urandom(64)),
            Message(b"k2", unknown_fingerprint),
            Message(b"k3", avro_bytes(negative)),
            Message(b"k4", avro_bytes(stranger)),
            Message(b"k5", avro_bytes(good)),
        ]
    )
    pipeline.run_until_settled([good["build_id"]])

    letters = {key: headers for key, _, headers in pipeline.dead_letters(4)}
    assert set(letters) == {b"k1", b"k2", b"k3", b"k4"}
    assert letters[b"k1"]["dlt.stage"] == "decode"
    assert "not an Avro single-object record" in letters[b"k1"]["dlt.error.message"]
    assert "unknown schema fingerprint" in letters[b"k2"]["dlt.error.message"]
    assert letters[b"k3"]["dlt.stage"] == "validate"
    assert "quantity must be positive" in letters[b"k3"]["dlt.error.message"]
    assert "unknown tenant 'no-such-company'" in letters[b"k4"]["dlt.error.message"]
    for headers in letters.values():
        assert headers["dlt.original.topic"] == pipeline.config.topics.builds
        assert "dlt.original.offset" in headers

    # Only the good build reached QuickBooks; the consumer went on past the bad ones.
    [txn] = pipeline.transactions(SYNCED_REALM)
    assert good["build_id"] in txn["body"]["PrivateNote"]
