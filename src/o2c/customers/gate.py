"""Order gate: only an active customer's orders proceed past validation (see o2c.orders.gates)."""
from __future__ import annotations

from sqlalchemy.orm import Session

from o2c.core.auth import Actor
from o2c.core.errors import FieldError
from o2c.customers.models import Customer

KIND = "customer"

_WHY = {
    "prospect": "has applied and is not yet approved",
    "pending_kyc": "waits for its KYC checks",
    "suspended": "is suspended",
    "blocked": "is blocked",
}


def check(ctx) -> list[FieldError]:
    customer = ctx.session.get(Customer, ctx.order.customer_id)
    if customer.status == "active":
        return []
    return [FieldError("customer", f"customer_{customer.status}",
                       f"customer {customer.code} {_WHY.get(customer.status, 'is ' + customer.status)}; "
                       "only an active customer's orders go ahead")]


def opened(session: Session, actor: Actor, company_id: int, order_id: int, reasons: list[dict]) -> None:
    """Nothing to queue: the hold clears when the customer becomes active (orders are checked again)."""


def closed(session: Session, actor: Actor, company_id: int, order_id: int, why: str) -> None:
    """Nothing was queued."""
