"""The whole service on real parts for end-to-end tests: a real broker, the QuickBooks
emulator over HTTP, a real SQLite database, and the real consumer loop."""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cryptography.fernet import Fernet
from kafka import KafkaConsumer

from consumer import codec, jsonform, kafka_clients, runner, tenants
from consumer.config import Config, Topics
from consumer.emulator import Emulator
from consumer.quickbooks_client import QuickBooksApp
from consumer.recording import SETTLED
from consumer.store import Store
from consumer.topics import ensure_topics
from producers import jsonl

APP = {"client_id": "test-app", "client_secret": "test-app-secret-value"}


@dataclass
class Pipeline:
    config: Config
    store: Store
    emulator: Emulator
    servers: str
    published: list[bytes] = field(default_factory=list)

    @classmethod
    def start(
        cls,
        servers: str,
        emulator: Emulator,
        tmp: Path,
        tenant_document: dict[str, Any],
    ) -> Pipeline:
        run = uuid.uuid4().hex[:10]
        config = Config(
            bootstrap_servers=servers,
            group_id=f"test-{run}",
            topics=Topics.with_prefix(f"t-{run}."),
            database_url=f"sqlite:///{tmp / 'export.db'}",
            token_key=Fernet.generate_key().decode(),
            home=tmp,
            quickbooks=QuickBooksApp(
                client_id=APP["client_id"],
                client_secret=APP["client_secret"],
                environment=emulator.discovery_url,
                api_url=emulator.api_url,
                max_call_seconds=5,
            ),
        )
        ensure_topics(servers, list(vars(config.topics).values()))
        store = runner.open_store(config)
        tenants.load_into(store, tenants.parse(tenant_document))
        return cls(config, store, emulator, servers)

    def publish(self, events: list[dict[str, Any]], topic: str | None = None) -> None:
        self.publish_raw([jsonl.encode_json(e) for e in events], topic)

    def publish_raw(
        self, messages: list[jsonl.Message], topic: str | None = None
    ) -> None:
        producer = kafka_clients.producer(self.servers)
        try:
            jsonl.publish(producer, topic or self.config.topics.builds, messages)
        finally:
            producer.close(timeout=10)

    def run_until_settled(self, build_ids: list[str], timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        runner.run(
            self.config,
            should_stop=lambda: self.settled(build_ids) or time.monotonic() > deadline,
        )
        assert self.settled(build_ids), f"not settled: {self._progress(build_ids)}"

    def run_until(self, done: Callable[[], bool], timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        runner.run(
            self.config, should_stop=lambda: done() or time.monotonic() > deadline
        )
        assert (
            done()
        ), f"not done: {[(r.build_number, r.state) for r in self.store.exports()]}"

    def _progress(self, build_ids: list[str]) -> list[tuple[str, str]]:
        return [(r.build_number, r.state) for r in self.store.exports(build_ids)]

    def states(self, build_ids: list[str]) -> list[str]:
        by_build = {r.build_id: r.state for r in self.store.exports(build_ids)}
        return [by_build.get(b, "UNSEEN") for b in build_ids]

    def run_until_idle(self, seconds: float = 4) -> runner.RunSummary:
        return runner.run(self.config, until_idle=seconds)

    def settled(self, build_ids: list[str]) -> bool:
        rows = self.store.exports(build_ids)
        return {r.build_id for r in rows} >= set(build_ids) and all(
            r.state in SETTLED for r in rows
        )

    def status_events(self, expected: int, timeout: float = 20) -> list[dict[str, Any]]:
        return [
            jsonform.from_avro(*codec.decode(value))
            for _, value, _ in self.read(self.config.topics.status, expected, timeout)
        ]

    def dead_letters(
        self, expected: int, timeout: float = 20
    ) -> list[tuple[bytes | None, bytes, dict[str, str]]]:
        return [
            (key, value, {name: data.decode() for name, data in headers})
            for key, value, headers in self.read(
                self.config.topics.dlt, expected, timeout
            )
        ]

    def read(
        self, topic: str, expected: int, timeout: float
    ) -> list[tuple[bytes | None, bytes, list[tuple[str, bytes]]]]:
        """Every message on ``topic``, waiting until at least ``expected`` arrived."""
        consumer = KafkaConsumer(
            topic,
            bootstrap_servers=self.servers,
            auto_offset_reset="earliest",
            enable_auto_commit=False,
            group_id=None,
            consumer_timeout_ms=1500,
        )
        found: list[tuple[bytes | None, bytes, list[tuple[str, bytes]]]] = []
        deadline = time.monotonic() + timeout
        try:
            while time.monotonic() < deadline:
                found += [(m.key, m.value, list(m.headers)) for m in consumer]
                if len(found) >= expected:
                    # One more short read, so an unexpected extra message shows up too.
                    found += [(m.key, m.value, list(m.headers)) for m in consumer]
                    break
        finally:
            consumer.close()
        return found

    def transactions(self, realm: str) -> list[dict[str, Any]]:
        return self.emulator.ledger(realm)["companies"][realm]["transactions"]
