"""The connection to one QuickBooks Online company, through python-quickbooks.

Every call runs under one policy: transient trouble is retried in the call (bounded in
attempts and in total time, well inside the consumer's poll interval), a 401 refreshes
the token once, and everything else becomes an ``ExportFailure`` that says what to do.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol, TypeVar

import requests
from intuitlib.client import AuthClient
from intuitlib.exceptions import AuthClientError
from quickbooks import QuickBooks
from quickbooks.exceptions import QuickbooksException
from tenacity import (
    Retrying,
    retry_if_exception_type,
    stop_after_attempt,
    stop_after_delay,
    wait_random_exponential,
)

from consumer.errors import NeedsPerson, Rejected, RetryLater
from consumer.faults import Action, Fault, classify

log = logging.getLogger(__name__)
T = TypeVar("T")

# Refresh a little before QuickBooks would refuse the access token.
_EXPIRY_MARGIN = timedelta(seconds=60)


@dataclass(frozen=True)
class QuickBooksApp:
    """The app's registration with Intuit, and where QuickBooks answers."""

    client_id: str
    client_secret: str = field(repr=False)
    environment: str  # "production", "sandbox", or a discovery document URL
    api_url: str | None = None  # base URL ending in /v3; None keeps the library's
    redirect_uri: str = "http://127.0.0.1/callback"
    minor_version: int = 75
    timeout_seconds: float = 30.0
    max_attempts: int = 4
    max_call_seconds: float = 20.0


@dataclass
class Tokens:
    refresh_token: str = field(repr=False)
    access_token: str | None = field(default=None, repr=False)
    access_expires_at: datetime | None = None

    def access_valid(self, now: datetime) -> bool:
        return bool(
            self.access_token
            and self.access_expires_at
            and now + _EXPIRY_MARGIN < self.access_expires_at
        )


class TokenStore(Protocol):
    def load_tokens(self, tenant_id: str) -> Tokens | None: ...

    def save_tokens(self, tenant_id: str, tokens: Tokens) -> None: ...

    def mark_connection(self, tenant_id: str, status: str) -> None: ...


class _Transient(Exception):
    def __init__(self, fault: Fault) -> None:
        super().__init__(fault.text)
        self.fault = fault


class _CallFailed(Exception):
    def __init__(self, fault: Fault) -> None:
        super().__init__(fault.text)
        self.fault = fault


class ExportClient(QuickBooks):
    """python-quickbooks' client, with InventoryAdjustment and the raw reply kept."""

    _BUSINESS_OBJECTS = [*QuickBooks._BUSINESS_OBJECTS, "InventoryAdjustment"]
    timeout_seconds: float = 30.0
    last_response: requests.Response | None = None

    def process_request(self, request_type, url, headers="", params="", data=""):  # type: ignore[no-untyped-def]
        self.last_response = None
        headers.update({"Authorization": "Bearer " + self.session.access_token})
        try:
            # The bearer header is set above; the plain session request skips
            # requests-oauthlib's own token handling, which refuses http:// (an emulator).
            response = requests.Session.request(
                self.session, request_type, url, headers=headers, params=params, data=data,
                timeout=self.timeout_seconds,
            )
        except requests.RequestException as exc:
            raise _Transient(Fault(Action.RETRY_NOW, None, "NETWORK", type(exc).__name__)) from exc
        self.last_response = response
        return response


class CompanyConnection:
    """Calls to one company's QuickBooks, with its tokens kept fresh and stored."""

    def __init__(self, app: QuickBooksApp, tenant_id: str, realm_id: str, store: TokenStore) -> None:
        self._app = app
        self._tenant_id = tenant_id
        self._realm_id = realm_id
        self._store = store
        self._auth: AuthClient | None = None
        self._client: ExportClient | None = None

    @property
    def realm_id(self) -> str:
        return self._realm_id

    def create(self, entity: Any, request_id: str) -> dict[str, Any]:
        """Create ``entity``; a repeated ``request_id`` returns QuickBooks' first answer."""
        name = entity.qbo_object_name
        reply = self.call(lambda qb: qb.create_object(name, entity.to_json(), request_id=request_id))
        return reply[name]

    def query(self, statement: str) -> list[dict[str, Any]]:
        entity = statement.split()[3]
        reply = self.call(lambda qb: qb.query(statement))
        return reply.get("QueryResponse", {}).get(entity, [])

    def call(self, operation: Callable[[ExportClient], T]) -> T:
        try:
            return self._with_refresh(operation)
        except _CallFailed as exc:
            raise _to_failure(exc.fault) from None
        except _Transient as exc:
            raise RetryLater(
                f"QB_{exc.fault.code}",
                f"QuickBooks did not answer in time ({exc.fault.text}); the export will be retried",
            ) from None

    def _with_refresh(self, operation: Callable[[ExportClient], T]) -> T:
        try:
            return self._retrying(operation)
        except _CallFailed as exc:
            if exc.fault.action is not Action.REFRESH_TOKEN:
                raise
        log.warning("QuickBooks refused the access token; refreshing it once", extra={"tenant": self._tenant_id})
        self._refresh()
        return self._retrying(operation)

    def _retrying(self, operation: Callable[[ExportClient], T]) -> T:
        retrying = Retrying(
            retry=retry_if_exception_type(_Transient),
            stop=stop_after_attempt(self._app.max_attempts) | stop_after_delay(self._app.max_call_seconds),
            wait=wait_random_exponential(multiplier=0.25, max=4),
            reraise=True,
        )
        return retrying(self._once, operation)

    def _once(self, operation: Callable[[ExportClient], T]) -> T:
        client = self._session()
        try:
            return operation(client)
        except QuickbooksException as exc:
            response = client.last_response
            status = response.status_code if response is not None else None
            body = response.text if response is not None else exc.message
            fault = classify(status, body)
        if fault.action is Action.RETRY_NOW:
            raise _Transient(fault)
        raise _CallFailed(fault)

    def _session(self) -> ExportClient:
        tokens = self._store.load_tokens(self._tenant_id)
        if tokens is None:
            raise _CallFailed(Fault(Action.NEEDS_PERSON, None, "CONNECTION_MISSING", "no connection"))
        if not tokens.access_valid(datetime.now(UTC)):
            tokens = self._refresh()
        if self._client is None:
            self._client = self._make_client(tokens)
        return self._client

    def _make_client(self, tokens: Tokens) -> ExportClient:
        auth = self._auth_client()
        auth.access_token = tokens.access_token
        auth.refresh_token = tokens.refresh_token
        client = ExportClient(
            auth_client=auth,
            refresh_token=tokens.refresh_token,
            company_id=self._realm_id,
            minorversion=self._app.minor_version,
        )
        client.timeout_seconds = self._app.timeout_seconds
        if self._app.api_url:
            client.api_url_v3 = self._app.api_url
            client.sandbox_api_url_v3 = self._app.api_url
        return client

    def _auth_client(self) -> AuthClient:
        if self._auth is None:
            try:
                self._auth = AuthClient(
                    self._app.client_id,
                    self._app.client_secret,
                    self._app.redirect_uri,
                    self._app.environment,
                )
            except (requests.RequestException, AuthClientError, ValueError) as exc:
                raise _Transient(
                    Fault(Action.RETRY_NOW, None, "DISCOVERY", f"cannot read Intuit's discovery document ({type(exc).__name__})")
                ) from exc
        return self._auth

    def _refresh(self) -> Tokens:
        """Trade the refresh token for new tokens, storing the rotated one before use."""
        current = self._store.load_tokens(self._tenant_id)
        if current is None:
            raise _CallFailed(Fault(Action.NEEDS_PERSON, None, "CONNECTION_MISSING", "no connection"))
        auth = self._auth_client()
        started = time.monotonic()
        try:
            auth.refresh(refresh_token=current.refresh_token)
        except AuthClientError as exc:
            if exc.status_code in (400, 401):
                self._store.mark_connection(self._tenant_id, "EXPIRED")
                raise _CallFailed(
                    Fault(Action.NEEDS_PERSON, exc.status_code, "CONNECTION_EXPIRED", "refresh refused")
                ) from None
            raise _Transient(Fault(Action.RETRY_NOW, exc.status_code, "TOKEN_REFRESH", "token endpoint failed")) from None
        except requests.RequestException as exc:
            raise _Transient(Fault(Action.RETRY_NOW, None, "TOKEN_REFRESH", type(exc).__name__)) from None

        fresh = Tokens(
            refresh_token=auth.refresh_token,
            access_token=auth.access_token,
            access_expires_at=datetime.now(UTC) + timedelta(seconds=int(auth.expires_in or 3600)),
        )
        self._store.save_tokens(self._tenant_id, fresh)
        self._client = None
        log.info("QuickBooks tokens refreshed in %d ms", (time.monotonic() - started) * 1000, extra={"tenant": self._tenant_id})
        return fresh


def escape_query_value(value: str) -> str:
    """Quote a value for QuickBooks' query language: backslashes first, then quotes."""
    return value.replace("\\", "\\\\").replace("'", "\\'")


def _to_failure(fault: Fault) -> NeedsPerson | Rejected | RetryLater:
    if fault.code in ("CONNECTION_EXPIRED", "CONNECTION_MISSING"):
        return NeedsPerson(
            "CONNECTION_EXPIRED",
            "The QuickBooks connection has expired or was revoked: reconnect QuickBooks "
            "in the export settings, then retry the export.",
        )
    if fault.action is Action.REFRESH_TOKEN:
        return NeedsPerson(
            "CONNECTION_EXPIRED",
            "QuickBooks refused the connection even after a token refresh: reconnect "
            "QuickBooks in the export settings, then retry the export.",
        )
    if fault.action is Action.THROTTLED:
        return RetryLater("QB_3001", "QuickBooks is throttling this company; the export will be retried")
    if fault.action is Action.RETRY_LATER:
        return RetryLater(f"QB_{fault.code}", f"QuickBooks asked to try again: {fault.text}")
    if fault.code == "3100":
        return NeedsPerson(
            "QB_3100",
            "The app is not authorised for this QuickBooks company: reconnect QuickBooks "
            "with a user who can grant access.",
        )
    if fault.action is Action.NEEDS_PERSON:
        return NeedsPerson(f"QB_{fault.code}", f"QuickBooks refused the export: {fault.text}")
    return Rejected(f"QB_{fault.code}", f"QuickBooks refused the export: {fault.text}")

