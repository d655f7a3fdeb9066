"""How many requests a company may send, as QuickBooks Online counts them.

Every request under ``/v3/company/{realm}/`` counts against the company's rolling
windows: at most 10 in any second and 500 in any minute, and of those, batch requests
at most 40 in any minute. A request over a limit is answered 429 with the throttle
fault (code 3001) and does not act. Only admitted requests fill the windows, so a
client that backs off gets through as soon as the oldest request leaves the window.

The throttle reply carries no ``Retry-After``: whether QuickBooks sends one is not
confirmed, and a client must not depend on it. A test can also throttle a company
outright for some seconds (``throttle_for_seconds``); those replies say how long is
left in ``Retry-After``.
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass, field, fields, replace

from consumer.emulator import faults
from consumer.emulator.errors import EmulatorError
from consumer.emulator.wire import Reply

_SECOND, _MINUTE = 1.0, 60.0
_MAX_THROTTLE_SECONDS = 3600


@dataclass(frozen=True)
class RateLimits:
    """Requests allowed per company; None lifts that limit."""

    per_second: int | None = 10
    per_minute: int | None = 500
    batches_per_minute: int | None = 40

    @classmethod
    def off(cls) -> RateLimits:
        return cls(per_second=None, per_minute=None, batches_per_minute=None)

    def changed(self, changes: Mapping[str, int | None] | None) -> RateLimits:
        """These limits with some changed; None lifts them all."""
        if changes is None:
            return RateLimits.off()
        return replace(self, **changes)

    def as_json(self) -> dict[str, int | None]:
        return {f.name: getattr(self, f.name) for f in fields(self)}


QUICKBOOKS_LIMITS = RateLimits()
_NAMES = tuple(f.name for f in fields(RateLimits))


class RateWindow:
    """The times of one company's admitted requests over the last minute."""

    def __init__(self) -> None:
        self._requests: deque[float] = deque()
        self._batches: deque[float] = deque()

    def admit(self, limits: RateLimits, now: float, *, batch: bool) -> str | None:
        """Record the request and return None, or return the limit it would break."""
        for times in (self._requests, self._batches):
            while times and times[0] <= now - _MINUTE:
                times.popleft()

        per_second = limits.per_second
        if per_second is not None and (
            _count_since(self._requests, now - _SECOND, per_second) >= per_second
        ):
            return f"{per_second} requests per second"
        if limits.per_minute is not None and len(self._requests) >= limits.per_minute:
            return f"{limits.per_minute} requests per minute"
        batches = limits.batches_per_minute
        if batch and batches is not None and len(self._batches) >= batches:
            return f"{batches} batch requests per minute"

        self._requests.append(now)
        if batch:
            self._batches.append(now)
        return None


@dataclass
class Traffic:
    """A company's limits, what it sent, and what it was refused."""

    limits: RateLimits = QUICKBOOKS_LIMITS
    window: RateWindow = field(default_factory=RateWindow)
    throttled_until: float = 0.0
    requests: int = 0
    throttled: int = 0
    batches: int = 0

    def admit(self, now: float, *, batch: bool) -> Reply | None:
        """Count the request; a 429 reply if it may not go on, else None."""
        self.requests += 1
        self.batches += batch
        if now < self.throttled_until:
            retry_after = math.ceil(self.throttled_until - now)
            return faults.throttled(
                "The request limit was reached; try again later", retry_after
            )
        broken = self.window.admit(self.limits, now, batch=batch)
        if broken is None:
            return None
        return faults.throttled(
            f"The request limit was reached: this company may send {broken}"
        )

    def stats(self) -> dict[str, int]:
        return {
            "requests": self.requests,
            "throttled": self.throttled,
            "batches": self.batches,
        }


def parse_rate_limits(raw: object) -> dict[str, int | None] | None:
    """The ``rate_limits`` control: None lifts every limit, else the ones to change."""
    if raw is None:
        return None
    if not isinstance(raw, dict):
        raise EmulatorError(
            'rate_limits must look like {"per_second": 10, "per_minute": 500}, or null'
        )
    unknown = sorted(set(raw) - set(_NAMES))
    if unknown:
        raise EmulatorError(f"rate_limits: unknown key(s) {', '.join(unknown)}")
    for name, value in raw.items():
        if value is not None and (
            isinstance(value, bool) or not isinstance(value, int) or value < 1
        ):
            raise EmulatorError(
                f"rate_limits.{name} must be a positive whole number, or null"
            )
    return dict(raw)


def throttle_seconds(raw: object) -> float:
    """The ``throttle_for_seconds`` control; 0 ends a throttle."""
    if (
        isinstance(raw, bool)
        or not isinstance(raw, int | float)
        or not 0 <= raw <= _MAX_THROTTLE_SECONDS
    ):
        raise EmulatorError(
            f"throttle_for_seconds must be a number between 0 and "
            f"{_MAX_THROTTLE_SECONDS}"
        )
    return float(raw)


def _count_since(times: deque[float], start: float, enough: int) -> int:
    """How many times are after ``start``, counted from the newest up to enough."""
    count = 0
    for moment in reversed(times):
        if moment <= start or count >= enough:
            break
        count += 1
    return count
