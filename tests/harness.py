"""The export path without Kafka: messages handed straight to the service, exports
posted by the real worker through python-quickbooks over HTTP to the emulator, state in
a real SQLite database. For tests of QuickBooks' behaviour, which need no broker."""

from __future__ import annotations

import time
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from cryptography.fernet import Fernet

from consumer import codec, jsonform, tenants
from consumer.connections import Connections
from consumer.emulator import Emulator
from consumer.exporter import ExportWorker, RetryPolicy
from consumer.quickbooks_client import QuickBooksApp
from consumer.recording import SETTLED, Recorder
from consumer.schemas import EXPORT_COMMAND
from consumer.service import ExportService, Inbound
from consumer.store import ExportRow, OutboxRow, Store, TokenCipher
from tests.builders import avro_bytes
from tests.pipeline import APP

STATUS, DLT = "status", "dlt"
FAST_RETRIES = RetryPolicy((0.2, 0.2))


class Harness:
    def __init__(
        self,
        emulator: Emulator,
        tmp: Path,
        tenant_document: dict[str, Any],
        policy: RetryPolicy = FAST_RETRIES,
        max_call_seconds: float = 3,
        client_secret: str = APP["client_secret"],
    ) -> None:
        self.emulator = emulator
        self.store = Store(
            f"sqlite:///{tmp / 'harness.db'}",
            TokenCipher(Fernet.generate_key().decode()),
        )
        self.store.create_schema()
        tenants.load_into(self.store, tenants.parse(tenant_document))
        self.app = app = QuickBooksApp(
            client_id=APP["client_id"],
            client_secret=client_secret,
            environment=emulator.discovery_url,
            api_url=emulator.api_url,
            timeout_seconds=2,
            max_call_seconds=max_call_seconds,
        )
        recorder = Recorder(STATUS, DLT, lambda: datetime.now(UTC))
        self.service = ExportService(self.store, recorder, DLT)
        self.worker = ExportWorker(
            self.store, Connections(app, self.store), recorder, policy
        )
        self._offset = 0

    def close(self) -> None:
        self.worker.close()

    def submit(self, *events: dict[str, Any]) -> None:
        for event in events:
            self._offset += 1
            self.service.handle(
                Inbound(
                    "builds",
                    0,
                    self._offset,
                    event["build_id"].encode(),
                    avro_bytes(event),
                )
            )

    def retry(self, event: dict[str, Any]) -> None:
        """A RETRY command for the build of ``event``, as `build-export retry` sends."""
        self._offset += 1
        command = codec.encode(
            EXPORT_COMMAND,
            {
                "command_id": str(uuid.uuid4()),
                "occurred_at": datetime.now(UTC),
                "tenant_id": event["tenant_id"],
                "build_id": event["build_id"],
                "action": "RETRY",
                "requested_by": "test",
            },
        )
        self.service.handle(Inbound("commands", 0, self._offset, None, command))

    def drain(self, timeout: float = 30) -> float:
        """Run due exports until every export is settled; returns the seconds taken."""
        started = time.monotonic()
        while time.monotonic() - started < timeout:
            busy = self.worker.run_due(wait_seconds=0.2)
            if not busy and all(r.state in SETTLED for r in self.store.exports()):
                return time.monotonic() - started
            time.sleep(0.05)
        raise AssertionError(
            f"not settled: {[(r.reference, r.state) for r in self.store.exports()]}"
        )

    def export(self, build_id: str) -> ExportRow:
        [row] = self.store.exports([build_id])
        return row

    def statuses(self) -> list[dict[str, Any]]:
        return [
            jsonform.from_avro(*codec.decode(r.value)) for r in self._outbox(STATUS)
        ]

    def dead_letters(self) -> list[OutboxRow]:
        return self._outbox(DLT)

    def _outbox(self, topic: str) -> list[OutboxRow]:
        return [r for r in self.store.unpublished(limit=100_000) if r.topic == topic]
