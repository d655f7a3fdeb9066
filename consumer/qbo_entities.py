"""QuickBooks entities python-quickbooks lacks, and the payloads built from requests.

``InventoryAdjustment`` is registered as a business object of ``ExportClient`` so it
goes through the library's own request path like its built-in entities.
"""

from __future__ import annotations

from decimal import Decimal

from quickbooks.objects.base import (
    QuickbooksManagedObject,
    QuickbooksTransactionEntity,
    Ref,
)
from quickbooks.objects.detailline import DetailLine
from quickbooks.objects.journalentry import (
    JournalEntry,
    JournalEntryLine,
    JournalEntryLineDetail,
)

from consumer.model import (
    AccountingRequest,
    InventoryAdjustmentRequest,
    JournalEntryRequest,
)


class ItemAdjustmentLineDetail(QuickbooksManagedObject):
    class_dict = {"ItemRef": Ref}

    def __init__(self) -> None:
        super().__init__()
        self.ItemRef: Ref | None = None
        self.QtyDiff: float | None = None
        self.NewQty: float | None = None


class ItemAdjustmentLine(DetailLine):
    class_dict = {"ItemAdjustmentLineDetail": ItemAdjustmentLineDetail}

    def __init__(self) -> None:
        super().__init__()
        self.DetailType = "ItemAdjustmentLineDetail"
        self.ItemAdjustmentLineDetail: ItemAdjustmentLineDetail | None = None
        # An adjustment line carries a quantity, never an amount.
        self.Amount = None
        self.LineNum = None
        self.LinkedTxn = None
        self.CustomField = None


class InventoryAdjustment(QuickbooksManagedObject, QuickbooksTransactionEntity):
    """QuickBooks' record of a change in quantity on hand, offset to one account."""

    class_dict = {"AdjustAccountRef": Ref, "DepartmentRef": Ref}
    list_dict = {"Line": ItemAdjustmentLine}
    detail_dict = {"ItemAdjustmentLineDetail": ItemAdjustmentLine}
    qbo_object_name = "InventoryAdjustment"

    def __init__(self) -> None:
        super().__init__()
        self.TxnDate = ""
        self.DocNumber = ""
        self.PrivateNote = ""
        self.AdjustAccountRef: Ref | None = None
        self.DepartmentRef: Ref | None = None
        self.Line: list[ItemAdjustmentLine] = []


def wire_number(value: Decimal) -> float:
    """A Decimal as the JSON number QuickBooks expects, refusing to lose precision."""
    number = float(value)
    if Decimal(repr(number)) != value:
        raise ValueError(f"{value} cannot travel exactly as a JSON number")
    return number


def to_entity(request: AccountingRequest) -> InventoryAdjustment | JournalEntry:
    if isinstance(request, InventoryAdjustmentRequest):
        return _adjustment(request)
    return _journal_entry(request)


def _ref(value: str) -> Ref:
    ref = Ref()
    ref.value = value
    ref.name = None
    ref.type = None
    return ref


def _adjustment(request: InventoryAdjustmentRequest) -> InventoryAdjustment:
    entity = InventoryAdjustment()
    entity.TxnDate = request.txn_date.isoformat()
    entity.DocNumber = request.reference
    entity.PrivateNote = request.private_note
    entity.AdjustAccountRef = _ref(request.adjust_account_id)
    for line in request.lines:
        detail = ItemAdjustmentLineDetail()
        detail.ItemRef = _ref(line.item_id)
        detail.QtyDiff = wire_number(line.qty_diff)
        entry = ItemAdjustmentLine()
        entry.Description = line.product.label
        entry.ItemAdjustmentLineDetail = detail
        entity.Line.append(entry)
    return entity


def _journal_entry(request: JournalEntryRequest) -> JournalEntry:
    entity = JournalEntry()
    entity.TxnDate = request.txn_date.isoformat()
    entity.DocNumber = request.reference
    entity.PrivateNote = request.private_note
    # The library fills these with defaults QuickBooks computes itself; leave them out.
    entity.TotalAmt = None
    entity.ExchangeRate = None
    entity.Adjustment = None
    for line in request.lines:
        detail = JournalEntryLineDetail()
        detail.PostingType = line.posting_type
        detail.AccountRef = _ref(line.account_id)
        detail.TaxApplicableOn = None
        detail.TaxAmount = None
        entry = JournalEntryLine()
        entry.Amount = wire_number(line.amount)
        entry.Description = line.description
        entry.JournalEntryLineDetail = detail
        entry.LinkedTxn = None
        entry.CustomField = None
        entry.LineNum = None
        entity.Line.append(entry)
    return entity
