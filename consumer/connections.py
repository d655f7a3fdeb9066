"""One ``CompanyConnection`` per company, kept for the life of the process."""

from __future__ import annotations

import threading

from consumer.errors import NeedsPerson
from consumer.model import TenantSettings
from consumer.quickbooks_client import CompanyConnection, QuickBooksApp
from consumer.ratelimit import DEFAULT_LIMITS, CompanyRateLimiter, Limits
from consumer.store import Store


class Connections:
    def __init__(
        self, app: QuickBooksApp, store: Store, limits: Limits = DEFAULT_LIMITS
    ) -> None:
        self._app = app
        self._limits = limits
        self._store = store
        self._by_tenant: dict[str, CompanyConnection] = {}
        self._lock = threading.Lock()

    def for_tenant(self, settings: TenantSettings) -> CompanyConnection:
        status = self._store.connection_status(settings.tenant_id)
        if status is None:
            raise NeedsPerson(
                "CONNECTION_MISSING",
                f"{settings.tenant_id} has no QuickBooks connection: connect "
                "QuickBooks in the export settings, then retry the export.",
            )
        if status != "CONNECTED":
            raise NeedsPerson(
                "CONNECTION_EXPIRED",
                f"The QuickBooks connection of {settings.tenant_id} is "
                f"{status.lower()}: reconnect QuickBooks in the export settings, "
                "then retry the export.",
            )
        with self._lock:
            connection = self._by_tenant.get(settings.tenant_id)
            if connection is None or connection.realm_id != settings.realm_id:
                connection = CompanyConnection(
                    self._app,
                    settings.tenant_id,
                    settings.realm_id,
                    self._store,
                    CompanyRateLimiter(self._limits),
                )
                self._by_tenant[settings.tenant_id] = connection
            return connection
