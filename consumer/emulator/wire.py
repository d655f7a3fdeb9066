"""What travels between the HTTP layer and the emulator's logic."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from consumer.emulator.encoding import dumps


@dataclass(frozen=True)
class Request:
    method: str
    path: str
    query: Mapping[str, str]
    headers: Mapping[str, str]  # keys in lower case
    body: bytes
    base_url: str  # how the client reached this server, e.g. http://127.0.0.1:8123


@dataclass(frozen=True)
class Reply:
    status: int
    body: bytes
    content_type: str = "application/json"
    headers: tuple[tuple[str, str], ...] = field(default=())


@dataclass(frozen=True)
class Hangup:
    """No reply: the server closes the connection without a word."""


HANGUP = Hangup()


def json_reply(
    status: int, payload: Any, headers: tuple[tuple[str, str], ...] = ()
) -> Reply:
    return Reply(status, dumps(payload), "application/json", headers)


def error_reply(status: int, error: str, message: str) -> Reply:
    """A plain JSON error for the emulator's own endpoints (not a QuickBooks fault)."""
    return json_reply(status, {"error": error, "message": message})
