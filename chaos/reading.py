"""What the checker reads, each by its own means and none through the service's code:

- the emulator's ledger, over HTTP;
- a whole topic from its beginning, with kafka-python, up to the end offsets it had
  when reading began;
- ExportStatusChanged records, framed as Avro single-object encoding and decoded with
  fastavro from the schema files, the fingerprint computed as the Avro specification
  defines it (CRC-64-AVRO of the canonical form, little-endian);
- the exports table and the outbox, with plain SQL.
"""

from __future__ import annotations

import io
import json
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import requests
from fastavro import parse_schema, schemaless_reader
from fastavro.schema import to_parsing_canonical_form
from kafka import KafkaConsumer
from kafka.structs import TopicPartition
from sqlalchemy import bindparam, create_engine, text

SCHEMAS = Path(__file__).resolve().parent.parent / "schemas"
MARKER = b"\xc3\x01"


@dataclass(frozen=True)
class TopicRecord:
    key: bytes | None
    value: bytes
    headers: dict[str, str]


@dataclass(frozen=True)
class ExportState:
    build_id: str
    kind: str
    state: str
    transaction_type: str | None
    transaction_id: str | None
    error_code: str | None
    error_message: str | None


def read_ledger(url: str) -> dict[str, Any]:
    session = requests.Session()
    session.trust_env = False  # straight to the local emulator
    reply = session.get(url, timeout=60)
    reply.raise_for_status()
    ledger: dict[str, Any] = reply.json()
    return ledger


def read_topic(bootstrap: str, topic: str, timeout: float = 120) -> list[TopicRecord]:
    """Every record of ``topic``, from the beginning to the end offsets it had when
    reading began."""
    consumer = KafkaConsumer(
        bootstrap_servers=bootstrap,
        group_id=None,
        enable_auto_commit=False,
        client_id="chaos-checker",
        request_timeout_ms=30000,
    )
    deadline = time.monotonic() + timeout
    try:
        partitions = _partitions(consumer, topic, deadline)
        consumer.assign(partitions)
        consumer.seek_to_beginning(*partitions)
        end = consumer.end_offsets(partitions)
        records: list[TopicRecord] = []
        while any(consumer.position(tp) < end[tp] for tp in partitions):
            if time.monotonic() > deadline:
                raise TimeoutError(f"reading {topic} took longer than {timeout:g} s")
            for batch in consumer.poll(timeout_ms=1000).values():
                records += [
                    TopicRecord(r.key, r.value, _headers(r.headers)) for r in batch
                ]
        return records
    finally:
        consumer.close()


def _partitions(
    consumer: KafkaConsumer, topic: str, deadline: float
) -> list[TopicPartition]:
    while True:
        numbers = consumer.partitions_for_topic(topic)
        if numbers:
            return [TopicPartition(topic, n) for n in sorted(numbers)]
        if time.monotonic() > deadline:
            raise TimeoutError(f"topic {topic} has no partitions (does it exist?)")
        time.sleep(0.5)


def _headers(headers: list[tuple[str, bytes]] | None) -> dict[str, str]:
    return {
        name: (value or b"").decode("utf-8", "replace") for name, value in headers or []
    }


class AvroFrames:
    """Decodes single-object Avro with the writer schema its fingerprint names."""

    def __init__(self, folder: Path = SCHEMAS) -> None:
        self._by_fingerprint: dict[bytes, Any] = {}
        for path in sorted(folder.glob("*.avsc")):
            parsed = parse_schema(json.loads(path.read_text()))
            canonical = to_parsing_canonical_form(parsed).encode()
            self._by_fingerprint[crc64_avro(canonical).to_bytes(8, "little")] = parsed

    def decode(self, data: bytes) -> dict[str, Any] | None:
        """The record, or None when the bytes are not a framed record we know."""
        if data[:2] != MARKER or len(data) < 10:
            return None
        schema = self._by_fingerprint.get(data[2:10])
        if schema is None:
            return None
        record = schemaless_reader(io.BytesIO(data[10:]), schema, None)
        return record if isinstance(record, dict) else None


def _crc64_table() -> list[int]:
    table = []
    for byte in range(256):
        fp = byte
        for _ in range(8):
            fp = (fp >> 1) ^ (_EMPTY & -(fp & 1))
        table.append(fp)
    return table


_EMPTY = 0xC15D213AA4D7A795  # the Avro specification's CRC-64-AVRO seed
_TABLE = _crc64_table()


def crc64_avro(data: bytes) -> int:
    fp = _EMPTY
    for byte in data:
        fp = (fp >> 8) ^ _TABLE[(fp ^ byte) & 0xFF]
    return fp


class Database:
    """The service's tables, read with plain SQL."""

    def __init__(self, url: str) -> None:
        self._engine = create_engine(url)

    def close(self) -> None:
        self._engine.dispose()

    def export_states(self, tenant_ids: list[str]) -> list[ExportState]:
        statement = text(
            "SELECT build_id, kind, state, transaction_type, transaction_id, "
            "error_code, "
            "error_message FROM exports WHERE tenant_id IN :tenants"
        ).bindparams(bindparam("tenants", expanding=True))
        with self._engine.connect() as connection:
            rows = connection.execute(statement, {"tenants": tenant_ids}).all()
        return [ExportState(*row) for row in rows]

    def unpublished_outbox(self, topics: list[str]) -> int:
        statement = text(
            "SELECT count(*) FROM outbox "
            "WHERE published_at IS NULL AND topic IN :topics"
        ).bindparams(bindparam("topics", expanding=True))
        with self._engine.connect() as connection:
            return int(connection.execute(statement, {"topics": topics}).scalar_one())
