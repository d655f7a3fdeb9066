"""Waves of Avro messages for the builds topic, published while the consumers run.

A build's events start in a random wave and may spread over the next ones, always in
order (they share the build id as key, hence a partition). Some events are published
twice (the same message again), some Pending Exports are repeated with a new event id,
and the malformed messages are scattered over the waves.
"""

from __future__ import annotations

import logging
import random
import uuid
from dataclasses import dataclass

from kafka.errors import KafkaError

from chaos.malformed import RawMessage
from chaos.scenario import Event, PlannedBuild
from consumer import kafka_clients
from producers.jsonl import encode_json

log = logging.getLogger(__name__)

SEND_ROUNDS = 4
SEND_TIMEOUT_SECONDS = 30


@dataclass(frozen=True)
class Outgoing:
    key: bytes | None
    value: bytes


@dataclass
class WavePlan:
    waves: list[list[Outgoing]]
    duplicates: int = 0
    repeats: int = 0

    @property
    def messages(self) -> int:
        return sum(len(w) for w in self.waves)


def plan_waves(
    builds: list[PlannedBuild],
    malformed: list[RawMessage],
    count: int,
    rng: random.Random,
    duplicate_rate: float = 0.03,
    repeat_rate: float = 0.02,
) -> WavePlan:
    plan = WavePlan([[] for _ in range(count)])
    last = count - 1
    for build in builds:
        wave = rng.randrange(count)
        for event in build.events:
            wave = min(last, wave + rng.choice((0, 0, 1)))
            message = _encode(event)
            plan.waves[wave].append(message)
            if rng.random() < duplicate_rate:
                plan.waves[min(last, wave + rng.choice((0, 1, 2)))].append(message)
                plan.duplicates += 1
        final = build.events[-1]
        if final["status"] == "PENDING_EXPORT" and rng.random() < repeat_rate:
            repeated = {**final, "event_id": _new_id(rng)}
            plan.waves[min(last, wave + rng.choice((0, 1)))].append(_encode(repeated))
            plan.repeats += 1
    for bad in malformed:
        plan.waves[rng.randrange(count)].append(Outgoing(bad.key, bad.value))
    return plan


def publish(servers: str, topic: str, messages: list[Outgoing]) -> int:
    """Send ``messages``, resending those the broker did not acknowledge; returns how
    many went out. A message still unacknowledged after ``SEND_ROUNDS`` stops the run:
    the checker would blame the service for an export it never received."""
    producer = kafka_clients.producer(servers)
    pending = list(messages)
    try:
        for _ in range(SEND_ROUNDS):
            futures = [
                (m, producer.send(topic, key=m.key, value=m.value)) for m in pending
            ]
            producer.flush(timeout=SEND_TIMEOUT_SECONDS)
            pending = [m for m, future in futures if not _acknowledged(future)]
            if not pending:
                return len(messages)
            log.warning(
                "%d messages not acknowledged; sending them again", len(pending)
            )
    finally:
        producer.close(timeout=10)
    raise RuntimeError(f"{len(pending)} messages could not be published to {topic}")


def _acknowledged(future: object) -> bool:
    try:
        future.get(timeout=SEND_TIMEOUT_SECONDS)  # type: ignore[attr-defined]
        return True
    except KafkaError:
        return False


def _encode(event: Event) -> Outgoing:
    message = encode_json(event)
    return Outgoing(message.key, message.value)


def _new_id(rng: random.Random) -> str:
    return str(uuid.UUID(int=rng.getrandbits(128), version=4))
