"""Everything the emulator knows, behind one lock: apps, tokens and companies."""

from __future__ import annotations

import json
import random
import threading
import time
from collections.abc import Callable
from typing import Any

from consumer.emulator.company import Company
from consumer.emulator.controls import Controls
from consumer.emulator.encoding import dumps
from consumer.emulator.errors import EmulatorError
from consumer.emulator.injected import Injected
from consumer.emulator.limits import QUICKBOOKS_LIMITS, RateLimits
from consumer.emulator.seed import Seed
from consumer.emulator.tokens import TokenStore
from consumer.emulator.wire import Reply


class EmulatorState:
    def __init__(
        self,
        access_token_ttl: float,
        rate_limits: RateLimits = QUICKBOOKS_LIMITS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        # Re-entrant: a request checks, acts and remembers its reply in one hold.
        self.lock = threading.RLock()
        self.tokens = TokenStore(access_token_ttl)
        self.companies: dict[str, Company] = {}
        self.rate_limits = rate_limits  # what a newly seeded company starts with
        self._clock = clock

    def load_seed(self, seed: Seed) -> list[str]:
        """Add or replace apps and companies; a replaced company starts afresh."""
        with self.lock:
            for app in seed.apps:
                self.tokens.add_app(app.client_id, app.client_secret)
            for company_seed in seed.companies:
                self.companies[company_seed.realm_id] = Company.from_seed(
                    company_seed, self.rate_limits
                )
                self.tokens.connect(company_seed.realm_id, company_seed.refresh_token)
            return [company.realm_id for company in seed.companies]

    def company(self, realm_id: str) -> Company | None:
        with self.lock:
            return self.companies.get(realm_id)

    def ledger(self, realm_id: str | None = None) -> dict[str, Any]:
        """The ledger as plain JSON values, the same for Python callers and HTTP."""
        with self.lock:
            if realm_id is not None and realm_id not in self.companies:
                raise EmulatorError(f"no company with realm id {realm_id}")
            realms = [realm_id] if realm_id is not None else sorted(self.companies)
            view = {realm: self.companies[realm].ledger_view() for realm in realms}
        result: dict[str, Any] = json.loads(dumps({"companies": view}))
        return result

    def stats(self, realm_id: str) -> dict[str, int]:
        with self.lock:
            return self._company(realm_id).traffic.stats()

    def control(self, realm_id: str, controls: Controls) -> dict[str, Any]:
        """Apply test controls to a company; return what is now in force."""
        with self.lock:
            company = self._company(realm_id)
            _check_ids(company, controls)
            _set_traffic(company, controls, self._clock())

            if controls.latency_ms is not None:
                company.latency_ms = controls.latency_ms
            if controls.fail_next is not None:
                company.pending_faults.clear()
                company.pending_faults.extend(controls.fail_next)
            if controls.sets_closed_books:
                company.closed_books_date = controls.closed_books_date
            if controls.inventory_tracking is not None:
                company.inventory_tracking = controls.inventory_tracking
            _set_active(company, controls)

            if controls.revoke:
                self.tokens.revoke_realm(realm_id)
            if controls.refresh_token is not None:
                self.tokens.connect(realm_id, controls.refresh_token)
            return _in_force(company, self._clock())

    def latency_seconds(self, realm_id: str) -> float:
        with self.lock:
            company = self.companies.get(realm_id)
            return company.latency_ms / 1000 if company is not None else 0.0

    def admit(self, realm_id: str, *, batch: bool) -> Reply | None:
        """Count a request; a 429 reply if the company's limits refuse it."""
        with self.lock:
            company = self.companies.get(realm_id)
            if company is None:
                return None  # refused later, as an unknown company
            return company.traffic.admit(self._clock(), batch=batch)

    def count_throttled(self, realm_id: str) -> None:
        with self.lock:
            company = self.companies.get(realm_id)
            if company is not None:
                company.traffic.throttled += 1

    def take_injected_fault(self, realm_id: str) -> Injected | None:
        """The next ``fail_next`` fault, else whatever the error rates draw."""
        with self.lock:
            company = self.companies.get(realm_id)
            if company is None:
                return None
            if company.pending_faults:
                return company.pending_faults.popleft()
            return company.error_rates.draw(company.rng)

    def timeout_seconds(self, realm_id: str) -> float:
        with self.lock:
            return self._company(realm_id).timeout_seconds

    def _company(self, realm_id: str) -> Company:
        company = self.companies.get(realm_id)
        if company is None:
            raise EmulatorError(f"no company with realm id {realm_id}")
        return company


def _check_ids(company: Company, controls: Controls) -> None:
    for ids in (controls.activate, controls.deactivate):
        unknown = [f"account {i}" for i in ids.accounts if i not in company.accounts]
        unknown += [f"item {i}" for i in ids.items if i not in company.items]
        if unknown:
            raise EmulatorError(
                f"company {company.realm_id} has no {', '.join(unknown)}"
            )


def _set_traffic(company: Company, controls: Controls, now: float) -> None:
    if controls.sets_rate_limits:
        company.traffic.limits = company.traffic.limits.changed(controls.rate_limits)
    if controls.throttle_for_seconds is not None:
        company.traffic.throttled_until = now + controls.throttle_for_seconds
    if controls.error_rates is not None:
        company.error_rates = controls.error_rates
    if controls.random_seed is not None:
        company.rng = random.Random(controls.random_seed)
    if controls.timeout_seconds is not None:
        company.timeout_seconds = controls.timeout_seconds


def _set_active(company: Company, controls: Controls) -> None:
    for ids, active in ((controls.deactivate, False), (controls.activate, True)):
        for account_id in ids.accounts:
            company.accounts[account_id]["Active"] = active
        for item_id in ids.items:
            company.items[item_id]["Active"] = active


def _in_force(company: Company, now: float) -> dict[str, Any]:
    closed = company.closed_books_date
    traffic = company.traffic
    return {
        "realm_id": company.realm_id,
        "latency_ms": company.latency_ms,
        "pending_faults": len(company.pending_faults),
        "rate_limits": traffic.limits.as_json(),
        "throttled_for_seconds": max(0.0, traffic.throttled_until - now),
        "error_rates": company.error_rates.as_json(),
        "timeout_seconds": company.timeout_seconds,
        "closed_books_date": closed.isoformat() if closed is not None else None,
        "inventory_tracking": company.inventory_tracking,
    }
