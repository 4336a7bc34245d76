"""Fraud screening: trained anomaly models and the review queue whose decisions become labels."""
from __future__ import annotations

from datetime import datetime
from decimal import Decimal

from sqlalchemy import ForeignKey, Index, Integer, LargeBinary, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from o2c.core.db import Base, ExactDecimal, Id, JsonType, UtcDateTime


class FraudModel(Base):
    """An anomaly model trained on a company's order history; the newest one scores new orders."""

    __tablename__ = "fraud_models"
    id: Mapped[int] = mapped_column(Id, primary_key=True)
    company_id: Mapped[int] = mapped_column(ForeignKey("companies.id"))
    algorithm: Mapped[str] = mapped_column(String(40))
    features: Mapped[list] = mapped_column(JsonType)
    params: Mapped[dict] = mapped_column(JsonType)
    blob: Mapped[bytes] = mapped_column(LargeBinary)  # the fitted model, serialised by o2c.fraud.model
    trained_on: Mapped[int] = mapped_column(Integer)  # orders
    metrics: Mapped[dict] = mapped_column(JsonType)  # precision/recall on held-out labelled orders
    trained_by: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    trained_at: Mapped[datetime] = mapped_column(UtcDateTime)

    __table_args__ = (Index("ix_fraud_models_company", "company_id", "id"),)


class FraudReview(Base):
    """An order that scored at or above the threshold, waiting for a person; the decision is a label."""

    __tablename__ = "fraud_reviews"
    id: Mapped[int] = mapped_column(Id, primary_key=True)
    company_id: Mapped[int] = mapped_column(ForeignKey("companies.id"))
    order_id: Mapped[int] = mapped_column(ForeignKey("orders.id"), index=True)
    customer_id: Mapped[int] = mapped_column(ForeignKey("customers.id"))
    score: Mapped[Decimal] = mapped_column(ExactDecimal(4))
    reasons: Mapped[list] = mapped_column(JsonType)  # rule hits and the model's top features
    model_id: Mapped[int | None] = mapped_column(ForeignKey("fraud_models.id"))
    status: Mapped[str] = mapped_column(String(20))  # pending, approved, rejected, cancelled
    label: Mapped[str | None] = mapped_column(String(10))  # fraud, legit: for retraining
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)
    decided_by: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    decided_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    decision_reason: Mapped[str | None] = mapped_column(Text)

    __table_args__ = (Index("ix_fraud_reviews_queue", "company_id", "status", "id"),)
