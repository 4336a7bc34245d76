"""On PostgreSQL, card payments under concurrency: four requests authorising the same order at once make
one authorisation and one Stripe Customer at the gateway (the order's lock lets one start the attempt;
the others send the same key and get its answer), and three workers capturing the same shipment at once
take the money once and record one payment."""
from __future__ import annotations

import threading
from decimal import Decimal as D

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from o2c.core import clock
from o2c.core.auth import SYSTEM
from o2c.core.db import read_session
from o2c.core.settings import get_settings
from o2c.payments import cards
from o2c.payments.models import CardCapture, Payment
from o2c.web.app import create_app
from tests.billing.test_story_invoicing import pick
from tests.concurrency.support import count_retries
from tests.conftest import Api
from tests.fulfillment.flow import MONDAY, ok, pack, release, ship
from tests.payments.card_world import TIMEOUT, consumer, order
from tests.payments.fake_stripe import API_KEY, FakeStripe
from tests.world import make

pytestmark = pytest.mark.postgres_only


@pytest.fixture
def shop(pg, monkeypatch):
    """Jane's order of 2 widgets (21.25), the fake Stripe and the settings pointing at it."""
    with FakeStripe(hold_seconds=3 * TIMEOUT) as fake:
        monkeypatch.setenv("O2C_STRIPE_SECRET_KEY", API_KEY)
        monkeypatch.setenv("O2C_STRIPE_BASE_URL", fake.base_url)
        monkeypatch.setenv("O2C_STRIPE_TIMEOUT_SECONDS", str(TIMEOUT))
        get_settings.cache_clear()
        clock.freeze(MONDAY)
        world = make()
        with TestClient(create_app(), raise_server_exceptions=False) as client:
            api = Api(client, world["keys"])
            consumer(api, world)
            placed = order(api, [("WIDGET", "2")])
            yield api, world, placed, fake, count_retries(monkeypatch)
        clock.freeze(None)
        get_settings.cache_clear()


def _at_once(n: int, fn) -> tuple[list, list[BaseException]]:
    results, errors = [], []
    start = threading.Barrier(n)

    def run():
        start.wait()
        try:
            results.append(fn())
        except BaseException as exc:  # reported by the test
            errors.append(exc)

    threads = [threading.Thread(target=run) for _ in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    return results, errors


def test_four_requests_authorising_one_order_at_once_make_one_authorisation(shop):
    api, world, placed, fake, retried = shop
    company = world["ids"]["company"]
    results, errors = _at_once(4, lambda: cards.authorise(SYSTEM, company, placed["id"], "pm_card_visa"))
    assert errors == []
    assert {(cp.id, cp.status) for cp in results} == {(results[0].id, "authorised")}
    assert len(fake.intents) == 1
    keys = {r.headers["idempotency-key"] for r in fake.requests if r.path == "/v1/payment_intents"}
    assert len(keys) == 1
    assert len(fake.customers) == 1  # the card is kept for one Stripe Customer, made under the attempt's key
    assert "40P01" not in retried


def test_three_workers_capturing_one_shipment_at_once_take_the_money_once(shop):
    api, world, placed, fake, retried = shop
    company = world["ids"]["company"]
    held = cards.authorise(SYSTEM, company, placed["id"], "pm_card_visa")
    pick(api, release(api, order_ids=[placed["id"]]), {})
    [sh] = ok(api.get("/shipments", user="keeper", params={"order_id": placed["id"]}))["items"]
    pack(api, sh["id"], [("WIDGET", 2)], "1.4", box="M")
    ship(api, sh["id"])  # no dispatcher: the workers below race for the capture (and make the invoice)

    results, errors = _at_once(3, lambda: cards.capture_shipment(SYSTEM, company, sh["id"]))
    assert errors == []
    assert {c.id for c in results if c is not None} == {results[0].id}
    assert fake.intents[held.gateway_ref].amount_received == 2125
    with read_session() as s:
        captures = s.execute(select(CardCapture.status, CardCapture.amount, CardCapture.payment_id)).all()
        payments = s.execute(select(Payment.amount, Payment.source_ref)).all()
    assert [(st, amount) for st, amount, _ in captures] == [("captured", D("21.25"))]
    assert payments == [(D("21.25"), f"capture-{results[0].id}")]
    assert "40P01" not in retried
