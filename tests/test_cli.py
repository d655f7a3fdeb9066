"""The ``build-export`` command as an operator uses it: real processes, real broker,
the emulator over HTTP; bad input and configuration end with exit code 2 and a
message."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from cryptography.fernet import Fernet

from consumer.emulator import Emulator
from tests.builders import event, line
from tests.pipeline import APP

REALM = "4620816365000077"


def cli(
    *args: str, env: dict[str, str], timeout: float = 120
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "consumer.cli", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
        cwd=Path(__file__).resolve().parent.parent,
    )


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    values = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("QBO_", "BUILD_EXPORT_"))
    }
    values.update(
        {
            "PARTSEMBLE_HOME": str(tmp_path),
            "BUILD_EXPORT_DATABASE_URL": f"sqlite:///{tmp_path / 'cli.db'}",
            "BUILD_EXPORT_TOKEN_KEY": Fernet.generate_key().decode(),
        }
    )
    return values


def write(path: Path, content: object) -> Path:
    path.write_text(content if isinstance(content, str) else json.dumps(content))
    return path


TENANTS = {
    "tenants": [
        {
            "tenant_id": "cli-co",
            "realm_id": REALM,
            "inventory_mode": "PARTSEMBLE_ONLY",
            "build_debit_account_id": "90",
            "build_credit_account_id": "91",
            "connection": {"refresh_token": "RT-cli-initial"},
        }
    ]
}


@pytest.mark.parametrize(
    ("document", "message"),
    [
        ("{not json", "is not valid JSON"),
        ({"companies": []}, 'expected {"tenants"'),
        (
            {
                "tenants": [
                    {"tenant_id": "x", "realm_id": "1", "inventory_mode": "SOMETIMES"}
                ]
            },
            "is not one of SYNCED",
        ),
        (
            {
                "tenants": [
                    {
                        "tenant_id": "x",
                        "realm_id": "1",
                        "inventory_mode": "SYNCED",
                        "timezone": "Mars/Base",
                    }
                ]
            },
            "not an IANA time zone",
        ),
        (
            {
                "tenants": [
                    {
                        "tenant_id": "x",
                        "realm_id": "1",
                        "inventory_mode": "SYNCED",
                        "cogs": "80",
                    }
                ]
            },
            "unknown setting(s) cogs",
        ),
    ],
)
def test_bad_tenants_file_exits_2_with_what_to_change(tmp_path, env, document, message):
    result = cli("tenants", "load", str(write(tmp_path / "t.json", document)), env=env)
    assert result.returncode == 2
    assert message in result.stderr
    assert "Traceback" not in result.stderr


def test_tenants_load_and_list(tmp_path, env):
    loaded = cli("tenants", "load", str(write(tmp_path / "t.json", TENANTS)), env=env)
    assert loaded.returncode == 0, loaded.stderr
    listed = cli("tenants", "list", "--json", env=env)
    assert json.loads(listed.stdout) == [
        {
            "tenant": "cli-co",
            "realm": REALM,
            "inventory_mode": "PARTSEMBLE_ONLY",
            "export_mode": "AUTO",
            "connection": "CONNECTED",
        }
    ]
    assert "RT-cli-initial" not in listed.stdout + listed.stderr


def test_run_without_quickbooks_settings_exits_2(env):
    result = cli("run", "--until-idle", "1", env=env)
    assert result.returncode == 2
    assert "set QBO_CLIENT_ID, QBO_CLIENT_SECRET and QBO_ENVIRONMENT" in result.stderr


def test_run_without_a_broker_exits_2(env):
    env.update(
        {
            "KAFKA_BOOTSTRAP_SERVERS": "127.0.0.1:9",
            "QBO_CLIENT_ID": "a",
            "QBO_CLIENT_SECRET": "b",
            "QBO_ENVIRONMENT": "http://127.0.0.1:9/discovery",
        }
    )
    result = cli("run", "--until-idle", "1", env=env)
    assert result.returncode == 2
    assert "no Kafka broker answers at 127.0.0.1:9" in result.stderr
    assert "Traceback" not in result.stderr


def test_produce_refuses_a_bad_line_and_publishes_nothing(tmp_path, env):
    good = json.dumps(event())
    bad = json.dumps({**event(), "status": "SHIPPED"})
    env["KAFKA_BOOTSTRAP_SERVERS"] = (
        "127.0.0.1:9"  # never reached: the file is checked first
    )
    result = cli(
        "produce", str(write(tmp_path / "e.jsonl", f"{good}\n{bad}\n")), env=env
    )
    assert result.returncode == 2
    assert (
        "e.jsonl:2: BuildStatusChanged.status: 'SHIPPED' is not one of" in result.stderr
    )


@pytest.mark.broker
def test_produce_then_run_until_idle_exports_the_build(
    tmp_path, env, kafka_bootstrap, topic_factory
):
    seed = {
        "apps": [APP],
        "companies": [
            {
                "realm_id": REALM,
                "name": "CLI Co",
                "inventory_tracking": False,
                "refresh_token": "RT-cli-initial",
                "accounts": [
                    {
                        "Id": "90",
                        "Name": "Finished Goods",
                        "AccountType": "Other Current Asset",
                    },
                    {
                        "Id": "91",
                        "Name": "Raw Materials",
                        "AccountType": "Other Current Asset",
                    },
                ],
                "items": [],
            }
        ],
    }
    with Emulator(seed) as emulator:
        env.update(
            {
                "KAFKA_BOOTSTRAP_SERVERS": kafka_bootstrap,
                "BUILD_EXPORT_TOPIC_BUILDS": topic_factory("cli-builds"),
                "BUILD_EXPORT_TOPIC_COMMANDS": topic_factory("cli-commands"),
                "BUILD_EXPORT_TOPIC_STATUS": topic_factory("cli-status"),
                "BUILD_EXPORT_TOPIC_DLT": topic_factory("cli-dlt"),
                "BUILD_EXPORT_GROUP_ID": f"cli-{tmp_path.name}",
                "QBO_CLIENT_ID": APP["client_id"],
                "QBO_CLIENT_SECRET": APP["client_secret"],
                "QBO_ENVIRONMENT": emulator.discovery_url,
                "QBO_API_URL": emulator.api_url,
            }
        )
        assert (
            cli(
                "tenants", "load", str(write(tmp_path / "t.json", TENANTS)), env=env
            ).returncode
            == 0
        )
        build = event(tenant_id="cli-co", components=[line("c1", "3", "2.50", None)])
        produced = cli(
            "produce",
            str(write(tmp_path / "e.jsonl", json.dumps(build) + "\n")),
            env=env,
        )
        assert produced.returncode == 0, produced.stderr
        assert "published 1 record(s)" in produced.stdout

        ran = cli("run", "--until-idle", "4", env=env)
        assert ran.returncode == 0, ran.stderr
        [txn] = emulator.ledger(REALM)["companies"][REALM]["transactions"]
        assert (
            txn["body"]["DocNumber"]
            == "PSB-" + build["build_id"].replace("-", "")[:8].upper()
        )
        assert [ln["Amount"] for ln in txn["body"]["Line"]] == [7.5, 7.5]
        # The log names the export, and never a secret.
        assert "exported PSB-" in ran.stderr
        for secret in (
            APP["client_secret"],
            "RT-cli-initial",
            env["BUILD_EXPORT_TOKEN_KEY"],
        ):
            assert secret not in ran.stderr


@pytest.mark.parametrize(
    ("variables", "message"),
    [
        ({"BUILD_EXPORT_TOPIC_BUILDS": "bad topic!"}, "is not a Kafka topic name"),
        (
            {"BUILD_EXPORT_TOPIC_DLT": "partsemble.builds.status-changed"},
            "must differ from the input topics",
        ),
        ({"BUILD_EXPORT_GROUP_ID": " "}, "BUILD_EXPORT_GROUP_ID is empty"),
        ({"KAFKA_LOCAL_PORT": "abc"}, "KAFKA_LOCAL_PORT='abc' must be a port number"),
        (
            {
                "QBO_TIMEOUT_SECONDS": "nan",
                "QBO_CLIENT_ID": "a",
                "QBO_CLIENT_SECRET": "b",
                "QBO_ENVIRONMENT": "production",
            },
            "QBO_TIMEOUT_SECONDS must be a positive number",
        ),
        (
            {
                "QBO_API_URL": "notaurl",
                "QBO_CLIENT_ID": "a",
                "QBO_CLIENT_SECRET": "b",
                "QBO_ENVIRONMENT": "production",
            },
            "QBO_API_URL='notaurl' must be a URL",
        ),
        ({"BUILD_EXPORT_RETRY_DELAYS": "1,inf"}, "BUILD_EXPORT_RETRY_DELAYS"),
    ],
)
def test_bad_settings_stop_every_command_with_exit_2(env, variables, message):
    env.update(variables)
    result = cli("tenants", "list", env=env)
    assert result.returncode == 2, result.stderr
    assert message in result.stderr
    assert "Traceback" not in result.stderr


def test_commands_without_an_action_show_their_help(env):
    result = cli("tenants", env=env)
    assert result.returncode == 2
    assert "load" in result.stderr and "new-key" in result.stderr
