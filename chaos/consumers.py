"""The consumer processes of a run (``build-export run``, one consumer group), and the
killer that SIGKILLs one of them every few seconds (in storms) and starts it again.

Each start of a slot writes its stderr to a log file of its own in the run's folder
(``consumer-<slot>.<generation>.log``). A consumer that ends without being killed is
started again too, and counted, with its exit code and log, as an exit.
"""

from __future__ import annotations

import logging
import random
import signal
import subprocess
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from chaos.commands import build_export

log = logging.getLogger(__name__)

RESTART_PAUSE_SECONDS = 0.3
# A consumer that ended by itself (no broker answering, say) starts again after this.
REVIVE_DELAY_SECONDS = 2.0


@dataclass
class Exit:
    slot: int
    generation: int
    returncode: int
    log_path: Path


@dataclass
class _Slot:
    number: int
    generation: int = 0
    process: subprocess.Popen[bytes] | None = None
    log_path: Path | None = None
    exited_at: float | None = None


@dataclass
class ConsumerPool:
    size: int
    env: dict[str, str]
    log_dir: Path
    kills: int = 0
    exits: list[Exit] = field(default_factory=list)
    stubborn: int = 0  # consumers that ignored SIGTERM at the end
    before_kill: Callable[[int], None] | None = None  # told the pid about to be killed
    _slots: list[_Slot] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def start_all(self) -> None:
        with self._lock:
            self._slots = [_Slot(n) for n in range(1, self.size + 1)]
            for slot in self._slots:
                self._start(slot)

    def kill_random(self, rng: random.Random) -> int | None:
        """SIGKILL one running consumer and start its slot again; returns the pid."""
        with self._lock:
            running = [s for s in self._slots if s.process and s.process.poll() is None]
            if not running:
                return None
            slot = rng.choice(running)
            assert slot.process is not None
            pid = slot.process.pid
            if self.before_kill is not None:
                self.before_kill(pid)
            slot.process.kill()
            slot.process.wait(10)
            self.kills += 1
            time.sleep(RESTART_PAUSE_SECONDS)
            self._start(slot)
            return pid

    def revive_exited(self) -> None:
        """Start again every consumer that ended by itself."""
        with self._lock:
            for slot in self._slots:
                if slot.process is None or slot.process.poll() is None:
                    continue
                if slot.exited_at is None:
                    assert slot.log_path is not None
                    slot.exited_at = time.monotonic()
                    self.exits.append(
                        Exit(
                            slot.number,
                            slot.generation,
                            slot.process.returncode,
                            slot.log_path,
                        )
                    )
                    log.warning(
                        "consumer %d.%d exited with %d (see %s)",
                        slot.number,
                        slot.generation,
                        slot.process.returncode,
                        slot.log_path,
                    )
                if time.monotonic() - slot.exited_at >= REVIVE_DELAY_SECONDS:
                    self._start(slot)

    def stop_all(self, timeout: float = 60) -> None:
        """SIGTERM every consumer; SIGKILL those still running after ``timeout``."""
        with self._lock:
            live = [
                s.process for s in self._slots if s.process and s.process.poll() is None
            ]
            for process in live:
                process.send_signal(signal.SIGTERM)
            deadline = time.monotonic() + timeout
            for process in live:
                try:
                    process.wait(max(0.1, deadline - time.monotonic()))
                except subprocess.TimeoutExpired:
                    self.stubborn += 1
                    process.kill()
                    process.wait(10)
            self._slots = []

    def log_paths(self) -> list[Path]:
        return sorted(self.log_dir.glob("consumer-*.log"))

    def _start(self, slot: _Slot) -> None:
        slot.generation += 1
        slot.exited_at = None
        slot.log_path = self.log_dir / f"consumer-{slot.number}.{slot.generation}.log"
        with slot.log_path.open("wb") as log_file:
            slot.process = subprocess.Popen(
                build_export("--log-level", "INFO", "run"),
                stdin=subprocess.DEVNULL,
                stdout=log_file,
                stderr=subprocess.STDOUT,
                # A stable name per slot: a restarted consumer takes its partitions
                # straight back instead of waiting for a rebalance.
                env={**self.env, "BUILD_EXPORT_INSTANCE_ID": f"consumer-{slot.number}"},
                start_new_session=True,  # a Ctrl-C of the run reaches the run alone
            )


class Killer(threading.Thread):
    """Kills a random consumer every ``interval`` seconds (drawn uniformly) while
    ``storming`` says so, and starts again consumers that ended by themselves, until
    stopped."""

    def __init__(
        self,
        pool: ConsumerPool,
        interval: tuple[float, float],
        storming: Callable[[], bool],
        rng: random.Random,
    ) -> None:
        super().__init__(name="chaos-killer", daemon=True)
        self._pool = pool
        self._interval = interval
        self._storming = storming
        self._rng = rng
        self._stopped = threading.Event()

    def stop(self) -> None:
        self._stopped.set()
        if self.is_alive():
            self.join(timeout=30)

    def run(self) -> None:
        next_kill = None
        while not self._stopped.wait(0.25):
            self._pool.revive_exited()
            if not self._storming():
                next_kill = None
            elif next_kill is None:
                next_kill = time.monotonic() + self._rng.uniform(*self._interval)
            elif time.monotonic() >= next_kill:
                pid = self._pool.kill_random(self._rng)
                log.info("killed consumer pid %s (kill %d)", pid, self._pool.kills)
                next_kill = time.monotonic() + self._rng.uniform(*self._interval)
