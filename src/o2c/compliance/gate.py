"""Order gate: a customer with an undecided or confirmed sanctions hit is on compliance hold, and so
are its orders (see o2c.orders.gates). The hold is decided on the screening hit, not on the order."""
from __future__ import annotations

from sqlalchemy.orm import Session

from o2c.core.auth import Actor
from o2c.core.errors import FieldError
from o2c.customers.models import Customer

KIND = "compliance"


def check(ctx) -> list[FieldError]:
    customer = ctx.session.get(Customer, ctx.order.customer_id)
    if not customer.compliance_hold:
        return []
    return [FieldError("customer", "sanctions_hit",
                       f"customer {customer.code} matched a sanctions list; a compliance officer decides the hit")]


def opened(session: Session, actor: Actor, company_id: int, order_id: int, reasons: list[dict]) -> None:
    """Nothing to queue per order: the screening hit is the queue item."""


def closed(session: Session, actor: Actor, company_id: int, order_id: int, why: str) -> None:
    """Nothing was queued per order."""
