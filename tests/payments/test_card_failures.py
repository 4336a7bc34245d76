"""Card payments when something goes wrong, through the API against the fake Stripe: the gateway times
out (the order waits; the retry, by the customer or by the worker, charges once and makes one Stripe
Customer), the order is cancelled (the hold is released, also one whose authorisation was still
unknown), the card is refused at a later shipment, or its issuer wants the absent customer to confirm,
or the hold has lapsed (the invoice stays open), the capture times out (retried under the same key),
the hold expires before the goods ship (authorised again, off session), and who may pay for which
order."""
from __future__ import annotations

import logging
import re
from datetime import timedelta
from decimal import Decimal as D

from typer.testing import CliRunner

from o2c import cli
from o2c.core import clock
from o2c.core.events import dispatch_pending
from o2c.core.settings import get_settings
from o2c.payments import cards
from tests.billing.test_story_invoicing import redeliver
from tests.fulfillment.flow import MONDAY, changed, everything, ok

from .card_world import (  # noqa: F401 (stripe is a fixture)
    attempts, books, consumer, gateway_posts, invoices, order, pay, ship_wave, stripe, timeline,
)


def _open(invoice_id: int) -> D:
    from o2c.billing import service as billing
    from o2c.core.db import read_session

    with read_session() as s:
        return billing.open_amounts(s, [invoice_id])[invoice_id]


def _waits_for_card(api, order_id: int) -> bool:
    r = api.post("/waves", user="keeper", json={"order_ids": [order_id]})
    return r.status_code == 409 and r.json().get("waiting_for_card") == [order_id]


# --- the gateway does not answer -------------------------------------------------------------------

def test_a_timeout_at_authorisation_leaves_the_order_waiting_and_asking_again_charges_once(api, world, stripe):
    clock.freeze(MONDAY)
    consumer(api, world)
    oid = order(api, [("WIDGET", "2")])["id"]

    # Stripe holds the money; its answer never arrives
    stripe.fail_next("timeout", processed=True, path_suffix="/v1/payment_intents")
    r = pay(api, oid, "pm_card_visa")
    assert r.status_code == 503 and r.json()["status"] == "pending", r.text
    [pending] = attempts(api, oid)
    assert pending["status"] == "pending" and _waits_for_card(api, oid)
    [why] = timeline(api, oid, "card_authorisation_pending")
    assert why["reason"].startswith("waiting for card authorisation: the gateway has not answered yet")

    again = ok(pay(api, oid, "pm_card_visa"), 201)
    assert (again["id"], again["status"], again["amount"]) == (pending["id"], "authorised", "21.25")
    first, second = gateway_posts(stripe, "/v1/payment_intents")
    assert first.headers["idempotency-key"] == second.headers["idempotency-key"] and first.form == second.form
    assert len(stripe.intents) == 1  # one authorisation at the gateway
    assert not _waits_for_card(api, oid)
    # The Customer the card is kept for was asked for again under the same key: Stripe made one.
    made = gateway_posts(stripe, "/v1/customers")
    assert len(made) == 2 and len({m.headers["idempotency-key"] for m in made}) == 1
    [kept_for] = stripe.customers
    assert second.form["customer"] == again["gateway_customer_ref"] == kept_for


def test_a_timeout_while_the_customer_is_made_makes_one_customer_and_one_authorisation(api, world, stripe):
    clock.freeze(MONDAY)
    consumer(api, world)
    oid = order(api, [("WIDGET", "2")])["id"]
    stripe.fail_next("timeout", processed=True, path_suffix="/v1/customers")  # made, but the answer is lost
    assert pay(api, oid, "pm_card_visa").status_code == 503
    assert len(stripe.customers) == 1 and stripe.intents == {}  # no authorisation without its customer

    held = ok(pay(api, oid, "pm_card_visa"), 201)
    [kept_for] = stripe.customers
    [intent] = stripe.intents.values()
    assert held["gateway_customer_ref"] == intent.customer == kept_for
    # the test token became a payment method of its own, kept for the customer: later charges name it
    assert intent.payment_method != "pm_card_visa"
    assert stripe.customers[kept_for].payment_methods == [intent.payment_method]


def test_the_worker_settles_an_attempt_left_pending_and_leaves_old_ones_to_a_person(api, world, stripe, caplog):
    clock.freeze(MONDAY)
    consumer(api, world)
    oid = order(api, [("WIDGET", "2")])["id"]
    stripe.fail_next("timeout", processed=False)  # the request is lost: Stripe did nothing
    assert pay(api, oid, "pm_card_visa").status_code == 503
    assert stripe.intents == {}

    run = CliRunner().invoke(cli.app, ["card-retry"])  # the worker's pass, e.g. from cron
    assert run.exit_code == 0 and run.output.strip() == "1 authorised", run.output  # the same key, sent again
    [done] = attempts(api, oid)
    assert done["status"] == "authorised" and len(stripe.intents) == 1
    assert cards.retry_pending() == {}

    # A day and more later, Stripe has forgotten the key: re-sending could charge anew. Left pending.
    late = order(api, [("WIDGET", "1")])["id"]
    stripe.fail_next("timeout", processed=False)
    assert pay(api, late, "pm_card_visa").status_code == 503
    clock.freeze(MONDAY + timedelta(hours=25))
    with caplog.at_level(logging.WARNING):
        assert cards.retry_pending() == {}
    assert "beyond the gateway's idempotency window" in caplog.text
    assert [a["status"] for a in attempts(api, late)] == ["pending"]


def test_a_capture_that_times_out_is_retried_under_its_key_and_taken_once(api, world, stripe):
    clock.freeze(MONDAY)
    consumer(api, world)
    oid = order(api, [("WIDGET", "2")])["id"]
    held = ok(pay(api, oid, "pm_card_visa"), 201)
    stripe.fail_next("timeout", processed=True, path_suffix="/capture")
    ship_wave(api, oid)
    [inv] = invoices(api, oid)
    assert _open(inv["id"]) == D("21.25")  # no answer yet: nothing recorded
    assert stripe.intents[held["gateway_ref"]].amount_received == 2125  # though Stripe did take it

    clock.freeze(MONDAY + timedelta(minutes=10))  # the event's retry is due
    dispatch_pending()
    first, second = gateway_posts(stripe, "/capture")
    assert first.headers["idempotency-key"] == second.headers["idempotency-key"]
    assert stripe.intents[held["gateway_ref"]].amount_received == 2125
    assert _open(inv["id"]) == D("0.00")
    assert [p["amount"] for p in ok(api.get("/payments", user="cashier"))["items"]] == ["21.25"]
    assert books(api) == {"1020": D("21.25"), "2100": D("-1.25"), "4000": D("-20.00")}


# --- cancelled ----------------------------------------------------------------------------------------

def test_cancelling_an_order_releases_the_hold_once(api, world, stripe):
    clock.freeze(MONDAY)
    consumer(api, world)
    oid = order(api, [("WIDGET", "2")])["id"]
    held = ok(pay(api, oid, "pm_card_visa"), 201)
    ok(api.post(f"/orders/{oid}/cancel", user="jane", json={"reason": "ordered twice"}))
    dispatch_pending()
    [voided] = attempts(api, oid)
    assert voided["status"] == "voided" and stripe.intents[held["gateway_ref"]].status == "canceled"
    [void] = gateway_posts(stripe, "/cancel")
    assert void.headers["idempotency-key"].endswith("-void")
    assert [e["reason"] for e in timeline(api, oid, "card_voided")] == ["the hold on the card is released"]

    redeliver("order.cancelled", "o2c.process.void_card_payment")
    dispatch_pending()
    assert len(gateway_posts(stripe, "/cancel")) == 1
    assert books(api) == {}


def test_cancelling_while_the_authorisation_is_unknown_settles_it_first_then_releases_it(api, world, stripe):
    clock.freeze(MONDAY)
    consumer(api, world)
    oid = order(api, [("GADGET", "1")])["id"]
    stripe.fail_next("timeout", processed=True, path_suffix="/v1/payment_intents")
    assert pay(api, oid, "pm_card_visa").status_code == 503
    ok(api.post(f"/orders/{oid}/cancel", user="jane", json={"reason": "too slow"}))
    dispatch_pending()
    [intent] = stripe.intents.values()  # still one authorisation: the retry was answered from the first
    assert intent.status == "canceled"
    assert [a["status"] for a in attempts(api, oid)] == ["voided"]


# --- refused later ------------------------------------------------------------------------------------

def test_a_card_refused_at_the_second_shipment_leaves_that_invoice_open(api, world, stripe):
    clock.freeze(MONDAY)
    customer_id = consumer(api, world)
    oid = order(api, [("WIDGET", "2"), ("GADGET", "1")])["id"]
    ok(pay(api, oid, "pm_card_visa"), 201)
    ship_wave(api, oid, short={"WIDGET": "1"})
    clock.freeze(MONDAY + timedelta(days=3))
    stripe.decline_next()  # her card is refused when the rest ships
    ship_wave(api, oid)
    inv1, inv2 = invoices(api, oid)
    assert (_open(inv1["id"]), _open(inv2["id"])) == (D("0.00"), D(inv2["gross_total"]))
    assert [a["status"] for a in attempts(api, oid)] == ["captured", "declined"]
    [failed] = timeline(api, oid, "card_capture_failed")
    assert failed["reason"] == (f"the card did not pay for shipment {inv2['shipment_number']} (insufficient_funds); "
                                f"invoice {inv2['number']} stays open for payment")
    account = ok(api.get(f"/customers/{customer_id}/account", user="cashier"))
    assert [i["number"] for i in account["open_invoices"]] == [inv2["number"]]  # ordinary receivables now
    assert books(api)["1100"] == D(inv2["gross_total"])

    # Delivered again, the shipment's capture does not ask the card a second time.
    redeliver("card_payment.capture_due", "o2c.process.capture_card_payment")
    seen = len(stripe.requests)
    dispatch_pending()
    assert len(stripe.requests) == seen


def test_an_issuer_that_wants_the_absent_customer_to_confirm_the_second_charge_leaves_that_invoice_open(
        api, world, stripe):
    clock.freeze(MONDAY)
    customer_id = consumer(api, world)
    oid = order(api, [("WIDGET", "2"), ("GADGET", "1")])["id"]
    held = ok(pay(api, oid, "pm_card_visa"), 201)
    ship_wave(api, oid, short={"WIDGET": "1"})
    clock.freeze(MONDAY + timedelta(days=3))
    stripe.require_authentication_next()  # her bank asks her to confirm the charge, and she is not there
    ship_wave(api, oid)

    reauth = gateway_posts(stripe, "/v1/payment_intents")[-1]
    assert (reauth.form["off_session"], reauth.form["customer"]) == ("true", held["gateway_customer_ref"])
    first, again = attempts(api, oid)
    assert (first["status"], again["status"], again["decline_code"]) == ("captured", "declined", "authentication_required")
    assert stripe.intents[again["gateway_ref"]].status == "requires_payment_method"  # nothing held
    inv1, inv2 = invoices(api, oid)
    assert (_open(inv1["id"]), _open(inv2["id"])) == (D("0.00"), D(inv2["gross_total"]))
    [failed] = timeline(api, oid, "card_capture_failed")
    assert failed["reason"] == (
        f"the card did not pay for shipment {inv2['shipment_number']} (authentication_required: the card issuer "
        f"wants the customer to confirm this charge, which cannot be asked at shipment); invoice {inv2['number']} "
        "stays open for payment")
    account = ok(api.get(f"/customers/{customer_id}/account", user="cashier"))
    assert [i["number"] for i in account["open_invoices"]] == [inv2["number"]]
    tax = D(inv1["tax_total"]) + D(inv2["tax_total"])
    assert books(api) == {"1020": D(inv1["gross_total"]), "1100": D(inv2["gross_total"]), "2100": -tax,
                          "4000": D("-45.00")}

    # Delivered again, the shipment's capture does not ask the card a second time.
    redeliver("card_payment.capture_due", "o2c.process.capture_card_payment")
    seen = len(stripe.requests)
    dispatch_pending()
    assert len(stripe.requests) == seen


def test_a_hold_the_gateway_no_longer_has_fails_the_capture_and_the_invoice_stays_open(api, world, stripe):
    clock.freeze(MONDAY)
    consumer(api, world)
    oid = order(api, [("WIDGET", "2")])["id"]
    held = ok(pay(api, oid, "pm_card_visa"), 201)
    stripe.intents[held["gateway_ref"]].status = "canceled"  # cancelled at Stripe (its dashboard, a dispute)
    ship_wave(api, oid)
    [inv] = invoices(api, oid)
    assert _open(inv["id"]) == D("21.25")
    [failed] = timeline(api, oid, "card_capture_failed")
    assert "payment_intent_unexpected_state" in failed["reason"]
    assert books(api) == {"1100": D("21.25"), "2100": D("-1.25"), "4000": D("-20.00")}


def test_a_hold_at_the_end_of_its_seven_days_is_authorised_again_for_the_shipment(api, world, stripe):
    clock.freeze(MONDAY)
    consumer(api, world)
    oid = order(api, [("WIDGET", "2")])["id"]
    held = ok(pay(api, oid, "pm_card_visa"), 201)
    clock.freeze(MONDAY + timedelta(days=6, hours=13))  # within 12 hours of the end
    ship_wave(api, oid)
    old, new = attempts(api, oid)
    assert (old["status"], new["status"], new["captured_amount"]) == ("expired", "captured", "21.25")
    reauth = gateway_posts(stripe, "/v1/payment_intents")[-1]  # without her: off session, on the card kept at order
    assert (reauth.form["off_session"], reauth.form["customer"]) == ("true", held["gateway_customer_ref"])
    assert stripe.intents[held["gateway_ref"]].amount_received == 0
    assert stripe.intents[new["gateway_ref"]].amount_received == 2125
    assert timeline(api, oid, "card_authorisation_expired")
    [inv] = invoices(api, oid)
    assert _open(inv["id"]) == D("0.00")


# --- who, and which request -------------------------------------------------------------------------

def test_an_idempotency_key_names_one_attempt_end_to_end(api, world, stripe):
    clock.freeze(MONDAY)
    consumer(api, world)
    oid = order(api, [("WIDGET", "2")])["id"]
    first = pay(api, oid, "pm_card_chargeDeclined", headers={"Idempotency-Key": "checkout-1"})
    again = pay(api, oid, "pm_card_chargeDeclined", headers={"Idempotency-Key": "checkout-1"})
    assert first.status_code == again.status_code == 402
    assert first.json()["card_payment_id"] == again.json()["card_payment_id"]
    assert len(gateway_posts(stripe, "/v1/payment_intents")) == 1  # the decline is answered from the stored attempt
    r = pay(api, oid, "pm_card_visa", headers={"Idempotency-Key": "checkout-1"})
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "Idempotency-Key"
    ok(pay(api, oid, "pm_card_visa", headers={"Idempotency-Key": "checkout-2"}), 201)
    assert [a["status"] for a in attempts(api, oid)] == ["declined", "authorised"]
    assert ok(pay(api, oid, "pm_card_visa", headers={"Idempotency-Key": "checkout-2"}), 201)["status"] == "authorised"
    r = pay(api, oid, "pm_card_mastercard")
    assert r.status_code == 409 and r.json()["card_payment_id"] == attempts(api, oid)[1]["id"]


def test_who_may_pay_for_which_order_and_refusals_store_nothing(api, world, stripe, monkeypatch):
    clock.freeze(MONDAY)
    consumer(api, world)
    oid = order(api, [("WIDGET", "2")])["id"]
    bigbuy_order = ok(api.post("/orders", user="desk", json={"customer_code": "BIGBUY", "channel": "web",
                                                             "lines": [{"sku": "WIDGET", "quantity": "1"}]}), 201)
    before = everything()
    r = pay(api, bigbuy_order["id"], "pm_card_visa")  # Jane's login, someone else's order
    assert r.status_code == 404
    r = api.post(f"/orders/{oid}/card-payments", user="keeper", json={"payment_method_token": "pm_card_visa"})
    assert r.status_code == 403  # the warehouse does not take payments
    r = pay(api, oid, "pm_unknown_card")  # a token Stripe does not know: refused there, nothing kept here
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "payment_method_token", r.text
    r = pay(api, oid, "tok_visa")  # not a PaymentMethod token
    assert r.status_code == 422 and r.json()["errors"][0]["code"] == "invalid_token"
    monkeypatch.delenv("O2C_STRIPE_SECRET_KEY")
    get_settings.cache_clear()
    r = pay(api, oid, "pm_card_visa")
    assert r.status_code == 409 and "not set up" in r.json()["detail"]
    assert changed(before, everything()) == []


# --- never stored, never logged ---------------------------------------------------------------------

NUMBERS = ("4242424242424242", "4000056655665556", "5555555555554444")


def test_no_card_number_reaches_the_database_or_a_log(api, world, stripe, caplog):
    caplog.set_level(logging.DEBUG)
    clock.freeze(MONDAY)
    consumer(api, world)
    oid = order(api, [("WIDGET", "2"), ("GADGET", "1")])["id"]
    for typed in ("4242424242424242", "4000-0566-5566-5556", " 5555 5555 5555 4444 ", "pm_4242424242424242"):
        r = pay(api, oid, typed)
        assert r.status_code == 422 and r.json()["errors"][0]["code"] == "card_data_refused"
        assert re.sub(r"\D", "", typed) not in re.sub(r"[ -]", "", r.text)
    assert pay(api, oid, "pm_card_chargeDeclinedIncorrectCvc").status_code == 402
    stripe.fail_next("timeout", processed=True, path_suffix="/v1/payment_intents")
    assert pay(api, oid, "pm_card_visa").status_code == 503
    ok(pay(api, oid, "pm_card_visa"), 201)
    ship_wave(api, oid, short={"WIDGET": "1"})
    ship_wave(api, oid)

    stored = re.sub(r"[ -]", "", repr(everything()))
    logged = re.sub(r"[ -]", "", caplog.text)
    assert "stripe POST /v1/payment_intents" in caplog.text  # the gateway calls were logged ...
    for number in NUMBERS:
        assert number not in stored and number not in logged  # ... and no card number anywhere
