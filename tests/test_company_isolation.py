"""Through the real broker: one company throttled by QuickBooks for a minute waits on
its own, while another company's exports go through."""

from __future__ import annotations

import time

import pytest

from consumer.emulator import Emulator
from tests.builders import event, line
from tests.pipeline import Pipeline
from tests.test_end_to_end import JOURNAL_REALM, SYNCED_REALM, TENANTS, _seed

pytestmark = pytest.mark.broker


def test_a_throttled_company_does_not_delay_another(kafka_bootstrap, tmp_path, capsys):
    with Emulator(_seed()) as emulator:
        pipeline = Pipeline.start(kafka_bootstrap, emulator, tmp_path, TENANTS)
        emulator.control(SYNCED_REALM, throttle_for_seconds=60)
        throttled = [
            event(
                tenant_id="synced-co",
                components=[line("c", "1", "2", "11")],
                finished_good=line("fg", "1", "0", "20"),
            )
            for _ in range(5)
        ]
        flowing = [
            event(tenant_id="journal-co", components=[line("c", "1", "2", None)])
            for _ in range(40)
        ]
        pipeline.publish([*throttled, *flowing])

        started = time.monotonic()
        pipeline.run_until_settled([b["build_id"] for b in flowing], timeout=50)
        elapsed = time.monotonic() - started

        waiting = pipeline.store.exports([b["build_id"] for b in throttled])
        assert [r.state for r in waiting] == [
            "EXPORTING"
        ] * 5, "the throttled company waits"
        assert all(r.scheduled_retries == 0 for r in waiting), "waiting is not failing"
        assert len(pipeline.transactions(JOURNAL_REALM)) == 40
        assert pipeline.transactions(SYNCED_REALM) == []
        assert elapsed < 30, f"the other company took {elapsed:.1f} s"
        with capsys.disabled():
            print(
                "\n[isolation] 40 exports of an unthrottled company settled in "
                f"{elapsed:.1f} s while another company was throttled for 60 s"
            )
