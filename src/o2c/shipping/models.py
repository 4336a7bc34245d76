"""Carriers with their rate tables, and the tracking events that move a shipment to the customer."""
from __future__ import annotations

from datetime import datetime

from sqlalchemy import Boolean, ForeignKey, Index, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from o2c.core.db import Base, Id, JsonType, UtcDateTime


class Carrier(Base):
    __tablename__ = "carriers"
    id: Mapped[int] = mapped_column(Id, primary_key=True)
    company_id: Mapped[int] = mapped_column(ForeignKey("companies.id"))
    code: Mapped[str] = mapped_column(String(20))
    name: Mapped[str] = mapped_column(String(100))
    tracking_format: Mapped[str] = mapped_column(String(20))  # o2c.shipping.tracking.FORMATS
    account: Mapped[str | None] = mapped_column(String(20))  # shipper number printed into tracking numbers
    rate_table: Mapped[dict] = mapped_column(JsonType)  # o2c.shipping.rates.parse_rate_table checks it
    webhook_secret: Mapped[str | None] = mapped_column(String(100))
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime)

    __table_args__ = (UniqueConstraint("company_id", "code"),)


class TrackingEvent(Base):
    """A carrier scan. `dedupe_key` (the carrier's event id, or kind+time) absorbs repeated deliveries."""

    __tablename__ = "tracking_events"
    id: Mapped[int] = mapped_column(Id, primary_key=True)
    company_id: Mapped[int] = mapped_column(ForeignKey("companies.id"))
    shipment_id: Mapped[int] = mapped_column(ForeignKey("shipments.id"))
    tracking_number: Mapped[str] = mapped_column(String(40))
    kind: Mapped[str] = mapped_column(String(20))  # shipped, in_transit, out_for_delivery, delivered, exception
    occurred_at: Mapped[datetime] = mapped_column(UtcDateTime)
    location: Mapped[str | None] = mapped_column(String(200))
    description: Mapped[str | None] = mapped_column(Text)
    source: Mapped[str] = mapped_column(String(10))  # api, webhook, csv, system
    dedupe_key: Mapped[str] = mapped_column(String(120))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)

    __table_args__ = (
        UniqueConstraint("shipment_id", "dedupe_key"),
        Index("ix_tracking_events_number", "company_id", "tracking_number"),
    )
