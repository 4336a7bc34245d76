"""Money received and paid back: payments by any method, what they settle, card authorisations and
captures, and refunds.

An invoice's open amount is its gross less its credit notes less its settlements
(o2c.billing.service.invoice_open). A settlement is one of: part of a payment applied to the invoice,
unapplied credit applied to it, an early-payment discount taken, or a short payment written off.
What a payment does not settle is unapplied credit on the customer's account (ledger account
`unapplied_credits`), never lost.

Payments, settlements and refunds are posted: corrected by new records (a reversal), never edited.
Card authorisations and captures change state as the gateway answers, so they are ordinary rows.
"""
from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal

from sqlalchemy import Date, ForeignKey, Index, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from o2c.core.db import Base, ExactDecimal, Id, UtcDateTime
from o2c.ledger.models import refuse_changes


class Payment(Base):
    """Money the customer paid: by bank transfer, direct debit, cheque, cash, or a captured card."""

    __tablename__ = "payments"
    id: Mapped[int] = mapped_column(Id, primary_key=True)
    company_id: Mapped[int] = mapped_column(ForeignKey("companies.id"))
    number: Mapped[str] = mapped_column(String(30))  # PAY-<year>-<six digits>, gap-free per company and year
    customer_id: Mapped[int] = mapped_column(ForeignKey("customers.id"))
    method: Mapped[str] = mapped_column(String(20))  # ledger.rules.METHODS
    currency: Mapped[str] = mapped_column(String(3))
    amount: Mapped[Decimal] = mapped_column(ExactDecimal(4))
    received_on: Mapped[date] = mapped_column(Date)
    reference: Mapped[str | None] = mapped_column(String(140))  # cheque number, bank reference, remittance
    payer_name: Mapped[str | None] = mapped_column(String(200))
    payer_iban: Mapped[str | None] = mapped_column(String(34))
    # Where it came from: manual, statement (a bank statement line), card (a capture). With source_ref
    # it makes recording idempotent: the same line or capture never becomes two payments.
    source: Mapped[str] = mapped_column(String(20))
    source_ref: Mapped[str | None] = mapped_column(String(80))
    journal_entry_id: Mapped[int | None] = mapped_column(ForeignKey("journal_entries.id"))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)
    created_by: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    # A payment that did not clear (a bounced cheque, a returned direct debit): reversed in the ledger,
    # its invoices open again. Counts against the customer's payment behaviour.
    bounced_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    bounce_reason: Mapped[str | None] = mapped_column(Text)
    bounced_by: Mapped[int | None] = mapped_column(ForeignKey("users.id"))

    __table_args__ = (
        UniqueConstraint("company_id", "number"),
        UniqueConstraint("company_id", "source", "source_ref"),
        Index("ix_payments_customer", "company_id", "customer_id", "id"),
    )


class Settlement(Base):
    """Part of an invoice settled: kind payment (with payment_id), credit (unapplied credit applied),
    discount (early payment) or write_off (a short payment within tolerance, with its reason)."""

    __tablename__ = "settlements"
    id: Mapped[int] = mapped_column(Id, primary_key=True)
    company_id: Mapped[int] = mapped_column(ForeignKey("companies.id"))
    customer_id: Mapped[int] = mapped_column(ForeignKey("customers.id"))
    invoice_id: Mapped[int] = mapped_column(ForeignKey("invoices.id"), index=True)
    payment_id: Mapped[int | None] = mapped_column(ForeignKey("payments.id"), index=True)
    kind: Mapped[str] = mapped_column(String(20))
    currency: Mapped[str] = mapped_column(String(3))
    amount: Mapped[Decimal] = mapped_column(ExactDecimal(4))
    settled_on: Mapped[date] = mapped_column(Date)
    reason: Mapped[str | None] = mapped_column(String(200))
    journal_entry_id: Mapped[int | None] = mapped_column(ForeignKey("journal_entries.id"))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)
    created_by: Mapped[int | None] = mapped_column(ForeignKey("users.id"))


refuse_changes(Payment, Settlement)


class CardPayment(Base):
    """A card authorisation for an order, through a gateway: held at order, captured at shipment,
    voided on cancel. `idempotency_key` is reused for every retry of the same attempt."""

    __tablename__ = "card_payments"
    id: Mapped[int] = mapped_column(Id, primary_key=True)
    company_id: Mapped[int] = mapped_column(ForeignKey("companies.id"))
    order_id: Mapped[int] = mapped_column(ForeignKey("orders.id"), index=True)
    customer_id: Mapped[int] = mapped_column(ForeignKey("customers.id"))
    gateway: Mapped[str] = mapped_column(String(20))
    # The gateway's token for the card (never a card number) and the gateway's id for this payment.
    payment_method_token: Mapped[str] = mapped_column(String(255))
    gateway_ref: Mapped[str | None] = mapped_column(String(255))
    # The gateway's customer the card is kept for (`cus_...` at Stripe), so a later shipment can charge it
    # without the customer at the checkout. Set by the order's first authorisation, copied to later ones.
    gateway_customer_ref: Mapped[str | None] = mapped_column(String(255))
    # The card as the gateway kept it for later charges, when that is not the token sent (a test token
    # becomes a payment method of its own): a re-authorisation names this one.
    gateway_payment_method_ref: Mapped[str | None] = mapped_column(String(255))
    idempotency_key: Mapped[str] = mapped_column(String(255), unique=True)
    currency: Mapped[str] = mapped_column(String(3))
    authorised_amount: Mapped[Decimal] = mapped_column(ExactDecimal(4))
    captured_amount: Mapped[Decimal] = mapped_column(ExactDecimal(4), default=Decimal(0))
    refunded_amount: Mapped[Decimal] = mapped_column(ExactDecimal(4), default=Decimal(0))
    # pending (sent, outcome unknown), authorised, action_required, declined, captured, voided, expired
    status: Mapped[str] = mapped_column(String(20))
    decline_code: Mapped[str | None] = mapped_column(String(80))
    authorised_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    expires_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime)


class CardCapture(Base):
    """One capture of a card payment, for one shipment (its invoice). Unique per shipment: a redelivered
    shipment event never captures twice."""

    __tablename__ = "card_captures"
    id: Mapped[int] = mapped_column(Id, primary_key=True)
    card_payment_id: Mapped[int] = mapped_column(ForeignKey("card_payments.id"), index=True)
    shipment_id: Mapped[int] = mapped_column(ForeignKey("shipments.id"), unique=True)
    invoice_id: Mapped[int | None] = mapped_column(ForeignKey("invoices.id"))
    payment_id: Mapped[int | None] = mapped_column(ForeignKey("payments.id"))
    idempotency_key: Mapped[str] = mapped_column(String(255), unique=True)
    currency: Mapped[str] = mapped_column(String(3))
    amount: Mapped[Decimal] = mapped_column(ExactDecimal(4))
    status: Mapped[str] = mapped_column(String(20))  # pending, captured, failed
    error: Mapped[str | None] = mapped_column(String(300))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime)


class Refund(Base):
    """Money paid back to a customer: for a return (its credit notes) or from unapplied credit. Approved
    (owed: refunds payable), then paid out by card refund or bank transfer."""

    __tablename__ = "refunds"
    id: Mapped[int] = mapped_column(Id, primary_key=True)
    company_id: Mapped[int] = mapped_column(ForeignKey("companies.id"))
    customer_id: Mapped[int] = mapped_column(ForeignKey("customers.id"))
    return_id: Mapped[int | None] = mapped_column(ForeignKey("returns.id"), unique=True)
    card_payment_id: Mapped[int | None] = mapped_column(ForeignKey("card_payments.id"))
    method: Mapped[str] = mapped_column(String(20))
    currency: Mapped[str] = mapped_column(String(3))
    amount: Mapped[Decimal] = mapped_column(ExactDecimal(4))
    status: Mapped[str] = mapped_column(String(20))  # approved, pending, paid, failed
    idempotency_key: Mapped[str] = mapped_column(String(255), unique=True)
    gateway_refund_ref: Mapped[str | None] = mapped_column(String(255))
    reason: Mapped[str | None] = mapped_column(String(200))
    approved_entry_id: Mapped[int | None] = mapped_column(ForeignKey("journal_entries.id"))
    paid_entry_id: Mapped[int | None] = mapped_column(ForeignKey("journal_entries.id"))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime)
