"""Orders, their lines and their holds."""
from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal

from sqlalchemy import Boolean, Date, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from o2c.core.db import Base, ExactDecimal, Id, JsonType, UtcDateTime
from o2c.orders.rules import SHIP_TO


class ShipToColumns:
    """Where goods go: on the order, and copied onto each of its shipments when they are released."""

    ship_to_name: Mapped[str | None] = mapped_column(String(200))
    ship_to_line1: Mapped[str | None] = mapped_column(String(200))
    ship_to_line2: Mapped[str | None] = mapped_column(String(200))
    ship_to_city: Mapped[str | None] = mapped_column(String(100))
    ship_to_region: Mapped[str | None] = mapped_column(String(100))
    ship_to_postal_code: Mapped[str | None] = mapped_column(String(20))
    ship_to_country: Mapped[str | None] = mapped_column(String(2))

    def ship_to(self) -> dict:
        return {k: getattr(self, f"ship_to_{k}") for k in SHIP_TO}

    def ship_to_columns(self) -> dict:
        """The ship-to as column values, to copy onto another record with these columns."""
        return {f"ship_to_{k}": getattr(self, f"ship_to_{k}") for k in SHIP_TO}


class Order(ShipToColumns, Base):
    __tablename__ = "orders"
    id: Mapped[int] = mapped_column(Id, primary_key=True)
    company_id: Mapped[int] = mapped_column(ForeignKey("companies.id"))
    customer_id: Mapped[int] = mapped_column(ForeignKey("customers.id"))
    channel: Mapped[str] = mapped_column(String(20))
    po_number: Mapped[str | None] = mapped_column(String(60))
    currency: Mapped[str] = mapped_column(String(3))
    status: Mapped[str] = mapped_column(String(20))
    requested_date: Mapped[date | None] = mapped_column(Date)
    expected_date: Mapped[date | None] = mapped_column(Date)
    order_date: Mapped[date] = mapped_column(Date)
    notes: Mapped[str | None] = mapped_column(Text)
    subtotal: Mapped[Decimal] = mapped_column(ExactDecimal(4))
    discount_total: Mapped[Decimal] = mapped_column(ExactDecimal(4))
    tax_total: Mapped[Decimal] = mapped_column(ExactDecimal(4))
    total: Mapped[Decimal] = mapped_column(ExactDecimal(4))
    # Set once the order first failed validation: the order entry error rate counts these.
    needed_correction: Mapped[bool] = mapped_column(Boolean, default=False)
    # Confirm (reserve stock) as soon as the order is clean; False leaves it validated for a person.
    auto_confirm: Mapped[bool] = mapped_column(Boolean, default=True)
    order_discount: Mapped[Decimal] = mapped_column(ExactDecimal(4), default=Decimal(0))
    order_discount_reason: Mapped[str | None] = mapped_column(String(200))
    # Waiting backorders are served by priority (higher first), then order date.
    priority: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    # The fulfilment dimension, apart from `status`: none, partial, shipped, delivered.
    shipment_state: Mapped[str] = mapped_column(String(20), default="none", server_default="none")
    entered_by: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime)
    confirmed_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    version: Mapped[int] = mapped_column(Integer, default=1)

    lines: Mapped[list["OrderLine"]] = relationship(
        back_populates="order", order_by="OrderLine.line_no", cascade="all, delete-orphan"
    )
    holds: Mapped[list["OrderHold"]] = relationship(
        back_populates="order", order_by="OrderHold.id", cascade="all, delete-orphan"
    )

    __table_args__ = (
        Index("ix_orders_company_id", "company_id", "id"),
        Index("ix_orders_po", "company_id", "customer_id", "po_number"),
        Index("ix_orders_po_only", "company_id", "po_number"),
        Index("ix_orders_status", "company_id", "status", "id"),
        Index("ix_orders_customer", "customer_id", "id"),
        Index("ix_orders_created", "company_id", "created_at"),  # the dashboard's window of recent orders
    )

    @property
    def number(self) -> str:
        return f"SO{self.id:08d}"


class OrderLine(Base):
    __tablename__ = "order_lines"
    id: Mapped[int] = mapped_column(Id, primary_key=True)
    order_id: Mapped[int] = mapped_column(ForeignKey("orders.id"), index=True)
    line_no: Mapped[int] = mapped_column(Integer)
    product_id: Mapped[int] = mapped_column(ForeignKey("products.id"))
    sku: Mapped[str] = mapped_column(String(64))
    description: Mapped[str] = mapped_column(String(200))
    quantity: Mapped[Decimal] = mapped_column(ExactDecimal(3))
    uom: Mapped[str] = mapped_column(String(10))
    list_price: Mapped[Decimal | None] = mapped_column(ExactDecimal(4))
    unit_price: Mapped[Decimal] = mapped_column(ExactDecimal(4))
    price_overridden: Mapped[bool] = mapped_column(Boolean, default=False)
    override_reason: Mapped[str | None] = mapped_column(String(200))
    discount_pct: Mapped[Decimal] = mapped_column(ExactDecimal(4), default=Decimal(0))
    gross_amount: Mapped[Decimal] = mapped_column(ExactDecimal(4))
    discount_amount: Mapped[Decimal] = mapped_column(ExactDecimal(4))
    net_amount: Mapped[Decimal] = mapped_column(ExactDecimal(4))
    tax_class: Mapped[str] = mapped_column(String(20))
    tax_rate_pct: Mapped[Decimal] = mapped_column(ExactDecimal(4))
    tax_amount: Mapped[Decimal] = mapped_column(ExactDecimal(4))
    reserved_qty: Mapped[Decimal] = mapped_column(ExactDecimal(3), default=Decimal(0))
    backordered_qty: Mapped[Decimal] = mapped_column(ExactDecimal(3), default=Decimal(0))
    shipped_qty: Mapped[Decimal] = mapped_column(ExactDecimal(3), default=Decimal(0), server_default="0")
    returned_qty: Mapped[Decimal] = mapped_column(ExactDecimal(3), default=Decimal(0), server_default="0")

    order: Mapped[Order] = relationship(back_populates="lines")


class OrderHold(Base):
    """Why an order waits for a person: `kind` validation, duplicate or pricing; `reasons` per field."""

    __tablename__ = "order_holds"
    id: Mapped[int] = mapped_column(Id, primary_key=True)
    order_id: Mapped[int] = mapped_column(ForeignKey("orders.id"), index=True)
    kind: Mapped[str] = mapped_column(String(20))
    reasons: Mapped[list] = mapped_column(JsonType)
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)
    released_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    released_by: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    release_reason: Mapped[str | None] = mapped_column(Text)
    # A release stops counting once what it approved is changed (new prices, a new PO number).
    superseded: Mapped[bool] = mapped_column(Boolean, default=False)

    order: Mapped[Order] = relationship(back_populates="holds")
