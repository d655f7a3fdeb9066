"""The long-running consumer: poll, handle, publish the outbox, then commit offsets."""

from __future__ import annotations

import logging
import signal
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from kafka import KafkaConsumer
from kafka.errors import CommitFailedError
from kafka.structs import OffsetAndMetadata, TopicPartition

from consumer import kafka_clients
from consumer.config import Config
from consumer.connections import Connections
from consumer.publish import OutboxRelay
from consumer.service import ExportService, Inbound
from consumer.store import Store, TokenCipher

log = logging.getLogger(__name__)

LOCAL_BOOTSTRAP = "127.0.0.1:19092"


@dataclass
class RunSummary:
    messages: int = 0
    published: int = 0
    resumed: int = 0


def bootstrap(config: Config) -> str:
    return config.bootstrap_servers or LOCAL_BOOTSTRAP


def open_store(config: Config) -> Store:
    store = Store(config.database_url, TokenCipher(config.token_key))
    store.create_schema()
    return store


def run(
    config: Config,
    until_idle: float | None = None,
    should_stop: Callable[[], bool] | None = None,
) -> RunSummary:
    """Consume until stopped (SIGINT/SIGTERM), idle for ``until_idle`` s, or ``should_stop``."""
    app = config.require_quickbooks()
    servers = bootstrap(config)
    store = open_store(config)
    producer = kafka_clients.producer(servers)
    relay = OutboxRelay(store, producer)
    service = ExportService(store, Connections(app, store), config.topics.status, config.topics.dlt)
    consumer = kafka_clients.consumer(servers, config.group_id, [config.topics.builds, config.topics.commands])

    stopping: list[bool] = []
    previous = _on_signals(lambda *_: stopping.append(True))
    summary = RunSummary()
    try:
        summary.resumed = service.resume_unfinished()
        summary.published += relay.flush()
        last_arrival = time.monotonic()
        while not stopping and not (should_stop and should_stop()):
            batches = consumer.poll(timeout_ms=500)
            if not batches:
                summary.published += relay.flush()
                if until_idle is not None and time.monotonic() - last_arrival >= until_idle:
                    break
                continue
            last_arrival = time.monotonic()
            for partition, records in batches.items():
                for record in records:
                    service.handle(Inbound(record.topic, record.partition, record.offset,
                                           record.key, record.value, record.timestamp))
                    summary.messages += 1
                summary.published += relay.flush()
                # Every outcome of these records is committed to the database with its
                # outbox rows, and the outbox is published: only now move the offset.
                _commit(consumer, partition, records[-1].offset + 1)
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)  # type: ignore[arg-type]
        consumer.close(autocommit=False)
        producer.close(timeout=10)
    return summary


def _commit(consumer: KafkaConsumer, partition: TopicPartition, offset: int) -> None:
    try:
        consumer.commit({partition: OffsetAndMetadata(offset, None, -1)})
    except CommitFailedError:
        # The partition moved to another member; it resumes from the last committed
        # offset, and the inbox turns the redelivered messages into no-ops.
        log.warning("offset commit refused after a rebalance", extra={"partition": partition.partition})


def _on_signals(handler: Callable[..., None]) -> dict[int, object]:
    if threading.current_thread() is not threading.main_thread():
        return {}
    return {sig: signal.signal(sig, handler) for sig in (signal.SIGINT, signal.SIGTERM)}
