"""Shipments (what leaves a warehouse for one order), waves, pick lists, boxes and packages."""
from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal

from sqlalchemy import Boolean, Date, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from o2c.core.db import Base, ExactDecimal, Id, JsonType, UtcDateTime
from o2c.orders.models import ShipToColumns


class FulfillmentPolicy(Base):
    """How orders of a channel choose their warehouse: cost, speed or fewest_parcels."""

    __tablename__ = "fulfillment_policies"
    id: Mapped[int] = mapped_column(Id, primary_key=True)
    company_id: Mapped[int] = mapped_column(ForeignKey("companies.id"))
    channel: Mapped[str] = mapped_column(String(20))
    policy: Mapped[str] = mapped_column(String(20))
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime)

    __table_args__ = (UniqueConstraint("company_id", "channel"),)


class Wave(Base):
    __tablename__ = "waves"
    id: Mapped[int] = mapped_column(Id, primary_key=True)
    company_id: Mapped[int] = mapped_column(ForeignKey("companies.id"))
    status: Mapped[str] = mapped_column(String(20))  # released, done
    # What the optimiser decided against greedy: costs, saving, method, solver status.
    report: Mapped[dict] = mapped_column(JsonType)
    created_by: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)

    @property
    def number(self) -> str:
        return f"WV{self.id:06d}"


class Shipment(ShipToColumns, Base):
    """One order's goods from one warehouse. Its shipped quantities are what billing invoices."""

    __tablename__ = "shipments"
    id: Mapped[int] = mapped_column(Id, primary_key=True)
    company_id: Mapped[int] = mapped_column(ForeignKey("companies.id"))
    order_id: Mapped[int] = mapped_column(ForeignKey("orders.id"))
    warehouse_id: Mapped[int] = mapped_column(ForeignKey("warehouses.id"))
    wave_id: Mapped[int | None] = mapped_column(ForeignKey("waves.id"))
    kind: Mapped[str] = mapped_column(String(20), default="order")  # order, exchange
    return_id: Mapped[int | None] = mapped_column(Integer)  # the return an exchange ships against
    # released -> picked -> packed -> shipped -> in_transit -> out_for_delivery -> delivered (exception)
    status: Mapped[str] = mapped_column(String(20))
    promised_date: Mapped[date | None] = mapped_column(Date)
    carrier_id: Mapped[int | None] = mapped_column(ForeignKey("carriers.id"))
    service_code: Mapped[str | None] = mapped_column(String(20))
    # Rate shopping's answer when the carrier was chosen: candidates, costs and reasons.
    rate_choice: Mapped[dict | None] = mapped_column(JsonType)
    shipping_cost: Mapped[Decimal | None] = mapped_column(ExactDecimal(4))
    estimated_delivery: Mapped[date | None] = mapped_column(Date)
    shipped_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    delivered_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    on_time: Mapped[bool | None] = mapped_column(Boolean)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime)
    version: Mapped[int] = mapped_column(Integer, default=1)

    lines: Mapped[list["ShipmentLine"]] = relationship(order_by="ShipmentLine.id", cascade="all, delete-orphan")
    packages: Mapped[list["Package"]] = relationship(order_by="Package.id", cascade="all, delete-orphan")

    __table_args__ = (
        Index("ix_shipments_order", "order_id"),
        Index("ix_shipments_status", "company_id", "status", "id"),
    )

    @property
    def number(self) -> str:
        return f"SH{self.id:08d}"


class ShipmentLine(Base):
    __tablename__ = "shipment_lines"
    id: Mapped[int] = mapped_column(Id, primary_key=True)
    shipment_id: Mapped[int] = mapped_column(ForeignKey("shipments.id"), index=True)
    order_line_id: Mapped[int] = mapped_column(ForeignKey("order_lines.id"))
    product_id: Mapped[int] = mapped_column(ForeignKey("products.id"))
    sku: Mapped[str] = mapped_column(String(64))
    quantity: Mapped[Decimal] = mapped_column(ExactDecimal(3))  # reserved for this shipment
    picked_qty: Mapped[Decimal] = mapped_column(ExactDecimal(3), default=Decimal(0))
    packed_qty: Mapped[Decimal] = mapped_column(ExactDecimal(3), default=Decimal(0))
    shipped_qty: Mapped[Decimal] = mapped_column(ExactDecimal(3), default=Decimal(0))
    returned_qty: Mapped[Decimal] = mapped_column(ExactDecimal(3), default=Decimal(0))


class PickList(Base):
    __tablename__ = "pick_lists"
    id: Mapped[int] = mapped_column(Id, primary_key=True)
    company_id: Mapped[int] = mapped_column(ForeignKey("companies.id"))
    wave_id: Mapped[int] = mapped_column(ForeignKey("waves.id"), index=True)
    warehouse_id: Mapped[int] = mapped_column(ForeignKey("warehouses.id"))
    picker: Mapped[str | None] = mapped_column(String(80))
    status: Mapped[str] = mapped_column(String(20))  # open, done
    length_m: Mapped[Decimal] = mapped_column(ExactDecimal(1))
    unsorted_length_m: Mapped[Decimal] = mapped_column(ExactDecimal(1))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)

    tasks: Mapped[list["PickTask"]] = relationship(order_by="PickTask.seq, PickTask.id")

    @property
    def number(self) -> str:
        return f"PL{self.id:06d}"


class PickTask(Base):
    """One shipment line's quantity to take from one bin; tasks sharing `seq` are one stop on the path."""

    __tablename__ = "pick_tasks"
    id: Mapped[int] = mapped_column(Id, primary_key=True)
    pick_list_id: Mapped[int] = mapped_column(ForeignKey("pick_lists.id"), index=True)
    seq: Mapped[int] = mapped_column(Integer)
    shipment_line_id: Mapped[int] = mapped_column(ForeignKey("shipment_lines.id"), index=True)
    product_id: Mapped[int] = mapped_column(ForeignKey("products.id"))
    sku: Mapped[str] = mapped_column(String(64))
    bin: Mapped[str] = mapped_column(String(20))
    quantity: Mapped[Decimal] = mapped_column(ExactDecimal(3))
    picked_qty: Mapped[Decimal | None] = mapped_column(ExactDecimal(3))


class Box(Base):
    __tablename__ = "boxes"
    id: Mapped[int] = mapped_column(Id, primary_key=True)
    company_id: Mapped[int] = mapped_column(ForeignKey("companies.id"))
    code: Mapped[str] = mapped_column(String(20))
    inner_length_cm: Mapped[Decimal] = mapped_column(ExactDecimal(1))
    inner_width_cm: Mapped[Decimal] = mapped_column(ExactDecimal(1))
    inner_height_cm: Mapped[Decimal] = mapped_column(ExactDecimal(1))
    max_weight_kg: Mapped[Decimal] = mapped_column(ExactDecimal(3))
    tare_kg: Mapped[Decimal] = mapped_column(ExactDecimal(3))
    active: Mapped[bool] = mapped_column(Boolean, default=True)

    __table_args__ = (UniqueConstraint("company_id", "code"),)


class Package(Base):
    """A parcel: items scanned into a box, weighed, checked, labelled."""

    __tablename__ = "packages"
    id: Mapped[int] = mapped_column(Id, primary_key=True)
    company_id: Mapped[int] = mapped_column(ForeignKey("companies.id"))
    shipment_id: Mapped[int] = mapped_column(ForeignKey("shipments.id"), index=True)
    status: Mapped[str] = mapped_column(String(20))  # open, closed, qc_hold, shipped
    box_code: Mapped[str | None] = mapped_column(String(20))
    expected_weight_kg: Mapped[Decimal | None] = mapped_column(ExactDecimal(3))
    weighed_weight_kg: Mapped[Decimal | None] = mapped_column(ExactDecimal(3))
    qc_message: Mapped[str | None] = mapped_column(Text)
    sscc: Mapped[str | None] = mapped_column(String(18), unique=True)
    tracking_number: Mapped[str | None] = mapped_column(String(40))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)
    closed_at: Mapped[datetime | None] = mapped_column(UtcDateTime)

    items: Mapped[list["PackageItem"]] = relationship(order_by="PackageItem.id", cascade="all, delete-orphan")


class PackageItem(Base):
    __tablename__ = "package_items"
    id: Mapped[int] = mapped_column(Id, primary_key=True)
    package_id: Mapped[int] = mapped_column(ForeignKey("packages.id"), index=True)
    shipment_line_id: Mapped[int] = mapped_column(ForeignKey("shipment_lines.id"))
    product_id: Mapped[int] = mapped_column(ForeignKey("products.id"))
    sku: Mapped[str] = mapped_column(String(64))
    quantity: Mapped[Decimal] = mapped_column(ExactDecimal(3))
