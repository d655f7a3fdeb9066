"""A local single-node Apache Kafka broker for development, tests and the demo.

It is the real broker, not a fake: Maven fetches the ``kafka_2.13`` jars once into a
cache outside the repository (``deploy/kafka/pom.xml`` names the version) and
``start()`` runs ``kafka.Kafka`` as a combined KRaft broker and controller that
listens on 127.0.0.1 only. The broker outlives the Python process that started it;
``stop()`` ends it, and a later ``start()`` on the same port reuses it.

Files under the home folder (``PARTSEMBLE_HOME``)::

    kafka-jars/<version>/*.jar      the classpath, shared by every port
    broker-<port>/server.properties written on every start
    broker-<port>/data/             topics and KRaft metadata, formatted once
    broker-<port>/broker.log        the broker's output (warnings and errors)
    broker-<port>/broker.pid

Every foreseeable failure (no java, no mvn, Maven failing, a busy port, a broker that
does not come up) raises ``BrokerError`` with a message that says what to do.
"""

from __future__ import annotations

import fcntl
import logging
import os
import shutil
import signal
import socket
import subprocess
import time
import xml.etree.ElementTree as ElementTree
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from kafka import KafkaAdminClient
from kafka.errors import KafkaError

from consumer.errors import ExportServiceError

log = logging.getLogger(__name__)

HOST = "127.0.0.1"
DEFAULT_PORT = 19092
DEFAULT_HOME = Path("~/.cache/partsemble-build-export")
POM = Path(__file__).resolve().parent.parent / "deploy" / "kafka" / "pom.xml"
LOG_CONFIG = POM.with_name("log4j2.properties")

MAVEN_TIMEOUT_S = 900
TOOL_TIMEOUT_S = 120
LOG_TAIL_LINES = 40


class BrokerError(ExportServiceError):
    """The local broker could not be fetched, started or reached."""


def kafka_version(pom: Path = POM) -> str:
    """The broker version that ``pom`` resolves (its ``kafka.version`` property)."""
    namespaces = {"m": "http://maven.apache.org/POM/4.0.0"}
    try:
        root = ElementTree.parse(pom).getroot()
    except (OSError, ElementTree.ParseError) as exc:
        raise BrokerError(f"Cannot read the Kafka version from {pom}: {exc}") from exc

    version = root.findtext("m:properties/m:kafka.version", namespaces=namespaces)
    if not version or not version.strip():
        raise BrokerError(f"{pom} has no <kafka.version> property.")
    return version.strip()


class LocalBroker:
    """One broker on ``port`` (controller on ``controller_port``, default port + 1)."""

    def __init__(
        self, home: Path, port: int = DEFAULT_PORT, controller_port: int | None = None
    ) -> None:
        # Absolute, since the broker runs in its own folder and reads these paths.
        self.home = Path(home).expanduser().resolve()
        self.port = port
        self.controller_port = port + 1 if controller_port is None else controller_port
        self.version = kafka_version()
        self.bootstrap = f"{HOST}:{port}"

        self.jars_dir = self.home / "kafka-jars" / self.version
        self.dir = self.home / f"broker-{port}"
        self.data_dir = self.dir / "data"
        self.config_path = self.dir / "server.properties"
        self.log_path = self.dir / "broker.log"
        self.pid_path = self.dir / "broker.pid"
        self._process: subprocess.Popen[bytes] | None = None

    @classmethod
    def from_env(
        cls, port_variable: str = "KAFKA_LOCAL_PORT", default_port: int = DEFAULT_PORT
    ) -> LocalBroker:
        """A broker in ``PARTSEMBLE_HOME`` on the port that ``port_variable`` names."""
        home = Path(os.environ.get("PARTSEMBLE_HOME") or DEFAULT_HOME)
        raw_port = os.environ.get(port_variable) or str(default_port)
        if not raw_port.isdigit() or not 0 < int(raw_port) < 65535:
            raise BrokerError(
                f"{port_variable}={raw_port!r} is not a port number; "
                f"set it to a free port below 65535, or unset it to use {default_port}."
            )
        return cls(home, int(raw_port))

    def start(self, timeout: float = 120) -> str:
        """Start the broker, or reuse ours already on the port; return its address.

        ``timeout`` bounds the wait for the broker to answer; the one-time jar fetch
        has a limit of its own.
        """
        try:
            self.dir.mkdir(parents=True, exist_ok=True)
            # One start at a time per port, so two test sessions share one broker.
            with _locked(self.dir / "start.lock"):
                pid = self._start_or_reuse(timeout)
        except OSError as exc:
            raise BrokerError(
                f"Cannot run the Kafka broker in {self.dir}: {exc}. "
                "Point PARTSEMBLE_HOME at a folder you can write to."
            ) from exc
        log.info("Kafka %s ready on %s (pid %d).", self.version, self.bootstrap, pid)
        return self.bootstrap

    def stop(self, timeout: float = 30) -> bool:
        """Stop our broker on this port; True if one was running."""
        pid = self._running_pid()
        if pid is None:
            return False
        self._terminate(pid, timeout)
        log.info("Stopped the Kafka broker on %s (pid %d).", self.bootstrap, pid)
        return True

    def status(self) -> dict[str, Any]:
        """running, pid, bootstrap, home and version of the broker on this port."""
        pid = self._running_pid()
        return {
            "running": pid is not None and _accepts(self.port),
            "pid": pid,
            "bootstrap": self.bootstrap,
            "home": str(self.home),
            "version": self.version,
        }

    def _running_pid(self) -> int | None:
        """The pid in our pid file if that process is still our broker."""
        try:
            pid = int(self.pid_path.read_text().strip())
        except (OSError, ValueError):
            return None
        return pid if self._alive(pid) else None

    def _start_or_reuse(self, timeout: float) -> int:
        pid = self._running_pid()
        if pid is not None:
            log.info("Reusing Kafka on %s (pid %d).", self.bootstrap, pid)
            self._wait_until_ready(pid, timeout)
            return pid

        self._check_ports_free()
        java = _require("java", "Install Java 17 or newer (openjdk-17-jre).")
        lib = self._fetch_jars()
        self._write_config()
        self._format_storage(java, lib)

        pid = self._launch(java, lib)
        try:
            self._wait_until_ready(pid, timeout)
        except BrokerError:
            self._terminate(pid, timeout=10)
            raise
        return pid

    def _alive(self, pid: int) -> bool:
        if self._process is not None and self._process.pid == pid:
            return self._process.poll() is None  # also reaps it once it has exited

        if not Path("/proc/self").is_dir():  # no procfs: trust the pid file
            return _signal(pid, 0)
        try:
            cmdline = Path("/proc", str(pid), "cmdline").read_bytes()
        except OSError:
            return False
        # A recycled pid runs something else; a zombie has an empty command line.
        return b"kafka.Kafka" in cmdline and bytes(self.config_path) in cmdline

    def _check_ports_free(self) -> None:
        for port in (self.port, self.controller_port):
            with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
                try:
                    sock.bind((HOST, port))
                except OSError as exc:
                    raise BrokerError(
                        f"Port {port} on {HOST} is in use by another program "
                        f"({exc.strerror}). Stop that program, or choose another "
                        "port (KAFKA_LOCAL_PORT for development, KAFKA_TEST_PORT "
                        "for tests; the controller takes the next port)."
                    ) from exc

    def _fetch_jars(self) -> Path:
        """The classpath folder, filled by Maven the first time."""
        marker = self.jars_dir / f"kafka_2.13-{self.version}.jar"
        if marker.is_file():
            return self.jars_dir

        mvn = _require("mvn", "Install Maven (apt-get install maven); it runs once.")
        staging = self.jars_dir.with_name(f"{self.version}.partial-{os.getpid()}")
        shutil.rmtree(staging, ignore_errors=True)
        log.info("Fetching the Kafka %s jars into %s.", self.version, self.jars_dir)
        command = [
            mvn, "-q", "-B", "-f", str(POM),
            "dependency:copy-dependencies", f"-DoutputDirectory={staging}",
        ]  # fmt: skip
        output = _run(
            command,
            MAVEN_TIMEOUT_S,
            f"Maven fetching the Kafka {self.version} jars",
            f"Check that Maven Central is reachable and that {POM} is valid.",
        )

        # The rename publishes a complete folder; a concurrent fetch may have won.
        try:
            staging.rename(self.jars_dir)
        except OSError:
            shutil.rmtree(staging, ignore_errors=True)
        if not marker.is_file():
            raise BrokerError(
                f"Maven finished but {marker} is missing; delete {self.jars_dir} "
                f"and start again.\n{_tail(output)}"
            )
        return self.jars_dir

    def _write_config(self) -> None:
        controller = f"{HOST}:{self.controller_port}"
        listeners = f"PLAINTEXT://{self.bootstrap},CONTROLLER://{controller}"
        protocols = "CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT"
        settings = {
            "process.roles": "broker,controller",
            "node.id": "1",
            "controller.quorum.bootstrap.servers": controller,
            "listeners": listeners,
            "advertised.listeners": listeners,
            "controller.listener.names": "CONTROLLER",
            "listener.security.protocol.map": protocols,
            "inter.broker.listener.name": "PLAINTEXT",
            "log.dirs": str(self.data_dir),
            "num.partitions": "3",
            "auto.create.topics.enable": "true",
            # A single node: every internal topic has one replica.
            "default.replication.factor": "1",
            "min.insync.replicas": "1",
            "offsets.topic.replication.factor": "1",
            "transaction.state.log.replication.factor": "1",
            "transaction.state.log.min.isr": "1",
            "share.coordinator.state.topic.replication.factor": "1",
            "share.coordinator.state.topic.min.isr": "1",
            "group.initial.rebalance.delay.ms": "0",
        }
        lines = [f"{key}={value}" for key, value in settings.items()]
        self.config_path.write_text("\n".join(lines) + "\n")

    def _format_storage(self, java: str, lib: Path) -> None:
        """Format the data folder once, as a standalone KRaft controller quorum."""
        if (self.data_dir / "meta.properties").is_file():
            return
        storage_tool = _java_command(java, lib, "kafka.tools.StorageTool")
        output = _run(
            [*storage_tool, "random-uuid"],
            TOOL_TIMEOUT_S,
            "Kafka's StorageTool creating a cluster id",
            "Check that `java` is Java 17 or newer.",
        )
        cluster_id = output.strip().splitlines()[-1]

        format_command = [
            *storage_tool, "format", "--standalone", "--ignore-formatted",
            "-t", cluster_id, "-c", str(self.config_path),
        ]  # fmt: skip
        _run(
            format_command,
            TOOL_TIMEOUT_S,
            f"Kafka's StorageTool formatting {self.data_dir}",
            f"Delete {self.data_dir} and start again.",
        )

    def _launch(self, java: str, lib: Path) -> int:
        command = _java_command(java, lib, "kafka.Kafka", str(self.config_path))
        with self.log_path.open("wb") as log_file:
            # A session of its own: the broker outlives us and ignores our Ctrl-C.
            self._process = subprocess.Popen(
                command,
                stdin=subprocess.DEVNULL,
                stdout=log_file,
                stderr=subprocess.STDOUT,
                cwd=self.dir,
                start_new_session=True,
            )
        self.pid_path.write_text(f"{self._process.pid}\n")
        log.info("Starting Kafka on %s (output in %s).", self.bootstrap, self.log_path)
        return self._process.pid

    def _wait_until_ready(self, pid: int, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while True:
            if not self._alive(pid):
                raise BrokerError(
                    f"The Kafka broker on {self.bootstrap} exited while starting. "
                    f"See {self.log_path}:\n{self._log_tail()}"
                )
            if _accepts(self.port) and self._answers_metadata():
                return
            if time.monotonic() > deadline:
                raise BrokerError(
                    f"The Kafka broker on {self.bootstrap} did not answer within "
                    f"{timeout:g} s. Try a longer timeout, or stop it and delete "
                    f"{self.dir} to start afresh. See {self.log_path}:\n"
                    f"{self._log_tail()}"
                )
            time.sleep(0.5)

    def _answers_metadata(self) -> bool:
        """True once the broker has registered and serves cluster metadata."""
        try:
            admin = KafkaAdminClient(
                bootstrap_servers=self.bootstrap,
                client_id="partsemble-local-broker-probe",
                request_timeout_ms=5000,
                bootstrap_timeout_ms=5000,
            )
        except KafkaError:
            return False
        try:
            return bool(admin.describe_cluster().get("brokers"))
        except KafkaError:
            return False
        finally:
            admin.close()

    def _terminate(self, pid: int, timeout: float) -> None:
        """SIGTERM (a clean shutdown), then SIGKILL after ``timeout`` seconds."""
        _signal(pid, signal.SIGTERM)
        if not self._exits(pid, timeout):
            log.warning("Kafka broker pid %d ignored SIGTERM; sending SIGKILL.", pid)
            _signal(pid, signal.SIGKILL)
            self._exits(pid, 10)
        self.pid_path.unlink(missing_ok=True)

    def _exits(self, pid: int, timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        while self._alive(pid):
            if time.monotonic() > deadline:
                return False
            time.sleep(0.1)
        return True

    def _log_tail(self) -> str:
        try:
            return _tail(self.log_path.read_text(errors="replace"))
        except OSError:
            return "(no broker.log yet)"


def _java_command(java: str, lib: Path, main_class: str, *args: str) -> list[str]:
    return [
        java, "-Xmx512m", f"-Dlog4j2.configurationFile={LOG_CONFIG}",
        "-cp", f"{lib}/*", main_class, *args,
    ]  # fmt: skip


def _require(program: str, advice: str) -> str:
    path = shutil.which(program)
    if path is None:
        raise BrokerError(f"The local Kafka broker needs `{program}` on PATH. {advice}")
    return path


def _run(command: list[str], timeout: float, what: str, advice: str = "") -> str:
    """Run a set-up command; its combined output, or BrokerError saying what failed."""
    try:
        result = subprocess.run(
            command, capture_output=True, text=True, timeout=timeout, check=False
        )
    except subprocess.TimeoutExpired as exc:
        raise BrokerError(f"{what} took longer than {timeout:g} s; try again.") from exc
    except OSError as exc:
        raise BrokerError(f"{what} could not run: {exc}") from exc

    output = result.stdout + result.stderr
    if result.returncode != 0:
        raise BrokerError(
            f"{what} failed (exit {result.returncode}). {advice} "
            f"Its output ends:\n{_tail(output)}"
        )
    return output


def _accepts(port: int) -> bool:
    try:
        with socket.create_connection((HOST, port), timeout=1):
            return True
    except OSError:
        return False


def _signal(pid: int, sig: int) -> bool:
    """Send ``sig``; False if the process is gone."""
    try:
        os.kill(pid, sig)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # it exists but is not ours to signal
    return True


def _tail(text: str, lines: int = LOG_TAIL_LINES) -> str:
    return "\n".join(text.rstrip().splitlines()[-lines:]) or "(no output)"


@contextmanager
def _locked(path: Path) -> Iterator[None]:
    with path.open("a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        yield
