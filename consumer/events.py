"""The messages this service publishes: export status events and dead letters.

Pure builders: they turn an export's state into bytes and headers; the outbox carries
them to Kafka.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime

from consumer import codec
from consumer.schemas import EXPORT_STATUS_CHANGED

TRANSACTION_SYSTEM = "QuickBooksOnline"


@dataclass(frozen=True)
class StatusChange:
    tenant_id: str
    build_id: str
    build_number: str
    kind: str
    reference: str
    status: str  # PENDING_EXPORT, SYNCED or FAILED
    attempt: int
    causation_id: str
    realm_id: str | None = None
    transaction_type: str | None = None
    transaction_id: str | None = None
    error_code: str | None = None
    error_message: str | None = None
    retryable: bool = False


def status_event(change: StatusChange, now: datetime) -> bytes:
    transaction = None
    if change.transaction_id:
        transaction = {
            "system": TRANSACTION_SYSTEM,
            "realm_id": change.realm_id or "",
            "type": change.transaction_type,
            "id": change.transaction_id,
        }
    error = None
    if change.error_code:
        error = {
            "code": change.error_code,
            "message": change.error_message or "",
            "retryable": change.retryable,
        }
    return codec.encode(
        EXPORT_STATUS_CHANGED,
        {
            "event_id": str(uuid.uuid4()),
            "occurred_at": now,
            "tenant_id": change.tenant_id,
            "build_id": change.build_id,
            "build_number": change.build_number,
            "kind": change.kind,
            "reference": change.reference,
            "status": change.status,
            "transaction": transaction,
            "error": error,
            "attempt": change.attempt,
            "causation_id": change.causation_id,
        },
    )


@dataclass(frozen=True)
class DeadLetter:
    """Why a message could not be processed, and where it came from."""

    stage: str  # decode, validate, export
    error_class: str
    error_code: str
    message: str
    original_topic: str | None = None
    original_partition: int | None = None
    original_offset: int | None = None
    original_timestamp_ms: int | None = None
    tenant_id: str | None = None
    build_id: str | None = None

    def headers(self) -> list[tuple[str, bytes]]:
        fields = [
            ("dlt.original.topic", self.original_topic),
            ("dlt.original.partition", self.original_partition),
            ("dlt.original.offset", self.original_offset),
            ("dlt.original.timestamp", self.original_timestamp_ms),
            ("dlt.stage", self.stage),
            ("dlt.error.class", self.error_class),
            ("dlt.error.code", self.error_code),
            ("dlt.error.message", self.message[:2000]),
            ("dlt.tenant", self.tenant_id),
            ("dlt.build", self.build_id),
        ]
        return [
            (name, str(value).encode()) for name, value in fields if value is not None
        ]
