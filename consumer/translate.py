"""From a build and its company's settings to the accounting request that exports it.

Pure functions only: no session, no client, no clock. Money is rounded to cents per
line, half up, before anything is summed, so a journal entry's sides match exactly.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import date
from decimal import ROUND_HALF_UP, Context, Decimal
from zoneinfo import ZoneInfo

from consumer.model import (
    AccountingRequest,
    AdjustmentLine,
    Build,
    BuildLine,
    BuildStatus,
    ExportKind,
    InventoryAdjustmentRequest,
    InventoryMode,
    JournalEntryRequest,
    JournalLine,
    RecoveryMode,
    TenantSettings,
)

CENT = Decimal("0.01")


# Wide enough for the schema's largest quantity times its largest unit cost, exactly.
_EXACT = Context(prec=60)


def cents(amount: Decimal) -> Decimal:
    return amount.quantize(CENT, rounding=ROUND_HALF_UP, context=_EXACT)


def reference(build_id: str, kind: ExportKind) -> str:
    """``PSB-`` and the first 8 hex digits of the build's UUID; waste adds ``-W``."""
    base = "PSB-" + build_id.replace("-", "")[:8].upper()
    return base + "-W" if kind is ExportKind.WASTE else base


def unique_reference(base: str, taken: set[str]) -> str:
    """``base``, or ``base-2``, ``base-3``... when another build of the company has it.

    Eight hex digits of two build ids can match; the second export then gets the first
    free suffix, so people can still tell the two transactions apart.
    """
    if base not in taken:
        return base
    n = 2
    while f"{base}-{n}" in taken:
        n += 1
    return f"{base}-{n}"


def private_note(build: Build, kind: ExportKind) -> str:
    what = "waste export" if kind is ExportKind.WASTE else "build export"
    return f"Partsemble {what} of build {build.build_number}; build id {build.build_id}"


def exports_needed(build: Build) -> tuple[ExportKind, ...]:
    """What a build ready for export must become in the books."""
    if build.status is not BuildStatus.PENDING_EXPORT:
        return ()
    if build.qa is None or not build.qa.rejected:
        return (ExportKind.BUILD,)
    if build.qa.recovery_mode is RecoveryMode.FULL_RECOVERY:
        return ()
    return (ExportKind.WASTE,)


def is_full_recovery(build: Build) -> bool:
    return (
        build.qa is not None
        and build.qa.rejected
        and build.qa.recovery_mode is RecoveryMode.FULL_RECOVERY
    )


def transaction_date(build: Build, timezone: str) -> date:
    """The date, in the company's timezone, when the build became ready for export."""
    moment = build.ready_at or build.occurred_at
    return moment.astimezone(ZoneInfo(timezone)).date()


def lost_lines(build: Build) -> tuple[tuple[BuildLine, Decimal], ...]:
    """Each consumed component with the quantity of it that was lost."""
    assert build.qa is not None
    if build.qa.recovery_mode is RecoveryMode.TOTAL_LOSS:
        return tuple((c, c.quantity) for c in build.components)

    # A partial loss names products; spread each product's lost quantity over its lines.
    remaining: dict[str, Decimal] = defaultdict(Decimal)
    for x in build.qa.lost:
        remaining[x.product_id] += x.quantity
    lines = []
    for c in build.components:
        taken = min(c.quantity, remaining[c.product_id])
        if taken > 0:
            lines.append((c, taken))
            remaining[c.product_id] -= taken
    return tuple(lines)


def build_cost(build: Build) -> Decimal:
    """Consumed components at their captured unit costs plus the build's cost lines."""
    lines = [cents(_EXACT.multiply(c.quantity, c.unit_cost)) for c in build.components]
    lines += [cents(x.amount) for x in build.cost_lines]
    return _total(lines)


def waste_cost(build: Build) -> Decimal:
    """Material cost of the lost components only."""
    return _total(
        [cents(_EXACT.multiply(c.unit_cost, q)) for c, q in lost_lines(build)]
    )


def _total(amounts: list[Decimal]) -> Decimal:
    total = Decimal(0)
    for amount in amounts:
        total = _EXACT.add(total, amount)
    return total


def waste_account(settings: TenantSettings) -> str | None:
    if settings.waste_account_id:
        return settings.waste_account_id
    if settings.inventory_mode is InventoryMode.SYNCED:
        return settings.cogs_account_id
    return settings.build_debit_account_id


def nothing_to_book(
    build: Build, settings: TenantSettings, kind: ExportKind
) -> str | None:
    """Why an export needs no transaction at all, or None: a journal entry of 0.00."""
    if settings.inventory_mode is InventoryMode.SYNCED:
        return None
    amount = build_cost(build) if kind is ExportKind.BUILD else waste_cost(build)
    if amount == 0:
        return "its cost rounds to 0.00: no journal entry is needed"
    return None


def currency_problem(build: Build, settings: TenantSettings) -> str | None:
    """A journal entry is booked in the company's home currency; no other one can be."""
    if (
        settings.inventory_mode is InventoryMode.SYNCED
        or build.currency == settings.home_currency
    ):
        return None
    return (
        f"Build {build.build_number} is costed in {build.currency}, but the "
        f"QuickBooks company's home currency is {settings.home_currency} (the "
        "home_currency export setting). Exports in another currency are not "
        "supported: correct the setting or the build's currency, then retry."
    )


def missing_settings(settings: TenantSettings, kind: ExportKind) -> list[str]:
    """The export settings this export needs and the company has not set."""
    if settings.inventory_mode is InventoryMode.SYNCED:
        if not settings.cogs_account_id:
            return ["COGS account (the offset account of build adjustments)"]
        return []
    missing = []
    if kind is ExportKind.BUILD and not settings.build_debit_account_id:
        missing.append("build debit account")
    if kind is ExportKind.WASTE and not waste_account(settings):
        missing.append("waste account (or the build debit account it falls back to)")
    if not settings.build_credit_account_id:
        missing.append("build credit account")
    return missing


def products_on(build: Build, kind: ExportKind) -> tuple[BuildLine, ...]:
    """The products an inventory adjustment of this export names."""
    if kind is ExportKind.WASTE:
        return tuple(c for c, _ in lost_lines(build))
    return (*build.components, build.finished_good)


def unlinked_products(build: Build, kind: ExportKind) -> tuple[BuildLine, ...]:
    return tuple(
        p for p in products_on(build, kind) if not (p.accounting_item_id or "").strip()
    )


def translate(
    build: Build, settings: TenantSettings, kind: ExportKind, ref: str | None = None
) -> AccountingRequest:
    """The inventory adjustment or journal entry that exports ``build`` as ``kind``,
    under reference ``ref`` (by default the build's own; see ``unique_reference``).

    Callers check ``missing_settings`` and ``unlinked_products`` first.
    """
    ref = ref or reference(build.build_id, kind)
    txn_date = transaction_date(build, settings.timezone)
    note = private_note(build, kind)

    if settings.inventory_mode is InventoryMode.SYNCED:
        return InventoryAdjustmentRequest(
            kind=kind,
            reference=ref,
            txn_date=txn_date,
            private_note=note,
            adjust_account_id=_required(
                settings.cogs_account_id
                if kind is ExportKind.BUILD
                else waste_account(settings)
            ),
            lines=_adjustment_lines(build, kind),
        )

    if kind is ExportKind.BUILD:
        amount, debit = build_cost(build), settings.build_debit_account_id
        what = (
            f"Build {build.build_number}: "
            f"{build.finished_good.quantity.normalize():f} x "
            f"{build.finished_good.name}"
        )
    else:
        amount, debit = waste_cost(build), waste_account(settings)
        what = f"Waste of build {build.build_number}"
    return JournalEntryRequest(
        kind=kind,
        reference=ref,
        txn_date=txn_date,
        private_note=note,
        currency=build.currency,
        lines=(
            JournalLine("Debit", _required(debit), amount, what),
            JournalLine(
                "Credit", _required(settings.build_credit_account_id), amount, what
            ),
        ),
    )


def _adjustment_lines(build: Build, kind: ExportKind) -> tuple[AdjustmentLine, ...]:
    if kind is ExportKind.WASTE:
        return tuple(
            AdjustmentLine(_required(c.accounting_item_id), -q, c)
            for c, q in lost_lines(build)
        )
    consumed = tuple(
        AdjustmentLine(_required(c.accounting_item_id), -c.quantity, c)
        for c in build.components
    )
    fg = build.finished_good
    return (
        *consumed,
        AdjustmentLine(_required(fg.accounting_item_id), fg.quantity, fg),
    )


def _required(value: str | None) -> str:
    if not value:
        raise ValueError(
            "translate() called before the export's prerequisites were checked"
        )
    return value
