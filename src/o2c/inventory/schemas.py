from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Annotated

from pydantic import Field, field_validator

from o2c.catalog.schemas import Sku
from o2c.core.schemas import Code, OutModel, QtyStr, StrictModel
from o2c.customers.schemas import AddressIn, AddressOut


class WarehouseIn(StrictModel):
    code: Code
    address: AddressIn
    latitude: Annotated[Decimal, Field(ge=-90, le=90, decimal_places=6)] | None = None
    longitude: Annotated[Decimal, Field(ge=-180, le=180, decimal_places=6)] | None = None


class WarehouseOut(OutModel):
    id: int
    code: str
    address: AddressOut
    latitude: QtyStr | None
    longitude: QtyStr | None
    active: bool


class StockSet(StrictModel):
    sku: Sku
    warehouse: Code
    on_hand: Annotated[Decimal, Field(ge=0, max_digits=13, decimal_places=3)]
    reason: str = Field(min_length=3, max_length=200)


class StockOut(OutModel):
    sku: str
    warehouse: str
    on_hand: QtyStr
    reserved: QtyStr
    available: QtyStr
    bin: str | None = None


# ---------------------------------------------------------------- receipts, adjustments, counts, bins, moves

# Quantities are kept to 3 decimals (the stock columns); a product's unit may allow fewer (checked by
# the service against the product: no half widgets).
Quantity = Annotated[Decimal, Field(max_digits=13, decimal_places=3)]
PositiveQuantity = Annotated[Decimal, Field(gt=0, max_digits=13, decimal_places=3)]
CountedQuantity = Annotated[Decimal, Field(ge=0, max_digits=13, decimal_places=3)]
# The shape (ZONE-AISLE-BAY-LEVEL) is checked by o2c.fulfillment.picking.parse_bin in the service.
BinCode = Annotated[str, Field(min_length=1, max_length=20)]
Reference = Annotated[str, Field(min_length=1, max_length=60)]  # delivery note, PO, count sheet


class ReceiptLineIn(StrictModel):
    sku: Sku
    quantity: PositiveQuantity
    bin: BinCode | None = None  # where the goods are put away; becomes the product's bin there


class ReceiptIn(StrictModel):
    """Goods received into one warehouse, from one delivery."""

    warehouse: Code
    reference: Reference | None = None
    note: str | None = Field(None, min_length=1, max_length=200)
    lines: list[ReceiptLineIn] = Field(min_length=1, max_length=1000)


class AdjustmentIn(StrictModel):
    """A signed change of on hand outside a receipt or a count, with a reason code
    (o2c.inventory.rules.ADJUSTMENT_REASONS) and a note saying what happened."""

    sku: Sku
    warehouse: Code
    quantity: Quantity
    reason: str = Field(min_length=1, max_length=20)
    note: str = Field(min_length=3, max_length=170)  # stored with the code in the move's 200-character reason
    reference: Reference | None = None

    @field_validator("quantity")
    @classmethod
    def _not_zero(cls, q: Decimal) -> Decimal:
        if q == 0:
            raise ValueError("an adjustment of zero changes nothing: give the signed change (e.g. -2 or 3)")
        return q


class CountLineIn(StrictModel):
    sku: Sku
    counted: CountedQuantity


class CountIn(StrictModel):
    """A cycle count of some products in one warehouse: what was found on the shelf."""

    warehouse: Code
    reference: Reference | None = None
    note: str | None = Field(None, min_length=1, max_length=200)
    lines: list[CountLineIn] = Field(min_length=1, max_length=1000)


class BinSet(StrictModel):
    sku: Sku
    warehouse: Code
    bin: BinCode | None  # null: the product has no bin in this warehouse any more


class AllocatedLineOut(OutModel):
    line_no: int
    sku: str
    warehouse: str
    quantity: QtyStr


class AllocatedOrderOut(OutModel):
    """An order that was waiting for stock and got some from this change."""

    order_id: int
    number: str
    status: str
    lines: list[AllocatedLineOut]


class ReceivedLineOut(OutModel):
    sku: str
    quantity: QtyStr
    bin: str | None
    on_hand: QtyStr  # after this line
    move_id: int


class ReceiptOut(OutModel):
    warehouse: str
    reference: str | None
    lines: list[ReceivedLineOut]
    stock: list[StockOut]  # each received product in the warehouse after the receipt and the allocation
    allocated: list[AllocatedOrderOut]


class AdjustmentOut(OutModel):
    sku: str
    warehouse: str
    quantity: QtyStr
    reason: str
    note: str
    move_id: int
    stock: StockOut
    allocated: list[AllocatedOrderOut]


class CountedLineOut(OutModel):
    sku: str
    expected: QtyStr
    counted: QtyStr
    difference: QtyStr
    move_id: int


class CountOut(OutModel):
    warehouse: str
    reference: str | None
    lines: list[CountedLineOut]
    stock: list[StockOut]
    allocated: list[AllocatedOrderOut]


class MoveOut(OutModel):
    id: int
    at: datetime
    sku: str
    warehouse: str
    kind: str
    quantity: QtyStr  # signed change of on hand
    on_hand_after: QtyStr
    reason: str | None
    reference: str | None
    by: str | None  # username; None for the system
