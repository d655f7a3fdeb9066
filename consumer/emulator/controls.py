"""Per-company test controls: latency, injected faults, closed books, revocation.

Given as JSON to ``POST /_emulator/companies/{realm}/controls`` or as keyword arguments
to ``Emulator.control``; every key is optional::

    {"latency_ms": 250,
     "fail_next": [{"status": 503}, {"status": 429, "kind": "json", "code": "3001"},
                   {"status": 502, "applied": true}],
     "closed_books_date": "2024-03-31",      # null opens the books again
     "inventory_tracking": false,
     "deactivate": {"accounts": ["80"], "items": ["11"]},
     "activate": {"accounts": [], "items": []},
     "revoke": true,                          # every token of the company stops working
     "refresh_token": "RT-reconnected"}       # a person connected the app again

``fail_next`` replaces the faults still pending: the next requests to the company's API
are answered with them, one each, in order. A fault with ``"applied": true`` lets the
request take effect and then loses its answer, the case where a client cannot know
whether its write happened.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from http import HTTPStatus
from typing import Any

from consumer.emulator import faults
from consumer.emulator.encoding import parse_date
from consumer.emulator.errors import EmulatorError
from consumer.emulator.wire import Reply

_STATUSES = (200, 400, 401, 403, 429, 500, 502, 503, 504)
_KINDS = ("json", "html", "xml")
_DEFAULT_CODE = {200: "10000", 400: "6000", 401: "3200", 403: "3100", 429: "3001"}
_KNOWN_CODES = {
    "3001": (
        "message=ThrottleExceeded; errorCode=003001; statusCode=429",
        "The request limit for this company was reached; wait before sending more",
    ),
    "3100": (
        "message=ApplicationAuthorizationFailed; errorCode=003100; statusCode=403",
        "The application is not authorized to access this company",
    ),
    "5010": (
        "Stale Object Error",
        "Stale Object Error : the object was changed by someone else in the meantime",
    ),
    "6000": (
        faults.BUSINESS_MESSAGE,
        "Business Validation Error: injected by the emulator",
    ),
    "6140": (
        "Duplicate Document Number Error",
        "Duplicate Document Number Error : this number has already been used",
    ),
    "6190": (
        "Invalid Company Status",
        "The subscription of this company has ended or has a billing problem",
    ),
    "10000": (
        "An application error has occurred while processing your request",
        "System Failure Error: an unexpected error occurred inside QuickBooks",
    ),
}
_KEYS = {
    "latency_ms",
    "fail_next",
    "closed_books_date",
    "inventory_tracking",
    "deactivate",
    "activate",
    "revoke",
    "refresh_token",
}


@dataclass(frozen=True)
class InjectedFault:
    status: int
    kind: str
    code: str
    applied: bool = False
    retry_after: int | None = None

    def reply(self) -> Reply:
        if self.kind == "html":
            return faults.html_page(self.status, HTTPStatus(self.status).phrase)

        message, detail = _KNOWN_CODES.get(
            self.code,
            ("A fault injected by the emulator", f"Injected fault {self.code}"),
        )
        if self.kind == "xml":
            reply = faults.xml_fault(self.status, self.code, message, detail)
        elif self.status == 401:
            reply = faults.authentication("Token expired: injected by the emulator")
        else:
            fault_type = {"3001": "SERVICE", "10000": "SystemFault"}.get(
                self.code, "ValidationFault"
            )
            reply = faults.Fault(
                self.code, message, detail, status=self.status, fault_type=fault_type
            ).reply()

        if self.retry_after is None:
            return reply
        headers = (*reply.headers, ("Retry-After", str(self.retry_after)))
        return Reply(reply.status, reply.body, reply.content_type, headers)


@dataclass(frozen=True)
class ObjectIds:
    accounts: tuple[str, ...] = ()
    items: tuple[str, ...] = ()


@dataclass(frozen=True)
class Controls:
    latency_ms: int | None = None
    fail_next: tuple[InjectedFault, ...] | None = None
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


def _faults(raw: object) -> tuple[InjectedFault, ...]:
    if not isinstance(raw, list):
        raise EmulatorError("fail_next must be a list of faults")
    return tuple(_fault(spec, f"fail_next[{i}]") for i, spec in enumerate(raw))


def _fault(raw: object, where: str) -> InjectedFault:
    if not isinstance(raw, dict):
        raise EmulatorError(f"{where} must be a JSON object")
    unknown = sorted(set(raw) - {"status", "kind", "code", "applied", "retry_after"})
    if unknown:
        raise EmulatorError(f"{where}: unknown key(s) {', '.join(unknown)}")

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
