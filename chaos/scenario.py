"""Builds with realistic lifecycles, and what each must become in the books.

A story is what happens to a build upstream; it decides the BuildStatusChanged events
published for it (in order) and the export expected at the end:

| story | events | expected |
|---|---|---|
| approved after QA | EXECUTED, APPROVED, PENDING_EXPORT | build synced |
| executed without QA | EXECUTED, PENDING_EXPORT | build synced |
| rejected, total or partial loss | EXECUTED, REJECTED, PENDING_EXPORT | waste synced |
| rejected, full recovery | EXECUTED, REJECTED (maybe PENDING_EXPORT) | not exported |
| unlinked product (synced) | EXECUTED, PENDING_EXPORT | PRODUCTS_NOT_LINKED |
| awaiting QA | EXECUTED | no export at all |

Amounts and quantities are computed here, independently of the service: money is
rounded to cents per line, half up; quantities keep four decimals.
"""

from __future__ import annotations

import random
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import ROUND_DOWN, ROUND_HALF_UP, Decimal
from typing import Any

from chaos.companies import Company, Product
from chaos.expected import FAILED, NOT_EXPORTED, SYNCED, ExpectedBuild, ExpectedExport

QUANTITIES = ("1", "2", "3", "4", "0.5", "1.25", "2.5", "0.3333")
# (story, weight); an unlinked product only makes sense where QuickBooks holds items.
STORIES = (
    ("approved", 40),
    ("no_qa", 24),
    ("total_loss", 9),
    ("partial_loss", 9),
    ("full_recovery", 8),
    ("unlinked", 4),
    ("awaiting_qa", 3),
)
CENT = Decimal("0.01")
QUANTUM = Decimal("0.0001")

Event = dict[str, Any]


@dataclass(frozen=True)
class PlannedBuild:
    expected: ExpectedBuild
    events: tuple[Event, ...]  # in the order upstream publishes them


def plan_builds(
    companies: list[Company], count: int, rng: random.Random, now: datetime
) -> list[PlannedBuild]:
    stories, weights = zip(*STORIES, strict=True)
    planned = []
    for number in range(1, count + 1):
        company = rng.choice(companies)
        story = rng.choices(stories, weights)[0]
        if story == "unlinked" and not company.synced:
            story = "no_qa"
        executed = now - timedelta(minutes=rng.randint(90, 4000))
        planned.append(_plan(story, _Draft.draw(company, number, rng), executed, rng))
    return planned


@dataclass(frozen=True)
class _Draft:
    """A build's snapshot fields, before a story gives it events."""

    company: Company
    build_id: str
    build_number: str
    finished_good: Product
    fg_quantity: Decimal
    components: tuple[tuple[Product, Decimal], ...]
    cost_lines: tuple[tuple[str, Decimal], ...]

    @classmethod
    def draw(cls, company: Company, number: int, rng: random.Random) -> _Draft:
        parts = rng.sample(company.components, rng.randint(2, 4))
        costs = [("LABOR", Decimal(rng.randint(500, 30000)) / 100)]
        if rng.random() < 0.5:
            costs.append(
                ("OVERHEAD", Decimal(rng.randint(100, 9999)) / 1000)
            )  # rounds half up
        return cls(
            company=company,
            build_id=str(uuid.UUID(int=rng.getrandbits(128), version=4)),
            build_number=f"B-{number:05d}",
            finished_good=rng.choice(company.finished_goods),
            fg_quantity=Decimal(rng.choice(("1", "2", "5"))),
            components=tuple((p, Decimal(rng.choice(QUANTITIES))) for p in parts),
            cost_lines=tuple(costs),
        )

    def with_unlinked_part(self) -> _Draft:
        loose = Product(
            f"{self.company.tenant_id}-loose",
            "UNL-001",
            "Unlinked spacer",
            None,
            Decimal("1.5"),
        )
        return _replace(self, components=(*self.components, (loose, Decimal(1))))

    def snapshot(self) -> Event:
        return {
            "tenant_id": self.company.tenant_id,
            "build_id": self.build_id,
            "build_number": self.build_number,
            "currency": "USD",
            "finished_good": _line(self.finished_good, self.fg_quantity),
            "components": [_line(p, q) for p, q in self.components],
            "cost_lines": [
                {"kind": kind, "amount": str(amount)}
                for kind, amount in self.cost_lines
            ],
        }


def _replace(draft: _Draft, **changes: Any) -> _Draft:
    return _Draft(**{**draft.__dict__, **changes})


def _plan(
    story: str, draft: _Draft, executed: datetime, rng: random.Random
) -> PlannedBuild:
    if story == "unlinked":
        draft = draft.with_unlinked_part()
    lifecycle = _Lifecycle(draft.snapshot(), rng)
    lifecycle.add("EXECUTED", executed)
    decided = executed + timedelta(minutes=40)
    exports: tuple[ExpectedExport, ...] = ()  # awaiting QA: executed, never decided

    if story in ("approved", "no_qa", "unlinked"):
        qa = _APPROVED if story == "approved" else None
        if qa:
            lifecycle.add("APPROVED", decided, qa=qa)
        lifecycle.ready(decided if qa else executed, qa)
        exports = (_build_export(draft, failed=story == "unlinked"),)
    elif story in ("total_loss", "partial_loss"):
        lost = _lost(draft, rng) if story == "partial_loss" else ()
        qa = _rejected(story.upper(), lost)
        lifecycle.add("REJECTED", decided, qa=qa)
        lifecycle.ready(decided, qa)
        exports = (_waste_export(draft, lost or draft.components),)
    elif story == "full_recovery":
        qa = _rejected("FULL_RECOVERY", ())
        lifecycle.add("REJECTED", decided, qa=qa)
        if rng.random() < 0.5:  # some upstreams announce it as ready all the same
            lifecycle.ready(decided, qa)
        exports = (ExpectedExport("BUILD", NOT_EXPORTED),)

    company = draft.company
    expected = ExpectedBuild(
        draft.build_id,
        company.tenant_id,
        company.realm_id,
        draft.build_number,
        _STORY_TEXT[story],
        exports,
    )
    return PlannedBuild(expected, tuple(lifecycle.events))


class _Lifecycle:
    """A build's events in the order upstream publishes them."""

    def __init__(self, snapshot: Event, rng: random.Random) -> None:
        self.events: list[Event] = []
        self._snapshot = snapshot
        self._rng = rng

    def add(
        self,
        status: str,
        occurred: datetime,
        ready: datetime | None = None,
        qa: Event | None = None,
    ) -> None:
        event_id = str(uuid.UUID(int=self._rng.getrandbits(128), version=4))
        self.events.append(
            {
                "event_id": event_id,
                "occurred_at": _timestamp(occurred),
                "status": status,
                "ready_at": _timestamp(ready) if ready else None,
                "qa": qa,
                **self._snapshot,
            }
        )

    def ready(self, ready: datetime, qa: Event | None) -> None:
        """Pending Export, a second after the decision that made it ready."""
        self.add("PENDING_EXPORT", ready + timedelta(seconds=1), ready, qa)


def _build_export(draft: _Draft, failed: bool) -> ExpectedExport:
    if failed:
        return ExpectedExport("BUILD", FAILED, error_code="PRODUCTS_NOT_LINKED")
    if draft.company.synced:
        moves = [(p, -q) for p, q in draft.components] + [
            (draft.finished_good, draft.fg_quantity)
        ]
        return ExpectedExport(
            "BUILD",
            SYNCED,
            transaction_type="InventoryAdjustment",
            quantities=_quantities(moves),
        )
    material = sum((_cents(q * p.unit_cost) for p, q in draft.components), Decimal(0))
    labour = sum((_cents(amount) for _, amount in draft.cost_lines), Decimal(0))
    return ExpectedExport(
        "BUILD", SYNCED, transaction_type="JournalEntry", amount=str(material + labour)
    )


def _waste_export(
    draft: _Draft, lost: tuple[tuple[Product, Decimal], ...]
) -> ExpectedExport:
    if draft.company.synced:
        return ExpectedExport(
            "WASTE",
            SYNCED,
            transaction_type="InventoryAdjustment",
            quantities=_quantities([(p, -q) for p, q in lost]),
        )
    amount = sum((_cents(p.unit_cost * q) for p, q in lost), Decimal(0))
    return ExpectedExport(
        "WASTE", SYNCED, transaction_type="JournalEntry", amount=str(amount)
    )


def _lost(draft: _Draft, rng: random.Random) -> tuple[tuple[Product, Decimal], ...]:
    """Some of one or two components lost, each at most what was consumed."""
    chosen = rng.sample(draft.components, rng.randint(1, min(2, len(draft.components))))
    lost = []
    for product, quantity in chosen:
        part = (quantity * Decimal(rng.choice(("0.5", "1")))).quantize(
            QUANTUM, rounding=ROUND_DOWN
        )
        lost.append((product, part))
    return tuple(lost)


def _quantities(moves: list[tuple[Product, Decimal]]) -> dict[str, str]:
    totals: dict[str, Decimal] = {}
    for product, quantity in moves:
        assert product.item_id is not None
        totals[product.item_id] = totals.get(product.item_id, Decimal(0)) + quantity
    return {item: str(quantity) for item, quantity in totals.items()}


def _cents(amount: Decimal) -> Decimal:
    return amount.quantize(CENT, rounding=ROUND_HALF_UP)


def _line(product: Product, quantity: Decimal) -> Event:
    return {
        "product_id": product.product_id,
        "sku": product.sku,
        "name": product.name,
        "accounting_item_id": product.item_id,
        "quantity": str(quantity),
        "unit_cost": str(product.unit_cost),
    }


def _timestamp(moment: datetime) -> str:
    return (
        moment.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
    )


def _rejected(mode: str, lost: tuple[tuple[Product, Decimal], ...]) -> Event:
    return {
        "result": "REJECTED",
        "reason": "QUALITY_DEFECT",
        "recovery_mode": mode,
        "lost": [{"product_id": p.product_id, "quantity": str(q)} for p, q in lost],
        "notes": None,
    }


_APPROVED: Event = {
    "result": "APPROVED",
    "reason": None,
    "recovery_mode": None,
    "lost": [],
    "notes": "passed final inspection",
}
_STORY_TEXT = {
    "approved": "approved after QA",
    "no_qa": "executed without QA",
    "total_loss": "rejected, total loss",
    "partial_loss": "rejected, partial loss",
    "full_recovery": "rejected, full recovery",
    "unlinked": "unlinked product",
    "awaiting_qa": "awaiting QA",
}
