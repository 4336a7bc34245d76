"""Fraud screening in the order flow: a bulk import's burst, a held order corrected or checked again,
the cost of scoring one order, and training refused without the right or the history."""
from __future__ import annotations

from datetime import timedelta
from decimal import Decimal
from types import SimpleNamespace

import pytest
from sqlalchemy import event, select

from o2c.core import clock
from o2c.core.auth import SYSTEM, actor_for_user
from o2c.core.db import get_engine, read_session, transaction
from o2c.core.errors import Forbidden, ValidationFailed
from o2c.core.models import Company, User
from o2c.fraud import service
from o2c.fraud.models import FraudReview
from o2c.integrations.csv_capture import capture_batch
from o2c.orders import service as orders
from o2c.orders.models import Order
from o2c.orders.schemas import LinePatch, OrderIn, OrderLineIn
from tests.fraud import support


def _actor(s, world, name):
    return actor_for_user(s, s.get(User, world["ids"][name]))


def _order(code="BIGBUY", qty="3", channel="web", **kw) -> OrderIn:
    return OrderIn(customer_code=code, channel=channel, lines=[OrderLineIn(sku="WIDGET", quantity=Decimal(qty))], **kw)


def _reviews(order_id: int) -> list:
    with read_session() as s:
        rows = s.scalars(select(FraudReview).where(FraudReview.order_id == order_id).order_by(FraudReview.id))
        return [SimpleNamespace(**{c: getattr(r, c) for c in ("status", "score", "reasons", "label", "decision_reason")})
                for r in rows]


def test_a_bulk_import_counts_its_own_orders_towards_the_burst(world):
    history = support.build(world, days=30, frauds=0)
    clock.freeze(history.end + timedelta(hours=20))
    cid = world["ids"]["company"]
    done = transaction(lambda s: capture_batch(s, SYSTEM, cid, [_order("LOYAL") for _ in range(7)]))
    assert [o.status for o in done] == ["confirmed"] * 5 + ["held"] * 2
    for o in done[5:]:
        (review,) = _reviews(o.order_id)
        assert review.status == "pending" and review.score >= Decimal("0.7")
        assert review.reasons[0]["code"] == "velocity_burst"
        assert review.reasons[0]["message"].startswith(f"{5 + done.index(o) - 4} orders in the last hour")


def test_a_corrected_order_leaves_the_queue_and_a_recheck_opens_no_second_review(world):
    history = support.build(world, days=30, frauds=0)
    clock.freeze(history.end + timedelta(hours=20))
    cid = world["ids"]["company"]
    with_desk = lambda fn: transaction(lambda s: fn(s, _actor(s, world, "desk")))  # noqa: E731
    held = with_desk(lambda s, a: orders.capture(s, a, cid, _order(qty="100")).id)
    (review,) = _reviews(held)
    assert review.status == "pending"
    score = review.score

    # Checked again (say the customer's status changed): the same score, still one review.
    with_desk(lambda s, a: orders.recheck(s, a, cid, held, "customer changed"))
    (review,) = _reviews(held)
    assert (review.status, review.score) == ("pending", score)

    # The desk corrects the typo (4, not 100): the hold clears and the review closes without a label.
    order = with_desk(lambda s, a: orders.edit_line(s, a, cid, held, 1, LinePatch(quantity=Decimal(4))).status)
    assert order == "confirmed"
    (review,) = _reviews(held)
    assert (review.status, review.label) == ("cancelled", None)
    assert review.decision_reason.startswith("corrected")


def test_scoring_an_order_reads_a_few_rows_and_loads_the_model_once(world):
    history = support.build(world, days=60, frauds=0)
    cid = world["ids"]["company"]
    transaction(lambda s: service.train(s, _actor(s, world, "fraudcop"), cid, seed=1, n_estimators=50))
    service._MODELS.clear()
    clock.freeze(history.end + timedelta(hours=20))
    statements = []

    def count(conn, cursor, statement, *args):
        statements.append(statement)

    with read_session() as s:
        company = s.get(Company, cid)
        order = s.scalar(select(Order).where(Order.id == history.normal[-1]))
        service.assess(s, company, order)  # first: the model is unpickled, the billing address cached
        event.listen(get_engine(), "before_cursor_execute", count)
        try:
            a = service.assess(s, company, order)
        finally:
            event.remove(get_engine(), "before_cursor_execute", count)
    assert a.model_id is not None and a.model_score is not None
    assert len(statements) == 1, statements  # the customer's orders with their lines and the latest model's id
    assert not any("blob" in st for st in statements)


def test_training_needs_the_right_and_a_history(world):
    cid = world["ids"]["company"]
    with pytest.raises(Forbidden):
        transaction(lambda s: service.train(s, _actor(s, world, "desk"), cid))
    with pytest.raises(ValidationFailed) as e:
        transaction(lambda s: service.train(s, _actor(s, world, "fraudcop"), cid))
    assert e.value.errors[0].field == "orders"
    with pytest.raises(ValidationFailed) as e:
        transaction(lambda s: service.train(s, _actor(s, world, "fraudcop"), cid, contamination=0.9))
    assert e.value.errors[0].field == "contamination"


def test_training_is_deterministic_and_keeps_labelled_fraud_out(world):
    history = support.build(world, days=40, frauds=6)
    support.label(world, history.fraud, "fraud")
    cid = world["ids"]["company"]
    a = transaction(lambda s: service.model_view(service.train(s, _actor(s, world, "fraudcop"), cid, seed=3,
                                                               n_estimators=50)))
    b = transaction(lambda s: service.model_view(service.train(s, _actor(s, world, "fraudcop"), cid, seed=3,
                                                               n_estimators=50)))
    assert a["metrics"] == b["metrics"] and a["id"] != b["id"]
    m = a["metrics"]
    assert m["orders"] == len(history.normal) + len(history.fraud)
    held_out = m["held_out_orders"]
    assert a["trained_on"] == m["orders"] - held_out - (6 - m["labelled"]["model_and_rules"]["fraud"])


def test_a_new_customers_large_first_order_is_noted_not_held_alone(world):
    history = support.build(world, days=30, frauds=0)
    clock.freeze(history.end + timedelta(hours=20))
    cid = world["ids"]["company"]
    big = transaction(lambda s: orders.capture(s, _actor(s, world, "desk"), cid, _order("EURO", qty="100")))
    with read_session() as s:
        order = s.get(Order, big.id)
        a = service.assess(s, s.get(Company, cid), order)
        assert [h.code for h in a.hits] == ["new_customer_large_order", "channel"]
        assert a.score < 0.7 and order.status == "confirmed"
