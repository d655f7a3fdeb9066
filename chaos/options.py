"""The knobs of a chaos run, and the command line that sets them."""

from __future__ import annotations

import argparse
import random
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from chaos.faults import ERROR_RATES


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
    # Kills come in storms (see chaos.weather) until every export settles.
    storm: float = 20.0
    calm: float = 60.0
    work: float = 30.0
    storms: int = 0  # at most this many storms; 0: no limit
    time_limit: float = 1800.0
    drain_seconds: float = 10.0
    malformed: int | None = None  # builds // 200 (at least 6) when None
    error_rates: tuple[
        tuple[str, float], ...
    ] = ()  # replace some of faults.ERROR_RATES
    work_dir: Path | None = None
    broker_port: int | None = None

    @property
    def wave_count(self) -> int:
        return self.waves or max(4, self.builds // 250)

    @property
    def malformed_count(self) -> int:
        return (
            self.malformed if self.malformed is not None else max(6, self.builds // 200)
        )


def parse(argv: Sequence[str] | None = None) -> Options:
    defaults = Options(seed=0)
    parser = argparse.ArgumentParser(
        prog="python -m chaos.run",
        description="Export builds while consumers are killed and the broker "
        "restarts; then check.",
    )
    parser.add_argument("--builds", type=_positive_int, default=defaults.builds)
    parser.add_argument("--companies", type=_positive_int, default=defaults.companies)
    parser.add_argument("--consumers", type=_positive_int, default=defaults.consumers)
    parser.add_argument(
        "--kill-every",
        type=_seconds_range,
        default=defaults.kill_every,
        metavar="MIN-MAX",
        help="seconds between SIGKILLs of a random consumer (default 3-6)",
    )
    parser.add_argument(
        "--broker-restart", action="store_true", help="restart the broker once mid-run"
    )
    parser.add_argument(
        "--seed", type=int, help="seed of everything drawn at random (default: random)"
    )
    parser.add_argument(
        "--database-url",
        help="SQLAlchemy URL (default: a SQLite file in the run's folder)",
    )
    parser.add_argument(
        "--waves", type=_positive_int, help="waves of events (default builds/250)"
    )
    parser.add_argument(
        "--wave-interval", type=float, default=defaults.wave_interval, metavar="SECONDS"
    )
    parser.add_argument(
        "--throttled-companies", type=int, default=defaults.throttled_companies
    )
    parser.add_argument(
        "--throttle-seconds", type=float, default=defaults.throttle_seconds
    )
    parser.add_argument(
        "--storm",
        type=float,
        default=defaults.storm,
        metavar="SECONDS",
        help="length of a storm of kills (default 20)",
    )
    parser.add_argument(
        "--calm",
        type=float,
        default=defaults.calm,
        metavar="SECONDS",
        help="least pause between storms (default 60; 0 kills without pause)",
    )
    parser.add_argument(
        "--work",
        type=float,
        default=defaults.work,
        metavar="SECONDS",
        help="a calm also lasts until exports settled for this long (default 30)",
    )
    parser.add_argument(
        "--storms",
        type=int,
        default=defaults.storms,
        help="at most this many storms (default 0: until every export settles)",
    )
    parser.add_argument(
        "--time-limit",
        type=float,
        default=defaults.time_limit,
        metavar="SECONDS",
        help="give up waiting for exports to settle after this long (default 1800)",
    )
    parser.add_argument("--drain-seconds", type=float, default=defaults.drain_seconds)
    parser.add_argument(
        "--malformed", type=int, help="malformed messages (default builds/200)"
    )
    parser.add_argument(
        "--error-rate",
        type=_error_rate,
        action="append",
        dest="error_rates",
        metavar="KIND=P",
        help="replace one of the emulator's error rates, e.g. auth_401=0 (repeatable)",
    )
    parser.add_argument(
        "--work-dir", type=Path, help="default: $PARTSEMBLE_HOME/chaos-<time>"
    )
    parser.add_argument(
        "--broker-port", type=int, help="default: the first free of 19392, 19592, ..."
    )
    args = parser.parse_args(argv)
    values = {k: v for k, v in vars(args).items() if v is not None}
    values["error_rates"] = tuple(values.get("error_rates", ()))
    return Options(**values)


def _positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError("must be at least 1")
    return value


def _error_rate(text: str) -> tuple[str, float]:
    kind, _, rate = text.partition("=")
    if kind not in ERROR_RATES:
        known = ", ".join(ERROR_RATES)
        raise argparse.ArgumentTypeError(f"{kind!r} is not one of {known}")
    try:
        return kind, float(rate)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"{text!r}: expected KIND=P, e.g. auth_401=0"
        ) from None


def _seconds_range(text: str) -> tuple[float, float]:
    low, _, high = text.partition("-")
    try:
        bounds = (float(low), float(high or low))
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"{text!r}: expected MIN-MAX seconds, e.g. 3-6"
        ) from None
    if not 0 < bounds[0] <= bounds[1]:
        raise argparse.ArgumentTypeError(f"{text!r}: expected 0 < MIN <= MAX")
    return bounds
