"""A fault-injection run of the whole export, ending with the independent checker.

    python -m chaos.run [--builds 5000] [--companies 20] [--consumers 2]
                        [--kill-every 3-6] [--broker-restart] [--seed N] [--database-url URL]

Steps: a private Kafka broker and the QuickBooks emulator start in a fresh folder;
companies are seeded and loaded; K ``build-export run`` processes start in one group;
waves of build events are published while a killer SIGKILLs a random consumer every
few seconds (and starts it again), one or two companies are throttled, and (with
``--broker-restart``) the broker restarts once mid-run. The run waits until every
expected export is settled (or the time limit), lets the consumers drain their outbox,
stops them with SIGTERM, and prints the checker's figures. Exit 0 when the check passes.

Everything listens on 127.0.0.1; every process started is stopped, also on failure.
"""

from __future__ import annotations

import atexit
import json
import logging
import os
import random
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from contextlib import ExitStack
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from cryptography.fernet import Fernet

from chaos import broker as private_broker
from chaos import companies as company_data
from chaos import faults, options, publisher, scenario
from chaos.checker import Sources, check, settled_count
from chaos.commands import build_export, child_env
from chaos.consumers import ConsumerPool, Killer
from chaos.emulator import EmulatorProcess
from chaos.expected import Expectation, RunFacts
from chaos.figures import Figures
from chaos.malformed import make_malformed
from chaos.options import Options
from chaos.reading import Database
from consumer.config import Topics
from consumer.topics import ensure_topics

log = logging.getLogger(__name__)

PARTITIONS = 6
PROGRESS_SECONDS = 10.0
# Consumers that keep ending by themselves point at a set-up mistake, not at chaos.
MAX_EXITS_PER_CONSUMER = 15

Say = Callable[[str], None]


@dataclass
class Setup:
    """What a run starts and names, for its later steps."""

    work: Path
    tag: str
    bootstrap: str
    topics: Topics
    database_url: str
    expected_path: Path


def execute(opts: Options, say: Say = print) -> Figures:
    """Run the whole scenario and return the checker's figures."""
    started = time.monotonic()
    rng = random.Random(opts.seed)
    work = _work_dir(opts)
    say(f"[chaos] seed {opts.seed}; everything of this run is in {work}")
    with ExitStack() as stack:
        atexit.register(stack.close)  # a last resort; the with block normally cleans up
        try:
            return _execute(opts, rng, work, stack, started, say)
        finally:
            atexit.unregister(stack.close)


def _execute(opts: Options, rng: random.Random, work: Path, stack: ExitStack, started: float,
             say: Say) -> Figures:
    port = opts.broker_port or private_broker.free_port_pair()
    broker = private_broker.start_broker(work, port)
    stack.callback(broker.stop)
    say(f"[chaos] Kafka broker on {broker.bootstrap} ({time.monotonic() - started:.0f} s)")

    tag = f"{datetime.now(UTC):%m%d%H%M%S}"
    topics = Topics.with_prefix(f"chaos-{tag}.")
    ensure_topics(broker.bootstrap, list(vars(topics).values()), partitions=PARTITIONS)
    setup = Setup(work, tag, broker.bootstrap, topics,
                  opts.database_url or f"sqlite:///{work / 'export.db'}", work / "expected.json")

    companies = company_data.make_companies(opts.companies, rng, tag)
    builds = scenario.plan_builds(companies, opts.builds, rng, datetime.now(UTC))
    malformed = make_malformed(opts.malformed_count, dict(builds[0].events[0]), rng)
    expectation = Expectation([b.expected for b in builds], len(malformed), [c.realm_id for c in companies])
    expectation.save(setup.expected_path)

    emulator = _start_emulator(work, companies, rng, stack)
    env = _consumer_env(setup, emulator)
    _load_tenants(work, companies, env)

    pool = ConsumerPool(opts.consumers, env, work)
    stack.callback(pool.stop_all)
    pool.start_all()
    killer = Killer(pool, opts.kill_every, random.Random(rng.random()))
    stack.callback(killer.stop)
    killer.start()
    killer.start_killing()
    say(f"[chaos] {opts.consumers} consumers started; killing one every "
        f"{opts.kill_every[0]:g}-{opts.kill_every[1]:g} s")

    database = Database(setup.database_url)
    stack.callback(database.close)
    progress = _Progress(say, started, pool, database, expectation)
    restarts = _publish_waves(opts, rng, setup, broker, emulator, builds, malformed, companies, progress)
    _wait_until_settled(opts, killer, progress)

    killer.stop_killing()
    say(f"[chaos] letting the consumers drain for {opts.drain_seconds:g} s, then SIGTERM")
    time.sleep(opts.drain_seconds)
    killer.stop()
    pool.stop_all()

    expectation.run = RunFacts(pool.kills, len(pool.exits), restarts, round(time.monotonic() - started, 1))
    expectation.save(setup.expected_path)
    _say_exits(say, pool)
    sources = Sources(emulator.ledger_url, setup.bootstrap, topics.status, setup.database_url, topics.dlt)
    say(f"[chaos] checking: python -m chaos.checker --ledger-url {sources.ledger_url} "
        f"--bootstrap {sources.bootstrap} --status-topic {topics.status} --dlt-topic {topics.dlt} "
        f"--database-url {setup.database_url} --expected {setup.expected_path}")
    return check(sources, expectation)


def _work_dir(opts: Options) -> Path:
    work = opts.work_dir or private_broker.shared_home() / f"chaos-{datetime.now(UTC):%Y%m%d-%H%M%S}"
    work = work.expanduser().resolve()
    work.mkdir(parents=True, exist_ok=True)
    return work


def _start_emulator(work: Path, companies: list[company_data.Company], rng: random.Random,
                    stack: ExitStack) -> EmulatorProcess:
    seed_path = work / "emulator-seed.json"
    seed_path.write_text(_json(company_data.emulator_seed(companies)))
    emulator = EmulatorProcess(seed_path, work / "emulator.log")
    stack.callback(emulator.stop)
    emulator.start()
    for company in companies:
        emulator.control(company.realm_id, faults.trouble(rng))
    return emulator


def _consumer_env(setup: Setup, emulator: EmulatorProcess) -> dict[str, str]:
    topics = setup.topics
    return child_env(os.environ, {
        "KAFKA_BOOTSTRAP_SERVERS": setup.bootstrap,
        "BUILD_EXPORT_GROUP_ID": f"chaos-{setup.tag}",
        "BUILD_EXPORT_TOPIC_BUILDS": topics.builds,
        "BUILD_EXPORT_TOPIC_COMMANDS": topics.commands,
        "BUILD_EXPORT_TOPIC_STATUS": topics.status,
        "BUILD_EXPORT_TOPIC_DLT": topics.dlt,
        "BUILD_EXPORT_TOPIC_SETTINGS": topics.settings,
        "BUILD_EXPORT_DATABASE_URL": setup.database_url,
        "BUILD_EXPORT_TOKEN_KEY": Fernet.generate_key().decode(),
        "QBO_CLIENT_ID": company_data.APP["client_id"],
        "QBO_CLIENT_SECRET": company_data.APP["client_secret"],
        "QBO_ENVIRONMENT": emulator.discovery_url,
        "QBO_API_URL": emulator.api_url,
        "QBO_TIMEOUT_SECONDS": "2",
        "QBO_THROTTLE_WAIT_SECONDS": "2",
        "BUILD_EXPORT_RETRY_DELAYS": "1,2,4,8,16,30",
        "PARTSEMBLE_HOME": str(setup.work),
    })


def _load_tenants(work: Path, companies: list[company_data.Company], env: dict[str, str]) -> None:
    path = work / "tenants.json"
    path.write_text(_json(company_data.tenants_document(companies)))
    result = subprocess.run(build_export("tenants", "load", str(path)), env=env, capture_output=True,
                            text=True, timeout=120, check=False)
    if result.returncode != 0:
        raise RuntimeError(f"build-export tenants load failed ({result.returncode}): {result.stderr.strip()}")


def _publish_waves(opts: Options, rng: random.Random, setup: Setup, broker: Any,
                   emulator: EmulatorProcess, builds: list[scenario.PlannedBuild],
                   malformed: list[Any], companies: list[company_data.Company],
                   progress: _Progress) -> int:
    """Publish every wave, throttling and restarting as planned; returns the restarts."""
    plan = publisher.plan_waves(builds, malformed, opts.wave_count, rng)
    throttles = faults.plan_throttles(companies, opts.wave_count, rng, opts.throttled_companies,
                                      opts.throttle_seconds)
    restart_at = opts.wave_count // 2 if opts.broker_restart else None
    progress.say(f"[chaos] {len(builds)} builds, {len(malformed)} malformed messages, "
                 f"{plan.duplicates} duplicates, {plan.repeats} repeated Pending Exports "
                 f"in {opts.wave_count} waves of events")
    restarts = published = 0
    for number, wave in enumerate(plan.waves):
        if number == restart_at:
            down = private_broker.restart_broker(broker)
            restarts += 1
            progress.say(f"[chaos] broker restarted (down {down:.1f} s)")
        for throttle in (t for t in throttles if t.at_wave == number):
            emulator.control(throttle.realm_id, {"throttle_for_seconds": throttle.seconds})
            progress.say(f"[chaos] {throttle.tenant_id} throttled for {throttle.seconds:g} s")
        published += publisher.publish(setup.bootstrap, setup.topics.builds, wave)
        progress.wave(number + 1, opts.wave_count, published)
        if number + 1 < len(plan.waves):
            progress.sleep(opts.wave_interval)
    return restarts


def _wait_until_settled(opts: Options, killer: Killer, progress: _Progress) -> None:
    last_wave = time.monotonic()
    deadline = progress.started + opts.time_limit
    while time.monotonic() < deadline:
        if opts.kill_window is not None and time.monotonic() - last_wave >= opts.kill_window:
            killer.stop_killing()
        if progress.settled():
            progress.say("[chaos] every expected export is settled")
            return
        progress.sleep(2.0)
    progress.say(f"[chaos] time limit of {opts.time_limit:g} s reached with exports unsettled")


class _Progress:
    """Says how far the run is, every few seconds, and stops it if consumers crash-loop."""

    def __init__(self, say: Say, started: float, pool: ConsumerPool, database: Database,
                 expectation: Expectation) -> None:
        self.say = say
        self.started = started
        self._pool = pool
        self._database = database
        self._expectation = expectation
        self._last = 0.0
        self._published = "0"

    def wave(self, number: int, count: int, messages: int) -> None:
        self._published = f"wave {number}/{count} ({messages} messages)"
        self._report(force=True)

    def settled(self) -> bool:
        done, wanted = settled_count(self._database, self._expectation)
        return done >= wanted

    def sleep(self, seconds: float) -> None:
        end = time.monotonic() + seconds
        while (left := end - time.monotonic()) > 0:
            time.sleep(min(left, 1.0))
            self._report()

    def _report(self, force: bool = False) -> None:
        if len(self._pool.exits) > MAX_EXITS_PER_CONSUMER * self._pool.size:
            raise RuntimeError(f"consumers keep exiting by themselves; see {self._pool.exits[-1].log_path}")
        now = time.monotonic()
        if not force and now - self._last < PROGRESS_SECONDS:
            return
        self._last = now
        done, wanted = settled_count(self._database, self._expectation)
        self.say(f"[chaos {now - self.started:5.0f} s] published {self._published}; settled {done}/{wanted}; "
                 f"kills {self._pool.kills}; exits {len(self._pool.exits)}")


def _say_exits(say: Say, pool: ConsumerPool) -> None:
    for ended in pool.exits:
        say(f"[chaos] consumer {ended.slot}.{ended.generation} exited by itself with {ended.returncode}; "
            f"log {ended.log_path}")
    if pool.stubborn:
        say(f"[chaos] {pool.stubborn} consumers ignored SIGTERM for 60 s and were killed")


def _json(document: Any) -> str:
    return json.dumps(document, indent=1)


def _stop_on_sigterm() -> None:
    def handler(signum: int, _frame: object) -> None:
        raise SystemExit(128 + signum)

    signal.signal(signal.SIGTERM, handler)
    signal.signal(signal.SIGHUP, handler)


def main(argv: Sequence[str] | None = None) -> int:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s",
                        stream=sys.stderr)
    logging.getLogger("kafka").setLevel(logging.ERROR)
    _stop_on_sigterm()
    figures = execute(options.parse(argv), lambda line: print(line, flush=True))
    print("\n".join(figures.lines()), flush=True)
    return 0 if figures.passed else 1


if __name__ == "__main__":
    sys.exit(main())
