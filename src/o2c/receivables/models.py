"""Imported bank statements and their lines, with what reconciliation made of each line.

A statement is imported once: its fingerprint (a hash of its account, id, period and lines) is unique
per company, so the same file imported twice is refused naming the first import.
"""
from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal

from sqlalchemy import Date, ForeignKey, Index, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from o2c.core.db import Base, ExactDecimal, Id, JsonType, UtcDateTime


class BankStatement(Base):
    __tablename__ = "bank_statements"
    id: Mapped[int] = mapped_column(Id, primary_key=True)
    company_id: Mapped[int] = mapped_column(ForeignKey("companies.id"))
    format: Mapped[str] = mapped_column(String(20))  # camt.053, mt940, csv
    fingerprint: Mapped[str] = mapped_column(String(64))
    filename: Mapped[str | None] = mapped_column(String(255))
    statement_ref: Mapped[str | None] = mapped_column(String(80))  # the bank's id of the statement
    account: Mapped[str | None] = mapped_column(String(80))  # IBAN or the bank's account identification
    currency: Mapped[str] = mapped_column(String(3))
    opening_balance: Mapped[Decimal | None] = mapped_column(ExactDecimal(4))
    closing_balance: Mapped[Decimal | None] = mapped_column(ExactDecimal(4))
    period_from: Mapped[date | None] = mapped_column(Date)
    period_to: Mapped[date | None] = mapped_column(Date)
    line_count: Mapped[int] = mapped_column(Integer)
    imported_at: Mapped[datetime] = mapped_column(UtcDateTime)
    imported_by: Mapped[int | None] = mapped_column(ForeignKey("users.id"))

    lines: Mapped[list["BankStatementLine"]] = relationship(order_by="BankStatementLine.seq")

    __table_args__ = (UniqueConstraint("company_id", "fingerprint"),)


class BankStatementLine(Base):
    """One booked entry. `status`: auto (matched and applied), suggested (waits for a person), unmatched
    (in the queue), confirmed (a person applied it), not_incoming (a debit, not a customer payment),
    ignored (a person said it is not a customer payment)."""

    __tablename__ = "bank_statement_lines"
    id: Mapped[int] = mapped_column(Id, primary_key=True)
    statement_id: Mapped[int] = mapped_column(ForeignKey("bank_statements.id"))
    company_id: Mapped[int] = mapped_column(ForeignKey("companies.id"))
    seq: Mapped[int] = mapped_column(Integer)
    booking_date: Mapped[date | None] = mapped_column(Date)
    value_date: Mapped[date | None] = mapped_column(Date)
    amount: Mapped[Decimal] = mapped_column(ExactDecimal(4))  # positive: money in; negative: money out
    currency: Mapped[str] = mapped_column(String(3))
    counterparty_name: Mapped[str | None] = mapped_column(String(200))
    counterparty_account: Mapped[str | None] = mapped_column(String(80))
    remittance: Mapped[str | None] = mapped_column(String(1000))
    end_to_end_id: Mapped[str | None] = mapped_column(String(80))
    bank_ref: Mapped[str | None] = mapped_column(String(80))
    status: Mapped[str] = mapped_column(String(20))
    confidence: Mapped[Decimal | None] = mapped_column(ExactDecimal(4))
    # The matcher's proposal: customer, invoices with amounts, reasons and alternatives (JSON).
    proposal: Mapped[dict | None] = mapped_column(JsonType)
    payment_id: Mapped[int | None] = mapped_column(ForeignKey("payments.id"))
    decided_by: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    decided_at: Mapped[datetime | None] = mapped_column(UtcDateTime)

    __table_args__ = (
        UniqueConstraint("statement_id", "seq"),
        Index("ix_bank_statement_lines_queue", "company_id", "status", "id"),
    )
