"""Reconciliation's story: six invoices go out in the first week of December; the bank's statement of
4 December holds six lines. Two pay so clearly that they are booked at import (one names its invoice,
one comes from an account on file with the exact amount), one overpays a named invoice (the rest is
unapplied credit), one fits two invoices alike and waits for a person, one nobody can place, and one is
the bank's fee. A person confirms the first (the payer's IBAN is remembered), matches the second to an
invoice by hand as a part payment, and the rest of the queue is empty. The open amounts, the payments
and the books are checked after every step, and the same file imported again is refused.
"""
from __future__ import annotations

from datetime import timedelta

from o2c.core import clock
from tests.books import assert_books_agree, assert_ledger_agrees
from tests.customers.support import bank_account_approved
from tests.fulfillment.flow import MONDAY, ok
from o2c.demo_bank import Entry, statement
from tests.receivables.support import invoice_of, open_amounts, payments_made
from tests.shipping_world import equip

TIDY_IBAN = "GB82WEST12345698765432"
LOYAL_IBAN = "FR1420041010050500013M02606"
BIGBUY_IBAN = "DE89370400440532013000"
STRANGER_IBAN = "NL91ABNA0417164300"


def books(api, company_id: int) -> dict[str, str]:
    assert_books_agree()
    assert_ledger_agrees(company_id)
    [tb] = ok(api.get("/ledger/trial-balance", user="cashier"))
    assert tb["balanced"] is True and tb["receivables"]["agrees"] is True
    return {a["code"]: a["balance"] for a in tb["accounts"]}


def test_a_bank_statement_is_imported_matched_and_worked_through_the_queue(api, world):
    ids, company_id = world["ids"], world["ids"]["company"]
    clock.freeze(MONDAY)  # Monday 30 November 2026
    equip(api)

    # 1. Six invoices, from six shipments.
    inv = {
        "bigbuy": invoice_of(api, "BIGBUY", (("WIDGET", "2"),)),  # 20.00 + 6.25 % tax
        "tidy": invoice_of(api, "TIDY", (("WIDGET", "3"),)),  # shipped to Los Angeles: 7.25 %
        "loyal1": invoice_of(api, "LOYAL", (("WIDGET", "2"),)),  # 5 % off: 19.00 + tax
        "loyal2": invoice_of(api, "LOYAL", (("WIDGET", "2"),)),  # the same again
        "exempt": invoice_of(api, "EXEMPT", (("WIDGET", "4"),)),  # no tax
        "gadget": invoice_of(api, "BIGBUY", (("GADGET", "1"),)),  # BIGBUY's contract price 22.50 + tax
    }
    assert {k: v["gross_total"] for k, v in inv.items()} == {
        "bigbuy": "21.25", "tidy": "32.18", "loyal1": "20.19", "loyal2": "20.19", "exempt": "40.00", "gadget": "23.91"}
    assert open_amounts(inv) == {k: v["gross_total"] for k, v in inv.items()}
    assert books(api, company_id) == {"1100": "157.72", "2100": "-7.22", "4000": "-150.50"}

    # TIDY's account is on file; the cashier enters it (a bad IBAN is refused, naming the field) and the
    # data steward approves it (a bank account is a sensitive field).
    r = api.post(f"/customers/{ids['TIDY']}/bank-accounts", user="cashier", json={"iban": "GB82 WEST 1234 5698 7654 31"})
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "iban"
    bank_account_approved(api, ids["TIDY"], {"iban": "GB82 WEST 1234 5698 7654 32", "bic": "WESTGB22",
                                              "holder_name": "Tidy Inc."})

    # 2. The statement of 4 December, imported on Monday 7 December.
    clock.freeze(MONDAY + timedelta(days=7))
    camt = statement([
        Entry("21.25", "BIGBUY Inc.", BIGBUY_IBAN, f"Invoice {inv['bigbuy']['number']}"),
        Entry("32.18", "Tidy Inc.", TIDY_IBAN, "Payment"),
        Entry("20.19", "LOYAL Inc.", LOYAL_IBAN, "widgets, thank you"),
        Entry("25.00", "J. Smith", STRANGER_IBAN, "thanks"),
        Entry("30.00", "BIGBUY Inc.", BIGBUY_IBAN, f"{inv['gadget']['number']}"),
        Entry("-12.50", "Bank", None, "account fees November"),
    ])
    assert api.post("/bank-statements", user="desk", content=camt).status_code == 403  # order desk may not
    imported = ok(api.post("/bank-statements", user="cashier", content=camt,
                           headers={"Content-Type": "application/xml"}), 201)
    [st] = imported["statements"]
    assert st["format"] == "camt.053" and st["statement_ref"] == "STMT-2026-12-04"
    assert (st["account"], st["currency"], st["line_count"]) == ("DE02120300000000202051", "USD", 6)
    assert (st["opening_balance"], st["closing_balance"]) == ("1000.00", "1116.12")
    assert st["counts"] == {"auto": 3, "suggested": 1, "unmatched": 1, "confirmed": 0, "ignored": 0,
                            "not_incoming": 1}
    assert st["auto_rate"] == "0.6000"  # 3 of the 5 lines with money coming in
    assert st["imported_by"] == "cashier"

    lines = ok(api.get(f"/bank-statements/{st['id']}", user="cashier"))["lines"]
    assert [(ln["seq"], ln["status"], ln["confidence"]) for ln in lines] == [
        (1, "auto", "1.00"), (2, "auto", "1.00"), (3, "suggested", "0.45"), (4, "unmatched", "0.00"),
        (5, "auto", "1.00"), (6, "not_incoming", None)]
    by_seq = {ln["seq"]: ln for ln in lines}
    assert [a["number"] for a in by_seq[1]["allocations"]] == [inv["bigbuy"]["number"]]
    assert by_seq[5]["leftover"] == "6.09"  # 30.00 for 23.91: the rest is BIGBUY's credit
    assert all(by_seq[n]["payment_id"] for n in (1, 2, 5)) and by_seq[3]["payment_id"] is None

    assert open_amounts(inv) == {"bigbuy": "0.00", "tidy": "0.00", "loyal1": "20.19", "loyal2": "20.19",
                                 "exempt": "40.00", "gadget": "0.00"}
    assert payments_made(company_id) == [
        (ids["BIGBUY"], "21.25", "21.25", "0.00", f"line-{by_seq[1]['id']}"),
        (ids["TIDY"], "32.18", "32.18", "0.00", f"line-{by_seq[2]['id']}"),
        (ids["BIGBUY"], "30.00", "23.91", "6.09", f"line-{by_seq[5]['id']}")]
    assert books(api, company_id) == {"1000": "83.43", "1100": "80.38", "2100": "-7.22", "2200": "-6.09",
                                      "4000": "-150.50"}

    # 3. The queue: the LOYAL line fits both of LOYAL's invoices alike; the stranger's line fits nothing.
    queue = ok(api.get("/reconciliation", user="cashier"))["items"]
    assert [(ln["seq"], ln["status"]) for ln in queue] == [(3, "suggested"), (4, "unmatched")]
    loyal, stranger = queue
    assert loyal["customer_id"] == ids["LOYAL"]
    assert [(a["number"], a["amount"], a["open_now"]) for a in loyal["allocations"]] == [
        (inv["loyal1"]["number"], "20.19", "20.19")]
    assert [[a["number"] for a in alt["allocations"]] for alt in loyal["alternatives"]] == [[inv["loyal2"]["number"]]]
    assert "2 open invoices have this amount" in loyal["reasons"]
    assert stranger["reasons"][0] == "no invoice number, amount or known account points to an open invoice"
    assert ok(api.get("/reconciliation", user="cashier", params={"customer_id": ids["LOYAL"]}))["items"] == [loyal]
    assert ok(api.get("/reconciliation", user="cashier", params={"status": "unmatched"}))["items"] == [stranger]
    assert ok(api.get("/reconciliation", user="cashier", params={"q": "smith"}))["items"] == [stranger]
    assert ok(api.get("/reconciliation", user="cashier", params={"min_amount": "21"}))["items"] == [stranger]
    assert [ln["seq"] for ln in ok(api.get(f"/bank-statements/{st['id']}", user="viewer",
                                           params={"status": "auto"}))["lines"]] == [1, 2, 5]

    # 4. The cashier confirms LOYAL's line: the oldest invoice is paid, and LOYAL's IBAN is remembered.
    assert api.post(f"/reconciliation/lines/{loyal['id']}/confirm", user="biller").status_code == 403
    done = ok(api.post(f"/reconciliation/lines/{loyal['id']}/confirm", user="cashier"))
    assert (done["status"], done["decided_by"]) == ("confirmed", "cashier")
    assert done["decision"]["iban_remembered"] == LOYAL_IBAN
    again = api.post(f"/reconciliation/lines/{loyal['id']}/confirm", user="cashier")
    assert again.status_code == 409 and "confirmed by cashier" in again.json()["detail"]
    assert [a["iban"] for a in ok(api.get(f"/customers/{ids['LOYAL']}/bank-accounts", user="cashier"))] == [LOYAL_IBAN]
    assert open_amounts(inv)["loyal1"] == "0.00" and open_amounts(inv)["loyal2"] == "20.19"
    assert len(payments_made(company_id)) == 4
    assert books(api, company_id)["1100"] == "60.19"

    # 5. The stranger's 25.00 is EXEMPT's: the cashier matches it to EXEMPT's invoice, a part payment.
    r = api.post(f"/reconciliation/lines/{stranger['id']}/match", user="cashier",
                 json={"invoices": [{"invoice_id": inv["exempt"]["id"], "amount": "30.00"}]})
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "invoices"  # more than the line
    r = api.post(f"/reconciliation/lines/{stranger['id']}/match", user="cashier",
                 json={"invoices": [{"invoice_id": inv["exempt"]["id"]}, {"invoice_id": inv["loyal2"]["id"]}]})
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "invoices[1].invoice_id"  # another customer's
    matched = ok(api.post(f"/reconciliation/lines/{stranger['id']}/match", user="cashier",
                          json={"invoices": [{"invoice_id": inv["exempt"]["id"]}]}))
    assert matched["status"] == "confirmed" and matched["decision"]["applications"] == [
        {"invoice_id": inv["exempt"]["id"], "amount": "25.00"}]
    assert open_amounts(inv)["exempt"] == "15.00"
    assert payments_made(company_id)[-1] == (ids["EXEMPT"], "25.00", "25.00", "0.00", f"line-{stranger['id']}")
    assert ok(api.get("/reconciliation", user="cashier"))["items"] == []
    assert books(api, company_id) == {"1000": "128.62", "1100": "35.19", "2100": "-7.22", "2200": "-6.09",
                                      "4000": "-150.50"}
    [st_now] = ok(api.get("/bank-statements", user="cashier"))["items"]
    assert st_now["counts"] == {"auto": 3, "suggested": 0, "unmatched": 0, "confirmed": 2, "ignored": 0,
                                "not_incoming": 1}
    assert st_now["auto_rate"] == "0.6000"  # the rate is what the import achieved

    # 6. The same file again: refused, naming the first import; nothing doubles.
    r = api.post("/bank-statements", user="cashier", content=camt)
    assert r.status_code == 409
    assert r.json()["earlier"][0]["id"] == st["id"] and r.json()["earlier"][0]["imported_by"] == "cashier"
    assert f"bank statement {st['id']}" in r.json()["detail"]
    assert len(ok(api.get("/bank-statements", user="cashier"))["items"]) == 1
    assert len(payments_made(company_id)) == 5
    assert books(api, company_id)["1000"] == "128.62"

    # 7. The next statement: LOYAL pays its second invoice from the IBAN now on file, and it is booked
    #    by itself; the bank's interest is ignored with a reason.
    nxt = statement([Entry("20.19", "LOYAL Inc.", LOYAL_IBAN, "widgets"), Entry("0.40", "Bank", None, "interest")],
                    stmt_id="STMT-2026-12-05", sequence=2, opening="1116.12")
    [st2] = ok(api.post("/bank-statements", user="cashier", content=nxt), 201)["statements"]
    assert st2["counts"]["auto"] == 1 and st2["counts"]["unmatched"] == 1 and st2["auto_rate"] == "0.5000"
    assert open_amounts(inv)["loyal2"] == "0.00"
    [interest] = ok(api.get("/reconciliation", user="cashier"))["items"]
    assert api.post(f"/reconciliation/lines/{interest['id']}/ignore", user="cashier", json={"reason": " "}).status_code == 422
    ignored = ok(api.post(f"/reconciliation/lines/{interest['id']}/ignore", user="cashier",
                          json={"reason": "interest on our account"}))
    assert ignored["status"] == "ignored" and ignored["decision"]["reason"] == "interest on our account"
    assert api.post(f"/reconciliation/lines/{interest['id']}/match", user="cashier",
                    json={"customer_id": ids["BIGBUY"]}).status_code == 409
    assert books(api, company_id)["1100"] == "15.00"
