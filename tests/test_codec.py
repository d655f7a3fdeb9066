"""Avro single-object framing and the JSON form of records."""

from __future__ import annotations

import json
import struct
from decimal import Decimal

import pytest

from consumer import codec, jsonform
from consumer.errors import InvalidEvent, UndecodableMessage
from consumer.schemas import BUILD_STATUS_CHANGED, EXPORT_COMMAND, registry
from tests.builders import avro_bytes, event


def test_framing_carries_the_writer_schema_fingerprint():
    data = avro_bytes(event())
    assert data[:2] == b"\xc3\x01"
    assert data[2:10] == registry().latest(BUILD_STATUS_CHANGED).fingerprint


def test_round_trip_keeps_decimals_exact():
    original = event()
    original["components"][0]["quantity"] = "1234.5678"
    original["components"][0]["unit_cost"] = "0.000001"
    name, record = codec.decode(avro_bytes(original))
    assert name == BUILD_STATUS_CHANGED
    assert record["components"][0]["quantity"] == Decimal("1234.5678")
    back = jsonform.from_avro(name, record)
    assert back["components"][0]["unit_cost"] == "0.000001"
    assert back["build_id"] == original["build_id"]


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        (b"", "empty message"),
        (b"hello world, not avro", "not an Avro single-object record"),
        (b"\xc3\x01" + b"\x00" * 8 + b"body", "unknown schema fingerprint"),
        (b"\x00\x00\x00\x00\x07body", "Schema Registry framing"),
    ],
)
def test_undecodable_bytes_say_why(data, reason):
    with pytest.raises(UndecodableMessage, match=reason):
        codec.decode(data)


def test_truncated_body_is_undecodable():
    data = avro_bytes(event())
    with pytest.raises(UndecodableMessage, match="corrupt BuildStatusChanged body"):
        codec.decode(data[: len(data) // 2])


def test_trailing_bytes_are_refused():
    with pytest.raises(UndecodableMessage, match="trailing bytes"):
        codec.decode(avro_bytes(event()) + b"\x00\x01")


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        ({"status": "SHIPPED"}, "is not one of"),
        ({"occurred_at": "2026-03-01T15:30:00"}, "no time zone"),
        ({"build_id": "not-a-uuid"}, "is not a UUID"),
        ({"currency": 12}, "expected string"),
        ({"surprise": 1}, "unknown field"),
    ],
)
def test_json_form_is_checked_against_the_schema(change, reason):
    data = event()
    data.update(change)
    with pytest.raises(InvalidEvent, match=reason):
        jsonform.to_avro(BUILD_STATUS_CHANGED, data)


@pytest.mark.parametrize("quantity", ["1.00001", "NaN", "1e20", "twelve"])
def test_json_decimals_must_fit_the_schema(quantity):
    data = event()
    data["components"][0]["quantity"] = quantity
    with pytest.raises(InvalidEvent, match="quantity"):
        jsonform.to_avro(BUILD_STATUS_CHANGED, data)


def test_export_command_round_trip():
    command = {
        "command_id": "0b0e7a52-9a6b-4c52-8d7e-111111111111",
        "occurred_at": "2026-03-01T09:30:00.000Z",
        "tenant_id": "acme",
        "build_id": "1a2b3c4d-0000-4000-8000-000000000001",
        "action": "RETRY",
        "requested_by": "ops@acme.example",
    }
    data = codec.encode(EXPORT_COMMAND, jsonform.to_avro(EXPORT_COMMAND, command))
    name, record = codec.decode(data)
    assert jsonform.from_avro(name, record) == command
    assert json.dumps(command)  # the JSON form is plain JSON
    assert struct.unpack("<Q", data[2:10])[0] != 0
