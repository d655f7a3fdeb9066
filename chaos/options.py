"""The knobs of a chaos run, and the command line that sets them."""

from __future__ import annotations

import argparse
import random
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path


@dataclass(frozen=True)
class Options:
    builds: int = 5000
    companies: int = 20
    consumers: int = 2
    kill_every: tuple[float, float] = (3.0, 6.0)
    broker_restart: bool = False
    seed: int = field(default_factory=lambda: random.randrange(1_000_000))
    database_url: str | None = None  # a SQLite file in the run's folder when None
    waves: int | None = None  # builds // 250 (at least 4) when None
    wave_interval: float = 4.0
    throttled_companies: int = 2
    throttle_seconds: float = 25.0
    # Seconds after the last wave during which kills go on; None: until all settle.
    kill_window: float | None = None
    time_limit: float = 1800.0
    drain_seconds: float = 10.0
    malformed: int | None = None  # builds // 200 (at least 6) when None
    work_dir: Path | None = None
    broker_port: int | None = None

    @property
    def wave_count(self) -> int:
        return self.waves or max(4, self.builds // 250)

    @property
    def malformed_count(self) -> int:
        return self.malformed if self.malformed is not None else max(6, self.builds // 200)


def parse(argv: Sequence[str] | None = None) -> Options:
    defaults = Options(seed=0)
    parser = argparse.ArgumentParser(
        prog="python -m chaos.run",
        description="Export builds while consumers are killed and the broker restarts; then check.",
    )
    parser.add_argument("--builds", type=_positive_int, default=defaults.builds)
    parser.add_argument("--companies", type=_positive_int, default=defaults.companies)
    parser.add_argument("--consumers", type=_positive_int, default=defaults.consumers)
    parser.add_argument("--kill-every", type=_seconds_range, default=defaults.kill_every, metavar="MIN-MAX",
                        help="seconds between SIGKILLs of a random consumer (default 3-6)")
    parser.add_argument("--broker-restart", action="store_true", help="restart the broker once mid-run")
    parser.add_argument("--seed", type=int, help="seed of everything drawn at random (default: random)")
    parser.add_argument("--database-url", help="SQLAlchemy URL (default: a SQLite file in the run's folder)")
    parser.add_argument("--waves", type=_positive_int, help="waves of events (default builds/250)")
    parser.add_argument("--wave-interval", type=float, default=defaults.wave_interval, metavar="SECONDS")
    parser.add_argument("--throttled-companies", type=int, default=defaults.throttled_companies)
    parser.add_argument("--throttle-seconds", type=float, default=defaults.throttle_seconds)
    parser.add_argument("--kill-window", type=float, metavar="SECONDS",
                        help="stop killing this long after the last wave (default: kill until all settle)")
    parser.add_argument("--time-limit", type=float, default=defaults.time_limit, metavar="SECONDS",
                        help="give up waiting for exports to settle after this long (default 1800)")
    parser.add_argument("--drain-seconds", type=float, default=defaults.drain_seconds)
    parser.add_argument("--malformed", type=int, help="malformed messages (default builds/200)")
    parser.add_argument("--work-dir", type=Path, help="default: $PARTSEMBLE_HOME/chaos-<time>")
    parser.add_argument("--broker-port", type=int, help="default: the first free of 19392, 19592, ...")
    args = parser.parse_args(argv)
    values = {k: v for k, v in vars(args).items() if v is not None}
    return Options(**values)


def _positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError("must be at least 1")
    return value


def _seconds_range(text: str) -> tuple[float, float]:
    low, _, high = text.partition("-")
    try:
        bounds = (float(low), float(high or low))
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r}: expected MIN-MAX seconds, e.g. 3-6") from None
    if not 0 < bounds[0] <= bounds[1]:
        raise argparse.ArgumentTypeError(f"{text!r}: expected 0 < MIN <= MAX")
    return bounds
