"""Credit: financial statements customers submit, the scores computed from them, and approvals routed
by rules kept as data."""
from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal

from sqlalchemy import Date, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from o2c.core.db import Base, ExactDecimal, Id, JsonType, UtcDateTime


class CreditStatement(Base):
    """A customer's financial statements for one period, as submitted (figures: o2c.credit.scoring.Statements)."""

    __tablename__ = "credit_statements"
    id: Mapped[int] = mapped_column(Id, primary_key=True)
    customer_id: Mapped[int] = mapped_column(ForeignKey("customers.id"), index=True)
    period_end: Mapped[date] = mapped_column(Date)
    currency: Mapped[str] = mapped_column(String(3))
    figures: Mapped[dict] = mapped_column(JsonType)  # field -> decimal as string
    source: Mapped[str | None] = mapped_column(String(200))  # e.g. "audited annual report 2025"
    submitted_by: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    submitted_at: Mapped[datetime] = mapped_column(UtcDateTime)


class CreditScore(Base):
    """A scoring run for a customer in a company: grade, recommended limit, and every reason."""

    __tablename__ = "credit_scores"
    id: Mapped[int] = mapped_column(Id, primary_key=True)
    company_id: Mapped[int] = mapped_column(ForeignKey("companies.id"))
    customer_id: Mapped[int] = mapped_column(ForeignKey("customers.id"))
    statement_id: Mapped[int | None] = mapped_column(ForeignKey("credit_statements.id"))
    grade: Mapped[str] = mapped_column(String(2))  # A (lowest risk) .. E
    points: Mapped[Decimal] = mapped_column(ExactDecimal(4))
    recommended_limit: Mapped[Decimal | None] = mapped_column(ExactDecimal(4))
    currency: Mapped[str] = mapped_column(String(3))
    reasons: Mapped[list] = mapped_column(JsonType)
    inputs: Mapped[dict] = mapped_column(JsonType)  # ratios, Z-scores, payment behaviour as computed
    computed_by: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    computed_at: Mapped[datetime] = mapped_column(UtcDateTime)

    __table_args__ = (Index("ix_credit_scores_customer", "company_id", "customer_id", "id"),)


class ApprovalRoute(Base):
    """A routing rule (data, per company): a request of `kind` whose amount is within [min_amount,
    max_amount) and grade at most `max_grade` goes to `role` and needs `approvals` distinct approvers;
    `approvals` 0 approves it automatically. The first matching rule by `position` wins."""

    __tablename__ = "approval_routes"
    id: Mapped[int] = mapped_column(Id, primary_key=True)
    company_id: Mapped[int] = mapped_column(ForeignKey("companies.id"))
    kind: Mapped[str] = mapped_column(String(20))  # credit
    position: Mapped[int] = mapped_column(Integer)
    min_amount: Mapped[Decimal] = mapped_column(ExactDecimal(4), default=Decimal(0))
    max_amount: Mapped[Decimal | None] = mapped_column(ExactDecimal(4))  # None: no upper bound
    max_grade: Mapped[str | None] = mapped_column(String(2))  # None: any grade
    role: Mapped[str | None] = mapped_column(String(40))  # None with approvals 0
    approvals: Mapped[int] = mapped_column(Integer)
    description: Mapped[str | None] = mapped_column(Text)

    __table_args__ = (UniqueConstraint("company_id", "kind", "position"),)


class ApprovalRequest(Base):
    """Something waiting for people of a role: e.g. an order's credit hold. Decided once."""

    __tablename__ = "approval_requests"
    id: Mapped[int] = mapped_column(Id, primary_key=True)
    company_id: Mapped[int] = mapped_column(ForeignKey("companies.id"))
    kind: Mapped[str] = mapped_column(String(20))  # credit
    order_id: Mapped[int | None] = mapped_column(ForeignKey("orders.id"), index=True)
    customer_id: Mapped[int] = mapped_column(ForeignKey("customers.id"))
    route_id: Mapped[int | None] = mapped_column(ForeignKey("approval_routes.id"))
    role: Mapped[str | None] = mapped_column(String(40))
    approvals_required: Mapped[int] = mapped_column(Integer)
    amount: Mapped[Decimal] = mapped_column(ExactDecimal(4))
    currency: Mapped[str] = mapped_column(String(3))
    reasons: Mapped[list] = mapped_column(JsonType)  # why it needs a person (limit, overdue), as shown
    status: Mapped[str] = mapped_column(String(20))  # pending, approved, rejected, cancelled
    requested_at: Mapped[datetime] = mapped_column(UtcDateTime)
    decided_at: Mapped[datetime | None] = mapped_column(UtcDateTime)

    __table_args__ = (Index("ix_approval_requests_queue", "company_id", "status", "role", "id"),)


class ApprovalDecision(Base):
    __tablename__ = "approval_decisions"
    id: Mapped[int] = mapped_column(Id, primary_key=True)
    request_id: Mapped[int] = mapped_column(ForeignKey("approval_requests.id"))
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    decision: Mapped[str] = mapped_column(String(10))  # approve, reject
    reason: Mapped[str] = mapped_column(Text)
    decided_at: Mapped[datetime] = mapped_column(UtcDateTime)

    __table_args__ = (UniqueConstraint("request_id", "user_id"),)
