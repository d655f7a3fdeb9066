"""Messages that can never be processed: each must end on the dead-letter topic, post
nothing and leave the consumer running.

Kinds, in turn: random bytes, Schema Registry framing, an unknown schema fingerprint,
a truncated Avro body, a negative consumed quantity, and a build of an unknown company.
"""

from __future__ import annotations

import copy
import random
import uuid
from dataclasses import dataclass

from producers.jsonl import encode_json

KINDS = (
    "random_bytes",
    "registry_framing",
    "unknown_fingerprint",
    "truncated_body",
    "negative_quantity",
    "unknown_tenant",
)


@dataclass(frozen=True)
class RawMessage:
    key: bytes | None
    value: bytes
    what: str


def make_malformed(
    count: int, template: dict[str, object], rng: random.Random
) -> list[RawMessage]:
    """``count`` bad messages; ``template`` is any valid BuildStatusChanged event."""
    return [_one(KINDS[i % len(KINDS)], template, rng) for i in range(count)]


def _one(kind: str, template: dict[str, object], rng: random.Random) -> RawMessage:
    key = str(uuid.UUID(int=rng.getrandbits(128), version=4)).encode()
    valid = encode_json(_fresh(template, rng)).value
    if kind == "random_bytes":
        value = rng.randbytes(rng.randint(1, 200))
    elif kind == "registry_framing":
        value = b"\x00" + rng.randbytes(4) + valid[10:]
    elif kind == "unknown_fingerprint":
        value = b"\xc3\x01" + rng.randbytes(8) + valid[10:]
    elif kind == "truncated_body":
        value = valid[: len(valid) // 2]
    elif kind == "negative_quantity":
        event = _fresh(template, rng)
        event["components"][0]["quantity"] = "-1"  # type: ignore[index]
        value = encode_json(event).value
    else:
        event = _fresh(template, rng)
        event["tenant_id"] = f"no-such-company-{rng.randint(1, 999)}"
        value = encode_json(event).value
    return RawMessage(key, value, kind)


def _fresh(template: dict[str, object], rng: random.Random) -> dict[str, object]:
    """A copy with new event and build ids, so it touches no planned build."""
    event = copy.deepcopy(template)
    event["event_id"] = str(uuid.UUID(int=rng.getrandbits(128), version=4))
    event["build_id"] = str(uuid.UUID(int=rng.getrandbits(128), version=4))
    return event
