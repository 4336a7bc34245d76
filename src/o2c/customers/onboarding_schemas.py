"""Shapes of the onboarding API: applications, contacts, bank accounts, KYC documents and decisions.

E-mail, phone, tax and bank numbers come in as text and are checked by o2c.customers.identity in the
service, so a refusal names the rule broken (not only "not valid")."""
from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import Field

from o2c.core.schemas import Code, OutModel, StrictModel
from o2c.customers.governance_schemas import DuplicateOut
from o2c.customers.schemas import AccountIn, AddressIn, AddressOut

class ContactIn(StrictModel):
    name: str = Field(min_length=1, max_length=200)
    role: str | None = Field(None, max_length=80)
    email: str | None = Field(None, max_length=254)
    phone: str | None = Field(None, max_length=40)


class ContactPatch(StrictModel):
    name: str | None = Field(None, min_length=1, max_length=200)
    role: str | None = Field(None, max_length=80)
    email: str | None = Field(None, max_length=254)
    phone: str | None = Field(None, max_length=40)


class ContactOut(OutModel):
    id: int
    customer_id: int
    name: str
    role: str | None
    email: str | None
    phone: str | None
    created_at: datetime
    erased_at: datetime | None


class BankAccountIn(StrictModel):
    iban: str = Field(min_length=1, max_length=50)
    bic: str | None = Field(None, max_length=20)
    holder_name: str | None = Field(None, max_length=200)


class BankAccountOut(OutModel):
    id: int
    iban: str
    bic: str | None
    holder_name: str | None


class ApplicationIn(AccountIn):
    """A customer's application: who they are, where, who to talk to, the accounts they pay from, and
    the terms this company offers them (currency, payment terms...)."""

    code: Code
    legal_name: str = Field(min_length=1, max_length=200)
    trading_names: list[str] = Field(default_factory=list, max_length=20)
    registration_id: str | None = Field(None, max_length=60)
    tax_id: str | None = Field(None, max_length=40)
    email: str | None = Field(None, max_length=254)
    phone: str | None = Field(None, max_length=40)
    billing_address: AddressIn
    shipping_addresses: list[AddressIn] = Field(default_factory=list, max_length=50)
    contacts: list[ContactIn] = Field(default_factory=list, max_length=50)
    bank_accounts: list[BankAccountIn] = Field(default_factory=list, max_length=10)


class ApplicationPatch(StrictModel):
    """Changes to an application while it is a prospect; lists given replace the stored ones."""

    legal_name: str | None = Field(None, min_length=1, max_length=200)
    trading_names: list[str] | None = Field(None, max_length=20)
    registration_id: str | None = Field(None, max_length=60)
    tax_id: str | None = Field(None, max_length=40)
    email: str | None = Field(None, max_length=254)
    phone: str | None = Field(None, max_length=40)
    billing_address: AddressIn | None = None
    bank_accounts: list[BankAccountIn] | None = Field(None, max_length=10)


class KycItemOut(OutModel):
    kind: str
    title: str
    what: str
    state: Literal["missing", "received", "accepted", "rejected"]
    document_ids: list[int]


class KycOut(OutModel):
    customer_id: int
    status: str
    complete: bool
    missing: list[str]
    items: list[KycItemOut]
    allowed_content_types: list[str]
    max_size: int


class ApplicationOut(OutModel):
    id: int
    code: str
    legal_name: str
    trading_names: list[str]
    registration_id: str | None
    tax_id: str | None
    email: str | None
    phone: str | None
    status: str
    compliance_hold: bool
    allowed_steps: list[str]
    currency: str
    payment_terms_days: int
    billing_address: AddressOut | None
    shipping_addresses: list[AddressOut]
    contacts: list[ContactOut]
    bank_accounts: list[BankAccountOut]
    kyc: KycOut
    possible_duplicates: list[DuplicateOut] = Field(default_factory=list)
    created_at: datetime


class DocumentOut(OutModel):
    id: int
    customer_id: int
    kind: str
    filename: str
    content_type: str
    size: int
    sha256: str
    status: str
    uploaded_by: int | None
    uploaded_at: datetime
    reviewed_by: int | None
    reviewed_at: datetime | None
    review_note: str | None


class ReviewIn(StrictModel):
    decision: Literal["accepted", "rejected"]
    note: str | None = Field(None, max_length=2000)


class StepIn(StrictModel):
    """A status step; suspend, reinstate and block need a reason."""

    reason: str | None = Field(None, max_length=2000)
