"""Warehouses, stock per product and warehouse, and the reservations held against it."""
from __future__ import annotations

from datetime import datetime
from decimal import Decimal

from sqlalchemy import Boolean, CheckConstraint, ForeignKey, Index, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from o2c.core.db import Base, ExactDecimal, Id, UtcDateTime
from o2c.customers.models import AddressColumns


class Warehouse(AddressColumns, Base):
    __tablename__ = "warehouses"
    id: Mapped[int] = mapped_column(Id, primary_key=True)
    company_id: Mapped[int] = mapped_column(ForeignKey("companies.id"))
    code: Mapped[str] = mapped_column(String(20))
    latitude: Mapped[Decimal | None] = mapped_column(ExactDecimal(6))
    longitude: Mapped[Decimal | None] = mapped_column(ExactDecimal(6))
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)

    __table_args__ = (UniqueConstraint("company_id", "code"),)


class Stock(Base):
    """On hand and reserved; available = on_hand - reserved, never below zero (checked by the database)."""

    __tablename__ = "stock"
    id: Mapped[int] = mapped_column(Id, primary_key=True)
    company_id: Mapped[int] = mapped_column(ForeignKey("companies.id"))
    product_id: Mapped[int] = mapped_column(ForeignKey("products.id"))
    warehouse_id: Mapped[int] = mapped_column(ForeignKey("warehouses.id"))
    on_hand: Mapped[Decimal] = mapped_column(ExactDecimal(3), default=Decimal(0))
    reserved: Mapped[Decimal] = mapped_column(ExactDecimal(3), default=Decimal(0))
    bin: Mapped[str | None] = mapped_column(String(20))  # zone-aisle-bay-level, where pickers find it
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime)

    __table_args__ = (
        UniqueConstraint("product_id", "warehouse_id"),
        CheckConstraint("reserved >= 0", name="reserved_not_negative"),
        CheckConstraint("reserved <= on_hand", name="not_oversold"),
    )


class Reservation(Base):
    __tablename__ = "reservations"
    id: Mapped[int] = mapped_column(Id, primary_key=True)
    company_id: Mapped[int] = mapped_column(ForeignKey("companies.id"))
    order_id: Mapped[int] = mapped_column(ForeignKey("orders.id"), index=True)
    order_line_id: Mapped[int] = mapped_column(ForeignKey("order_lines.id"))
    product_id: Mapped[int] = mapped_column(ForeignKey("products.id"))
    warehouse_id: Mapped[int] = mapped_column(ForeignKey("warehouses.id"))
    quantity: Mapped[Decimal] = mapped_column(ExactDecimal(3))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)


class StockMove(Base):
    """Every change to on-hand stock with its reason: receipt, adjustment, count, shipment, return."""

    __tablename__ = "stock_moves"
    id: Mapped[int] = mapped_column(Id, primary_key=True)
    company_id: Mapped[int] = mapped_column(ForeignKey("companies.id"))
    product_id: Mapped[int] = mapped_column(ForeignKey("products.id"))
    warehouse_id: Mapped[int] = mapped_column(ForeignKey("warehouses.id"))
    kind: Mapped[str] = mapped_column(String(20))
    quantity: Mapped[Decimal] = mapped_column(ExactDecimal(3))  # signed change of on hand
    on_hand_after: Mapped[Decimal] = mapped_column(ExactDecimal(3))
    reason: Mapped[str | None] = mapped_column(String(200))
    reference: Mapped[str | None] = mapped_column(String(60))  # receipt document, shipment or RMA number
    created_by: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)

    __table_args__ = (Index("ix_stock_moves_product", "company_id", "product_id", "id"),)
