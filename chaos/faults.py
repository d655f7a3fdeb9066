"""The trouble each company's QuickBooks serves during a run.

Every company draws random faults at a few percent each (see
``consumer.emulator.error_rates``): timeouts, 500s, HTML 503 pages, XML 429s, 401s for
a token that still works (each one makes the service refresh, and so rotate, the
company's tokens), and writes that take effect but lose their answer. One or two
companies are also throttled outright for some seconds: the first as the first wave
goes out, the others once exports are seen settling after later waves.

``build-export emulator`` has no option for the access-token lifetime (it serves
tokens valid for an hour), so the 401 rate stands in for short-lived tokens.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import Any

from chaos.companies import Company

ERROR_RATES = {
    "timeout": 0.02,
    "http_500": 0.03,
    "http_503_html": 0.03,
    "throttle_xml": 0.02,
    "auth_401": 0.03,
    "applied_then_timeout": 0.02,
}
# Longer than the consumers' QBO_TIMEOUT_SECONDS, so a held request times out for them.
EMULATOR_TIMEOUT_SECONDS = 3
# Every request takes about as long as QuickBooks' own, so kills catch posts under way.
LATENCY_MS = 150


@dataclass(frozen=True)
class Throttle:
    realm_id: str
    tenant_id: str
    at_wave: int
    seconds: float


def trouble(
    rng: random.Random, rates: dict[str, float] | None = None
) -> dict[str, Any]:
    """The controls of one company's random trouble, with a seed of its own;
    ``rates`` replaces some of the ``ERROR_RATES``."""
    return {
        "error_rates": {**ERROR_RATES, **(rates or {})},
        "random_seed": rng.getrandbits(31),
        "timeout_seconds": EMULATOR_TIMEOUT_SECONDS,
        "latency_ms": LATENCY_MS,
    }


def plan_throttles(
    companies: list[Company], waves: int, rng: random.Random, count: int, seconds: float
) -> list[Throttle]:
    """``count`` companies throttled for ``seconds``: the first from the first wave, the
    others from waves spread over the run."""
    chosen = rng.sample(companies, min(count, len(companies)))
    return [
        Throttle(
            c.realm_id, c.tenant_id, at_wave=i * waves // max(1, count), seconds=seconds
        )
        for i, c in enumerate(chosen)
    ]
