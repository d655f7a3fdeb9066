"""A company's worth of builds against QuickBooks' real limits: no 429 of our making."""

from __future__ import annotations

import os
import time

import pytest

from consumer.emulator import Emulator
from tests.builders import event, line
from tests.pipeline import Pipeline
from tests.test_end_to_end import SYNCED_REALM, TENANTS, _seed

pytestmark = pytest.mark.broker

BUILDS = int(os.environ.get("THROUGHPUT_BUILDS", "2000"))


def test_two_thousand_builds_for_one_company_cause_no_throttling(
    kafka_bootstrap, tmp_path, capsys
):
    with Emulator(
        _seed()
    ) as emulator:  # QuickBooks' limits: 10/s, 500/min, 40 batches/min
        pipeline = Pipeline.start(kafka_bootstrap, emulator, tmp_path, TENANTS)
        builds = [
            event(
                tenant_id="synced-co",
                components=[line("c", "1", "2", "11"), line("d", "0.5", "3", "12")],
                finished_good=line("fg", "1", "0", "20"),
                build_number=f"B-{n}",
            )
            for n in range(BUILDS)
        ]
        pipeline.publish(builds)

        started = time.monotonic()
        pipeline.run_until_settled([b["build_id"] for b in builds], timeout=600)
        elapsed = time.monotonic() - started

        stats = emulator.stats(SYNCED_REALM)
        rows = pipeline.store.exports([b["build_id"] for b in builds])
        assert [r.state for r in rows].count("SYNCED") == BUILDS
        assert len(pipeline.transactions(SYNCED_REALM)) == BUILDS
        assert stats["throttled"] == 0
        with capsys.disabled():
            print(
                f"\n[throughput] {BUILDS} builds for one company in {elapsed:.1f} s = "
                f"{BUILDS / elapsed * 60:.0f} builds/min; {stats['requests']} requests "
                f"({stats['batches']} batches), {stats['throttled']} answered 429"
            )
