"""Publish records from a JSON Lines file as Avro single-object messages.

Each line is the JSON form of one record. Its type follows from its fields, or from
``--schema``; every line is checked before anything is sent, so a bad file publishes
nothing.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from kafka import KafkaProducer

from consumer import codec, jsonform
from consumer.errors import ConfigurationError, InvalidEvent
from consumer.schemas import (
    BUILD_STATUS_CHANGED,
    EXPORT_COMMAND,
    EXPORT_STATUS_CHANGED,
    TENANT_SETTINGS_CHANGED,
)

SCHEMAS = {
    "BuildStatusChanged": BUILD_STATUS_CHANGED,
    "ExportCommand": EXPORT_COMMAND,
    "ExportStatusChanged": EXPORT_STATUS_CHANGED,
    "TenantSettingsChanged": TENANT_SETTINGS_CHANGED,
}


@dataclass(frozen=True)
class Message:
    key: bytes
    value: bytes


def record_type(data: dict[str, Any]) -> str:
    if "command_id" in data:
        return EXPORT_COMMAND
    if "inventory_mode" in data:
        return TENANT_SETTINGS_CHANGED
    if "reference" in data and "kind" in data:
        return EXPORT_STATUS_CHANGED
    return BUILD_STATUS_CHANGED


def encode_json(data: Any, schema: str | None = None) -> Message:
    """One JSON-form record as a keyed Avro message (key: the build id, or the
    company for its settings)."""
    if not isinstance(data, dict):
        raise InvalidEvent("expected a JSON object")
    name = SCHEMAS[schema] if schema else record_type(data)
    record = jsonform.to_avro(name, data)
    return Message(
        key=str(record["build_id"]).encode(), value=codec.encode(name, record)
    )


def read_file(path: Path, schema: str | None = None) -> list[Message]:
    try:
        lines = path.read_text().splitlines()
    except OSError as exc:
        raise ConfigurationError(f"cannot read {path}: {exc.strerror}") from exc
    except UnicodeDecodeError as exc:
        raise ConfigurationError(f"{path} is not UTF-8 text") from exc

    messages = []
    for number, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            messages.append(encode_json(json.loads(line), schema))
        except json.JSONDecodeError as exc:
            raise ConfigurationError(f"{path}:{number}: not JSON ({exc.msg})") from exc
        except RecursionError:
            raise ConfigurationError(
                f"{path}:{number}: nests too deeply to be a record"
            ) from None
        except InvalidEvent as exc:
            raise ConfigurationError(f"{path}:{number}: {exc}") from exc
    return messages


def publish(producer: KafkaProducer, topic: str, messages: list[Message]) -> int:
    futures = [producer.send(topic, key=m.key, value=m.value) for m in messages]
    producer.flush()
    for future in futures:
        future.get(timeout=30)
    return len(futures)
