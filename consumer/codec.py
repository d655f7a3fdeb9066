"""Avro single-object framing: two marker bytes, the schema's fingerprint, the body.

A reader finds the writer's schema from the fingerprint alone, without a registry, and
resolves it into the newest version of the same record.
"""

from __future__ import annotations

import io
from typing import Any, cast

from fastavro import schemaless_reader, schemaless_writer

from consumer.errors import UndecodableMessage
from consumer.schemas import SchemaRegistry, registry

SINGLE_OBJECT_MARKER = b"\xc3\x01"
CONFLUENT_MAGIC = b"\x00"
_HEADER_LENGTH = len(SINGLE_OBJECT_MARKER) + 8


def encode(
    record_name: str, record: dict[str, Any], reg: SchemaRegistry | None = None
) -> bytes:
    """Frame ``record`` with the newest version of ``record_name``."""
    version = (reg or registry()).latest(record_name)
    out = io.BytesIO()
    out.write(SINGLE_OBJECT_MARKER)
    out.write(version.fingerprint)
    schemaless_writer(out, version.parsed, record)
    return out.getvalue()


def decode(
    data: bytes, reg: SchemaRegistry | None = None
) -> tuple[str, dict[str, Any]]:
    """The record's full name, and the record read into the newest schema version."""
    reg = reg or registry()
    if not data:
        raise UndecodableMessage("empty message: expected an Avro single-object record")
    if data[:1] == CONFLUENT_MAGIC:
        raise UndecodableMessage(
            "message uses Schema Registry framing (magic byte 0), and no schema "
            "registry is configured; publish with Avro single-object encoding"
        )
    if data[:2] != SINGLE_OBJECT_MARKER or len(data) < _HEADER_LENGTH:
        raise UndecodableMessage(
            "not an Avro single-object record (expected marker C3 01 and an "
            "8-byte schema fingerprint)"
        )

    fp = data[2:_HEADER_LENGTH]
    writer = reg.by_fingerprint(fp)
    if writer is None:
        raise UndecodableMessage(f"unknown schema fingerprint {fp.hex()}")

    reader = reg.latest(writer.name)
    body = io.BytesIO(data[_HEADER_LENGTH:])
    try:
        # The reader's schema is a record, so the value read is a dict.
        record = cast(
            dict[str, Any], schemaless_reader(body, writer.parsed, reader.parsed)
        )
    except Exception as exc:  # fastavro raises many types for corrupt bodies
        raise UndecodableMessage(
            f"corrupt {writer.name.rsplit('.', 1)[-1]} body: {_short(exc)}"
        ) from exc
    if body.tell() != len(data) - _HEADER_LENGTH:
        raise UndecodableMessage(
            f"{len(data) - _HEADER_LENGTH - body.tell()} trailing bytes "
            "after the record"
        )
    return writer.name, record


def _short(exc: BaseException) -> str:
    text = f"{type(exc).__name__}: {exc}"
    return text if len(text) <= 300 else text[:297] + "..."
