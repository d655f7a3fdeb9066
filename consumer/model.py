"""The domain's records: a build as the export sees it, a company's export settings,
and the accounting requests an export becomes."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from enum import StrEnum


class BuildStatus(StrEnum):
    PLANNED = "PLANNED"
    EXECUTED = "EXECUTED"
    APPROVED = "APPROVED"
    REJECTED = "REJECTED"
    PENDING_EXPORT = "PENDING_EXPORT"
    SYNCED = "SYNCED"
    FAILED = "FAILED"


class RecoveryMode(StrEnum):
    FULL_RECOVERY = "FULL_RECOVERY"
    TOTAL_LOSS = "TOTAL_LOSS"
    PARTIAL_LOSS = "PARTIAL_LOSS"


class ExportKind(StrEnum):
    BUILD = "BUILD"
    WASTE = "WASTE"


class InventoryMode(StrEnum):
    SYNCED = "SYNCED"
    PARTSEMBLE_ONLY = "PARTSEMBLE_ONLY"


class ExportMode(StrEnum):
    AUTO = "AUTO"
    MANUAL = "MANUAL"


@dataclass(frozen=True)
class BuildLine:
    product_id: str
    sku: str
    name: str
    accounting_item_id: str | None
    quantity: Decimal
    unit_cost: Decimal

    @property
    def label(self) -> str:
        return f"{self.sku} ({self.name})"


@dataclass(frozen=True)
class CostLine:
    kind: str
    amount: Decimal


@dataclass(frozen=True)
class LostQuantity:
    product_id: str
    quantity: Decimal


@dataclass(frozen=True)
class QaDecision:
    result: str
    reason: str | None
    recovery_mode: RecoveryMode | None
    lost: tuple[LostQuantity, ...]
    notes: str | None

    @property
    def rejected(self) -> bool:
        return self.result == "REJECTED"


@dataclass(frozen=True)
class Build:
    """A build's snapshot, as carried by one BuildStatusChanged event."""

    event_id: str
    occurred_at: datetime
    tenant_id: str
    build_id: str
    build_number: str
    status: BuildStatus
    ready_at: datetime | None
    currency: str
    finished_good: BuildLine
    components: tuple[BuildLine, ...]
    cost_lines: tuple[CostLine, ...]
    qa: QaDecision | None


@dataclass(frozen=True)
class TenantSettings:
    """A company's export settings and the QuickBooks company it is connected to."""

    tenant_id: str
    realm_id: str
    inventory_mode: InventoryMode
    export_mode: ExportMode = ExportMode.AUTO
    cogs_account_id: str | None = None
    waste_account_id: str | None = None
    build_debit_account_id: str | None = None
    build_credit_account_id: str | None = None
    timezone: str = "UTC"
    home_currency: str = "USD"


@dataclass(frozen=True)
class AdjustmentLine:
    item_id: str
    qty_diff: Decimal
    product: BuildLine


@dataclass(frozen=True)
class InventoryAdjustmentRequest:
    kind: ExportKind
    reference: str
    txn_date: date
    private_note: str
    adjust_account_id: str
    lines: tuple[AdjustmentLine, ...]

    transaction_type = "InventoryAdjustment"


@dataclass(frozen=True)
class JournalLine:
    posting_type: str  # "Debit" or "Credit"
    account_id: str
    amount: Decimal
    description: str


@dataclass(frozen=True)
class JournalEntryRequest:
    kind: ExportKind
    reference: str
    txn_date: date
    private_note: str
    currency: str
    lines: tuple[JournalLine, ...] = field(default_factory=tuple)

    transaction_type = "JournalEntry"

    def total(self, posting_type: str) -> Decimal:
        return sum(
            (ln.amount for ln in self.lines if ln.posting_type == posting_type),
            Decimal(0),
        )


AccountingRequest = InventoryAdjustmentRequest | JournalEntryRequest
