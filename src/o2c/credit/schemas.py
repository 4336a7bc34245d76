"""Shapes of the credit and approvals API."""
from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from typing import Annotated

from pydantic import BaseModel, Field

from o2c.core.schemas import CurrencyCode, DecimalStr, StrictModel

Amount = Annotated[Decimal, Field(ge=0, max_digits=18, decimal_places=4)]
Figure = Annotated[Decimal, Field(max_digits=20, decimal_places=4)]
Reason = Annotated[str, Field(min_length=1, max_length=1000)]


class LimitIn(StrictModel):
    """The limits asked for (null: no limit); give at least one. Each waits for a second user's approval."""

    credit_limit: Amount | None = None
    group_credit_limit: Amount | None = None
    reason: Reason


class StatementIn(StrictModel):
    period_end: date
    currency: CurrencyCode
    figures: dict[str, Figure | None]
    source: str | None = Field(None, max_length=200)


class StatementOut(BaseModel):
    model_config = {"from_attributes": True}
    id: int
    customer_id: int
    period_end: date
    currency: str
    figures: dict
    source: str | None
    submitted_at: datetime


class ScoreIn(StrictModel):
    statement_id: int | None = Field(None, ge=1)
    listed: bool = False
    manufacturer: bool = False
    emerging_market: bool = False
    expected_monthly_purchases: Amount | None = None
    as_of: date | None = None


class ScoreOut(BaseModel):
    id: int
    customer_id: int
    statement_id: int | None
    grade: str
    points: int
    recommended_limit: DecimalStr | None
    currency: str
    reasons: list[dict]
    inputs: dict
    computed_at: datetime


class DecisionIn(StrictModel):
    reason: Reason | None = None  # required: a missing reason is refused by the service, naming the field


class ApprovalOut(BaseModel):
    id: int
    kind: str
    order_id: int | None
    order_number: str | None
    order_entered_by: int | None
    customer_id: int
    customer_code: str | None
    amount: DecimalStr
    currency: str
    reasons: list[dict]
    role: str | None
    approvals_required: int
    approvals_given: int
    status: str
    requested_at: datetime
    decided_at: datetime | None
    decisions: list[dict]


class RouteIn(StrictModel):
    position: int = Field(ge=0, le=10_000)
    min_amount: Amount = Decimal(0)
    max_amount: Amount | None = None
    max_grade: str | None = Field(None, max_length=2)
    role: str | None = Field(None, max_length=40)
    approvals: int = Field(ge=0, le=3)
    description: str | None = Field(None, max_length=400)


class RoutesIn(StrictModel):
    routes: list[RouteIn] = Field(max_length=50)


class RouteOut(BaseModel):
    position: int
    min_amount: DecimalStr
    max_amount: DecimalStr | None
    max_grade: str | None
    role: str | None
    approvals: int
    description: str | None


class RoutesOut(BaseModel):
    defaults: bool
    routes: list[RouteOut]


class ExposureOut(BaseModel):
    open_receivables: DecimalStr
    shipped_not_invoiced: DecimalStr
    open_orders: DecimalStr
    total: DecimalStr


class OverdueOut(BaseModel):
    older_than_days: int
    holds_orders: bool
    count: int
    amount: DecimalStr
    oldest_days: int


class GroupOut(BaseModel):
    root_customer_id: int
    members: list[int]
    currency: str
    group_credit_limit: DecimalStr | None
    exposure: ExposureOut
    available: DecimalStr | None


class ProfileOut(BaseModel):
    customer_id: int
    customer_code: str
    currency: str
    credit_limit: DecimalStr | None
    exposure: ExposureOut
    available: DecimalStr | None
    overdue: OverdueOut
    group: GroupOut | None
    latest_score: ScoreOut | None
    open_holds: list[ApprovalOut]
