"""The outbox relay: publishes committed outbox rows to Kafka, then marks them sent.

Each relay claims the rows it publishes, so several consumer processes do not send the
same rows. A row is marked only after the broker acknowledged it, so a crash in between
sends it again (at least once); consumers of the status topic de-duplicate by event id.
"""

from __future__ import annotations

import logging
import os
import socket
import uuid
from datetime import timedelta

from kafka import KafkaProducer
from kafka.errors import KafkaError

from consumer.store import Store

log = logging.getLogger(__name__)

# A relay that dies with rows claimed frees them after this; another relay sends them.
CLAIM = timedelta(seconds=60)


class OutboxRelay:
    def __init__(
        self, store: Store, producer: KafkaProducer, timeout_seconds: float = 30
    ) -> None:
        self._store = store
        self._producer = producer
        self._timeout = timeout_seconds
        self._owner = (
            f"relay:{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
        )

    def flush(self) -> int:
        """Publish everything not yet published; returns how many rows went out."""
        sent = 0
        while rows := self._store.claim_unpublished(self._owner, CLAIM):
            futures, done = [], []
            for row in rows:
                try:
                    futures.append(
                        (
                            row.id,
                            self._producer.send(
                                row.topic,
                                key=row.key,
                                value=row.value,
                                headers=row.header_list(),
                            ),
                        )
                    )
                except KafkaError as exc:
                    if exc.retriable:
                        log.warning("outbox not published yet: %s", exc)
                        break
                    # Kafka will never take this message (too large, bad topic): keep it
                    # in the database, marked, instead of blocking everything behind it.
                    log.error("outbox row %s cannot be published: %s", row.id, exc)
                    done.append(row.id)
            try:
                self._producer.flush(timeout=self._timeout)
            except KafkaError as exc:
                log.warning("outbox not published yet: %s", exc)
            for row_id, future in futures:
                try:
                    future.get(timeout=self._timeout)
                    done.append(row_id)
                except KafkaError as exc:
                    log.warning("outbox row %s not published yet: %s", row_id, exc)
            self._store.mark_published(done)
            sent += len(done)
            if len(done) < len(rows):
                break
        return sent
