"""Bounced payments, as a story. BIGBUY pays its invoice by cheque in full; a week later the bank returns
the cheque unpaid. The cashier records the bounce with its reason and passes the bank's 15.00 charge on:
the invoice owes its full amount again, the charge is an open item of its own, and the customer's
account, statement, ageing and the reminder run all say so, with the books balanced at every step.

Then a direct debit that paid two invoices and left 6.25 over as credit comes back: both invoices owe
again and the credit is gone. What cannot bounce is refused with nothing changed: a payment bounced
already, a card payment, a payment whose credit was used elsewhere, a bounce with no reason or a bad fee,
a user without payments.write."""
from __future__ import annotations

from datetime import timedelta
from decimal import Decimal as D

from o2c.billing.statement import KIND_NAMES
from o2c.core import clock
from o2c.core.db import transaction
from o2c.payments import rules
from o2c.payments import service as payments
from tests.fulfillment.flow import MONDAY, ok
from tests.payments.support import actor, invoiced
from tests.payments.test_story_payments import account, books, pay, status
from tests.returns.delivery import events
from tests.shipping_world import equip


def bounce(api, p: dict, reason: str = "cheque returned: insufficient funds", **extra):
    return api.post(f"/payments/{p['id']}/bounce", user="cashier", json={"reason": reason, **extra})


def ahead(api) -> list[dict]:
    """The reminders the run of 27 December would send (a dry run: nothing stored)."""
    return ok(api.post("/reminders/run", user="biller", json={"as_of": "2026-12-27", "dry_run": True}))["reminders"]


def test_a_cheque_bounces_its_invoice_owes_again_and_the_bank_charge_is_passed_on(api, world):
    clock.freeze(MONDAY)  # Monday 30 November 2026
    equip(api)
    company, big = world["ids"]["company"], world["ids"]["BIGBUY"]

    # 1. An invoice of 21.25 (2 widgets, 20.00 + 1.25 tax), paid in full by cheque.
    inv = invoiced(api)
    p = pay(api, big, "cheque", "21.25", [(inv, "21.25")], reference="cheque 004512")
    assert status(api, inv) == [("0.00", "paid")]
    assert books(api, company) == {"1000": "21.25", "2100": "-1.25", "4000": "-20.00"}
    assert ahead(api) == []  # paid: no reminder will be due

    # 2. A week later the bank returns the cheque: the bounce is recorded, with a fee of 15.00.
    clock.freeze(MONDAY + timedelta(days=7))
    bounced = ok(bounce(api, p, fee="15.00"))
    assert (bounced["number"], bounced["bounce_reason"], bounced["applied"], bounced["unapplied"]) == (
        "PAY-2026-000001", "cheque returned: insufficient funds", "0.00", "0.00")
    assert bounced["bounced_at"].startswith("2026-12-07")
    #    The settlement is undone by its opposite, so the payment's history stays readable.
    assert [(s["invoice_number"], s["kind"], s["amount"], s["settled_on"]) for s in bounced["settlements"]] == [
        ("INV-2026-000001", "payment", "21.25", "2026-11-30"),
        ("INV-2026-000001", "payment", "-21.25", "2026-12-07")]
    assert ok(api.get(f"/payments/{p['id']}", user="cashier"))["bounced_at"] == bounced["bounced_at"]

    # 3. The invoice owes its full amount again; the bank no longer holds the money; the fee is owed.
    assert status(api, inv) == [("21.25", "open")]
    assert books(api, company) == {"1100": "36.25", "2100": "-1.25", "4000": "-20.00", "4800": "-15.00"}
    acc = account(api, big)
    assert ([(i["number"], i["open_amount"]) for i in acc["open_invoices"]], acc["open_total"]) == (
        [("INV-2026-000001", "21.25")], "21.25")
    #    The statement (read from the ledger) shows the fee (due now) and the invoice (due 30 December)
    #    open, and the bounce itself among the movements.
    st = ok(api.get(f"/customers/{big}/statement", user="cashier"))
    assert [(o["item"], o["open"], o["due_date"]) for o in st["open_items"]] == [
        ("PAY-2026-000001-FEE", "15.00", "2026-12-07"), ("INV-2026-000001", "21.25", "2026-12-30")]
    assert st["balance"] == "36.25"
    assert [(m["kind"], m["document"], m["charge"], m["credit"]) for m in st["movements"]
            if m["kind"] in ("payment_bounce", "bounce_fee")] == [
        ("payment_bounce", "PAY-2026-000001", "21.25", "0.00"), ("bounce_fee", "PAY-2026-000001-FEE", "15.00", "0.00")]
    #    Every line of the statement is named in words on its PDF (no raw kind shows there).
    assert {m["kind"] for m in st["movements"]} | {o["kind"] for o in st["open_items"]} <= set(KIND_NAMES)
    #    The ageing: the invoice is not due until 30 December; the fee is due the day it was charged.
    [usd] = ok(api.get("/ledger/ageing", user="cashier"))
    row = next(r for r in usd["customers"] if r["customer_id"] == big)
    assert (row["total"], row["buckets"]["current"], row["unapplied_credit"]) == ("36.25", "36.25", "0.00")

    #    Reminders see the invoice open again: the friendly note three days before it is due.
    assert [(r["customer_id"], r["level"], [i["invoice_number"] for i in r["items"]], r["open_total"])
            for r in ahead(api)] == [(big, "friendly", ["INV-2026-000001"], "21.25")]

    # 4. Who did what: the customer's timeline, the order's, and the event for whoever listens.
    timeline = ok(api.get(f"/customers/{big}/timeline", user="cashier"))
    [rec] = [e for e in timeline if e["action"] == "payment_bounced"]
    assert (rec["reason"], rec["data"]["payment"], rec["data"]["amount"], rec["data"]["fee"],
            rec["data"]["invoices"]) == ("cheque returned: insufficient funds", "PAY-2026-000001", "21.25", "15.00",
                                         ["INV-2026-000001"])
    order = ok(api.get(f"/orders/{inv['order_id']}/timeline"))
    assert [(e["action"], e["data"]["open"]) for e in order if e["action"] in ("paid", "payment_bounced")] == [
        ("paid", "0.00"), ("payment_bounced", "21.25")]
    [ev] = events("payment.bounced")
    assert (ev["number"], ev["amount"], ev["credit_taken_back"], ev["fee"], ev["fee_item"], ev["bounced_on"]) == (
        "PAY-2026-000001", "21.25", "0.00", "15.00", "PAY-2026-000001-FEE", "2026-12-07")
    assert ev["invoices"] == [{"invoice_id": inv["id"], "number": "INV-2026-000001", "owed_again": "21.25",
                               "open": "21.25"}]

    # 5. It bounces once: again is a conflict, and nothing moves.
    r = bounce(api, p)
    assert r.status_code == 409 and "bounced already on 2026-12-07" in r.json()["detail"]
    assert books(api, company) == {"1100": "36.25", "2100": "-1.25", "4000": "-20.00", "4800": "-15.00"}

    # 6. BIGBUY pays again by transfer: the invoice is paid, the fee still owed.
    pay(api, big, "bank_transfer", "21.25", [(inv, "21.25")])
    assert status(api, inv) == [("0.00", "paid")]
    assert books(api, company) == {"1000": "21.25", "1100": "15.00", "2100": "-1.25", "4000": "-20.00",
                                   "4800": "-15.00"}


def test_a_direct_debit_over_two_invoices_with_credit_left_comes_back(api, world):
    clock.freeze(MONDAY)
    equip(api)
    company, big = world["ids"]["company"], world["ids"]["BIGBUY"]
    inv_a, inv_b = invoiced(api), invoiced(api, lines=(("WIDGET", "4"),))  # 21.25 and 42.50
    p = pay(api, big, "direct_debit", "70.00", [(inv_a, "21.25"), (inv_b, "42.50")])
    assert (p["applied"], p["unapplied"]) == ("63.75", "6.25")
    assert account(api, big)["credit_items"] == [{"item": "PAY-2026-000001", "amount": "6.25"}]
    assert books(api, company) == {"1000": "70.00", "2100": "-3.75", "2200": "-6.25", "4000": "-60.00"}

    # The bounce sent twice under one Idempotency-Key (a client retrying): done once, the same answer twice.
    body = {"reason": "direct debit returned: account closed (AC04)"}
    first = api.post(f"/payments/{p['id']}/bounce", user="cashier", json=body, headers={"Idempotency-Key": "rtn-1"})
    again = api.post(f"/payments/{p['id']}/bounce", user="cashier", json=body, headers={"Idempotency-Key": "rtn-1"})
    done = ok(first)
    assert (again.status_code, again.headers.get("Idempotent-Replayed"), again.json()) == (200, "true", done)
    assert (done["applied"], done["unapplied"]) == ("0.00", "0.00")
    assert status(api, inv_a, inv_b) == [("21.25", "open"), ("42.50", "open")]
    acc = account(api, big)
    assert (acc["open_total"], acc["unapplied_credit"], acc["credit_items"], acc["balance"]) == (
        "63.75", "0.00", [], "63.75")
    assert books(api, company) == {"1100": "63.75", "2100": "-3.75", "4000": "-60.00"}
    [ev] = events("payment.bounced")
    assert (ev["credit_taken_back"], [i["number"] for i in ev["invoices"]], ev["fee"]) == (
        "6.25", ["INV-2026-000001", "INV-2026-000002"], None)


def test_what_cannot_bounce_is_refused_and_nothing_changes(api, world):
    clock.freeze(MONDAY)
    equip(api)
    company, big = world["ids"]["company"], world["ids"]["BIGBUY"]
    inv_a, inv_b = invoiced(api), invoiced(api, lines=(("WIDGET", "4"),))  # 21.25 and 42.50
    cheque = pay(api, big, "cheque", "30.00", [(inv_a, "21.25")])  # 8.75 left as credit
    before = books(api, company)

    # No reason, a blank one, a fee below zero or with too many decimals: 422 naming the field.
    for body, fld in (({}, "reason"), ({"reason": ""}, "reason"), ({"reason": "   "}, "reason"),
                      ({"reason": "returned", "fee": "-1.00"}, "fee"), ({"reason": "returned", "fee": "1.005"}, "fee"),
                      ({"reason": "x" * 501}, "reason")):
        r = api.post(f"/payments/{cheque['id']}/bounce", user="cashier", json=body)
        assert r.status_code == 422, (body, r.text)
        assert [e["field"] for e in r.json()["errors"]] == [fld], (body, r.json())
    # Only payments.write may bounce a payment; an unknown payment is not found.
    assert api.post(f"/payments/{cheque['id']}/bounce", user="viewer", json={"reason": "returned"}).status_code == 403
    assert api.post("/payments/999999/bounce", user="cashier", json={"reason": "returned"}).status_code == 404
    assert books(api, company) == before == {"1000": "30.00", "1100": "42.50", "2100": "-3.75", "2200": "-8.75",
                                             "4000": "-60.00"}
    assert status(api, inv_a) == [("0.00", "paid")]

    # A card payment is reversed by a refund or a chargeback, not a bounce.
    with_card = transaction(lambda s: payments.record_payment(
        s, actor(world, "cashier"), company, customer_id=big, method="card", currency="USD", amount=D("5.00"),
        source=rules.CARD, source_ref="cap_test_1").id)
    carded = books(api, company)
    r = bounce(api, {"id": with_card})
    assert r.status_code == 409 and "card payment" in r.json()["detail"] and "chargeback" in r.json()["detail"]
    assert books(api, company) == carded

    # The cheque's credit used on the second invoice: the bounce is refused, naming where it went.
    ok(api.post("/payments/apply-credit", user="cashier", json={
        "customer_id": big, "credit_item": cheque["number"],
        "applications": [{"invoice_id": inv_b["id"], "amount": "5.00"}]}), 201)
    used = books(api, company)
    r = bounce(api, cheque)
    assert r.status_code == 409, r.text
    assert "5.00 of it was applied to INV-2026-000002: reverse that first" in r.json()["detail"]
    assert books(api, company) == used and status(api, inv_a) == [("0.00", "paid")]
    assert ok(api.get(f"/payments/{cheque['id']}", user="cashier"))["bounced_at"] is None
    assert events("payment.bounced") == []
