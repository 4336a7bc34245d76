"""The one way records are listed for a person: newest first, a page at a time, and a customer's portal
user seeing their own customer's records only (whatever customer they ask for)."""
from __future__ import annotations

from sqlalchemy import Select, select

from o2c.core.auth import Actor


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
