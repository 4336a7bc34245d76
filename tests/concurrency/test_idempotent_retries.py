"""On PostgreSQL, 20 concurrent retries of one order with the same Idempotency-Key create exactly one
order, and every retry gets that order back; mixed in with retries that carry another body under the
same key, those are refused and still nothing is created twice."""
from __future__ import annotations

import threading
from decimal import Decimal

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from o2c.core.db import read_session
from o2c.inventory.models import Reservation
from o2c.orders.models import Order
from o2c.web.app import create_app
from tests.world import make

RETRIES = 20


@pytest.fixture
def client(pg):
    world = make()
    with TestClient(create_app(), raise_server_exceptions=False) as c:
        yield c, world


def _fire(c, key: str, api_key: str, bodies: list[dict]) -> list:
    """Send one request per body, all at once, from separate threads; return the responses."""
    start = threading.Barrier(len(bodies))
    out: list = [None] * len(bodies)

    def send(i: int):
        start.wait()
        out[i] = c.post("/api/v1/orders", json=bodies[i],
                        headers={"Authorization": f"Bearer {api_key}", "Idempotency-Key": key})

    threads = [threading.Thread(target=send, args=(i,)) for i in range(len(bodies))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert all(r is not None for r in out), "a request did not finish"
    return out


def _orders_and_reserved() -> tuple[int, Decimal]:
    with read_session() as s:
        return (s.scalar(select(func.count()).select_from(Order)),
                s.scalar(select(func.coalesce(func.sum(Reservation.quantity), 0))))


def test_twenty_concurrent_retries_create_one_order(client):
    c, world = client
    body = {"customer_code": "BIGBUY", "channel": "edi", "po_number": "PO-RETRY-STORM",
            "lines": [{"sku": "WIDGET", "quantity": "3"}, {"sku": "GADGET", "quantity": "1"}]}
    responses = _fire(c, "storm-1", world["keys"]["desk"], [body] * RETRIES)

    assert [r.status_code for r in responses] == [201] * RETRIES, [r.text[:200] for r in responses if r.status_code != 201]
    ids = {r.json()["id"] for r in responses}
    assert len(ids) == 1, f"retries got different orders: {ids}"
    replayed = [r.headers.get("Idempotent-Replayed") for r in responses]
    assert replayed.count("true") == RETRIES - 1 and replayed.count(None) == 1
    assert {r.json()["status"] for r in responses} == {"confirmed"}
    assert _orders_and_reserved() == (1, Decimal(4))  # one order, its 3 + 1 units reserved once


def test_concurrent_requests_with_one_key_and_two_bodies_create_one_order(client):
    c, world = client
    body = {"customer_code": "LOYAL", "channel": "web", "lines": [{"sku": "WIDGET", "quantity": "2"}]}
    other = body | {"lines": [{"sku": "WIDGET", "quantity": "5"}]}
    bodies = [body if i % 2 else other for i in range(RETRIES)]
    responses = _fire(c, "storm-2", world["keys"]["desk"], bodies)

    created = [r for r in responses if r.status_code == 201]
    refused = [r for r in responses if r.status_code == 422]
    assert len(created) + len(refused) == RETRIES, [r.text[:200] for r in responses]
    assert len({r.json()["id"] for r in created}) == 1
    winner = created[0].json()
    same_as_winner = [b for b in bodies if b["lines"][0]["quantity"] == winner["lines"][0]["quantity"]]
    assert len(created) == len(same_as_winner) == RETRIES // 2  # every request like the winner got it back
    for r in refused:
        assert r.headers["content-type"].startswith("application/problem+json")
        assert "Idempotency-Key" in [e["field"] for e in r.json()["errors"]]
    orders, reserved = _orders_and_reserved()
    assert orders == 1 and reserved == Decimal(winner["lines"][0]["quantity"])
