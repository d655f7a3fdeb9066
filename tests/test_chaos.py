"""The export keeps its guarantees while consumers are SIGKILLed mid-work, the broker
restarts and QuickBooks misbehaves: a short run of ``chaos.run``, judged by the
independent checker in ``chaos.checker``.

The run starts its own broker, emulator and consumer processes. It runs on PostgreSQL
(the production database of a group of consumers) when `make test` provides one, else
on SQLite. The checker's comparison and the killer's rhythm are tested without a
broker.
"""

from __future__ import annotations

import os
import uuid
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from chaos.checker import compare
from chaos.expected import Expectation, ExpectedBuild, ExpectedExport
from chaos.options import Options
from chaos.reading import ExportState, TopicRecord
from chaos.run import execute
from chaos.weather import StormPlan, Weather
from consumer import codec
from consumer.schemas import EXPORT_STATUS_CHANGED

SHORT_RUN = Options(
    builds=300,
    companies=5,
    consumers=2,
    kill_every=(2.0, 4.0),
    broker_restart=True,
    seed=20261204,
    waves=5,
    wave_interval=3.0,
    storm=15.0,
    storms=1,
    throttled_companies=1,
    throttle_seconds=20.0,
    time_limit=240.0,
)
DATABASE = (
    "postgresql" if os.environ.get("BUILD_EXPORT_TEST_POSTGRES_URL") else "sqlite"
)


@pytest.mark.broker
@pytest.mark.parametrize("database_url", [DATABASE], indirect=True)
def test_exports_survive_killed_consumers_and_a_broker_restart(
    database_url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    progress: list[str] = []
    run = replace(SHORT_RUN, database_url=database_url, work_dir=tmp_path / "chaos")

    outcome = execute(run, progress.append)

    with capsys.disabled():
        print(f"\n[chaos test on {DATABASE}, seed {run.seed}]")
        print("\n".join(outcome.lines()))
    assert outcome.figures.passed, "\n".join([*progress, *outcome.figures.problems()])


# -- the checker's comparison ----------------------------------------------------------

JOURNAL, WASTE, UNLINKED = (str(uuid.uuid4()) for _ in range(3))
REALM = "9130357000000001"


def _expectation() -> Expectation:
    def build(build_id: str, export: ExpectedExport) -> ExpectedBuild:
        return ExpectedBuild(build_id, "co", REALM, "B-1", "story", (export,))

    return Expectation(
        builds=[
            build(
                JOURNAL,
                ExpectedExport("BUILD", "SYNCED", None, "JournalEntry", "10.00"),
            ),
            build(
                WASTE,
                ExpectedExport(
                    "WASTE",
                    "SYNCED",
                    None,
                    "InventoryAdjustment",
                    quantities={"11": "-2"},
                ),
            ),
            build(UNLINKED, ExpectedExport("BUILD", "FAILED", "PRODUCTS_NOT_LINKED")),
        ],
        malformed_published=0,
        realms=[REALM],
    )


def _journal(txn_id: str, debit: str, credit: str) -> dict[str, Any]:
    lines = [
        {"Amount": debit, "JournalEntryLineDetail": {"PostingType": "Debit"}},
        {"Amount": credit, "JournalEntryLineDetail": {"PostingType": "Credit"}},
    ]
    note = f"Partsemble build export of build B-1; build id {JOURNAL}"
    body = {
        "DocNumber": f"PSB-{JOURNAL[:8].upper()}",
        "PrivateNote": note,
        "Line": lines,
    }
    return {"type": "JournalEntry", "id": txn_id, "body": body}


def _adjustment(txn_id: str) -> dict[str, Any]:
    line = {"ItemAdjustmentLineDetail": {"ItemRef": {"value": "11"}, "QtyDiff": -2}}
    note = f"Partsemble waste export of build B-1; build id {WASTE}"
    body = {
        "DocNumber": f"PSB-{WASTE[:8].upper()}-W",
        "PrivateNote": note,
        "Line": [line],
    }
    return {"type": "InventoryAdjustment", "id": txn_id, "body": body}


def _ledger(*transactions: dict[str, Any]) -> dict[str, Any]:
    company = {"transactions": list(transactions), "stats": {"throttled": 3}}
    return {"companies": {REALM: company}}


def _states() -> list[ExportState]:
    return [
        ExportState(JOURNAL, "BUILD", "SYNCED", "JournalEntry", "7", None, None),
        ExportState(WASTE, "WASTE", "SYNCED", "InventoryAdjustment", "8", None, None),
        ExportState(
            UNLINKED, "BUILD", "FAILED", None, None, "PRODUCTS_NOT_LINKED", "Link"
        ),
    ]


def _status(
    build_id: str, kind: str, status: str, txn: tuple[str, str] | None
) -> TopicRecord:
    record = {
        "event_id": str(uuid.uuid4()),
        "occurred_at": datetime.now(UTC),
        "tenant_id": "co",
        "build_id": build_id,
        "build_number": "B-1",
        "kind": kind,
        "reference": "PSB-1",
        "status": status,
        "attempt": 1,
        "causation_id": "c",
        "transaction": txn
        and {
            "system": "QuickBooksOnline",
            "realm_id": REALM,
            "type": txn[0],
            "id": txn[1],
        },
        "error": None if txn else {"code": "X", "message": "m", "retryable": False},
    }
    return TopicRecord(
        build_id.encode(), codec.encode(EXPORT_STATUS_CHANGED, record), {}
    )


def _statuses() -> list[TopicRecord]:
    return [
        _status(JOURNAL, "BUILD", "SYNCED", ("JournalEntry", "7")),
        _status(WASTE, "WASTE", "SYNCED", ("InventoryAdjustment", "8")),
        _status(UNLINKED, "BUILD", "FAILED", None),
    ]


def test_checker_passes_a_run_whose_books_database_and_topic_agree() -> None:
    ledger = _ledger(_journal("7", "10.00", "10.00"), _adjustment("8"))

    figures = compare(_expectation(), _states(), ledger, _statuses())

    assert figures.passed, figures.problems()
    assert (
        figures.settled,
        figures.synced,
        figures.failed,
        figures.expected_failed,
    ) == (3, 2, 1, 1)
    assert figures.throttled_429 == 3
    assert not figures.notes.wrong_amounts and not figures.notes.unexpected_outcomes


def test_checker_counts_duplicates_mismatches_and_unbalanced_entries() -> None:
    ledger = _ledger(_journal("7", "10.00", "10.00"), _journal("9", "9.99", "10.00"))
    only_the_failure_announced = _statuses()[2:]

    figures = compare(_expectation(), _states(), ledger, only_the_failure_announced)

    assert figures.duplicate_transactions == 1  # the journal entry, booked twice
    assert figures.missing_transactions == 1  # the waste adjustment, never booked
    assert figures.mismatches == 1  # the waste: synced in the database only
    assert figures.unbalanced_journal_entries == 1
    assert len(figures.notes.wrong_amounts) == 1  # 9.99 debited instead of 10.00
    assert figures.missing_status_events == 2
    assert not figures.passed


# -- the killer's rhythm ---------------------------------------------------------------


class _Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def _pass(weather: Weather, clock: _Clock, seconds: float, progressing: bool) -> None:
    for _ in range(int(seconds / 2)):
        clock.now += 2
        weather.look(progressing)


def test_a_calm_lasts_until_the_group_has_worked_again() -> None:
    clock = _Clock()
    weather = Weather(StormPlan(storm=20, calm=60, work=30), clock)
    weather.begin()
    _pass(weather, clock, 20, progressing=True)
    assert not weather.storming

    _pass(weather, clock, 100, progressing=False)  # a stalled group: no new storm
    assert not weather.storming
    _pass(weather, clock, 28, progressing=True)
    assert not weather.storming
    _pass(weather, clock, 4, progressing=True)
    assert weather.storming and weather.storms == 2


def test_without_calm_the_killer_storms_all_along() -> None:
    clock = _Clock()
    weather = Weather(StormPlan(storm=20, calm=0), clock)
    weather.begin()
    _pass(weather, clock, 300, progressing=False)
    assert weather.storming and weather.storms == 1
