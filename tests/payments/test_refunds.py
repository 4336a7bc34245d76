"""Refunds of returns that were not paid by card: BIGBUY pays its invoice by bank transfer, sends two
widgets back, and is owed what it paid for them: an approved refund (refunds payable) that the cashier
pays out by bank transfer, once. A return from an invoice not yet paid needs no refund: its credit note
only reduced what was owed."""
from __future__ import annotations

from datetime import timedelta
from decimal import Decimal as D

from o2c.core import clock
from o2c.core.events import dispatch_pending
from tests.fulfillment.flow import MONDAY, ok

from .card_world import books, deliver, invoices, ship_wave, timeline
from .test_story_card_order import _returned


def _order(api, widgets: str) -> int:
    return ok(api.post("/orders", user="desk", json={"customer_code": "BIGBUY", "channel": "web",
                                                     "lines": [{"sku": "WIDGET", "quantity": widgets}]}), 201)["id"]


def test_a_return_paid_by_bank_transfer_is_refunded_by_a_person_once(api, world):
    from tests.shipping_world import equip

    clock.freeze(MONDAY)
    equip(api)
    big = world["ids"]["BIGBUY"]
    oid = _order(api, "10")  # 10 widgets at 9.00 = 90.00 + 5.63 tax
    sh = ship_wave(api, oid)
    [inv] = invoices(api, oid)
    assert inv["gross_total"] == "95.63"
    ok(api.post("/payments", user="cashier", json={"customer_id": big, "method": "bank_transfer", "currency": "USD",
                                                   "amount": "95.63",
                                                   "applications": [{"invoice_id": inv["id"], "amount": "95.63"}]}), 201)
    deliver(api, sh, MONDAY + timedelta(days=2))
    clock.freeze(MONDAY + timedelta(days=5))

    # Two widgets come back: 18.00 + 1.13 tax, all of it paid, so all of it is owed back.
    ret = _returned(api, oid, line_no=1, quantity="2")
    dispatch_pending()
    [refund] = ok(api.get("/refunds", user="cashier", params={"return_id": ret["id"]}))["items"]
    assert (refund["method"], refund["status"], refund["amount"], refund["rma_number"]) == (
        "bank_transfer", "approved", "19.13", ret["rma_number"])
    assert books(api) == {"1000": D("95.63"), "2100": D("-4.50"), "2210": D("-19.13"), "4000": D("-72.00")}
    [approved] = timeline(api, oid, "refund_approved")
    assert approved["data"]["method"] == "bank_transfer" and approved["data"]["credit_notes"] == ["CN-2026-000001"]

    url = f"/refunds/{refund['id']}/pay"
    assert api.post(url, user="keeper", json={}).status_code == 403
    assert api.post(url, user="cashier", json={"method": "card"}).status_code == 422
    paid = ok(api.post(url, user="cashier", json={"reference": "transfer 2026-12-05"}))
    assert (paid["status"], paid["method"]) == ("paid", "bank_transfer") and paid["paid_entry_id"]
    assert api.post(url, user="cashier", json={}).status_code == 409  # paid once
    assert books(api) == {"1000": D("76.50"), "2100": D("-4.50"), "4000": D("-72.00")}
    assert ok(api.get(f"/refunds/{refund['id']}", user="admin")) == paid
    assert [e["data"]["reference"] for e in timeline(api, oid, "refund_paid")] == ["transfer 2026-12-05"]


def test_a_return_from_an_unpaid_invoice_needs_no_refund(api, world):
    from tests.shipping_world import equip

    clock.freeze(MONDAY)
    equip(api)
    oid = _order(api, "10")
    sh = ship_wave(api, oid)
    deliver(api, sh, MONDAY + timedelta(days=2))
    [inv] = invoices(api, oid)
    _returned(api, oid, line_no=1, quantity="2")
    dispatch_pending()
    assert ok(api.get("/refunds", user="admin"))["items"] == []
    [why] = timeline(api, oid, "no_refund_due")
    assert why["reason"].startswith("the credit notes reduced invoices not yet paid")
    account = ok(api.get(f"/customers/{world['ids']['BIGBUY']}/account", user="cashier"))
    assert [(i["number"], i["open_amount"]) for i in account["open_invoices"]] == [(inv["number"], "76.50")]
    assert books(api) == {"1100": D("76.50"), "2100": D("-4.50"), "4000": D("-72.00")}
