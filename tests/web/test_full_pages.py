"""A list page that is full links to the older rows (the page size made 1 so two rows fill it): the link is
built while the rows are still readable, not after the read session's rollback expired them."""
from __future__ import annotations

import re

from o2c.core import clock
from o2c.web.ui import billing as billing_pages, portal_shop
from tests.fulfillment.flow import MONDAY, place
from tests.payments.support import invoiced
from tests.shipping_world import equip
from tests.web.support import log_in

OLDER = re.compile(r'<a href="([^"]+)">Older')


def test_a_full_page_of_invoices_links_to_the_older_ones(app, api, monkeypatch):
    clock.freeze(MONDAY)
    try:
        equip(api)
        first, second = invoiced(api), invoiced(api)
        monkeypatch.setattr(billing_pages, "PAGE_SIZE", 1)
        b = log_in(app, "biller")
        newest = b.get("/app/billing/invoices")
        assert newest.status_code == 200 and second["number"] in newest.text and first["number"] not in newest.text
        older = b.get(OLDER.search(newest.text).group(1).replace("&amp;", "&"))
        assert older.status_code == 200 and first["number"] in older.text
    finally:
        clock.freeze(None)


def test_a_full_page_of_portal_orders_links_to_the_older_ones(app, api, monkeypatch):
    first, second = place(api, "BIGBUY", [("WIDGET", "1")]), place(api, "BIGBUY", [("WIDGET", "2")])
    monkeypatch.setattr(portal_shop, "PAGE", 1)
    b = log_in(app, "buyer")
    newest = b.get("/portal/orders")
    assert newest.status_code == 200 and second["number"] in newest.text and first["number"] not in newest.text
    older = b.get(OLDER.search(newest.text).group(1))
    assert older.status_code == 200 and first["number"] in older.text


def test_a_full_page_of_portal_invoices_and_returns_links_to_the_older_ones(app, api, monkeypatch):
    from o2c.web.ui import portal_account
    from tests.fulfillment.flow import ok
    from tests.web.test_portal_account import delivered_order

    clock.freeze(MONDAY)
    try:
        equip(api)
        orders = [delivered_order(api), delivered_order(api)]
        rmas = [ok(api.post("/returns", user="buyer", json={"order_id": o["id"], "outcome": "refund", "lines": [
            {"line_no": 1, "quantity": "1", "reason": "defective"}]}), 201)["rma_number"] for o in orders]
        invoices = [ok(api.get("/invoices", user="admin", params={"order_id": o["id"]}))["items"][0]["number"]
                    for o in orders]
        monkeypatch.setattr(portal_account, "PAGE", 1)
        b = log_in(app, "buyer")
        for path, (first, second) in (("/portal/invoices", invoices), ("/portal/returns", rmas)):
            newest = b.get(path)
            assert newest.status_code == 200 and second in newest.text and first not in newest.text, path
            older = b.get(OLDER.search(newest.text).group(1))
            assert older.status_code == 200 and first in older.text, path
    finally:
        clock.freeze(None)
