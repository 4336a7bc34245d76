"""Order gate for fraud (see o2c.orders.gates): an order whose fraud score (rules + the company's
latest model) reaches Company.fraud_review_threshold waits for a fraud analyst in /fraud-reviews."""
from __future__ import annotations

import weakref

from sqlalchemy.orm import Session

from o2c.core.auth import Actor
from o2c.core.errors import FieldError
from o2c.core.models import Company
from o2c.fraud import service
from o2c.orders.models import Order

KIND = service.KIND


def _kept(session: Session) -> weakref.WeakKeyDictionary:
    """This session's assessments by order object, so `opened` stores the score `check` computed."""
    return session.info.setdefault("fraud_assessments", weakref.WeakKeyDictionary())


def check(ctx) -> list[FieldError]:
    if KIND in ctx.released:  # a person approved this order's fraud review
        return []
    order = ctx.order
    # a bulk import shares ctx.batch: its orders join the customer's history (velocity) as they go
    a = service.assess(ctx.session, ctx.company, order, ctx.batch)
    if a.score < float(ctx.company.fraud_review_threshold):
        return []
    try:
        _kept(ctx.session)[order] = a
    except TypeError:  # an import's plain record cannot be a weak key: `opened` scores it again
        pass
    return [FieldError("fraud", "review_required", a.summary())]


def opened(session: Session, actor: Actor, company_id: int, order_id: int, reasons: list[dict]) -> None:
    order = session.get(Order, order_id)
    a = _kept(session).pop(order, None)
    if a is None:
        a = service.assess(session, session.get(Company, company_id), order)
    service.open_review(session, actor, company_id, order_id, a)


def closed(session: Session, actor: Actor, company_id: int, order_id: int, why: str) -> None:
    service.cancel_reviews(session, actor, company_id, order_id, why)
