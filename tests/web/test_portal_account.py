"""The customer portal's money side, as BIGBUY's buyer uses it: invoices and credit notes with their PDFs,
the statement of account, paying an open invoice by card (through the local Stripe), and asking to return
delivered goods. Then the same pages asked by TIDY's buyer with BIGBUY's ids: not found, nothing shown."""
from __future__ import annotations

import re
from decimal import Decimal as D

import pytest
from sqlalchemy import func, select

from o2c.core import clock
from o2c.core.db import read_session
from o2c.core.events import dispatch_pending
from o2c.payments.models import Payment
from o2c.returns import service as returns
from o2c.returns.models import Return
from tests.books import assert_ledger_agrees
from tests.concurrency.test_fulfilment_races import shipped_shipment
from tests.fulfillment.flow import MONDAY, ok
from tests.payments.card_world import stripe  # noqa: F401 (the fixture)
from tests.payments.support import actor, invoiced
from tests.shipping_world import equip
from tests.web.support import log_in

KEY = re.compile(r'name="idempotency_key" value="([^"]+)"')


@pytest.fixture
def shop(api):
    """Monday 30 November 2026 in Chicago, a warehouse that ships: BIGBUY's invoices are made as in life."""
    clock.freeze(MONDAY)
    equip(api)
    return api


def credit(api, inv: dict, quantity: str = "1") -> dict:
    """The biller takes `quantity` of the invoice's first line back with a credit note."""
    return ok(api.post(f"/invoices/{inv['id']}/credit-notes", user="biller",
                       json={"reason": "one arrived scratched", "lines": [{"line_no": 1, "quantity": quantity}]}), 201)


def delivered_order(api, customer: str = "BIGBUY", lines=(("WIDGET", "3"),)) -> dict:
    """An order shipped, invoiced and delivered (the carrier's delivered scan)."""
    shipped = shipped_shipment(api, customer, lines)
    ok(api.post("/tracking-events", user="keeper", json={
        "tracking_number": shipped["packages"][0]["tracking_number"], "kind": "delivered",
        "occurred_at": MONDAY.isoformat(), "location": "front door"}), 201)
    dispatch_pending()
    return ok(api.get(f"/orders/{shipped['order_id']}", user="admin"))


def card_payments(customer_id: int) -> list[tuple[D, str]]:
    """(amount, gateway reference) of the customer's card payments."""
    with read_session() as s:
        return [tuple(r) for r in s.execute(select(Payment.amount, Payment.reference).where(
            Payment.customer_id == customer_id, Payment.method == "card"))]


def returns_of(customer_id: int) -> int:
    with read_session() as s:
        return s.scalar(select(func.count()).select_from(Return).where(Return.customer_id == customer_id))


def row_of(html: str, number: str) -> str:
    m = re.search(r"<tr>(?:(?!</tr>).)*" + re.escape(number) + r".*?</tr>", html, re.S)
    assert m, f"{number} is not listed"
    return m.group(0)


def error_beside(html: str, field: str) -> str:
    m = re.search(rf'id="f-{field}-error" class="error-text">([^<]*)<', html)
    assert m, f"no error beside {field}"
    return m.group(1)


# --- invoices and credit notes ---------------------------------------------------------------------------

def test_the_invoices_page_shows_what_the_books_say(app, shop, world):
    api = shop
    first = invoiced(api, "BIGBUY", (("WIDGET", "2"),))
    second = invoiced(api, "BIGBUY", (("WIDGET", "4"),))
    note = credit(api, second)
    theirs = invoiced(api, "TIDY", (("WIDGET", "1"),))
    books = {i["number"]: i for i in ok(api.get("/invoices", user="admin",
                                                params={"customer_id": world["ids"]["BIGBUY"]}))["items"]}
    assert set(books) == {first["number"], second["number"]}

    b = log_in(app, "buyer")
    html = b.get("/portal/invoices").text
    for number, inv in books.items():
        row = row_of(html, number)
        assert "$" + inv["gross_total"] in row and "$" + inv["open_amount"] in row, row
        assert "Open" in row and f"/portal/invoices/{inv['id']}/pay" in row
    assert books[second["number"]]["open_amount"] == "31.87"  # 42.50 less the credit note's 10.63
    assert note["number"] in html and theirs["number"] not in html

    pdf = b.get(f"/portal/invoices/{first['id']}.pdf")
    assert pdf.status_code == 200 and pdf.content.startswith(b"%PDF")
    assert pdf.content == api.get(f"/invoices/{first['id']}.pdf", user="admin").content
    note_pdf = b.get(f"/portal/credit-notes/{note['id']}.pdf")
    assert note_pdf.content.startswith(b"%PDF")
    assert note_pdf.content == api.get(f"/credit-notes/{note['id']}.pdf", user="admin").content

    page = b.get(f"/portal/invoices/{second['id']}").text
    assert second["number"] in page and note["number"] in page and "$31.87" in page


def test_the_statement_closes_at_the_open_invoices_less_credit(app, shop, world):
    api = shop
    first = invoiced(api, "BIGBUY", (("WIDGET", "2"),))
    second = invoiced(api, "BIGBUY", (("WIDGET", "4"),))
    credit(api, second)
    invoiced(api, "TIDY", (("WIDGET", "1"),))
    opens = [D(ok(api.get(f"/invoices/{i['id']}", user="admin"))["open_amount"]) for i in (first, second)]
    account = ok(api.get(f"/customers/{world['ids']['BIGBUY']}/statement", user="admin"))
    expected = sum(opens) - D(account["unapplied_credit"])
    assert expected == D("53.12")  # 21.25 + 31.87

    b = log_in(app, "buyer")
    html = b.get("/portal/statement").text
    assert re.search(r'id="closing">\$([\d,.]+)<', html).group(1) == "53.12"
    assert first["number"] in html and "Credit note" in html
    pdf = b.get("/portal/statement.pdf")
    assert pdf.content.startswith(b"%PDF")
    assert pdf.content == api.get(f"/customers/{world['ids']['BIGBUY']}/statement.pdf", user="admin").content

    refused = b.get("/portal/statement?from=2026-12-31&as_of=2026-11-30")
    assert refused.status_code == 422 and "after the statement date" in error_beside(refused.text, "from")


# --- paying by card ------------------------------------------------------------------------------------

def test_paying_an_invoice_by_card_marks_it_paid_with_one_payment(app, shop, world, stripe):  # noqa: F811
    inv = invoiced(shop, "BIGBUY", (("WIDGET", "2"),))
    b = log_in(app, "buyer")
    form = b.get(f"/portal/invoices/{inv['id']}/pay").text
    assert '<label for="f-payment_method_token">Card' in form and "$21.25" in form
    key = KEY.search(form).group(1)

    done = b.post(f"/portal/invoices/{inv['id']}/pay",
                  {"amount": "21.25", "payment_method_token": "pm_card_visa", "idempotency_key": key})
    assert done.status_code == 303 and done.headers["location"] == f"/portal/invoices/{inv['id']}"
    page = b.get(done.headers["location"]).text
    assert 'badge s-paid">Paid' in page and "paid by card" in page
    [(amount, reference)] = card_payments(world["ids"]["BIGBUY"])
    assert amount == D("21.25") and reference.startswith("pi_")
    assert ok(shop.get(f"/invoices/{inv['id']}", user="admin"))["payment_status"] == "paid"
    assert_ledger_agrees(world["ids"]["company"])


def test_a_double_clicked_pay_charges_once(app, shop, world, stripe):  # noqa: F811
    inv = invoiced(shop, "BIGBUY", (("WIDGET", "2"),))
    b = log_in(app, "buyer")
    key = KEY.search(b.get(f"/portal/invoices/{inv['id']}/pay").text).group(1)
    sent = {"amount": "21.25", "payment_method_token": "pm_card_visa", "idempotency_key": key}
    first, second = (b.post(f"/portal/invoices/{inv['id']}/pay", sent) for _ in range(2))
    assert first.status_code == second.status_code == 303
    assert len(card_payments(world["ids"]["BIGBUY"])) == 1
    assert [i.status for i in stripe.intents.values()] == ["succeeded"]  # one charge at the gateway


def test_a_declined_card_is_refused_beside_the_card_and_the_invoice_stays_open(app, shop, world, stripe):  # noqa: F811
    inv = invoiced(shop, "BIGBUY", (("WIDGET", "2"),))
    b = log_in(app, "buyer")
    key = KEY.search(b.get(f"/portal/invoices/{inv['id']}/pay").text).group(1)
    refused = b.post(f"/portal/invoices/{inv['id']}/pay", {"amount": "21.25", "payment_method_token":
                                                           "pm_card_chargeDeclined", "idempotency_key": key})
    assert refused.status_code == 422
    assert "declined" in error_beside(refused.text, "payment_method_token")
    assert 'value="21.25"' in refused.text  # what was typed is kept
    assert KEY.search(refused.text).group(1) != key  # another card is a new attempt
    assert ok(shop.get(f"/invoices/{inv['id']}", user="admin"))["payment_status"] == "open"
    assert card_payments(world["ids"]["BIGBUY"]) == []

    too_much = b.post(f"/portal/invoices/{inv['id']}/pay", {"amount": "30.00", "payment_method_token":
                                                            "pm_card_visa", "idempotency_key": "k2"})
    assert too_much.status_code == 422 and "more than" in error_beside(too_much.text, "amount")


def test_without_a_gateway_the_pay_page_says_card_payments_are_not_set_up(app, shop, monkeypatch):
    from o2c.core.settings import get_settings

    monkeypatch.delenv("O2C_STRIPE_SECRET_KEY", raising=False)
    get_settings.cache_clear()
    inv = invoiced(shop, "BIGBUY", (("WIDGET", "2"),))
    html = log_in(app, "buyer").get(f"/portal/invoices/{inv['id']}/pay").text
    assert "Card payments are not set up" in html and "payment_method_token" not in html


# --- returns ---------------------------------------------------------------------------------------

def test_a_return_of_delivered_lines_is_requested_and_too_many_are_refused_beside_the_field(app, shop, world):
    order = delivered_order(shop, "BIGBUY", (("WIDGET", "3"),))
    not_yet = ok(shop.get(f"/orders/{shipped_shipment(shop, 'BIGBUY', (('WIDGET', '1'),))['order_id']}",
                          user="admin"))
    with read_session() as s:
        [line] = returns.returnable_lines(s, actor(world, "buyer"), world["ids"]["company"], order["id"])
    assert (line["line_no"], line["delivered"], line["returnable"]) == (1, D(3), D(3))

    b = log_in(app, "buyer")
    form = b.get(f"/portal/returns/new?order_id={order['id']}").text
    assert 'name="qty_1"' in form and "WIDGET" in form

    too_many = b.post(f"/portal/returns/new?order_id={order['id']}",
                      {"qty_1": "4", "reason_1": "defective", "outcome": "refund"})
    assert too_many.status_code == 422 and "only 3 of line 1" in error_beside(too_many.text, "qty_1")
    assert 'value="4"' in too_many.text and returns_of(world["ids"]["BIGBUY"]) == 0

    no_reason = b.post(f"/portal/returns/new?order_id={order['id']}", {"qty_1": "1", "reason_1": "", "outcome": "refund"})
    assert no_reason.status_code == 422 and error_beside(no_reason.text, "reason_1")

    undelivered = b.post(f"/portal/returns/new?order_id={not_yet['id']}",
                         {"qty_1": "1", "reason_1": "defective", "outcome": "refund"})
    assert undelivered.status_code == 422 and "not delivered" in error_beside(undelivered.text, "qty_1")

    done = b.post(f"/portal/returns/new?order_id={order['id']}",
                  {"qty_1": "2", "reason_1": "defective", "outcome": "refund", "notes": "they rattle"})
    assert done.status_code == 303 and done.headers["location"] == "/portal/returns"
    listed = b.get("/portal/returns").text
    row = row_of(listed, "RMA00000001")
    assert order["number"] in row and "2 × WIDGET" in row and "Requested" in row


# --- another customer's ids ------------------------------------------------------------------------

@pytest.fixture
def bigbuy(shop, world):
    """BIGBUY's records: an invoice with a credit note, a delivered order, a return."""
    inv = invoiced(shop, "BIGBUY", (("WIDGET", "2"),))
    note = credit(shop, inv)
    order = delivered_order(shop, "BIGBUY", (("WIDGET", "3"),))
    ret = ok(shop.post("/returns", user="buyer", json={"order_id": order["id"], "outcome": "refund", "lines": [
        {"line_no": 1, "quantity": "1", "reason": "defective"}]}), 201)
    secrets = [inv["number"], note["number"], order["number"], ret["rma_number"], "BIGBUY", "$21.25"]
    return {"invoice": inv["id"], "note": note["id"], "order": order["id"], "return": ret["id"], "secrets": secrets}


ROUTES = {
    "invoices": ("get", "/portal/invoices", 200),
    "invoice": ("get", "/portal/invoices/{invoice}", 404),
    "invoice_pdf": ("get", "/portal/invoices/{invoice}.pdf", 404),
    "credit_note_pdf": ("get", "/portal/credit-notes/{note}.pdf", 404),
    "pay_form": ("get", "/portal/invoices/{invoice}/pay", 404),
    "pay": ("post", "/portal/invoices/{invoice}/pay", 404),
    "statement": ("get", "/portal/statement", 200),
    "statement_pdf": ("get", "/portal/statement.pdf", 200),
    "returns": ("get", "/portal/returns", 200),
    "return_form": ("get", "/portal/returns/new?order_id={order}", 404),
    "return_request": ("post", "/portal/returns/new?order_id={order}", 404),
}


@pytest.mark.parametrize("route", list(ROUTES))
def test_another_customers_ids_find_nothing(app, bigbuy, world, route, stripe):  # noqa: F811
    verb, path, status = ROUTES[route]
    b = log_in(app, "tidybuyer")
    url = path.format(**bigbuy)
    if verb == "post":
        r = b.post(url, {"amount": "1.00", "payment_method_token": "pm_card_visa", "idempotency_key": "k",
                         "qty_1": "1", "reason_1": "defective", "outcome": "refund"})
    else:
        r = b.get(url)
    assert r.status_code == status, (r.status_code, r.text[:300])
    shown = r.content.decode("latin-1")
    assert not [s for s in bigbuy["secrets"] if s in shown]
    if status == 404:
        assert "not found" in r.text.lower()
    assert stripe.requests == [] and card_payments(world["ids"]["BIGBUY"]) == []
    assert returns_of(world["ids"]["BIGBUY"]) == 1 and returns_of(world["ids"]["TIDY"]) == 0
