"""Watching a run while it goes: how many exports are settled, when the killer storms,
throttles fired once work is flowing, progress lines, and consumers that crash-loop."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

from chaos.checker import settled_count
from chaos.consumers import ConsumerPool
from chaos.emulator import EmulatorProcess
from chaos.expected import Expectation
from chaos.faults import Throttle
from chaos.reading import Database
from chaos.weather import Weather

POLL_SECONDS = 2.0
PROGRESS_SECONDS = 10.0
# Consumers that keep ending by themselves point at a set-up mistake, not at chaos.
MAX_EXITS_PER_CONSUMER = 15

Say = Callable[[str], None]


@dataclass
class Watched:
    """What the monitor looks at."""

    pool: ConsumerPool
    weather: Weather
    database: Database
    expectation: Expectation
    emulator: EmulatorProcess


class Monitor:
    def __init__(self, say: Say, started: float, watched: Watched) -> None:
        self.say = say
        self.started = started
        self._w = watched
        self._armed: list[Throttle] = []
        self._settled = (0, len(watched.expectation.exports()))
        self._polled = self._reported = 0.0
        self._published = "nothing yet"

    @property
    def all_settled(self) -> bool:
        return self._settled[0] >= self._settled[1]

    def elapsed(self) -> float:
        return time.monotonic() - self.started

    def throttle_now(self, throttle: Throttle) -> None:
        controls = {"throttle_for_seconds": throttle.seconds}
        self._w.emulator.control(throttle.realm_id, controls)
        self.say(f"[chaos] {throttle.tenant_id} throttled for {throttle.seconds:g} s")

    def arm(self, throttle: Throttle) -> None:
        """Throttle the company as soon as exports are seen settling."""
        self._armed.append(throttle)

    def unfired(self) -> list[Throttle]:
        return list(self._armed)

    def wave(self, number: int, count: int, messages: int) -> None:
        self._published = f"wave {number}/{count} ({messages} messages)"
        self.tick(report=True)

    def sleep(self, seconds: float) -> None:
        end = time.monotonic() + seconds
        while (left := end - time.monotonic()) > 0:
            time.sleep(min(left, 0.5))
            self.tick()

    def tick(self, report: bool = False) -> None:
        pool = self._w.pool
        if len(pool.exits) > MAX_EXITS_PER_CONSUMER * pool.size:
            last = pool.exits[-1].log_path
            raise RuntimeError(f"consumers keep exiting by themselves; see {last}")
        now = time.monotonic()
        if report or now - self._polled >= POLL_SECONDS:
            self._poll(now)
        if report or now - self._reported >= PROGRESS_SECONDS:
            self._reported = now
            self._report()

    def _poll(self, now: float) -> None:
        self._polled = now
        before = self._settled[0]
        self._settled = settled_count(self._w.database, self._w.expectation)
        progressed = self._settled[0] > before
        self._w.weather.look(progressed)
        if progressed and self._armed:
            for throttle in self._armed:
                self.throttle_now(throttle)
            self._armed = []

    def _report(self) -> None:
        weather = "storm" if self._w.weather.storming else "calm"
        done, wanted = self._settled
        pool = self._w.pool
        self.say(
            f"[chaos {self.elapsed():5.0f} s] {weather} {self._w.weather.storms}; "
            f"published {self._published}; settled {done}/{wanted}; "
            f"kills {pool.kills}; exits {len(pool.exits)}"
        )
