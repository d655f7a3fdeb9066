"""The connection to one QuickBooks Online company, through python-quickbooks.

Every call runs under one policy: transient trouble is retried in the call (bounded in
attempts and in total time, well inside the consumer's poll interval), a 401 refreshes
the token once, and everything else becomes an ``ExportFailure`` that says what to do.
"""

from __future__ import annotations

import json
import logging
import threading
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

from consumer.errors import ExportServiceError, RetryLater, Throttled
from consumer.faults import Action, Fault, classify
from consumer.ratelimit import CompanyRateLimiter

log = logging.getLogger(__name__)
T = TypeVar("T")

# Refresh a little before QuickBooks would refuse the access token: a tenth of its
# lifetime, at most a minute.
_MAX_EXPIRY_MARGIN = 60.0
DEFAULT_THROTTLE_WAIT = 60.0


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
    # How long a company waits after a 429 that names no Retry-After
    # (QuickBooks' docs: 60 s).
    throttle_wait_seconds: float = DEFAULT_THROTTLE_WAIT


@dataclass
class Tokens:
    refresh_token: str = field(repr=False)
    access_token: str | None = field(default=None, repr=False)
    access_expires_at: datetime | None = None

    def access_valid(self, now: datetime) -> bool:
        """True while the access token may still be used (``access_expires_at`` already
        keeps a margin before QuickBooks' own expiry)."""
        return bool(
            self.access_token
            and self.access_expires_at
            and now < self.access_expires_at
        )


def usable_until(now: datetime, expires_in: float) -> datetime:
    return now + timedelta(
        seconds=expires_in - min(_MAX_EXPIRY_MARGIN, expires_in / 10)
    )


class TokenStore(Protocol):
    def load_tokens(self, tenant_id: str) -> Tokens | None: ...

    def refresh_tokens(
        self,
        tenant_id: str,
        failed_access: str | None,
        exchange: Callable[[str], Tokens | None],
    ) -> Tokens | None: ...


class _Transient(Exception):
    def __init__(self, fault: Fault) -> None:
        super().__init__(fault.text)
        self.fault = fault


class QuickBooksRefused(ExportServiceError):
    """QuickBooks (or its token endpoint) refused a call; ``failures.explain`` turns the
    fault into what a person should do."""

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

    def process_request(
        self,
        request_type: str,
        url: str,
        headers: Any = "",
        params: Any = "",
        data: Any = "",
    ) -> requests.Response:
        self.last_response = None
        headers.update({"Authorization": "Bearer " + self.session.access_token})
        try:
            # The bearer header is set above; the plain session request skips the
            # token handling of requests-oauthlib, which refuses http:// (an emulator).
            response = requests.Session.request(
                self.session,
                request_type,
                url,
                headers=headers,
                params=params,
                data=data,
                timeout=self.timeout_seconds,
            )
        except requests.RequestException as exc:
            raise _Transient(
                Fault(Action.RETRY_NOW, None, "NETWORK", type(exc).__name__)
            ) from exc
        self.last_response = response
        return response


class CompanyConnection:
    """Calls to one company's QuickBooks, with its tokens kept fresh and stored, and its
    request rate kept under QuickBooks' limits."""

    def __init__(
        self,
        app: QuickBooksApp,
        tenant_id: str,
        realm_id: str,
        store: TokenStore,
        limiter: CompanyRateLimiter | None = None,
    ) -> None:
        self._app = app
        self._tenant_id = tenant_id
        self._realm_id = realm_id
        self._store = store
        self._limiter = limiter or CompanyRateLimiter()
        self._auth: AuthClient | None = None
        self._client: ExportClient | None = None
        self._lock = threading.RLock()

    @property
    def realm_id(self) -> str:
        return self._realm_id

    def create(self, entity: Any, request_id: str) -> dict[str, Any]:
        """Create ``entity``; a repeated ``request_id`` returns the first answer."""
        name = entity.qbo_object_name
        reply: dict[str, dict[str, Any]] = self.call(
            lambda qb: qb.create_object(name, entity.to_json(), request_id=request_id)
        )
        return reply[name]

    def batch(
        self, operations: list[dict[str, Any]], request_id: str
    ) -> list[dict[str, Any]]:
        """Run up to 30 operations in one request; each answers (or faults) alone."""
        body = json.dumps({"BatchItemRequest": operations})

        def post(qb: ExportClient) -> Any:
            url = f"{qb.api_url}/company/{qb.company_id}/batch"
            return qb.make_request("POST", url, body, request_id=request_id)

        reply = self.call(post, batch=True)
        return list(reply.get("BatchItemResponse", []))

    def query(self, statement: str) -> list[dict[str, Any]]:
        entity = statement.split()[3]
        reply = self.call(lambda qb: qb.query(statement))
        return list(reply.get("QueryResponse", {}).get(entity, []))

    def call(self, operation: Callable[[ExportClient], T], batch: bool = False) -> T:
        """One request under the company's policy; failures become ``ExportFailure``."""
        with self._lock:
            try:
                return self._with_refresh(operation, batch)
            except _CallFailed as exc:
                raise QuickBooksRefused(exc.fault) from None
            except _Transient as exc:
                raise RetryLater(
                    f"QB_{exc.fault.code}",
                    "QuickBooks could not be reached or answered with a server "
                    f"error ({exc.fault.text.rstrip('.')}).",
                ) from None

    def _with_refresh(self, operation: Callable[[ExportClient], T], batch: bool) -> T:
        try:
            return self._retrying(operation, batch)
        except _CallFailed as exc:
            if exc.fault.action is not Action.REFRESH_TOKEN:
                raise
        log.warning(
            "QuickBooks refused the access token; refreshing it once",
            extra={"tenant": self._tenant_id},
        )
        self._refresh(
            failed_access=self._client.session.access_token if self._client else None
        )
        return self._retrying(operation, batch)

    def _retrying(self, operation: Callable[[ExportClient], T], batch: bool) -> T:
        retrying = Retrying(
            retry=retry_if_exception_type(_Transient),
            stop=stop_after_attempt(self._app.max_attempts)
            | stop_after_delay(self._app.max_call_seconds),
            wait=wait_random_exponential(multiplier=0.25, max=4),
            reraise=True,
        )
        result: T = retrying(self._once, operation, batch)
        return result

    def _once(self, operation: Callable[[ExportClient], T], batch: bool) -> T:
        client = self._session()
        self._limiter.acquire(batch=batch)
        try:
            return operation(client)
        except QuickbooksException as exc:
            response = client.last_response
            status = response.status_code if response is not None else None
            body = response.text if response is not None else exc.message
            fault = classify(status, body)
            retry_after = _retry_after(response, self._app.throttle_wait_seconds)
        if fault.action is Action.RETRY_NOW:
            raise _Transient(fault)
        if fault.action is Action.THROTTLED:
            raise Throttled(retry_after)
        raise _CallFailed(fault)

    def _session(self) -> ExportClient:
        tokens = self._store.load_tokens(self._tenant_id)
        if tokens is None:
            raise _CallFailed(
                Fault(Action.NEEDS_PERSON, None, "CONNECTION_EXPIRED", "no connection")
            )
        if not tokens.access_valid(datetime.now(UTC)):
            tokens = self._refresh(failed_access=tokens.access_token)
        if (
            self._client is None
            or self._client.session.access_token != tokens.access_token
        ):
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
                fault = Fault(
                    Action.RETRY_NOW,
                    None,
                    "DISCOVERY",
                    f"cannot read Intuit's discovery document ({type(exc).__name__})",
                )
                raise _Transient(fault) from exc
        return self._auth

    def _refresh(self, failed_access: str | None) -> Tokens:
        """New tokens for the company, refreshed by this worker or by another one."""
        started = time.monotonic()
        tokens = self._store.refresh_tokens(
            self._tenant_id, failed_access, self._exchange
        )
        if tokens is None:
            raise _CallFailed(
                Fault(
                    Action.NEEDS_PERSON, None, "CONNECTION_EXPIRED", "refresh refused"
                )
            )
        self._client = None
        log.info(
            "QuickBooks tokens ready in %d ms",
            (time.monotonic() - started) * 1000,
            extra={"tenant": self._tenant_id},
        )
        return tokens

    def _exchange(self, refresh_token: str) -> Tokens | None:
        """Trade a refresh token at Intuit's token endpoint; None when it is refused."""
        auth = self._auth_client()
        try:
            auth.refresh(refresh_token=refresh_token)
        except AuthClientError as exc:
            if _bad_client(exc):
                # The app's own credentials are wrong: no company's connection is at
                # fault, so none is marked expired.
                log.error("Intuit refused the app's credentials (invalid_client)")
                raise _CallFailed(
                    Fault(
                        Action.NEEDS_PERSON,
                        exc.status_code,
                        "APP_CREDENTIALS",
                        "invalid_client",
                    )
                ) from None
            if exc.status_code in (400, 401):
                return None
            raise _Transient(
                Fault(
                    Action.RETRY_NOW,
                    exc.status_code,
                    "TOKEN_REFRESH",
                    "token endpoint failed",
                )
            ) from None
        except requests.RequestException as exc:
            raise _Transient(
                Fault(Action.RETRY_NOW, None, "TOKEN_REFRESH", type(exc).__name__)
            ) from None
        return Tokens(
            refresh_token=auth.refresh_token,
            access_token=auth.access_token,
            access_expires_at=usable_until(
                datetime.now(UTC), float(auth.expires_in or 3600)
            ),
        )


def _bad_client(exc: AuthClientError) -> bool:
    try:
        return bool(exc.response.json().get("error") == "invalid_client")
    except (AttributeError, ValueError):
        return False


def _retry_after(response: requests.Response | None, default: float) -> float:
    header = response.headers.get("Retry-After") if response is not None else None
    try:
        return max(1.0, float(header)) if header else default
    except ValueError:
        return default


def escape_query_value(value: str) -> str:
    """Quote a value for QuickBooks' query language: backslashes first, then quotes."""
    return value.replace("\\", "\\\\").replace("'", "\\'")
