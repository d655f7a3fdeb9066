"""Re-driving dead letters once their cause is fixed.

A dead letter from an export that ended Failed becomes a RETRY command for its build
(a fresh attempt with a new request id); any other dead letter is published again,
unchanged, to the topic it came from. Each replayed dead letter is recorded, so
replaying twice does nothing the second time; a replay whose cause is not fixed yet
simply fails again, as the original did.
"""

from __future__ import annotations

import sys
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime

from kafka import KafkaConsumer, KafkaProducer, TopicPartition

from consumer import codec
from consumer.recording import FAILED
from consumer.schemas import EXPORT_COMMAND
from consumer.store import ReplayedDeadLetter, Store


@dataclass(frozen=True)
class DeadLetterMessage:
    topic: str
    partition: int
    offset: int
    timestamp_ms: int
    key: bytes | None
    value: bytes
    headers: dict[str, str]

    @property
    def stage(self) -> str:
        return self.headers.get("dlt.stage", "")


@dataclass(frozen=True)
class Filters:
    tenant: str | None = None
    code: str | None = None
    stage: str | None = None
    since: datetime | None = None
    until: datetime | None = None

    def match(self, letter: DeadLetterMessage) -> bool:
        when = datetime.fromtimestamp(letter.timestamp_ms / 1000, UTC)
        return (
            (self.tenant is None or letter.headers.get("dlt.tenant") == self.tenant)
            and (self.code is None or letter.headers.get("dlt.error.code") == self.code)
            and (self.stage is None or letter.stage == self.stage)
            and (self.since is None or when >= self.since)
            and (self.until is None or when < self.until)
        )


@dataclass
class Summary:
    matched: int = 0
    retried: int = 0
    republished: int = 0
    already_replayed: int = 0
    skipped: list[str] = field(default_factory=list)

    def lines(self, dry_run: bool) -> list[str]:
        verb = "would be" if dry_run else "were"
        return [
            f"{self.matched} dead letter(s) matched",
            f"{self.retried} failed export(s) {verb} retried",
            f"{self.republished} message(s) {verb} published again "
            "to their original topic",
            f"{self.already_replayed} already replayed before (nothing done)",
            f"{len(self.skipped)} skipped"
            + "".join(f"\n  - {reason}" for reason in self.skipped),
        ]


def read_dead_letters(servers: str, topic: str) -> Iterator[DeadLetterMessage]:
    """Every message on the dead-letter topic, up to its end when reading began."""
    consumer = KafkaConsumer(
        bootstrap_servers=servers, enable_auto_commit=False, group_id=None
    )
    try:
        partitions = [
            TopicPartition(topic, p)
            for p in sorted(consumer.partitions_for_topic(topic) or ())
        ]
        if not partitions:
            return
        consumer.assign(partitions)
        consumer.seek_to_beginning(*partitions)
        ends = consumer.end_offsets(partitions)
        while any(consumer.position(tp) < ends[tp] for tp in partitions):
            for records in consumer.poll(timeout_ms=1000).values():
                for r in records:
                    if r.offset < ends[TopicPartition(r.topic, r.partition)]:
                        yield DeadLetterMessage(
                            r.topic,
                            r.partition,
                            r.offset,
                            r.timestamp,
                            r.key,
                            r.value or b"",
                            {k: v.decode(errors="replace") for k, v in r.headers},
                        )
    finally:
        consumer.close()


class Replayer:
    def __init__(
        self, store: Store, producer: KafkaProducer | None, commands_topic: str
    ) -> None:
        self._store = store
        self._producer = producer
        self._commands_topic = commands_topic
        self._retried: set[str] = set()  # builds already retried in this replay

    def replay(
        self,
        letters: list[DeadLetterMessage],
        dry_run: bool,
        show_progress: bool = False,
    ) -> Summary:
        summary = Summary(matched=len(letters))
        self._retried.clear()
        for done, letter in enumerate(letters, 1):
            self._one(letter, dry_run, summary)
            if show_progress:
                _progress(done, len(letters))
        if self._producer is not None and not dry_run:
            self._producer.flush()
        return summary

    def _one(self, letter: DeadLetterMessage, dry_run: bool, summary: Summary) -> None:
        with self._store.begin() as s:
            if (
                s.get(
                    ReplayedDeadLetter, (letter.topic, letter.partition, letter.offset)
                )
                is not None
            ):
                summary.already_replayed += 1
                return
        action = self._action(letter, summary)
        if action is None:
            return
        topic, key, value, what = action
        if not dry_run:
            assert self._producer is not None
            self._producer.send(topic, key=key, value=value).get(timeout=30)
            with self._store.begin() as s:
                s.add(
                    ReplayedDeadLetter(
                        topic=letter.topic,
                        partition=letter.partition,
                        offset=letter.offset,
                        action=what[:255],
                    )
                )

    def _action(
        self, letter: DeadLetterMessage, summary: Summary
    ) -> tuple[str, bytes | None, bytes, str] | None:
        where = f"{letter.topic}[{letter.partition}]@{letter.offset}"
        if letter.stage == "export":
            build_id = letter.headers.get("dlt.build", "")
            tenant = letter.headers.get("dlt.tenant", "")
            rows = self._store.exports([build_id]) if build_id else []
            if build_id in self._retried:
                summary.skipped.append(
                    f"{where}: {build_id} is retried already in this replay"
                )
                return None
            if not any(r.state == FAILED for r in rows):
                states = (
                    ", ".join(f"{r.reference} is {r.state.lower()}" for r in rows)
                    or "unknown build"
                )
                summary.skipped.append(f"{where}: {states}; nothing to retry")
                return None
            summary.retried += 1
            self._retried.add(build_id)
            return (
                self._commands_topic,
                build_id.encode(),
                _retry(tenant, build_id),
                f"retry {build_id}",
            )
        original = letter.headers.get("dlt.original.topic")
        if not original:
            summary.skipped.append(f"{where}: no original topic in its headers")
            return None
        summary.republished += 1
        return original, letter.key, letter.value, f"republished to {original}"


def _retry(tenant_id: str, build_id: str) -> bytes:
    return codec.encode(
        EXPORT_COMMAND,
        {
            "command_id": str(uuid.uuid4()),
            "occurred_at": datetime.now(UTC),
            "tenant_id": tenant_id,
            "build_id": build_id,
            "action": "RETRY",
            "requested_by": "build-export dlt replay",
        },
    )


def _progress(done: int, total: int) -> None:
    width = 30
    filled = width * done // max(total, 1)
    sys.stderr.write(f"\r[{'#' * filled}{'.' * (width - filled)}] {done}/{total}")
    if done == total:
        sys.stderr.write("\n")
    sys.stderr.flush()
