"""Bounced payments through the service: what was taken with the payment comes back with it (an
early-payment discount and its tax share, a short payment's write-off), a credit note issued after the
payment puts its credit back on the invoice that owes again, and on PostgreSQL a payment bounced twice
at once, or bounced while its credit is being applied, is undone once and its credit spent once."""
from __future__ import annotations

from datetime import timedelta
from decimal import Decimal as D

import pytest
from sqlalchemy import select

from o2c.core import clock
from o2c.core.db import read_session, transaction
from o2c.core.errors import Conflict, ValidationFailed
from o2c.payments import bounces
from o2c.payments import service as payments
from o2c.payments.models import Payment, Settlement
from tests.books import assert_ledger_agrees
from tests.concurrency.support import count_retries, equipped_api, wide_pool
from tests.concurrency.test_fulfilment_races import finished, held_open, meanwhile
from tests.customers.support import terms_approved
from tests.fulfillment.flow import MONDAY, ok
from tests.payments.support import actor, invoiced
from tests.payments.test_story_payments import account, books, pay, status
from tests.shipping_world import equip
from tests.world import make


def bounce(api, p: dict, reason: str = "cheque returned: insufficient funds", **extra):
    return api.post(f"/payments/{p['id']}/bounce", user="cashier", json={"reason": reason, **extra})


def test_the_discount_taken_with_a_bounced_payment_is_owed_again_with_its_tax_share(api, world):
    clock.freeze(MONDAY)
    equip(api)
    company, tidy = world["ids"]["company"], world["ids"]["TIDY"]
    terms_approved(api, tidy, {"payment_terms_days": 30, "early_discount_pct": "2", "early_discount_days": 10})
    inv = invoiced(api, customer="TIDY", lines=(("WIDGET", "10"),))  # 96.53 under 2/10 net 30
    before = books(api, company)
    clock.freeze(MONDAY + timedelta(days=3))
    p = pay(api, tidy, "cheque", "94.60", [(inv, "94.60")])  # 1.93 discount (0.13 of it tax)
    assert books(api, company) == {"1000": "94.60", "2100": "-6.40", "4000": "-90.00", "4110": "1.80"}

    clock.freeze(MONDAY + timedelta(days=5))
    done = ok(bounce(api, p))
    assert [(s["kind"], s["amount"]) for s in done["settlements"]] == [
        ("payment", "94.60"), ("discount", "1.93"), ("payment", "-94.60"), ("discount", "-1.93")]
    assert status(api, inv) == [("96.53", "open")]
    assert books(api, company) == before == {"1100": "96.53", "2100": "-6.53", "4000": "-90.00"}
    assert account(api, tidy)["open_total"] == "96.53"


def test_the_write_off_that_followed_a_bounced_payment_is_taken_back_and_another_payments_is_not(api, world):
    clock.freeze(MONDAY)
    equip(api)
    company, big = world["ids"]["company"], world["ids"]["BIGBUY"]
    ok(api.patch("/company", user="admin", json={"write_off_tolerance": "1.00"}))
    inv_a, inv_b = invoiced(api), invoiced(api, lines=(("WIDGET", "4"),))  # 21.25 and 42.50
    # A cheque pays A short by 0.50 and B in part; A's 0.50 is written off. Then a transfer pays the rest
    # of B short by 0.30, written off too: that write-off is the transfer's, not the cheque's.
    cheque = pay(api, big, "cheque", "40.75", [(inv_a, "20.75"), (inv_b, "20.00")])
    ok(api.post(f"/invoices/{inv_a['id']}/write-off", user="cashier", json={"amount": "0.50", "reason": "short"}), 201)
    pay(api, big, "bank_transfer", "22.20", [(inv_b, "22.20")])
    ok(api.post(f"/invoices/{inv_b['id']}/write-off", user="cashier", json={"amount": "0.30", "reason": "short"}), 201)
    assert status(api, inv_a, inv_b) == [("0.00", "paid"), ("0.00", "paid")]
    assert books(api, company)["6200"] == "0.80"

    done = ok(bounce(api, cheque))
    assert [(s["invoice_number"], s["kind"], s["amount"]) for s in done["settlements"] if s["amount"].startswith("-")] == [
        ("INV-2026-000001", "payment", "-20.75"), ("INV-2026-000002", "payment", "-20.00"),
        ("INV-2026-000001", "write_off", "-0.50")]
    assert status(api, inv_a, inv_b) == [("21.25", "open"), ("20.00", "partially_paid")]
    assert books(api, company) == {"1000": "22.20", "1100": "41.25", "2100": "-3.75", "4000": "-60.00", "6200": "0.30"}


def test_a_credit_note_issued_after_the_payment_puts_its_credit_back_on_the_invoice(api, world):
    clock.freeze(MONDAY)
    equip(api)
    company, big = world["ids"]["company"], world["ids"]["BIGBUY"]
    inv = invoiced(api)  # 21.25
    p = pay(api, big, "cheque", "21.25", [(inv, "21.25")])
    # One widget credited after the invoice was paid: its 10.63 waits on the account as credit.
    ok(api.post(f"/invoices/{inv['id']}/credit-notes", user="biller",
                json={"reason": "one widget scratched", "lines": [{"line_no": 1, "quantity": "1"}]}), 201)
    assert account(api, big)["credit_items"] == [{"item": "CN-2026-000001", "amount": "10.63"}]

    ok(bounce(api, p))
    # The invoice owes what is left after the note, and the note's credit went back onto it.
    assert status(api, inv) == [("10.62", "open")]
    acc = account(api, big)
    assert (acc["open_total"], acc["unapplied_credit"], acc["credit_items"], acc["balance"]) == (
        "10.62", "0.00", [], "10.62")
    books(api, company)  # balanced; each invoice's open amount is its open item


def test_a_bounce_is_refused_when_a_later_credit_notes_credit_was_spent(api, world):
    clock.freeze(MONDAY)
    equip(api)
    company, big = world["ids"]["company"], world["ids"]["BIGBUY"]
    inv, other = invoiced(api), invoiced(api)
    p = pay(api, big, "cheque", "21.25", [(inv, "21.25")])
    ok(api.post(f"/invoices/{inv['id']}/credit-notes", user="biller",
                json={"reason": "scratched", "lines": [{"line_no": 1, "quantity": "1"}]}), 201)
    ok(api.post("/payments/apply-credit", user="cashier", json={
        "customer_id": big, "credit_item": "CN-2026-000001",
        "applications": [{"invoice_id": other["id"], "amount": "10.63"}]}), 201)
    before = books(api, company)
    r = bounce(api, p)
    assert r.status_code == 409, r.text
    assert "INV-2026-000001 was credited after it was paid, and 10.63 USD of that credit (CN-2026-000001)" in (
        r.json()["detail"])
    assert books(api, company) == before and status(api, inv) == [("0.00", "paid")]


def test_the_service_refuses_before_it_writes(api, world):
    clock.freeze(MONDAY)
    equip(api)
    company, big, cashier = world["ids"]["company"], world["ids"]["BIGBUY"], actor(world, "cashier")
    inv = invoiced(api)
    p = pay(api, big, "cash", "21.25", [(inv, "21.25")])
    with pytest.raises(ValidationFailed) as exc:
        transaction(lambda s: bounces.bounce_payment(s, cashier, company, p["id"], None, D("2.001")))
    assert [(e.field, e.code) for e in exc.value.errors] == [("reason", "required"), ("fee", "not_minor_units")]
    with pytest.raises(Conflict):
        transaction(lambda s: [bounces.bounce_payment(s, cashier, company, p["id"], "counterfeit note")
                               for _ in range(2)])  # the second in the same transaction: refused, all rolled back
    with read_session() as s:
        assert s.get(Payment, p["id"]).bounced_at is None
        assert len(list(s.scalars(select(Settlement)))) == 1
    # A bounced cash payment comes out of cash on hand.
    transaction(lambda s: bounces.bounce_payment(s, cashier, company, p["id"], "counterfeit note"))
    assert books(api, company) == {"1100": "21.25", "2100": "-1.25", "4000": "-20.00"}
    assert_ledger_agrees(company)


# ---------------------------------------------------------------------------------------------- races

@pytest.fixture
def desk(pg, monkeypatch):
    wide_pool(monkeypatch)
    clock.freeze(MONDAY)
    world = make()
    with equipped_api(world) as api:
        yield api, world["ids"], actor(world, "cashier"), count_retries(monkeypatch)
    clock.freeze(None)


@pytest.mark.postgres_only
def test_one_payment_bounced_twice_at_once_is_undone_once(desk):
    api, ids, cashier, retried = desk
    inv = invoiced(api)
    p = pay(api, ids["BIGBUY"], "cheque", "30.00", [(inv, "21.25")])
    with held_open(lambda s: bounces.bounce_payment(s, cashier, ids["company"], p["id"], "returned unpaid")):
        thread, answer = meanwhile(lambda: bounce(api, p))
    r = finished(thread, answer)
    assert r.status_code == 409 and "bounced already" in r.json()["detail"], r.text
    assert status(api, inv) == [("21.25", "open")]
    with read_session() as s:
        assert [st.amount for st in s.scalars(select(Settlement).order_by(Settlement.id))] == [D("21.25"), D("-21.25")]
    assert books(api, ids["company"]) == {"1100": "21.25", "2100": "-1.25", "4000": "-20.00"}
    assert "40P01" not in retried


@pytest.mark.postgres_only
def test_a_bounce_and_a_use_of_its_credit_at_once_never_both_happen(desk):
    api, ids, cashier, retried = desk
    inv, other = invoiced(api), invoiced(api)
    p = pay(api, ids["BIGBUY"], "cheque", "30.00", [(inv, "21.25")])  # 8.75 credit
    use = [(other["id"], D("8.75"))]
    # The credit applied first: the bounce waits on the account, then sees the credit used and refuses.
    with held_open(lambda s: payments.apply_credit(s, cashier, ids["company"], ids["BIGBUY"], p["number"], use)):
        thread, answer = meanwhile(lambda: bounce(api, p))
    r = finished(thread, answer)
    assert r.status_code == 409 and "applied to INV-2026-000002" in r.json()["detail"], r.text
    assert_ledger_agrees(ids["company"])

    # The other way round, with a second cheque: the bounce first, then the credit is gone.
    q = pay(api, ids["BIGBUY"], "cheque", "5.00", [])
    third = invoiced(api)
    with held_open(lambda s: bounces.bounce_payment(s, cashier, ids["company"], q["id"], "returned")):
        thread, answer = meanwhile(lambda: api.post("/payments/apply-credit", user="cashier", json={
            "customer_id": ids["BIGBUY"], "credit_item": q["number"],
            "applications": [{"invoice_id": third["id"], "amount": "5.00"}]}))
    r = finished(thread, answer)
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "credit_item", r.text
    assert status(api, third) == [("21.25", "open")]
    assert_ledger_agrees(ids["company"])
    assert "40P01" not in retried
