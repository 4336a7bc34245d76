"""Idempotency-Key: a retry gets the first result, a reused key with another body is refused, nothing is
created twice, and a refused request does not use the key up."""
from __future__ import annotations

import json

from sqlalchemy import func, select

from o2c.core.db import read_session
from o2c.orders.models import Order
from tests.api import assert_problem, nums, order_body, snapshot, stock_figures, stock_of


def _orders() -> int:
    with read_session() as s:
        return s.scalar(select(func.count()).select_from(Order))


def _key(k: str) -> dict:
    return {"Idempotency-Key": k}


def test_a_retry_with_the_same_key_and_body_returns_the_first_order(api):
    body = order_body(po_number="PO-RETRY-1", lines=[{"sku": "WIDGET", "quantity": "3"}])
    first = api.post("/orders", json=body, headers=_key("retry-1"))
    assert first.status_code == 201, first.text
    assert "Idempotent-Replayed" not in first.headers
    assert first.json()["status"] == "confirmed"
    assert stock_figures(stock_of(api, "WIDGET", "CHI")) == nums(100, 3, 97)

    # The same body sent again, even serialised differently (other key order, spacing), is a retry.
    again = api.post("/orders", content=json.dumps(dict(reversed(list(body.items()))), indent=2),
                     headers=_key("retry-1") | {"Content-Type": "application/json"})
    assert again.status_code == 201, again.text
    assert again.headers.get("Idempotent-Replayed") == "true"
    assert again.json() == first.json()
    assert _orders() == 1
    assert stock_figures(stock_of(api, "WIDGET", "CHI")) == nums(100, 3, 97)  # not reserved twice

    # The retry returns the first result, even after the order moved on.
    assert api.post(f"/orders/{first.json()['id']}/cancel", json={"reason": "customer changed mind"}).status_code == 200
    late = api.post("/orders", json=body, headers=_key("retry-1"))
    assert late.status_code == 201
    assert late.headers.get("Idempotent-Replayed") == "true"
    assert late.json()["id"] == first.json()["id"] and late.json()["status"] == "confirmed"
    assert _orders() == 1

    # An order kept on hold is a result as well: its retry returns it and creates no second one.
    body = order_body(lines=[{"sku": "BOLT", "quantity": "5"}])  # not a multiple of 12: held
    held = api.post("/orders", json=body, headers=_key("held-1"))
    assert held.status_code == 201 and held.json()["status"] == "held"
    held_again = api.post("/orders", json=body, headers=_key("held-1"))
    assert held_again.headers.get("Idempotent-Replayed") == "true"
    assert held_again.json()["id"] == held.json()["id"]
    assert _orders() == 2


def test_a_reused_key_with_another_body_is_refused_and_keys_belong_to_their_user(api):
    first = api.post("/orders", json=order_body(po_number="PO-A"), headers=_key("reuse-1"))
    assert first.status_code == 201
    before = snapshot()
    for other in (
        order_body(po_number="PO-B"),  # another PO number
        order_body(po_number="PO-A", lines=[{"sku": "WIDGET", "quantity": "3"}]),  # another quantity
        order_body("LOYAL", po_number="PO-A"),  # another customer
    ):
        r = api.post("/orders", json=other, headers=_key("reuse-1"))
        body = assert_problem(r, 422, "Idempotency-Key")
        assert "Idempotency-Key" in body["detail"]
        assert "Idempotent-Replayed" not in r.headers
    assert snapshot() == before
    # The key belongs to the user, not to the endpoint: the same key on another endpoint is refused too.
    r = api.post("/orders", user="admin", json=order_body(), headers=_key("admin-1"))
    assert r.status_code == 201
    before = snapshot()
    r = api.post("/customers", user="admin", headers=_key("admin-1"), json={
        "code": "NEWCO", "legal_name": "New Co", "currency": "USD",
        "billing_address": {"name": "AP", "line1": "1 Main St", "city": "Chicago", "region": "IL",
                            "postal_code": "60601", "country": "US"}})
    assert_problem(r, 422, "Idempotency-Key")
    assert snapshot() == before

    # Two users, one key: each has their own.
    n = _orders()
    body = order_body(po_number="PO-SHARED-KEY")
    a = api.post("/orders", user="desk", json=body, headers=_key("shared"))
    b = api.post("/orders", user="desk2", json=order_body("LOYAL", po_number="PO-OTHER"), headers=_key("shared"))
    assert (a.status_code, b.status_code) == (201, 201), (a.text, b.text)
    assert "Idempotent-Replayed" not in b.headers
    assert a.json()["id"] != b.json()["id"]
    # each user's retry gets their own first result
    again_b = api.post("/orders", user="desk2", json=order_body("LOYAL", po_number="PO-OTHER"),
                       headers=_key("shared"))
    assert again_b.json()["id"] == b.json()["id"] and again_b.headers.get("Idempotent-Replayed") == "true"
    assert _orders() == n + 2

    # A request that failed does not use the key up.
    before = snapshot()
    # refused by the schema
    r = api.post("/orders", json=order_body(lines=[{"sku": "WIDGET", "quantity": "0"}]), headers=_key("fresh-1"))
    assert_problem(r, 422, "lines[0].quantity")
    # refused by the service (unknown SKU, wrong currency), inside the transaction that would store the key
    r = api.post("/orders", json=order_body(lines=[{"sku": "NOSUCH", "quantity": "1"}]), headers=_key("fresh-1"))
    assert_problem(r, 422, "lines[0].sku")
    r = api.post("/orders", json=order_body(currency="EUR"), headers=_key("fresh-1"))
    assert_problem(r, 422, "currency")
    # refused for lack of permission
    r = api.post("/orders", user="viewer", json=order_body(), headers=_key("fresh-1"))
    assert_problem(r, 403)
    assert snapshot() == before

    # the corrected request under the same key is a first request, not a mismatch or a replay
    ok = api.post("/orders", json=order_body(), headers=_key("fresh-1"))
    assert ok.status_code == 201, ok.text
    assert "Idempotent-Replayed" not in ok.headers
    assert ok.json()["status"] == "confirmed"
    assert _orders() == n + 3


def test_master_data_creates_honour_the_key(api):
    customer = {"code": "ACMEGO", "legal_name": "Acme Go LLC", "currency": "USD",
                "billing_address": {"name": "AP", "line1": "1 Main St", "city": "Chicago", "region": "IL",
                                    "postal_code": "60601", "country": "US"}}
    product = {"sku": "SPROCKET", "name": "Sprocket"}
    warehouse = {"code": "NYC", "address": {"name": "Dock", "line1": "1 Broadway", "city": "New York",
                                            "region": "NY", "postal_code": "10004", "country": "US"}}
    price_list = {"name": "Spring promo", "currency": "USD", "items": [{"sku": "WIDGET", "unit_price": "9.50"}]}
    tax_rate = {"country": "US", "region": "NY", "rate_pct": "4", "name": "NY state", "valid_from": "2020-01-01"}
    for path, body in (("/customers", customer), ("/products", product), ("/warehouses", warehouse),
                       ("/price-lists", price_list), ("/tax-rates", tax_rate)):
        first = api.post(path, user="admin", json=body, headers=_key(f"md-{path}"))
        assert first.status_code == 201, (path, first.text)
        before = snapshot()
        again = api.post(path, user="admin", json=body, headers=_key(f"md-{path}"))
        assert again.status_code == 201, (path, again.text)
        assert again.headers.get("Idempotent-Replayed") == "true", path
        assert again.json()["id"] == first.json()["id"], path
        assert snapshot() == before, path
        # without the key the second create is refused as a duplicate (or, for price lists, is a new list)
        plain = api.post(path, user="admin", json=body)
        if path == "/price-lists":
            assert plain.status_code == 201 and plain.json()["id"] != first.json()["id"]
        else:
            assert_problem(plain, 409)
