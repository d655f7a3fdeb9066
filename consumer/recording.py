"""Recording an export's new state together with the messages that announce it.

Every change of an export's status is written in the same database transaction as its
outbox rows (the status event, and for a failure the dead letter), so the two can
never disagree, whatever crashes when.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from sqlalchemy.orm import Session

from consumer.errors import ExportFailure
from consumer.events import DeadLetter, StatusChange, status_event
from consumer.snapshots import snapshot_event
from consumer.store import BuildRow, ExportRow, OutboxRow, outbox_row

WAITING = "WAITING"
EXPORTING = "EXPORTING"
SYNCED = "SYNCED"
FAILED = "FAILED"
NOT_EXPORTED = "NOT_EXPORTED"
SETTLED = (SYNCED, FAILED, NOT_EXPORTED)
# How each state reads to a person.
STATUS_WORDS = {
    SYNCED: "Synced",
    FAILED: "Failed",
    NOT_EXPORTED: "Not exported",
    WAITING: "Pending export",
    EXPORTING: "Exporting",
}


class Recorder:
    def __init__(
        self, status_topic: str, dlt_topic: str, clock: Callable[[], datetime]
    ) -> None:
        self._status_topic = status_topic
        self._dlt_topic = dlt_topic
        self.clock = clock

    def pending(self, s: Session, row: ExportRow, realm_id: str | None) -> None:
        s.add(self._status(row, "PENDING_EXPORT", realm_id))

    def synced(
        self,
        s: Session,
        row: ExportRow,
        realm_id: str,
        transaction_type: str,
        transaction_id: str,
    ) -> None:
        row.state = SYNCED
        row.transaction_type, row.transaction_id = transaction_type, transaction_id
        row.error_code = row.error_message = None
        row.next_attempt_at = row.lease_owner = row.lease_until = None
        row.updated_at = self.clock()
        s.add(self._status(row, "SYNCED", realm_id))

    def failed(
        self, s: Session, row: ExportRow, failure: ExportFailure, realm_id: str | None
    ) -> None:
        row.state = FAILED
        row.error_code, row.error_message = failure.code, failure.message
        row.retryable = failure.retryable
        row.next_attempt_at = row.lease_owner = row.lease_until = None
        row.updated_at = self.clock()
        s.add(self._status(row, "FAILED", realm_id))
        letter = DeadLetter(
            stage="export",
            error_class=type(failure).__name__,
            error_code=failure.code,
            message=failure.message,
            tenant_id=row.tenant_id,
            build_id=row.build_id,
        )
        s.add(
            outbox_row(
                self._dlt_topic,
                row.build_id,
                _snapshot_of(s, row.build_id),
                letter.headers(),
            )
        )

    def _status(self, row: ExportRow, status: str, realm_id: str | None) -> OutboxRow:
        change = StatusChange(
            tenant_id=row.tenant_id,
            build_id=row.build_id,
            build_number=row.build_number,
            kind=row.kind,
            reference=row.reference,
            status=status,
            attempt=row.attempt,
            causation_id=row.causation_id or "",
            realm_id=realm_id,
            transaction_type=row.transaction_type if status == SYNCED else None,
            transaction_id=row.transaction_id if status == SYNCED else None,
            error_code=row.error_code if status == FAILED else None,
            error_message=row.error_message if status == FAILED else None,
            retryable=bool(row.retryable) if status == FAILED else False,
        )
        return outbox_row(
            self._status_topic, row.build_id, status_event(change, self.clock())
        )


def _snapshot_of(s: Session, build_id: str) -> bytes:
    row = s.get(BuildRow, build_id)
    return snapshot_event(row.snapshot) if row else b""
