"""API shapes of returns: the request, authorisation, receipt, inspection, and the return as shown."""
from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from typing import Annotated, Literal

from pydantic import Field

from o2c.core.schemas import Code, DecimalStr, OutModel, PriceStr, QtyStr, RecordId, StrictModel
from o2c.returns.rules import CONDITIONS, OUTCOMES

ReturnQty = Annotated[Decimal, Field(gt=0, le=1_000_000, max_digits=13, decimal_places=3)]
CountedQty = Annotated[Decimal, Field(ge=0, le=1_000_000, max_digits=13, decimal_places=3)]
LineNo = Annotated[int, Field(ge=1, le=1_000_000)]
MAX_LINES = 5000


class ReturnLineIn(StrictModel):
    line_no: LineNo = Field(description="the order line's number")
    quantity: ReturnQty
    reason: str = Field(min_length=1, max_length=30, description="a code of o2c.returns.rules.REASONS")
    reason_text: str | None = Field(None, max_length=1000, description="required for reason 'other'")


class ReturnIn(StrictModel):
    order_id: RecordId
    outcome: Literal[OUTCOMES]  # type: ignore[valid-type]
    notes: str | None = Field(None, max_length=2000)
    lines: list[ReturnLineIn] = Field(min_length=1, max_length=MAX_LINES)


class AuthoriseIn(StrictModel):
    carrier: Code | None = Field(None, description="the carrier of the return label; default: the cheapest active one")


class RejectIn(StrictModel):
    reason: str = Field(min_length=3, max_length=500)


class ReceivedLineIn(StrictModel):
    line_no: LineNo
    quantity: CountedQty


class ReceiveIn(StrictModel):
    warehouse: Code | None = Field(None, description="where the goods arrived; default: the one the label names")
    lines: list[ReceivedLineIn] = Field(min_length=1, max_length=MAX_LINES)


class VerdictIn(StrictModel):
    line_no: LineNo
    condition: Literal[CONDITIONS]  # type: ignore[valid-type]
    quantity: ReturnQty | None = Field(None, description="only to split a line over several conditions")


class InspectIn(StrictModel):
    lines: list[VerdictIn] = Field(min_length=1, max_length=MAX_LINES)
    outcome: Literal[OUTCOMES] | None = Field(  # type: ignore[valid-type]
        None, description="another outcome than the one requested (a refund when the exchange is out of stock)")


class ReturnLineOut(OutModel):
    line_no: int
    sku: str
    quantity: QtyStr
    reason: str
    reason_text: str | None
    received_qty: QtyStr
    condition: str | None
    unit_net: PriceStr
    unit_tax: PriceStr


class ReturnOut(OutModel):
    id: int
    rma_number: str
    order_id: int
    order_number: str
    customer_id: int
    status: str
    outcome: str
    currency: str
    warehouse: str | None
    notes: str | None
    carrier: str | None
    label_tracking_number: str | None
    tracking_url: str | None
    refund_amount: DecimalStr | None
    exchange_shipment: str | None
    rejection_reason: str | None
    created_at: datetime
    authorised_at: datetime | None
    received_at: datetime | None
    closed_at: datetime | None
    lines: list[ReturnLineOut]


class ReasonCount(OutModel):
    reason: str
    description: str
    returns: int
    quantity: QtyStr


class SkuReasons(OutModel):
    sku: str
    returns: int
    quantity: QtyStr
    reasons: dict[str, QtyStr]


class ReasonsSummary(OutModel):
    date_from: date
    date_to: date
    returns: int
    by_reason: list[ReasonCount]
    by_sku: list[SkuReasons]
