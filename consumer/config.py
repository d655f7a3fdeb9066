"""Configuration from environment variables, and optionally from a KEY=VALUE file.

Variables set in the environment win over the file (``BUILD_EXPORT_CONFIG`` or
``--config``). Secrets (the QuickBooks client secret, the token key, a database
password) are never printed: ``describe()`` masks them.
"""

from __future__ import annotations

import math
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from consumer.errors import ConfigurationError
from consumer.exporter import RetryPolicy
from consumer.quickbooks_client import QuickBooksApp
from consumer.store import mask_url

DEFAULT_TOPICS = {
    "builds": "partsemble.builds.status-changed",
    "commands": "partsemble.builds.export-commands",
    "status": "partsemble.builds.export-status",
    "dlt": "partsemble.builds.export-dlt",
    "settings": "partsemble.tenants.settings-changed",
}


@dataclass(frozen=True)
class Topics:
    builds: str = DEFAULT_TOPICS["builds"]
    commands: str = DEFAULT_TOPICS["commands"]
    status: str = DEFAULT_TOPICS["status"]
    dlt: str = DEFAULT_TOPICS["dlt"]
    settings: str = DEFAULT_TOPICS["settings"]

    @classmethod
    def with_prefix(cls, prefix: str) -> Topics:
        return cls(
            **{name: f"{prefix}{topic}" for name, topic in DEFAULT_TOPICS.items()}
        )


@dataclass(frozen=True)
class Config:
    bootstrap_servers: str | None
    group_id: str
    topics: Topics
    database_url: str
    token_key: str
    home: Path
    quickbooks: QuickBooksApp | None
    retry_policy: RetryPolicy = RetryPolicy()
    # A stable name for this process in its group (e.g. the pod's name): a restarted
    # process takes its partitions straight back, without a rebalance.
    instance_id: str | None = None

    def require_quickbooks(self) -> QuickBooksApp:
        if self.quickbooks is None:
            raise ConfigurationError(
                "QuickBooks is not configured: set QBO_CLIENT_ID, QBO_CLIENT_SECRET "
                "and QBO_ENVIRONMENT (production, sandbox, or the discovery document "
                "URL of a QuickBooks emulator), and QBO_API_URL when using an emulator."
            )
        return self.quickbooks

    def describe(self) -> dict[str, str]:
        return {
            "kafka": self.bootstrap_servers or "",
            "group": self.group_id,
            "topics": ", ".join(vars(self.topics).values()),
            "database": mask_url(self.database_url),
            "quickbooks": self.quickbooks.environment
            if self.quickbooks
            else "(not configured)",
        }


_TOPIC = re.compile(r"^[A-Za-z0-9._-]{1,249}$")


def _check_topics(topics: Topics) -> None:
    names = vars(topics)
    for role, name in names.items():
        if not _TOPIC.match(name):
            raise ConfigurationError(
                f"BUILD_EXPORT_TOPIC_{role.upper()}={name!r} is not a Kafka topic name "
                "(letters, digits, '.', '_' and '-', at most 249)"
            )
    inputs = {topics.builds, topics.commands, topics.settings}
    for role in ("status", "dlt"):
        if names[role] in inputs:
            raise ConfigurationError(
                f"BUILD_EXPORT_TOPIC_{role.upper()} must differ from the input topics "
                "(builds, commands, settings), or the service would read its own output"
            )


def home_dir(env: Mapping[str, str] | None = None) -> Path:
    env = os.environ if env is None else env
    return Path(
        env.get("PARTSEMBLE_HOME") or Path.home() / ".cache" / "partsemble-build-export"
    )


def load(config_file: str | None = None, env: dict[str, str] | None = None) -> Config:
    values = dict(_read_file(config_file or os.environ.get("BUILD_EXPORT_CONFIG")))
    values.update(os.environ if env is None else env)
    home = home_dir(values)
    topics = Topics(
        builds=values.get("BUILD_EXPORT_TOPIC_BUILDS") or DEFAULT_TOPICS["builds"],
        commands=values.get("BUILD_EXPORT_TOPIC_COMMANDS")
        or DEFAULT_TOPICS["commands"],
        status=values.get("BUILD_EXPORT_TOPIC_STATUS") or DEFAULT_TOPICS["status"],
        dlt=values.get("BUILD_EXPORT_TOPIC_DLT") or DEFAULT_TOPICS["dlt"],
        settings=values.get("BUILD_EXPORT_TOPIC_SETTINGS")
        or DEFAULT_TOPICS["settings"],
    )
    _check_topics(topics)
    group_id = values.get("BUILD_EXPORT_GROUP_ID", "partsemble-build-export").strip()
    if not group_id:
        raise ConfigurationError(
            "BUILD_EXPORT_GROUP_ID is empty: name the consumer group"
        )
    local_port = values.get("KAFKA_LOCAL_PORT") or "19092"
    if not local_port.isdigit() or not 0 < int(local_port) < 65535:
        raise ConfigurationError(
            f"KAFKA_LOCAL_PORT={local_port!r} must be a port number"
        )

    return Config(
        bootstrap_servers=values.get("KAFKA_BOOTSTRAP_SERVERS")
        or f"127.0.0.1:{int(local_port)}",
        group_id=group_id,
        topics=topics,
        database_url=values.get("BUILD_EXPORT_DATABASE_URL")
        or f"sqlite:///{home / 'build-export.db'}",
        token_key=values.get("BUILD_EXPORT_TOKEN_KEY") or _local_token_key(home),
        home=home,
        quickbooks=_quickbooks(values),
        retry_policy=_retry_policy(values.get("BUILD_EXPORT_RETRY_DELAYS")),
        instance_id=(values.get("BUILD_EXPORT_INSTANCE_ID") or "").strip() or None,
    )


def _retry_policy(text: str | None) -> RetryPolicy:
    if not text:
        return RetryPolicy()
    try:
        delays = tuple(float(part) for part in text.split(","))
    except ValueError:
        delays = ()
    if not delays or any(not math.isfinite(d) or d < 0 for d in delays):
        raise ConfigurationError(
            f"BUILD_EXPORT_RETRY_DELAYS={text!r}: give the seconds between scheduled "
            "retries, comma-separated, e.g. 30,120,600"
        )
    return RetryPolicy(delays)


def _quickbooks(values: dict[str, str]) -> QuickBooksApp | None:
    names = ("QBO_CLIENT_ID", "QBO_CLIENT_SECRET", "QBO_ENVIRONMENT")
    present = [n for n in names if values.get(n)]
    if not present:
        return None
    missing = [n for n in names if not values.get(n)]
    if missing:
        raise ConfigurationError(
            f"QuickBooks is half configured: also set {', '.join(missing)}."
        )

    environment = values["QBO_ENVIRONMENT"]
    api_url = values.get("QBO_API_URL") or None
    if api_url and not api_url.startswith(("http://", "https://")):
        raise ConfigurationError(f"QBO_API_URL={api_url!r} must be a URL ending in /v3")
    if environment not in ("production", "sandbox") and not environment.startswith(
        ("http://", "https://")
    ):
        raise ConfigurationError(
            f"QBO_ENVIRONMENT={environment!r} is not valid: use production, sandbox "
            "(lower case), or the URL of a discovery document."
        )
    timeout = _seconds(values, "QBO_TIMEOUT_SECONDS", 30)
    throttle_wait = _seconds(values, "QBO_THROTTLE_WAIT_SECONDS", 60)
    return QuickBooksApp(
        client_id=values["QBO_CLIENT_ID"],
        client_secret=values["QBO_CLIENT_SECRET"],
        environment=environment,
        api_url=api_url,
        timeout_seconds=timeout,
        throttle_wait_seconds=throttle_wait,
    )


def _seconds(values: dict[str, str], name: str, default: float) -> float:
    try:
        seconds = float(values.get(name) or default)
    except ValueError:
        seconds = -1
    if not math.isfinite(seconds) or seconds <= 0:
        raise ConfigurationError(f"{name} must be a positive number of seconds")
    return seconds


def _read_file(path: str | None) -> list[tuple[str, str]]:
    if not path:
        return []
    try:
        lines = Path(path).read_text().splitlines()
    except OSError as exc:
        raise ConfigurationError(
            f"cannot read configuration file {path}: {exc.strerror}"
        ) from exc
    pairs = []
    for number, line in enumerate(lines, 1):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        if "=" not in line:
            raise ConfigurationError(f"{path}:{number}: expected KEY=VALUE")
        key, value = line.split("=", 1)
        pairs.append((key.strip(), value.strip().strip('"').strip("'")))
    return pairs


def _local_token_key(home: Path) -> str:
    """A key kept beside the local database, for development and the demo.

    Production sets BUILD_EXPORT_TOKEN_KEY so the key never sits next to the data.
    """
    from cryptography.fernet import Fernet

    path = home / "token.key"
    if path.exists():
        return path.read_text().strip()
    try:
        home.mkdir(parents=True, exist_ok=True)
        key = Fernet.generate_key().decode()
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as handle:
            handle.write(key)
        return key
    except FileExistsError:
        return path.read_text().strip()
    except OSError as exc:
        raise ConfigurationError(
            f"cannot keep a token key in {home} ({exc.strerror}): set "
            "BUILD_EXPORT_TOKEN_KEY or PARTSEMBLE_HOME to a writable folder"
        ) from exc
