"""On PostgreSQL, two compliance officers decide at the same moment. Clearing the two hits of one
customer at once lifts its hold (each decision sees the other's hit settled, as the customer row is
locked first) and its order moves on; deciding the same hit twice at once lets one decision through
and refuses the other."""
from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import select

from o2c.compliance import service
from o2c.compliance.models import ScreeningHit
from o2c.core.auth import SYSTEM, actor_for_user, create_user
from o2c.core.db import read_session, transaction
from o2c.core.errors import Conflict
from o2c.core.models import User
from o2c.customers.models import Customer
from o2c.orders import service as orders
from o2c.orders.models import Order
from o2c.orders.schemas import OrderIn
from tests.concurrency.support import at_once, count_retries, wide_pool
from tests.world import make

pytestmark = pytest.mark.postgres_only

SUBSET = Path(__file__).resolve().parents[1] / "fixtures" / "sanctions" / "ofac-sdn-subset"


@pytest.fixture
def setup(pg, monkeypatch):
    wide_pool(monkeypatch)
    world = make()
    retried = count_retries(monkeypatch)

    def second_officer(s):
        return create_user(s, "compliance2", ["compliance_officer"], [world["ids"]["company"]]).id
    uid = transaction(second_officer)
    with read_session() as s:
        officers = [actor_for_user(s, s.get(User, i)) for i in (world["ids"]["compliance"], uid)]
    files = {p.name: p.read_bytes() for p in SUBSET.glob("*.csv")}
    transaction(lambda s: service.load_list(s, officers[0], files))
    return world, officers, retried


def _flag(world, code: str) -> tuple[list[int], int]:
    """Give the customer two listed names, screen it, and enter an order: (its hit ids, the order id)."""
    cid = world["ids"][code]

    def rename(s):
        c = s.get(Customer, cid)
        c.legal_name, c.trading_names = "TNK Trading International SA", ["Suex OTC"]
    transaction(rename)
    hits = transaction(lambda s: [h.id for h in service.screen_customer(s, SYSTEM, cid)])
    data = OrderIn(customer_code=code, channel="web", po_number=f"{code}-R", lines=[{"sku": "WIDGET", "quantity": 1}])
    order_id = transaction(lambda s: orders.capture(s, SYSTEM, world["ids"]["company"], data).id)
    return hits, order_id


@pytest.mark.parametrize("code", ["BIGBUY", "TIDY", "LOYAL"])
def test_two_hits_of_one_customer_cleared_at_once_lift_its_hold(setup, code):
    world, officers, retried = setup
    hits, order_id = _flag(world, code)
    assert len(hits) == 2
    with read_session() as s:
        assert s.get(Order, order_id).status == "held"
    _, errors = at_once([
        lambda h=h, o=o: transaction(lambda s: service.decide_hit(s, o, h, "false_positive", "another company"))
        for h, o in zip(hits, officers)])
    assert errors == []
    with read_session() as s:
        assert s.get(Customer, world["ids"][code]).compliance_hold is False
        assert s.get(Order, order_id).status == "confirmed"
    assert "40P01" not in retried  # customer row first, then the hit: no deadlock


def test_one_hit_decided_twice_at_once_is_decided_once(setup):
    world, officers, _ = setup
    hits, order_id = _flag(world, "EXEMPT")
    _, errors = at_once([
        lambda: transaction(lambda s: service.decide_hit(s, officers[0], hits[0], "true_match", "same company")),
        lambda: transaction(lambda s: service.decide_hit(s, officers[1], hits[0], "false_positive", "not them")),
    ])
    assert [type(e) for e in errors] == [Conflict]
    with read_session() as s:
        hit = s.get(ScreeningHit, hits[0])
        assert hit.status in ("true_match", "false_positive")
        c = s.get(Customer, world["ids"]["EXEMPT"])
        assert c.compliance_hold is True  # the other hit is still open
        assert c.status == ("blocked" if hit.status == "true_match" else "active")
        assert s.scalars(select(ScreeningHit.status).where(ScreeningHit.id == hits[1])).one() == "open"
