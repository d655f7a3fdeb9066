"""The product's export workflow end to end, through the real broker and the emulator:
every row of the domain's tables in both inventory modes, every prerequisite message,
manual mode, export and retry commands, bulk export, collisions and repeated events."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

import pytest

from consumer import codec, jsonform, operator
from consumer.emulator import Emulator
from consumer.schemas import TENANT_SETTINGS_CHANGED
from producers.jsonl import Message
from tests.builders import APPROVED, event, line, rejected
from tests.pipeline import APP, Pipeline

pytestmark = pytest.mark.broker

ACCOUNTS = [
    {"Id": "80", "Name": "Cost of Goods Sold", "AccountType": "Cost of Goods Sold"},
    {"Id": "81", "Name": "Shrinkage", "AccountType": "Cost of Goods Sold"},
    {"Id": "82", "Name": "Inventory Asset", "AccountType": "Other Current Asset"},
    {"Id": "90", "Name": "Finished Goods", "AccountType": "Other Current Asset"},
    {"Id": "91", "Name": "Raw Materials", "AccountType": "Other Current Asset"},
    {"Id": "92", "Name": "Production Waste", "AccountType": "Expense"},
    {"Id": "93", "Name": "Old Waste", "AccountType": "Expense", "Active": False},
]
ITEMS = [
    {
        "Id": i,
        "Name": f"Item {i}",
        "Sku": f"I-{i}",
        "Type": "Inventory",
        "QtyOnHand": "100",
        "InvStartDate": "2020-01-01",
        "AssetAccountRef": {"value": "82"},
    }
    for i in ("11", "12", "20")
] + [
    {
        "Id": "13",
        "Name": "Retired part",
        "Type": "Inventory",
        "Active": False,
        "QtyOnHand": "0",
        "InvStartDate": "2020-01-01",
        "AssetAccountRef": {"value": "82"},
    },
    {"Id": "14", "Name": "Assembly service", "Type": "Service"},
]

SYNCED = {"inventory_mode": "SYNCED", "cogs_account_id": "80"}
JOURNAL = {
    "inventory_mode": "PARTSEMBLE_ONLY",
    "build_debit_account_id": "90",
    "build_credit_account_id": "91",
}

# Each company has a QuickBooks company (realm) of its own.
COMPANIES = {
    "s-full": {**SYNCED, "waste_account_id": "81"},
    "s-fallback": SYNCED,
    "s-nocogs": {**SYNCED, "cogs_account_id": None},
    "s-badwaste": {**SYNCED, "waste_account_id": "93"},
    "s-manual": {**SYNCED, "export_mode": "MANUAL"},
    "j-full": {**JOURNAL, "waste_account_id": "92"},
    "j-fallback": JOURNAL,
    "j-nodebit": {**JOURNAL, "build_debit_account_id": None},
    "j-nocredit": {**JOURNAL, "build_credit_account_id": None},
    "j-manual": {**JOURNAL, "export_mode": "MANUAL"},
    "j-expired": JOURNAL,
    "j-unconnected": JOURNAL,
}


def realm(tenant: str) -> str:
    return str(4700000000000000 + sorted(COMPANIES).index(tenant))


def seed() -> dict:
    return {
        "apps": [APP],
        "companies": [
            {
                "realm_id": realm(t),
                "name": t,
                "refresh_token": f"RT-{t}",
                "accounts": ACCOUNTS,
                "items": ITEMS if t.startswith("s-") else [],
                "inventory_tracking": t.startswith("s-"),
            }
            for t in COMPANIES
        ],
    }


def tenants() -> dict:
    return {
        "tenants": [
            {
                "tenant_id": t,
                "realm_id": realm(t),
                **{k: v for k, v in s.items() if v is not None},
                **(
                    {}
                    if t == "j-unconnected"
                    else {"connection": {"refresh_token": f"RT-{t}"}}
                ),
            }
            for t, s in COMPANIES.items()
        ]
    }


@pytest.fixture
def pipeline(kafka_bootstrap, tmp_path):
    with Emulator(seed()) as emulator:
        emulator.control(realm("j-expired"), revoke=True)
        yield Pipeline.start(kafka_bootstrap, emulator, tmp_path, tenants())


def parts(item_a: str | None = "11", item_b: str | None = "12") -> list[dict]:
    return [
        line("pa", "2", "10.00", item_a, sku="PART-A"),
        line("pb", "4", "1.255", item_b, sku="PART-B"),
    ]


def build(tenant: str, **kwargs) -> dict:
    kwargs.setdefault("components", parts())
    kwargs.setdefault("finished_good", line("fg", "1", "0", "20", sku="FG"))
    return event(tenant_id=tenant, **kwargs)


PARTIAL = rejected("PARTIAL_LOSS", [{"product_id": "pb", "quantity": "3"}])


def transactions(pipeline: Pipeline, tenant: str) -> list[dict]:
    return pipeline.transactions(realm(tenant))


def sides(txn: dict) -> dict:
    return {
        ln["JournalEntryLineDetail"]["PostingType"]: (
            ln["JournalEntryLineDetail"]["AccountRef"]["value"],
            str(ln["Amount"]),
        )
        for ln in txn["body"]["Line"]
    }


def quantities(txn: dict) -> list[tuple[str, float]]:
    return [
        (
            ln["ItemAdjustmentLineDetail"]["ItemRef"]["value"],
            ln["ItemAdjustmentLineDetail"]["QtyDiff"],
        )
        for ln in txn["body"]["Line"]
    ]


def test_every_row_of_the_export_tables_and_every_prerequisite(pipeline):
    cases = {
        # what gets exported, synced mode
        "s approved": build("s-full", qa=APPROVED),
        "s no qa": build("s-full"),
        "s total loss": build("s-full", qa=rejected("TOTAL_LOSS")),
        "s partial loss, waste falls back to COGS": build("s-fallback", qa=PARTIAL),
        "s full recovery": build("s-full", qa=rejected("FULL_RECOVERY")),
        # what gets exported, Partsemble-only mode
        "j approved": build(
            "j-full", qa=APPROVED, cost_lines=[{"kind": "OVERHEAD", "amount": "5.005"}]
        ),
        "j no qa": build(
            "j-full",
            components=parts(None, None),
            finished_good=line("fg", "1", "0", None),
        ),
        "j total loss": build("j-full", qa=rejected("TOTAL_LOSS")),
        "j partial loss, waste falls back to debit": build("j-fallback", qa=PARTIAL),
        "j full recovery": build("j-full", qa=rejected("FULL_RECOVERY")),
        # prerequisites
        "no COGS account": build("s-nocogs"),
        "inactive waste account": build("s-badwaste", qa=rejected("TOTAL_LOSS")),
        "no build debit account": build("j-nodebit"),
        "no build credit account": build("j-nocredit"),
        "unlinked products": build("s-full", components=parts(None, " ")),
        "missing item": build("s-full", components=parts("404")),
        "inactive item": build("s-full", components=parts("13")),
        "non-inventory item": build("s-full", components=parts("11", "14")),
        "unlinked finished good": build(
            "s-full", finished_good=line("fg", "1", "0", None, sku="FG-NEW")
        ),
        "expired connection": build("j-expired"),
        "no connection": build("j-unconnected"),
    }
    pipeline.publish(list(cases.values()))
    ids = {name: b["build_id"] for name, b in cases.items()}
    pipeline.run_until_settled(list(ids.values()))
    rows = {name: pipeline.store.exports([i])[0] for name, i in ids.items()}

    def synced(name: str) -> dict:
        row = rows[name]
        assert row.state == "SYNCED", (name, row.error_message)
        [txn] = [
            t
            for t in transactions(pipeline, row.tenant_id)
            if t["id"] == row.transaction_id
        ]
        assert txn["body"]["DocNumber"] == row.reference
        assert ids[name] in txn["body"]["PrivateNote"]
        return txn

    assert quantities(synced("s approved")) == [("11", -2), ("12", -4), ("20", 1)]
    assert quantities(synced("s no qa")) == [("11", -2), ("12", -4), ("20", 1)]
    waste = synced("s total loss")
    assert (
        waste["body"]["DocNumber"][-2:],
        waste["body"]["AdjustAccountRef"]["value"],
    ) == ("-W", "81")
    assert quantities(waste) == [("11", -2), ("12", -4)]
    fallback = synced("s partial loss, waste falls back to COGS")
    assert (quantities(fallback), fallback["body"]["AdjustAccountRef"]["value"]) == (
        [("12", -3)],
        "80",
    )
    # 2 x 10.00 + 4 x 1.255 (5.02) + 5.005 overhead (5.01)
    assert sides(synced("j approved")) == {
        "Debit": ("90", "30.03"),
        "Credit": ("91", "30.03"),
    }
    assert sides(synced("j no qa")) == {
        "Debit": ("90", "25.02"),
        "Credit": ("91", "25.02"),
    }
    assert sides(synced("j total loss")) == {
        "Debit": ("92", "25.02"),
        "Credit": ("91", "25.02"),
    }
    # 3 x 1.255 = 3.765 -> 3.77, to the build debit account
    assert sides(synced("j partial loss, waste falls back to debit")) == {
        "Debit": ("90", "3.77"),
        "Credit": ("91", "3.77"),
    }
    for name in ("s full recovery", "j full recovery"):
        assert rows[name].state == "NOT_EXPORTED"

    expected_failures = {
        "no COGS account": ("SETTINGS_MISSING", "Set the COGS account"),
        "inactive waste account": (
            "ACCOUNT_INVALID",
            "the waste account (account 93) does not exist or is inactive",
        ),
        "no build debit account": ("SETTINGS_MISSING", "Set the build debit account"),
        "no build credit account": ("SETTINGS_MISSING", "Set the build credit account"),
        "unlinked products": (
            "PRODUCTS_NOT_LINKED",
            "PART-A (Product pa), PART-B (Product pb)",
        ),
        "missing item": (
            "ITEMS_INVALID",
            "PART-A (Product pa) is linked to item 404, which does not exist",
        ),
        "inactive item": (
            "ITEMS_INVALID",
            "PART-A (Product pa) is linked to item 13, "
            "which does not exist or is inactive",
        ),
        "non-inventory item": (
            "ITEMS_INVALID",
            "PART-B (Product pb) is linked to Assembly service, "
            "which is of type Service",
        ),
        "unlinked finished good": ("PRODUCTS_NOT_LINKED", "FG-NEW (Product fg)"),
        "expired connection": ("CONNECTION_EXPIRED", "reconnect QuickBooks"),
        "no connection": ("CONNECTION_MISSING", "connect QuickBooks"),
    }
    for name, (code, words) in expected_failures.items():
        row = rows[name]
        assert (row.state, row.error_code) == ("FAILED", code), (
            name,
            row.error_message,
        )
        assert words in row.error_message, (name, row.error_message)
    for tenant in (
        "s-nocogs",
        "s-badwaste",
        "j-nodebit",
        "j-nocredit",
        "j-expired",
        "j-unconnected",
    ):
        assert transactions(pipeline, tenant) == [], tenant

    statuses = pipeline.status_events(len(cases) - 2)
    assert sorted(s["status"] for s in statuses) == ["FAILED"] * 11 + ["SYNCED"] * 8


def test_manual_mode_waits_until_asked_and_never_exports_twice(pipeline):
    waiting = build("j-manual")
    pipeline.publish([waiting])
    pipeline.run_until(
        lambda: pipeline.states([waiting["build_id"]]) == ["WAITING"], timeout=30
    )
    assert transactions(pipeline, "j-manual") == []
    [pending] = pipeline.status_events(1)
    assert pending["status"] == "PENDING_EXPORT"

    _send(pipeline, "EXPORT", [waiting["build_id"]])
    pipeline.run_until_settled([waiting["build_id"]])
    assert len(transactions(pipeline, "j-manual")) == 1

    # Asked again: a clear answer, and no second transaction.
    again = operator.plan(
        pipeline.store,
        "EXPORT",
        [waiting["build_number"]],
        "j-manual",
        False,
        None,
        "test",
    )
    assert again.commands == []
    assert "is already synced as JournalEntry" in again.answers[0]
    pipeline.publish_raw(
        [
            Message(
                waiting["build_id"].encode(),
                _command("EXPORT", "j-manual", waiting["build_id"]),
            )
        ],
        pipeline.config.topics.commands,
    )
    pipeline.run_until_idle(3)
    assert len(transactions(pipeline, "j-manual")) == 1
    [(_, _, headers)] = pipeline.dead_letters(1)
    assert (headers["dlt.stage"], headers["dlt.error.code"]) == (
        "command",
        "ALREADY_SYNCED",
    )


def test_retry_after_fixing_a_missing_account_succeeds_with_a_new_request_id(pipeline):
    failing = build("j-nocredit")
    pipeline.publish([failing])
    pipeline.run_until_settled([failing["build_id"]])
    [first] = pipeline.store.exports([failing["build_id"]])
    assert first.state == "FAILED"

    settings = pipeline.store.tenant("j-nocredit")
    pipeline.store.save_tenant(
        type(settings)(**{**vars(settings), "build_credit_account_id": "91"})
    )
    plan = operator.plan(
        pipeline.store, "RETRY", [], "j-nocredit", True, "SETTINGS_MISSING", "ops"
    )
    assert len(plan.commands) == 1
    pipeline.publish_raw(
        [Message(k, v) for k, v in plan.commands], pipeline.config.topics.commands
    )
    pipeline.run_until(lambda: pipeline.states([failing["build_id"]]) == ["SYNCED"])

    [second] = pipeline.store.exports([failing["build_id"]])
    assert (second.attempt, second.error_message) == (2, None)
    assert second.request_id != first.request_id
    [txn] = transactions(pipeline, "j-nocredit")
    assert txn["request_id"] == second.request_id


def test_bulk_export_of_500_waiting_builds_makes_exactly_one_transaction_each(pipeline):
    builds = [build("s-manual", build_number=f"B-{n}") for n in range(500)]
    pipeline.publish(builds)
    ids = [b["build_id"] for b in builds]
    pipeline.run_until(lambda: pipeline.states(ids) == ["WAITING"] * 500, timeout=60)

    plan = operator.plan(pipeline.store, "EXPORT", [], "s-manual", True, None, "ops")
    assert len(plan.commands) == 500
    pipeline.publish_raw(
        [Message(k, v) for k, v in plan.commands], pipeline.config.topics.commands
    )
    pipeline.run_until_settled(ids, timeout=240)

    ledger = transactions(pipeline, "s-manual")
    assert len(ledger) == 500
    assert sorted(
        t["body"]["PrivateNote"].rsplit(" ", 1)[-1] for t in ledger
    ) == sorted(ids)
    assert len({t["body"]["DocNumber"] for t in ledger}) == 500


def test_builds_whose_references_collide_both_export_and_keep_their_own_transactions(
    pipeline,
):
    prefix = uuid.uuid4().hex[:8]
    first = build("j-full", build_id=str(uuid.UUID(prefix + uuid.uuid4().hex[8:])))
    second = build("j-full", build_id=str(uuid.UUID(prefix + uuid.uuid4().hex[8:])))
    pipeline.publish([first])
    pipeline.run_until_settled([first["build_id"]])
    pipeline.publish([second])
    pipeline.run_until_settled([second["build_id"]])

    refs = {
        b["build_id"]: pipeline.store.exports([b["build_id"]])[0]
        for b in (first, second)
    }
    assert refs[first["build_id"]].reference == f"PSB-{prefix.upper()}"
    assert refs[second["build_id"]].reference == f"PSB-{prefix.upper()}-2"
    ledger = {t["id"]: t for t in transactions(pipeline, "j-full")}
    assert len(ledger) == 2
    for build_id, row in refs.items():
        assert build_id in ledger[row.transaction_id]["body"]["PrivateNote"]
        assert ledger[row.transaction_id]["body"]["DocNumber"] == row.reference


def test_repeated_and_out_of_order_events_do_no_harm(pipeline):
    newer = build("j-full", occurred_at="2026-03-02T10:00:00Z")
    pipeline.publish([newer])
    pipeline.run_until_settled([newer["build_id"]])
    older = {
        **newer,
        "event_id": str(uuid.uuid4()),
        "occurred_at": "2026-03-01T10:00:00Z",
        "status": "EXECUTED",
        "ready_at": None,
    }
    again = {
        **newer,
        "event_id": str(uuid.uuid4()),
        "occurred_at": "2026-03-03T10:00:00Z",
    }
    pipeline.publish(
        [newer, older, again]
    )  # the same event, an older snapshot, Pending Export after Synced
    pipeline.run_until_idle(3)

    assert len(transactions(pipeline, "j-full")) == 1
    [status] = pipeline.status_events(1)
    assert status["status"] == "SYNCED"
    [row] = pipeline.store.builds("j-full")
    assert row.event_id == again["event_id"]


def test_settings_events_change_a_companys_settings_and_older_ones_are_ignored(
    pipeline,
):
    def settings_event(when: str, mode: str) -> Message:
        record = jsonform.to_avro(
            TENANT_SETTINGS_CHANGED,
            {
                "event_id": str(uuid.uuid4()),
                "occurred_at": when,
                "tenant_id": "j-full",
                "realm_id": realm("j-full"),
                "inventory_mode": "PARTSEMBLE_ONLY",
                "export_mode": mode,
                "build_debit_account_id": "90",
                "build_credit_account_id": "91",
                "timezone": "Europe/Berlin",
            },
        )
        return Message(b"j-full", codec.encode(TENANT_SETTINGS_CHANGED, record))

    pipeline.publish_raw(
        [
            settings_event("2030-01-02T00:00:00Z", "MANUAL"),
            settings_event("2030-01-01T00:00:00Z", "AUTO"),
        ],
        pipeline.config.topics.settings,
    )
    pipeline.run_until(
        lambda: pipeline.store.tenant("j-full").export_mode.value == "MANUAL",
        timeout=30,
    )
    waiting = build("j-full")
    pipeline.publish([waiting])
    pipeline.run_until(
        lambda: pipeline.states([waiting["build_id"]]) == ["WAITING"], timeout=30
    )
    assert pipeline.store.tenant("j-full").timezone == "Europe/Berlin"


def _send(pipeline: Pipeline, action: str, build_ids: list[str]) -> None:
    rows = {r.build_id: r for r in pipeline.store.exports(build_ids)}
    pipeline.publish_raw(
        [
            Message(b.encode(), _command(action, rows[b].tenant_id, b))
            for b in build_ids
        ],
        pipeline.config.topics.commands,
    )


def _command(action: str, tenant: str, build_id: str) -> bytes:
    from consumer.schemas import EXPORT_COMMAND

    return codec.encode(
        EXPORT_COMMAND,
        {
            "command_id": str(uuid.uuid4()),
            "occurred_at": datetime.now(UTC),
            "tenant_id": tenant,
            "build_id": build_id,
            "action": action,
            "requested_by": "test",
        },
    )
