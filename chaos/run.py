"""A fault-injection run of the whole export, ending with the independent checker.

    python -m chaos.run [--builds 5000] [--companies 20] [--consumers 2]
                        [--kill-every 3-6] [--broker-restart] [--seed N]
                        [--database-url URL]

A private Kafka broker and the QuickBooks emulator start in a fresh folder; companies
are seeded and loaded; K ``build-export run`` processes start in one consumer group.
Waves of build events are published while a killer SIGKILLs a random consumer every
few seconds and starts it again, one or two companies are throttled, and (with
``--broker-restart``) the broker restarts once mid-run.

Kills come in storms (``--storm``, ``--calm``, ``--work``; see ``chaos.weather``): a
SIGKILLed consumer holds up its whole group until its session times out, so kills
without pause would stop all consumption for as long as they go on (``--calm 0``).

The run waits until every expected export is settled (or ``--time-limit``), lets the
consumers drain their outbox, stops them with SIGTERM and prints the checker's figures
last. Exit 0 when the check passes. Everything listens on 127.0.0.1, and every process
started is stopped, also on failure.
"""

from __future__ import annotations

import atexit
import logging
import random
import signal
import sys
import time
from collections.abc import Sequence
from contextlib import ExitStack
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from chaos import broker as private_broker
from chaos import companies as company_data
from chaos import faults, options, publisher, scenario, stage
from chaos.checker import Sources, check
from chaos.consumers import ConsumerPool, Killer
from chaos.coverage import Coverage, CoverageProbe
from chaos.expected import Expectation, RunFacts
from chaos.figures import Figures
from chaos.malformed import RawMessage, make_malformed
from chaos.monitor import Monitor, Say, Watched
from chaos.options import Options
from chaos.reading import Database
from chaos.weather import StormPlan, Weather

log = logging.getLogger(__name__)


@dataclass
class Outcome:
    figures: Figures
    coverage: Coverage
    work_dir: Path

    def lines(self) -> list[str]:
        return [*self.coverage.lines(), *self.figures.lines()]


@dataclass
class _Plan:
    companies: list[company_data.Company]
    builds: list[scenario.PlannedBuild]
    malformed: list[RawMessage]
    expectation: Expectation


def execute(opts: Options, say: Say = print) -> Outcome:
    """Run the whole scenario; the checker's figures and what the kills caught."""
    work = _work_dir(opts)
    say(f"[chaos] seed {opts.seed}; everything of this run is in {work}")
    with ExitStack() as stack:
        atexit.register(stack.close)  # a last resort; the with block normally cleans up
        try:
            return _execute(opts, random.Random(opts.seed), work, stack, say)
        finally:
            atexit.unregister(stack.close)


def _execute(
    opts: Options, rng: random.Random, work: Path, stack: ExitStack, say: Say
) -> Outcome:
    started = time.monotonic()
    setup = stage.start_broker(work, opts.broker_port, opts.database_url, stack)
    say(
        f"[chaos] Kafka broker on {setup.broker.bootstrap} "
        f"({time.monotonic() - started:.0f} s)"
    )
    plan = _plan(opts, rng, setup)
    rates = dict(opts.error_rates)
    emulator = stage.start_emulator(work, plan.companies, rng, stack, rates)
    env = stage.consumer_env(setup, emulator)
    stage.load_tenants(work, plan.companies, env)

    probe = CoverageProbe(setup.database_url, [c.tenant_id for c in plan.companies])
    stack.callback(probe.close)
    pool = ConsumerPool(opts.consumers, env, work, before_kill=probe.before_kill)
    weather = Weather(StormPlan(opts.storm, opts.calm, opts.work, opts.storms))
    killer = _start_consumers(opts, rng, pool, weather, stack, say)
    database = Database(setup.database_url)
    stack.callback(database.close)
    watched = Watched(pool, weather, database, plan.expectation, emulator)
    monitor = Monitor(say, started, watched)

    restarts = _publish(opts, rng, setup, plan, monitor, weather)
    _wait_until_settled(opts, monitor)
    weather.end()
    say(f"[chaos] draining for {opts.drain_seconds:g} s, then SIGTERM to consumers")
    monitor.sleep(opts.drain_seconds)
    killer.stop()
    pool.stop_all()

    wall = round(time.monotonic() - started, 1)
    plan.expectation.run = RunFacts(pool.kills, len(pool.exits), restarts, wall)
    plan.expectation.save(setup.expected_path)
    _report_exits(say, pool)
    sources = Sources(
        emulator.ledger_url,
        setup.broker.bootstrap,
        setup.topics.status,
        setup.database_url,
        setup.topics.dlt,
    )
    say("[chaos] checking, as this would: " + _checker_command(sources, setup))
    return Outcome(check(sources, plan.expectation), probe.finish(), work)


def _work_dir(opts: Options) -> Path:
    default = private_broker.shared_home() / f"chaos-{datetime.now(UTC):%Y%m%d-%H%M%S}"
    work = (opts.work_dir or default).expanduser().resolve()
    work.mkdir(parents=True, exist_ok=True)
    return work


def _plan(opts: Options, rng: random.Random, setup: stage.Stage) -> _Plan:
    """The companies, builds and bad messages, and what must come of them."""
    companies = company_data.make_companies(opts.companies, rng, setup.tag)
    builds = scenario.plan_builds(companies, opts.builds, rng, datetime.now(UTC))
    template = dict(builds[0].events[0])
    malformed = make_malformed(opts.malformed_count, template, rng)
    realms = [c.realm_id for c in companies]
    expectation = Expectation([b.expected for b in builds], len(malformed), realms)
    expectation.save(setup.expected_path)
    return _Plan(companies, builds, malformed, expectation)


def _start_consumers(
    opts: Options,
    rng: random.Random,
    pool: ConsumerPool,
    weather: Weather,
    stack: ExitStack,
    say: Say,
) -> Killer:
    stack.callback(pool.stop_all)
    pool.start_all()
    rhythm = random.Random(rng.random())
    killer = Killer(pool, opts.kill_every, lambda: weather.storming, rhythm)
    stack.callback(killer.stop)  # stops before the pool does (last in, first out)
    killer.start()
    low, high = opts.kill_every
    say(
        f"[chaos] {opts.consumers} consumers; from the first wave on, storms of "
        f"{opts.storm:g} s kill one every {low:g}-{high:g} s; a calm lasts "
        f"{opts.calm:g} s and until exports were seen settling for {opts.work:g} s"
    )
    return killer


def _publish(
    opts: Options,
    rng: random.Random,
    setup: stage.Stage,
    plan: _Plan,
    monitor: Monitor,
    weather: Weather,
) -> int:
    """Publish every wave, throttling and restarting the broker as planned; returns the
    number of broker restarts."""
    waves = publisher.plan_waves(plan.builds, plan.malformed, opts.wave_count, rng)
    throttles = faults.plan_throttles(
        plan.companies,
        opts.wave_count,
        rng,
        opts.throttled_companies,
        opts.throttle_seconds,
    )
    restart_at = opts.wave_count // 2 if opts.broker_restart else None
    monitor.say(
        f"[chaos] {len(plan.builds)} builds, {len(plan.malformed)} malformed "
        f"messages, {waves.duplicates} duplicates, {waves.repeats} repeated "
        f"Pending Exports, in {opts.wave_count} waves"
    )

    restarts = published = 0
    for number, wave in enumerate(waves.waves):
        if number == restart_at:
            down = private_broker.restart_broker(setup.broker)
            restarts += 1
            monitor.say(f"[chaos] broker restarted (down {down:.1f} s)")
        for throttle in (t for t in throttles if t.at_wave == number):
            if number == 0:
                monitor.throttle_now(throttle)
            else:  # once exports of later waves are seen settling
                monitor.arm(throttle)
        published += publisher.publish(
            setup.broker.bootstrap, setup.topics.builds, wave
        )
        monitor.wave(number + 1, opts.wave_count, published)
        if number == 0:
            weather.begin()  # there is work in flight from now on
        if number + 1 < len(waves.waves):
            monitor.sleep(opts.wave_interval)
    return restarts


def _wait_until_settled(opts: Options, monitor: Monitor) -> None:
    while monitor.elapsed() < opts.time_limit:
        monitor.tick()
        if monitor.all_settled:
            monitor.say(
                f"[chaos {monitor.elapsed():5.0f} s] every expected export is settled"
            )
            break
        monitor.sleep(1.0)
    else:
        monitor.say(
            f"[chaos] time limit of {opts.time_limit:g} s reached with "
            "exports unsettled"
        )
    for throttle in monitor.unfired():
        monitor.say(
            f"[chaos] {throttle.tenant_id} was never throttled: no exports "
            "were seen settling after it was due"
        )


def _report_exits(say: Say, pool: ConsumerPool) -> None:
    for ended in pool.exits:
        say(
            f"[chaos] consumer {ended.slot}.{ended.generation} exited by itself "
            f"with {ended.returncode}; log {ended.log_path}"
        )
    if pool.stubborn:
        say(
            f"[chaos] {pool.stubborn} consumers ignored SIGTERM for 60 s "
            "and were killed"
        )


def _checker_command(sources: Sources, setup: stage.Stage) -> str:
    return (
        f"python -m chaos.checker --ledger-url {sources.ledger_url} "
        f"--bootstrap {sources.bootstrap} --status-topic {sources.status_topic} "
        f"--dlt-topic {sources.dlt_topic} --database-url {sources.database_url} "
        f"--expected {setup.expected_path}"
    )


def _stop_on_signals() -> None:
    def handler(signum: int, _frame: object) -> None:
        raise SystemExit(128 + signum)  # unwinds through the clean-up

    signal.signal(signal.SIGTERM, handler)
    signal.signal(signal.SIGHUP, handler)


def main(argv: Sequence[str] | None = None) -> int:
    logging.basicConfig(
        level=logging.INFO,
        stream=sys.stderr,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    logging.getLogger("kafka").setLevel(logging.ERROR)
    _stop_on_signals()
    outcome = execute(options.parse(argv), lambda line: print(line, flush=True))
    print("\n".join(outcome.lines()), flush=True)
    return 0 if outcome.figures.passed else 1


if __name__ == "__main__":
    sys.exit(main())
