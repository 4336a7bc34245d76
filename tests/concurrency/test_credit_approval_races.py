"""On PostgreSQL, two credit managers giving the last approval of one credit hold at the same moment: the
second waits for the first's lock on the order, then finds the request approved already (409). The order
is released once: one credit_hold_released on its timeline, two approvals recorded, never three."""
from __future__ import annotations

import threading

import pytest
from sqlalchemy import func, select

from o2c.core.db import read_session, transaction
from o2c.core.errors import Conflict
from o2c.core.models import AuditRecord
from o2c.credit import approvals
from o2c.credit.models import ApprovalDecision
from tests.concurrency.support import count_retries, wide_pool
from tests.concurrency.test_fulfilment_races import finished, held_open, meanwhile
from tests.credit.support import credit_hold, order, request_of, set_limit
from tests.fulfillment.flow import ok
from tests.payments.support import actor

pytestmark = pytest.mark.postgres_only

TWO_APPROVERS = [{"position": 10, "min_amount": "0", "role": "credit_manager", "approvals": 2,
                  "description": "every hold: two approvers, one a manager"}]


@pytest.fixture
def waiting(pg, monkeypatch):
    """A BIGBUY order of 95.63 beyond its 50.00 limit, approved once by the analyst: one approval to go."""
    wide_pool(monkeypatch)
    from fastapi.testclient import TestClient

    from o2c.web.app import create_app
    from tests.conftest import Api
    from tests.world import make

    world = make()
    with TestClient(create_app(), raise_server_exceptions=False) as client:
        api = Api(client, world["keys"])
        set_limit(api, world["ids"]["BIGBUY"], credit_limit="50")
        ok(api.put("/approvals/routes", user="admin", json={"routes": TWO_APPROVERS}))
        held = order(api, "BIGBUY", [("WIDGET", 10)])
        assert held["status"] == "held"
        req = request_of(api, held["id"])
        ok(api.post(f"/approvals/{req['id']}/approve", user="analyst", json={"reason": "first look"}))
        yield api, world, held, req, count_retries(monkeypatch)


def released_count(order_id: int) -> int:
    with read_session() as s:
        return s.scalar(select(func.count()).select_from(AuditRecord).where(
            AuditRecord.entity == "order", AuditRecord.entity_id == order_id,
            AuditRecord.action == "credit_hold_released"))


def decisions(request_id: int) -> int:
    with read_session() as s:
        return s.scalar(select(func.count()).select_from(ApprovalDecision).where(ApprovalDecision.request_id == request_id))


def test_the_second_of_two_last_approvals_waits_then_is_refused(waiting):
    api, world, held, req, retried = waiting
    manager = actor(world, "manager")
    cid = world["ids"]["company"]
    with held_open(lambda s: approvals.approve(s, manager, cid, req["id"], "within budget")):
        thread, answer = meanwhile(lambda: api.post(f"/approvals/{req['id']}/approve", user="manager2",
                                                    json={"reason": "fine by me"}))
    r = finished(thread, answer)
    assert r.status_code == 409 and "approved already" in r.json()["detail"], r.text
    assert released_count(held["id"]) == 1 and decisions(req["id"]) == 2
    o = ok(api.get(f"/orders/{held['id']}"))
    assert o["status"] == "confirmed" and credit_hold(o) is None
    assert "40P01" not in retried


def test_two_managers_at_once_release_the_order_once(waiting):
    api, world, held, req, retried = waiting
    cid = world["ids"]["company"]
    start = threading.Barrier(2)
    outcomes: list[str] = []

    def decide(name: str) -> None:
        who = actor(world, name)
        start.wait()
        try:
            transaction(lambda s: approvals.approve(s, who, cid, req["id"], f"{name} agrees"))
            outcomes.append("approved")
        except Conflict:
            outcomes.append("conflict")

    threads = [threading.Thread(target=decide, args=(n,)) for n in ("manager", "manager2")]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert sorted(outcomes) == ["approved", "conflict"]
    assert released_count(held["id"]) == 1 and decisions(req["id"]) == 2
    assert ok(api.get(f"/approvals/{req['id']}", user="manager"))["status"] == "approved"
    assert "40P01" not in retried
