"""An order history for fraud tests, made fast: one bulk capture (o2c.integrations.csv_capture) per
day, the clock moved to that day, and past review decisions as labels."""
from __future__ import annotations

import random
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from decimal import Decimal

from o2c.core import clock
from o2c.core.auth import SYSTEM
from o2c.core.db import transaction
from o2c.fraud.models import FraudReview
from o2c.integrations.csv_capture import capture_batch
from o2c.orders.schemas import OrderIn, OrderLineIn

START = datetime(2026, 1, 5, 15, 0, tzinfo=timezone.utc)
TEHRAN = {"name": "Receiver", "line1": "12 Valiasr St", "city": "Tehran", "postal_code": "1193653471", "country": "IR"}
CUSTOMERS = ("BIGBUY", "LOYAL", "EXEMPT", "TIDY")


@dataclass
class History:
    normal: list[int] = field(default_factory=list)
    fraud: list[int] = field(default_factory=list)
    end: datetime = START


def _normal(rng: random.Random, code: str) -> OrderIn:
    lines = [OrderLineIn(sku="WIDGET", quantity=Decimal(rng.randint(2, 6)))]
    if rng.random() < 0.4:
        lines.append(OrderLineIn(sku="GADGET", quantity=Decimal(rng.randint(1, 2))))
    return OrderIn(customer_code=code, channel=rng.choice(["b2b_portal", "edi", "sales_rep"]), confirm=False,
                   lines=lines)


def _fraud(rng: random.Random, code: str, i: int) -> OrderIn:
    if i % 2 == 0:  # a huge quantity
        return OrderIn(customer_code=code, channel="web", confirm=False,
                       lines=[OrderLineIn(sku="WIDGET", quantity=Decimal(rng.randint(60, 120)))])
    return OrderIn(customer_code="EXEMPT", channel="web", confirm=False, ship_to=TEHRAN,  # tax exempt: no IR rate needed
                   lines=[OrderLineIn(sku="WIDGET", quantity=Decimal(rng.randint(2, 6)))])


def build(world, days: int = 90, frauds: int = 12, seed: int = 1) -> History:
    """About 0.8 orders a day for each of four customers over `days` days, `frauds` of them planted
    fraud (huge quantities, high-risk destinations) spread over the second half."""
    rng = random.Random(seed)
    cid = world["ids"]["company"]
    out = History()
    fraud_days = set(rng.sample(range(days // 2, days), frauds))
    for d in range(days):
        day = START + timedelta(days=d)
        orders = [(_normal(rng, code), False) for code in CUSTOMERS if rng.random() < 0.8]
        if d in fraud_days:
            orders.append((_fraud(rng, rng.choice(CUSTOMERS[:2]), len(out.fraud) + d), True))
        clock.freeze(day + timedelta(minutes=rng.randint(0, 300)))
        done = transaction(lambda s: capture_batch(s, SYSTEM, cid, [o for o, _ in orders]))
        for (_, planted), outcome in zip(orders, done):
            if planted:  # the rules may hold it already: the analyst rejected it then
                assert outcome.status in ("validated", "held"), outcome
                out.fraud.append(outcome.order_id)
                if outcome.status == "held":
                    transaction(lambda s: _reject(s, world, outcome.order_id))
            else:
                assert outcome.status == "validated", outcome
                out.normal.append(outcome.order_id)
    out.end = START + timedelta(days=days)
    return out


def _reject(s, world, order_id: int) -> None:
    from sqlalchemy import select

    from o2c.core.auth import actor_for_user
    from o2c.core.models import User
    from o2c.fraud import service

    actor = actor_for_user(s, s.get(User, world["ids"]["fraudcop"]))
    review_id = s.scalar(select(FraudReview.id).where(FraudReview.order_id == order_id, FraudReview.status == "pending"))
    service.decide(s, actor, world["ids"]["company"], review_id, False, "past decision: fraud")


def label(world, order_ids: list[int], label: str, user: str = "fraudcop") -> None:
    """Past review decisions (the labels a company has after months of reviews), for orders that
    have none yet."""
    cid = world["ids"]["company"]

    def work(s):
        from sqlalchemy import select

        from o2c.orders.models import Order
        decided = set(s.scalars(select(FraudReview.order_id).where(FraudReview.label.is_not(None))))
        for oid in order_ids:
            if oid in decided:
                continue
            o = s.get(Order, oid)
            s.add(FraudReview(company_id=cid, order_id=oid, customer_id=o.customer_id, score=Decimal("0.8"),
                              reasons=[], status="approved" if label == "legit" else "rejected", label=label,
                              created_at=o.created_at, decided_by=world["ids"][user], decided_at=o.created_at,
                              decision_reason="past decision"))
    transaction(work)
