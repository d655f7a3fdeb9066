"""The store on both databases the service runs on: SQLite and PostgreSQL.

Every test takes ``database_url`` and so runs twice: on a SQLite file and on a fresh
PostgreSQL database (see conftest).
"""

from __future__ import annotations

import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from cryptography.fernet import Fernet
from sqlalchemy import select, text, update

from consumer.errors import ConfigurationError
from consumer.model import ExportMode, InventoryMode, TenantSettings
from consumer.quickbooks_client import Tokens
from consumer.store import (
    ExportRow,
    OutboxRow,
    ProcessedEvent,
    ReplayedDeadLetter,
    Store,
    TokenCipher,
    as_utc,
    outbox_row,
)

TENANT = "acme-scooters"
REALM = "9130350000000001"
EXCHANGE_SECONDS = 0.5


@pytest.fixture
def token_key() -> str:
    return Fernet.generate_key().decode()


@pytest.fixture
def store(database_url: str, token_key: str) -> Store:
    return _open(database_url, token_key)


def _open(url: str, token_key: str) -> Store:
    store = Store(url, TokenCipher(token_key))
    store.create_schema()
    return store


def _on_postgresql(store: Store) -> bool:
    return store.url.startswith("postgresql")


def _in_threads(*calls: Callable[[], Any]) -> list[Any]:
    """Runs the calls at one moment, each in its own thread; returns their results."""
    start = threading.Barrier(len(calls))
    results: list[Any] = [None] * len(calls)
    errors: list[BaseException] = []

    def run(index: int, call: Callable[[], Any]) -> None:
        start.wait()
        try:
            results[index] = call()
        except BaseException as exc:  # re-raised in the test's own thread
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(i, c)) for i, c in enumerate(calls)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert not any(
        t.is_alive() for t in threads
    ), "a worker is still waiting after 60 s"
    if errors:
        raise errors[0]
    return results


# -- companies and their connections -------------------------------------------------


def test_tenant_settings_round_trip(store):
    acme = TenantSettings(
        tenant_id=TENANT,
        realm_id=REALM,
        inventory_mode=InventoryMode.SYNCED,
        export_mode=ExportMode.MANUAL,
        cogs_account_id="80",
        waste_account_id="81",
        timezone="America/Chicago",
        home_currency="CAD",
    )
    birch = TenantSettings(
        tenant_id="birch-furniture",
        realm_id="9130350000000002",
        inventory_mode=InventoryMode.PARTSEMBLE_ONLY,
        build_debit_account_id="90",
        build_credit_account_id="91",
    )

    assert store.save_tenant(acme) and store.save_tenant(birch)
    assert store.tenant(TENANT) == acme
    assert store.tenants() == [acme, birch]
    assert store.tenant("nobody") is None

    changed = replace(acme, export_mode=ExportMode.AUTO, waste_account_id=None)
    store.save_tenant(changed)
    assert store.tenant(TENANT) == changed


def test_settings_decided_before_the_stored_ones_are_ignored(store):
    decided = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
    newer = TenantSettings(TENANT, REALM, InventoryMode.SYNCED, cogs_account_id="80")
    older = replace(newer, cogs_account_id="79")

    assert store.save_tenant(newer, decided)
    assert not store.save_tenant(older, decided - timedelta(seconds=1))
    assert store.tenant(TENANT) == newer


def test_tokens_round_trip_and_are_encrypted_at_rest(store, database_url):
    store.connect(TENANT, REALM, "RT-granted-b8f1c2")
    assert store.load_tokens(TENANT) == Tokens("RT-granted-b8f1c2")

    expires = datetime.now(UTC) + timedelta(minutes=55)
    store.save_tokens(TENANT, Tokens("RT-rotated-5d0e7a", "AT-access-93c4aa", expires))
    loaded = store.load_tokens(TENANT)
    assert loaded == Tokens("RT-rotated-5d0e7a", "AT-access-93c4aa", expires)
    assert loaded is not None and loaded.access_valid(datetime.now(UTC))

    # What the database holds: the columns as stored, read past the store.
    with store.begin() as s:
        query = text(
            "SELECT refresh_token, access_token FROM connections WHERE tenant_id = :t"
        )
        stored = s.execute(query, {"t": TENANT}).one()
    secrets = ["RT-rotated-5d0e7a", "AT-access-93c4aa"]
    for column, secret in zip(stored, secrets, strict=True):
        assert secret.encode() not in bytes(column)

    other_key = Store(database_url, TokenCipher(Fernet.generate_key().decode()))
    with pytest.raises(ConfigurationError, match="cannot be decrypted"):
        other_key.load_tokens(TENANT)


@pytest.mark.parametrize("workers", ["threads of one process", "two processes"])
def test_two_workers_refresh_a_company_once(database_url, token_key, workers):
    first = _open(database_url, token_key)
    second = (
        first if workers == "threads of one process" else _open(database_url, token_key)
    )
    first.connect(TENANT, REALM, "RT-1")
    first.save_tokens(
        TENANT, Tokens("RT-1", "AT-refused", datetime.now(UTC) + timedelta(minutes=30))
    )

    exchanged: list[str] = []
    entered: list[float] = []
    finished: list[float] = []

    def exchange(refresh_token: str) -> Tokens:
        exchanged.append(refresh_token)
        time.sleep(EXCHANGE_SECONDS)  # the other worker arrives meanwhile
        finished.append(time.monotonic())
        return Tokens("RT-2", "AT-fresh", datetime.now(UTC) + timedelta(minutes=55))

    def refresh(store: Store) -> Callable[[], Tokens | None]:
        def call() -> Tokens | None:
            entered.append(time.monotonic())
            # Both were refused "AT-refused" by QuickBooks.
            return store.refresh_tokens(TENANT, "AT-refused", exchange)

        return call

    one, other = _in_threads(refresh(first), refresh(second))

    assert exchanged == ["RT-1"], "exactly one exchange, with the stored refresh token"
    assert (
        max(entered) < finished[0]
    ), "the second worker asked while the first exchanged"
    assert one == other == Tokens("RT-2", "AT-fresh", one.access_expires_at)
    assert first.load_tokens(TENANT) == one


def test_a_refused_refresh_token_expires_the_connection(store):
    store.connect(TENANT, REALM, "RT-revoked")
    asked: list[str] = []

    def refuse(refresh_token: str) -> None:
        asked.append(refresh_token)
        return None

    assert store.refresh_tokens(TENANT, None, refuse) is None
    assert store.connection_status(TENANT) == "EXPIRED"
    assert store.load_tokens(TENANT) is None

    assert store.refresh_tokens(TENANT, None, refuse) is None
    assert asked == ["RT-revoked"], "an expired connection is not exchanged again"


# -- exports ------------------------------------------------------------------------


def _export(
    tenant_id: str, next_attempt_at: datetime, state: str = "EXPORTING"
) -> ExportRow:
    build_id = str(uuid.uuid4())
    return ExportRow(
        build_id=build_id,
        tenant_id=tenant_id,
        build_number=f"B-{build_id[:4]}",
        kind="BUILD",
        reference=f"PSB-{build_id[:8].upper()}",
        state=state,
        attempt=1,
        request_id=str(uuid.uuid4()),
        next_attempt_at=next_attempt_at,
    )


def test_due_exports_are_claimed_in_next_attempt_order_with_aware_times(store):
    now = datetime.now(UTC)
    lease = timedelta(minutes=5)
    with store.begin() as s:
        soon = _export(TENANT, now - timedelta(minutes=10))
        earliest = _export(TENANT, now - timedelta(hours=1))
        s.add_all(
            [
                soon,
                earliest,
                _export(TENANT, now + timedelta(hours=1)),
                _export(TENANT, now - timedelta(hours=2), state="FAILED"),
                _export("birch-furniture", now - timedelta(hours=3)),
            ]
        )

    assert sorted(store.due_tenants(now)) == [TENANT, "birch-furniture"]

    # The longest-waiting export goes first, whatever order the rows were written in.
    [first] = store.claim_due(TENANT, now, 1, "worker-a", lease)
    assert first.build_id == earliest.build_id
    [second] = store.claim_due(TENANT, now, 10, "worker-a", lease)
    assert second.build_id == soon.build_id

    for claimed, expected in [(first, earliest), (second, soon)]:
        assert as_utc(claimed.next_attempt_at) == expected.next_attempt_at
        lease_until = as_utc(claimed.lease_until)
        assert lease_until == now + lease and lease_until > datetime.now(UTC)
        if _on_postgresql(store):
            assert claimed.next_attempt_at is not None
            assert (
                claimed.next_attempt_at.tzinfo is not None
            ), "PostgreSQL keeps the zone"

    assert store.claim_due(TENANT, now, 10, "worker-b", lease) == []
    later = now + lease + timedelta(seconds=1)
    assert {
        r.build_id for r in store.claim_due(TENANT, later, 10, "worker-b", lease)
    } == {earliest.build_id, soon.build_id}, "a lease that ran out frees its exports"


def test_two_processes_never_claim_the_same_export(database_url, token_key):
    stores = [_open(database_url, token_key), _open(database_url, token_key)]
    now = datetime.now(UTC)
    with stores[0].begin() as s:
        s.add_all([_export(TENANT, now - timedelta(seconds=i)) for i in range(20)])

    def claim(store: Store, owner: str) -> Callable[[], list[ExportRow]]:
        return lambda: store.claim_due(TENANT, now, 20, owner, timedelta(minutes=5))

    claims = _in_threads(claim(stores[0], "worker-a"), claim(stores[1], "worker-b"))

    ids = [row.id for claim in claims for row in claim]
    assert len(ids) == 20 and len(set(ids)) == 20, "each export claimed exactly once"


# -- the inbox, dead-letter replays and the outbox -----------------------------------


def test_kafka_offsets_beyond_32_bits_are_recorded(store):
    offset = 2**31 + 7  # a busy partition passes this
    event_id = str(uuid.uuid4())
    with store.begin() as s:
        s.add(ProcessedEvent(event_id=event_id, topic="b", partition=0, offset=offset))
        s.add(ReplayedDeadLetter(topic="d", partition=0, offset=offset, action="run"))

    with store.begin() as s:
        assert s.scalar(select(ProcessedEvent.offset)) == offset
        assert s.scalar(select(ReplayedDeadLetter.offset)) == offset


def test_outbox_rows_stay_unpublished_until_marked(store):
    headers = [("dlt.stage", b"export"), ("binary", bytes([0, 255, 10]))]
    with store.begin() as s:
        s.add_all(
            [
                outbox_row("status", f"build-{i}", f"value-{i}".encode(), headers)
                for i in range(5)
            ]
        )

    rows = store.unpublished()
    assert [r.key for r in rows] == [f"build-{i}".encode() for i in range(5)]
    assert rows[0].value == b"value-0" and rows[0].header_list() == headers
    assert [r.id for r in store.unpublished(limit=2)] == [r.id for r in rows[:2]]

    store.mark_published([rows[0].id, rows[2].id])
    store.mark_published([])
    assert [r.id for r in store.unpublished()] == [rows[1].id, rows[3].id, rows[4].id]

    with store.begin() as s:
        published = list(
            s.scalars(select(OutboxRow.published_at).where(OutboxRow.id == rows[0].id))
        )
    moment = as_utc(published[0])
    assert moment is not None and moment <= datetime.now(UTC)


def test_creating_the_schema_again_keeps_the_data(store, database_url, token_key):
    store.connect(TENANT, REALM, "RT-kept")
    again = _open(database_url, token_key)
    assert again.load_tokens(TENANT) == Tokens("RT-kept")


def test_processes_starting_together_on_an_empty_database_all_open_it(
    database_url, token_key
):
    script = (
        "import sys\n"
        "from consumer.store import Store, TokenCipher\n"
        "Store(sys.argv[1], TokenCipher(sys.argv[2])).create_schema()\n"
    )
    starts = [
        subprocess.Popen(
            [sys.executable, "-c", script, database_url, token_key],
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(4)
    ]
    errors = [p.communicate(timeout=60)[1] for p in starts]
    assert [p.returncode for p in starts] == [0, 0, 0, 0], errors


def test_two_relays_never_claim_the_same_outbox_rows(store):
    with store.begin() as s:
        s.add_all([outbox_row("status", f"b-{i}", b"v") for i in range(6)])

    first = store.claim_unpublished("relay-a", timedelta(seconds=60), limit=4)
    second = store.claim_unpublished("relay-b", timedelta(seconds=60))
    assert len(first) == 4 and len(second) == 2
    assert not {r.id for r in first} & {r.id for r in second}
    assert store.claim_unpublished("relay-c", timedelta(seconds=60)) == []

    # A relay that died frees its rows once its claim runs out.
    with store.begin() as s:
        s.execute(
            update(OutboxRow).values(
                claimed_until=datetime.now(UTC) - timedelta(seconds=1)
            )
        )
    store.mark_published([r.id for r in second])
    assert [
        r.id for r in store.claim_unpublished("relay-c", timedelta(seconds=60))
    ] == [r.id for r in first]
