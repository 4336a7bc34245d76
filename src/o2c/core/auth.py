"""Users, roles, API keys, and the permission check every write goes through.

Roles are bundles of permissions (as data, below). Services call `require(actor, permission)` before
they change anything; the API layer only identifies the actor.
"""
from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass, field

from sqlalchemy import select
from sqlalchemy.orm import Session

from o2c.core import clock
from o2c.core.errors import Forbidden, Unauthorized, ValidationFailed
from o2c.core.models import ApiKey, User, UserCompany

# permission -> what it allows
PERMISSIONS = {
    "read": "read the company's records",
    "orders.write": "enter, correct, confirm and cancel orders; import order files",
    "orders.price_override": "enter a price, a line discount or an order discount other than the customer's",
    "holds.release": "release validation and duplicate holds after review",
    "holds.release_pricing": "release pricing holds (price overrides beyond the threshold)",
    "masterdata.write": "maintain customers, products, price lists, tax rates and warehouses",
    "stock.write": "receive, adjust and count stock; set bin locations",
    "fulfillment.write": "release waves, confirm picks, pack, check and ship parcels",
    "tracking.write": "record carrier tracking events (API, webhook, file)",
    "returns.request": "ask to return delivered goods",
    "returns.write": "authorise and reject returns",
    "returns.receive": "receive returned goods and inspect them (restock, damaged, refused)",
    "billing.write": "invoice shipped shipments and issue credit notes",
    "ledger.read": "read the ledger: chart of accounts, journal, trial balance",
    "ledger.configure": "change the chart of accounts (accounts, names, which account holds each role)",
    "payments.write": "record payments, apply them and unapplied credit to invoices, write off short payments, "
                      "pay out refunds",
    "reconciliation.write": "import bank statements, confirm, re-match or ignore their lines",
    "dunning.write": "send payment reminders, set a customer's reminder opt-out, open and resolve disputes",
    "payments.card": "authorise a card payment for an order (portal: own orders only)",
    "kyc.review": "review KYC documents; activate, suspend or block customers",
    "masterdata.approve": "approve or reject another user's change to a customer's sensitive fields "
                          "(bank account, billing address, payment terms)",
    "screening.write": "load sanctions lists and decide screening hits (true match or false positive)",
    "credit.write": "record customers' financial statements, score them, ask for credit limit changes",
    "credit.approve": "approve or reject credit holds routed to the user's role, and credit limit changes",
    "fraud.review": "approve or reject orders waiting for fraud review",
    "fraud.train": "train the fraud model on the order history",
    "audit.read": "read and verify the audit log; run the segregation-of-duties report",
    "privacy.write": "export or erase a person's data on request",
    "sod.configure": "change the segregation-of-duties conflict matrix",
    "users.write": "create users and API keys",
    "company.write": "change the company's settings (price-override threshold, lead time, time zone)",
}

ROLES: dict[str, frozenset[str]] = {
    "admin": frozenset(PERMISSIONS),
    "order_desk": frozenset({"read", "orders.write", "orders.price_override", "holds.release", "payments.card"}),
    "sales_rep": frozenset({"read", "orders.write", "orders.price_override"}),
    "pricing_approver": frozenset({"read", "holds.release_pricing"}),
    "master_data": frozenset({"read", "masterdata.write"}),
    "warehouse": frozenset({"read", "stock.write", "fulfillment.write", "tracking.write", "returns.receive"}),
    "customer_service": frozenset({"read", "returns.request", "returns.write", "returns.receive"}),
    # A carrier's system posting tracking events with its API key.
    "carrier": frozenset({"read", "tracking.write"}),
    "viewer": frozenset({"read"}),
    "billing": frozenset({"read", "billing.write", "ledger.read", "dunning.write"}),
    # Accounts receivable: cash in, bank statements, reminders. Kept apart from issuing credit notes.
    "receivables": frozenset({"read", "payments.write", "reconciliation.write", "dunning.write", "ledger.read"}),
    # Customers, credit and compliance (issue 5): each decision sits with its own role.
    "data_steward": frozenset({"read", "masterdata.approve"}),
    "compliance_officer": frozenset({"read", "kyc.review", "screening.write", "privacy.write", "audit.read"}),
    "credit_analyst": frozenset({"read", "credit.write", "credit.approve"}),
    "credit_manager": frozenset({"read", "credit.write", "credit.approve"}),
    "fraud_analyst": frozenset({"read", "fraud.review", "fraud.train"}),
    "auditor": frozenset({"read", "audit.read", "ledger.read"}),
    # A customer's portal user: own records only (enforced by customer_id on the actor).
    "customer": frozenset({"read", "orders.write", "returns.request", "payments.card"}),
}


@dataclass(frozen=True)
class Actor:
    user_id: int | None
    username: str
    roles: frozenset[str]
    company_ids: frozenset[int] = field(default_factory=frozenset)
    customer_id: int | None = None

    @property
    def permissions(self) -> frozenset[str]:
        out: set[str] = set()
        for r in self.roles:
            out |= ROLES.get(r, frozenset())
        return frozenset(out)

    def can(self, permission: str) -> bool:
        return permission in self.permissions


SYSTEM = Actor(user_id=None, username="system", roles=frozenset({"admin"}))


def require(actor: Actor, permission: str) -> None:
    if not actor.can(permission):
        raise Forbidden(
            f"user {actor.username!r} lacks the permission {permission!r} "
            f"({PERMISSIONS.get(permission, permission)})",
            permission=permission,
        )


def require_company(actor: Actor, company_id: int) -> None:
    if actor.user_id is not None and company_id not in actor.company_ids:
        raise Forbidden(f"user {actor.username!r} has no access to company {company_id}")


def hash_password(password: str) -> str:
    salt = secrets.token_bytes(16)
    digest = hashlib.scrypt(password.encode(), salt=salt, n=2**14, r=8, p=1)
    return f"scrypt${salt.hex()}${digest.hex()}"


def check_password(password: str, stored: str | None) -> bool:
    if not stored or not stored.startswith("scrypt$"):
        return False
    _, salt_hex, digest_hex = stored.split("$")
    digest = hashlib.scrypt(password.encode(), salt=bytes.fromhex(salt_hex), n=2**14, r=8, p=1)
    return hmac.compare_digest(digest.hex(), digest_hex)


def _key_hash(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def create_user(
    session: Session,
    username: str,
    roles: list[str],
    company_ids: list[int],
    *,
    display_name: str | None = None,
    email: str | None = None,
    password: str | None = None,
    customer_id: int | None = None,
) -> User:
    unknown = [r for r in roles if r not in ROLES]
    if unknown:
        raise ValidationFailed.one("roles", "unknown_role", f"unknown role(s): {', '.join(unknown)}")
    if session.scalar(select(User.id).where(User.username == username)) is not None:
        raise ValidationFailed.one("username", "taken", f"username {username!r} is taken")
    user = User(
        username=username,
        display_name=display_name or username,
        email=email,
        password_hash=hash_password(password) if password else None,
        roles=" ".join(sorted(roles)),
        customer_id=customer_id,
        active=True,
        created_at=clock.now(),
    )
    session.add(user)
    session.flush()
    for cid in company_ids:
        session.add(UserCompany(user_id=user.id, company_id=cid))
    return user


def issue_api_key(session: Session, user: User, name: str = "default") -> str:
    """Create an API key and return it; only its hash is kept, so this is the one time it is seen."""
    key = "o2c_" + secrets.token_urlsafe(32)
    session.add(
        ApiKey(user_id=user.id, name=name, prefix=key[:12], key_hash=_key_hash(key), created_at=clock.now())
    )
    session.flush()
    return key


def actor_for_user(session: Session, user: User) -> Actor:
    company_ids = session.scalars(select(UserCompany.company_id).where(UserCompany.user_id == user.id))
    return Actor(
        user_id=user.id,
        username=user.username,
        roles=frozenset(user.roles.split()),
        company_ids=frozenset(company_ids),
        customer_id=user.customer_id,
    )


def actor_for_key(session: Session, key: str) -> Actor:
    row = session.execute(
        select(User, ApiKey.revoked_at)
        .join(ApiKey, ApiKey.user_id == User.id)
        .where(ApiKey.key_hash == _key_hash(key))
    ).first()
    if row is None or row[1] is not None or not row[0].active:
        raise Unauthorized("the API key is unknown or revoked")
    return actor_for_user(session, row[0])
