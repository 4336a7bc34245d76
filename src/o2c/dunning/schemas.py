"""API shapes of reminders, reminder levels and invoice disputes."""
from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from typing import Annotated

from pydantic import Field

from o2c.core.schemas import DecimalStr, OutModel, PctStr, StrictModel

Fee = Annotated[Decimal, Field(ge=0, le=10**9, max_digits=13, decimal_places=4)]
InterestPct = Annotated[Decimal, Field(ge=0, le=100, max_digits=8, decimal_places=4)]


class RunIn(StrictModel):
    as_of: date | None = Field(None, description="the business date to run for (default: today in the company's "
                                                 "time zone); only a dry run may look ahead")
    dry_run: bool = Field(False, description="answer what would be sent, and send nothing")


class ReminderItemOut(OutModel):
    invoice_id: int
    invoice_number: str
    order_id: int
    due_date: date
    rank: int
    days_overdue: int
    open_amount: DecimalStr
    interest: DecimalStr


class ReminderOut(OutModel):
    id: int | None = Field(description="none in a dry run")
    number: str | None
    customer_id: int
    level: str
    rank: int
    sent_on: date
    currency: str
    open_total: DecimalStr
    fee: DecimalStr
    interest: DecimalStr
    total: DecimalStr
    email: str | None
    journal_entry_id: int | None
    created_at: datetime | None
    items: list[ReminderItemOut]


class RunOut(OutModel):
    as_of: date
    dry_run: bool
    reminders: list[ReminderOut]


class LevelIn(StrictModel):
    rank: int = Field(ge=0, le=99)
    code: str = Field(min_length=1, max_length=20, pattern=r"^[a-z][a-z0-9_-]*$")
    days_overdue: int = Field(ge=-31, le=3 * 365, description="days after the due date; negative: before it")
    fee: Fee = Field(Decimal(0), description="in the company's currency")
    interest_pct_year: InterestPct = Field(Decimal(0), description="simple interest a year, ACT/365")


class LevelsIn(StrictModel):
    levels: list[LevelIn] = Field(max_length=10)


class LevelOut(OutModel):
    rank: int
    code: str
    days_overdue: int
    fee: DecimalStr
    interest_pct_year: PctStr


class LevelsOut(OutModel):
    currency: str
    defaults: bool = Field(description="true: the company has set none and these defaults apply")
    levels: list[LevelOut]


class DisputeIn(StrictModel):
    reason: str = Field(min_length=1, max_length=400)


class ResolveIn(StrictModel):
    resolution: str = Field(min_length=1, max_length=400)


class DisputeOut(OutModel):
    id: int
    invoice_id: int
    invoice_number: str
    status: str
    reason: str
    opened_at: datetime
    resolution: str | None
    resolved_at: datetime | None
