"""The OAuth 2.0 side: discovery document, token endpoint and revocation.

intuit-oauth's ``AuthClient`` reads the discovery document when it is created, so
passing this server's discovery URL as its ``environment`` points every later call here.
"""

from __future__ import annotations

import base64
import binascii
import json
from urllib.parse import parse_qs

from consumer.emulator.state import EmulatorState
from consumer.emulator.tokens import REFRESH_TOKEN_LIFETIME_SECONDS
from consumer.emulator.wire import Reply, Request, json_reply

DISCOVERY_PATH = "/.well-known/openid_configuration"
TOKEN_PATH = "/oauth2/v1/tokens/bearer"
REVOKE_PATH = "/oauth2/v1/tokens/revoke"
JWKS_PATH = "/oauth2/v1/keys"

_NO_STORE = (("Cache-Control", "no-store"), ("Pragma", "no-cache"))


def discovery(request: Request) -> Reply:
    base = request.base_url
    return json_reply(
        200,
        {
            "issuer": base,
            "authorization_endpoint": f"{base}/connect/oauth2",
            "token_endpoint": f"{base}{TOKEN_PATH}",
            "userinfo_endpoint": f"{base}/v1/openid_connect/userinfo",
            "revocation_endpoint": f"{base}{REVOKE_PATH}",
            "jwks_uri": f"{base}{JWKS_PATH}",
            "response_types_supported": ["code"],
            "subject_types_supported": ["public"],
            "id_token_signing_alg_values_supported": ["RS256"],
            "scopes_supported": [
                "openid",
                "email",
                "profile",
                "com.intuit.quickbooks.accounting",
            ],
            "token_endpoint_auth_methods_supported": ["client_secret_basic"],
            "grant_types_supported": ["authorization_code", "refresh_token"],
        },
    )


def jwks(_request: Request) -> Reply:
    # No ID tokens are issued, so there are no signing keys to publish.
    return json_reply(200, {"keys": []})


def token(state: EmulatorState, request: Request) -> Reply:
    form = {
        k: v[0] for k, v in parse_qs(request.body.decode("utf-8", "replace")).items()
    }
    if not _client_is_valid(state, request, form):
        return json_reply(401, {"error": "invalid_client"}, _NO_STORE)

    grant_type = form.get("grant_type")
    if grant_type != "refresh_token":
        return json_reply(400, {"error": "unsupported_grant_type"}, _NO_STORE)
    refresh_token = form.get("refresh_token")
    if not refresh_token:
        return json_reply(400, {"error": "invalid_request"}, _NO_STORE)

    with state.lock:
        pair = state.tokens.refresh(refresh_token)
        ttl = state.tokens.access_token_ttl
    if pair is None:
        return json_reply(400, {"error": "invalid_grant"}, _NO_STORE)
    payload = {
        "token_type": "bearer",
        "access_token": pair.access_token,
        "refresh_token": pair.refresh_token,
        "expires_in": int(ttl) if float(ttl).is_integer() else ttl,
        "x_refresh_token_expires_in": REFRESH_TOKEN_LIFETIME_SECONDS,
    }
    return json_reply(200, payload, _NO_STORE)


def revoke(state: EmulatorState, request: Request) -> Reply:
    """Revoking either token of a connection ends the whole connection."""
    if not _client_is_valid(state, request, {}):
        return json_reply(401, {"error": "invalid_client"})
    try:
        body = json.loads(request.body.decode("utf-8"))
        token_value = body["token"] if isinstance(body, dict) else None
    except (UnicodeDecodeError, ValueError, KeyError):
        token_value = None
    if not isinstance(token_value, str) or not token_value:
        return json_reply(400, {"error": "invalid_request"})

    with state.lock:
        realm_id = state.tokens.realm_of(token_value)
        if realm_id is not None:
            state.tokens.revoke_realm(realm_id)
    return Reply(200, b"")


def _client_is_valid(
    state: EmulatorState, request: Request, form: dict[str, str]
) -> bool:
    client_id, client_secret = form.get("client_id", ""), form.get("client_secret", "")
    scheme, _, encoded = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() == "basic":
        try:
            decoded = base64.b64decode(encoded.strip(), validate=True).decode("utf-8")
        except (binascii.Error, UnicodeDecodeError):
            return False
        client_id, _, client_secret = decoded.partition(":")
    with state.lock:
        return bool(client_id) and state.tokens.client_is_valid(
            client_id, client_secret
        )
