"""Dunning: each company's reminder levels, and the reminders sent with the invoices each covered.

Levels are data: a code, the days past the due date from which it applies (negative: before the due
date, a friendly note), and an optional fee and yearly interest. A company without levels uses the
defaults of o2c.dunning.rules.
"""
from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal

from sqlalchemy import Date, ForeignKey, Index, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from o2c.core.db import Base, ExactDecimal, Id, UtcDateTime


class DunningLevel(Base):
    __tablename__ = "dunning_levels"
    id: Mapped[int] = mapped_column(Id, primary_key=True)
    company_id: Mapped[int] = mapped_column(ForeignKey("companies.id"))
    rank: Mapped[int] = mapped_column(Integer)  # 0 friendly, 1 first, 2 second, 3 final...
    code: Mapped[str] = mapped_column(String(20))
    days_overdue: Mapped[int] = mapped_column(Integer)
    fee: Mapped[Decimal] = mapped_column(ExactDecimal(4), default=Decimal(0))  # in the company's currency
    interest_pct_year: Mapped[Decimal] = mapped_column(ExactDecimal(4), default=Decimal(0))

    __table_args__ = (UniqueConstraint("company_id", "rank"), UniqueConstraint("company_id", "code"))


class Reminder(Base):
    """One reminder letter to a customer, at one level, covering one or more invoices."""

    __tablename__ = "reminders"
    id: Mapped[int] = mapped_column(Id, primary_key=True)
    company_id: Mapped[int] = mapped_column(ForeignKey("companies.id"))
    customer_id: Mapped[int] = mapped_column(ForeignKey("customers.id"))
    level: Mapped[str] = mapped_column(String(20))
    rank: Mapped[int] = mapped_column(Integer)
    sent_on: Mapped[date] = mapped_column(Date)
    currency: Mapped[str] = mapped_column(String(3))
    open_total: Mapped[Decimal] = mapped_column(ExactDecimal(4))
    fee: Mapped[Decimal] = mapped_column(ExactDecimal(4))
    interest: Mapped[Decimal] = mapped_column(ExactDecimal(4))
    email: Mapped[str | None] = mapped_column(String(254))
    journal_entry_id: Mapped[int | None] = mapped_column(ForeignKey("journal_entries.id"))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)
    created_by: Mapped[int | None] = mapped_column(ForeignKey("users.id"))

    items: Mapped[list["ReminderItem"]] = relationship(order_by="ReminderItem.id")

    __table_args__ = (Index("ix_reminders_customer", "company_id", "customer_id", "id"),)


class ReminderItem(Base):
    """An invoice a reminder covered, at that reminder's level: an invoice gets each level once."""

    __tablename__ = "reminder_items"
    id: Mapped[int] = mapped_column(Id, primary_key=True)
    reminder_id: Mapped[int] = mapped_column(ForeignKey("reminders.id"), index=True)
    invoice_id: Mapped[int] = mapped_column(ForeignKey("invoices.id"))
    rank: Mapped[int] = mapped_column(Integer)
    days_overdue: Mapped[int] = mapped_column(Integer)
    open_amount: Mapped[Decimal] = mapped_column(ExactDecimal(4))
    interest: Mapped[Decimal] = mapped_column(ExactDecimal(4))

    __table_args__ = (UniqueConstraint("invoice_id", "rank"),)
