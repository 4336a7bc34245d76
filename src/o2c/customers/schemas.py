from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Literal

from pydantic import EmailStr, Field

from o2c.core.schemas import (
    Code, CountryCode, CurrencyCode, OutModel, PctStr, Percent, StrictModel,
)


class AddressIn(StrictModel):
    name: str | None = Field(None, max_length=200)
    line1: str | None = Field(None, max_length=200)
    line2: str | None = Field(None, max_length=200)
    city: str | None = Field(None, max_length=100)
    region: str | None = Field(None, max_length=100)
    postal_code: str | None = Field(None, max_length=20)
    country: CountryCode | None = None


class AddressOut(OutModel):
    name: str | None
    line1: str | None
    line2: str | None
    city: str | None
    region: str | None
    postal_code: str | None
    country: str | None


class AccountIn(StrictModel):
    currency: CurrencyCode
    payment_terms_days: int = Field(30, ge=0, le=365)
    tax_exempt: bool = False
    tax_exemption_ref: str | None = Field(None, max_length=60)
    ship_preference: Literal["ship_complete", "ship_partial"] = "ship_partial"
    discount_pct: Percent = Decimal(0)


class CustomerIn(AccountIn):
    code: Code
    legal_name: str = Field(min_length=1, max_length=200)
    email: EmailStr | None = None
    phone: str | None = Field(None, max_length=40)
    tax_id: str | None = Field(None, max_length=40)
    billing_address: AddressIn
    shipping_addresses: list[AddressIn] = Field(default_factory=list, max_length=50)


class CustomerPatch(StrictModel):
    legal_name: str | None = Field(None, min_length=1, max_length=200)
    email: EmailStr | None = None
    phone: str | None = Field(None, max_length=40)
    tax_id: str | None = Field(None, max_length=40)
    payment_terms_days: int | None = Field(None, ge=0, le=365)
    tax_exempt: bool | None = None
    tax_exemption_ref: str | None = Field(None, max_length=60)
    ship_preference: Literal["ship_complete", "ship_partial"] | None = None
    discount_pct: Percent | None = None
    active: bool | None = None


class CustomerOut(OutModel):
    id: int
    code: str
    legal_name: str
    email: str | None
    phone: str | None
    tax_id: str | None
    currency: str
    payment_terms_days: int
    tax_exempt: bool
    tax_exemption_ref: str | None
    ship_preference: str
    discount_pct: PctStr
    active: bool
    billing_address: AddressOut | None
    shipping_addresses: list[AddressOut]
    created_at: datetime
