"""Running the emulator: in-process for tests, or blocking for the command line."""

from __future__ import annotations

import logging
import threading
from pathlib import Path
from typing import Any

from consumer.emulator.controls import parse_controls
from consumer.emulator.errors import EmulatorError
from consumer.emulator.limits import QUICKBOOKS_LIMITS, RateLimits
from consumer.emulator.oauth import DISCOVERY_PATH
from consumer.emulator.seed import parse_seed, read_seed_file
from consumer.emulator.server import EmulatorHTTPServer
from consumer.emulator.state import EmulatorState

logger = logging.getLogger(__name__)

_ANY_ADDRESS = ("0.0.0.0", "")


class Emulator:
    """A QuickBooks Online emulator serving over HTTP from a daemon thread.

    >>> emulator = Emulator(seed)
    >>> emulator.start()          # 'http://127.0.0.1:54321'
    >>> emulator.ledger()["companies"]["9130350000000001"]["transactions"]
    >>> emulator.stats("9130350000000001")    # {"requests": 3, "throttled": 0, ...}
    >>> emulator.stop()

    Each company starts with ``rate_limits``, QuickBooks' own by default; pass
    ``RateLimits.off()`` or None for none, or change a company's with ``control``.
    """

    def __init__(
        self,
        seed: dict[str, Any] | None = None,
        *,
        access_token_ttl: float = 3600,
        rate_limits: RateLimits | None = QUICKBOOKS_LIMITS,
    ) -> None:
        if access_token_ttl <= 0:
            raise EmulatorError("access_token_ttl must be a positive number of seconds")
        self._state = EmulatorState(access_token_ttl, rate_limits or RateLimits.off())
        self._server: EmulatorHTTPServer | None = None
        self._thread: threading.Thread | None = None
        self._url: str | None = None
        if seed is not None:
            self.load_seed(seed)

    def start(self, host: str = "127.0.0.1", port: int = 0) -> str:
        """Start serving; port 0 picks a free one. Returns the base URL."""
        if self._server is not None:
            raise EmulatorError(f"the emulator is already serving at {self._url}")
        self._server = _bind(host, port, self._state)
        bound_port = self._server.server_address[1]
        self._url = (
            f"http://{'127.0.0.1' if host in _ANY_ADDRESS else host}:{bound_port}"
        )
        self._thread = threading.Thread(
            target=self._server.serve_forever,
            kwargs={"poll_interval": 0.1},
            name=f"qbo-emulator-{bound_port}",
            daemon=True,
        )
        self._thread.start()
        return self._url

    def stop(self) -> None:
        if self._server is None:
            return
        self._server.shutdown()
        self._server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)
        self._server = self._thread = self._url = None

    @property
    def url(self) -> str:
        if self._url is None:
            raise EmulatorError("the emulator is not serving; call start() first")
        return self._url

    @property
    def discovery_url(self) -> str:
        return self.url + DISCOVERY_PATH

    @property
    def api_url(self) -> str:
        return self.url + "/v3"

    def load_seed(self, seed: dict[str, Any]) -> list[str]:
        """Add or replace companies (a replaced one gets a fresh ledger and tokens)."""
        return self._state.load_seed(parse_seed(seed))

    def ledger(self, realm: str | None = None) -> dict[str, Any]:
        """``{"companies": {realm: {"transactions": [...], "items": [...]}}}``."""
        return self._state.ledger(realm)

    def stats(self, realm: str) -> dict[str, int]:
        """``{"requests": n, "throttled": n, "batches": n}`` for one company.

        Requests and batches count every request its API received, the refused ones
        too; throttled counts every reply with HTTP 429, injected ones included.
        """
        return self._state.stats(realm)

    def control(self, realm: str, **controls: Any) -> dict[str, Any]:
        """Apply test controls to one company; see ``consumer.emulator.controls``."""
        return self._state.control(realm, parse_controls(controls))

    def __enter__(self) -> Emulator:
        if self._server is None:
            self.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self.stop()


def serve(
    host: str,
    port: int,
    seed_path: Path | None,
    rate_limits: RateLimits | None = QUICKBOOKS_LIMITS,
) -> None:
    """Serve until interrupted; a bad seed or unusable address raises EmulatorError."""
    state = EmulatorState(3600, rate_limits or RateLimits.off())
    if seed_path is not None:
        realms = state.load_seed(read_seed_file(seed_path))
        logger.info("Loaded %d companies from %s.", len(realms), seed_path)

    server = _bind(host, port, state)
    logger.info(
        "QuickBooks emulator listening on http://%s:%d.", host, server.server_address[1]
    )
    try:
        server.serve_forever(poll_interval=0.5)
    except KeyboardInterrupt:
        logger.info("QuickBooks emulator stopped.")
    finally:
        server.server_close()


def _bind(host: str, port: int, state: EmulatorState) -> EmulatorHTTPServer:
    try:
        return EmulatorHTTPServer((host, port), state)
    except OSError as exc:
        raise EmulatorError(
            f"cannot listen on {host}:{port}: {exc.strerror or exc}"
        ) from exc
