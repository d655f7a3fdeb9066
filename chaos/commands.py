"""How the run starts ``build-export`` processes: the command, and a clean environment.

Children inherit none of the caller's Kafka, QuickBooks, database or proxy settings:
everything they reach is named explicitly and lives on 127.0.0.1.
"""

from __future__ import annotations

import shutil
import sys
from collections.abc import Mapping
from pathlib import Path

_DROPPED_PREFIXES = ("BUILD_EXPORT_", "QBO_", "KAFKA_", "PARTSEMBLE_")
_DROPPED = {"http_proxy", "https_proxy", "all_proxy", "no_proxy"}
LOOPBACK = "127.0.0.1"


def build_export(*args: str) -> list[str]:
    """The ``build-export`` command of this interpreter's environment."""
    beside = Path(sys.executable).with_name("build-export")
    if beside.exists():
        return [str(beside), *args]
    found = shutil.which("build-export")
    if found:
        return [found, *args]
    return [sys.executable, "-m", "consumer.cli", *args]


def child_env(base: Mapping[str, str], settings: Mapping[str, str]) -> dict[str, str]:
    """``base`` without inherited service or proxy settings, plus ``settings``."""
    env = {
        name: value
        for name, value in base.items()
        if not name.startswith(_DROPPED_PREFIXES) and name.lower() not in _DROPPED
    }
    env["NO_PROXY"] = env["no_proxy"] = f"{LOOPBACK},localhost"
    # requests-oauthlib refuses plain http (the emulator) without it.
    env["OAUTHLIB_INSECURE_TRANSPORT"] = "1"
    env.update(settings)
    return env


def require_loopback(host: str, what: str) -> None:
    """Refuse any address but this machine's loopback."""
    if host not in (LOOPBACK, "localhost", "::1") and not host.startswith("127."):
        raise ValueError(
            f"{what} must be on 127.0.0.1 (this tool targets only local servers), "
            f"got {host!r}"
        )
