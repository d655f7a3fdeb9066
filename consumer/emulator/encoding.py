"""JSON in and out of the emulator: exact decimals inside, plain numbers on the wire."""

from __future__ import annotations

import json
from datetime import date, datetime
from decimal import Decimal, InvalidOperation
from typing import Any


def to_plain(value: Any) -> Any:
    """A copy of ``value``, each Decimal an int or a float as QuickBooks sends them."""
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    if isinstance(value, dict):
        return {key: to_plain(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [to_plain(item) for item in value]
    return value


def dumps(value: Any) -> bytes:
    return json.dumps(to_plain(value)).encode("utf-8")


def parse_decimal(raw: object) -> Decimal | None:
    """A finite Decimal from a JSON number or numeric string, or None if it is neither.

    python-quickbooks sends Decimal values as strings, other clients send numbers.
    """
    if isinstance(raw, bool) or not isinstance(raw, int | float | str):
        return None
    try:
        number = Decimal(str(raw).strip())
    except InvalidOperation:
        return None
    return number if number.is_finite() else None


def decimal_places(number: Decimal) -> int:
    exponent = number.normalize().as_tuple().exponent
    return -exponent if isinstance(exponent, int) and exponent < 0 else 0


def parse_date(raw: object) -> date | None:
    """A date written YYYY-MM-DD, or None."""
    if not isinstance(raw, str) or len(raw) != 10:
        return None
    try:
        return date.fromisoformat(raw)
    except ValueError:
        return None


def qbo_time() -> str:
    """The reply time stamp: local time with offset and milliseconds."""
    return datetime.now().astimezone().isoformat(timespec="milliseconds")


def meta_data() -> dict[str, str]:
    stamp = datetime.now().astimezone().isoformat(timespec="seconds")
    return {"CreateTime": stamp, "LastUpdatedTime": stamp}
