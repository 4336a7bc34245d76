"""The customer master (one golden record, global) and each company's account with that customer."""
from __future__ import annotations

from datetime import datetime
from decimal import Decimal

from sqlalchemy import Boolean, ForeignKey, Index, Integer, LargeBinary, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from o2c.core.db import Base, ExactDecimal, Id, JsonType, UtcDateTime


class AddressColumns:
    """The postal address fields, as used on customers, ship-to addresses, warehouses and orders."""

    name: Mapped[str | None] = mapped_column(String(200))
    line1: Mapped[str | None] = mapped_column(String(200))
    line2: Mapped[str | None] = mapped_column(String(200))
    city: Mapped[str | None] = mapped_column(String(100))
    region: Mapped[str | None] = mapped_column(String(100))
    postal_code: Mapped[str | None] = mapped_column(String(20))
    country: Mapped[str | None] = mapped_column(String(2))


class Customer(Base):
    __tablename__ = "customers"
    id: Mapped[int] = mapped_column(Id, primary_key=True)
    code: Mapped[str] = mapped_column(String(40), unique=True)
    legal_name: Mapped[str] = mapped_column(String(200))
    email: Mapped[str | None] = mapped_column(String(254))
    phone: Mapped[str | None] = mapped_column(String(40))
    tax_id: Mapped[str | None] = mapped_column(String(40))
    # The customer's electronic address for e-invoices (PEPPOL BT-49) and its scheme (EAS code, e.g. 0088).
    endpoint_id: Mapped[str | None] = mapped_column(String(80))
    endpoint_scheme: Mapped[str | None] = mapped_column(String(4))
    # prospect -> pending_kyc -> active -> suspended | blocked (o2c.customers.onboarding); only an active
    # customer's orders pass the customer gate. Customers created directly by master data start active.
    status: Mapped[str] = mapped_column(String(20), default="active", server_default="active")
    trading_names: Mapped[list | None] = mapped_column(JsonType)
    registration_id: Mapped[str | None] = mapped_column(String(60))
    # Global parent of a regional subsidiary: credit exposure and limits roll up to the top of the tree.
    parent_id: Mapped[int | None] = mapped_column(ForeignKey("customers.id"), index=True)
    # Set on a record merged into another (its golden record); the merged record stays for history.
    merged_into_id: Mapped[int | None] = mapped_column(ForeignKey("customers.id"))
    # A sanctions screening hit awaits a decision (or was confirmed): the customer's orders wait.
    compliance_hold: Mapped[bool] = mapped_column(Boolean, default=False, server_default="0")
    screened_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    screened_list_id: Mapped[int | None] = mapped_column(Id)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)


class CustomerContact(Base):
    """A person at the customer: the personal data privacy requests are about."""

    __tablename__ = "customer_contacts"
    id: Mapped[int] = mapped_column(Id, primary_key=True)
    customer_id: Mapped[int] = mapped_column(ForeignKey("customers.id"), index=True)
    name: Mapped[str] = mapped_column(String(200))
    role: Mapped[str | None] = mapped_column(String(80))  # e.g. buyer, accounts payable, director
    email: Mapped[str | None] = mapped_column(String(254), index=True)
    phone: Mapped[str | None] = mapped_column(String(40))  # E.164
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)
    # Set when the contact's personal data was erased (pseudonymised) on request.
    erased_at: Mapped[datetime | None] = mapped_column(UtcDateTime)


class KycDocument(Base):
    """A document received for know-your-customer checks; `kind` is one of the checklist's items."""

    __tablename__ = "kyc_documents"
    id: Mapped[int] = mapped_column(Id, primary_key=True)
    customer_id: Mapped[int] = mapped_column(ForeignKey("customers.id"), index=True)
    kind: Mapped[str] = mapped_column(String(40))
    filename: Mapped[str] = mapped_column(String(200))
    content_type: Mapped[str] = mapped_column(String(100))
    size: Mapped[int] = mapped_column(Integer)
    sha256: Mapped[str] = mapped_column(String(64))
    content: Mapped[bytes] = mapped_column(LargeBinary)
    status: Mapped[str] = mapped_column(String(20), default="received")  # received, accepted, rejected
    uploaded_by: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    uploaded_at: Mapped[datetime] = mapped_column(UtcDateTime)
    reviewed_by: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    reviewed_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    review_note: Mapped[str | None] = mapped_column(Text)


class CustomerChange(Base):
    """A change to a sensitive field (bank account, credit limit, billing address, payment terms): asked
    by one user, applied only when a second user approves it. Approved changes are the field's versions."""

    __tablename__ = "customer_changes"
    id: Mapped[int] = mapped_column(Id, primary_key=True)
    company_id: Mapped[int] = mapped_column(ForeignKey("companies.id"))
    customer_id: Mapped[int] = mapped_column(ForeignKey("customers.id"))
    field: Mapped[str] = mapped_column(String(40))
    old_value: Mapped[dict | None] = mapped_column(JsonType)
    new_value: Mapped[dict] = mapped_column(JsonType)
    status: Mapped[str] = mapped_column(String(20))  # pending, approved, rejected, withdrawn
    version: Mapped[int | None] = mapped_column(Integer)  # the field's version number once approved
    reason: Mapped[str | None] = mapped_column(Text)
    requested_by: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    requested_at: Mapped[datetime] = mapped_column(UtcDateTime)
    decided_by: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    decided_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    decision_reason: Mapped[str | None] = mapped_column(Text)

    __table_args__ = (Index("ix_customer_changes_customer", "customer_id", "field", "id"),
                      Index("ix_customer_changes_status", "company_id", "status", "id"))


class CustomerMerge(Base):
    """A duplicate merged into its golden record: what each field kept and where it came from."""

    __tablename__ = "customer_merges"
    id: Mapped[int] = mapped_column(Id, primary_key=True)
    company_id: Mapped[int] = mapped_column(ForeignKey("companies.id"))
    survivor_id: Mapped[int] = mapped_column(ForeignKey("customers.id"), index=True)
    merged_id: Mapped[int] = mapped_column(ForeignKey("customers.id"), index=True)
    survivorship: Mapped[dict] = mapped_column(JsonType)  # field -> {"value", "from", "rule"}
    merged_snapshot: Mapped[dict] = mapped_column(JsonType)  # the merged record as it was
    moved: Mapped[dict] = mapped_column(JsonType)  # table -> count of rows moved to the survivor
    merged_by: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    merged_at: Mapped[datetime] = mapped_column(UtcDateTime)
    reason: Mapped[str | None] = mapped_column(Text)


class CustomerAddress(AddressColumns, Base):
    """Billing and shipping addresses of a customer; `kind` is 'billing' or 'shipping'."""

    __tablename__ = "customer_addresses"
    id: Mapped[int] = mapped_column(Id, primary_key=True)
    customer_id: Mapped[int] = mapped_column(ForeignKey("customers.id"), index=True)
    kind: Mapped[str] = mapped_column(String(10))
    is_default: Mapped[bool] = mapped_column(Boolean, default=False)


class CustomerAccount(Base):
    """What one company agreed with a customer: currency, terms, tax exemption, shipping preference."""

    __tablename__ = "customer_accounts"
    id: Mapped[int] = mapped_column(Id, primary_key=True)
    company_id: Mapped[int] = mapped_column(ForeignKey("companies.id"))
    customer_id: Mapped[int] = mapped_column(ForeignKey("customers.id"))
    currency: Mapped[str] = mapped_column(String(3))
    payment_terms_days: Mapped[int] = mapped_column(Integer, default=30)
    # Early-payment discount: pct off when paid within days of the invoice date (2/10 net 30). None: none.
    early_discount_pct: Mapped[Decimal | None] = mapped_column(ExactDecimal(4))
    early_discount_days: Mapped[int | None] = mapped_column(Integer)
    # True: this customer gets no payment reminders.
    dunning_opt_out: Mapped[bool] = mapped_column(Boolean, default=False, server_default="0")
    tax_exempt: Mapped[bool] = mapped_column(Boolean, default=False)
    tax_exemption_ref: Mapped[str | None] = mapped_column(String(60))
    # True: ship only when every line can go (the whole order waits); False: ship what is available.
    ship_complete: Mapped[bool] = mapped_column(Boolean, default=False)
    # A standing line discount in percent, applied to list prices.
    discount_pct: Mapped[Decimal] = mapped_column(ExactDecimal(4), default=Decimal(0))
    # In the account's currency. None: no limit is set, and orders are not checked against one.
    credit_limit: Mapped[Decimal | None] = mapped_column(ExactDecimal(4))
    # On a group's top account: the limit for the exposure of the whole group (it and all below it).
    group_credit_limit: Mapped[Decimal | None] = mapped_column(ExactDecimal(4))
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)

    __table_args__ = (UniqueConstraint("company_id", "customer_id"),)


class CustomerBankAccount(Base):
    """A bank account the customer pays from: how reconciliation knows who paid a statement line."""

    __tablename__ = "customer_bank_accounts"
    id: Mapped[int] = mapped_column(Id, primary_key=True)
    customer_id: Mapped[int] = mapped_column(ForeignKey("customers.id"), index=True)
    iban: Mapped[str] = mapped_column(String(34), index=True)  # electronic form: no spaces, upper case
    bic: Mapped[str | None] = mapped_column(String(11))
    holder_name: Mapped[str | None] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)

    __table_args__ = (UniqueConstraint("customer_id", "iban"),)
