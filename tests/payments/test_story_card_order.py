"""A card order, as a story. Jane, a consumer, orders 4 widgets and 2 gadgets in the web shop and pays by
card. Her first card is declined: the order waits, and no wave takes it. Her second card holds the
order's total. The warehouse finds only 3 widgets: the first parcel's invoice is paid from the card at
shipment (its share of the hold; the rest is released), and the last widget ships two days later on a
new authorisation of the same card, kept at order for the order's later shipments and charged without
her (off session), captured at once. She sends a gadget back: its refund goes back on
the card. The books balance after every step, and the gateway saw each operation exactly once.

Then what goes wrong: a card number typed in the token field, a gateway that times out (the retry
charges once), a cancelled order (the hold is released), a card refused at the second shipment (the
invoice stays open), and events delivered twice (nothing captured twice).
"""
from __future__ import annotations

from datetime import timedelta
from decimal import Decimal as D

from o2c.core import clock
from o2c.core.events import dispatch_pending
from tests.billing.test_story_invoicing import redeliver
from tests.fulfillment.flow import MONDAY, changed, everything, ok

from .card_world import (  # noqa: F401 (stripe is a fixture)
    LATER, attempts, books, consumer, deliver, gateway_posts, invoices, order, pay, ship_wave, stripe, timeline,
)

CARD = "4242 4242 4242 4242"  # a card number, typed where the token goes: refused, never stored


def test_a_card_order_is_held_at_order_captured_at_each_shipment_and_refunded_on_return(api, world, stripe):
    clock.freeze(MONDAY)
    consumer(api, world)

    # 1. Jane orders 4 widgets at 10.00 and 2 gadgets at 25.00; Illinois tax 6.25 %.
    placed = order(api, [("WIDGET", "4"), ("GADGET", "2")])
    oid = placed["id"]
    assert (placed["subtotal"], placed["tax_total"], placed["total"]) == ("90.00", "5.63", "95.63")

    # 2. Card data instead of a token is refused before anything is stored or sent.
    before = everything()
    r = pay(api, oid, CARD)
    assert r.status_code == 422, r.text
    assert [(e["field"], e["code"]) for e in r.json()["errors"]] == [("payment_method_token", "card_data_refused")]
    assert "4242" not in r.text
    r = api.post(f"/orders/{oid}/card-payments", user="jane", json={"payment_method_token": "pm_card_visa", "cvc": "123"})
    assert r.status_code == 422 and [e["field"] for e in r.json()["errors"]] == ["cvc"] and "123" not in r.text
    assert changed(before, everything()) == [] and stripe.requests == []

    # 3. Her first card is declined: 402, the attempt is kept, and the order waits for the card.
    r = pay(api, oid, "pm_card_chargeDeclinedInsufficientFunds")
    assert r.status_code == 402, r.text
    assert (r.json()["decline_code"], r.json()["status"]) == ("insufficient_funds", "declined")
    r = api.post("/waves", user="keeper", json={"order_ids": [oid]})
    assert r.status_code == 409 and r.json()["waiting_for_card"] == [oid], r.text
    [waiting] = timeline(api, oid, "card_declined")
    assert waiting["reason"].startswith("waiting for card authorisation: the card was declined (insufficient_funds)")
    books(api)

    # 4. Another card holds the order's total; the order may go to the warehouse.
    authorised = ok(pay(api, oid, "pm_card_visa"), 201)
    assert (authorised["status"], authorised["amount"], authorised["currency"]) == ("authorised", "95.63", "USD")
    assert authorised["expires_at"].startswith("2026-12-07")  # 7 days
    assert [a["status"] for a in attempts(api, oid, user="jane")] == ["declined", "authorised"]
    assert ok(pay(api, oid, "pm_card_visa"), 201) == authorised  # asking again: the same hold, nothing sent
    # The card is kept for later shipments, for a Stripe Customer made at her first attempt that names
    # only our customer; her second card is kept for the same one. A declined card is not kept.
    new_customer, declined, held = gateway_posts(stripe)
    assert new_customer.path == "/v1/customers"
    assert new_customer.form == {"metadata[o2c_customer]": str(placed["customer_id"])}
    [kept_for] = stripe.customers
    assert [(p.form["customer"], p.form["setup_future_usage"]) for p in (declined, held)] == [
        (kept_for, "off_session")] * 2
    # Stripe keeps the card as a payment method of its own (a test token always becomes a new one).
    [kept_card] = stripe.customers[kept_for].payment_methods
    assert "off_session" not in held.form and kept_card.startswith("pm_") and kept_card != "pm_card_visa"
    assert [a["gateway_customer_ref"] for a in attempts(api, oid)] == [kept_for, kept_for]
    assert books(api) == {}  # a hold is not money: nothing in the books yet

    # 5. The first parcel: 3 widgets (one is not in the bin) and 2 gadgets. Its invoice (30.00 + 1.88
    #    tax, 50.00 + 3.13) is paid from the hold at once; the rest of the hold is released.
    sh1 = ship_wave(api, oid, short={"WIDGET": "3"})
    [inv1] = invoices(api, oid)
    assert inv1["gross_total"] == "85.01"
    [capture] = gateway_posts(stripe, "/capture")
    assert capture.path == f"/v1/payment_intents/{authorised['gateway_ref']}/capture"
    assert capture.form == {"amount_to_capture": "8501"}
    assert stripe.intents[authorised["gateway_ref"]].status == "succeeded"
    held = {a["id"]: a for a in attempts(api, oid)}[authorised["id"]]
    assert (held["status"], held["captured_amount"]) == ("captured", "85.01")
    [paid1] = timeline(api, oid, "card_captured")
    assert (paid1["data"]["invoice"], paid1["data"]["amount"], paid1["data"]["shipment"]) == (
        "INV-2026-000001", "85.01", sh1["number"])
    payment = ok(api.get("/payments", user="cashier", params={"customer_id": placed["customer_id"]}))["items"]
    assert [(p["method"], p["amount"], p["source"]) for p in payment] == [("card", "85.01", "card")]
    assert _open(api, inv1["id"]) == D("0.00")
    assert books(api) == {"1020": D("85.01"), "2100": D("-5.01"), "4000": D("-80.00")}

    # 6. Two days later the last widget ships: the hold is used up (Stripe captures a PaymentIntent
    #    once), so the same card is authorised again for this invoice and captured.
    clock.freeze(LATER)
    sh2 = ship_wave(api, oid)
    inv1_again, inv2 = invoices(api, oid)
    assert inv1_again == inv1 and (inv2["gross_total"], inv2["shipment_id"]) == ("10.62", sh2["id"])
    _, _, again = attempts(api, oid)
    assert (again["status"], again["amount"], again["captured_amount"]) == ("captured", "10.62", "10.62")
    creates = gateway_posts(stripe, "/v1/payment_intents")
    assert [(p.form["amount"], p.form["payment_method"]) for p in creates] == [
        ("9563", "pm_card_chargeDeclinedInsufficientFunds"), ("9563", "pm_card_visa"), ("1062", kept_card)]
    # She is not at the checkout: the card kept for her Stripe Customer is charged off session.
    reauth = {k: creates[-1].form.get(k) for k in ("customer", "off_session", "confirm", "setup_future_usage")}
    assert reauth == {"customer": kept_for, "off_session": "true", "confirm": "true", "setup_future_usage": None}
    assert again["gateway_customer_ref"] == kept_for and len(stripe.customers) == 1
    assert sum(i.amount_received for i in stripe.intents.values()) == 9563  # the order, to the cent
    assert _open(api, inv2["id"]) == D("0.00")
    assert books(api) == {"1020": D("95.63"), "2100": D("-5.63"), "4000": D("-90.00")}

    # 7. A gadget comes back fit to resell; its refund (25.00 + 1.57 tax) is credited against the first
    #    invoice, already paid, so it goes back on the card that paid it.
    deliver(api, sh1, LATER)
    clock.freeze(LATER + timedelta(days=5))
    ret = _returned(api, oid, line_no=2, quantity="1")
    dispatch_pending()
    [refund] = ok(api.get("/refunds", user="jane"))["items"]
    assert (refund["return_id"], refund["method"], refund["status"], refund["amount"]) == (ret["id"], "card", "paid", "26.57")
    [back] = stripe.refunds
    assert (back["payment_intent"], back["amount"]) == (authorised["gateway_ref"], 2657)
    [cn] = ok(api.get("/credit-notes", user="admin", params={"order_id": oid}))["items"]
    assert (cn["invoice_number"], cn["gross_total"]) == ("INV-2026-000001", "26.57")
    assert [e["data"]["refund"] for e in timeline(api, oid, "refund_approved", "refund_paid")] == [refund["number"]] * 2
    assert books(api) == {"1020": D("69.06"), "2100": D("-4.06"), "4000": D("-65.00")}  # 95.63 - 26.57
    account = ok(api.get(f"/customers/{placed['customer_id']}/account", user="cashier"))
    assert (account["open_total"], account["unapplied_credit"], account["balance"]) == ("0.00", "0.00", "0.00")

    # 8. Every event again (as after a crash before their delivery was recorded): nothing new anywhere.
    for topic, subscriber in (("shipment.shipped", "request_card_capture"),
                              ("card_payment.capture_due", "capture_card_payment"),
                              ("return.refund_due", "refund_return"), ("refund.approved", "refund_to_card")):
        redeliver(topic, f"o2c.process.{subscriber}")
    seen = len(stripe.requests)
    dispatch_pending()
    assert len(gateway_posts(stripe, "/capture")) == 2 and len(stripe.refunds) == 1
    assert len(stripe.requests) == seen and len(ok(api.get("/refunds", user="admin"))["items"]) == 1
    assert books(api) == {"1020": D("69.06"), "2100": D("-4.06"), "4000": D("-65.00")}


def _open(api, invoice_id: int) -> D:
    from o2c.billing import service as billing
    from o2c.core.db import read_session

    with read_session() as s:
        return billing.open_amounts(s, [invoice_id])[invoice_id]


def _returned(api, order_id: int, line_no: int, quantity: str) -> dict:
    """The customer's goods of one line asked back, authorised, received and inspected fit to restock."""
    ret = ok(api.post("/returns", user="admin", json={"order_id": order_id, "outcome": "refund", "lines": [
        {"line_no": line_no, "quantity": quantity, "reason": "defective"}]}), 201)
    ok(api.post(f"/returns/{ret['id']}/authorise", user="admin", json={}))
    ok(api.post(f"/returns/{ret['id']}/receive", user="admin", json={"lines": [{"line_no": line_no, "quantity": quantity}]}))
    return ok(api.post(f"/returns/{ret['id']}/inspect", user="admin", json={"lines": [{"line_no": line_no, "condition": "restock"}]}))
