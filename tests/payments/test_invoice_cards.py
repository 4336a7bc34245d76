"""Paying an issued invoice by card (the portal's "Pay"), through the local Stripe: the invoice is paid by
one captured charge and one posted payment; a repeat of the same request charges nothing more; a decline,
a gateway that is not set up, another customer's invoice or too much is refused with nothing recorded."""
from __future__ import annotations

from decimal import Decimal as D

import pytest
from sqlalchemy import select

from o2c.core.db import read_session
from o2c.core.errors import Conflict, NotFound, ValidationFailed
from o2c.core.settings import get_settings
from o2c.payments import invoice_cards
from o2c.payments.cards import CardDeclined
from o2c.payments.models import Payment
from tests.books import assert_ledger_agrees
from tests.fulfillment.flow import ok
from tests.payments.card_world import gateway_posts, stripe  # noqa: F401 (the fixture)
from tests.payments.support import actor, invoiced
from tests.shipping_world import equip


@pytest.fixture(autouse=True)
def warehouse(api):
    """Carriers and boxes, so orders ship and are invoiced."""
    equip(api)


def payments_of(customer_id: int) -> list[Payment]:
    with read_session() as s:
        return list(s.scalars(select(Payment).where(Payment.customer_id == customer_id)))


def test_paying_an_invoice_by_card_settles_it_once(api, world, stripe):  # noqa: F811
    inv = invoiced(api, "BIGBUY", (("WIDGET", "2"),))
    assert (inv["gross_total"], inv["payment_status"]) == ("21.25", "open")  # 2 x 10.00 + 6.25 % tax
    buyer, company = actor(world, "buyer"), world["ids"]["company"]

    pay = invoice_cards.pay_invoice(buyer, company, inv["id"], "pm_card_visa", idempotency_key="click-1")
    again = invoice_cards.pay_invoice(buyer, company, inv["id"], "pm_card_visa", idempotency_key="click-1")

    assert again.id == pay.id and (pay.method, pay.amount, pay.source) == ("card", D("21.25"), "card")
    assert pay.reference.startswith("pi_")
    after = ok(api.get(f"/invoices/{inv['id']}", user="admin"))
    assert (after["open_amount"], after["payment_status"]) == ("0.00", "paid")
    assert len(gateway_posts(stripe, "/payment_intents")) == 1  # one authorisation...
    assert len(stripe.intents) == 1 and [i.status for i in stripe.intents.values()] == ["succeeded"]
    assert len(payments_of(world["ids"]["BIGBUY"])) == 1
    assert_ledger_agrees(company)


def test_part_of_an_invoice_is_paid_and_the_rest_stays_open(api, world, stripe):  # noqa: F811
    inv = invoiced(api, "BIGBUY", (("WIDGET", "2"),))
    invoice_cards.pay_invoice(actor(world, "buyer"), world["ids"]["company"], inv["id"], "pm_card_visa", "10.00",
                              idempotency_key="part")
    after = ok(api.get(f"/invoices/{inv['id']}", user="admin"))
    assert (after["open_amount"], after["payment_status"]) == ("11.25", "partially_paid")


def test_a_declined_card_is_refused_beside_the_card_and_records_nothing(api, world, stripe):  # noqa: F811
    inv = invoiced(api, "BIGBUY", (("WIDGET", "2"),))
    with pytest.raises(CardDeclined) as refused:
        invoice_cards.pay_invoice(actor(world, "buyer"), world["ids"]["company"], inv["id"],
                                  "pm_card_chargeDeclinedInsufficientFunds", idempotency_key="k1")
    assert refused.value.extra["field"] == "payment_method_token" and "insufficient_funds" in refused.value.detail
    assert ok(api.get(f"/invoices/{inv['id']}", user="admin"))["payment_status"] == "open"
    assert payments_of(world["ids"]["BIGBUY"]) == []


def test_refusals_before_the_gateway(api, world, stripe):  # noqa: F811
    inv = invoiced(api, "BIGBUY", (("WIDGET", "2"),))
    company = world["ids"]["company"]
    with pytest.raises(NotFound):  # TIDY's buyer: BIGBUY's invoice does not exist for her
        invoice_cards.pay_invoice(actor(world, "tidybuyer"), company, inv["id"], "pm_card_visa", idempotency_key="x")
    with pytest.raises(ValidationFailed) as too_much:
        invoice_cards.pay_invoice(actor(world, "buyer"), company, inv["id"], "pm_card_visa", "21.26",
                                  idempotency_key="y")
    assert too_much.value.errors[0].field == "amount"
    with pytest.raises(ValidationFailed) as card_data:
        invoice_cards.pay_invoice(actor(world, "buyer"), company, inv["id"], "4242 4242 4242 4242",
                                  idempotency_key="z")
    assert card_data.value.errors[0].field == "payment_method_token" and "4242" not in card_data.value.detail
    assert stripe.requests == [] and payments_of(world["ids"]["BIGBUY"]) == []


def test_without_a_gateway_card_payments_are_refused(api, world, monkeypatch):
    monkeypatch.delenv("O2C_STRIPE_SECRET_KEY", raising=False)
    get_settings.cache_clear()
    inv = invoiced(api, "BIGBUY", (("WIDGET", "2"),))
    with pytest.raises(Conflict) as refused:
        invoice_cards.pay_invoice(actor(world, "buyer"), world["ids"]["company"], inv["id"], "pm_card_visa",
                                  idempotency_key="k")
    assert refused.value.extra["field"] == "payment_method_token" and "not set up" in refused.value.detail
    get_settings.cache_clear()
