"""Two consumer processes in one group share the partitions: every build is exported
once, and both do part of the work."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from pathlib import Path

import pytest
from kafka import KafkaAdminClient

from consumer.emulator import Emulator
from tests.builders import event, line
from tests.pipeline import APP, Pipeline
from tests.test_end_to_end import JOURNAL_REALM, SYNCED_REALM, TENANTS, _seed

pytestmark = pytest.mark.broker

ROOT = Path(__file__).resolve().parent.parent


def test_two_processes_in_one_group_export_each_build_once(kafka_bootstrap, tmp_path):
    with Emulator(_seed()) as emulator:
        pipeline = Pipeline.start(kafka_bootstrap, emulator, tmp_path, TENANTS)
        env = {
            **{
                k: v
                for k, v in os.environ.items()
                if not k.startswith(("QBO_", "BUILD_EXPORT_"))
            },
            "KAFKA_BOOTSTRAP_SERVERS": kafka_bootstrap,
            "BUILD_EXPORT_GROUP_ID": pipeline.config.group_id,
            "BUILD_EXPORT_DATABASE_URL": pipeline.config.database_url,
            "BUILD_EXPORT_TOKEN_KEY": pipeline.config.token_key,
            "QBO_CLIENT_ID": APP["client_id"],
            "QBO_CLIENT_SECRET": APP["client_secret"],
            "QBO_ENVIRONMENT": emulator.discovery_url,
            "QBO_API_URL": emulator.api_url,
            **{
                f"BUILD_EXPORT_TOPIC_{role.upper()}": topic
                for role, topic in vars(pipeline.config.topics).items()
            },
        }
        builds = [
            event(
                tenant_id="synced-co",
                components=[line("c", "1", "2", "11")],
                finished_good=line("f", "1", "0", "20"),
            )
            if n % 2
            else event(tenant_id="journal-co", components=[line("c", "1", "2", None)])
            for n in range(200)
        ]
        consumers = [
            subprocess.Popen(
                [sys.executable, "-m", "consumer.cli", "run", "--until-idle", "6"],
                env=env,
                cwd=ROOT,
                stderr=subprocess.PIPE,
                text=True,
            )
            for _ in range(2)
        ]
        try:
            _wait_for_members(kafka_bootstrap, pipeline.config.group_id, 2)
            pipeline.publish(builds)
            logs = [c.communicate(timeout=120)[1] for c in consumers]
        finally:
            for c in consumers:
                c.kill() if c.poll() is None else None

        assert [c.returncode for c in consumers] == [0, 0], logs
        handled = [
            int(re.search(r"consumer stopped after (\d+) messages", log).group(1))
            for log in logs
        ]
        assert sum(handled) == 200 and min(handled) > 0, handled
        ledger = pipeline.transactions(SYNCED_REALM) + pipeline.transactions(
            JOURNAL_REALM
        )
        notes = sorted(t["body"]["PrivateNote"].rsplit(" ", 1)[-1] for t in ledger)
        assert notes == sorted(b["build_id"] for b in builds)
        assert pipeline.settled([b["build_id"] for b in builds])


def _wait_for_members(
    servers: str, group: str, count: int, timeout: float = 60
) -> None:
    """Until ``count`` members of ``group`` hold partitions, so the work is shared."""
    admin = KafkaAdminClient(bootstrap_servers=servers)
    try:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            description = admin.describe_groups([group])[group]
            state = description.get("group_state") or description.get("state")
            if state == "Stable" and len(description.get("members", [])) >= count:
                return
            time.sleep(0.5)
        raise AssertionError(f"{count} members never joined {group}")
    finally:
        admin.close()
