from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Annotated, Literal

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


# Early-payment discount: pct off when paid within days of the invoice date ("2/10 net 30").
DiscountPct = Annotated[Decimal, Field(gt=0, lt=100, max_digits=9, decimal_places=4)]
DiscountDays = Annotated[int, Field(ge=1, le=365)]
# An electronic address for e-invoices (PEPPOL BT-49) and its scheme, a 4-digit EAS code (0088: GLN).
EndpointId = Annotated[str, Field(min_length=1, max_length=80)]
EndpointScheme = Annotated[str, Field(pattern=r"^[0-9]{4}$")]


class AccountIn(StrictModel):
    currency: CurrencyCode
    payment_terms_days: int = Field(30, ge=0, le=365)
    early_discount_pct: DiscountPct | None = None
    early_discount_days: DiscountDays | None = None
    dunning_opt_out: bool = False
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
    endpoint_id: EndpointId | None = None
    endpoint_scheme: EndpointScheme | None = None
    billing_address: AddressIn
    shipping_addresses: list[AddressIn] = Field(default_factory=list, max_length=50)


class CustomerPatch(StrictModel):
    legal_name: str | None = Field(None, min_length=1, max_length=200)
    email: EmailStr | None = None
    phone: str | None = Field(None, max_length=40)
    tax_id: str | None = Field(None, max_length=40)
    payment_terms_days: int | None = Field(None, ge=0, le=365)
    early_discount_pct: DiscountPct | None = None
    early_discount_days: DiscountDays | None = None
    dunning_opt_out: bool | None = None
    endpoint_id: EndpointId | None = None
    endpoint_scheme: EndpointScheme | None = None
    tax_exempt: bool | None = None
    tax_exemption_ref: str | None = Field(None, max_length=60)
    ship_preference: Literal["ship_complete", "ship_partial"] | None = None
    discount_pct: Percent | None = None
    active: bool | None = None


class CustomerOut(OutModel):
    id: int
    code: str
    legal_name: str
    status: str  # prospect, pending_kyc, active, suspended, blocked (o2c.customers.lifecycle)
    email: str | None
    phone: str | None
    tax_id: str | None
    endpoint_id: str | None
    endpoint_scheme: str | None
    currency: str
    payment_terms_days: int
    early_discount_pct: PctStr | None
    early_discount_days: int | None
    payment_terms: str
    dunning_opt_out: bool
    tax_exempt: bool
    tax_exemption_ref: str | None
    ship_preference: str
    discount_pct: PctStr
    active: bool
    billing_address: AddressOut | None
    shipping_addresses: list[AddressOut]
    created_at: datetime
