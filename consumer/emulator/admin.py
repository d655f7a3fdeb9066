"""The emulator's own endpoints under ``/_emulator/``: ledger, seed, controls, health.

These are not part of QuickBooks and need no token; the server listens on a local
address only.
"""

from __future__ import annotations

import json

from consumer.emulator.controls import parse_controls
from consumer.emulator.errors import EmulatorError
from consumer.emulator.seed import parse_seed
from consumer.emulator.state import EmulatorState
from consumer.emulator.wire import Reply, Request, error_reply, json_reply

PREFIX = "/_emulator/"


def handle(state: EmulatorState, request: Request) -> Reply:
    parts = request.path.removeprefix(PREFIX).strip("/").split("/")
    match (request.method, parts):
        case ("GET", ["health"]):
            return json_reply(200, {"status": "ok"})
        case ("GET", ["ledger"]):
            return _ledger(state, request.query.get("realm"))
        case ("POST", ["seed"]):
            return _seed(state, request)
        case ("POST", ["companies", realm_id, "controls"]):
            return _controls(state, realm_id, request)
    return error_reply(
        404, "not_found", f"No such resource: {request.method} {request.path}"
    )


def _ledger(state: EmulatorState, realm_id: str | None) -> Reply:
    try:
        return json_reply(200, state.ledger(realm_id))
    except EmulatorError as exc:
        return error_reply(404, "unknown_realm", str(exc))


def _seed(state: EmulatorState, request: Request) -> Reply:
    try:
        realms = state.load_seed(parse_seed(_json(request)))
    except EmulatorError as exc:
        return error_reply(400, "invalid_seed", str(exc))
    return json_reply(200, {"companies": realms})


def _controls(state: EmulatorState, realm_id: str, request: Request) -> Reply:
    try:
        controls = parse_controls(_json(request))
    except EmulatorError as exc:
        return error_reply(400, "invalid_controls", str(exc))
    try:
        return json_reply(200, state.control(realm_id, controls))
    except EmulatorError as exc:
        status = 404 if state.company(realm_id) is None else 400
        return error_reply(status, "invalid_controls", str(exc))


def _json(request: Request) -> object:
    try:
        return json.loads(request.body.decode("utf-8"))
    except (UnicodeDecodeError, ValueError) as exc:
        raise EmulatorError(f"the request body is not JSON: {exc}") from exc
