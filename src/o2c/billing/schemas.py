"""API shapes of billing's credit notes: a manual correction as asked, and a credit note as shown."""
from __future__ import annotations

from datetime import date
from decimal import Decimal
from typing import Annotated

from pydantic import ConfigDict, Field

from o2c.core.schemas import DecimalStr, OutModel, QtyStr, StrictModel

CreditQty = Annotated[Decimal, Field(le=1_000_000, max_digits=13, decimal_places=3)]
CreditAmount = Annotated[Decimal, Field(le=10**12, max_digits=18, decimal_places=4)]


class CreditLineIn(StrictModel):
    line_no: int = Field(ge=1, le=1_000_000, description="the invoice line's number, from 1")
    quantity: CreditQty | None = Field(None, description="units taken back, credited at the line's price")
    amount: CreditAmount | None = Field(None, description="net off the line's price; tax in the line's proportion")


class CreditNoteIn(StrictModel):
    reason: str = Field(min_length=1, max_length=200)
    lines: list[CreditLineIn] = Field(min_length=1, max_length=5000)


class CreditNoteLineOut(OutModel):
    invoice_line_id: int
    order_line_id: int
    sku: str
    quantity: QtyStr
    net_amount: DecimalStr
    tax_amount: DecimalStr


class CreditNoteOut(OutModel):
    id: int
    number: str
    invoice_id: int
    invoice_number: str
    customer_id: int
    order_id: int
    return_id: int | None
    reason: str
    issue_date: date
    currency: str
    net_total: DecimalStr
    tax_total: DecimalStr
    gross_total: DecimalStr
    journal_entry_id: int | None
    lines: list[CreditNoteLineOut]


class MovementOut(OutModel):
    date: date
    entry: str
    kind: str
    document: str
    memo: str
    charge: DecimalStr
    credit: DecimalStr
    balance: DecimalStr


class StatementItemOut(OutModel):
    item: str
    kind: str
    posted: date
    due_date: date
    days_overdue: int
    charged: DecimalStr
    open: DecimalStr


class StatementCreditOut(OutModel):
    item: str
    kind: str
    posted: date
    amount: DecimalStr


class StatementOut(OutModel):
    """A statement of account; `balance` = closing balance = open_total - unapplied_credit."""

    model_config = ConfigDict(populate_by_name=True)

    customer_id: int
    customer_code: str
    customer: list[str]
    currency: str
    as_of: date
    date_from: date = Field(alias="from")
    opening_balance: DecimalStr
    closing_balance: DecimalStr
    balance: DecimalStr
    open_total: DecimalStr
    overdue_total: DecimalStr
    unapplied_credit: DecimalStr
    ageing: dict[str, DecimalStr]
    movements: list[MovementOut]
    open_items: list[StatementItemOut]
    credits: list[StatementCreditOut]
