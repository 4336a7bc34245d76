"""The customer master (one golden record, global) and each company's account with that customer."""
from __future__ import annotations

from datetime import datetime
from decimal import Decimal

from sqlalchemy import Boolean, ForeignKey, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from o2c.core.db import Base, ExactDecimal, Id, UtcDateTime


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
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)


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
