"""The QuickBooks emulator as a process of its own (``build-export emulator``), so it
outlives every consumer that is killed; and its admin endpoints over HTTP."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import time
from pathlib import Path
from typing import Any

import requests

from chaos.commands import LOOPBACK, build_export, child_env

HEALTH_TIMEOUT_SECONDS = 30
DISCOVERY_PATH = "/.well-known/openid_configuration"


class EmulatorProcess:
    def __init__(
        self, seed_path: Path, log_path: Path, port: int | None = None
    ) -> None:
        self.port = port or free_port()
        self.url = f"http://{LOOPBACK}:{self.port}"
        self._seed_path = seed_path
        self._log_path = log_path
        self._process: subprocess.Popen[bytes] | None = None
        self._http = requests.Session()
        self._http.trust_env = False  # no proxy between us and 127.0.0.1

    @property
    def discovery_url(self) -> str:
        return self.url + DISCOVERY_PATH

    @property
    def api_url(self) -> str:
        return self.url + "/v3"

    @property
    def ledger_url(self) -> str:
        return self.url + "/_emulator/ledger"

    def start(self) -> None:
        command = build_export(
            "--log-level",
            "WARNING",
            "emulator",
            "--host",
            LOOPBACK,
            "--port",
            str(self.port),
            "--seed",
            str(self._seed_path),
        )
        with self._log_path.open("ab") as log_file:
            self._process = subprocess.Popen(
                command,
                stdin=subprocess.DEVNULL,
                stdout=log_file,
                stderr=subprocess.STDOUT,
                env=child_env(os.environ, {}),
            )
        self._wait_healthy()

    def control(self, realm_id: str, controls: dict[str, Any]) -> dict[str, Any]:
        reply = self._http.post(
            f"{self.url}/_emulator/companies/{realm_id}/controls",
            json=controls,
            timeout=10,
        )
        reply.raise_for_status()
        result: dict[str, Any] = reply.json()
        return result

    def stop(self, timeout: float = 5) -> None:
        process, self._process = self._process, None
        if process is None or process.poll() is not None:
            return
        process.send_signal(signal.SIGINT)  # serve() ends cleanly on an interrupt
        try:
            process.wait(timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout)

    def _wait_healthy(self) -> None:
        deadline = time.monotonic() + HEALTH_TIMEOUT_SECONDS
        while time.monotonic() < deadline:
            assert self._process is not None
            if self._process.poll() is not None:
                raise RuntimeError(
                    f"the emulator exited at start; see {self._log_path}"
                )
            try:
                if self._http.get(f"{self.url}/_emulator/health", timeout=2).ok:
                    return
            except requests.RequestException:
                pass
            time.sleep(0.2)
        raise RuntimeError(
            f"the emulator did not answer within {HEALTH_TIMEOUT_SECONDS} s; "
            f"see {self._log_path}"
        )


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((LOOPBACK, 0))
        port: int = sock.getsockname()[1]
        return port
