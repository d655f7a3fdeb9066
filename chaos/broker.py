"""The run's own Kafka broker: ``LocalBroker`` in the run's folder, on a free port.

``LocalBroker`` keeps its jars in ``<home>/kafka-jars/<version>``. The run's home links
that folder to the shared cache (``PARTSEMBLE_HOME``, else
``~/.cache/partsemble-build-export``), so the jars Maven fetched once are reused and a
first fetch lands in the shared cache too.
"""

from __future__ import annotations

import logging
import os
import socket
import time
from pathlib import Path

from consumer.broker import DEFAULT_HOME, HOST, LocalBroker

log = logging.getLogger(__name__)

# Ports the project's other brokers use by default (19092, 19192) are never tried.
CANDIDATE_PORTS = (19392, 19592, 19692, 19792, 19892, 19992)


def shared_home() -> Path:
    return (
        Path(os.environ.get("PARTSEMBLE_HOME") or DEFAULT_HOME).expanduser().resolve()
    )


def link_jar_cache(home: Path) -> None:
    """Make ``home/kafka-jars`` the shared jar cache."""
    cache = shared_home() / "kafka-jars"
    cache.mkdir(parents=True, exist_ok=True)
    link = home / "kafka-jars"
    if not link.exists():
        link.symlink_to(cache, target_is_directory=True)


def free_port_pair(candidates: tuple[int, ...] = CANDIDATE_PORTS) -> int:
    """The first candidate port that is free on 127.0.0.1 together with the next one
    (the broker's controller)."""
    for port in candidates:
        if _free(port) and _free(port + 1):
            return port
    raise RuntimeError(
        f"no free port pair among {candidates} on {HOST}; pass --broker-port"
    )


def start_broker(home: Path, port: int) -> LocalBroker:
    link_jar_cache(home)
    broker = LocalBroker(home, port=port)
    broker.start()
    return broker


def restart_broker(broker: LocalBroker, pause_seconds: float = 3.0) -> float:
    """Stop the broker cleanly, leave it down a moment, start it on the same folder and
    port; returns the seconds it was down."""
    stopped_at = time.monotonic()
    broker.stop()
    time.sleep(pause_seconds)
    broker.start()
    return time.monotonic() - stopped_at


def _free(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        try:
            sock.bind((HOST, port))
        except OSError:
            return False
    return True
