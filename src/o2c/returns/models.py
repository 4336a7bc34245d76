"""Returns: the request, its authorisation (RMA), receipt, inspection per line and outcome."""
from __future__ import annotations

from datetime import datetime
from decimal import Decimal

from sqlalchemy import ForeignKey, Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from o2c.core.db import Base, ExactDecimal, Id, UtcDateTime


class Return(Base):
    __tablename__ = "returns"
    id: Mapped[int] = mapped_column(Id, primary_key=True)
    company_id: Mapped[int] = mapped_column(ForeignKey("companies.id"))
    order_id: Mapped[int] = mapped_column(ForeignKey("orders.id"))
    customer_id: Mapped[int] = mapped_column(ForeignKey("customers.id"))
    # requested -> authorised -> received -> inspected -> closed; or rejected
    status: Mapped[str] = mapped_column(String(20))
    outcome: Mapped[str] = mapped_column(String(10))  # refund, exchange
    warehouse_id: Mapped[int | None] = mapped_column(ForeignKey("warehouses.id"))  # where it comes back to
    notes: Mapped[str | None] = mapped_column(Text)
    label_tracking_number: Mapped[str | None] = mapped_column(String(40))
    label_carrier_id: Mapped[int | None] = mapped_column(ForeignKey("carriers.id"))
    label_service_code: Mapped[str | None] = mapped_column(String(20))
    label_weight_kg: Mapped[Decimal | None] = mapped_column(ExactDecimal(3))
    refund_amount: Mapped[Decimal | None] = mapped_column(ExactDecimal(4))
    exchange_shipment_id: Mapped[int | None] = mapped_column(ForeignKey("shipments.id"))
    requested_by: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    authorised_by: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    rejection_reason: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)
    authorised_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    received_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    closed_at: Mapped[datetime | None] = mapped_column(UtcDateTime)

    lines: Mapped[list["ReturnLine"]] = relationship(order_by="ReturnLine.id", cascade="all, delete-orphan")

    __table_args__ = (Index("ix_returns_order", "order_id"), Index("ix_returns_status", "company_id", "status", "id"))

    @property
    def rma_number(self) -> str:
        return f"RMA{self.id:08d}"


class ReturnLine(Base):
    __tablename__ = "return_lines"
    id: Mapped[int] = mapped_column(Id, primary_key=True)
    return_id: Mapped[int] = mapped_column(ForeignKey("returns.id"), index=True)
    order_line_id: Mapped[int] = mapped_column(ForeignKey("order_lines.id"))
    product_id: Mapped[int] = mapped_column(ForeignKey("products.id"))
    sku: Mapped[str] = mapped_column(String(64))
    quantity: Mapped[Decimal] = mapped_column(ExactDecimal(3))
    reason: Mapped[str] = mapped_column(String(30))  # rules.REASONS, kept for analytics
    reason_text: Mapped[str | None] = mapped_column(Text)
    received_qty: Mapped[Decimal] = mapped_column(ExactDecimal(3), default=Decimal(0))
    condition: Mapped[str | None] = mapped_column(String(20))  # restock, damaged, refused
    unit_net: Mapped[Decimal] = mapped_column(ExactDecimal(4))  # net price per unit, for the refund
    unit_tax: Mapped[Decimal] = mapped_column(ExactDecimal(4))
