"""Receivables ageing and DSO, as a story: five invoices issued over six months to three customers in
two currencies, one paid in part, one corrected by a credit note, money on account. On 30 November the
ageing puts each open item in its bucket by days past due, per customer and in total, beside the credit
customers hold, and agrees with the ledger's control accounts; DSO, best possible DSO and average days
delinquent are worked out from the same books."""
from __future__ import annotations

from datetime import date, datetime, timezone
from decimal import Decimal as D

from o2c.core import clock
from tests.billing.test_einvoice_export import ship_order
from tests.fulfillment.flow import ok
from tests.shipping_world import equip


def on(day: date) -> None:
    clock.freeze(datetime(day.year, day.month, day.day, 15, 0, tzinfo=timezone.utc))  # 09:00 in Chicago


def widgets(api, customer: str, n: int) -> dict:
    return ship_order(api, customer, [("WIDGET", str(n))], str(D("0.5") * n + D("0.8")))[1]


def books(api) -> dict:
    """Per currency: the balance of each account in the trial balance."""
    return {tb["currency"]: {a["code"]: D(a["balance"]) for a in tb["accounts"]}
            for tb in ok(api.get("/ledger/trial-balance", user="biller"))}


def test_ageing_and_dso_of_invoices_at_several_ages(api, world):
    ids = world["ids"]
    on(date(2026, 6, 1))
    equip(api)
    a = widgets(api, "BIGBUY", 10)  # 90.00 + 5.63, due 1 July
    on(date(2026, 8, 10))
    b = widgets(api, "LOYAL", 2)  # 19.00 + 1.19 (5 % off), due 9 September
    on(date(2026, 9, 20))
    c = widgets(api, "BIGBUY", 1)  # 10.00 + 0.63, due 20 October
    on(date(2026, 10, 1))
    cn = ok(api.post(f"/invoices/{c['id']}/credit-notes", user="biller",
                     json={"reason": "price", "lines": [{"line_no": 1, "amount": "2.00"}]}), 201)  # 2.00 + 0.13
    on(date(2026, 10, 25))
    d = widgets(api, "LOYAL", 1)  # 9.50 + 0.59, due 24 November
    on(date(2026, 11, 20))
    e = widgets(api, "EURO", 1)  # EUR 9.50 + 0.59, due 20 December
    on(date(2026, 11, 25))
    ok(api.post("/payments", user="cashier", json={
        "customer_id": ids["BIGBUY"], "method": "bank_transfer", "currency": "USD", "amount": "55.00",
        "applications": [{"invoice_id": a["id"], "amount": "50.00"}]}), 201)  # 5.00 left on account
    assert [i["gross_total"] for i in (a, b, c, d, e)] == ["95.63", "20.19", "10.63", "10.09", "10.09"]
    assert cn["gross_total"] == "2.13"

    # 30 November: A is 152 days past due, B 82, C 41, D 6; E is not due yet.
    on(date(2026, 11, 30))
    eur, usd = ok(api.get("/ledger/ageing", user="biller"))  # currencies in code order
    assert (usd["currency"], usd["as_of"], eur["currency"]) == ("USD", "2026-11-30", "EUR")
    assert usd["buckets"] == {"current": "0.00", "1-30": "10.09", "31-60": "8.50", "61-90": "20.19", "90+": "45.63"}
    assert (usd["total"], usd["unapplied_credit"], usd["net"]) == ("84.41", "5.00", "79.41")
    per = {row["customer_id"]: row for row in usd["customers"]}
    assert set(per) == {ids["BIGBUY"], ids["LOYAL"]}
    assert (per[ids["BIGBUY"]]["code"], per[ids["BIGBUY"]]["name"]) == ("BIGBUY", "BIGBUY Inc.")  # readable
    assert per[ids["BIGBUY"]]["buckets"] == {"current": "0.00", "1-30": "0.00", "31-60": "8.50", "61-90": "0.00",
                                             "90+": "45.63"}
    assert (per[ids["BIGBUY"]]["total"], per[ids["BIGBUY"]]["unapplied_credit"], per[ids["BIGBUY"]]["net"]) == (
        "54.13", "5.00", "49.13")
    assert per[ids["LOYAL"]]["buckets"]["61-90"] == "20.19" and per[ids["LOYAL"]]["buckets"]["1-30"] == "10.09"
    assert eur["buckets"]["current"] == "10.09" and eur["total"] == "10.09"
    #    It agrees with the books: open items = receivables, credit held = unapplied credits.
    tb = books(api)
    assert (D(usd["total"]), -D(usd["unapplied_credit"])) == (tb["USD"]["1100"], tb["USD"]["2200"])
    assert D(eur["total"]) == tb["EUR"]["1100"]
    #    And with each customer's statement.
    st = ok(api.get(f"/customers/{ids['BIGBUY']}/statement", user="biller"))
    assert st["ageing"] == per[ids["BIGBUY"]]["buckets"] and st["balance"] == per[ids["BIGBUY"]]["net"]

    # Looking back: on 30 September, A was 91 days past due, B 21, C not due.
    [usd_sep] = ok(api.get("/ledger/ageing", user="biller", params={"as_of": "2026-09-30"}))
    assert usd_sep["buckets"] == {"current": "10.63", "1-30": "20.19", "31-60": "0.00", "61-90": "0.00",
                                  "90+": "95.63"}

    # DSO over 90 days up to 30 November: USD credit sales are C and D less the credit note.
    eur, usd = ok(api.get("/ledger/dso", user="biller", params={"days": 90}))
    assert (usd["period_from"], usd["receivables"], usd["current_receivables"], usd["credit_sales"]) == (
        "2026-09-02", "84.41", "0.00", "18.59")  # 10.63 + 10.09 - 2.13
    assert (usd["dso"], usd["best_possible_dso"], usd["average_days_delinquent"]) == ("408.66", "0.00", "408.66")
    #    84.41 / 18.59 x 90 = 408.66: everything open is overdue, so it is all delinquency.
    assert (eur["receivables"], eur["current_receivables"], eur["credit_sales"]) == ("10.09", "10.09", "10.09")
    assert (eur["dso"], eur["best_possible_dso"], eur["average_days_delinquent"]) == ("90.00", "90.00", "0.00")
    #    Over 365 days all five invoices count: USD sales 95.63 + 20.19 + 10.63 + 10.09 - 2.13 = 134.41.
    usd = ok(api.get("/ledger/dso", user="biller", params={"days": 365}))[1]
    assert (usd["credit_sales"], usd["dso"]) == ("134.41", "229.22")  # 84.41 / 134.41 x 365
    #    No sales in the period: no ratio, and why.
    usd = ok(api.get("/ledger/dso", user="biller", params={"days": 2}))[1]
    assert usd["dso"] is None and usd["reason"] == "no credit sales in USD in the 2 days up to 2026-11-30"

    # The books are read with ledger.read only; bad input names the field.
    assert api.get("/ledger/ageing").status_code == 403
    assert api.get("/ledger/dso", user="desk").status_code == 403
    r = api.get("/ledger/dso", user="biller", params={"days": 0})
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "days"
