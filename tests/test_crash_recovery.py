"""A consumer that dies at the worst moments resumes with no second transaction and no
missing status. Each test leaves the database exactly as such a crash leaves it."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from sqlalchemy import select

from consumer.connections import Connections
from consumer.emulator import Emulator
from consumer.exporter import ExportWorker
from consumer.model import ExportKind
from consumer.qbo_entities import to_entity
from consumer.recording import Recorder
from consumer.service import ExportService, Inbound
from consumer.snapshots import build_from_snapshot
from consumer.store import BuildRow, ExportRow
from consumer.translate import translate
from tests.builders import avro_bytes, event, line
from tests.harness import Harness
from tests.pipeline import Pipeline
from tests.test_end_to_end import JOURNAL_REALM, TENANTS, _seed


@pytest.fixture
def emulator():
    with Emulator(_seed()) as emu:
        yield emu


def _journal_build() -> dict:
    return event(tenant_id="journal-co", components=[line("c", "3", "2.5", None)])


def test_died_after_posting_before_recording_adopts_the_posted_transaction(
    emulator, tmp_path
):
    harness = Harness(emulator, tmp_path, TENANTS)
    try:
        build = _journal_build()
        harness.submit(build)  # recorded as EXPORTING, about to be posted

        # The dead worker had marked the post and sent it; QuickBooks made the entry,
        # and, to leave only the look-up to rely on, forgot the request id.
        with harness.store.begin() as s:
            row = s.scalar(
                select(ExportRow).where(ExportRow.build_id == build["build_id"])
            )
            row.posts = 1
            snapshot = s.get(BuildRow, build["build_id"]).snapshot
        settings = harness.store.tenant("journal-co")
        request = translate(build_from_snapshot(snapshot), settings, ExportKind.BUILD)
        connection = Connections(harness.app, harness.store).for_tenant(settings)
        posted = connection.create(
            to_entity(request), "a-request-id-quickbooks-no-longer-remembers"
        )

        harness.drain()  # a new worker takes the export over
        [txn] = emulator.ledger(JOURNAL_REALM)["companies"][JOURNAL_REALM][
            "transactions"
        ]
        assert txn["id"] == str(posted["Id"])
        exported = harness.export(build["build_id"])
        assert (exported.state, exported.transaction_id) == ("SYNCED", txn["id"])
        [status] = harness.statuses()
        assert status["transaction"]["id"] == txn["id"]
    finally:
        harness.close()


@pytest.mark.broker
def test_died_after_recording_before_publishing_publishes_on_restart(
    emulator, kafka_bootstrap, tmp_path
):
    pipeline = Pipeline.start(kafka_bootstrap, emulator, tmp_path, TENANTS)
    build = _journal_build()
    # The dead consumer recorded the outcome and its outbox rows, and published nothing.
    recorder = Recorder(
        pipeline.config.topics.status,
        pipeline.config.topics.dlt,
        lambda: datetime.now(UTC),
    )
    ExportService(pipeline.store, recorder, pipeline.config.topics.dlt).handle(
        Inbound(pipeline.config.topics.builds, 0, 0, None, avro_bytes(build))
    )
    worker = ExportWorker(
        pipeline.store,
        Connections(pipeline.config.quickbooks, pipeline.store),
        recorder,
    )
    while worker.run_due(wait_seconds=1):
        pass
    worker.close()
    assert pipeline.store.exports([build["build_id"]])[0].state == "SYNCED"
    assert pipeline.status_events(0, timeout=2) == []

    pipeline.run_until_idle(2)  # the restarted consumer
    [status] = pipeline.status_events(1)
    assert (status["build_id"], status["status"]) == (build["build_id"], "SYNCED")
    assert len(pipeline.transactions(JOURNAL_REALM)) == 1
