"""Administering users from the command line: by names and codes rather than ids."""
from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from o2c.core.auth import create_user, issue_api_key
from o2c.core.errors import ErrorList, NotFound
from o2c.core.models import Company, User
from o2c.customers.models import Customer


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


def new_key(session: Session, username: str) -> str:
    user = session.scalar(select(User).where(User.username == username))
    if user is None:
        raise NotFound(f"no user {username!r}")
    return issue_api_key(session, user, "cli")
