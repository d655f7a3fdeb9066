"""Trouble a test injects into a company's API: a fault reply, or no reply at all.

Either kind can be ``applied``: the request takes effect first and only its answer is
lost, the case where a client cannot know whether its write happened.

A timeout keeps the connection open for longer than the company's ``timeout_seconds``
and then closes it without a word. A client whose read timeout is at most
``timeout_seconds`` gives up first and sees a timeout; a client that waits longer sees
the connection dropped. Either way no answer ever arrives, as when a gateway in front
of QuickBooks gives up on a slow request.
"""

from __future__ import annotations

from dataclasses import dataclass
from http import HTTPStatus

from consumer.emulator import faults
from consumer.emulator.wire import Reply

_KNOWN_CODES = {
    "3001": (
        faults.THROTTLE_MESSAGE,
        "The request limit for this company was reached; wait before sending more",
    ),
    "3100": (
        "message=ApplicationAuthorizationFailed; errorCode=003100; statusCode=403",
        "The application is not authorized to access this company",
    ),
    "5010": (
        "Stale Object Error",
        "Stale Object Error : the object was changed by someone else in the meantime",
    ),
    "6000": (
        faults.BUSINESS_MESSAGE,
        "Business Validation Error: injected by the emulator",
    ),
    "6140": (
        "Duplicate Document Number Error",
        "Duplicate Document Number Error : this number has already been used",
    ),
    "6190": (
        "Invalid Company Status",
        "The subscription of this company has ended or has a billing problem",
    ),
    "10000": (
        "An application error has occurred while processing your request",
        "System Failure Error: an unexpected error occurred inside QuickBooks",
    ),
}


@dataclass(frozen=True)
class InjectedFault:
    """A fault reply: JSON, an HTML page or XML, with any HTTP status (200 too)."""

    status: int
    kind: str  # json, html or xml
    code: str
    applied: bool = False
    retry_after: int | None = None

    def reply(self) -> Reply:
        if self.kind == "html":
            return faults.html_page(self.status, HTTPStatus(self.status).phrase)

        message, detail = _KNOWN_CODES.get(
            self.code,
            ("A fault injected by the emulator", f"Injected fault {self.code}"),
        )
        if self.kind == "xml":
            reply = faults.xml_fault(self.status, self.code, message, detail)
        elif self.status == 401:
            reply = faults.authentication("Token expired: injected by the emulator")
        else:
            fault_type = {"3001": "SERVICE", "10000": "SystemFault"}.get(
                self.code, "ValidationFault"
            )
            reply = faults.Fault(
                self.code, message, detail, status=self.status, fault_type=fault_type
            ).reply()

        if self.retry_after is None:
            return reply
        headers = (*reply.headers, ("Retry-After", str(self.retry_after)))
        return Reply(reply.status, reply.body, reply.content_type, headers)


@dataclass(frozen=True)
class InjectedTimeout:
    """No reply: the connection is held past the client's patience, then closed."""

    applied: bool = False


Injected = InjectedFault | InjectedTimeout


def hold_seconds(timeout_seconds: float) -> float:
    """How long a timed-out request keeps its connection: a little past the timeout."""
    return timeout_seconds + max(0.1, timeout_seconds / 10)
