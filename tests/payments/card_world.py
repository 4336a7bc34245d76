"""What the card stories share: a local Stripe (tests/payments/fake_stripe.py) the application is pointed
at through its settings, a consumer with a portal login, an order of hers shipped in steps, and the
books checked after each step."""
from __future__ import annotations

from datetime import timedelta
from decimal import Decimal as D

import pytest

from o2c.core.auth import create_user, issue_api_key
from o2c.core.db import transaction
from o2c.core.events import dispatch_pending
from o2c.core.settings import get_settings
from tests.billing.test_story_invoicing import pick
from tests.books import assert_books_agree
from tests.fulfillment.flow import MONDAY, ok, pack, release, ship
from tests.returns.delivery import WEIGHTS
from tests.shipping_world import equip
from tests.world import CHICAGO

from .fake_stripe import API_KEY, FakeStripe

TIMEOUT = 2.0  # seconds the application waits for the gateway in these tests


@pytest.fixture
def stripe(db, monkeypatch):
    """The fake Stripe, running, and the application's gateway settings pointing at it."""
    with FakeStripe(hold_seconds=3 * TIMEOUT) as fake:
        monkeypatch.setenv("O2C_STRIPE_SECRET_KEY", API_KEY)
        monkeypatch.setenv("O2C_STRIPE_BASE_URL", fake.base_url)
        monkeypatch.setenv("O2C_STRIPE_TIMEOUT_SECONDS", str(TIMEOUT))
        get_settings.cache_clear()
        yield fake
        get_settings.cache_clear()


def consumer(api, world) -> int:
    """A warehouse with carriers and boxes; JANE, a consumer in Chicago who pays by card, and `jane`, her
    portal login. Returns her id."""
    equip(api)
    jane = ok(api.post("/customers", user="admin", json={
        "code": "JANE", "legal_name": "Jane Doe", "email": "jane@example.com", "currency": "USD",
        "payment_terms_days": 0, "billing_address": CHICAGO, "shipping_addresses": [CHICAGO]}), 201)

    def login(session):
        user = create_user(session, "jane", ["customer"], [world["ids"]["company"]], customer_id=jane["id"])
        return issue_api_key(session, user)

    api.keys["jane"] = transaction(login)
    return jane["id"]


def order(api, lines: list[tuple[str, str]], user: str = "jane") -> dict:
    placed = ok(api.post("/orders", user=user, json={"customer_code": "JANE", "channel": "web",
                                                     "lines": [{"sku": s, "quantity": q} for s, q in lines]}), 201)
    assert placed["status"] == "confirmed", placed
    return placed


def pay(api, order_id: int, token: str, user: str = "jane", **kw):
    return api.post(f"/orders/{order_id}/card-payments", user=user, json={"payment_method_token": token}, **kw)


def attempts(api, order_id: int, user: str = "admin") -> list[dict]:
    return ok(api.get(f"/orders/{order_id}/card-payments", user=user))


def timeline(api, order_id: int, *actions: str) -> list[dict]:
    return [e for e in ok(api.get(f"/orders/{order_id}/timeline", user="admin")) if e["action"] in actions]


def ship_wave(api, order_id: int, short: dict[str, str] | None = None) -> dict:
    """A wave of the order, picked (short where `short` says), packed in one parcel at its expected
    weight and shipped; the events delivered. Returns the shipment."""
    wave = release(api, order_ids=[order_id])
    pick(api, wave, short or {})
    sh = next(s for s in ok(api.get("/shipments", user="keeper", params={"order_id": order_id}))["items"]
              if s["status"] == "picked")
    scans = [(li["sku"], li["picked_qty"]) for li in sh["lines"] if D(li["picked_qty"])]
    pack(api, sh["id"], scans, str(sum((WEIGHTS[sku] * D(q) for sku, q in scans), D("0.4"))), box="M")  # + its tare
    shipped = ship(api, sh["id"])
    dispatch_pending()
    return shipped


def deliver(api, shipment: dict, at) -> None:
    """The carrier's delivered scan of the shipment's parcel."""
    ok(api.post("/tracking-events", user="keeper", json={
        "tracking_number": shipment["packages"][0]["tracking_number"], "kind": "delivered",
        "occurred_at": at.isoformat(), "location": "front door"}), 201)


def invoices(api, order_id: int) -> list[dict]:
    return list(reversed(ok(api.get("/invoices", user="admin", params={"order_id": order_id}))["items"]))


def books(api) -> dict[str, D]:
    """The stock books agree, the trial balance balances, the receivables subledger equals its control
    accounts; the balance per account code."""
    assert_books_agree()
    balances = ok(api.get("/ledger/trial-balance", user="admin"))
    if not balances:
        return {}  # nothing posted yet
    [tb] = balances
    assert tb["balanced"] is True
    ar = tb["receivables"]
    assert D(ar["control"]) == D(ar["subledger"]) and ar["agrees"] is True
    return {a["code"]: D(a["balance"]) for a in tb["accounts"] if D(a["balance"])}  # accounts with a balance


def gateway_posts(fake: FakeStripe, suffix: str = "") -> list:
    return [r for r in fake.requests if r.method == "POST" and r.path.endswith(suffix)]


LATER = MONDAY + timedelta(days=2)
