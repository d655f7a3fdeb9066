"""The accounting API under ``/v3/company/{realm}/``.

Each request goes through the same steps: the company's latency, an injected fault if
one is pending, the bearer token, then the operation. A POST with a ``requestid`` that
was seen before gets the original reply again, failure included, without acting twice.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from functools import partial
from typing import Any

from consumer.emulator import faults, query
from consumer.emulator.company import Company
from consumer.emulator.encoding import qbo_time
from consumer.emulator.faults import Fault
from consumer.emulator.inventory_adjustment import check_inventory_adjustment
from consumer.emulator.journal_entry import check_journal_entry
from consumer.emulator.state import EmulatorState
from consumer.emulator.tokens import AccessDenied
from consumer.emulator.wire import Reply, Request, error_reply, json_reply

REQUEST_ID_LIMIT = 50
_READABLE = {
    "account": "Account",
    "item": "Item",
    "journalentry": "JournalEntry",
    "inventoryadjustment": "InventoryAdjustment",
}
_CREATABLE = ("journalentry", "inventoryadjustment")

# An operation run at most once per request id: (company, request, request id) -> reply.
_Operation = Callable[[Company, Request, str | None], Reply]


class CompanyApi:
    def __init__(self, state: EmulatorState) -> None:
        self._state = state

    def handle(self, request: Request, realm_id: str, resource: list[str]) -> Reply:
        delay = self._state.latency_seconds(realm_id)
        if delay:
            time.sleep(delay)

        injected = self._state.take_injected_fault(realm_id)
        if injected is not None and not injected.applied:
            return injected.reply()

        reply = self._authorization(request, realm_id) or self._route(
            request, realm_id, resource
        )
        # An "applied" fault let the request take effect; only its answer is lost.
        return injected.reply() if injected is not None else reply

    def _authorization(self, request: Request, realm_id: str) -> Reply | None:
        with self._state.lock:
            check = self._state.tokens.check_access(
                request.headers.get("authorization")
            )
            known = realm_id in self._state.companies
        if check.denied is not None:
            detail = check.denied.value
            token = request.headers.get("authorization", "").partition(" ")[2]
            if token and check.denied is AccessDenied.EXPIRED:
                detail = f"{detail}: {token[:12]}..."
            return faults.authentication(detail)
        if not known:
            return faults.authorization(realm_id)
        if check.realm_id != realm_id:
            return faults.authentication(
                f"Token invalid: the bearer token belongs to company {check.realm_id}, "
                f"not to company {realm_id}"
            )
        return None

    def _route(self, request: Request, realm_id: str, resource: list[str]) -> Reply:
        name = resource[0].lower() if resource else ""
        if name == "query" and len(resource) == 1 and request.method in ("GET", "POST"):
            return self._once(request, realm_id, self._query)
        if name in _CREATABLE and len(resource) == 1 and request.method == "POST":
            return self._once(request, realm_id, partial(self._create, _READABLE[name]))
        if name in _READABLE and len(resource) == 2 and request.method == "GET":
            return self._read(realm_id, _READABLE[name], resource[1])
        return error_reply(
            404, "not_found", f"No such resource: {request.method} {request.path}"
        )

    def _once(self, request: Request, realm_id: str, operation: _Operation) -> Reply:
        request_id = (
            request.query.get("requestid") if request.method == "POST" else None
        )
        if request_id is not None and len(request_id) > REQUEST_ID_LIMIT:
            return faults.too_long(
                "requestid", REQUEST_ID_LIMIT, len(request_id)
            ).reply()

        with self._state.lock:
            company = self._state.companies[realm_id]
            if request_id is not None and request_id in company.replies:
                return company.replies[request_id]
            try:
                reply = operation(company, request, request_id)
            except Fault as fault:
                reply = fault.reply()
            if request_id is not None:
                company.replies[request_id] = reply
            return reply

    def _create(
        self, entity: str, company: Company, request: Request, request_id: str | None
    ) -> Reply:
        body = _json_object(request.body)
        if entity == "JournalEntry":
            stored = company.record(
                entity, check_journal_entry(company, body), request_id
            )
        else:
            adjustment = check_inventory_adjustment(company, body)
            stored = company.record(entity, adjustment.body, request_id)
            for change in adjustment.changes:
                item = company.items[change.item_id]
                item["QtyOnHand"] = change.apply(item["QtyOnHand"])
        return json_reply(200, {entity: stored, "time": qbo_time()})

    def _query(
        self, company: Company, request: Request, request_id: str | None
    ) -> Reply:
        statement = request.query.get("query")
        if request.method == "POST" and request.body.strip():
            statement = request.body.decode("utf-8", errors="replace")
        if not statement:
            raise faults.query_syntax("the request carries no query")

        parsed = query.parse(statement)
        response = query.run(parsed, company.objects(parsed.entity))
        return json_reply(200, {"QueryResponse": response, "time": qbo_time()})

    def _read(self, realm_id: str, entity: str, object_id: str) -> Reply:
        with self._state.lock:
            found = self._state.companies[realm_id].find(entity, object_id)
            if found is None:
                return faults.object_not_found(entity, object_id).reply()
            return json_reply(200, {entity: found, "time": qbo_time()})


def _json_object(body: bytes) -> dict[str, Any]:
    try:
        parsed = json.loads(body.decode("utf-8"))
    except (UnicodeDecodeError, ValueError) as exc:
        raise faults.not_json(str(exc)) from exc
    if not isinstance(parsed, dict):
        raise faults.not_json("the top level must be an object")
    return parsed
