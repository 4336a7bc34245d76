"""BIGBUY's statement of account, as a story. Over two months BIGBUY is invoiced twice, gets a credit
note, pays one invoice in part and sends money on account, and is reminded with a fee. Its statement
as of 21 January shows, read from the books: the opening balance of the month, each movement with its
running balance, the open items with due dates and days overdue (the fee among them), the credit it
holds, the balance and its ageing. The figures equal the ledger, and the PDF shows them.
"""
from __future__ import annotations

import io
from datetime import date, datetime, timezone
from decimal import Decimal as D

from pypdf import PdfReader

from o2c.core import clock
from o2c.core.db import read_session
from o2c.ledger import rules, service
from tests.billing.test_einvoice_export import portal_user, ship_order
from tests.billing.test_story_credit_notes import delivered_and_invoiced
from tests.fulfillment.flow import ok


def on(day: date) -> None:
    clock.freeze(datetime(day.year, day.month, day.day, 15, 0, tzinfo=timezone.utc))  # 09:00 in Chicago


def statement(api, customer_id: int, user: str = "biller", **params) -> dict:
    return ok(api.get(f"/customers/{customer_id}/statement", user=user, params=params))


def ledger_open_items(customer_id: int) -> dict[str, D]:
    """What the stored journal says is open per item of the customer (ledger.rules.open_items)."""
    with read_session() as s:
        entries = [service.as_entry(je) for je in reversed(service.list_entries(s, 1, limit=500))]
    out = {}
    for code in ("1100", "2200"):
        for (cust, item), amount in rules.open_items(entries, code).items():
            if cust == str(customer_id):
                out[item] = amount
    return out


def test_a_statement_of_account_shows_what_the_books_say(api, world):
    big = world["ids"]["BIGBUY"]

    # 30 November: INV-2026-000001, 229.50, due 30 December.
    order, inv1 = delivered_and_invoiced(api)
    # 7 December: two widgets credited (19.13); a gadget shipped and invoiced (23.91, due 6 January).
    on(date(2026, 12, 7))
    cn = ok(api.post(f"/invoices/{inv1['id']}/credit-notes", user="biller",
                     json={"reason": "two widgets scratched", "lines": [{"line_no": 1, "quantity": "2"}]}), 201)
    _, inv2 = ship_order(api, "BIGBUY", [("GADGET", "1")], "2.0")
    assert (cn["gross_total"], inv2["gross_total"], inv2["due_date"]) == ("19.13", "23.91", "2027-01-06")
    # 20 December: 150.00 paid on INV-1. 5 January: 30.00 sent with no invoice named.
    on(date(2026, 12, 20))
    pay1 = ok(api.post("/payments", user="cashier", json={
        "customer_id": big, "method": "bank_transfer", "currency": "USD", "amount": "150.00",
        "applications": [{"invoice_id": inv1["id"], "amount": "150.00"}]}), 201)
    on(date(2027, 1, 5))
    pay2 = ok(api.post("/payments", user="cashier", json={
        "customer_id": big, "method": "bank_transfer", "currency": "USD", "amount": "30.00"}), 201)
    # 21 January: INV-1 is 22 days overdue, INV-2 15: one reminder at the second level, with its fee.
    on(date(2027, 1, 21))
    run = ok(api.post("/reminders/run", user="biller", json={}))
    [reminder] = ok(api.get("/reminders", user="biller", params={"customer_id": big}))["items"]
    fee = reminder["fee"]
    assert fee == "5.00", run  # the second level (21 days past due) charges 5.00

    # The statement of January so far (default: as of today, from the first of the month).
    st = statement(api, big)
    assert (st["as_of"], st["from"], st["currency"], st["customer_code"]) == ("2027-01-21", "2027-01-01", "USD", "BIGBUY")
    opening = D("229.50") - D("19.13") + D("23.91") - D("150.00")
    assert st["opening_balance"] == f"{opening}" == "84.28"
    fee_item = reminder["number"]
    assert [(m["date"], m["kind"], m["document"], m["charge"], m["credit"], m["balance"]) for m in st["movements"]] == [
        ("2027-01-05", "payment", pay2["number"], "0.00", "30.00", "54.28"),
        ("2027-01-21", "fee", fee_item, fee, "0.00", f"{D('54.28') + D(fee)}")]
    balance = D("54.28") + D(fee)
    assert (st["closing_balance"], st["balance"]) == (f"{balance}", f"{balance}")
    assert [(o["item"], o["kind"], o["due_date"], o["days_overdue"], o["charged"], o["open"]) for o in st["open_items"]] == [
        ("INV-2026-000001", "invoice", "2026-12-30", 22, "229.50", "60.37"),  # 229.50 - 19.13 - 150.00
        ("INV-2026-000002", "invoice", "2027-01-06", 15, "23.91", "23.91"),
        (fee_item, "fee", "2027-01-21", 0, fee, fee)]
    assert [(c["item"], c["kind"], c["amount"]) for c in st["credits"]] == [(pay2["number"], "payment", "30.00")]
    assert (st["open_total"], st["overdue_total"], st["unapplied_credit"]) == (
        f"{D('84.28') + D(fee)}", "84.28", "30.00")
    assert st["ageing"] == {"current": fee, "1-30": "84.28", "31-60": "0.00", "61-90": "0.00", "90+": "0.00"}

    # It equals the books: the customer's subledger balance and every open item of the journal.
    [tb] = ok(api.get("/ledger/trial-balance", user="biller"))
    assert D(tb["receivables"]["customers"][str(big)]) == balance
    books = ledger_open_items(big)
    assert {o["item"]: D(o["open"]) for o in st["open_items"]} | {c["item"]: -D(c["amount"]) for c in st["credits"]} == books

    # As of the end of December, from the first: the credit note, the second invoice and the payment.
    dec = statement(api, big, as_of="2026-12-31", **{"from": "2026-12-01"})
    assert dec["opening_balance"] == "229.50"
    assert [(m["kind"], m["document"], m["charge"], m["credit"], m["balance"]) for m in dec["movements"]] == [
        ("credit_note", "CN-2026-000001", "0.00", "19.13", "210.37"),
        ("invoice", "INV-2026-000002", "23.91", "0.00", "234.28"),
        ("payment", pay1["number"], "0.00", "150.00", "84.28")]
    assert [(o["item"], o["days_overdue"]) for o in dec["open_items"]] == [("INV-2026-000001", 1), ("INV-2026-000002", 0)]
    assert dec["credits"] == [] and dec["ageing"]["1-30"] == "60.37" and dec["ageing"]["current"] == "23.91"

    # 2. The PDF shows the same figures.
    r = api.get(f"/customers/{big}/statement.pdf", user="biller")
    assert r.status_code == 200 and r.headers["content-type"] == "application/pdf"
    page = " ".join(" ".join(p.extract_text().split()) for p in PdfReader(io.BytesIO(r.content)).pages)
    for shown in ("STATEMENT OF ACCOUNT", "BIGBUY Inc.", "As of: 2027-01-21", "Opening balance 84.28",
                  f"{pay2['number']}", "INV-2026-000001", "2026-12-30", "60.37", "INV-2026-000002", fee_item,
                  "Unapplied credit 30.00", f"Balance due USD {balance}", "Of which overdue 84.28"):
        assert shown in page, shown
    assert r.content == api.get(f"/customers/{big}/statement.pdf", user="biller").content  # same bytes

    # 3. A portal user sees their own customer's statement, and no one else's.
    api.keys["bigbuy"] = portal_user(world, "bigbuy_ap", "BIGBUY")
    api.keys["tidy"] = portal_user(world, "tidy_ap", "TIDY")
    assert statement(api, big, user="bigbuy")["balance"] == f"{balance}"
    assert api.get(f"/customers/{big}/statement", user="tidy").status_code == 404
    assert api.get(f"/customers/{big}/statement.pdf", user="tidy").status_code == 404

    # 4. Bad input names the field.
    r = api.get(f"/customers/{big}/statement", user="biller", params={"as_of": "2026-12-01", "from": "2026-12-02"})
    assert r.status_code == 422 and [e["field"] for e in r.json()["errors"]] == ["from"]
    r = api.get(f"/customers/{big}/statement", user="biller", params={"currency": "usd"})
    assert r.status_code == 422 and [e["field"] for e in r.json()["errors"]] == ["currency"]
