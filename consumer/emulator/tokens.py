"""OAuth state: registered apps, each company's refresh token, the access tokens.

Every refresh rotates: the refresh token used stops working at once and a new one is
returned, which is the behaviour an export must survive. Access tokens belong to one
realm and expire after a time to live. Not thread-safe by itself; the emulator's state
lock guards it.
"""

from __future__ import annotations

import hmac
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass
from enum import Enum

REFRESH_TOKEN_LIFETIME_SECONDS = 8_726_400  # 101 days, the figure QuickBooks reports


@dataclass(frozen=True)
class TokenPair:
    access_token: str
    refresh_token: str


@dataclass
class _AccessGrant:
    realm_id: str
    expires_at: float
    revoked: bool = False


class AccessDenied(Enum):
    MISSING = "Token missing: the request carries no bearer token"
    UNKNOWN = "Token invalid: the bearer token was not issued by this server"
    EXPIRED = "Token expired"
    REVOKED = "Token revoked: the connection to this company was revoked"


@dataclass(frozen=True)
class AccessCheck:
    realm_id: str | None  # the realm the token belongs to, when it is good
    denied: AccessDenied | None


class TokenStore:
    def __init__(
        self, access_token_ttl: float, clock: Callable[[], float] = time.monotonic
    ):
        self.access_token_ttl = access_token_ttl
        self._clock = clock
        self._apps: dict[str, str] = {}
        self._refresh: dict[str, str] = {}  # refresh token -> realm
        self._access: dict[str, _AccessGrant] = {}

    def add_app(self, client_id: str, client_secret: str) -> None:
        self._apps[client_id] = client_secret

    def client_is_valid(self, client_id: str, client_secret: str) -> bool:
        expected = self._apps.get(client_id)
        return expected is not None and hmac.compare_digest(
            expected.encode("utf-8"), client_secret.encode("utf-8")
        )

    def connect(self, realm_id: str, refresh_token: str) -> None:
        """A new connection to a company: all that was issued for it stops working."""
        self.revoke_realm(realm_id)
        self._refresh[refresh_token] = realm_id

    def refresh(self, refresh_token: str) -> TokenPair | None:
        realm_id = self._refresh.pop(refresh_token, None)
        if realm_id is None:
            return None

        self._forget_expired()
        rotated = f"RT-{secrets.token_urlsafe(24)}"
        self._refresh[rotated] = realm_id
        access = f"AT-{secrets.token_urlsafe(32)}"
        self._access[access] = _AccessGrant(
            realm_id, self._clock() + self.access_token_ttl
        )
        return TokenPair(access, rotated)

    def realm_of(self, token: str) -> str | None:
        """The realm a refresh or live access token belongs to."""
        if token in self._refresh:
            return self._refresh[token]
        grant = self._access.get(token)
        return grant.realm_id if grant is not None and not grant.revoked else None

    def revoke_realm(self, realm_id: str) -> None:
        for token in [t for t, realm in self._refresh.items() if realm == realm_id]:
            del self._refresh[token]
        for grant in self._access.values():
            if grant.realm_id == realm_id:
                grant.revoked = True

    def check_access(self, authorization: str | None) -> AccessCheck:
        scheme, _, token = (authorization or "").partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            return AccessCheck(None, AccessDenied.MISSING)

        grant = self._access.get(token.strip())
        if grant is None:
            return AccessCheck(None, AccessDenied.UNKNOWN)
        if grant.revoked:
            return AccessCheck(None, AccessDenied.REVOKED)
        if self._clock() >= grant.expires_at:
            return AccessCheck(None, AccessDenied.EXPIRED)
        return AccessCheck(grant.realm_id, None)

    def _forget_expired(self) -> None:
        # Expired tokens are kept for a while so that they are reported as expired.
        horizon = self._clock() - max(self.access_token_ttl, 3600.0)
        for token in [t for t, g in self._access.items() if g.expires_at < horizon]:
            del self._access[token]
