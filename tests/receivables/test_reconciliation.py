"""Reconciliation through the API, past the story: files refused with where they break and nothing
stored, uploads and retries, MT940 and CSV statements matched like camt.053, each decision a person can
take on a line (and those refused), and the customers' bank accounts."""
from __future__ import annotations

from datetime import timedelta

from o2c.core import clock
from o2c.core.auth import SYSTEM
from o2c.core.db import read_session
from o2c.payments import service as payments
from o2c.receivables import bank_accounts
from tests.fulfillment.flow import MONDAY, changed, everything, ok
from tests.customers.support import bank_account_approved
from o2c.demo_bank import Entry, statement
from tests.receivables.support import invoice_of, open_amounts, payments_made
from tests.shipping_world import equip

MT940_BROKEN = b""":20:STMT-1204
:25:DE02120300000000202051
:28C:1/1
:60F:C261204USD1000,00
:61:2612041204C21,,25NTRFNONREF
:86:Invoice INV-2026-000001
:62F:C261204USD1021,25
-
"""


def test_a_cut_off_or_malformed_file_is_refused_naming_where_and_nothing_is_stored(api, world):
    clock.freeze(MONDAY + timedelta(days=7))
    camt = statement([Entry("21.25", "BIGBUY Inc.", None, "Invoice INV-2026-000001"), Entry("-3.00", "Bank")])
    before = everything()

    cut = camt.index(b"<Ntry>", camt.index(b"<Ntry>") + 1) + 40  # the second entry, cut off in its middle
    r = api.post("/bank-statements", user="cashier", content=camt[:cut])
    assert r.status_code == 422 and r.headers["content-type"].startswith("application/problem+json")
    problem = r.json()
    assert problem["type"] == "/problems/bank-statement"
    assert problem["errors"][0]["field"].startswith("Document/BkToCstmrStmt/Stmt[1]/Ntry[2]")
    assert "cut off or incomplete" in problem["detail"]

    r = api.post("/bank-statements", user="cashier", content=MT940_BROKEN)
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "line 5 (:61:)"
    assert "amount '21,,25' is not a number" in r.json()["detail"]

    unbalanced = camt.replace(b"<Amt Ccy=\"USD\">1018.25</Amt>", b"<Amt Ccy=\"USD\">1018.26</Amt>")
    assert unbalanced != camt
    r = api.post("/bank-statements", user="cashier", content=unbalanced)
    assert r.status_code == 422 and r.json()["errors"][0]["code"] == "balance"
    assert "does not add up" in r.json()["detail"]

    r = api.post("/bank-statements", user="cashier", content=statement([Entry("21.255", "Somebody")]))
    assert r.status_code == 422 and "amount 21.255 has more decimals than USD has (2)" in r.json()["detail"]
    assert r.json()["errors"][0]["field"].startswith("line ")
    r = api.post("/bank-statements", user="cashier", content=b"")
    assert r.status_code == 422 and "empty" in r.json()["detail"]
    r = api.post("/bank-statements", user="cashier", content=camt, params={"format": "mt940"})
    assert r.status_code == 422 and "no MT940 fields" in r.json()["detail"]
    r = api.post("/bank-statements", user="cashier", content=camt, params={"format": "ofx"})
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "format"
    assert api.post("/bank-statements", user="biller", content=camt).status_code == 403

    assert changed(before, everything()) == []


def test_an_upload_keeps_its_file_name_and_a_retry_with_its_key_gets_the_first_answer(api, world):
    clock.freeze(MONDAY + timedelta(days=7))
    camt = statement([Entry("12.00", "Somebody", None, "gift")])
    r = api.post("/bank-statements", user="cashier", files={"file": ("dec04.xml", camt, "application/xml")},
                 data={"note": "x"})
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "note"

    key = {"Idempotency-Key": "stmt-dec04"}
    first = api.post("/bank-statements", user="cashier", headers=key,
                     files={"file": ("dec04.xml", camt, "application/xml")})
    assert first.status_code == 201 and first.json()["statements"][0]["filename"] == "dec04.xml"
    retry = api.post("/bank-statements", user="cashier", headers=key,
                     files={"file": ("dec04.xml", camt, "application/xml")})
    assert retry.status_code == 201 and retry.headers["Idempotent-Replayed"] == "true"
    assert retry.json() == first.json()
    assert api.post("/bank-statements", user="cashier", content=camt).status_code == 409  # without the key
    other = statement([Entry("13.00", "Somebody", None, "gift")], stmt_id="STMT-2")
    assert api.post("/bank-statements", user="cashier", headers=key, content=other).status_code == 422
    assert len(ok(api.get("/bank-statements", user="cashier"))["items"]) == 1


def test_mt940_and_csv_statements_are_matched_like_camt(api, world):
    clock.freeze(MONDAY)
    equip(api)
    a = invoice_of(api, "BIGBUY", (("WIDGET", "2"),))
    b = invoice_of(api, "TIDY", (("WIDGET", "3"),))
    clock.freeze(MONDAY + timedelta(days=7))
    number = a["number"].replace("-", " ")  # as a payer may write it
    mt940 = f""":20:STMT-1204
:25:DE02120300000000202051
:28C:00012/001
:60F:C261204USD1000,00
:61:2612041204C21,25NTRFNONREF//B4L1
:86:166?00SEPA-GUTSCHRIFT?20EREF+NOTPROVIDED?21SVWZ+Rechnung {number}?32BIGBUY INC?31DE89370400440532013000
:62F:C261204USD1021,25
-
""".encode()
    [st] = ok(api.post("/bank-statements", user="cashier", content=mt940, headers={"Content-Type": "text/plain"}),
              201)["statements"]
    assert (st["format"], st["counts"]["auto"], st["auto_rate"]) == ("mt940", 1, "1.0000")
    [line] = ok(api.get(f"/bank-statements/{st['id']}", user="cashier"))["lines"]
    assert (line["counterparty_name"], line["counterparty_account"]) == ("BIGBUY INC", "DE89370400440532013000")
    assert line["remittance"] == f"Rechnung {number}"

    csv = (f"date,amount,currency,counterparty_name,counterparty_iban,remittance\n"
           f"2026-12-08,32.18,USD,Tidy Inc.,,paying {b['number']}\n2026-12-08,-2.00,USD,Bank,,fee\n").encode()
    [st2] = ok(api.post("/bank-statements", user="cashier", content=csv, headers={"Content-Type": "text/csv"}),
               201)["statements"]
    assert st2["format"] == "csv" and st2["counts"]["auto"] == 1 and st2["counts"]["not_incoming"] == 1
    assert open_amounts({"a": a, "b": b}) == {"a": "0.00", "b": "0.00"}
    with read_session() as s:  # booked on the 8th by a bank ahead of Chicago, where it is still the 7th
        received = [p.received_on.isoformat() for p in payments.list_payments(s, SYSTEM, world["ids"]["company"])]
    assert received == ["2026-12-07", "2026-12-04"]
    r = api.post("/bank-statements", user="cashier", content=csv.replace(b",", b";"))  # the same lines again
    assert r.status_code == 409


def test_each_decision_a_person_takes_and_the_ones_refused(api, world):
    ids, company_id = world["ids"], world["ids"]["company"]
    clock.freeze(MONDAY)
    equip(api)
    first = invoice_of(api, "BIGBUY", (("WIDGET", "2"),))
    second = invoice_of(api, "BIGBUY", (("WIDGET", "2"),))
    euro = invoice_of(api, "EURO", (("WIDGET", "1"),))
    bank_account_approved(api, ids["EXEMPT"], {"iban": "NL91ABNA0417164300"})
    clock.freeze(MONDAY + timedelta(days=7))
    camt = statement([
        Entry("21.25", "BIGBUY Inc.", "DE89370400440532013000", "widgets"),  # fits both of BIGBUY's invoices
        Entry("50.00", "EXEMPT Inc.", "NL91ABNA0417164300", "advance"),  # a known payer with nothing open
        Entry("15.00", "Someone", None, "deposit"),
        Entry("-5.00", "Bank", None, "fees"),
    ])
    [st] = ok(api.post("/bank-statements", user="cashier", content=camt), 201)["statements"]
    assert st["counts"] == {"auto": 0, "suggested": 1, "unmatched": 2, "confirmed": 0, "ignored": 0, "not_incoming": 1}
    both, known, stranger, debit = ok(api.get(f"/bank-statements/{st['id']}", user="cashier"))["lines"]

    # The suggestion's alternative: the second invoice, not the oldest.
    assert [alt["allocations"][0]["invoice_id"] for alt in both["alternatives"]] == [second["id"]]
    r = api.post(f"/reconciliation/lines/{both['id']}/confirm", user="cashier", json={"alternative": 2})
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "alternative"
    done = ok(api.post(f"/reconciliation/lines/{both['id']}/confirm", user="cashier", json={"alternative": 1}))
    assert done["decision"]["applications"] == [{"invoice_id": second["id"], "amount": "21.25"}]
    assert open_amounts({"first": first, "second": second}) == {"first": "21.25", "second": "0.00"}

    # A known payer with nothing open: confirming puts the money on its account as credit.
    assert known["customer_id"] == ids["EXEMPT"] and "nothing open" in known["reasons"][0]
    done = ok(api.post(f"/reconciliation/lines/{known['id']}/confirm", user="cashier"))
    assert done["decision"]["iban_remembered"] is None  # on file already
    with read_session() as s:
        assert payments.unapplied_credit(s, company_id, ids["EXEMPT"])["total"] == 50

    # Nobody known: there is nothing to confirm; a person names the customer (or invoices).
    r = api.post(f"/reconciliation/lines/{stranger['id']}/confirm", user="cashier")
    assert r.status_code == 422 and r.json()["errors"][0]["code"] == "no_customer"
    r = api.post(f"/reconciliation/lines/{stranger['id']}/match", user="cashier", json={})
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "customer_id"
    r = api.post(f"/reconciliation/lines/{stranger['id']}/match", user="cashier",
                 json={"invoices": [{"invoice_id": euro["id"]}]})
    assert r.status_code == 422 and r.json()["errors"][0]["code"] == "currency"
    r = api.post(f"/reconciliation/lines/{stranger['id']}/match", user="cashier",
                 json={"invoices": [{"invoice_id": second["id"]}]})
    assert r.status_code == 422 and r.json()["errors"][0]["code"] == "settled"
    r = api.post(f"/reconciliation/lines/{stranger['id']}/match", user="cashier", json={"customer_id": 999999})
    assert r.status_code == 422 and r.json()["errors"][0]["code"] == "not_found"
    assert api.post(f"/reconciliation/lines/{stranger['id']}/match", user="biller",
                    json={"customer_id": ids["LOYAL"]}).status_code == 403
    done = ok(api.post(f"/reconciliation/lines/{stranger['id']}/match", user="cashier",
                       json={"customer_id": ids["LOYAL"]}))
    assert (done["status"], done["decision"]["action"], done["decision"]["applications"]) == ("confirmed", "matched", [])
    assert payments_made(company_id)[-1] == (ids["LOYAL"], "15.00", "0.00", "15.00", f"line-{stranger['id']}")

    # Money going out is no customer's payment: nothing to decide.
    for action, body in (("confirm", {}), ("match", {"customer_id": ids["LOYAL"]}), ("ignore", {"reason": "fee"})):
        r = api.post(f"/reconciliation/lines/{debit['id']}/{action}", user="cashier", json=body)
        assert r.status_code == 409 and r.json()["current_status"] == "not_incoming"
    assert api.post("/reconciliation/lines/999999/confirm", user="cashier").status_code == 404
    assert ok(api.get(f"/reconciliation/lines/{both['id']}", user="viewer"))["status"] == "confirmed"
    assert len(payments_made(company_id)) == 3


def test_customer_bank_accounts_are_checked_and_an_iban_of_two_customers_points_to_neither(api, world):
    ids, company_id = world["ids"], world["ids"]["company"]
    path = f"/customers/{ids['BIGBUY']}/bank-accounts"
    for body, fld, code in (({"iban": "DE89 3704 0044 0532 0130 01"}, "iban", "invalid"),
                            ({"iban": "XX00"}, "iban", "invalid"),
                            ({"iban": "DE89370400440532013000", "bic": "COBA"}, "bic", "invalid"),
                            ({"iban": "DE89370400440532013000", "bic": "WESTGB22"}, "bic", "other_country")):
        r = api.post(path, user="cashier", json=body)
        assert r.status_code == 422 and r.json()["errors"][0]["field"] == fld and r.json()["errors"][0]["code"] == code
    assert api.post(path, user="desk", json={"iban": "DE89370400440532013000"}).status_code == 403
    body, key = {"iban": "de89-3704-0044-0532-0130-00", "bic": "cobadeffxxx"}, {"Idempotency-Key": "acct-1"}
    asked = ok(api.post(path, user="cashier", json=body, headers=key), 202)  # a bank account waits for approval
    assert (asked["new_value"]["iban"], asked["new_value"]["bic"]) == ("DE89370400440532013000", "COBADEFFXXX")
    assert ok(api.post(path, user="cashier", json=body, headers=key), 202) == asked  # a retry
    assert ok(api.get(path, user="viewer")) == []
    ok(api.post(f"/customers/changes/{asked['id']}/approve", user="steward"))
    assert api.post(path, user="cashier", json={"iban": "DE89370400440532013000"}).status_code == 409
    [made] = ok(api.get(path, user="viewer"))
    assert (made["iban"], made["bic"]) == ("DE89370400440532013000", "COBADEFFXXX")
    assert api.get("/customers/999999/bank-accounts", user="viewer").status_code == 404

    with read_session() as s:
        assert bank_accounts.known_accounts(s, company_id) == {"DE89370400440532013000": ids["BIGBUY"]}
    bank_account_approved(api, ids["LOYAL"], {"iban": "DE89370400440532013000"})
    with read_session() as s:
        assert bank_accounts.known_accounts(s, company_id) == {}  # a parent paying for both: evidence for neither

    assert api.delete(f"{path}/{made['id']}", user="cashier").status_code == 204
    assert api.delete(f"{path}/{made['id']}", user="cashier").status_code == 404
    assert ok(api.get(path, user="viewer")) == []
