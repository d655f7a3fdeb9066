"""Errors of the build export service, named by what the caller should do.

    ExportServiceError          root of everything this service raises
    ├── ConfigurationError      bad settings: stop the command, say what to change
    ├── InvalidInput            an event that can never be processed: dead-letter it
    │   ├── UndecodableMessage  bytes that are not a framed Avro record we know
    │   ├── InvalidEvent        a decoded record that breaks a rule of the domain
    │   └── CommandRefused      a command that does not apply to the build's export
    └── ExportFailure           an export that did not reach the books
        ├── NeedsPerson         a person must fix something (account, link, connection)
        ├── RetryLater          transient trouble that outlasted the in-call retries
        │   └── Throttled       QuickBooks asked this company to wait
        └── Rejected            QuickBooks refused the transaction for another reason

Third-party errors (Avro, HTTP, QuickBooks faults, SQL) are mapped into these where they
are raised, with ``raise ... from exc``.
"""

from __future__ import annotations


class ExportServiceError(Exception):
    """Root of the service's errors."""


class ConfigurationError(ExportServiceError):
    """Configuration is missing or wrong; the message says what to change."""


class InvalidInput(ExportServiceError):
    """Input that can never be processed; it belongs on the dead-letter topic."""

    stage = "validate"

    @property
    def code(self) -> str:
        return self.stage.upper()


class UndecodableMessage(InvalidInput):
    """The bytes are not an Avro record framed with a schema this service knows."""

    stage = "decode"


class InvalidEvent(InvalidInput):
    """A decoded record that is impossible in the domain."""


class CommandRefused(InvalidInput):
    """An export command that does not apply: unknown build, synced, or not failed."""

    stage = "command"

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self._code = code

    @property
    def code(self) -> str:
        return self._code


class ExportFailure(ExportServiceError):
    """An export that did not reach the books.

    ``code`` is stable and machine-readable; ``message`` is for the person who fixes it.
    """

    retryable = False

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


class NeedsPerson(ExportFailure):
    """Something only a person can fix: a setting, a link, a connection."""


class RetryLater(ExportFailure):
    """Transient trouble (throttling, timeouts, 5xx errors) that outlasted retries."""

    retryable = True


class Throttled(RetryLater):
    """QuickBooks throttled this company; its exports wait, the others go on."""

    def __init__(self, retry_after: float) -> None:
        super().__init__(
            "QB_3001",
            "QuickBooks is throttling this company "
            f"(asked to wait {retry_after:.0f} s).",
        )
        self.retry_after = retry_after


class Rejected(ExportFailure):
    """QuickBooks refused the transaction; its message is passed on verbatim."""
