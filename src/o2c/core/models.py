"""Tables every stage shares: companies, users and keys, the audit log, the outbox, idempotency."""
from __future__ import annotations

from datetime import datetime
from decimal import Decimal

from sqlalchemy import Boolean, ForeignKey, Index, Integer, String, Text, UniqueConstraint, text
from sqlalchemy.orm import Mapped, mapped_column

from o2c.core.db import Base, ExactDecimal, Id, JsonType, UtcDateTime


class Company(Base):
    """A business unit: its own currency, time zone, warehouses, document series and ledger."""

    __tablename__ = "companies"
    id: Mapped[int] = mapped_column(Id, primary_key=True)
    code: Mapped[str] = mapped_column(String(20), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    currency: Mapped[str] = mapped_column(String(3))
    country: Mapped[str] = mapped_column(String(2))
    timezone: Mapped[str] = mapped_column(String(64), default="UTC")
    # A price override further than this from the list price (in percent) needs a pricing approver.
    price_override_threshold_pct: Mapped[Decimal] = mapped_column(ExactDecimal(4), default=Decimal(10))
    # Days from confirmation to the expected delivery date promised in the order confirmation.
    default_lead_days: Mapped[int] = mapped_column(Integer, default=3)
    # Bumped in the transaction of every change to customers, products, prices or tax rates, so each
    # process can keep that reference data in memory and know when it is stale (o2c.core.masterdata).
    # GS1 company prefix for the SSCC on parcel labels (7-10 digits); labels use 0614141 when unset.
    gs1_prefix: Mapped[str | None] = mapped_column(String(12))
    # Days after delivery in which a customer may ask to return goods.
    return_window_days: Mapped[int] = mapped_column(Integer, default=30, server_default="30")
    # A parcel whose weighed weight differs from the expected by more than this (percent) is held;
    # None means the default of o2c.fulfillment.packing.qc_check.
    qc_tolerance_pct: Mapped[Decimal | None] = mapped_column(ExactDecimal(4))
    masterdata_version: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    # The seller on invoices (EN 16931): legal name, VAT identifier (BT-31), registration (BT-30),
    # electronic address and its scheme (BT-34), postal address, and the account customers pay into.
    legal_name: Mapped[str | None] = mapped_column(String(200))
    vat_id: Mapped[str | None] = mapped_column(String(40))
    registration_id: Mapped[str | None] = mapped_column(String(40))
    endpoint_id: Mapped[str | None] = mapped_column(String(80))
    endpoint_scheme: Mapped[str | None] = mapped_column(String(4))
    street: Mapped[str | None] = mapped_column(String(200))
    city: Mapped[str | None] = mapped_column(String(100))
    postal_code: Mapped[str | None] = mapped_column(String(20))
    iban: Mapped[str | None] = mapped_column(String(34))
    bic: Mapped[str | None] = mapped_column(String(11))
    # A short payment up to this (company currency) may be written off; None means none may.
    write_off_tolerance: Mapped[Decimal | None] = mapped_column(ExactDecimal(4))
    # Credit: an order from a customer with an invoice overdue by more than this many days is held.
    # None: overdue invoices alone hold nothing.
    credit_overdue_days: Mapped[int | None] = mapped_column(Integer)
    # Fraud: an order scoring at or above this (0..1) waits in the fraud review queue.
    fraud_review_threshold: Mapped[Decimal] = mapped_column(ExactDecimal(4), default=Decimal("0.7"),
                                                            server_default="0.7")
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)


class User(Base):
    __tablename__ = "users"
    id: Mapped[int] = mapped_column(Id, primary_key=True)
    username: Mapped[str] = mapped_column(String(80), unique=True)
    display_name: Mapped[str] = mapped_column(String(200))
    email: Mapped[str | None] = mapped_column(String(254))
    password_hash: Mapped[str | None] = mapped_column(String(300))
    roles: Mapped[str] = mapped_column(String(400))  # space-separated role names
    # Set for a customer's portal user: they see that customer's records and nothing else.
    customer_id: Mapped[int | None] = mapped_column(ForeignKey("customers.id"))
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)


class UserCompany(Base):
    __tablename__ = "user_companies"
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), primary_key=True)
    company_id: Mapped[int] = mapped_column(ForeignKey("companies.id"), primary_key=True)


class ApiKey(Base):
    __tablename__ = "api_keys"
    id: Mapped[int] = mapped_column(Id, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    name: Mapped[str] = mapped_column(String(100))
    prefix: Mapped[str] = mapped_column(String(12))
    key_hash: Mapped[str] = mapped_column(String(64), unique=True)  # sha256 hex; the key is never stored
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)
    revoked_at: Mapped[datetime | None] = mapped_column(UtcDateTime)


class AuditRecord(Base):
    """Append-only: who did what to which record, when and why. An order's timeline reads from here."""

    __tablename__ = "audit_log"
    id: Mapped[int] = mapped_column(Id, primary_key=True)
    company_id: Mapped[int | None] = mapped_column(ForeignKey("companies.id"))
    at: Mapped[datetime] = mapped_column(UtcDateTime)
    actor_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    actor: Mapped[str] = mapped_column(String(80))
    entity: Mapped[str] = mapped_column(String(40))
    entity_id: Mapped[int] = mapped_column(Id)
    action: Mapped[str] = mapped_column(String(60))
    from_status: Mapped[str | None] = mapped_column(String(30))
    to_status: Mapped[str | None] = mapped_column(String(30))
    reason: Mapped[str | None] = mapped_column(Text)
    data: Mapped[dict | None] = mapped_column(JsonType)
    # The hash chain (o2c.core.audit): each record's position, the hash of the one before, the hash of
    # its data (kept when personal data in `data` is erased), and its own hash. Set when sealed.
    seq: Mapped[int | None] = mapped_column(Id, unique=True)
    prev_hash: Mapped[str | None] = mapped_column(String(64))
    data_hash: Mapped[str | None] = mapped_column(String(64))
    hash: Mapped[str | None] = mapped_column(String(64))
    redacted_at: Mapped[datetime | None] = mapped_column(UtcDateTime)

    __table_args__ = (Index("ix_audit_log_entity", "entity", "entity_id", "id"),
                      Index("ix_audit_log_unsealed", "id", sqlite_where=text("seq IS NULL"),
                            postgresql_where=text("seq IS NULL")))


class AuditChainHead(Base):
    """The end of the audit hash chain (one row): sealing locks it, so records chain in one order."""

    __tablename__ = "audit_chain_head"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    seq: Mapped[int] = mapped_column(Id)
    hash: Mapped[str] = mapped_column(String(64))
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime)


class SodRule(Base):
    """A segregation-of-duties conflict, as data: one user may not do both duties on the same record
    (o2c.core.sod); users whose roles hold both are listed in the conflict report."""

    __tablename__ = "sod_rules"
    id: Mapped[int] = mapped_column(Id, primary_key=True)
    code: Mapped[str] = mapped_column(String(60), unique=True)
    duty_a: Mapped[str] = mapped_column(String(60))
    duty_b: Mapped[str] = mapped_column(String(60))
    description: Mapped[str] = mapped_column(Text)
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)


class OutboxEvent(Base):
    """An event written in the same transaction as the change it reports; delivered at least once."""

    __tablename__ = "outbox"
    id: Mapped[int] = mapped_column(Id, primary_key=True)
    company_id: Mapped[int | None] = mapped_column(ForeignKey("companies.id"))
    topic: Mapped[str] = mapped_column(String(80))
    entity_id: Mapped[int | None] = mapped_column(Id)
    payload: Mapped[dict] = mapped_column(JsonType)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)
    available_at: Mapped[datetime] = mapped_column(UtcDateTime)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    last_error: Mapped[str | None] = mapped_column(Text)
    processed_at: Mapped[datetime | None] = mapped_column(UtcDateTime)

    __table_args__ = (Index("ix_outbox_pending", "processed_at", "available_at", "id"),)


class OutboxDelivery(Base):
    """One row per (event, subscriber) that has handled it: makes every consumer idempotent."""

    __tablename__ = "outbox_deliveries"
    event_id: Mapped[int] = mapped_column(ForeignKey("outbox.id"), primary_key=True)
    subscriber: Mapped[str] = mapped_column(String(120), primary_key=True)
    delivered_at: Mapped[datetime] = mapped_column(UtcDateTime)


class IdempotencyKey(Base):
    __tablename__ = "idempotency_keys"
    id: Mapped[int] = mapped_column(Id, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    key: Mapped[str] = mapped_column(String(255))
    request_hash: Mapped[str] = mapped_column(String(64))
    status_code: Mapped[int] = mapped_column(Integer)
    response: Mapped[dict] = mapped_column(JsonType)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)

    __table_args__ = (UniqueConstraint("user_id", "key"),)
