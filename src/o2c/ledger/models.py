"""The ledger's tables: each company's chart of accounts, and the journal (entries and their lines).

Entries are append-only: once posted, an entry and its lines are never changed or deleted (a mistake is
corrected by a new entry). The ORM refuses an update or delete of either (o2c.ledger.service).
"""
from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal

from sqlalchemy import Date, ForeignKey, Index, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from o2c.core.db import Base, ExactDecimal, Id, UtcDateTime


class LedgerAccount(Base):
    """One account of a company's chart: code, name, kind (asset...) and the role templates post to."""

    __tablename__ = "ledger_accounts"
    id: Mapped[int] = mapped_column(Id, primary_key=True)
    company_id: Mapped[int] = mapped_column(ForeignKey("companies.id"))
    code: Mapped[str] = mapped_column(String(20))
    name: Mapped[str] = mapped_column(String(200))
    kind: Mapped[str] = mapped_column(String(20))
    role: Mapped[str | None] = mapped_column(String(40))

    __table_args__ = (UniqueConstraint("company_id", "code"),)


class JournalCounter(Base):
    """The next journal entry number of a company: locked while an entry takes its number, so numbers
    have no gaps (a rolled-back posting gives its number back) and no duplicates."""

    __tablename__ = "journal_counters"
    company_id: Mapped[int] = mapped_column(ForeignKey("companies.id"), primary_key=True)
    next_number: Mapped[int] = mapped_column(Integer)


class JournalEntry(Base):
    __tablename__ = "journal_entries"
    id: Mapped[int] = mapped_column(Id, primary_key=True)
    company_id: Mapped[int] = mapped_column(ForeignKey("companies.id"))
    number: Mapped[int] = mapped_column(Integer)  # gap-free per company, from 1
    date: Mapped[date] = mapped_column(Date)  # the business date the entry belongs to
    memo: Mapped[str] = mapped_column(String(400))
    source_kind: Mapped[str] = mapped_column(String(40))
    source_id: Mapped[str] = mapped_column(String(80))
    currency: Mapped[str] = mapped_column(String(3))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)
    created_by: Mapped[int | None] = mapped_column(ForeignKey("users.id"))

    lines: Mapped[list["JournalLine"]] = relationship(order_by="JournalLine.id")

    __table_args__ = (
        UniqueConstraint("company_id", "number"),
        Index("ix_journal_entries_source", "company_id", "source_kind", "source_id"),
    )


class JournalLine(Base):
    __tablename__ = "journal_lines"
    id: Mapped[int] = mapped_column(Id, primary_key=True)
    entry_id: Mapped[int] = mapped_column(ForeignKey("journal_entries.id"), index=True)
    account_code: Mapped[str] = mapped_column(String(20))
    debit: Mapped[Decimal] = mapped_column(ExactDecimal(4))
    credit: Mapped[Decimal] = mapped_column(ExactDecimal(4))
    # On the customer accounts (receivables, unapplied credits): whose it is and which open item.
    customer_id: Mapped[int | None] = mapped_column(ForeignKey("customers.id"))
    open_item: Mapped[str | None] = mapped_column(String(80))

    __table_args__ = (Index("ix_journal_lines_customer", "customer_id", "open_item"),)


def refuse_changes(*classes) -> None:
    """Posted records are never edited or deleted through the ORM: correct by a new document."""
    from sqlalchemy import event

    from o2c.core.errors import Conflict

    def refuse(_mapper, _connection, target):
        raise Conflict(f"{type(target).__name__} {target.id} is posted: it is never edited or deleted; "
                       "correct it by a new document")

    for cls in classes:
        event.listen(cls, "before_update", refuse)
        event.listen(cls, "before_delete", refuse)


refuse_changes(JournalEntry, JournalLine)
