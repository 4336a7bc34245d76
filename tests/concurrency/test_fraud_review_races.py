"""On PostgreSQL, two fraud analysts deciding one review at the same moment (one approves, one
rejects): the second waits for the first's lock on the review, then finds it decided (409). The order
is either confirmed or cancelled, with one decision on its timeline, never both."""
from __future__ import annotations

import threading
from datetime import timedelta

import pytest
from sqlalchemy import select

from o2c.core import clock
from o2c.core.auth import actor_for_user
from o2c.core.db import read_session, transaction
from o2c.core.errors import Conflict
from o2c.core.models import AuditRecord, User
from o2c.fraud import service
from o2c.fraud.models import FraudReview
from o2c.orders.models import Order
from tests.concurrency.support import count_retries, wide_pool
from tests.fraud import support

pytestmark = pytest.mark.postgres_only


def test_two_analysts_decide_one_review_once(pg, monkeypatch):
    wide_pool(monkeypatch)
    retried = count_retries(monkeypatch)
    from tests.world import make

    world = make()
    history = support.build(world, days=30, frauds=0)
    clock.freeze(history.end + timedelta(hours=20))
    cid = world["ids"]["company"]

    def actor(s, name):
        return actor_for_user(s, s.get(User, world["ids"][name]))

    from o2c.orders import service as orders
    from o2c.orders.schemas import OrderIn, OrderLineIn
    held = transaction(lambda s: orders.capture(s, actor(s, "desk"), cid, OrderIn(
        customer_code="BIGBUY", channel="web", lines=[OrderLineIn(sku="WIDGET", quantity=100)])).id)
    with read_session() as s:
        review_id = s.scalar(select(FraudReview.id).where(FraudReview.order_id == held))

    start = threading.Barrier(2)
    outcomes: dict[str, str] = {}

    def decide(name: str, approve: bool):
        start.wait()
        try:
            transaction(lambda s: service.decide(s, actor(s, name), cid, review_id, approve, f"{name} decides"))
            outcomes[name] = "decided"
        except Conflict:
            outcomes[name] = "conflict"

    threads = [threading.Thread(target=decide, args=("fraudcop", True)),
               threading.Thread(target=decide, args=("admin", False))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert sorted(outcomes.values()) == ["conflict", "decided"], outcomes
    winner = next(n for n, o in outcomes.items() if o == "decided")
    with read_session() as s:
        review = s.get(FraudReview, review_id)
        status = s.scalar(select(Order.status).where(Order.id == held))
        actions = list(s.scalars(select(AuditRecord.action).where(AuditRecord.entity == "order",
                                                                  AuditRecord.entity_id == held)))
        assert review.decided_by == world["ids"][winner]
        assert (review.status, review.label, status) == (
            ("approved", "legit", "confirmed") if winner == "fraudcop" else ("rejected", "fraud", "cancelled"))
    assert sum(a in ("fraud_hold_released", "fraud_rejected") for a in actions) == 1, actions
    assert "40P01" not in retried
