"""The one way records are read for a person: one by id, or listed newest first a page at a time; a
customer's portal user sees their own customer's records only (whatever customer they ask for)."""
from __future__ import annotations

from sqlalchemy import Select, select
from sqlalchemy.orm import Session

from o2c.core.auth import Actor
from o2c.core.errors import NotFound


def newest_first(model, actor: Actor, company_id: int, *, before_id: int | None = None, limit: int = 50,
                 **equal) -> Select:
    """Rows of `model` in the company, newest first, `before_id` the cursor, filtered on each column
    named in `equal` whose value is not None. `customer_id` is forced to a portal user's own: asking
    for another customer finds nothing."""
    stmt = select(model).where(model.company_id == company_id).order_by(model.id.desc()).limit(limit)
    if actor.customer_id is not None:
        asked = equal.get("customer_id")
        equal["customer_id"] = actor.customer_id if asked in (None, actor.customer_id) else -1
    for column, value in equal.items():
        if value is not None:
            stmt = stmt.where(getattr(model, column) == value)
    if before_id is not None:
        stmt = stmt.where(model.id < before_id)
    return stmt


def own_one(session: Session, model, actor: Actor, company_id: int, record_id: int, what: str, *options,
            lock: bool = False):
    """One row of `model` in the company, with its `options` loaded (locked, and read again, with
    `lock`). Not found for another company's and, for a portal user, for another customer's: the
    answer never tells them it exists."""
    stmt = select(model).where(model.id == record_id, model.company_id == company_id).options(*options)
    if lock:
        stmt = stmt.with_for_update(of=model).execution_options(populate_existing=True)
    row = session.scalar(stmt)
    if row is None or (actor.customer_id is not None and row.customer_id != actor.customer_id):
        raise NotFound(f"{what} {record_id} not found")
    return row
