"""One QuickBooks company: accounts, items, posted transactions, test controls."""

from __future__ import annotations

import copy
import random
from collections import deque
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from consumer.emulator.encoding import meta_data
from consumer.emulator.error_rates import ErrorRates
from consumer.emulator.injected import Injected
from consumer.emulator.limits import QUICKBOOKS_LIMITS, RateLimits, Traffic
from consumer.emulator.seed import CompanySeed
from consumer.emulator.wire import Reply


@dataclass
class Transaction:
    type: str
    id: str
    request_id: str | None
    body: dict[str, Any]


@dataclass
class Company:
    realm_id: str
    name: str
    inventory_tracking: bool
    accounts: dict[str, dict[str, Any]]
    items: dict[str, dict[str, Any]]
    next_id: int
    transactions: list[Transaction] = field(default_factory=list)
    replies: dict[str, Reply] = field(default_factory=dict)  # by request id
    closed_books_date: date | None = None
    latency_ms: int = 0
    pending_faults: deque[Injected] = field(default_factory=deque)
    traffic: Traffic = field(default_factory=Traffic)
    error_rates: ErrorRates = field(default_factory=ErrorRates)
    rng: random.Random = field(default_factory=random.Random)
    timeout_seconds: float = 5.0

    @classmethod
    def from_seed(
        cls, seed: CompanySeed, limits: RateLimits = QUICKBOOKS_LIMITS
    ) -> Company:
        numeric = [
            int(obj["Id"])
            for obj in [*seed.accounts, *seed.items]
            if str(obj.get("Id", "")).isdigit()
        ]
        company = cls(
            realm_id=seed.realm_id,
            name=seed.name,
            inventory_tracking=seed.inventory_tracking,
            accounts={},
            items={},
            next_id=max(numeric, default=0) + 1,
            traffic=Traffic(limits),
            rng=random.Random(seed.realm_id),
        )
        for account in seed.accounts:
            company._add_list_object(company.accounts, account)
        for item in seed.items:
            stored = company._add_list_object(company.items, item)
            stored.setdefault("TrackQtyOnHand", stored["Type"] == "Inventory")
        return company

    def new_id(self) -> str:
        object_id = str(self.next_id)
        self.next_id += 1
        return object_id

    def record(
        self, entity: str, body: dict[str, Any], request_id: str | None
    ) -> dict[str, Any]:
        """Give a checked transaction its identity and add it to the ledger."""
        stored = {
            **body,
            "Id": self.new_id(),
            "SyncToken": "0",
            "domain": "QBO",
            "sparse": False,
            "MetaData": meta_data(),
        }
        self.transactions.append(Transaction(entity, stored["Id"], request_id, stored))
        return stored

    def objects(self, entity: str) -> list[dict[str, Any]]:
        if entity == "Account":
            return list(self.accounts.values())
        if entity == "Item":
            return list(self.items.values())
        return [t.body for t in self.transactions if t.type == entity]

    def find(self, entity: str, object_id: str) -> dict[str, Any] | None:
        return next(
            (obj for obj in self.objects(entity) if obj["Id"] == object_id), None
        )

    def ledger_view(self) -> dict[str, Any]:
        transactions = [
            {"type": t.type, "id": t.id, "request_id": t.request_id, "body": t.body}
            for t in self.transactions
        ]
        return copy.deepcopy(
            {
                "transactions": transactions,
                "items": list(self.items.values()),
                "stats": self.traffic.stats(),
            }
        )

    def _add_list_object(
        self, target: dict[str, dict[str, Any]], seeded: dict[str, Any]
    ) -> dict[str, Any]:
        stored = copy.deepcopy(seeded)
        if "Id" not in stored:
            stored["Id"] = self.new_id()
        stored.setdefault("FullyQualifiedName", stored["Name"])
        stored.setdefault("SyncToken", "0")
        stored.setdefault("domain", "QBO")
        stored.setdefault("sparse", False)
        stored.setdefault("MetaData", meta_data())
        target[stored["Id"]] = stored
        return stored
