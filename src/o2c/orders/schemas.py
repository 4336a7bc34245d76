from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from typing import Annotated, Literal

from pydantic import Field, ValidationError, model_validator
from pydantic_core import InitErrorDetails, PydanticCustomError

from o2c.catalog.schemas import Price, Sku
from o2c.core.schemas import (
    Code, CurrencyCode, DecimalStr, OutModel, PctStr, Percent, PriceStr, QtyStr, RecordId, StrictModel,
)
from o2c.customers.schemas import AddressIn, AddressOut
from o2c.orders.rules import CHANNELS

Channel = Literal[CHANNELS]  # type: ignore[valid-type]
# Above a million of anything on one line is a typing error, not an order.
LineQty = Annotated[Decimal, Field(gt=0, le=1_000_000, max_digits=13, decimal_places=3)]
MAX_LINES = 5000


class OrderLineIn(StrictModel):
    sku: Sku
    quantity: LineQty
    unit_price: Price | None = Field(None, description="Only to override the list price; needs override_reason")
    override_reason: str | None = Field(None, max_length=200)
    discount_pct: Percent | None = None


class OrderIn(StrictModel):
    customer_id: RecordId | None = None
    customer_code: Code | None = None
    channel: Channel
    po_number: str | None = Field(None, min_length=1, max_length=60)
    currency: CurrencyCode | None = Field(None, description="Defaults to the customer's; must equal it")
    ship_to: AddressIn | None = Field(None, description="Defaults to the customer's default shipping address")
    requested_date: date | None = None
    notes: str | None = Field(None, max_length=2000)
    order_discount: Price = Decimal(0)
    order_discount_reason: str | None = Field(None, max_length=200)
    confirm: bool = Field(True, description="Reserve stock as soon as the order is clean")
    priority: int = Field(0, ge=-100, le=100, description="Backorders are served by priority (higher first), then order date")
    lines: list[OrderLineIn] = Field(min_length=1, max_length=MAX_LINES)

    @model_validator(mode="after")
    def _one_customer(self):
        if (self.customer_id is None) == (self.customer_code is None):
            # Raised with a location, so the error names the field (not the whole body).
            raise ValidationError.from_exception_data("OrderIn", [InitErrorDetails(
                type=PydanticCustomError("one_customer", "give exactly one of customer_id or customer_code"),
                loc=("customer_id",), input=self.customer_id)])
        return self


class OrderPatch(StrictModel):
    po_number: str | None = Field(None, min_length=1, max_length=60)
    ship_to: AddressIn | None = None
    requested_date: date | None = None
    notes: str | None = Field(None, max_length=2000)
    order_discount: Price | None = None
    order_discount_reason: str | None = Field(None, max_length=200)
    lines: list[OrderLineIn] | None = Field(None, min_length=1, max_length=MAX_LINES)
    reason: str | None = Field(None, max_length=500)


class LinePatch(StrictModel):
    quantity: LineQty | None = None
    unit_price: Price | None = None
    override_reason: str | None = Field(None, max_length=200)
    discount_pct: Percent | None = None
    reason: str | None = Field(None, max_length=500)


class ReasonIn(StrictModel):
    reason: str = Field(min_length=3, max_length=500)


class OrderLineOut(OutModel):
    line_no: int
    sku: str
    description: str
    quantity: QtyStr
    uom: str
    list_price: PriceStr | None
    unit_price: PriceStr
    price_overridden: bool
    override_reason: str | None
    discount_pct: PctStr
    gross_amount: DecimalStr
    discount_amount: DecimalStr
    net_amount: DecimalStr
    tax_class: str
    tax_rate_pct: PctStr
    tax_amount: DecimalStr
    reserved_qty: QtyStr
    backordered_qty: QtyStr
    shipped_qty: QtyStr
    returned_qty: QtyStr


class HoldReasonOut(OutModel):
    field: str
    code: str
    message: str


class HoldOut(OutModel):
    id: int
    kind: str
    active: bool
    reasons: list[HoldReasonOut]
    created_at: datetime
    released_at: datetime | None
    release_reason: str | None


class OrderOut(OutModel):
    id: int
    number: str
    customer_id: int
    channel: str
    po_number: str | None
    currency: str
    status: str
    shipment_state: str  # none, partial, shipped, delivered
    priority: int
    ship_to: AddressOut
    requested_date: date | None
    expected_date: date | None
    order_date: date
    notes: str | None
    subtotal: DecimalStr
    discount_total: DecimalStr
    tax_total: DecimalStr
    total: DecimalStr
    order_discount: DecimalStr
    needed_correction: bool
    lines: list[OrderLineOut]
    holds: list[HoldOut]
    created_at: datetime
    updated_at: datetime
    confirmed_at: datetime | None
    version: int


class TimelineEntry(OutModel):
    at: datetime
    actor: str
    action: str
    from_status: str | None
    to_status: str | None
    reason: str | None
    data: dict | None


class EntryErrorRate(OutModel):
    orders: int
    needed_correction: int
    rate: DecimalStr
