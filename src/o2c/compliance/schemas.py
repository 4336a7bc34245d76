"""API shapes of sanctions screening: list loads, hits (the compliance queue) and decisions."""
from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import Field

from o2c.core.schemas import DecimalStr, OutModel, StrictModel


class ListLoadOut(OutModel):
    id: int
    source: str
    sha256: str
    entries: int
    aliases: int
    addresses: int
    loaded_by: int | None
    loaded_at: datetime
    rescreened: int  # customers screened again against this list
    hits_opened: int
    active: bool


class HitOut(OutModel):
    id: int
    customer_id: int
    customer_code: str
    customer_name: str
    list_id: int
    entry_uid: int  # ent_num in the OFAC files
    entry_name: str
    matched_name: str  # the customer's name or trading name that matched
    listed_name: str  # the list's name or alias it matched
    score: DecimalStr
    programs: list[str]
    entry_type: str | None
    countries: list[str]
    reasons: list[str]
    status: str  # open, true_match, false_positive
    created_at: datetime
    decided_by: int | None
    decided_at: datetime | None
    decision_reason: str | None


class DecisionIn(StrictModel):
    decision: Literal["true_match", "false_positive"]
    reason: str = Field(min_length=1, max_length=2000)


class ScreenedOut(OutModel):
    customer_id: int
    customer_code: str
    status: str
    compliance_hold: bool
    screened_at: datetime | None
    screened_list_id: int | None
    hits_opened: list[HitOut]
