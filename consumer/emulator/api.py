"""The accounting API under ``/v3/company/{realm}/``.

Each request goes through the same steps: the company's latency, its rate limits, an
injected fault if one is pending (or drawn at the company's error rates), the bearer
token, then the operation. A POST with a ``requestid`` that was seen before gets the
original reply again, failure included, without acting twice. Every 429 answered is
counted in the company's stats.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from functools import partial

from consumer.emulator import batch, faults, operations
from consumer.emulator.company import Company
from consumer.emulator.encoding import qbo_time
from consumer.emulator.faults import Fault
from consumer.emulator.injected import Injected, InjectedTimeout, hold_seconds
from consumer.emulator.state import EmulatorState
from consumer.emulator.tokens import AccessDenied
from consumer.emulator.wire import (
    HANGUP,
    Hangup,
    Reply,
    Request,
    error_reply,
    json_reply,
)

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

    def handle(
        self, request: Request, realm_id: str, resource: list[str]
    ) -> Reply | Hangup:
        answer = self._answer(request, realm_id, resource)
        if isinstance(answer, Reply) and answer.status == 429:
            self._state.count_throttled(realm_id)
        return answer

    def _answer(
        self, request: Request, realm_id: str, resource: list[str]
    ) -> Reply | Hangup:
        delay = self._state.latency_seconds(realm_id)
        if delay:
            time.sleep(delay)

        throttled = self._state.admit(realm_id, batch=_is_batch(request, resource))
        if throttled is not None:
            return throttled

        injected = self._state.take_injected_fault(realm_id)
        if injected is not None and not injected.applied:
            return self._injected(realm_id, injected)

        reply = self._authorization(request, realm_id) or self._route(
            request, realm_id, resource
        )
        # An "applied" fault let the request take effect; only its answer is lost.
        return self._injected(realm_id, injected) if injected is not None else reply

    def _injected(self, realm_id: str, injected: Injected) -> Reply | Hangup:
        if isinstance(injected, InjectedTimeout):
            time.sleep(hold_seconds(self._state.timeout_seconds(realm_id)))
            return HANGUP
        return injected.reply()

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
        if _is_batch(request, resource):
            return self._once(
                request, realm_id, batch.run_batch, batch.REQUEST_ID_LIMIT
            )
        if name in _READABLE and len(resource) == 2 and request.method == "GET":
            return self._read(realm_id, _READABLE[name], resource[1])
        return error_reply(
            404, "not_found", f"No such resource: {request.method} {request.path}"
        )

    def _once(
        self,
        request: Request,
        realm_id: str,
        operation: _Operation,
        request_id_limit: int = REQUEST_ID_LIMIT,
    ) -> Reply:
        request_id = (
            request.query.get("requestid") if request.method == "POST" else None
        )
        if request_id is not None and len(request_id) > request_id_limit:
            return faults.too_long(
                "requestid", request_id_limit, len(request_id)
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
        body = operations.json_object(request.body)
        stored = operations.create(company, entity, body, request_id)
        return json_reply(200, {entity: stored, "time": qbo_time()})

    def _query(
        self, company: Company, request: Request, request_id: str | None
    ) -> Reply:
        statement = request.query.get("query")
        if request.method == "POST" and request.body.strip():
            statement = request.body.decode("utf-8", errors="replace")
        response = operations.run_query(company, statement)
        return json_reply(200, {"QueryResponse": response, "time": qbo_time()})

    def _read(self, realm_id: str, entity: str, object_id: str) -> Reply:
        with self._state.lock:
            found = self._state.companies[realm_id].find(entity, object_id)
            if found is None:
                return faults.object_not_found(entity, object_id).reply()
            return json_reply(200, {entity: found, "time": qbo_time()})


def _is_batch(request: Request, resource: list[str]) -> bool:
    return (
        request.method == "POST"
        and len(resource) == 1
        and resource[0].lower() == "batch"
    )
