"""Setting the stage of a run: its broker and topics, the emulator with the companies'
trouble, the companies loaded with ``build-export tenants load``, and the environment
the consumers run in. Every process started here is stopped by the run's ExitStack.
"""

from __future__ import annotations

import json
import os
import random
import subprocess
from contextlib import ExitStack
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from cryptography.fernet import Fernet

from chaos import broker as private_broker
from chaos import companies as company_data
from chaos import faults
from chaos.commands import build_export, child_env
from chaos.emulator import EmulatorProcess
from consumer.broker import LocalBroker
from consumer.config import Topics
from consumer.topics import ensure_topics

PARTITIONS = 6
# The consumers' QuickBooks timeouts and retry delays, short enough for a run.
SERVICE_SETTINGS = {
    "QBO_TIMEOUT_SECONDS": "2",
    "QBO_THROTTLE_WAIT_SECONDS": "2",
    "BUILD_EXPORT_RETRY_DELAYS": "1,2,4,8,16,30",
}


@dataclass
class Stage:
    """What the run has started and named."""

    work: Path
    tag: str  # names the run's topics, consumer group and companies
    broker: LocalBroker
    topics: Topics
    database_url: str
    expected_path: Path


def start_broker(
    work: Path, port: int | None, database_url: str | None, stack: ExitStack
) -> Stage:
    """The run's own broker, with its topics created at ``PARTITIONS`` partitions."""
    broker = private_broker.start_broker(work, port or private_broker.free_port_pair())
    stack.callback(broker.stop)

    tag = f"{datetime.now(UTC):%m%d%H%M%S}"
    topics = Topics.with_prefix(f"chaos-{tag}.")
    ensure_topics(broker.bootstrap, list(vars(topics).values()), partitions=PARTITIONS)
    database_url = database_url or f"sqlite:///{work / 'export.db'}"
    return Stage(work, tag, broker, topics, database_url, work / "expected.json")


def start_emulator(
    work: Path,
    companies: list[company_data.Company],
    rng: random.Random,
    stack: ExitStack,
    rates: dict[str, float] | None = None,
) -> EmulatorProcess:
    """The emulator, seeded with the companies, each serving its random trouble."""
    seed_path = work / "emulator-seed.json"
    seed_path.write_text(json.dumps(company_data.emulator_seed(companies), indent=1))
    emulator = EmulatorProcess(seed_path, work / "emulator.log")
    stack.callback(emulator.stop)
    emulator.start()
    for company in companies:
        emulator.control(company.realm_id, faults.trouble(rng, rates))
    return emulator


def consumer_env(stage: Stage, emulator: EmulatorProcess) -> dict[str, str]:
    topics = stage.topics
    return child_env(
        os.environ,
        {
            "KAFKA_BOOTSTRAP_SERVERS": stage.broker.bootstrap,
            "BUILD_EXPORT_GROUP_ID": f"chaos-{stage.tag}",
            "BUILD_EXPORT_TOPIC_BUILDS": topics.builds,
            "BUILD_EXPORT_TOPIC_COMMANDS": topics.commands,
            "BUILD_EXPORT_TOPIC_STATUS": topics.status,
            "BUILD_EXPORT_TOPIC_DLT": topics.dlt,
            "BUILD_EXPORT_TOPIC_SETTINGS": topics.settings,
            "BUILD_EXPORT_DATABASE_URL": stage.database_url,
            "BUILD_EXPORT_TOKEN_KEY": Fernet.generate_key().decode(),
            "QBO_CLIENT_ID": company_data.APP["client_id"],
            "QBO_CLIENT_SECRET": company_data.APP["client_secret"],
            "QBO_ENVIRONMENT": emulator.discovery_url,
            "QBO_API_URL": emulator.api_url,
            "PARTSEMBLE_HOME": str(stage.work),
            **SERVICE_SETTINGS,
        },
    )


def load_tenants(
    work: Path, companies: list[company_data.Company], env: dict[str, str]
) -> None:
    path = work / "tenants.json"
    path.write_text(json.dumps(company_data.tenants_document(companies), indent=1))
    command = build_export("tenants", "load", str(path))
    result = subprocess.run(
        command, env=env, capture_output=True, text=True, timeout=120, check=False
    )
    if result.returncode != 0:
        raise RuntimeError(
            f"build-export tenants load failed ({result.returncode}): "
            f"{result.stderr.strip()}"
        )
