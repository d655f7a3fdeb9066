"""A build's latest snapshot, stored in its event's JSON form.

Stored that way it reads back through the same validation as the event did, and can be
re-encoded as the event for a dead letter.
"""

from __future__ import annotations

import json
from typing import Any

from consumer import codec, jsonform
from consumer.model import Build
from consumer.schemas import BUILD_STATUS_CHANGED
from consumer.validate import build_from_record


def to_snapshot(record: dict[str, Any]) -> str:
    return json.dumps(jsonform.from_avro(BUILD_STATUS_CHANGED, record))


def build_from_snapshot(snapshot: str) -> Build:
    return build_from_record(
        jsonform.to_avro(BUILD_STATUS_CHANGED, json.loads(snapshot))
    )


def snapshot_event(snapshot: str) -> bytes:
    return codec.encode(
        BUILD_STATUS_CHANGED,
        jsonform.to_avro(BUILD_STATUS_CHANGED, json.loads(snapshot)),
    )
