"""The dashboard's figures from a known set of orders.

Saturday 28 November 2026 the desk captures order A (BIGBUY, 2 widgets: 21.25) and order F (EXEMPT, 4
widgets: 40.00, tax exempt). Monday 30 both ship, 48 hours after capture, and are invoiced (net 30: due
30 December). Both were promised for Tuesday 1 December: A arrives that day; F never does.
BIGBUY pays A on 10 December. On Tuesday 5 January 2027 the desk captures B (21.25), C (40.00), D (10.00,
held: its ship-to has no street) and E (cancelled).
"""
from __future__ import annotations

import re
from datetime import datetime, timedelta, timezone

from o2c.core import clock
from o2c.core.events import dispatch_pending
from tests.fulfillment.flow import ok, pack, pick_all, release, ship, shipment_of
from tests.shipping_world import equip
from tests.web.support import log_in

SATURDAY = datetime(2026, 11, 28, 15, 0, tzinfo=timezone.utc)  # 09:00 in Chicago
MONDAY = SATURDAY + timedelta(days=2)
TODAY = datetime(2027, 1, 5, 15, 0, tzinfo=timezone.utc)
NO_STREET = {"name": "Dock", "line1": "", "city": "Chicago", "region": "IL", "postal_code": "60601", "country": "US"}


def kpi(html: str, kid: str) -> str:
    m = re.search(rf'<div class="kpi" id="{kid}"><div class="v">(.*?)</div>\s*<div class="k">(.*?)</div>', html, re.S)
    assert m, kid
    return re.sub(r"\s+", " ", m.group(1) + " | " + m.group(2)).strip()


def order(api, customer: str, qty: str, **extra) -> dict:
    return ok(api.post("/orders", user="desk", json={"customer_code": customer, "channel": "web",
                                                     "lines": [{"sku": "WIDGET", "quantity": qty}], **extra}), 201)


def ship_all(api, orders: list[dict]) -> dict[int, dict]:
    pick_all(api, release(api, order_ids=[o["id"] for o in orders]))
    out = {}
    for o in orders:
        sh = shipment_of(api, o["id"])
        qty = int(o["lines"][0]["quantity"])
        pack(api, sh["id"], [("WIDGET", qty)], str(0.5 * qty + 0.2), box="S")
        out[o["id"]] = ship(api, sh["id"])
    return out


def known_orders(api, world) -> dict:
    clock.freeze(SATURDAY)
    equip(api)
    a, f = order(api, "BIGBUY", "2"), order(api, "EXEMPT", "4")
    assert (a["total"], f["total"]) == ("21.25", "40.00")
    clock.freeze(MONDAY)
    shipped = ship_all(api, [a, f])
    assert shipped[f["id"]]["promised_date"] == "2026-12-01"
    dispatch_pending()
    [inv_a] = ok(api.get("/invoices", user="biller", params={"order_id": a["id"]}))["items"]
    clock.freeze(MONDAY + timedelta(days=1))
    ok(api.post("/tracking-events", user="keeper", json={
        "tracking_number": shipped[a["id"]]["packages"][0]["tracking_number"], "kind": "delivered",
        "occurred_at": "2026-12-01T17:00:00+00:00", "event_id": "a-delivered"}), 201)
    clock.freeze(MONDAY + timedelta(days=10))
    ok(api.post("/payments", user="cashier", json={
        "customer_id": world["ids"]["BIGBUY"], "method": "bank_transfer", "currency": "USD", "amount": "21.25",
        "applications": [{"invoice_id": inv_a["id"], "amount": "21.25"}]}), 201)
    clock.freeze(TODAY)
    b, c, d, e = (order(api, "BIGBUY", "2"), order(api, "EXEMPT", "4"), order(api, "EXEMPT", "1", ship_to=NO_STREET),
                  order(api, "BIGBUY", "1"))
    assert d["status"] == "held" and d["total"] == "10.00"
    ok(api.post(f"/orders/{e['id']}/cancel", user="desk", json={"reason": "customer changed their mind"}))
    return {"a": a, "f": f, "shipped": shipped}


def test_the_dashboard_shows_the_figures_of_the_known_orders(app, api, world):
    known = known_orders(api, world)
    html = log_in(app, "admin").get("/app").text

    assert kpi(html, "kpi-orders-today") == "3 | orders captured today"  # B, C, D; E was cancelled
    assert kpi(html, "kpi-value-today") == "$71.25 | value of today's orders"  # 21.25 + 40.00 + 10.00
    assert kpi(html, "kpi-holds").startswith("1 |")
    assert '<span data-hold="validation">1</span>' in html and '<span data-hold="credit">0</span>' in html
    assert 'href="/app/orders?hold=validation"' in html
    assert kpi(html, "kpi-due-today").startswith("0 |") and kpi(html, "kpi-late").startswith("1 |")
    f_shipment = known["shipped"][known["f"]["id"]]["number"]
    late = re.search(r'<table class="stack" id="shipments-due">.*?</table>', html, re.S).group(0)
    assert f_shipment in late and '<td data-label="Days late" class="num">35</td>' in late  # promised 1 December

    # D needed a correction: 1 of the 6 orders.
    assert kpi(html, "kpi-entry-errors") == "16.7% | order entry error rate (1 of 6 orders needed a correction)"
    # A and F shipped 48 hours after they were captured.
    assert kpi(html, "kpi-process-time") == "48.0 h | median time from capture to first shipment (2 orders)"
    # A arrived on time; F is still on its way, so it counts in neither figure yet.
    assert kpi(html, "kpi-on-time") == "100.0% | on-time delivery (1 of 1 shipments delivered)"
    assert kpi(html, "kpi-perfect").startswith("100.0% | perfect orders (1 of 1 delivered")
    # F's 40.00 is 6 days overdue; A was paid. DSO: 40.00 / 61.25 of credit sales x 90 days.
    assert re.search(r'<p id="overdue-USD"><strong>\$40.00</strong> overdue in 1 item\(s\), of \$40.00 open</p>', html)
    assert kpi(html, "kpi-dso").startswith("58.8 days |")
    # Charts: holds by reason, orders per day (A and F on 28 November are outside the last 7 days), ageing.
    assert 'aria-label="Active holds by reason"' in html and 'aria-label="Orders captured, last 7 days"' in html
    assert ">Tue 05 Jan</text>" in html and ">1-30 days</text>" in html and ">40.00</text>" in html


def test_a_viewer_opens_the_dashboard_without_the_ledger_figures(app, api, world):
    clock.freeze(TODAY)
    order(api, "BIGBUY", "2")
    r = log_in(app, "viewer").get("/app")
    assert r.status_code == 200
    assert kpi(r.text, "kpi-orders-today") == "1 | orders captured today"
    assert "they need the ledger.read permission" in r.text
    assert kpi(r.text, "kpi-process-time") == "0.0 h | median time from capture to confirmation (nothing shipped yet) (1 orders)"
    assert log_in(app, "buyer").get("/app").status_code == 403  # the portal's users have their own pages
