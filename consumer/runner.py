"""The consumer loop: poll, record, commit; post due exports; publish the outbox."""

from __future__ import annotations

import logging
import signal
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime

from kafka import KafkaConsumer
from kafka.errors import CommitFailedError, KafkaError
from kafka.structs import OffsetAndMetadata, TopicPartition
from sqlalchemy.exc import OperationalError

from consumer import kafka_clients
from consumer.config import Config
from consumer.connections import Connections
from consumer.exporter import ExportWorker
from consumer.publish import OutboxRelay
from consumer.recording import Recorder
from consumer.service import ExportService, Inbound
from consumer.store import Store, TokenCipher

log = logging.getLogger(__name__)

DATABASE_BACKOFF_SECONDS = 2
# With --until-idle, idle time counts only once partitions are assigned (or after this).
ASSIGNMENT_GRACE_SECONDS = 30.0
# How long one loop lets the export workers run before polling again; far inside the
# consumer's poll interval, so a slow company never gets the consumer expelled.
WORK_SLICE_SECONDS = 0.5


@dataclass
class RunSummary:
    messages: int = 0
    published: int = 0


def bootstrap(config: Config) -> str:
    # The configuration falls back to the local broker's port when no cluster is named.
    return config.bootstrap_servers or "127.0.0.1:19092"


def open_store(config: Config) -> Store:
    store = Store(config.database_url, TokenCipher(config.token_key))
    store.create_schema()
    return store


def run(
    config: Config,
    until_idle: float | None = None,
    should_stop: Callable[[], bool] | None = None,
) -> RunSummary:
    """Consume until stopped.

    Stops on SIGINT/SIGTERM, after ``until_idle`` seconds without work, or once
    ``should_stop`` returns true.
    """
    app = config.require_quickbooks()
    servers = bootstrap(config)
    store = open_store(config)
    recorder = Recorder(
        config.topics.status, config.topics.dlt, lambda: datetime.now(UTC)
    )
    service = ExportService(store, recorder, config.topics.dlt)
    worker = ExportWorker(store, Connections(app, store), recorder, config.retry_policy)
    producer = kafka_clients.producer(servers)
    relay = OutboxRelay(store, producer)
    consumer = kafka_clients.consumer(
        servers,
        config.group_id,
        [config.topics.builds, config.topics.commands, config.topics.settings],
        config.instance_id,
    )

    stopping: list[bool] = []
    previous = _on_signals(lambda *_: stopping.append(True))
    summary = RunSummary()
    started = last_arrival = time.monotonic()
    try:
        while not stopping and not (should_stop and should_stop()):
            try:
                arrived = _consume(consumer, service, relay, summary, stopping)
                busy = worker.run_due(wait_seconds=WORK_SLICE_SECONDS)
                summary.published += relay.flush()
            except OperationalError as exc:
                # The database is away: nothing was committed, and the messages in
                # hand come again (see _consume). Wait, then carry on.
                log.warning(
                    "database unavailable (%s); retrying in %d s",
                    type(exc.orig).__name__,
                    DATABASE_BACKOFF_SECONDS,
                )
                time.sleep(DATABASE_BACKOFF_SECONDS)
                continue
            waiting_for_partitions = (
                not consumer.assignment()
                and time.monotonic() - started < ASSIGNMENT_GRACE_SECONDS
            )
            if arrived or busy or waiting_for_partitions:
                last_arrival = time.monotonic() if arrived else last_arrival
                if waiting_for_partitions:
                    last_arrival = time.monotonic()
            elif (
                until_idle is not None and time.monotonic() - last_arrival >= until_idle
            ):
                break
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)  # type: ignore[arg-type]
        consumer.close(autocommit=False)
        worker.close()
        summary.published += relay.flush()
        producer.close(timeout=10)
    return summary


def _consume(
    consumer: KafkaConsumer,
    service: ExportService,
    relay: OutboxRelay,
    summary: RunSummary,
    stopping: list[bool],
) -> bool:
    batches = consumer.poll(timeout_ms=200)
    for partition, records in batches.items():
        handled = None
        for record in records:
            if stopping:
                break  # asked to stop: finish the message in hand, leave the rest
            message = Inbound(
                record.topic,
                record.partition,
                record.offset,
                record.key,
                record.value,
                record.timestamp,
            )
            try:
                service.handle(message)
            except OperationalError:
                # Come back to this record once the database answers again.
                consumer.seek(partition, record.offset)
                if handled is not None:
                    _commit(consumer, partition, handled + 1)
                raise
            summary.messages += 1
            handled = record.offset
        summary.published += relay.flush()
        if handled is not None:
            # Each handled record's outcome is committed to the database with its
            # outbox rows (and the outbox is published): only now may the offset move
            # past them.
            _commit(consumer, partition, handled + 1)
    return bool(batches)


def _commit(consumer: KafkaConsumer, partition: TopicPartition, offset: int) -> None:
    try:
        consumer.commit({partition: OffsetAndMetadata(offset, None, -1)})
    except CommitFailedError:
        # The partition moved to another member; it resumes from the last committed
        # offset, and the inbox turns the redelivered messages into no-ops.
        log.warning(
            "offset commit refused after a rebalance",
            extra={"partition": partition.partition},
        )
    except KafkaError as exc:
        # The broker is away; the messages come again and the inbox skips them.
        log.warning(
            "offset commit failed (%s); the messages will be redelivered",
            exc,
            extra={"partition": partition.partition},
        )


def _on_signals(handler: Callable[..., None]) -> dict[int, object]:
    if threading.current_thread() is not threading.main_thread():
        return {}
    return {sig: signal.signal(sig, handler) for sig in (signal.SIGINT, signal.SIGTERM)}
