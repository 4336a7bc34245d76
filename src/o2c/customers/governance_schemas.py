"""Shapes of the master-data governance API: duplicate checks, sensitive changes, hierarchy, merges."""
from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import Field

from o2c.core.schemas import OutModel, RecordId, StrictModel
from o2c.customers.schemas import AddressIn, CustomerOut

SensitiveField = Literal["bank_account", "billing_address", "payment_terms", "credit_limit", "group_credit_limit"]


class DuplicateCheckIn(StrictModel):
    legal_name: str = Field(min_length=1, max_length=200)
    tax_id: str | None = Field(None, max_length=40)
    billing_address: AddressIn | None = None
    limit: int = Field(5, ge=1, le=50)


class DuplicateOut(OutModel):
    id: int
    code: str
    legal_name: str
    tax_id: str | None
    score: float
    reasons: dict


class ChangeIn(StrictModel):
    """value by field: bank_account {action: add|remove, iban, bic, holder_name}; billing_address {name,
    line1, line2, city, region, postal_code, country}; payment_terms {payment_terms_days,
    early_discount_pct, early_discount_days}; credit_limit {credit_limit}; group_credit_limit
    {group_credit_limit} (an amount in the account's currency as a string, or null for none)."""

    field: SensitiveField
    value: dict
    reason: str | None = Field(None, max_length=2000)


class DecisionIn(StrictModel):
    reason: str | None = Field(None, max_length=2000)


class ChangeOut(OutModel):
    id: int
    customer_id: int
    field: str
    old_value: dict | None
    new_value: dict
    status: str
    version: int | None
    reason: str | None
    requested_by: str | None
    requested_at: datetime
    decided_by: str | None
    decided_at: datetime | None
    decision_reason: str | None


class CustomerPatched(CustomerOut):
    """The customer after a change; sensitive fields asked for wait in pending_changes (202)."""

    pending_changes: list[ChangeOut] = Field(default_factory=list)


class ParentIn(StrictModel):
    parent_id: RecordId | None
    reason: str | None = Field(None, max_length=2000)


class MergeIn(StrictModel):
    """Merge `merged_id` into this customer (the survivor). choices: field -> "survivor" or "merged" to
    override the survivorship rule for that field."""

    merged_id: RecordId
    reason: str = Field(min_length=1, max_length=2000)
    choices: dict[str, Literal["survivor", "merged"]] | None = None


class MergeOut(OutModel):
    id: int
    survivor_id: int
    merged_id: int
    survivorship: dict
    merged_snapshot: dict
    moved: dict
    merged_by: int | None
    merged_at: datetime
    reason: str | None
