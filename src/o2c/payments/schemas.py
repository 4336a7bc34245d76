"""API shapes of payments: a payment as recorded by a person, unapplied credit applied, a write-off, and
a payment, its settlements and a customer's account as shown. Amounts leave in the currency's minor
units; signs and the currency's decimals are checked by the service, which names the field."""
from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from typing import Annotated

from pydantic import Field, field_validator
from schwifty import IBAN
from schwifty.exceptions import SchwiftyException

from o2c.core.schemas import DecimalStr, OutModel, RecordId, StrictModel

Amount = Annotated[Decimal, Field(le=10**12, ge=-(10**12), max_digits=18, decimal_places=4)]


class ApplicationIn(StrictModel):
    invoice_id: RecordId
    amount: Amount = Field(description="what this payment (or credit) settles of the invoice")


class PaymentIn(StrictModel):
    customer_id: RecordId
    method: str = Field(min_length=1, max_length=20,
                        description="bank_transfer, direct_debit, cheque or cash (card payments come from captures)")
    currency: str = Field(min_length=1, max_length=3)
    amount: Amount
    received_on: date | None = Field(None, description="the day the money arrived (default: today)")
    reference: str | None = Field(None, max_length=140, description="cheque number, bank reference, remittance")
    payer_name: str | None = Field(None, max_length=200)
    payer_iban: str | None = Field(None, max_length=42)
    applications: list[ApplicationIn] = Field(default_factory=list, max_length=1000,
                                              description="the invoices paid; none: all of it is unapplied credit")

    @field_validator("payer_iban")
    @classmethod
    def _iban(cls, value: str | None) -> str | None:
        if value is None:
            return None
        try:
            return IBAN(value).compact
        except SchwiftyException as exc:
            raise ValueError(f"not a valid IBAN: {exc}") from None


class ApplyCreditIn(StrictModel):
    customer_id: RecordId
    credit_item: str = Field(min_length=1, max_length=80,
                             description="an overpaid payment's number or a credit note's number (see the account)")
    applications: list[ApplicationIn] = Field(min_length=1, max_length=1000)


class WriteOffIn(StrictModel):
    amount: Amount
    reason: str = Field(min_length=1, max_length=200)


class BounceIn(StrictModel):
    reason: str = Field(max_length=500, description="why the payment did not clear: 'cheque returned: no funds'")
    fee: Amount | None = Field(None, description="a charge passed on to the customer, as an open item of its own")


class SettlementOut(OutModel):
    id: int
    invoice_id: int
    invoice_number: str | None
    payment_id: int | None
    kind: str
    currency: str
    amount: DecimalStr
    settled_on: date
    reason: str | None
    journal_entry_id: int | None


class PaymentOut(OutModel):
    id: int
    number: str
    customer_id: int
    method: str
    currency: str
    amount: DecimalStr
    applied: DecimalStr
    unapplied: DecimalStr
    received_on: date
    reference: str | None
    payer_name: str | None
    payer_iban: str | None
    source: str
    source_ref: str | None
    journal_entry_id: int | None
    created_at: datetime
    bounced_at: datetime | None = None
    bounce_reason: str | None = None
    settlements: list[SettlementOut]


class CreditApplicationOut(OutModel):
    customer_id: int
    credit_item: str
    currency: str
    applied: DecimalStr
    remaining: DecimalStr
    journal_entry_id: int
    settlements: list[SettlementOut]


class OpenInvoiceOut(OutModel):
    id: int
    number: str
    issue_date: date
    due_date: date
    gross_total: DecimalStr
    open_amount: DecimalStr
    days_overdue: int


class CreditItemOut(OutModel):
    item: str
    amount: DecimalStr


class AccountOut(OutModel):
    customer_id: int
    currency: str
    as_of: date
    open_invoices: list[OpenInvoiceOut]
    open_total: DecimalStr
    overdue_total: DecimalStr
    unapplied_credit: DecimalStr
    credit_items: list[CreditItemOut]
    balance: DecimalStr
