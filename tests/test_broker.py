"""The local development broker, tried against the real thing."""

from __future__ import annotations

import socket
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from kafka import KafkaAdminClient, KafkaConsumer, KafkaProducer
from kafka.admin import NewTopic

from consumer.broker import HOST, BrokerError, LocalBroker, kafka_version

pytestmark = pytest.mark.broker

SECOND_BROKER_PORT = 19292


def test_bytes_produced_to_a_topic_are_consumed_back(
    kafka_bootstrap: str, topic_factory: Callable[..., str], unique_group: str
) -> None:
    topic = topic_factory("round-trip")
    sent = {f"build-{n}".encode(): bytes([0, n, 255]) * 10 for n in range(6)}

    producer = KafkaProducer(bootstrap_servers=kafka_bootstrap)
    try:
        for key, value in sent.items():
            producer.send(topic, key=key, value=value).get(timeout=30)
    finally:
        producer.close()

    consumer = KafkaConsumer(
        topic,
        bootstrap_servers=kafka_bootstrap,
        group_id=unique_group,
        auto_offset_reset="earliest",
        enable_auto_commit=False,
    )
    received: dict[bytes, bytes] = {}
    deadline = time.monotonic() + 30
    try:
        while len(received) < len(sent) and time.monotonic() < deadline:
            for records in consumer.poll(timeout_ms=500).values():
                received.update((r.key, r.value) for r in records)
    finally:
        consumer.close()

    assert received == sent


@pytest.fixture(scope="module")
def second_broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalBroker]:
    """A broker of its own in a temporary home that shares the usual jar cache."""
    shared_jars = LocalBroker.from_env().jars_dir.parent
    shared_jars.mkdir(parents=True, exist_ok=True)
    home = tmp_path_factory.mktemp("partsemble-home")
    (home / "kafka-jars").symlink_to(shared_jars, target_is_directory=True)

    broker = LocalBroker(home, _free_port_pair(SECOND_BROKER_PORT))
    yield broker
    broker.stop()


def test_status_of_a_running_broker(second_broker: LocalBroker) -> None:
    bootstrap = second_broker.start()

    status = second_broker.status()
    assert bootstrap == f"127.0.0.1:{second_broker.port}"
    assert status["running"] is True
    assert isinstance(status["pid"], int)
    assert status["bootstrap"] == bootstrap
    assert status["home"] == str(second_broker.home)
    assert status["version"] == kafka_version()


def test_start_reuses_the_broker_already_running_on_its_port(
    second_broker: LocalBroker,
) -> None:
    second_broker.start()
    pid = second_broker.status()["pid"]

    again = LocalBroker(second_broker.home, second_broker.port)
    assert again.start(timeout=10) == second_broker.bootstrap
    assert again.status()["pid"] == pid


def test_stop_ends_the_broker_and_a_restart_keeps_its_topics(
    second_broker: LocalBroker,
) -> None:
    bootstrap = second_broker.start()
    old_pid = second_broker.status()["pid"]
    _create_topic(bootstrap, "kept-across-restart")

    assert second_broker.stop() is True
    status = second_broker.status()
    assert (status["running"], status["pid"]) == (False, None)
    assert not _accepts(second_broker.port)
    assert second_broker.stop() is False

    second_broker.start()
    assert second_broker.status()["pid"] not in (None, old_pid)
    assert "kept-across-restart" in _topics(bootstrap)


def test_a_port_held_by_another_program_is_reported(tmp_path: Path) -> None:
    with socket.socket() as other_program:
        other_program.bind((HOST, 0))
        other_program.listen()
        port = other_program.getsockname()[1]

        broker = LocalBroker(tmp_path, port)
        with pytest.raises(BrokerError, match=f"Port {port} .* in use"):
            broker.start(timeout=5)


def _create_topic(bootstrap: str, name: str) -> None:
    admin = KafkaAdminClient(bootstrap_servers=bootstrap)
    try:
        admin.create_topics([NewTopic(name, 1, replication_factor=1)])
        admin.wait_for_topics([name])
    finally:
        admin.close()


def _topics(bootstrap: str) -> list[str]:
    admin = KafkaAdminClient(bootstrap_servers=bootstrap)
    try:
        return list(admin.list_topics())
    finally:
        admin.close()


def _accepts(port: int) -> bool:
    try:
        with socket.create_connection((HOST, port), timeout=1):
            return True
    except OSError:
        return False


def _free_port_pair(first: int) -> int:
    """The first port from ``first`` on that is free together with the next one."""
    for port in range(first, first + 40, 2):
        try:
            with socket.socket() as broker, socket.socket() as controller:
                broker.bind((HOST, port))
                controller.bind((HOST, port + 1))
        except OSError:
            continue
        return port
    raise RuntimeError(f"No two free ports next to each other from {first} on.")
