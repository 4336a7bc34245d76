"""Products, price lists with quantity breaks, and tax rates by jurisdiction and tax class."""
from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal

from sqlalchemy import Boolean, Date, ForeignKey, Index, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from o2c.core.db import Base, ExactDecimal, Id, UtcDateTime


class Product(Base):
    __tablename__ = "products"
    id: Mapped[int] = mapped_column(Id, primary_key=True)
    company_id: Mapped[int] = mapped_column(ForeignKey("companies.id"))
    sku: Mapped[str] = mapped_column(String(64))
    name: Mapped[str] = mapped_column(String(200))
    uom: Mapped[str] = mapped_column(String(10), default="EA")
    # Decimals a quantity may carry in this unit (0 for pieces, 3 for kilograms) ...
    uom_decimals: Mapped[int] = mapped_column(Integer, default=0)
    # ... and the multiple it is sold in, if any (a case of 12: only 12, 24, ...).
    order_multiple: Mapped[Decimal | None] = mapped_column(ExactDecimal(3))
    weight_kg: Mapped[Decimal | None] = mapped_column(ExactDecimal(3))
    length_cm: Mapped[Decimal | None] = mapped_column(ExactDecimal(1))
    width_cm: Mapped[Decimal | None] = mapped_column(ExactDecimal(1))
    height_cm: Mapped[Decimal | None] = mapped_column(ExactDecimal(1))
    tax_class: Mapped[str] = mapped_column(String(20), default="standard")
    gtin: Mapped[str | None] = mapped_column(String(14))
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)

    __table_args__ = (UniqueConstraint("company_id", "sku"),)


class PriceList(Base):
    """Prices in one currency; a list with a customer is that customer's own and wins over the general one."""

    __tablename__ = "price_lists"
    id: Mapped[int] = mapped_column(Id, primary_key=True)
    company_id: Mapped[int] = mapped_column(ForeignKey("companies.id"))
    name: Mapped[str] = mapped_column(String(100))
    currency: Mapped[str] = mapped_column(String(3))
    customer_id: Mapped[int | None] = mapped_column(ForeignKey("customers.id"))
    valid_from: Mapped[date | None] = mapped_column(Date)
    valid_to: Mapped[date | None] = mapped_column(Date)
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)

    __table_args__ = (Index("ix_price_lists_lookup", "company_id", "currency", "customer_id"),)


class PriceListItem(Base):
    """The unit price from `min_qty` up (quantity breaks: several rows per product)."""

    __tablename__ = "price_list_items"
    id: Mapped[int] = mapped_column(Id, primary_key=True)
    price_list_id: Mapped[int] = mapped_column(ForeignKey("price_lists.id"))
    product_id: Mapped[int] = mapped_column(ForeignKey("products.id"))
    min_qty: Mapped[Decimal] = mapped_column(ExactDecimal(3), default=Decimal(1))
    unit_price: Mapped[Decimal] = mapped_column(ExactDecimal(4))

    __table_args__ = (UniqueConstraint("price_list_id", "product_id", "min_qty"),)


class TaxRate(Base):
    """A tax rate for a country (and optionally a region) and tax class, from its effective date."""

    __tablename__ = "tax_rates"
    id: Mapped[int] = mapped_column(Id, primary_key=True)
    company_id: Mapped[int] = mapped_column(ForeignKey("companies.id"))
    country: Mapped[str] = mapped_column(String(2))
    region: Mapped[str | None] = mapped_column(String(100))
    tax_class: Mapped[str] = mapped_column(String(20))
    rate_pct: Mapped[Decimal] = mapped_column(ExactDecimal(4))
    name: Mapped[str] = mapped_column(String(60))
    valid_from: Mapped[date] = mapped_column(Date)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)

    __table_args__ = (
        UniqueConstraint("company_id", "country", "region", "tax_class", "valid_from"),
    )
