"""The billing and receivables pages: their figures are the books', a payment recorded on the page settles
the invoice, bad input is refused beside its field with nothing stored, a bank statement's lines sit beside
their suggestions and each is decided once, reminders go out once a day, ageing adds up, and who may act."""
from __future__ import annotations

import re
from datetime import date
from decimal import Decimal as D
from pathlib import Path

import pytest

from o2c.core import clock
from o2c.demo_bank import Entry, statement
from o2c.web.ui.pages import money
from tests.dunning.support import on
from tests.fulfillment.flow import MONDAY, changed, everything, ok
from tests.payments.support import invoiced
from tests.shipping_world import equip
from tests.web.support import log_in

SAMPLES = Path(__file__).resolve().parent.parent / "fixtures" / "03-bank-statements" / "camt"


@pytest.fixture
def books(api, world):
    """Two invoices of BIGBUY's for 21.25 each and one of TIDY's for 10 widgets, issued on 30 November;
    nothing paid yet."""
    clock.freeze(MONDAY)
    equip(api)
    yield api, world["ids"], invoiced(api), invoiced(api), invoiced(api, customer="TIDY", lines=(("WIDGET", "10"),))
    clock.freeze(None)


def kpi(html: str, element_id: str) -> str:
    m = re.search(rf'id="{re.escape(element_id)}"><div class="v">([^<]+)<', html)
    assert m, element_id
    return m.group(1)


def text_of(html: str, element_id: str) -> str:
    m = re.search(rf'id="{re.escape(element_id)}"[^>]*>([^<]+)<', html)
    assert m, element_id
    return m.group(1)


def invoice_api(api, inv: dict) -> dict:
    return ok(api.get(f"/invoices/{inv['id']}", user="cashier"))


def test_the_overview_and_the_invoice_pages_show_the_books(app, books):
    api, ids, a, b, tidy = books
    page = log_in(app, "cashier")
    clock.freeze(MONDAY.replace(month=12, day=31))  # a's, b's and tidy's due date (net 30) has passed
    accounts = [ok(api.get(f"/customers/{ids[c]}/account", user="cashier")) for c in ("BIGBUY", "TIDY")]
    overview = page.get("/app/billing")
    assert overview.status_code == 200
    assert kpi(overview.text, "open-USD") == money(sum(D(acc["open_total"]) for acc in accounts), "USD")
    assert kpi(overview.text, "overdue-USD") == money(sum(D(acc["overdue_total"]) for acc in accounts), "USD")
    assert kpi(overview.text, "credit-USD") == "$0.00"

    listed = page.get("/app/billing/invoices", params={"customer": "bigbuy", "state": "overdue"}).text
    assert a["number"] in listed and b["number"] in listed and tidy["number"] not in listed
    assert listed.count(money(a["gross_total"], "USD")) == 4  # total and open of each
    assert tidy["number"] not in page.get("/app/billing/invoices", params={"state": "paid"}).text
    refused = page.get("/app/billing/invoices", params={"customer": "NOBODY", "from": "30/11/2026"})
    assert refused.status_code == 422
    assert 'id="f-customer-error"' in refused.text and "there is no customer &#39;NOBODY&#39;" in refused.text
    assert 'id="f-from-error"' in refused.text and 'value="30/11/2026"' in refused.text

    inv = invoice_api(api, tidy)
    detail = page.get(f"/app/billing/invoices/{tidy['id']}").text
    for key in ("net_total", "tax_total", "gross_total", "open_amount"):
        assert text_of(detail, key.replace("_", "-")) == money(inv[key], "USD"), key
    assert text_of(detail, "due-date") == inv["due_date"]
    assert f'href="/app/orders/{inv["order_id"]}"' in detail
    assert "WIDGET" in detail and money(inv["lines"][0]["tax_amount"], "USD") in detail
    assert "Overdue" in detail and "Nothing settled yet" in detail


def test_the_pdf_is_the_api_pdf_and_another_company_s_invoice_is_not_found(app, books):
    api, ids, a, b, tidy = books
    page = log_in(app, "biller")
    pdf = page.get(f"/app/billing/invoices/{a['id']}.pdf")
    assert pdf.status_code == 200 and pdf.headers["content-type"] == "application/pdf"
    assert pdf.content == api.get(f"/invoices/{a['id']}.pdf", user="biller").content
    assert page.get("/app/billing/invoices/999999").status_code == 404
    assert log_in(app, "viewer").get("/app/billing/invoices").status_code == 403  # no billing permission


def test_a_credit_note_is_listed_with_its_invoice_and_its_pdf(app, books):
    api, ids, a, b, tidy = books
    note = ok(api.post(f"/invoices/{tidy['id']}/credit-notes", user="biller",
                       json={"reason": "damaged", "lines": [{"line_no": 1, "quantity": "1"}]}), 201)
    page = log_in(app, "biller")
    listed = page.get("/app/billing/credit-notes").text
    assert note["number"] in listed and tidy["number"] in listed
    detail = page.get(f"/app/billing/credit-notes/{note['id']}").text
    assert text_of(detail, "gross-total") == money(note["gross_total"], "USD")
    assert page.get(f"/app/billing/credit-notes/{note['id']}.pdf").content == \
        api.get(f"/credit-notes/{note['id']}.pdf", user="biller").content
    invoice_page = page.get(f"/app/billing/invoices/{tidy['id']}").text
    assert note["number"] in invoice_page
    assert text_of(invoice_page, "open-amount") == money(invoice_api(api, tidy)["open_amount"], "USD")


def test_recording_a_payment_settles_the_invoice(app, books):
    api, ids, a, b, tidy = books
    page = log_in(app, "cashier")
    form = page.get(f"/app/billing/payments/new?customer=BIGBUY&invoice={a['id']}")
    assert form.status_code == 200
    assert f'name="settle-{a["id"]}" type="text" value="21.25"' in form.text  # what is open on it
    key = re.search(r'name="form_key" value="([^"]+)"', form.text).group(1)
    typed = {"customer": "BIGBUY", "amount": "21.25", "currency": "USD", "method": "cheque",
             "reference": "cheque 1001", "received_on": "2026-11-30", f"settle-{a['id']}": "21.25",
             f"settle-{b['id']}": "", "form_key": key}
    r = page.post("/app/billing/payments/new", typed)
    assert r.status_code == 303 and r.headers["location"] == "/app/billing/payments"
    again = page.post("/app/billing/payments/new", typed)  # a double-clicked submit: the same payment
    assert again.status_code == 303
    [payment] = ok(api.get("/payments", user="cashier"))["items"]
    assert (payment["amount"], payment["reference"], payment["method"]) == ("21.25", "cheque 1001", "cheque")

    assert invoice_api(api, a)["payment_status"] == "paid"
    detail = page.get(f"/app/billing/invoices/{a['id']}").text
    assert 'class="badge s-paid">Paid<' in detail and text_of(detail, "open-amount") == "$0.00"
    assert payment["number"] in detail
    listed = page.get("/app/billing/payments").text
    assert payment["number"] in listed and a["number"] in listed


def test_a_bad_amount_is_refused_beside_its_field_with_what_was_typed_and_nothing_stored(app, books):
    api, ids, a, b, tidy = books
    page = log_in(app, "cashier")
    before = everything()
    r = page.post("/app/billing/payments/new", {"customer": "BIGBUY", "amount": "12,3x", "currency": "USD",
                                                "method": "bank_transfer", f"settle-{a['id']}": "12.30"})
    assert r.status_code == 422
    assert 'id="f-amount-error"' in r.text and "&#39;12,3x&#39; is not an amount" in r.text
    assert 'name="amount" type="text" value="12,3x"' in r.text
    assert f'name="settle-{a["id"]}" type="text" value="12.30"' in r.text

    # The service's refusals land beside their fields too: more than is open on an invoice.
    r = page.post("/app/billing/payments/new", {"customer": "BIGBUY", "amount": "30.00", "currency": "USD",
                                                "method": "bank_transfer", f"settle-{a['id']}": "30.00"})
    assert r.status_code == 422
    assert f'id="f-settle-{a["id"]}-error"' in r.text and "only 21.25 is open on it" in r.text
    r = page.post("/app/billing/payments/new", {"customer": "NOBODY", "amount": "1.00"})
    assert r.status_code == 422 and 'id="f-customer-error"' in r.text
    assert changed(before, everything()) == []


def test_who_may_record_a_payment(app, books):
    page = log_in(app, "biller")  # billing issues credit notes; receivables records the money
    form = page.get("/app/billing/payments/new?customer=BIGBUY").text
    assert "needs the payments.write permission" in form
    r = page.post("/app/billing/payments/new", {"customer": "BIGBUY", "amount": "1.00", "currency": "USD",
                                                "method": "cash"})
    assert r.status_code == 403 and "payments.write" in r.text


def test_a_statement_is_listed_beside_its_suggestions_and_each_line_is_decided_once(app, books):
    api, ids, a, b, tidy = books
    clock.freeze(MONDAY.replace(day=30, month=11, hour=23))
    camt = statement([
        Entry("21.25", "BIGBUY Inc.", "DE89370400440532013000", "widgets"),  # fits both of BIGBUY's invoices
        Entry("15.00", "Someone", None, "deposit"),
        Entry("4.00", "Bank", None, "interest"),
        Entry("-5.00", "Bank", None, "fees"),
    ], day=date(2026, 11, 30))
    cashier, biller = log_in(app, "cashier"), log_in(app, "biller")
    r = cashier.post("/app/billing/statements", files={"file": ("nov30.xml", camt, "application/xml")})
    assert r.status_code == 303
    [st] = ok(api.get("/bank-statements", user="cashier"))["items"]
    assert r.headers["location"] == f"/app/billing/statements/{st['id']}"
    lines = ok(api.get(f"/bank-statements/{st['id']}", user="cashier"))["lines"]
    both, stranger, interest, debit = lines
    assert both["status"] == "suggested" and stranger["status"] == "unmatched"

    listed = cashier.get("/app/billing/statements").text
    assert "nov30.xml" in listed and "0.0%" in listed  # nothing was sure enough to book by itself
    shown = cashier.get(f"/app/billing/statements/{st['id']}").text
    card = shown[shown.index(f'id="line-{both["id"]}"'):shown.index(f'id="line-{stranger["id"]}"')]
    assert "BIGBUY Inc." in card and "widgets" in card and a["number"] in card and b["number"] in card
    assert f"confidence {D(both['confidence']) * 100:.0f}%" in card
    assert f'action="/app/billing/statement-lines/{both["id"]}/confirm"' in card

    # The biller may read the statement, not decide on it: the button is there, disabled, with why.
    seen = biller.get(f"/app/billing/statements/{st['id']}").text
    assert f'action="/app/billing/statement-lines/{both["id"]}/confirm"' not in seen
    assert "needs the reconciliation.write permission" in seen and "disabled" in seen
    assert biller.post(f"/app/billing/statement-lines/{both['id']}/confirm").status_code == 403

    r = cashier.post(f"/app/billing/statement-lines/{both['id']}/confirm")
    assert r.status_code == 303
    assert invoice_api(api, a)["payment_status"] == "paid" and invoice_api(api, b)["payment_status"] == "open"
    before = everything()
    again = cashier.post(f"/app/billing/statement-lines/{both['id']}/confirm")
    assert again.status_code == 409
    assert f"statement line {both['id']} is confirmed by cashier" in again.text and "decided once" in again.text
    assert changed(before, everything()) == []

    # Re-match: the stranger's money to TIDY's invoice, in part; the bank's interest ignored with a reason.
    r = cashier.post(f"/app/billing/statement-lines/{stranger['id']}/match?back=queue",
                     {"invoice_id": str(tidy["id"]), "amount": "1,5x"})
    assert r.status_code == 422 and f'id="m-{stranger["id"]}-amount-error"' in r.text
    assert 'value="1,5x"' in r.text and f'<option value="{tidy["id"]}" selected>' in r.text
    r = cashier.post(f"/app/billing/statement-lines/{stranger['id']}/match", {"invoice_id": str(tidy["id"]),
                                                                             "amount": "15.01"})
    assert r.status_code == 422 and "more than the line" in r.text
    r = cashier.post(f"/app/billing/statement-lines/{stranger['id']}/match?back=queue",
                     {"invoice_id": str(tidy["id"]), "amount": "15.00"})
    assert r.status_code == 303 and r.headers["location"].startswith("/app/billing/reconciliation")
    assert invoice_api(api, tidy)["open_amount"] == str(D(tidy["gross_total"]) - 15)
    queue = cashier.get("/app/billing/reconciliation").text
    assert f'id="line-{interest["id"]}"' in queue and f'id="line-{stranger["id"]}"' not in queue
    r = cashier.post(f"/app/billing/statement-lines/{interest['id']}/ignore?back=queue", {"reason": " "})
    assert r.status_code == 422 and f'id="i-{interest["id"]}-reason-error"' in r.text
    assert "say why the line is not a customer" in r.text
    r = cashier.post(f"/app/billing/statement-lines/{interest['id']}/ignore?back=queue", {"reason": "bank interest"})
    assert r.status_code == 303
    assert "Nothing waits" in cashier.get("/app/billing/reconciliation").text
    shown = cashier.get(f"/app/billing/statements/{st['id']}").text
    assert "bank interest" in shown and "Money going out" in shown


def test_a_camt_sample_file_is_imported_and_a_broken_one_refused_beside_the_file_field(app, world):
    page = log_in(app, "cashier")
    before = everything()
    broken = (SAMPLES / "oca_test-camt053.xml").read_bytes()
    r = page.post("/app/billing/statements", files={"file": ("oca.xml", broken, "application/xml")})
    assert r.status_code == 422 and 'id="f-file-error"' in r.text and "does not add up" in r.text
    assert changed(before, everything()) == []
    sample = (SAMPLES / "ofxstatement-iso20022_camt053.xml").read_bytes()
    r = page.post("/app/billing/statements", files={"file": ("chf.xml", sample, "application/xml")})
    assert r.status_code == 303
    shown = page.get(r.headers["location"]).text
    assert "CHF" in shown and "1,284.30" in shown and "Unmatched" in shown
    again = page.post("/app/billing/statements", files={"file": ("chf.xml", sample, "application/xml")})
    assert again.status_code == 409 and "imported" in again.text and 'id="f-file-error"' in again.text


def test_reminders_run_twice_the_same_day_send_nothing_new(app, books):
    api, ids, a, b, tidy = books
    on(2027, 1, 21)  # 22 days past due: the second reminder, with its fee
    page = log_in(app, "biller")
    r = page.post("/app/billing/reminders/run")
    assert r.status_code == 303
    sent = ok(api.get("/reminders", user="biller"))["items"]
    assert {rem["customer_id"] for rem in sent} == {ids["BIGBUY"], ids["TIDY"]}
    shown = page.get("/app/billing/reminders")
    assert all(rem["number"] in r.cookies.get("o2c_flash", "") for rem in sent)
    for rem in sent:
        assert rem["number"] in shown.text and money(rem["fee"], "USD") in shown.text
    assert a["number"] in shown.text and tidy["number"] in shown.text

    again = page.post("/app/billing/reminders/run")
    assert again.status_code == 303 and "nothing new to send" in again.cookies.get("o2c_flash", "")
    assert ok(api.get("/reminders", user="biller"))["items"] == sent
    viewer = log_in(app, "auditor").get("/app/billing/reminders").text  # reads, may not run them
    assert "needs the dunning.write permission" in viewer


def test_ageing_buckets_add_up_to_the_open_total(app, books):
    api, ids, a, b, tidy = books
    on(2027, 1, 21)
    ok(api.post("/reminders/run", user="biller"))  # the fees are open items too
    ok(api.post("/payments", user="cashier", json={"customer_id": ids["LOYAL"], "method": "cash",
                                                   "currency": "USD", "amount": "7.00"}), 201)
    cashier = log_in(app, "cashier")
    assert kpi(cashier.get("/app/billing").text, "credit-USD") == "$7.00"  # LOYAL's payment, unapplied
    page = cashier.get("/app/billing/ageing")
    assert page.status_code == 200
    [books_] = ok(api.get("/ledger/ageing", user="cashier"))
    html = page.text
    total = sum((D(v) for v in books_["buckets"].values()), D(0))
    assert D(books_["total"]) == total
    assert text_of(html, "total-USD") == money(total, "USD")
    row = html[html.index('id="ageing-USD-total"'):]
    row = row[:row.index("</tr>")]
    shown = re.findall(r'class="num">([^<]+)<', row)
    assert shown[:5] == [money(books_["buckets"][k], "USD") for k in books_["buckets"]]
    assert money(books_["unapplied_credit"], "USD") == "$7.00" and "$7.00" in row
    for c in books_["customers"]:
        assert f'id="ageing-USD-{c["code"]}"' in html
    [dso] = ok(api.get("/ledger/dso", user="cashier"))
    assert text_of(html, "dso-USD") == f"{D(dso['dso']):,.1f}"
    assert log_in(app, "viewer").get("/app/billing/ageing").status_code == 403


def test_find_invoices_narrows_by_what_is_open_and_when_and_settlements_name_their_payment(books, world):
    from o2c.billing import service as billing
    from o2c.core.db import read_session
    from o2c.core.errors import NotFound
    from o2c.payments import service as payments
    from tests.payments.support import actor

    api, ids, a, b, tidy = books
    paid = ok(api.post("/payments", user="cashier", json={
        "customer_id": ids["BIGBUY"], "method": "cash", "currency": "USD", "amount": "21.25",
        "applications": [{"invoice_id": a["id"], "amount": "21.25"}]}), 201)
    biller, buyer = actor(world, "biller"), actor(world, "buyer")
    cid = ids["company"]

    def found(who=biller, **kw) -> list[int]:
        with read_session() as s:
            return [inv.id for inv in billing.find_invoices(s, who, cid, **kw)]

    assert found(state="paid") == [a["id"]]
    assert found(state="open") == [tidy["id"], b["id"]]
    assert found(state="overdue", today=date(2026, 12, 30)) == []  # due that day: not overdue yet
    assert found(state="overdue", today=date(2026, 12, 31)) == [tidy["id"], b["id"]]
    assert found(customer_id=ids["TIDY"]) == [tidy["id"]]
    assert found(issued_from=date(2026, 12, 1)) == [] and len(found(issued_to=date(2026, 11, 30))) == 3
    assert found(buyer) == [b["id"], a["id"]]  # a customer's user: their own invoices only
    assert found(limit=2) == [tidy["id"], b["id"]] and found(before_id=b["id"]) == [a["id"]]
    with pytest.raises(ValueError):
        found(state="late")

    with read_session() as s:
        [st] = payments.invoice_settlements(s, biller, cid, a["id"])
        assert (st["payment_number"], st["kind"], str(st["amount"])) == (paid["number"], "payment", "21.25")
        assert payments.invoice_settlements(s, biller, cid, b["id"]) == []
        with pytest.raises(NotFound):
            payments.invoice_settlements(s, actor(world, "tidybuyer"), cid, a["id"])
