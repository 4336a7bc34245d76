"""Administering users from the command line: by names and codes rather than ids."""
from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from o2c.core import audit
from o2c.core.auth import ROLES, SYSTEM, Actor, actor_for_user, create_user, hash_password, issue_api_key, require
from o2c.core.errors import ErrorList, NotFound, ValidationFailed
from o2c.core.models import Company, User
from o2c.customers.models import Customer


def active_actor(session: Session, username: str) -> Actor:
    """The actor a command runs as (its --user): an active user, by name."""
    user = session.scalar(select(User).where(User.username == username, User.active.is_(True)))
    if user is None:
        raise NotFound(f"there is no active user named {username!r} (give one with --user)")
    return actor_for_user(session, user)


def add_user(session: Session, username: str, roles: list[str], companies: list[str],
             customer_code: str | None = None) -> str:
    errors = ErrorList()
    ids = []
    for code in companies:
        cid = session.scalar(select(Company.id).where(Company.code == code))
        if cid is None:
            errors.add("company", "unknown", f"no company {code!r}")
        ids.append(cid)
    customer_id = None
    if customer_code is not None:
        customer_id = session.scalar(select(Customer.id).where(Customer.code == customer_code))
        if customer_id is None:
            errors.add("customer", "unknown", f"no customer {customer_code!r}")
    errors.raise_if_any()
    user = create_user(session, username, roles, ids, customer_id=customer_id)
    return issue_api_key(session, user, "cli")


def usernames(session: Session, user_ids) -> dict[int, str]:
    """Username by user id, for pages and reports that name who did something."""
    ids = sorted({i for i in user_ids if i is not None})
    if not ids:
        return {}
    return dict(session.execute(select(User.id, User.username).where(User.id.in_(ids))).all())


MIN_PASSWORD = 10


def set_password(session: Session, username: str, password: str, actor: Actor = SYSTEM) -> None:
    """The password a user logs in to the web pages with (kept only as a salted scrypt hash)."""
    user = session.scalar(select(User).where(User.username == username))
    if user is None:
        raise NotFound(f"no user {username!r}")
    if len(password) < MIN_PASSWORD:
        raise ValidationFailed.one("password", "too_short", f"a password needs at least {MIN_PASSWORD} characters")
    if password.strip().lower() in {username.lower(), user.display_name.strip().lower()}:
        raise ValidationFailed.one("password", "guessable", "a password must not be the user's own name")
    user.password_hash = hash_password(password)
    audit.record(session, actor, "user", user.id, "password_set")  # that it changed, never the password


def new_key(session: Session, username: str) -> str:
    user = session.scalar(select(User).where(User.username == username))
    if user is None:
        raise NotFound(f"no user {username!r}")
    return issue_api_key(session, user, "cli")


def role_warnings(session: Session, roles: list[str]) -> list[str]:
    """The segregation-of-duties rules these roles together would break, as sentences (o2c.core.sod)."""
    from o2c.core import sod

    return [f"{r.code}: {r.description}" for r in sod.role_conflicts(roles, sod.rules(session))]


def assign_roles(session: Session, actor: Actor, username: str, roles: list[str]) -> list[str]:
    """Give a user exactly these roles (users.write) and return the conflicts they bring as warnings.

    Conflicting roles are allowed on purpose: a small team may need one person to hold both, and the
    record-level checks (o2c.core.sod.check) still refuse that person doing both duties on the same
    record. The warnings are kept in the audit record, and the user shows in the conflict report."""
    require(actor, "users.write")
    unknown = [r for r in roles if r not in ROLES]
    if unknown:
        raise ValidationFailed.one("roles", "unknown_role", f"unknown role(s): {', '.join(unknown)}")
    user = session.scalar(select(User).where(User.username == username).with_for_update())
    if user is None:
        raise NotFound(f"no user {username!r}")
    before, after = user.roles, " ".join(sorted(set(roles)))
    user.roles = after
    warnings = role_warnings(session, roles)
    audit.record(session, actor, "user", user.id, "roles_changed", reason="roles assigned",
                 data={"before": before.split(), "after": after.split(), "sod_warnings": warnings})
    return warnings
