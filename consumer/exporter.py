"""Posting exports that are due, company by company, without one holding up another.

Each company's due exports run on a worker thread of their own, in chunks of up to 30:
prerequisites are checked, an export whose earlier post may have gone through is looked
up by its reference first, and the rest go to QuickBooks in one batch request (a single
create when alone). Every outcome is recorded with its outbox rows. A throttled company
pauses alone; transient trouble reschedules its exports with growing delays, and after
the last delay they end Failed.
"""

from __future__ import annotations

import json
import logging
import os
import socket
import threading
import time
import uuid
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any, cast

from sqlalchemy import select
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session

from consumer import prerequisites, translate
from consumer.connections import Connections
from consumer.errors import ExportFailure, NeedsPerson, Rejected, RetryLater, Throttled
from consumer.failures import explain
from consumer.faults import Action, classify
from consumer.model import (
    AccountingRequest,
    Build,
    ExportKind,
    InventoryMode,
    TenantSettings,
)
from consumer.qbo_entities import to_entity
from consumer.quickbooks_client import (
    DEFAULT_THROTTLE_WAIT,
    CompanyConnection,
    QuickBooksRefused,
    escape_query_value,
)
from consumer.recording import EXPORTING, Recorder
from consumer.snapshots import build_from_snapshot
from consumer.store import BuildRow, ExportRow, Store

log = logging.getLogger(__name__)

BATCH_SIZE = 30
# Long enough for a chunk's calls with their retries; a worker that dies holds its
# exports this long before another process takes them over (and looks them up first).
LEASE = timedelta(seconds=120)
_REQUEST_NAMESPACE = uuid.UUID("6f1d5a2e-8c1b-4f7a-9d0e-2b3c4d5e6f70")


@dataclass(frozen=True)
class RetryPolicy:
    """Delays between scheduled retries of an export that met transient trouble."""

    delays: tuple[float, ...] = (30, 120, 600, 1800, 3600)


DEFAULT_RETRY_POLICY = RetryPolicy()


@dataclass
class _Job:
    row_id: int
    build_id: str
    kind: ExportKind
    reference: str
    request_id: str
    posts: int
    build: Build
    request: AccountingRequest | None = None
    entity: Any = None
    outcome: tuple[str, str] | ExportFailure | None = None  # (type, id) or a failure


@dataclass
class _Company:
    busy: bool = False
    paused_until: float = 0.0
    references: prerequisites.ReferenceCache = field(
        default_factory=prerequisites.ReferenceCache
    )


class ExportWorker:
    def __init__(
        self,
        store: Store,
        connections: Connections,
        recorder: Recorder,
        policy: RetryPolicy = DEFAULT_RETRY_POLICY,
        max_workers: int = 16,
    ) -> None:
        self._store = store
        self._connections = connections
        self._recorder = recorder
        self._policy = policy
        self._pool = ThreadPoolExecutor(
            max_workers=max_workers, thread_name_prefix="export"
        )
        self._companies: dict[str, _Company] = {}
        self._running: dict[str, Future[None]] = {}
        self._lock = threading.Lock()
        self._owner = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"

    def close(self) -> None:
        self._pool.shutdown(wait=True)

    def run_due(self, wait_seconds: float = 0.0) -> int:
        """Start every company that has due exports and is not busy or paused; wait for
        them up to ``wait_seconds``. Returns how many companies are still working."""
        now = time.monotonic()
        for tenant_id in self._store.due_tenants(self._recorder.clock()):
            with self._lock:
                company = self._companies.setdefault(tenant_id, _Company())
                if company.busy or company.paused_until > now:
                    continue
                company.busy = True
                self._running[tenant_id] = self._pool.submit(
                    self._run_company, tenant_id, company
                )
        running = list(self._running.values())
        if wait_seconds > 0 and running:
            wait(running, timeout=wait_seconds)
        with self._lock:
            self._running = {t: f for t, f in self._running.items() if not f.done()}
            return len(self._running)

    def paused_until(self, tenant_id: str) -> float:
        return self._companies.get(tenant_id, _Company()).paused_until

    # -- one company ------------------------------------------------------------------

    def _run_company(self, tenant_id: str, company: _Company) -> None:
        """One chunk of a company's due exports; the next chunk waits for the next
        round, so a slow company never keeps a worker from the others for long."""
        try:
            rows = self._store.claim_due(
                tenant_id, self._recorder.clock(), BATCH_SIZE, self._owner, LEASE
            )
            if not rows:
                return
            try:
                self._run_chunk(tenant_id, company, rows)
            except OperationalError:
                # The database is away: the exports keep their state and their lease
                # runs out, after which they are posted (or looked up) again.
                log.warning(
                    "database unavailable; exports of %s wait",
                    tenant_id,
                    extra={"tenant": tenant_id},
                )
            except Exception as exc:  # a defect: fail these exports, not the service
                log.exception(
                    "exports of %s failed unexpectedly",
                    tenant_id,
                    extra={"tenant": tenant_id},
                )
                self._fail_unexpectedly(rows, exc)
        except Exception:
            log.exception(
                "export worker of %s stopped unexpectedly",
                tenant_id,
                extra={"tenant": tenant_id},
            )
        finally:
            company.busy = False

    def _fail_unexpectedly(self, rows: list[ExportRow], exc: Exception) -> None:
        failure = Rejected(
            "INTERNAL_ERROR",
            f"The export stopped on an unexpected error ({type(exc).__name__}); "
            "it is in the service's log. Retry the export once the cause is fixed.",
        )
        settings = self._store.tenant(rows[0].tenant_id) if rows else None
        with self._store.begin() as s:
            for claimed in rows:
                row = _attempt(s, claimed.id, claimed.request_id)
                if row is not None:
                    self._recorder.failed(
                        s, row, failure, settings.realm_id if settings else None
                    )

    def _run_chunk(
        self, tenant_id: str, company: _Company, rows: list[ExportRow]
    ) -> None:
        settings = self._store.tenant(tenant_id)
        jobs = self._jobs(rows)
        if settings is None:
            failure: ExportFailure = NeedsPerson(
                "TENANT_UNKNOWN",
                f"{tenant_id} has no export settings: load them, then retry.",
            )
            self._settle(jobs, None, lambda _job: failure)
            return

        try:
            pending = self._prepare(jobs, settings)
            if pending:
                connection = self._connections.for_tenant(settings)
                pending = self._check_references(pending, settings, connection, company)
                pending = self._adopt_earlier_posts(pending, connection)
                self._mark_posting(pending)
                self._post(pending, connection)
                self._review(pending, connection, company)
        except Throttled as exc:
            company.paused_until = time.monotonic() + exc.retry_after
            log.warning(
                "QuickBooks throttled %s; its exports wait %.0f s",
                tenant_id,
                exc.retry_after,
                extra={"tenant": tenant_id},
            )
            self._reschedule(
                [j for j in jobs if j.outcome is None], exc.retry_after, count=False
            )
        except ExportFailure as exc:
            for job in jobs:
                job.outcome = job.outcome or exc
        except QuickBooksRefused as exc:
            failure = explain(exc.fault)
            for job in jobs:
                job.outcome = job.outcome or failure
        self._settle(
            [j for j in jobs if j.outcome is not None],
            settings,
            lambda job: job.outcome,
        )

    def _jobs(self, rows: list[ExportRow]) -> list[_Job]:
        with self._store.begin() as s:
            builds = {
                b.build_id: b
                for b in s.scalars(
                    select(BuildRow).where(
                        BuildRow.build_id.in_([r.build_id for r in rows])
                    )
                )
            }
            return [
                _Job(
                    r.id,
                    r.build_id,
                    ExportKind(r.kind),
                    r.reference,
                    str(r.request_id),
                    r.posts,
                    build_from_snapshot(builds[r.build_id].snapshot),
                )
                for r in rows
            ]

    def _prepare(self, jobs: list[_Job], settings: TenantSettings) -> list[_Job]:
        """Checks that need no QuickBooks, then translation."""
        ready = []
        for job in jobs:
            missing = translate.missing_settings(settings, job.kind)
            unlinked = (
                translate.unlinked_products(job.build, job.kind)
                if settings.inventory_mode is InventoryMode.SYNCED
                else ()
            )
            if missing:
                job.outcome = NeedsPerson(
                    "SETTINGS_MISSING",
                    f"Set the {' and the '.join(missing)} in the export settings of "
                    f"{settings.tenant_id}, then retry the export.",
                )
            elif wrong_currency := translate.currency_problem(job.build, settings):
                job.outcome = NeedsPerson("CURRENCY_MISMATCH", wrong_currency)
            elif unlinked:
                job.outcome = NeedsPerson(
                    "PRODUCTS_NOT_LINKED",
                    "Link these products to QuickBooks inventory items, "
                    "then retry the export: "
                    + ", ".join(dict.fromkeys(p.label for p in unlinked))
                    + ".",
                )
            else:
                try:
                    job.request = translate.translate(
                        job.build, settings, job.kind, job.reference
                    )
                    job.entity = to_entity(job.request)
                except (ValueError, ArithmeticError) as exc:
                    job.outcome = Rejected(
                        "AMOUNT_TOO_LARGE",
                        "The build's quantities or amounts are too large for "
                        f"QuickBooks ({exc}); correct the build in Partsemble, "
                        "then retry the export.",
                    )
                    continue
                ready.append(job)
        return ready

    def _check_references(
        self,
        jobs: list[_Job],
        settings: TenantSettings,
        connection: CompanyConnection,
        company: _Company,
    ) -> list[_Job]:
        refs = company.references.fetch(
            connection, [j.request for j in jobs if j.request]
        )
        ready = []
        for job in jobs:
            assert job.request is not None
            try:
                prerequisites.check(job.request, settings, refs)
                ready.append(job)
            except NeedsPerson as failure:
                job.outcome = failure
        return ready

    def _adopt_earlier_posts(
        self, jobs: list[_Job], connection: CompanyConnection
    ) -> list[_Job]:
        """An export posted before whose answer was lost may be in the books already:
        look for its reference, and adopt the transaction whose note names this build.
        """
        ready = []
        for job in jobs:
            assert job.request is not None
            if job.posts > 0:
                found = _find_posted(connection, job.request, job.build_id)
                if found:
                    log.info(
                        "%s was already in QuickBooks as %s %s; adopted",
                        job.reference,
                        job.request.transaction_type,
                        found,
                        extra={"build": job.build.build_number},
                    )
                    job.outcome = (job.request.transaction_type, found)
                    continue
            ready.append(job)
        return ready

    def _mark_posting(self, jobs: list[_Job]) -> None:
        # Recorded before the request leaves: if the answer is lost, the next try looks
        # up the reference before posting again.
        with self._store.begin() as s:
            for job in jobs:
                row = s.get(ExportRow, job.row_id)
                if row is not None:
                    row.posts += 1

    def _post(self, jobs: list[_Job], connection: CompanyConnection) -> None:
        if len(jobs) == 1:
            job = jobs[0]
            assert job.request is not None
            try:
                created = connection.create(job.entity, job.request_id)
                job.outcome = (job.request.transaction_type, str(created["Id"]))
            except QuickBooksRefused as exc:
                job.outcome = explain(exc.fault, job.request)
            return

        operations = []
        for number, job in enumerate(jobs):
            operations.append(
                {
                    "bId": str(number),
                    "operation": "create",
                    job.entity.qbo_object_name: job.entity.to_dict(),
                }
            )
        # The same exports batched again (after a lost answer) reuse the same request
        # id.
        batch_id = str(
            uuid.uuid5(_REQUEST_NAMESPACE, "|".join(sorted(j.request_id for j in jobs)))
        )
        answers = {a.get("bId"): a for a in connection.batch(operations, batch_id)}
        for number, job in enumerate(jobs):
            assert job.request is not None
            job.outcome = _batch_outcome(answers.get(str(number)), job.request)

    def _review(
        self, jobs: list[_Job], connection: CompanyConnection, company: _Company
    ) -> None:
        """What single answers in a batch ask of the whole company."""
        throttled = [j for j in jobs if isinstance(j.outcome, Throttled)]
        if throttled:
            wait_for = max(cast(Throttled, j.outcome).retry_after for j in throttled)
            company.paused_until = time.monotonic() + wait_for
            self._reschedule(throttled, wait_for, count=False)
            for job in throttled:
                job.outcome = None
        for job in jobs:
            code = job.outcome.code if isinstance(job.outcome, ExportFailure) else None
            if code in ("QB_610", "QB_2500"):
                company.references.forget()  # what was checked has changed since
            if code == "QB_6140" and job.request is not None:
                # A duplicate document number may be this very export, posted before.
                found = _find_posted(connection, job.request, job.build_id)
                if found:
                    job.outcome = (job.request.transaction_type, found)

    # -- outcomes ---------------------------------------------------------------------

    def _reschedule(self, jobs: list[_Job], delay: float, count: bool) -> None:
        when = self._recorder.clock() + timedelta(seconds=delay)
        with self._store.begin() as s:
            for job in jobs:
                row = _attempt(s, job.row_id, job.request_id)
                if row is not None:
                    row.next_attempt_at = when
                    row.scheduled_retries += 1 if count else 0
                    row.lease_owner = row.lease_until = None

    def _settle(
        self,
        jobs: list[_Job],
        settings: TenantSettings | None,
        outcome_of: Callable[[_Job], Any],
    ) -> None:
        realm = settings.realm_id if settings else None
        for job in jobs:
            outcome = outcome_of(job)
            with self._store.begin() as s:
                row = _attempt(s, job.row_id, job.request_id)
                if row is None:
                    continue  # settled elsewhere, or a newer attempt began
                if isinstance(outcome, ExportFailure):
                    if isinstance(outcome, RetryLater) and row.scheduled_retries < len(
                        self._policy.delays
                    ):
                        delay = self._policy.delays[row.scheduled_retries]
                        row.next_attempt_at = self._recorder.clock() + timedelta(
                            seconds=delay
                        )
                        row.scheduled_retries += 1
                        row.lease_owner = row.lease_until = None
                        log.warning(
                            "%s: %s Retry %d in %.0f s.",
                            row.reference,
                            outcome.message,
                            row.scheduled_retries,
                            delay,
                            extra={"tenant": row.tenant_id, "build": row.build_number},
                        )
                        continue
                    if isinstance(outcome, RetryLater):
                        outcome = RetryLater(
                            outcome.code,
                            f"{outcome.message} Gave up after "
                            f"{row.scheduled_retries} scheduled retries: "
                            "retry the export later.",
                        )
                    self._recorder.failed(s, row, outcome, realm)
                    log.warning(
                        "export %s failed (%s): %s",
                        row.reference,
                        outcome.code,
                        outcome.message,
                        extra={
                            "tenant": row.tenant_id,
                            "build": row.build_number,
                            "reference": row.reference,
                        },
                    )
                else:
                    transaction_type, transaction_id = outcome
                    self._recorder.synced(
                        s, row, realm or "", transaction_type, transaction_id
                    )
                    log.info(
                        "exported %s as %s %s",
                        row.reference,
                        transaction_type,
                        transaction_id,
                        extra={
                            "tenant": row.tenant_id,
                            "build": row.build_number,
                            "reference": row.reference,
                        },
                    )


def _attempt(s: Session, row_id: int, request_id: str | None) -> ExportRow | None:
    """The export, if this attempt of it is still under way (not settled elsewhere,
    and no newer attempt begun)."""
    row = s.get(ExportRow, row_id)
    if row is None or row.state != EXPORTING or row.request_id != request_id:
        return None
    return row


def _batch_outcome(
    answer: dict[str, Any] | None, request: AccountingRequest
) -> tuple[str, str] | ExportFailure:
    if answer is None:
        return RetryLater("QB_BATCH", "QuickBooks' batch reply left this export out.")
    if "Fault" in answer:
        fault = classify(400, json.dumps({"Fault": answer["Fault"]}))
        if fault.action is Action.THROTTLED:
            return Throttled(DEFAULT_THROTTLE_WAIT)
        if fault.action is Action.REFRESH_TOKEN:
            return RetryLater(
                f"QB_{fault.code}", "QuickBooks refused the access token."
            )
        return explain(fault, request)
    created = answer.get(request.transaction_type) or {}
    return (request.transaction_type, str(created.get("Id")))


def _find_posted(
    connection: CompanyConnection, request: AccountingRequest, build_id: str
) -> str | None:
    statement = (
        f"select * from {request.transaction_type} "
        f"where DocNumber = '{escape_query_value(request.reference)}'"
    )
    for txn in connection.query(statement):
        if build_id in str(txn.get("PrivateNote", "")):
            return str(txn["Id"])
    return None
