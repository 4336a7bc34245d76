"""Sanctions lists as loaded, their entries, and the screening hits with the decision on each."""
from __future__ import annotations

from datetime import datetime
from decimal import Decimal

from sqlalchemy import Boolean, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from o2c.core.db import Base, ExactDecimal, Id, JsonType, UtcDateTime


class SanctionsListLoad(Base):
    """One load of a published list (e.g. the OFAC SDN files). The newest load is the one screened against."""

    __tablename__ = "sanctions_lists"
    id: Mapped[int] = mapped_column(Id, primary_key=True)
    source: Mapped[str] = mapped_column(String(40))  # "OFAC SDN"
    sha256: Mapped[str] = mapped_column(String(64))  # of the files as read, to name a load
    entries: Mapped[int] = mapped_column(Integer)
    aliases: Mapped[int] = mapped_column(Integer)
    addresses: Mapped[int] = mapped_column(Integer)
    loaded_by: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    loaded_at: Mapped[datetime] = mapped_column(UtcDateTime)
    # Customers screened again after this load, and how many hits that opened.
    rescreened: Mapped[int] = mapped_column(Integer, default=0)
    hits_opened: Mapped[int] = mapped_column(Integer, default=0)
    active: Mapped[bool] = mapped_column(Boolean, default=True)


class SanctionsEntry(Base):
    """A listed party of one load, with its aliases and countries, as the screening index needs it."""

    __tablename__ = "sanctions_entries"
    id: Mapped[int] = mapped_column(Id, primary_key=True)
    list_id: Mapped[int] = mapped_column(ForeignKey("sanctions_lists.id"))
    uid: Mapped[int] = mapped_column(Integer)  # ent_num in the SDN files
    name: Mapped[str] = mapped_column(String(400))
    sdn_type: Mapped[str | None] = mapped_column(String(20))
    programs: Mapped[list] = mapped_column(JsonType)
    data: Mapped[dict] = mapped_column(JsonType)  # aliases, addresses, remarks: enough to rebuild the entry

    __table_args__ = (Index("ix_sanctions_entries_list", "list_id", "uid"),)


class ScreeningHit(Base):
    """A customer matched a listed party above the threshold. Open until a compliance officer decides:
    true_match (the customer is blocked) or false_positive (the hold lifts), with who and why."""

    __tablename__ = "screening_hits"
    id: Mapped[int] = mapped_column(Id, primary_key=True)
    customer_id: Mapped[int] = mapped_column(ForeignKey("customers.id"), index=True)
    list_id: Mapped[int] = mapped_column(ForeignKey("sanctions_lists.id"))
    entry_uid: Mapped[int] = mapped_column(Integer)
    entry_name: Mapped[str] = mapped_column(String(400))
    matched_name: Mapped[str] = mapped_column(String(400))  # the customer's name (or trading name) that matched
    listed_name: Mapped[str] = mapped_column(String(400))  # the list's name or alias it matched
    score: Mapped[Decimal] = mapped_column(ExactDecimal(2))
    details: Mapped[dict] = mapped_column(JsonType)  # programs, countries, score parts
    status: Mapped[str] = mapped_column(String(20))  # open, true_match, false_positive
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)
    decided_by: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    decided_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    decision_reason: Mapped[str | None] = mapped_column(Text)

    __table_args__ = (Index("ix_screening_hits_status", "status", "id"),)
