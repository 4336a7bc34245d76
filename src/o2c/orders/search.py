"""Finding orders for a person at a screen: free text (order number, PO number, customer code or name)
and filters on status, hold kind, channel, customer and the order date, newest first a page at a time."""
from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date

from sqlalchemy import or_, select
from sqlalchemy.orm import Session, selectinload

from o2c.core.auth import Actor, require
from o2c.core.listing import newest_first
from o2c.customers import service as customers
from o2c.orders.models import Order, OrderHold

_NUMBER = re.compile(r"^(?:SO)?0*(\d{1,12})$", re.IGNORECASE)


@dataclass(frozen=True)
class OrderQuery:
    text: str | None = None
    status: str | None = None
    hold_kind: str | None = None
    channel: str | None = None
    customer_id: int | None = None
    date_from: date | None = None
    date_to: date | None = None


def _text_match(text: str):
    """An order number ("SO00000012" or "12") finds that order; any text finds the PO numbers and the
    customers (code, name or VAT number, through the customer stage) that contain it, in any case."""
    needle = text.strip()
    found = [Order.po_number.icontains(needle, autoescape=True),
             Order.customer_id.in_(customers.ids_matching(needle))]
    number = _NUMBER.match(text.strip())
    if number:
        found.append(Order.id == int(number.group(1)))
    return or_(*found)


def search(session: Session, actor: Actor, company_id: int, q: OrderQuery, *, before_id: int | None = None,
           limit: int = 50) -> list[Order]:
    """Orders matching every filter given, newest first; `before_id` is the cursor (the id of the last
    order of the previous page). A portal user finds their own customer's orders only."""
    require(actor, "read")
    stmt = newest_first(Order, actor, company_id, before_id=before_id, limit=limit, status=q.status or None,
                        customer_id=q.customer_id, channel=q.channel or None)
    if q.text and q.text.strip():
        stmt = stmt.where(_text_match(q.text))
    if q.hold_kind:
        stmt = stmt.where(Order.id.in_(select(OrderHold.order_id).where(OrderHold.kind == q.hold_kind,
                                                                        OrderHold.active.is_(True))))
    if q.date_from:
        stmt = stmt.where(Order.order_date >= q.date_from)
    if q.date_to:
        stmt = stmt.where(Order.order_date <= q.date_to)
    return list(session.scalars(stmt.options(selectinload(Order.lines), selectinload(Order.holds))))
