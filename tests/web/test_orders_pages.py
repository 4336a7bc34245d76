"""The order pages: a search that narrows, and one order's whole life on one timeline with what it
waits for and who must act."""
from __future__ import annotations

import re
from datetime import timedelta

from o2c.core import clock
from o2c.core.events import dispatch_pending
from tests.credit.support import request_of, set_limit
from tests.fulfillment.flow import MONDAY, ok, pack, pick_all, release, ship, shipment_of
from tests.shipping_world import equip
from tests.web.support import log_in

ROW = re.compile(r'<tr data-order="(\d+)">')
STAGE = re.compile(r'<span class="stage">([^<]+)</span>\s*<span class="what">([^<]*)</span>')


def listed(b, query: str = "") -> list[int]:
    r = b.get("/app/orders" + query)
    assert r.status_code == 200, r.text[:400]
    return [int(i) for i in ROW.findall(r.text)]


def order(api, customer: str, lines, **extra) -> dict:
    return ok(api.post("/orders", user="desk", json={"customer_code": customer, "channel": extra.pop("channel", "web"),
                                                     "lines": [{"sku": s, "quantity": q} for s, q in lines], **extra}),
              201)


def held_for_credit(api, world) -> dict:
    """BIGBUY's limit is 500.00; 60 widgets at 9.00 with tax come to 573.75: the order waits for credit."""
    set_limit(api, world["ids"]["BIGBUY"], credit_limit="500")
    o = order(api, "BIGBUY", [("WIDGET", "60")], po_number="PO-CREDIT-1")
    assert o["status"] == "held" and [h["kind"] for h in o["holds"] if h["active"]] == ["credit"]
    return o


def test_filters_narrow_the_list_and_a_bad_filter_is_named_beside_its_field(app, api, world):
    clock.freeze(MONDAY)
    a = order(api, "BIGBUY", [("WIDGET", "2")], po_number="PO-ALPHA")
    t = order(api, "TIDY", [("WIDGET", "1")], channel="phone")
    clock.freeze(MONDAY + timedelta(days=2))
    e = order(api, "EXEMPT", [("WIDGET", "3")], po_number="PO-BETA")
    held = order(api, "LOYAL", [("WIDGET", "1")], ship_to={"name": "x", "line1": "", "city": "Chicago",
                                                          "country": "US"})
    b = log_in(app, "viewer")  # a viewer reads every order
    everything = listed(b)
    assert everything == [held["id"], e["id"], t["id"], a["id"]]  # newest first
    assert listed(b, "?q=po-alpha") == [a["id"]]
    assert listed(b, "?q=tidy") == [t["id"]]  # a customer's code
    assert listed(b, "?q=EXEMPT+Inc") == [e["id"]]  # its name
    assert listed(b, f"?q=SO{e['id']:08d}") == [e["id"]]
    assert listed(b, "?channel=phone") == [t["id"]]
    assert listed(b, "?customer=BIGBUY") == [a["id"]]
    assert listed(b, "?status=held") == [held["id"]]
    assert listed(b, "?hold=validation") == [held["id"]]
    assert listed(b, "?from=2026-12-01") == [held["id"], e["id"]]
    assert listed(b, "?to=2026-11-30") == [t["id"], a["id"]]
    # Paging: two at a time, the cursor carries the filters on.
    first = b.get("/app/orders?limit=2")
    assert [int(i) for i in ROW.findall(first.text)] == [held["id"], e["id"]]
    nxt = re.search(r'<a href="([^"]+)">Older', first.text).group(1).replace("&amp;", "&")
    assert listed(b, nxt[len("/app/orders"):]) == [t["id"], a["id"]]

    r = b.get("/app/orders?customer=NOBODY&from=yesterday")
    assert r.status_code == 422
    assert "no customer with code &#39;NOBODY&#39;" in r.text and "enter a date as YYYY-MM-DD" in r.text
    assert 'value="NOBODY"' in r.text  # what was typed stays
    assert 'class="stack"' in b.get("/app/orders").text and 'data-label="Waits for"' in b.get("/app/orders").text


def test_a_held_order_says_who_must_act(app, api, world):
    clock.freeze(MONDAY)
    equip(api)
    o = held_for_credit(api, world)
    b = log_in(app, "desk")
    page = b.get(f"/app/orders/{o['id']}")
    assert page.status_code == 200
    waits = re.search(r'<section class="waits".*?</section>', page.text, re.S).group(0)
    assert "Credit hold: waiting for a credit analyst (grade unscored (routed as C), 573.75 USD)" in waits
    assert '<strong class="role">credit_analyst</strong>' in waits
    assert "credit hold" in b.get("/app/orders?hold=credit").text  # the list says it in a few words

    bad = order(api, "EXEMPT", [("WIDGET", "1")], ship_to={"name": "Dock", "line1": "", "city": "Chicago",
                                                          "country": "US"})
    waits = re.search(r'<section class="waits".*?</section>', b.get(f"/app/orders/{bad['id']}").text, re.S).group(0)
    assert "Validation hold: waiting for the order desk to correct ship_to.line1" in waits
    assert '<strong class="role">order_desk</strong>' in waits
    ok(api.post(f"/orders/{bad['id']}/cancel", user="desk", json={"reason": "entered twice"}))
    cancelled = b.get(f"/app/orders/{bad['id']}").text
    assert "Nothing: the order was cancelled." in cancelled and "Cancelled: entered twice" in cancelled


def test_the_timeline_runs_from_capture_through_credit_shipping_and_invoice_to_payment(app, api, world):
    clock.freeze(MONDAY)
    equip(api)
    o = held_for_credit(api, world)
    clock.freeze(MONDAY + timedelta(hours=1))
    ok(api.post(f"/approvals/{request_of(api, o['id'])['id']}/approve", user="analyst", json={"reason": "known buyer"}))
    clock.freeze(MONDAY + timedelta(hours=2))
    pick_all(api, release(api, order_ids=[o["id"]]))
    sh = shipment_of(api, o["id"])
    pack(api, sh["id"], [("WIDGET", 60)], "30.4", box="L")
    shipped = ship(api, sh["id"])
    dispatch_pending()  # billing invoices the shipment
    [inv] = ok(api.get("/invoices", user="biller", params={"order_id": o["id"]}))["items"]

    b = log_in(app, "viewer")
    mid = b.get(f"/app/orders/{o['id']}").text
    assert f"Payment: the customer, invoice {inv['number']} (573.75 USD open) due 2026-12-30" in mid
    assert f"Delivery: {sh['number']} is with PARCELCO" in mid
    assert f'href="/app/billing/invoices/{inv["id"]}.pdf"' in mid and shipped["tracking_url"] in mid

    clock.freeze(MONDAY + timedelta(days=1))
    ok(api.post("/tracking-events", user="keeper", json={
        "tracking_number": shipped["packages"][0]["tracking_number"], "kind": "delivered",
        "occurred_at": "2026-12-01T17:00:00+00:00", "location": "Chicago IL", "event_id": "ev-1"}), 201)
    clock.freeze(MONDAY + timedelta(days=3))
    ok(api.post("/payments", user="cashier", json={
        "customer_id": world["ids"]["BIGBUY"], "method": "bank_transfer", "currency": "USD", "amount": "573.75",
        "applications": [{"invoice_id": inv["id"], "amount": "573.75"}]}), 201)

    page = b.get(f"/app/orders/{o['id']}").text
    entries = STAGE.findall(page)
    stages = [s for s, _ in entries]
    firsts = sorted({s: stages.index(s) for s in stages}.items(), key=lambda kv: kv[1])
    assert [s for s, _ in firsts] == ["Capture", "Credit", "Holds", "Allocation", "Picking", "Packing", "Shipment",
                                      "Invoice", "Tracking", "Payments"]
    texts = [t for _, t in entries]
    assert texts[0] == "Captured, on hold: credit"
    assert "Credit hold released: known buyer" in texts
    assert f"{sh['number']} delivered at Chicago IL" in texts
    assert f"{inv['number']} paid by PAY-2026-000001: 573.75 USD" in texts
    assert "Nothing: every step is done." in page
    assert re.search(r'<td data-label="Invoiced" class="num">60</td>', page)


def test_the_pages_are_for_staff(app, api, world):
    o = order(api, "BIGBUY", [("WIDGET", "1")])
    buyer = log_in(app, "buyer")
    assert buyer.get("/app/orders").status_code == 403
    assert buyer.get(f"/app/orders/{o['id']}").status_code == 403
    assert log_in(app, "viewer").get("/app/orders/999999").status_code == 404
