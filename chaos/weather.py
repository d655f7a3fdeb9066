"""When the killer storms: kills every few seconds for ``storm`` seconds, then calm.

A SIGKILLed consumer stays in its group until its session times out (45 s with
kafka-python's defaults), and the rebalance its restart starts waits for it: the whole
group consumes nothing meanwhile. Kills every few seconds without pause would stop all
consumption for as long as they go on. So a calm lasts at least ``calm`` seconds and
until exports have been settling, without a pause of more than ``IDLE_GAP`` seconds,
for ``work`` seconds: the next storm then finds the group at work. ``calm=0`` kills
without pause, as a stress of its own.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

IDLE_GAP = 8.0


@dataclass(frozen=True)
class StormPlan:
    storm: float = 20.0
    calm: float = 60.0
    work: float = 30.0
    limit: int = 0  # at most this many storms; 0: no limit


class Weather:
    def __init__(
        self, plan: StormPlan, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self._plan = plan
        self._clock = clock
        self._state = "idle"  # idle, storm, calm or over
        self._since = 0.0
        self._working_since: float | None = None
        self._last_progress = 0.0
        self.storms = 0

    @property
    def storming(self) -> bool:
        return self._state == "storm"

    def begin(self) -> None:
        self._start_storm()

    def end(self) -> None:
        self._state = "over"

    def look(self, progressed: bool) -> None:
        """Called every few seconds: did exports settle since the last look?"""
        now = self._clock()
        if progressed:
            if self._working_since is None or now - self._last_progress > IDLE_GAP:
                self._working_since = now  # a new stretch of work
            self._last_progress = now
        if self._state == "storm" and self._plan.calm > 0:
            if now - self._since >= self._plan.storm:
                self._state, self._since = "calm", now
        elif self._state == "calm" and self._calm_is_over(now):
            self._start_storm()

    def _calm_is_over(self, now: float) -> bool:
        if self._plan.limit and self.storms >= self._plan.limit:
            return False
        if now - self._since < self._plan.calm or self._working_since is None:
            return False
        # Work counts from the start of the calm, and must still be going on.
        began = max(self._working_since, self._since)
        still = now - self._last_progress <= IDLE_GAP
        return still and now - began >= self._plan.work

    def _start_storm(self) -> None:
        self._state, self._since = "storm", self._clock()
        self.storms += 1
