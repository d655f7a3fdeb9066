"""Fixtures shared by the whole suite.

Tests that need Kafka take ``kafka_bootstrap``: one real broker per session, found in
this order: ``KAFKA_BOOTSTRAP_SERVERS`` if set, a Kafka container if a Docker engine
answers, else the project's ``LocalBroker`` on ``KAFKA_TEST_PORT`` (default 19192).
A missing broker fails the run; it never skips.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from kafka import KafkaAdminClient
from kafka.admin import NewTopic
from kafka.errors import KafkaError
from sqlalchemy import Engine, create_engine, text
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.pool import NullPool

from consumer.broker import BrokerError, LocalBroker
from consumer.store import mask_url

TEST_PORT = 19192
KAFKA_IMAGE = "confluentinc/cp-kafka:7.6.0"
TOPIC_READY_TIMEOUT_MS = 30_000


@pytest.fixture(scope="session")
def kafka_bootstrap() -> Iterator[str]:
    """``host:port`` of a real Kafka broker for this test session."""
    configured = os.environ.get("KAFKA_BOOTSTRAP_SERVERS")
    if configured:
        yield configured
    elif _docker_answers():
        yield from _kafka_container()
    else:
        yield from _local_broker()


@pytest.fixture
def topic_factory(kafka_bootstrap: str) -> Iterator[Callable[..., str]]:
    """``make(prefix, partitions=3)`` creates a uniquely named, ready topic."""
    admin = KafkaAdminClient(bootstrap_servers=kafka_bootstrap, client_id="tests")
    created: list[str] = []

    def make(prefix: str, partitions: int = 3) -> str:
        name = f"{prefix}-{uuid.uuid4().hex[:12]}"
        admin.create_topics([NewTopic(name, partitions, replication_factor=1)])
        created.append(name)
        admin.wait_for_topics([name], timeout_ms=TOPIC_READY_TIMEOUT_MS)
        return name

    yield make

    try:
        if created:
            admin.delete_topics(created)
    except KafkaError:
        pass  # best effort: names are unique, a leftover topic harms no other test
    finally:
        admin.close()


@pytest.fixture
def unique_group() -> str:
    """A consumer group id no other test uses."""
    return f"test-group-{uuid.uuid4().hex[:12]}"


def _docker_answers() -> bool:
    """True if a Docker engine answers a ping within two seconds."""
    if not os.environ.get("DOCKER_HOST") and not Path("/var/run/docker.sock").exists():
        return False
    try:
        import docker

        return bool(docker.from_env(timeout=2).ping())
    except Exception:  # any failure here only means "no usable Docker"
        return False


def _kafka_container() -> Iterator[str]:
    from testcontainers.community.kafka import KafkaContainer

    container = KafkaContainer(KAFKA_IMAGE).with_kraft()
    try:
        container.start()
        failure = ""
    except Exception as exc:
        failure = f"Docker answered but the Kafka container did not start: {exc}"
    # Failed outside the except block, so the report shows the reason alone.
    if failure:
        pytest.fail(failure, pytrace=False)
    try:
        yield container.get_bootstrap_server()
    finally:
        container.stop()


def _local_broker() -> Iterator[str]:
    try:
        broker = LocalBroker.from_env("KAFKA_TEST_PORT", TEST_PORT)
        # Another session may have started it; then that session stops it.
        started_here = broker.status()["pid"] is None
        bootstrap = broker.start()
        failure = ""
    except BrokerError as exc:
        failure = f"No Kafka broker for the tests: {exc}"
    if failure:
        pytest.fail(failure, pytrace=False)
    try:
        yield bootstrap
    finally:
        if started_here:
            broker.stop()


# -- databases ------------------------------------------------------------------------
#
# Tests that take ``database_url`` run twice: on a SQLite file and on PostgreSQL, the
# production database. `make test` starts a local PostgreSQL server
# (deploy/postgres/start.sh) and names it in BUILD_EXPORT_TEST_POSTGRES_URL; each test
# gets a database of its own there, dropped afterwards. A server that does not answer
# fails those tests; without the variable they fail under CI and skip elsewhere.

POSTGRES_URL_VARIABLE = "BUILD_EXPORT_TEST_POSTGRES_URL"


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "postgresql: runs on the PostgreSQL server that `make test` starts"
    )


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[Engine]:
    """An engine on the tests' PostgreSQL server, to create and drop databases with."""
    url = os.environ.get(POSTGRES_URL_VARIABLE)
    if not url:
        reason = (
            f"{POSTGRES_URL_VARIABLE} is not set: `make test` starts PostgreSQL and "
            "sets it"
        )
        if os.environ.get("CI", "").lower() in ("true", "1"):
            pytest.fail(reason, pytrace=False)
        pytest.skip(reason)

    engine = create_engine(url, isolation_level="AUTOCOMMIT", poolclass=NullPool)
    try:
        with engine.connect() as connection:
            connection.execute(text("SELECT 1"))
        failure = ""
    except SQLAlchemyError as exc:
        cause = getattr(exc, "orig", None) or exc
        failure = f"PostgreSQL at {mask_url(url)} does not answer: {cause}"
    # Failed outside the except block, so the report shows the reason alone.
    if failure:
        pytest.fail(failure, pytrace=False)
    yield engine
    engine.dispose()


@pytest.fixture(
    params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgresql)]
)
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """The URL of an empty database: a SQLite file, or a new PostgreSQL database."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'export.db'}"
        return

    server: Engine = request.getfixturevalue("postgres_server")
    name = f"test_{uuid.uuid4().hex[:16]}"
    with server.connect() as connection:
        connection.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield server.url.set(database=name).render_as_string(hide_password=False)
    finally:
        with server.connect() as connection:
            # FORCE ends the connections the test's engines still hold in their pools.
            connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


# -- the QuickBooks emulator ----------------------------------------------------------


@pytest.fixture(scope="module")
def plain_http_allowed() -> Iterator[None]:
    """Lets the QuickBooks client talk to the in-process emulator over ``http://``.

    requests-oauthlib refuses plain HTTP unless told the transport is trusted. Modules
    that talk to the emulator ask for this with ``pytest.mark.usefixtures``.
    """
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("OAUTHLIB_INSECURE_TRANSPORT", "1")
        yield
