"""Recording payments through the service, as the card capture and the bank reconciliation do: what is
applied leaves the invoice's open amount, the rest is the customer's credit, and the same statement line
or capture recorded twice is one payment."""
from __future__ import annotations

from decimal import Decimal as D

import pytest
from sqlalchemy import func, select

from o2c.billing import service as billing
from o2c.core import clock
from o2c.core.db import read_session, transaction
from o2c.core.errors import Conflict, ValidationFailed
from o2c.payments import service as payments
from o2c.payments.models import Payment, Settlement
from tests.books import assert_ledger_agrees
from tests.fulfillment.flow import MONDAY, changed, everything
from tests.payments.support import actor, invoiced
from tests.shipping_world import equip


@pytest.fixture
def two_invoices(api, world):
    clock.freeze(MONDAY)
    equip(api)
    yield world, invoiced(api), invoiced(api, lines=(("WIDGET", "4"),))
    clock.freeze(None)


def opens(*invoice_ids: int) -> dict[int, D]:
    with read_session() as s:
        return billing.open_amounts(s, list(invoice_ids))


def test_a_statement_payment_settles_one_invoice_in_full_and_keeps_the_rest_as_credit(two_invoices):
    world, inv1, inv2 = two_invoices
    company, cashier, big = world["ids"]["company"], actor(world, "cashier"), world["ids"]["BIGBUY"]
    assert (inv1["gross_total"], inv2["gross_total"]) == ("21.25", "42.50")  # 2 and 4 widgets at 10.00, 6.25 % tax
    assert opens(inv1["id"], inv2["id"]) == {inv1["id"]: D("21.25"), inv2["id"]: D("42.50")}

    def pay(s):
        return payments.record_payment(
            s, cashier, company, customer_id=big, method="bank_transfer", currency="USD", amount=D("50.00"),
            source="statement", source_ref="stmt-1/line-4", payer_name="BIGBUY Inc.",
            applications=[(inv1["id"], D("21.25")), (inv2["id"], D("20.00"))]).number

    assert transaction(pay) == "PAY-2026-000001"
    assert opens(inv1["id"], inv2["id"]) == {inv1["id"]: D("0.00"), inv2["id"]: D("22.50")}
    with read_session() as s:
        assert payments.unapplied_credit(s, company, big)["total"] == D("8.75")
    assert_ledger_agrees(company)

    # The same line again (a re-import, a retry): the first payment, nothing new.
    before = everything()
    assert transaction(pay) == "PAY-2026-000001"
    assert changed(before, everything()) == []
    with read_session() as s:
        assert s.scalar(select(func.count()).select_from(Payment)) == 1
        assert s.scalar(select(func.count()).select_from(Settlement)) == 2

    # The same reference for other money is a conflict, not a repeat.
    with pytest.raises(Conflict):
        transaction(lambda s: payments.record_payment(
            s, cashier, company, customer_id=big, method="bank_transfer", currency="USD", amount=D("51.00"),
            source="statement", source_ref="stmt-1/line-4"))


def test_a_refused_payment_names_the_field_and_stores_nothing(two_invoices):
    world, inv1, _ = two_invoices
    company, cashier, big = world["ids"]["company"], actor(world, "cashier"), world["ids"]["BIGBUY"]
    before = everything()
    with pytest.raises(ValidationFailed) as exc:
        transaction(lambda s: payments.record_payment(
            s, cashier, company, customer_id=big, method="cheque", currency="USD", amount=D("30.00"),
            applications=[(inv1["id"], D("21.26"))]))
    assert [(e.field, e.code) for e in exc.value.errors] == [("applications[0].amount", "above_open")]
    assert changed(before, everything()) == []


def test_a_credit_note_on_a_paid_invoice_is_credit_to_apply_and_one_on_an_open_invoice_credits_it(two_invoices, api):
    world, inv1, inv2 = two_invoices
    company, cashier, big = world["ids"]["company"], actor(world, "cashier"), world["ids"]["BIGBUY"]
    transaction(lambda s: payments.record_payment(
        s, cashier, company, customer_id=big, method="bank_transfer", currency="USD", amount=D("21.25"),
        applications=[(inv1["id"], D("21.25"))]))

    # A widget of the paid invoice credited by hand: nothing is open on it, so the credit note's 10.63
    # waits on the account under its number; the invoice stays paid.
    cn = api.post(f"/invoices/{inv1['id']}/credit-notes", user="biller",
                  json={"reason": "one widget scratched", "lines": [{"line_no": 1, "quantity": "1"}]})
    assert cn.status_code == 201, cn.text
    assert (cn.json()["number"], cn.json()["gross_total"]) == ("CN-2026-000001", "10.63")
    with read_session() as s:
        assert payments.unapplied_credit(s, company, big)["items"] == [{"item": "CN-2026-000001", "amount": D("10.63")}]
    invoice = lambda inv: api.get(f"/invoices/{inv['id']}", user="cashier").json()  # noqa: E731
    assert (invoice(inv1)["open_amount"], invoice(inv1)["payment_status"]) == ("0.00", "paid")
    assert_ledger_agrees(company)

    # The credit note's credit is applied to the second invoice.
    transaction(lambda s: payments.apply_credit(s, cashier, company, big, "CN-2026-000001", [(inv2["id"], D("10.63"))]))
    assert opens(inv2["id"]) == {inv2["id"]: D("31.87")}
    with read_session() as s:
        assert payments.unapplied_credit(s, company, big)["total"] == D(0)
    assert_ledger_agrees(company)

    # The rest of the second invoice credited in full: credited, nothing open, nothing to apply.
    cn = api.post(f"/invoices/{inv2['id']}/credit-notes", user="biller",
                  json={"reason": "order cancelled", "lines": [{"line_no": 1, "quantity": "4"}]})
    assert cn.status_code == 201, cn.text
    assert (invoice(inv2)["open_amount"], invoice(inv2)["payment_status"]) == ("0.00", "credited")
    with read_session() as s:
        assert payments.unapplied_credit(s, company, big)["items"] == [{"item": "CN-2026-000002", "amount": D("10.63")}]
    assert_ledger_agrees(company)
