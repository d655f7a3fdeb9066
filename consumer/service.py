"""One inbound message at a time: decode, validate, decide, record.

The decision and everything it changes are committed in one transaction with the outbox
rows that announce it and the message's id in the inbox. An export to run now is
recorded as EXPORTING with a fresh QuickBooks request id and becomes due at once; the
export worker posts it. Invalid input goes to the dead-letter topic.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import DataError, IntegrityError
from sqlalchemy.orm import Session

from consumer import codec, translate
from consumer.errors import CommandRefused, InvalidEvent, InvalidInput
from consumer.events import DeadLetter
from consumer.model import Build, BuildStatus, ExportKind, ExportMode, TenantSettings
from consumer.recording import (
    EXPORTING,
    FAILED,
    NOT_EXPORTED,
    SYNCED,
    WAITING,
    Recorder,
)
from consumer.schemas import (
    BUILD_STATUS_CHANGED,
    EXPORT_COMMAND,
    TENANT_SETTINGS_CHANGED,
)
from consumer.snapshots import to_snapshot
from consumer.store import (
    BuildRow,
    ExportRow,
    ProcessedEvent,
    Store,
    as_utc,
    mark_connection_in,
    outbox_row,
    save_tenant_in,
)
from consumer.validate import (
    ExportCommand,
    SettingsChange,
    build_from_record,
    command_from_record,
    settings_from_record,
)

log = logging.getLogger(__name__)

_STAGE = {
    BuildStatus.PLANNED: 0,
    BuildStatus.EXECUTED: 1,
    BuildStatus.APPROVED: 2,
    BuildStatus.REJECTED: 2,
    BuildStatus.PENDING_EXPORT: 3,
    BuildStatus.SYNCED: 4,
    BuildStatus.FAILED: 4,
}
# Larger dead letters would not fit a Kafka message; the headers still say why.
MAX_DEAD_LETTER_BYTES = 512 * 1024


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


class ExportService:
    def __init__(self, store: Store, recorder: Recorder, dlt_topic: str) -> None:
        self._store = store
        self._recorder = recorder
        self._dlt_topic = dlt_topic

    def handle(self, message: Inbound) -> None:
        """Process one message; invalid input ends on the dead-letter topic."""
        record: dict[str, object] = {}
        try:
            name, record = codec.decode(message.value or b"")
            self._with_conflict_retries(lambda: self._dispatch(message, name, record))
        except InvalidInput as exc:
            self._dead_letter(message, exc, record)
        except (ArithmeticError, ValueError, TypeError, KeyError, DataError) as exc:
            # Values no rule foresaw (out-of-range dates and the like): the message can
            # never be processed, so it goes where people look, not into a crash loop.
            reason = f"unprocessable values: {type(exc).__name__}: {str(exc)[:300]}"
            self._dead_letter(message, InvalidEvent(reason), record)

    def _dispatch(self, message: Inbound, name: str, record: dict[str, Any]) -> None:
        if name == BUILD_STATUS_CHANGED:
            build = build_from_record(record)
            self._on_build_event(message, build, to_snapshot(record))
        elif name == EXPORT_COMMAND:
            self._on_command(message, command_from_record(record))
        elif name == TENANT_SETTINGS_CHANGED:
            self._on_settings(message, settings_from_record(record))
        else:
            short = name.rsplit(".", 1)[-1]
            raise InvalidEvent(f"{short} records are not input of this service")

    def _with_conflict_retries(self, work: Callable[[], None]) -> None:
        # Another process may record the same build, or take the same reference, at the
        # same moment; the transaction that lost the race runs again and sees theirs.
        for attempt in range(3):
            try:
                work()
                return
            except IntegrityError as exc:
                if attempt == 2:
                    raise InvalidEvent(
                        f"conflicts with what is recorded: {exc.orig}"
                    ) from exc
                log.warning("a concurrent change conflicted; trying the message again")

    # -- build events -----------------------------------------------------------------

    def _on_build_event(self, message: Inbound, build: Build, snapshot: str) -> None:
        settings = self._store.tenant(build.tenant_id)
        if settings is None:
            raise InvalidEvent(
                f"unknown tenant {build.tenant_id!r}: load its export settings with "
                "`build-export tenants load`, then replay this message"
            )

        ctx = {
            **message.context(),
            "tenant": build.tenant_id,
            "build": build.build_number,
        }
        with self._store.begin() as s:
            if not self._first_time(s, build.event_id, message):
                log.warning(
                    "event %s was processed before; skipped", build.event_id, extra=ctx
                )
                return
            if not self._save_snapshot(s, build, snapshot):
                log.warning(
                    "an older snapshot than the one recorded; skipped", extra=ctx
                )
                return
            log.debug("build is %s", build.status.value, extra=ctx)

            if translate.is_full_recovery(build) and build.status in (
                BuildStatus.REJECTED,
                BuildStatus.PENDING_EXPORT,
            ):
                self._record_not_exported(s, build)
            for kind in translate.exports_needed(build):
                self._open_export(s, build, settings, kind)

    def _first_time(self, s: Session, event_id: str, message: Inbound) -> bool:
        if s.get(ProcessedEvent, event_id) is not None:
            return False
        s.add(
            ProcessedEvent(
                event_id=event_id,
                topic=message.topic,
                partition=message.partition,
                offset=message.offset,
            )
        )
        return True

    def _save_snapshot(self, s: Session, build: Build, snapshot: str) -> bool:
        """Keep the newest snapshot: a build only moves forward through its stages, so
        an event of an earlier stage, or of the same stage but older, is stale, whatever
        the upstream clocks say."""
        row = s.get(BuildRow, build.build_id)
        if row is not None and row.tenant_id != build.tenant_id:
            raise InvalidEvent(
                f"build id {build.build_id} already belongs to another company; "
                "a build id names one build of one company"
            )
        if row is not None:
            stored = _STAGE[BuildStatus(row.status)]
            stage = _STAGE[build.status]
            older = build.occurred_at < (as_utc(row.occurred_at) or build.occurred_at)
            if stage < stored or (stage == stored and older):
                return False
        row = row or BuildRow(build_id=build.build_id)
        row.tenant_id = build.tenant_id
        row.build_number = build.build_number
        row.status = build.status.value
        row.occurred_at = build.occurred_at
        row.event_id = build.event_id
        row.snapshot = snapshot
        row.updated_at = self._recorder.clock()
        s.add(row)
        return True

    def _record_not_exported(self, s: Session, build: Build) -> None:
        if _export_row(s, build.build_id, ExportKind.BUILD) is not None:
            return
        s.add(
            ExportRow(
                build_id=build.build_id,
                tenant_id=build.tenant_id,
                build_number=build.build_number,
                kind=ExportKind.BUILD.value,
                reference=_reference(s, build, ExportKind.BUILD),
                state=NOT_EXPORTED,
                attempt=0,
                retryable=False,
                posts=0,
                scheduled_retries=0,
                error_message=(
                    "rejected with full recovery: the components went back to stock; "
                    "nothing to export"
                ),
            )
        )

    def _open_export(
        self, s: Session, build: Build, settings: TenantSettings, kind: ExportKind
    ) -> None:
        if _export_row(s, build.build_id, kind) is not None:
            # Waiting, under way or settled already: a repeated event does no harm.
            return
        nothing = translate.nothing_to_book(build, settings, kind)
        row = ExportRow(
            build_id=build.build_id,
            tenant_id=build.tenant_id,
            build_number=build.build_number,
            kind=kind.value,
            reference=_reference(s, build, kind),
            state=WAITING,
            attempt=0,
            retryable=False,
            posts=0,
            scheduled_retries=0,
            causation_id=build.event_id,
        )
        s.add(row)
        if nothing:
            row.state, row.error_message = NOT_EXPORTED, nothing
        elif settings.export_mode is ExportMode.AUTO:
            self._start_attempt(row, build.event_id)
        else:
            self._recorder.pending(s, row, settings.realm_id)

    def _start_attempt(self, row: ExportRow, causation_id: str) -> None:
        # A new attempt gets a new request id: QuickBooks would repeat the old answer.
        row.state = EXPORTING
        row.attempt += 1
        row.request_id = str(uuid.uuid4())
        row.causation_id = causation_id
        row.error_code = row.error_message = None
        # ``posts`` carries over: an earlier attempt's post may have reached QuickBooks
        # with its answer lost, so the new attempt looks up the reference first.
        row.scheduled_retries = 0
        row.next_attempt_at = self._recorder.clock()
        row.updated_at = self._recorder.clock()

    # -- commands ---------------------------------------------------------------------

    def _on_command(self, message: Inbound, command: ExportCommand) -> None:
        ctx = {
            **message.context(),
            "tenant": command.tenant_id,
            "build": command.build_id,
        }
        with self._store.begin() as s:
            rows = [
                r
                for r in s.scalars(
                    select(ExportRow).where(ExportRow.build_id == command.build_id)
                )
                if r.tenant_id == command.tenant_id
            ]
            if not self._first_time(s, command.command_id, message):
                log.warning(
                    "command %s was processed before; skipped",
                    command.command_id,
                    extra=ctx,
                )
                return
            refusal = refuse(command.action, rows)
            if refusal is not None:
                raise refusal
            for row in rows:
                if row.state == (WAITING if command.action == "EXPORT" else FAILED):
                    self._start_attempt(row, command.command_id)
                    log.info(
                        "%s of %s requested by %s",
                        command.action.lower(),
                        row.reference,
                        command.requested_by,
                        extra=ctx,
                    )

    # -- settings ---------------------------------------------------------------------

    def _on_settings(self, message: Inbound, change: SettingsChange) -> None:
        ctx = {**message.context(), "tenant": change.settings.tenant_id}
        with self._store.begin() as s:
            if not self._first_time(s, change.event_id, message):
                log.warning(
                    "settings event %s was processed before; skipped",
                    change.event_id,
                    extra=ctx,
                )
                return
            if not save_tenant_in(s, change.settings, change.occurred_at):
                log.warning("settings older than the ones stored; skipped", extra=ctx)
                return
            if change.connection_status and change.connection_status != "CONNECTED":
                mark_connection_in(
                    s, change.settings.tenant_id, change.connection_status
                )
        log.info("export settings of %s updated", change.settings.tenant_id, extra=ctx)

    # -- dead letters -----------------------------------------------------------------

    def _dead_letter(
        self, message: Inbound, exc: InvalidInput, record: dict[str, object]
    ) -> None:
        build_id = record.get("build_id")
        letter = DeadLetter(
            stage=exc.stage,
            error_class=type(exc).__name__,
            error_code=exc.code,
            message=str(exc),
            original_topic=message.topic,
            original_partition=message.partition,
            original_offset=message.offset,
            original_timestamp_ms=message.timestamp_ms,
            tenant_id=str(record["tenant_id"])[:200]
            if record.get("tenant_id")
            else None,
            build_id=str(build_id) if build_id else None,
        )
        log.warning("dead-lettered (%s): %s", exc.stage, exc, extra=message.context())
        value = message.value or b""
        headers = letter.headers()
        if len(value) > MAX_DEAD_LETTER_BYTES:
            headers.append(("dlt.value.truncated-from", str(len(value)).encode()))
            value = value[:MAX_DEAD_LETTER_BYTES]
        with self._store.begin() as s:
            row = outbox_row(self._dlt_topic, None, value, headers)
            row.key = message.key
            s.add(row)


def refuse(action: str, rows: list[ExportRow]) -> CommandRefused | None:
    """Why ``action`` does not apply to a build's exports, or None when it does."""
    if not rows:
        return CommandRefused(
            "UNKNOWN_BUILD",
            f"{action} refused: this service has no export of that build",
        )
    wanted = WAITING if action == "EXPORT" else FAILED
    if any(r.state == wanted for r in rows):
        return None
    described = "; ".join(_describe(r) for r in rows)
    code = "ALREADY_SYNCED" if all(r.state == SYNCED for r in rows) else f"NOT_{wanted}"
    hint = (
        "export applies to builds waiting for export"
        if action == "EXPORT"
        else "retry applies to failed exports"
    )
    return CommandRefused(code, f"{action} refused: {described}; {hint}")


def _describe(row: ExportRow) -> str:
    if row.state == SYNCED:
        return (
            f"{row.reference} is already synced as "
            f"{row.transaction_type} {row.transaction_id}"
        )
    if row.state == NOT_EXPORTED:
        return f"{row.build_number} is not exported (rejected with full recovery)"
    return f"{row.reference} is {row.state.lower()}"


def _reference(s: Session, build: Build, kind: ExportKind) -> str:
    base = translate.reference(build.build_id, kind)
    taken = s.scalars(
        select(ExportRow.reference).where(
            ExportRow.tenant_id == build.tenant_id,
            ExportRow.reference.startswith(base, autoescape=True),
            ExportRow.build_id != build.build_id,
        )
    )
    return translate.unique_reference(base, set(taken))


def _export_row(s: Session, build_id: str, kind: ExportKind) -> ExportRow | None:
    return s.scalar(
        select(ExportRow).where(
            ExportRow.build_id == build_id, ExportRow.kind == kind.value
        )
    )
