"""Trouble drawn at random, at a rate per kind that a test sets for a company.

    {"error_rates": {"timeout": 0.1, "http_500": 0.05, "http_503_html": 0.05,
                     "throttle_xml": 0.02, "auth_401": 0.01,
                     "applied_then_timeout": 0.01},
     "random_seed": 7, "timeout_seconds": 5}

While any rate is set, every request that passes the rate limits and finds no
``fail_next`` fault pending draws one number from the company's ``random.Random``
(seeded with the realm id until ``random_seed`` sets it), so a seed gives the same
trouble in the same order on every run. The rates together may not exceed 1.

- ``timeout``: no answer (see ``consumer.emulator.injected`` for how it is held).
- ``http_500``: the JSON system fault 10000. ``http_503_html``: a gateway's HTML page.
- ``throttle_xml``: 429 with the XML throttle fault 3001.
- ``auth_401``: the lower-case authentication fault 3200, as for an expired access
  token; the token itself keeps working.
- ``applied_then_timeout``: the request acts, then its answer is lost as in a timeout.

Only ``applied_then_timeout`` acts, and only it is remembered for ``requestid``
replay: a retry with the same request id gets the answer that was lost.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass

from consumer.emulator.errors import EmulatorError
from consumer.emulator.injected import Injected, InjectedFault, InjectedTimeout

KINDS: dict[str, Injected] = {
    "timeout": InjectedTimeout(),
    "http_500": InjectedFault(500, "json", "10000"),
    "http_503_html": InjectedFault(503, "html", "10000"),
    "throttle_xml": InjectedFault(429, "xml", "3001"),
    "auth_401": InjectedFault(401, "json", "3200"),
    "applied_then_timeout": InjectedTimeout(applied=True),
}
MAX_TIMEOUT_SECONDS = 600


@dataclass(frozen=True)
class ErrorRates:
    rates: tuple[tuple[str, float], ...] = ()  # (kind, probability) in KINDS order

    def draw(self, rng: random.Random) -> Injected | None:
        if not self.rates:
            return None
        roll = rng.random()
        for kind, rate in self.rates:
            if roll < rate:
                return KINDS[kind]
            roll -= rate
        return None

    def as_json(self) -> dict[str, float]:
        return dict(self.rates)


def parse_error_rates(raw: object) -> ErrorRates:
    """The ``error_rates`` control; null or an empty object stops the trouble."""
    if raw is None:
        return ErrorRates()
    if not isinstance(raw, dict):
        raise EmulatorError('error_rates must look like {"http_500": 0.05}, or null')
    unknown = sorted(set(raw) - set(KINDS))
    if unknown:
        raise EmulatorError(
            f"error_rates: unknown kind(s) {', '.join(unknown)}; "
            f"known: {', '.join(KINDS)}"
        )
    for kind, rate in raw.items():
        if isinstance(rate, bool) or not isinstance(rate, int | float):
            raise EmulatorError(f"error_rates.{kind} must be a probability")
        if not 0 <= rate <= 1:
            raise EmulatorError(f"error_rates.{kind} must be between 0 and 1")
    if math.fsum(raw.values()) > 1 + 1e-9:
        raise EmulatorError("error_rates may not add up to more than 1")
    return ErrorRates(
        tuple((kind, float(raw[kind])) for kind in KINDS if raw.get(kind))
    )


def parse_seed_number(raw: object) -> int:
    if isinstance(raw, bool) or not isinstance(raw, int):
        raise EmulatorError("random_seed must be a whole number")
    return raw


def parse_timeout_seconds(raw: object) -> float:
    if (
        isinstance(raw, bool)
        or not isinstance(raw, int | float)
        or not 0 < raw <= MAX_TIMEOUT_SECONDS
    ):
        raise EmulatorError(
            f"timeout_seconds must be a number above 0 and at most "
            f"{MAX_TIMEOUT_SECONDS}"
        )
    return float(raw)
