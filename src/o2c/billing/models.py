"""Billing's tables: the gap-free document counters and the invoices with their lines.

An issued invoice is never edited or deleted: a correction is a new document, a credit note that
references it.
The ORM refuses an update or delete of an invoice, a credit note or their lines.
"""
from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal

from sqlalchemy import Date, ForeignKey, Index, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from o2c.core.db import Base, ExactDecimal, Id, UtcDateTime
from o2c.ledger.models import refuse_changes


class DocumentSeries(Base):
    """The next number of a company's document series in a year. The row is locked while a document takes
    its number, so numbers are gap-free (a rolled-back document gives its number back) and unique."""

    __tablename__ = "document_series"
    id: Mapped[int] = mapped_column(Id, primary_key=True)
    company_id: Mapped[int] = mapped_column(ForeignKey("companies.id"))
    series: Mapped[str] = mapped_column(String(10))
    year: Mapped[int] = mapped_column(Integer)
    next_number: Mapped[int] = mapped_column(Integer)

    __table_args__ = (UniqueConstraint("company_id", "series", "year"),)


class IssuedDocument:
    """What an invoice and a credit note both carry: the number taken from their series, the customer
    and order, the business date, the totals and the journal entry that posted them."""

    id: Mapped[int] = mapped_column(Id, primary_key=True)
    company_id: Mapped[int] = mapped_column(ForeignKey("companies.id"))
    number: Mapped[str] = mapped_column(String(30))
    series: Mapped[str] = mapped_column(String(10))
    year: Mapped[int] = mapped_column(Integer)
    seq: Mapped[int] = mapped_column(Integer)
    customer_id: Mapped[int] = mapped_column(ForeignKey("customers.id"))
    issue_date: Mapped[date] = mapped_column(Date)  # the company's business date
    currency: Mapped[str] = mapped_column(String(3))
    net_total: Mapped[Decimal] = mapped_column(ExactDecimal(4))
    tax_total: Mapped[Decimal] = mapped_column(ExactDecimal(4))
    gross_total: Mapped[Decimal] = mapped_column(ExactDecimal(4))
    journal_entry_id: Mapped[int | None] = mapped_column(ForeignKey("journal_entries.id"))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)


class Invoice(IssuedDocument, Base):
    __tablename__ = "invoices"
    order_id: Mapped[int] = mapped_column(ForeignKey("orders.id"))
    # One invoice per shipment: what makes invoicing a shipment idempotent.
    shipment_id: Mapped[int] = mapped_column(ForeignKey("shipments.id"), unique=True)
    due_date: Mapped[date] = mapped_column(Date)
    terms: Mapped[str] = mapped_column(String(40))
    status: Mapped[str] = mapped_column(String(20))  # issued

    lines: Mapped[list["InvoiceLine"]] = relationship(order_by="InvoiceLine.id")

    __table_args__ = (
        UniqueConstraint("company_id", "number"),
        Index("ix_invoices_customer", "company_id", "customer_id", "id"),
        Index("ix_invoices_order", "order_id"),
    )


class InvoiceLine(Base):
    __tablename__ = "invoice_lines"
    id: Mapped[int] = mapped_column(Id, primary_key=True)
    invoice_id: Mapped[int] = mapped_column(ForeignKey("invoices.id"), index=True)
    order_line_id: Mapped[int] = mapped_column(ForeignKey("order_lines.id"), index=True)
    shipment_line_id: Mapped[int] = mapped_column(ForeignKey("shipment_lines.id"))
    sku: Mapped[str] = mapped_column(String(64))
    description: Mapped[str] = mapped_column(String(200))
    quantity: Mapped[Decimal] = mapped_column(ExactDecimal(3))
    uom: Mapped[str] = mapped_column(String(10))
    unit_price: Mapped[Decimal] = mapped_column(ExactDecimal(4))
    net_amount: Mapped[Decimal] = mapped_column(ExactDecimal(4))
    tax_rate_pct: Mapped[Decimal] = mapped_column(ExactDecimal(4))
    tax_amount: Mapped[Decimal] = mapped_column(ExactDecimal(4))


refuse_changes(Invoice, InvoiceLine)


class CreditNote(IssuedDocument, Base):
    """A correction of one issued invoice: what it takes back, per invoice line. Never edited either."""

    __tablename__ = "credit_notes"
    invoice_id: Mapped[int] = mapped_column(ForeignKey("invoices.id"), index=True)
    order_id: Mapped[int] = mapped_column(ForeignKey("orders.id"), index=True)
    # The return it refunds (None for a manual correction). Part of the key, with the invoice: a return's
    # lines may span invoices (one note each), and a redelivered refund finds its notes and makes none.
    return_id: Mapped[int | None] = mapped_column(ForeignKey("returns.id"))
    reason: Mapped[str] = mapped_column(String(200))

    lines: Mapped[list["CreditNoteLine"]] = relationship(order_by="CreditNoteLine.id")

    __table_args__ = (
        UniqueConstraint("company_id", "number"),
        UniqueConstraint("return_id", "invoice_id"),
        Index("ix_credit_notes_customer", "company_id", "customer_id", "id"),
    )


class CreditNoteLine(Base):
    __tablename__ = "credit_note_lines"
    id: Mapped[int] = mapped_column(Id, primary_key=True)
    credit_note_id: Mapped[int] = mapped_column(ForeignKey("credit_notes.id"), index=True)
    invoice_line_id: Mapped[int] = mapped_column(ForeignKey("invoice_lines.id"), index=True)
    order_line_id: Mapped[int] = mapped_column(ForeignKey("order_lines.id"))
    sku: Mapped[str] = mapped_column(String(64))
    quantity: Mapped[Decimal] = mapped_column(ExactDecimal(3))
    net_amount: Mapped[Decimal] = mapped_column(ExactDecimal(4))
    tax_amount: Mapped[Decimal] = mapped_column(ExactDecimal(4))


refuse_changes(CreditNote, CreditNoteLine)


class InvoiceDispute(Base):
    """A customer disputes an invoice: while open, the invoice gets no reminders. Closed with a resolution
    (for example a credit note), never deleted."""

    __tablename__ = "invoice_disputes"
    id: Mapped[int] = mapped_column(Id, primary_key=True)
    company_id: Mapped[int] = mapped_column(ForeignKey("companies.id"))
    invoice_id: Mapped[int] = mapped_column(ForeignKey("invoices.id"), index=True)
    reason: Mapped[str] = mapped_column(String(400))
    opened_at: Mapped[datetime] = mapped_column(UtcDateTime)
    opened_by: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    resolution: Mapped[str | None] = mapped_column(String(400))
    resolved_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    resolved_by: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
