"""Keeping one company's calls under QuickBooks' limits, so the service causes no 429.

QuickBooks counts requests per company in rolling windows (10 a second, 500 a minute,
and 40 batch requests a minute). The limiter keeps a little below each limit and waits
a little past each window, since QuickBooks measures arrival times, not departures.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass


@dataclass(frozen=True)
class Limits:
    per_second: int = 9
    per_minute: int = 480
    batches_per_minute: int = 38
    slack_seconds: float = 0.15


DEFAULT_LIMITS = Limits()


class _Window:
    def __init__(self, limit: int, seconds: float) -> None:
        self.limit = limit
        self.seconds = seconds
        self.stamps: deque[float] = deque()

    def wait_needed(self, now: float) -> float:
        while self.stamps and now - self.stamps[0] >= self.seconds:
            self.stamps.popleft()
        if len(self.stamps) < self.limit:
            return 0.0
        return self.seconds - (now - self.stamps[0])


class CompanyRateLimiter:
    """Blocks the calling thread (that company's worker) until a request may go."""

    def __init__(
        self,
        limits: Limits = DEFAULT_LIMITS,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        slack = limits.slack_seconds
        self._requests = [
            _Window(limits.per_second, 1 + slack),
            _Window(limits.per_minute, 60 + slack),
        ]
        self._batches = _Window(limits.batches_per_minute, 60 + slack)
        self._clock = clock
        self._sleep = sleep
        self._lock = threading.Lock()

    def acquire(self, batch: bool = False) -> float:
        """Wait for room for one request; returns the seconds waited."""
        windows = [*self._requests, self._batches] if batch else self._requests
        waited = 0.0
        while True:
            with self._lock:
                now = self._clock()
                delay = max(w.wait_needed(now) for w in windows)
                if delay <= 0:
                    for window in windows:
                        window.stamps.append(now)
                    return waited
            self._sleep(delay)
            waited += delay
