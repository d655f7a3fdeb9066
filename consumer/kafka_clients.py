"""Kafka producers and consumers with the service's settings, and a fast, clear error
when no broker answers (kafka-python would otherwise wait half a minute and say little).
"""

from __future__ import annotations

import socket

from kafka import KafkaConsumer, KafkaProducer
from kafka.errors import KafkaTimeoutError

from consumer.errors import ConfigurationError


def require_broker(servers: str, timeout: float = 3.0) -> None:
    for address in servers.split(","):
        host, _, port = address.strip().rpartition(":")
        try:
            with socket.create_connection(
                (host.strip("[]") or "127.0.0.1", int(port)), timeout=timeout
            ):
                return
        except (OSError, ValueError):
            continue
    raise ConfigurationError(_no_broker(servers))


def producer(servers: str) -> KafkaProducer:
    require_broker(servers)
    try:
        return KafkaProducer(
            bootstrap_servers=servers, acks="all", linger_ms=5, max_block_ms=30000
        )
    except KafkaTimeoutError as exc:
        raise ConfigurationError(_no_broker(servers)) from exc


def consumer(
    servers: str, group_id: str, topics: list[str], instance_id: str | None = None
) -> KafkaConsumer:
    require_broker(servers)
    try:
        client = KafkaConsumer(
            bootstrap_servers=servers,
            group_id=group_id,
            # Auto-commit would commit what was polled, not what was processed.
            enable_auto_commit=False,
            auto_offset_reset="earliest",
            max_poll_records=100,
            # A member that dies (SIGKILL, lost host) holds its partitions this long
            # before the group moves them; kafka-python's default is 45 s.
            session_timeout_ms=10_000,
            heartbeat_interval_ms=3_000,
            group_instance_id=instance_id,
        )
    except KafkaTimeoutError as exc:
        raise ConfigurationError(_no_broker(servers)) from exc
    client.subscribe(topics)
    return client


def _no_broker(servers: str) -> str:
    return (
        f"no Kafka broker answers at {servers}: start one with "
        "`build-export broker start` or set KAFKA_BOOTSTRAP_SERVERS"
    )
