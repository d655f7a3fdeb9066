"""One inbound message at a time: decode, validate, decide, export, record.

Every effect of a message is committed to the database together with the outbox rows
that announce it; the runner publishes the outbox and only then commits the offset.
An export is first recorded as EXPORTING with its request id, so that a crash while
posting resumes with the same request id and a look-up instead of a second post.
"""

from __future__ import annotations

import json
import logging
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from consumer import codec, jsonform, translate
from consumer.connections import Connections
from consumer.errors import ExportFailure, InvalidEvent, InvalidInput, NeedsPerson
from consumer.events import DeadLetter, StatusChange, status_event
from consumer.model import Build, BuildStatus, ExportKind, ExportMode, InventoryMode, TenantSettings
from consumer.prerequisites import check_references
from consumer.qbo_entities import to_entity
from consumer.schemas import BUILD_STATUS_CHANGED, EXPORT_COMMAND
from consumer.store import BuildRow, ExportRow, ProcessedEvent, Store, as_utc, outbox_row
from consumer.validate import ExportCommand, build_from_record, command_from_record

log = logging.getLogger(__name__)

WAITING = "WAITING"
EXPORTING = "EXPORTING"
SYNCED = "SYNCED"
FAILED = "FAILED"
NOT_EXPORTED = "NOT_EXPORTED"
SETTLED = (SYNCED, FAILED, NOT_EXPORTED)


@dataclass(frozen=True)
class Inbound:
    topic: str
    partition: int
    offset: int
    key: bytes | None
    value: bytes | None
    timestamp_ms: int | None = None

    def context(self) -> dict[str, object]:
        return {"topic": self.topic, "partition": self.partition, "offset": self.offset}


@dataclass(frozen=True)
class Posted:
    transaction_type: str
    transaction_id: str


class ExportService:
    def __init__(
        self,
        store: Store,
        connections: Connections,
        status_topic: str,
        dlt_topic: str,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self._store = store
        self._connections = connections
        self._status_topic = status_topic
        self._dlt_topic = dlt_topic
        self._clock = clock

    # -- messages ---------------------------------------------------------------------

    def handle(self, message: Inbound) -> None:
        """Process one message; invalid input ends on the dead-letter topic."""
        try:
            name, record = codec.decode(message.value or b"")
            if name == BUILD_STATUS_CHANGED:
                snapshot = json.dumps(jsonform.from_avro(name, record))
                self._on_build_event(message, build_from_record(record), snapshot)
            elif name == EXPORT_COMMAND:
                self._on_command(message, command_from_record(record))
            else:
                short = name.rsplit(".", 1)[-1]
                raise InvalidEvent(f"{short} records are not input of this service")
        except InvalidInput as exc:
            self._dead_letter_input(message, exc)

    def _on_build_event(self, message: Inbound, build: Build, snapshot: str) -> None:
        settings = self._store.tenant(build.tenant_id)
        if settings is None:
            raise InvalidEvent(
                f"unknown tenant {build.tenant_id!r}: load its export settings with "
                "`build-export tenants load`, then replay this message"
            )

        ctx = {**message.context(), "tenant": build.tenant_id, "build": build.build_number}
        to_export: list[ExportKind] = []
        with self._store.begin() as s:
            if s.get(ProcessedEvent, build.event_id) is not None:
                log.warning("event %s was processed before; skipped", build.event_id, extra=ctx)
                return
            s.add(ProcessedEvent(event_id=build.event_id, topic=message.topic,
                                 partition=message.partition, offset=message.offset))
            if not self._save_snapshot(s, build, snapshot):
                log.warning("older snapshot than the one recorded; skipped", extra=ctx)
                return
            log.debug("build is %s", build.status.value, extra=ctx)

            if translate.is_full_recovery(build) and build.status in (BuildStatus.REJECTED, BuildStatus.PENDING_EXPORT):
                self._record_not_exported(s, build)
            for kind in translate.exports_needed(build):
                if self._open_export(s, build, settings, kind):
                    to_export.append(kind)

        for kind in to_export:
            self.run_export(build.build_id, kind.value)

    def _on_command(self, message: Inbound, command: ExportCommand) -> None:
        ctx = {**message.context(), "tenant": command.tenant_id, "build": command.build_id}
        wanted = WAITING if command.action == "EXPORT" else FAILED
        to_run: list[str] = []
        with self._store.begin() as s:
            if s.get(ProcessedEvent, command.command_id) is not None:
                log.warning("command %s was processed before; skipped", command.command_id, extra=ctx)
                return
            rows = list(s.scalars(select(ExportRow).where(ExportRow.build_id == command.build_id)))
            rows = [r for r in rows if r.tenant_id == command.tenant_id]
            if not rows:
                raise InvalidEvent(f"{command.action} asks for build {command.build_id}, which this service has not seen for tenant {command.tenant_id!r}")
            s.add(ProcessedEvent(event_id=command.command_id, topic=message.topic,
                                 partition=message.partition, offset=message.offset))
            for row in rows:
                if row.state != wanted:
                    log.warning("%s of %s ignored: the export is %s", command.action, row.reference, row.state, extra=ctx)
                    continue
                self._start_attempt(row, command.command_id)
                to_run.append(row.kind)
        for kind in to_run:
            self.run_export(command.build_id, kind)

    # -- decisions --------------------------------------------------------------------

    def _save_snapshot(self, s: Session, build: Build, snapshot: str) -> bool:
        row = s.get(BuildRow, build.build_id)
        if row is not None and as_utc(row.occurred_at) > build.occurred_at:
            return False
        row = row or BuildRow(build_id=build.build_id)
        row.tenant_id = build.tenant_id
        row.build_number = build.build_number
        row.status = build.status.value
        row.occurred_at = build.occurred_at
        row.event_id = build.event_id
        row.snapshot = snapshot
        row.updated_at = self._clock()
        s.add(row)
        return True

    def _record_not_exported(self, s: Session, build: Build) -> None:
        if _export_row(s, build.build_id, ExportKind.BUILD.value) is not None:
            return
        s.add(ExportRow(
            build_id=build.build_id, tenant_id=build.tenant_id, build_number=build.build_number,
            kind=ExportKind.BUILD.value, reference=translate.reference(build.build_id, ExportKind.BUILD),
            state=NOT_EXPORTED, attempt=0, retryable=False,
            error_message="rejected with full recovery: the components went back to stock; nothing to export",
        ))

    def _open_export(self, s: Session, build: Build, settings: TenantSettings, kind: ExportKind) -> bool:
        """Record the export a build needs; True when it should be posted now."""
        row = _export_row(s, build.build_id, kind.value)
        if row is not None:
            # Already waiting, under way or settled: a repeated Pending Export does no harm.
            return False
        row = ExportRow(
            build_id=build.build_id, tenant_id=build.tenant_id, build_number=build.build_number,
            kind=kind.value, reference=translate.reference(build.build_id, kind),
            state=WAITING, attempt=0, retryable=False, causation_id=build.event_id,
        )
        s.add(row)
        if settings.export_mode is ExportMode.AUTO:
            self._start_attempt(row, build.event_id)
            return True
        s.add(self._status_outbox(row, "PENDING_EXPORT", realm_id=settings.realm_id))
        return False

    def _start_attempt(self, row: ExportRow, causation_id: str) -> None:
        # A new attempt gets a new request id: QuickBooks would repeat the old answer.
        row.state = EXPORTING
        row.attempt += 1
        row.request_id = str(uuid.uuid4())
        row.causation_id = causation_id
        row.error_code = row.error_message = None
        row.updated_at = self._clock()

    # -- exports ----------------------------------------------------------------------

    def run_export(self, build_id: str, kind: str) -> None:
        """Post an export recorded as EXPORTING and record how it ended."""
        with self._store.begin() as s:
            row = _export_row(s, build_id, kind)
            build_row = s.get(BuildRow, build_id)
            if row is None or build_row is None or row.state != EXPORTING:
                return
            request_id = row.request_id
            build = _build_from_snapshot(build_row.snapshot)
        settings = self._store.tenant(build.tenant_id)
        ctx = {"tenant": build.tenant_id, "build": build.build_number}

        started = time.monotonic()
        posted: Posted | None = None
        failure: ExportFailure | None = None
        try:
            if settings is None:
                raise NeedsPerson("TENANT_UNKNOWN", f"tenant {build.tenant_id!r} has no export settings: load them, then retry")
            posted = self._post(build, settings, ExportKind(kind), str(request_id))
        except ExportFailure as exc:
            failure = exc
        elapsed_ms = int((time.monotonic() - started) * 1000)

        with self._store.begin() as s:
            row = _export_row(s, build_id, kind)
            if row is None or row.state != EXPORTING or row.request_id != request_id:
                return  # another worker settled this attempt first
            realm = settings.realm_id if settings else None
            if posted is not None:
                row.state, row.transaction_type, row.transaction_id = SYNCED, posted.transaction_type, posted.transaction_id
                s.add(self._status_outbox(row, "SYNCED", realm_id=realm))
                log.info("exported %s as %s %s in %d ms", row.reference, posted.transaction_type,
                         posted.transaction_id, elapsed_ms, extra={**ctx, "reference": row.reference, "ms": elapsed_ms})
            else:
                assert failure is not None
                row.state, row.error_code, row.error_message = FAILED, failure.code, failure.message
                row.retryable = failure.retryable
                s.add(self._status_outbox(row, "FAILED", realm_id=realm))
                s.add(self._failed_export_dead_letter(row, _snapshot_bytes(s, build_id)))
                log.warning("export %s failed (%s): %s", row.reference, failure.code, failure.message,
                            extra={**ctx, "reference": row.reference})
            row.updated_at = self._clock()

    def _post(self, build: Build, settings: TenantSettings, kind: ExportKind, request_id: str) -> Posted:
        missing = translate.missing_settings(settings, kind)
        if missing:
            raise NeedsPerson(
                "SETTINGS_MISSING",
                f"Set the {' and the '.join(missing)} in the export settings of "
                f"{settings.tenant_id}, then retry the export.",
            )
        if settings.inventory_mode is InventoryMode.SYNCED:
            unlinked = translate.unlinked_products(build, kind)
            if unlinked:
                raise NeedsPerson(
                    "PRODUCTS_NOT_LINKED",
                    "Link these products to QuickBooks inventory items, then retry the export: "
                    + ", ".join(dict.fromkeys(p.label for p in unlinked)) + ".",
                )

        connection = self._connections.for_tenant(settings)
        request = translate.translate(build, settings, kind)
        check_references(connection, request, settings)
        created = connection.create(to_entity(request), request_id)
        return Posted(request.transaction_type, str(created["Id"]))

    def resume_unfinished(self) -> int:
        """Finish exports a stopped process left under way, with their request ids."""
        with self._store.begin() as s:
            pending = [(r.build_id, r.kind) for r in s.scalars(select(ExportRow).where(ExportRow.state == EXPORTING))]
        for build_id, kind in pending:
            self.run_export(build_id, kind)
        return len(pending)

    # -- outbox -----------------------------------------------------------------------

    def _status_outbox(self, row: ExportRow, status: str, realm_id: str | None):  # type: ignore[no-untyped-def]
        change = StatusChange(
            tenant_id=row.tenant_id, build_id=row.build_id, build_number=row.build_number,
            kind=row.kind, reference=row.reference, status=status, attempt=row.attempt,
            causation_id=row.causation_id or "", realm_id=realm_id,
            transaction_type=row.transaction_type if status == SYNCED else None,
            transaction_id=row.transaction_id if status == SYNCED else None,
            error_code=row.error_code if status == FAILED else None,
            error_message=row.error_message if status == FAILED else None,
            retryable=bool(row.retryable) if status == FAILED else False,
        )
        return outbox_row(self._status_topic, row.build_id, status_event(change, self._clock()))

    def _failed_export_dead_letter(self, row: ExportRow, snapshot: bytes):  # type: ignore[no-untyped-def]
        letter = DeadLetter(
            stage="export", error_class="ExportFailure", error_code=row.error_code or "",
            message=row.error_message or "", tenant_id=row.tenant_id, build_id=row.build_id,
        )
        return outbox_row(self._dlt_topic, row.build_id, snapshot, letter.headers())

    def _dead_letter_input(self, message: Inbound, exc: InvalidInput) -> None:
        letter = DeadLetter(
            stage=exc.stage, error_class=type(exc).__name__, error_code=exc.stage.upper(),
            message=str(exc), original_topic=message.topic, original_partition=message.partition,
            original_offset=message.offset, original_timestamp_ms=message.timestamp_ms,
        )
        log.warning("dead-lettered (%s): %s", exc.stage, exc, extra=message.context())
        with self._store.begin() as s:
            row = outbox_row(self._dlt_topic, None, message.value or b"", letter.headers())
            row.key = message.key
            s.add(row)


def _export_row(s: Session, build_id: str, kind: str) -> ExportRow | None:
    return s.scalar(select(ExportRow).where(ExportRow.build_id == build_id, ExportRow.kind == kind))


def _snapshot_bytes(s: Session, build_id: str) -> bytes:
    """The build's latest event, re-encoded, so a dead letter can be replayed."""
    row = s.get(BuildRow, build_id)
    assert row is not None
    record = jsonform.to_avro(BUILD_STATUS_CHANGED, json.loads(row.snapshot))
    return codec.encode(BUILD_STATUS_CHANGED, record)


def _build_from_snapshot(snapshot: str) -> Build:
    return build_from_record(jsonform.to_avro(BUILD_STATUS_CHANGED, json.loads(snapshot)))

