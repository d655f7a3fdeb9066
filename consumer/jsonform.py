"""The JSON form of the service's records, used by files, the command line and fixtures.

Decimals and timestamps travel as strings (``"12.5000"``, ``"2026-03-01T09:30:00Z"``),
unions as the bare value or null. ``to_avro`` checks the JSON against the schema and
turns it into what fastavro writes; ``from_avro`` turns a decoded record back.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from consumer.errors import InvalidEvent
from consumer.schemas import SchemaRegistry, registry

_PRIMITIVES: dict[str, type | tuple[type, ...]] = {
    "string": str,
    "boolean": bool,
    "int": int,
    "long": int,
    "float": (int, float),
    "double": (int, float),
}


def to_avro(
    record_name: str, data: Any, reg: SchemaRegistry | None = None
) -> dict[str, Any]:
    """Convert the JSON form of ``record_name`` into a record fastavro can write."""
    schema = (reg or registry()).latest(record_name).parsed
    record: dict[str, Any] = _Walker(schema).to_avro(
        schema, data, schema["name"].rsplit(".", 1)[-1]
    )
    return record


def from_avro(
    record_name: str, record: dict[str, Any], reg: SchemaRegistry | None = None
) -> Any:
    """Convert a decoded record into its JSON form."""
    schema = (reg or registry()).latest(record_name).parsed
    return _Walker(schema).from_avro(schema, record)


def format_timestamp(moment: datetime) -> str:
    return (
        moment.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
    )


class _Walker:
    def __init__(self, root: dict[str, Any]) -> None:
        self._named: dict[str, Any] = {}
        self._collect(root)

    def _collect(self, schema: Any) -> None:
        if isinstance(schema, list):
            for branch in schema:
                self._collect(branch)
        elif isinstance(schema, dict):
            if schema.get("type") in ("record", "enum", "fixed") and "name" in schema:
                self._named[schema["name"]] = schema
            for field in schema.get("fields", []):
                self._collect(field["type"])
            for key in ("items", "values"):
                if key in schema:
                    self._collect(schema[key])

    def _resolve(self, schema: Any) -> Any:
        if isinstance(schema, str) and schema in self._named:
            return self._named[schema]
        return schema

    def to_avro(self, schema: Any, value: Any, path: str) -> Any:
        schema = self._resolve(schema)
        if isinstance(schema, list):
            return self._union_to_avro(schema, value, path)
        if isinstance(schema, str):
            return _primitive(schema, value, path)

        kind = schema["type"]
        logical = schema.get("logicalType")
        if logical == "decimal":
            return _decimal(value, schema["scale"], schema["precision"], path)
        if logical in ("timestamp-millis", "timestamp-micros"):
            return _timestamp(value, path)
        if logical == "uuid":
            return _uuid(value, path)
        if kind == "record":
            return self._record_to_avro(schema, value, path)
        if kind == "enum":
            if value not in schema["symbols"]:
                raise InvalidEvent(
                    f"{path}: {value!r} is not one of {', '.join(schema['symbols'])}"
                )
            return value
        if kind == "array":
            if not isinstance(value, list):
                raise InvalidEvent(f"{path}: expected a list")
            return [
                self.to_avro(schema["items"], v, f"{path}[{i}]")
                for i, v in enumerate(value)
            ]
        return _primitive(kind, value, path)

    def _union_to_avro(self, branches: list[Any], value: Any, path: str) -> Any:
        if value is None:
            if "null" in branches:
                return None
            raise InvalidEvent(f"{path}: a value is required")
        errors = []
        for branch in branches:
            if branch == "null":
                continue
            try:
                return self.to_avro(branch, value, path)
            except InvalidEvent as exc:
                errors.append(str(exc))
        raise InvalidEvent("; ".join(errors))

    def _record_to_avro(
        self, schema: dict[str, Any], value: Any, path: str
    ) -> dict[str, Any]:
        if not isinstance(value, dict):
            raise InvalidEvent(f"{path}: expected an object")
        known = {f["name"] for f in schema["fields"]}
        unknown = sorted(set(value) - known)
        if unknown:
            raise InvalidEvent(f"{path}: unknown field(s) {', '.join(unknown)}")

        out = {}
        for field in schema["fields"]:
            name = field["name"]
            if name not in value:
                if "default" in field:
                    out[name] = field["default"]
                    continue
                raise InvalidEvent(f"{path}.{name}: missing")
            out[name] = self.to_avro(field["type"], value[name], f"{path}.{name}")
        return out

    def from_avro(self, schema: Any, value: Any) -> Any:
        schema = self._resolve(schema)
        if value is None:
            return None
        if isinstance(schema, list):
            return self._from_avro_value(value)
        if isinstance(schema, dict) and schema.get("type") == "record":
            return {
                f["name"]: self.from_avro(f["type"], value[f["name"]])
                for f in schema["fields"]
            }
        if isinstance(schema, dict) and schema.get("type") == "array":
            return [self.from_avro(schema["items"], v) for v in value]
        return self._from_avro_value(value)

    def _from_avro_value(self, value: Any) -> Any:
        if isinstance(value, dict):
            return {
                k: self._from_avro_value(v)
                for k, v in value.items()
                if not k.startswith("-")
            }
        if isinstance(value, list):
            return [self._from_avro_value(v) for v in value]
        if isinstance(value, Decimal):
            return str(value)
        if isinstance(value, datetime):
            return format_timestamp(value)
        if isinstance(value, uuid.UUID):
            return str(value)
        return value


def _primitive(kind: str, value: Any, path: str) -> Any:
    expected = _PRIMITIVES.get(kind)
    if kind == "null":
        if value is not None:
            raise InvalidEvent(f"{path}: expected null")
        return None
    if expected is None:
        raise InvalidEvent(f"{path}: unsupported type {kind}")
    if isinstance(value, bool) and kind != "boolean":
        raise InvalidEvent(f"{path}: expected {kind}, got a boolean")
    if not isinstance(value, expected):
        raise InvalidEvent(f"{path}: expected {kind}, got {type(value).__name__}")
    return value


def _decimal(value: Any, scale: int, precision: int, path: str) -> Decimal:
    if not isinstance(value, str | int) or isinstance(value, bool):
        raise InvalidEvent(f'{path}: expected a decimal as a string, e.g. "12.50"')
    try:
        number = Decimal(value)
    except InvalidOperation as exc:
        raise InvalidEvent(f"{path}: {value!r} is not a decimal number") from exc
    if not number.is_finite():
        raise InvalidEvent(f"{path}: {value!r} is not a finite number")
    quantum = Decimal(1).scaleb(-scale)
    too_large = abs(number) >= Decimal(10) ** (precision - scale)
    if too_large or number != number.quantize(quantum):
        raise InvalidEvent(
            f"{path}: {value!r} does not fit {precision - scale} integer digits "
            f"and {scale} decimals"
        )
    return number.quantize(quantum)


def _timestamp(value: Any, path: str) -> datetime:
    if not isinstance(value, str):
        raise InvalidEvent(f"{path}: expected an ISO 8601 timestamp string")
    try:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError as exc:
        raise InvalidEvent(f"{path}: {value!r} is not an ISO 8601 timestamp") from exc
    if moment.tzinfo is None:
        raise InvalidEvent(f"{path}: {value!r} has no time zone; add Z or an offset")
    return moment


def _uuid(value: Any, path: str) -> str:
    try:
        return str(uuid.UUID(str(value)))
    except ValueError as exc:
        raise InvalidEvent(f"{path}: {value!r} is not a UUID") from exc
