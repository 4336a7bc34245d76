"""Reference data cached per process is never stale: a change made by any process reaches the next
order, because every change bumps the company's master-data version in its own transaction."""
from decimal import Decimal as D

from sqlalchemy import create_engine

from o2c.catalog import service as catalog
from o2c.catalog.schemas import PriceListIn
from o2c.core.auth import SYSTEM
from o2c.core.db import transaction


def widget_price(api):
    r = api.post("/orders", json={"customer_code": "LOYAL", "channel": "web", "lines": [{"sku": "WIDGET", "quantity": "1"}]})
    assert r.status_code == 201, r.text
    return r.json()["lines"][0]["unit_price"]


def test_a_price_set_by_another_process_reaches_the_next_order(api, world, db):
    assert widget_price(api) == "10.0000"
    other = create_engine(db)  # another process: its own engine, its own (empty) cache
    transaction(lambda s: catalog.create_price_list(s, SYSTEM, world["ids"]["company"], PriceListIn(
        name="LOYAL contract", currency="USD", customer_id=world["ids"]["LOYAL"],
        items=[{"sku": "WIDGET", "min_qty": 1, "unit_price": D("7.77")}])), engine=other)
    other.dispose()
    assert widget_price(api) == "7.7700"


def test_a_deactivated_customer_or_product_stops_at_once(api, world):
    assert widget_price(api) == "10.0000"
    assert api.patch(f"/customers/{world['ids']['LOYAL']}", user="admin", json={"active": False}).status_code == 200
    r = api.post("/orders", json={"customer_code": "LOYAL", "channel": "web", "lines": [{"sku": "WIDGET", "quantity": "1"}]})
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "customer_code"
    api.patch(f"/products/{world['ids']['GADGET']}", user="admin", json={"active": False})
    r = api.post("/orders", json={"customer_code": "BIGBUY", "channel": "web", "lines": [{"sku": "GADGET", "quantity": "1"}]})
    assert r.json()["status"] == "held"
