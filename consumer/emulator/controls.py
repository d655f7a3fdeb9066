"""Per-company test controls: latency, faults, limits, closed books, revocation.

Given as JSON to ``POST /_emulator/companies/{realm}/controls`` or as keyword arguments
to ``Emulator.control``; every key is optional::

    {"latency_ms": 250,
     "fail_next": [{"status": 503}, {"status": 429, "kind": "json", "code": "3001"},
                   {"status": 502, "applied": true}, {"status": 200, "code": "6000"},
                   {"kind": "timeout"}, {"kind": "timeout", "applied": true}],
     "rate_limits": {"per_second": 2},         # null lifts every limit
     "throttle_for_seconds": 30,               # 0 ends it
     "error_rates": {"http_500": 0.05},        # see consumer.emulator.error_rates
     "random_seed": 7,
     "timeout_seconds": 5,
     "closed_books_date": "2024-03-31",      # null opens the books again
     "inventory_tracking": false,
     "deactivate": {"accounts": ["80"], "items": ["11"]},
     "activate": {"accounts": [], "items": []},
     "revoke": true,                          # every token of the company stops working
     "refresh_token": "RT-reconnected"}       # a person connected the app again

``fail_next`` replaces the faults still pending: the next requests to the company's API
that pass its rate limits are answered with them, one each, in order. A fault with
``"applied": true`` lets the request take effect and then loses its answer, the case
where a client cannot know whether its write happened. Status 200 sends the fault
inside a successful HTTP reply, as QuickBooks sometimes does. ``{"kind": "timeout"}``
sends no answer at all (see ``consumer.emulator.injected``).

``rate_limits`` changes only the limits it names (see ``consumer.emulator.limits``);
``throttle_for_seconds`` answers every request of the company with 429 for that long.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import date
from typing import Any, TypeVar

from consumer.emulator import error_rates, limits
from consumer.emulator.encoding import parse_date
from consumer.emulator.error_rates import ErrorRates
from consumer.emulator.errors import EmulatorError
from consumer.emulator.injected import Injected, InjectedFault, InjectedTimeout

T = TypeVar("T")
_STATUSES = (200, 400, 401, 403, 429, 500, 502, 503, 504)
_KINDS = ("json", "html", "xml", "timeout")
_DEFAULT_CODE = {200: "10000", 400: "6000", 401: "3200", 403: "3100", 429: "3001"}
_KEYS = {
    "latency_ms",
    "fail_next",
    "rate_limits",
    "throttle_for_seconds",
    "error_rates",
    "random_seed",
    "timeout_seconds",
    "closed_books_date",
    "inventory_tracking",
    "deactivate",
    "activate",
    "revoke",
    "refresh_token",
}


@dataclass(frozen=True)
class ObjectIds:
    accounts: tuple[str, ...] = ()
    items: tuple[str, ...] = ()


@dataclass(frozen=True)
class Controls:
    latency_ms: int | None = None
    fail_next: tuple[Injected, ...] | None = None
    sets_rate_limits: bool = False
    rate_limits: Mapping[str, int | None] | None = None  # None lifts every limit
    throttle_for_seconds: float | None = None
    error_rates: ErrorRates | None = None
    random_seed: int | None = None
    timeout_seconds: float | None = None
    sets_closed_books: bool = False
    closed_books_date: date | None = None
    inventory_tracking: bool | None = None
    deactivate: ObjectIds = field(default_factory=ObjectIds)
    activate: ObjectIds = field(default_factory=ObjectIds)
    revoke: bool = False
    refresh_token: str | None = None


def parse_controls(raw: object) -> Controls:
    if not isinstance(raw, dict):
        raise EmulatorError("controls must be a JSON object")
    unknown = sorted(set(raw) - _KEYS)
    if unknown:
        raise EmulatorError(f"unknown control(s): {', '.join(unknown)}")

    closed = raw.get("closed_books_date")
    if closed is not None and parse_date(closed) is None:
        raise EmulatorError(
            "closed_books_date must be a date written YYYY-MM-DD, or null"
        )
    refresh_token = raw.get("refresh_token")
    if refresh_token is not None and (
        not isinstance(refresh_token, str) or not refresh_token
    ):
        raise EmulatorError("refresh_token must be a non-empty string")

    return Controls(
        latency_ms=_latency(raw.get("latency_ms")),
        fail_next=_faults(raw["fail_next"]) if "fail_next" in raw else None,
        sets_rate_limits="rate_limits" in raw,
        rate_limits=limits.parse_rate_limits(raw.get("rate_limits")),
        throttle_for_seconds=_optional(
            raw, "throttle_for_seconds", limits.throttle_seconds
        ),
        error_rates=(
            error_rates.parse_error_rates(raw["error_rates"])
            if "error_rates" in raw
            else None
        ),
        random_seed=_optional(raw, "random_seed", error_rates.parse_seed_number),
        timeout_seconds=_optional(
            raw, "timeout_seconds", error_rates.parse_timeout_seconds
        ),
        sets_closed_books="closed_books_date" in raw,
        closed_books_date=parse_date(closed),
        inventory_tracking=_flag(raw, "inventory_tracking"),
        deactivate=_object_ids(raw.get("deactivate"), "deactivate"),
        activate=_object_ids(raw.get("activate"), "activate"),
        revoke=bool(_flag(raw, "revoke")),
        refresh_token=refresh_token,
    )


def _latency(raw: object) -> int | None:
    if raw is None:
        return None
    if isinstance(raw, bool) or not isinstance(raw, int) or not 0 <= raw <= 120_000:
        raise EmulatorError("latency_ms must be an integer between 0 and 120000")
    return raw


def _optional(raw: dict[str, Any], key: str, parse: Callable[[object], T]) -> T | None:
    return parse(raw[key]) if raw.get(key) is not None else None


def _faults(raw: object) -> tuple[Injected, ...]:
    if not isinstance(raw, list):
        raise EmulatorError("fail_next must be a list of faults")
    return tuple(_fault(spec, f"fail_next[{i}]") for i, spec in enumerate(raw))


def _fault(raw: object, where: str) -> Injected:
    if not isinstance(raw, dict):
        raise EmulatorError(f"{where} must be a JSON object")
    unknown = sorted(set(raw) - {"status", "kind", "code", "applied", "retry_after"})
    if unknown:
        raise EmulatorError(f"{where}: unknown key(s) {', '.join(unknown)}")
    if raw.get("kind") == "timeout":
        return _timeout(raw, where)

    status = raw.get("status")
    if status not in _STATUSES or isinstance(status, bool):
        raise EmulatorError(
            f"{where}.status must be one of {', '.join(map(str, _STATUSES))}"
        )
    kind = raw.get("kind", _default_kind(status))
    if kind not in _KINDS:
        raise EmulatorError(f"{where}.kind must be one of {', '.join(_KINDS)}")
    code = str(raw.get("code", _DEFAULT_CODE.get(status, "10000")))
    if not code.isdigit():
        raise EmulatorError(
            f"{where}.code must be a QuickBooks error code such as 10000"
        )

    applied = raw.get("applied", False)
    retry_after = raw.get("retry_after")
    if not isinstance(applied, bool):
        raise EmulatorError(f"{where}.applied must be true or false")
    if retry_after is not None and (
        not isinstance(retry_after, int) or retry_after < 0
    ):
        raise EmulatorError(f"{where}.retry_after must be a number of seconds")
    return InjectedFault(status, kind, code, applied, retry_after)


def _timeout(raw: dict[str, Any], where: str) -> InjectedTimeout:
    if set(raw) - {"kind", "applied"}:
        raise EmulatorError(f'{where}: a timeout takes only "kind" and "applied"')
    applied = raw.get("applied", False)
    if not isinstance(applied, bool):
        raise EmulatorError(f"{where}.applied must be true or false")
    return InjectedTimeout(applied)


def _default_kind(status: int) -> str:
    # Outages have been seen as gateway HTML pages, throttling as XML.
    if status in (502, 503, 504):
        return "html"
    return "xml" if status == 429 else "json"


def _flag(raw: dict[str, Any], key: str) -> bool | None:
    value = raw.get(key)
    if value is not None and not isinstance(value, bool):
        raise EmulatorError(f"{key} must be true or false")
    return value


def _object_ids(raw: object, where: str) -> ObjectIds:
    if raw is None:
        return ObjectIds()
    if not isinstance(raw, dict) or set(raw) - {"accounts", "items"}:
        raise EmulatorError(
            f'{where} must look like {{"accounts": [...], "items": [...]}}'
        )
    lists = {}
    for key in ("accounts", "items"):
        values = raw.get(key, [])
        if not isinstance(values, list) or not all(
            isinstance(v, str | int) for v in values
        ):
            raise EmulatorError(f"{where}.{key} must be a list of ids")
        lists[key] = tuple(str(v) for v in values)
    return ObjectIds(**lists)
