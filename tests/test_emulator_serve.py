"""``serve``, what the ``build-export emulator`` command runs: seeds and addresses."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests

from consumer.emulator import EmulatorError, serve

SEED = {
    "apps": [{"client_id": "partsemble-demo", "client_secret": "demo-secret"}],
    "companies": [
        {
            "realm_id": "9130350000000001",
            "name": "Acme Widgets",
            "refresh_token": "RT-acme-initial",
            "accounts": [{"Id": "80", "Name": "Cost of Goods Sold"}],
        }
    ],
}


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


@pytest.mark.parametrize(
    ("content", "words"),
    [
        (None, "cannot read seed file"),
        ("{not json", "not valid JSON"),
        (json.dumps({"companies": [{"realm_id": "1"}]}), "refresh_token"),
    ],
    ids=["missing", "not-json", "incomplete"],
)
def test_bad_seed_file_is_an_emulator_error(
    tmp_path: Path, content: str | None, words: str
) -> None:
    seed_path = tmp_path / "seed.json"
    if content is not None:
        seed_path.write_text(content)

    with pytest.raises(EmulatorError, match=words) as refused:
        serve("127.0.0.1", free_port(), seed_path)

    assert str(seed_path) in str(refused.value)


def test_address_in_use_is_an_emulator_error() -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]

        with pytest.raises(EmulatorError, match="cannot listen"):
            serve("127.0.0.1", port, None)


def test_serve_answers_until_interrupted(tmp_path: Path) -> None:
    seed_path = tmp_path / "seed.json"
    seed_path.write_text(json.dumps(SEED))
    port = free_port()
    code = (
        "import sys; from pathlib import Path; from consumer.emulator import serve; "
        "serve('127.0.0.1', int(sys.argv[1]), Path(sys.argv[2]))"
    )
    process = subprocess.Popen(
        [sys.executable, "-c", code, str(port), str(seed_path)],
        cwd=Path(__file__).resolve().parents[1],
        env={**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1])},
    )
    try:
        ledger = _wait_for_ledger(f"http://127.0.0.1:{port}")
        process.send_signal(signal.SIGINT)
        exit_code = process.wait(timeout=10)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()

    assert ledger == {
        "companies": {
            "9130350000000001": {
                "transactions": [],
                "items": [],
                "stats": {"requests": 0, "throttled": 0, "batches": 0},
            }
        }
    }
    assert exit_code == 0


def _wait_for_ledger(url: str) -> object:
    deadline = time.monotonic() + 10
    while True:
        try:
            return requests.get(url + "/_emulator/ledger", timeout=1).json()
        except requests.ConnectionError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.05)
