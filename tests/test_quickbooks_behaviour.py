"""QuickBooks' faults, limits and tokens, driven through the real python-quickbooks
client against the emulator: the status each ends in, its message, and its retries."""

from __future__ import annotations

import time

import pytest

from consumer.emulator import Emulator
from consumer.exporter import RetryPolicy
from tests.builders import event, line
from tests.harness import APP, Harness

SYNCED, JOURNAL = "5500000000000001", "5500000000000002"


def seed() -> dict:
    accounts = [
        {"Id": "80", "Name": "Cost of Goods Sold", "AccountType": "Cost of Goods Sold"},
        {"Id": "82", "Name": "Inventory Asset", "AccountType": "Other Current Asset"},
        {"Id": "90", "Name": "Finished Goods", "AccountType": "Other Current Asset"},
        {"Id": "91", "Name": "Raw Materials", "AccountType": "Other Current Asset"},
    ]
    items = [
        {
            "Id": "11",
            "Name": "Frame",
            "Sku": "FRM",
            "Type": "Inventory",
            "QtyOnHand": "50",
            "InvStartDate": "2020-01-01",
            "AssetAccountRef": {"value": "82"},
        },
        {
            "Id": "20",
            "Name": "Scooter",
            "Sku": "SCT",
            "Type": "Inventory",
            "QtyOnHand": "0",
            "InvStartDate": "2020-01-01",
            "AssetAccountRef": {"value": "82"},
        },
        {
            "Id": "30",
            "Name": "Late Item",
            "Sku": "LATE",
            "Type": "Inventory",
            "QtyOnHand": "5",
            "InvStartDate": "2027-01-01",
            "AssetAccountRef": {"value": "82"},
        },
        {"Id": "40", "Name": "Consulting", "Type": "Service"},
    ]
    return {
        "apps": [APP],
        "companies": [
            {
                "realm_id": SYNCED,
                "name": "Synced",
                "refresh_token": "RT-s",
                "accounts": accounts,
                "items": items,
            },
            {
                "realm_id": JOURNAL,
                "name": "Journal",
                "inventory_tracking": False,
                "refresh_token": "RT-j",
                "accounts": accounts,
                "items": [],
            },
        ],
    }


TENANTS = {
    "tenants": [
        {
            "tenant_id": "synced",
            "realm_id": SYNCED,
            "inventory_mode": "SYNCED",
            "cogs_account_id": "80",
            "connection": {"refresh_token": "RT-s"},
        },
        {
            "tenant_id": "journal",
            "realm_id": JOURNAL,
            "inventory_mode": "PARTSEMBLE_ONLY",
            "build_debit_account_id": "90",
            "build_credit_account_id": "91",
            "connection": {"refresh_token": "RT-j"},
        },
    ]
}


@pytest.fixture
def emulator():
    with Emulator(seed()) as emu:
        yield emu


@pytest.fixture
def harness(emulator, tmp_path):
    h = Harness(emulator, tmp_path, TENANTS)
    yield h
    h.close()


def synced_build(item: str = "11", fg: str = "20") -> dict:
    return event(
        tenant_id="synced",
        components=[line("c1", "2", "5", item)],
        finished_good=line("fg", "1", "0", fg),
    )


def journal_build() -> dict:
    return event(tenant_id="journal", components=[line("c1", "2", "5", None)])


def ledger(emulator: Emulator, realm: str) -> list[dict]:
    return emulator.ledger(realm)["companies"][realm]["transactions"]


@pytest.mark.parametrize(
    "fault",
    [
        {"status": 503, "kind": "html"},
        {"status": 502},
        {"status": 504},
        {"status": 500, "code": "10000"},
        {"status": 401, "code": "3200"},
        {"status": 401, "code": "120"},
        {"kind": "timeout"},
    ],
    ids=["503-html", "502", "504", "500-10000", "401-3200", "401-120", "timeout"],
)
def test_transient_faults_and_expired_tokens_are_cured_in_the_call(
    harness, emulator, fault
):
    emulator.control(JOURNAL, fail_next=[fault], timeout_seconds=3)
    build = journal_build()
    harness.submit(build)
    harness.drain()

    row = harness.export(build["build_id"])
    assert row.state == "SYNCED"
    assert row.scheduled_retries == 0  # cured inside the call, no rescheduling
    assert len(ledger(emulator, JOURNAL)) == 1


def test_an_answer_lost_after_the_post_went_through_is_not_posted_twice(
    harness, emulator
):
    emulator.control(JOURNAL, fail_next=[{"status": 502, "applied": True}])
    build = journal_build()
    harness.submit(build)
    harness.drain()

    [txn] = ledger(emulator, JOURNAL)
    assert harness.export(build["build_id"]).transaction_id == txn["id"]


def test_server_errors_that_outlast_every_retry_end_failed_and_retryable(
    harness, emulator
):
    emulator.control(JOURNAL, fail_next=[{"status": 503, "kind": "html"}] * 40)
    build = journal_build()
    harness.submit(build)
    harness.drain()

    row = harness.export(build["build_id"])
    assert (row.state, row.retryable, row.scheduled_retries) == ("FAILED", True, 2)
    assert row.error_code.startswith("QB_")
    assert ledger(emulator, JOURNAL) == []
    [status] = harness.statuses()
    assert status["error"]["retryable"] is True


def test_throttled_company_waits_then_exports(harness, emulator):
    emulator.control(
        JOURNAL, fail_next=[{"status": 429, "kind": "xml", "retry_after": 1}]
    )
    build = journal_build()
    harness.submit(build)
    harness.drain()
    assert harness.export(build["build_id"]).state == "SYNCED"


@pytest.mark.parametrize(
    ("fault", "code", "words"),
    [
        (
            {"status": 403, "code": "3100"},
            "QB_3100",
            "not authorised for this QuickBooks company",
        ),
        ({"status": 400, "code": "610"}, "QB_610", "missing or inactive in QuickBooks"),
        (
            {"status": 400, "code": "2500"},
            "QB_2500",
            "missing or inactive in QuickBooks",
        ),
        ({"status": 400, "code": "6190"}, "QB_6190", "subscription has ended"),
        (
            {"status": 400, "code": "6000"},
            "QB_6000",
            "QuickBooks refused the export. QuickBooks said:",
        ),
        (
            {"status": 400, "code": "2010"},
            "QB_2010",
            "QuickBooks refused the export. QuickBooks said:",
        ),
        (
            {"status": 400, "code": "2020"},
            "QB_2020",
            "QuickBooks refused the export. QuickBooks said:",
        ),
        (
            {"status": 400, "code": "2050"},
            "QB_2050",
            "QuickBooks refused the export. QuickBooks said:",
        ),
        (
            {"status": 400, "code": "6140"},
            "QB_6140",
            "QuickBooks refused the export. QuickBooks said:",
        ),
        (
            {"status": 200, "code": "6000"},
            "QB_6000",
            "QuickBooks refused the export. QuickBooks said:",
        ),
    ],
)
def test_faults_that_need_a_person_fail_at_once_with_what_to_do(
    harness, emulator, fault, code, words
):
    _warm_up(harness)
    build = journal_build()
    harness.submit(build)
    emulator.control(JOURNAL, fail_next=[fault])
    harness.drain()

    row = harness.export(build["build_id"])
    assert (row.state, row.error_code, row.retryable) == ("FAILED", code, False)
    assert words in row.error_message
    assert row.scheduled_retries == 0
    assert len(ledger(emulator, JOURNAL)) == 1  # only the warm-up's
    status = harness.statuses()[-1]
    assert status["error"] == {
        "code": code,
        "message": row.error_message,
        "retryable": False,
    }


def _warm_up(harness: Harness) -> None:
    """Export one build, so the company's accounts are known and the next request a
    build makes is its post."""
    harness.submit(journal_build())
    harness.drain()


def test_stale_object_is_retried_later(harness, emulator):
    _warm_up(harness)
    build = journal_build()
    harness.submit(build)
    emulator.control(JOURNAL, fail_next=[{"status": 400, "code": "5010"}])
    harness.drain()
    row = harness.export(build["build_id"])
    assert (row.state, row.scheduled_retries) == ("SYNCED", 1)


def test_closed_books_name_the_date(harness, emulator):
    emulator.control(JOURNAL, closed_books_date="2026-06-30")
    build = journal_build()  # ready 2026-03-01
    harness.submit(build)
    harness.drain()
    row = harness.export(build["build_id"])
    assert (row.state, row.error_code) == ("FAILED", "QB_6210")
    assert "The books are closed in QuickBooks on 2026-03-01" in row.error_message


def test_edition_without_inventory_says_synced_mode_needs_plus(harness, emulator):
    emulator.control(SYNCED, inventory_tracking=False)
    build = synced_build()
    harness.submit(build)
    harness.drain()
    row = harness.export(build["build_id"])
    assert (row.state, row.error_code) == ("FAILED", "QB_EDITION")
    assert "needs QuickBooks Online Plus or Advanced" in row.error_message


@pytest.mark.parametrize(
    ("build_kwargs", "control", "code", "words"),
    [
        (
            {"item": "30"},
            {},
            "ITEMS_INVALID",
            "whose inventory start date in QuickBooks is 2027-01-01",
        ),
        ({"item": "40"}, {}, "ITEMS_INVALID", "of type Service, not Inventory"),
        (
            {"item": "99"},
            {},
            "ITEMS_INVALID",
            "linked to item 99, which does not exist or is inactive",
        ),
        (
            {},
            {"deactivate": {"items": ["11"]}},
            "ITEMS_INVALID",
            "linked to item 11, which does not exist or is inactive",
        ),
        (
            {},
            {"deactivate": {"accounts": ["80"]}},
            "ACCOUNT_INVALID",
            "the COGS account (account 80)",
        ),
    ],
)
def test_references_are_checked_before_anything_is_posted(
    harness, emulator, build_kwargs, control, code, words
):
    if control:
        emulator.control(SYNCED, **control)
    build = synced_build(**build_kwargs)
    harness.submit(build)
    harness.drain()
    row = harness.export(build["build_id"])
    assert (row.state, row.error_code) == ("FAILED", code)
    assert words in row.error_message
    assert ledger(emulator, SYNCED) == []


def test_offset_account_that_is_an_items_asset_account_is_refused(emulator, tmp_path):
    tenant = {"tenants": [{**TENANTS["tenants"][0], "cogs_account_id": "82"}]}
    harness = Harness(emulator, tmp_path, tenant)
    try:
        build = synced_build()
        harness.submit(build)
        harness.drain()
        row = harness.export(build["build_id"])
        assert row.error_code == "OFFSET_IS_ASSET_ACCOUNT"
        assert (
            "COGS account (account 82) is the inventory asset account of Frame, Scooter"
            in row.error_message
        )
    finally:
        harness.close()


def test_revoked_connection_fails_with_reconnect_and_marks_it_expired(
    harness, emulator
):
    emulator.control(JOURNAL, revoke=True)
    build = journal_build()
    harness.submit(build)
    harness.drain()
    row = harness.export(build["build_id"])
    assert (row.state, row.error_code) == ("FAILED", "CONNECTION_EXPIRED")
    assert "reconnect QuickBooks" in row.error_message
    assert harness.store.connection_status("journal") == "EXPIRED"


def test_tokens_that_expire_and_rotate_mid_run_lose_nothing(emulator, tmp_path):
    emulator_short = Emulator(seed(), access_token_ttl=1.0)
    emulator_short.start()
    harness = Harness(emulator_short, tmp_path, TENANTS, policy=RetryPolicy(()))
    try:
        first_refresh = harness.store.load_tokens("journal").refresh_token
        builds = [journal_build() for _ in range(6)]
        for build in builds:
            harness.submit(build)
            harness.drain()
            time.sleep(0.5)  # the access token expires between some of these exports
        assert all(harness.export(b["build_id"]).state == "SYNCED" for b in builds)
        assert len(ledger(emulator_short, JOURNAL)) == 6
        # The refresh token rotated, and the stored one is the newest.
        assert harness.store.load_tokens("journal").refresh_token != first_refresh
    finally:
        harness.close()
        emulator_short.stop()


def test_values_no_rule_foresaw_fail_their_export_and_the_rest_goes_on(
    harness, emulator
):
    huge = event(
        tenant_id="synced",
        components=[line("c1", "99999999999999.9999", "5", "11")],
        finished_good=line("fg", "1", "0", "20"),
    )
    costly = event(
        tenant_id="journal",
        components=[line("c1", "99999999999999.9999", "99999999999999.999999", None)],
    )
    normal = journal_build()
    harness.submit(huge, costly, normal)
    harness.drain()

    for build in (huge, costly):
        row = harness.export(build["build_id"])
        assert (row.state, row.error_code) == ("FAILED", "AMOUNT_TOO_LARGE")
        assert "too large for QuickBooks" in row.error_message
    assert harness.export(normal["build_id"]).state == "SYNCED"


def test_a_journal_entry_of_zero_is_not_needed(harness, emulator):
    free = event(tenant_id="journal", components=[line("c1", "0.0001", "0.01", None)])
    harness.submit(free)
    harness.drain()
    row = harness.export(free["build_id"])
    assert (row.state, row.error_message) == (
        "NOT_EXPORTED",
        "its cost rounds to 0.00: no journal entry is needed",
    )
    assert ledger(emulator, JOURNAL) == []


def test_a_build_costed_in_another_currency_is_not_booked(harness, emulator):
    euros = {**journal_build(), "currency": "EUR"}
    harness.submit(euros)
    harness.drain()
    row = harness.export(euros["build_id"])
    assert (row.state, row.error_code) == ("FAILED", "CURRENCY_MISMATCH")
    assert (
        "costed in EUR, but the QuickBooks company's home currency is USD"
        in row.error_message
    )
    assert ledger(emulator, JOURNAL) == []


def test_pending_export_counts_even_when_upstream_clocks_disagree(harness, emulator):
    build = journal_build()
    executed = {
        **build,
        "event_id": "00000000-0000-4000-8000-000000000001",
        "status": "EXECUTED",
        "ready_at": None,
        "occurred_at": "2026-03-01T12:00:00.500Z",
    }
    pending = {
        **build,
        "occurred_at": "2026-03-01T12:00:00.400Z",
        "ready_at": "2026-03-01T12:00:00.400Z",
    }
    harness.submit(executed, pending)
    harness.drain()
    assert harness.export(build["build_id"]).state == "SYNCED"
    stale = {**executed, "event_id": "00000000-0000-4000-8000-000000000002"}
    harness.submit(stale)  # an old stage arriving late changes nothing
    [row] = harness.store.builds("journal")
    assert row.status == "PENDING_EXPORT"


@pytest.mark.parametrize("ready_at", ["0001-01-01T00:00:00Z", "9999-12-31T23:59:59Z"])
def test_implausible_times_are_dead_lettered_not_exported(harness, emulator, ready_at):
    build = {**journal_build(), "ready_at": ready_at}
    harness.submit(build)
    assert harness.store.exports([build["build_id"]]) == []
    [letter] = harness.dead_letters()
    assert (
        "is not a plausible time"
        in dict(letter.header_list())["dlt.error.message"].decode()
    )


def test_a_dead_letter_too_large_for_kafka_is_cut_and_says_so(harness):
    build = {**journal_build(), "build_number": "B" * 900_000}
    harness.submit(build)
    [letter] = harness.dead_letters()
    headers = dict(letter.header_list())
    assert len(letter.value) == 512 * 1024
    assert int(headers["dlt.value.truncated-from"]) > 900_000


def test_a_retry_after_an_answer_was_lost_adopts_the_earlier_transaction(
    harness, emulator
):
    _warm_up(harness)  # so the next request is the build's post
    build = journal_build()
    harness.submit(build)
    # The post goes through but its answer is lost; then QuickBooks stays down until
    # the export gives up.
    outage = [{"status": 503, "kind": "html"}] * 40
    emulator.control(
        JOURNAL,
        fail_next=[{"kind": "timeout", "applied": True}, *outage],
        timeout_seconds=3,
    )
    harness.drain(timeout=60)
    failed = harness.export(build["build_id"])
    assert (failed.state, failed.retryable) == ("FAILED", True)
    [posted] = _naming(emulator, build)

    emulator.control(JOURNAL, fail_next=[])
    harness.retry(build)  # what `build-export retry` asks for
    harness.drain()
    retried = harness.export(build["build_id"])
    assert (retried.state, retried.transaction_id) == ("SYNCED", posted["id"])
    assert len(_naming(emulator, build)) == 1


def _naming(emulator: Emulator, build: dict) -> list[dict]:
    return [
        t
        for t in ledger(emulator, JOURNAL)
        if build["build_id"] in t["body"]["PrivateNote"]
    ]


def test_a_wrong_client_secret_leaves_the_connections_alone(emulator, tmp_path):
    harness = Harness(emulator, tmp_path, TENANTS, client_secret="rotated-by-mistake")
    try:
        build = journal_build()
        harness.submit(build)
        harness.drain()
        row = harness.export(build["build_id"])
        assert (row.state, row.error_code) == ("FAILED", "APP_CREDENTIALS")
        assert "check QBO_CLIENT_ID and QBO_CLIENT_SECRET" in row.error_message
        assert harness.store.connection_status("journal") == "CONNECTED"
    finally:
        harness.close()


def test_a_colliding_reference_for_a_build_not_exported_takes_the_next_suffix(harness):
    first = {**synced_build(), "build_id": "abcd1234-0000-4000-8000-000000000001"}
    recovered = {
        **synced_build(),
        "build_id": "abcd1234-0000-4000-8000-000000000002",
        "status": "REJECTED",
        "ready_at": None,
        "qa": {
            "result": "REJECTED",
            "reason": "OTHER",
            "recovery_mode": "FULL_RECOVERY",
            "lost": [],
            "notes": None,
        },
    }
    harness.submit(first, recovered)
    harness.drain()
    assert harness.export(first["build_id"]).reference == "PSB-ABCD1234"
    assert harness.export(recovered["build_id"]).reference == "PSB-ABCD1234-2"


def test_a_build_id_of_another_company_is_refused(harness, emulator):
    build = journal_build()
    harness.submit(build)
    harness.drain()
    intruder = {
        **synced_build(),
        "build_id": build["build_id"],
        "event_id": "00000000-0000-4000-8000-00000000000a",
    }
    harness.submit(intruder)
    [letter] = harness.dead_letters()
    assert (
        "already belongs to another company"
        in dict(letter.header_list())["dlt.error.message"].decode()
    )
    assert harness.export(build["build_id"]).tenant_id == "journal"


def test_a_refreshed_token_refused_again_is_retried_not_disconnected(harness, emulator):
    _warm_up(harness)
    build = journal_build()
    harness.submit(build)
    emulator.control(JOURNAL, fail_next=[{"status": 401, "code": "3200"}] * 2)
    harness.drain()
    row = harness.export(build["build_id"])
    assert (row.state, row.scheduled_retries) == ("SYNCED", 1)
    assert harness.store.connection_status("journal") == "CONNECTED"
