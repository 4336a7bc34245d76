"""Payments, as a story: BIGBUY gets two invoices for two shipments. The first is paid in full by bank
transfer. The second is paid partly by cheque, then the rest arrives by transfer with 7.50 too much,
which waits on BIGBUY's account as unapplied credit. A third invoice follows; the credit is applied to
it, BIGBUY pays what is left less 0.50 and the 0.50 is written off. At every step the open amounts, the
payment status, the customer's account and the books (trial balance, receivables subledger against its
control accounts, every invoice's open item) agree.

A second story: TIDY pays under 2/10 net 30 within ten days and takes the 2 % discount."""
from __future__ import annotations

from datetime import timedelta
from decimal import Decimal as D

from o2c.core import clock
from tests.books import assert_ledger_agrees
from tests.customers.support import terms_approved
from tests.fulfillment.flow import MONDAY, ok
from tests.payments.support import invoiced
from tests.returns.delivery import events
from tests.shipping_world import equip


def invoice(api, inv: dict) -> dict:
    return ok(api.get(f"/invoices/{inv['id']}", user="cashier"))


def status(api, *invs: dict) -> list[tuple[str, str]]:
    return [(i["open_amount"], i["payment_status"]) for i in (invoice(api, inv) for inv in invs)]


def books(api, company_id: int) -> dict[str, str]:
    """The trial balance's accounts that hold something, after checking it balances and the receivables
    agree."""
    assert_ledger_agrees(company_id)
    [tb] = ok(api.get("/ledger/trial-balance", user="cashier"))
    assert tb["balanced"] is True and tb["receivables"]["agrees"] is True
    return {a["code"]: a["balance"] for a in tb["accounts"] if D(a["balance"])}


def account(api, customer_id: int) -> dict:
    return ok(api.get(f"/customers/{customer_id}/account", user="cashier"))


def pay(api, customer_id: int, method: str, amount: str, applications: list[tuple[dict, str]], **extra) -> dict:
    return ok(api.post("/payments", user="cashier", json={
        "customer_id": customer_id, "method": method, "currency": "USD", "amount": amount,
        "applications": [{"invoice_id": inv["id"], "amount": a} for inv, a in applications], **extra}), 201)


def test_invoices_paid_by_transfer_and_cheque_an_overpayment_kept_as_credit_and_used_a_short_payment_written_off(
        api, world):
    clock.freeze(MONDAY)  # Monday 30 November 2026
    equip(api)
    company, big = world["ids"]["company"], world["ids"]["BIGBUY"]
    ok(api.patch("/company", user="admin", json={"write_off_tolerance": "1.00"}))

    # 1. Two shipments, two invoices: 2 widgets (20.00 + 6.25 % tax) and 4 widgets (40.00 + 2.50).
    inv_a, inv_b = invoiced(api), invoiced(api, lines=(("WIDGET", "4"),))
    assert [(i["number"], i["gross_total"]) for i in (inv_a, inv_b)] == [
        ("INV-2026-000001", "21.25"), ("INV-2026-000002", "42.50")]
    assert status(api, inv_a, inv_b) == [("21.25", "open"), ("42.50", "open")]
    assert books(api, company) == {"1100": "63.75", "2100": "-3.75", "4000": "-60.00"}
    acc = account(api, big)
    assert (acc["open_total"], acc["unapplied_credit"], acc["balance"]) == ("63.75", "0.00", "63.75")

    # 2. The first invoice paid in full by bank transfer.
    p1 = pay(api, big, "bank_transfer", "21.25", [(inv_a, "21.25")], reference="BIGBUY remittance INV-2026-000001")
    assert (p1["number"], p1["applied"], p1["unapplied"]) == ("PAY-2026-000001", "21.25", "0.00")
    assert [(s["invoice_number"], s["kind"], s["amount"]) for s in p1["settlements"]] == [
        ("INV-2026-000001", "payment", "21.25")]
    assert status(api, inv_a, inv_b) == [("0.00", "paid"), ("42.50", "open")]
    assert books(api, company) == {"1000": "21.25", "1100": "42.50", "2100": "-3.75", "4000": "-60.00"}

    # 3. A cheque for 20.00 on the second: partly paid.
    p2 = pay(api, big, "cheque", "20.00", [(inv_b, "20.00")], reference="cheque 004512")
    assert p2["number"] == "PAY-2026-000002"
    assert status(api, inv_b) == [("22.50", "partially_paid")]
    assert books(api, company)["1100"] == "22.50"

    # 4. A week later the rest arrives by transfer, 7.50 too much: the 22.50 settles the invoice and
    #    the 7.50 waits on BIGBUY's account as unapplied credit, under the payment's number.
    clock.freeze(MONDAY + timedelta(days=7))
    p3 = pay(api, big, "bank_transfer", "30.00", [(inv_b, "22.50")])
    assert (p3["number"], p3["applied"], p3["unapplied"], p3["received_on"]) == (
        "PAY-2026-000003", "22.50", "7.50", "2026-12-07")
    assert status(api, inv_b) == [("0.00", "paid")]
    assert books(api, company) == {"1000": "71.25", "2100": "-3.75", "2200": "-7.50", "4000": "-60.00"}
    acc = account(api, big)
    assert (acc["open_invoices"], acc["unapplied_credit"], acc["balance"]) == ([], "7.50", "-7.50")
    assert acc["credit_items"] == [{"item": "PAY-2026-000003", "amount": "7.50"}]
    [*_, recorded] = events("payment.recorded")
    assert (recorded["number"], recorded["amount"], recorded["applied"], recorded["unapplied"]) == (
        "PAY-2026-000003", "30.00", "22.50", "7.50")

    # 5. A third invoice (1 widget: 10.00 + 0.63); the credit is applied to it.
    inv_c = invoiced(api, lines=(("WIDGET", "1"),))
    assert (inv_c["number"], inv_c["gross_total"]) == ("INV-2026-000003", "10.63")
    used = ok(api.post("/payments/apply-credit", user="cashier", json={
        "customer_id": big, "credit_item": "PAY-2026-000003",
        "applications": [{"invoice_id": inv_c["id"], "amount": "7.50"}]}), 201)
    assert (used["applied"], used["remaining"]) == ("7.50", "0.00")
    assert [(s["invoice_number"], s["kind"], s["amount"]) for s in used["settlements"]] == [
        ("INV-2026-000003", "credit", "7.50")]
    assert status(api, inv_c) == [("3.13", "partially_paid")]
    assert books(api, company) == {"1000": "71.25", "1100": "3.13", "2100": "-4.38", "4000": "-70.00"}
    acc = account(api, big)
    assert (acc["unapplied_credit"], acc["credit_items"], acc["balance"]) == ("0.00", [], "3.13")
    assert ok(api.get(f"/payments/{p3['id']}", user="cashier"))["unapplied"] == "0.00"

    # 6. BIGBUY pays 2.63 of the 3.13 (its bank kept 0.50); the 0.50 is written off, within the
    #    company's tolerance of 1.00, with its reason.
    pay(api, big, "bank_transfer", "2.63", [(inv_c, "2.63")])
    assert status(api, inv_c) == [("0.50", "partially_paid")]
    off = ok(api.post(f"/invoices/{inv_c['id']}/write-off", user="cashier",
                      json={"amount": "0.50", "reason": "short payment: bank charges"}), 201)
    assert (off["kind"], off["amount"], off["reason"]) == ("write_off", "0.50", "short payment: bank charges")
    assert status(api, inv_a, inv_b, inv_c) == [("0.00", "paid")] * 3
    assert books(api, company) == {"1000": "73.88", "2100": "-4.38", "4000": "-70.00", "6200": "0.50"}
    acc = account(api, big)
    assert (acc["open_invoices"], acc["open_total"], acc["balance"]) == ([], "0.00", "0.00")

    # 7. What people see: the payments, newest first; each order's timeline says how it was paid.
    listed = ok(api.get("/payments", user="cashier", params={"customer_id": big}))["items"]
    assert [p["number"] for p in listed] == [f"PAY-2026-00000{n}" for n in (4, 3, 2, 1)]
    timeline = ok(api.get(f"/orders/{inv_b['order_id']}/timeline"))
    assert [(e["action"], e["data"]["by"], e["data"]["open"]) for e in timeline
            if e["action"] in ("paid", "partially_paid")] == [
        ("partially_paid", "PAY-2026-000002", "22.50"), ("paid", "PAY-2026-000003", "0.00")]
    timeline = ok(api.get(f"/orders/{inv_c['order_id']}/timeline"))
    assert [(e["action"], e["data"]["kind"]) for e in timeline if e["action"] in ("paid", "partially_paid")] == [
        ("partially_paid", "credit"), ("partially_paid", "payment"), ("paid", "write_off")]


def test_a_customer_on_2_10_net_30_pays_within_ten_days_and_takes_the_discount(api, world):
    clock.freeze(MONDAY)
    equip(api)
    company, tidy = world["ids"]["company"], world["ids"]["TIDY"]
    # New terms are a sensitive change: admin asks, the data steward approves.
    customer = terms_approved(api, tidy, {"payment_terms_days": 30, "early_discount_pct": "2",
                                          "early_discount_days": 10})
    assert customer["payment_terms"] == "2/10 net 30"

    # 10 widgets shipped to Los Angeles: 90.00 + 7.25 % tax = 96.53, under 2/10 net 30.
    inv = invoiced(api, customer="TIDY", lines=(("WIDGET", "10"),))
    assert (inv["terms"], inv["gross_total"], inv["tax_total"], inv["due_date"]) == (
        "2/10 net 30", "96.53", "6.53", "2026-12-30")

    # Paid on day 10, the last day of the discount: 96.53 less 2 % (1.93) = 94.60 settles it.
    clock.freeze(MONDAY + timedelta(days=10))
    p = pay(api, tidy, "bank_transfer", "94.60", [(inv, "94.60")])
    assert [(s["kind"], s["amount"]) for s in p["settlements"]] == [("payment", "94.60"), ("discount", "1.93")]
    assert (p["applied"], p["unapplied"]) == ("94.60", "0.00")
    assert status(api, inv) == [("0.00", "paid")]
    # The discount's tax share (6.53 of 96.53 of 1.93: 0.13) comes off the tax payable.
    assert books(api, company) == {"1000": "94.60", "2100": "-6.40", "4000": "-90.00", "4110": "1.80"}

    # A day late, the same short amount would be a part payment (the discount period is over).
    inv2 = invoiced(api, customer="TIDY", lines=(("WIDGET", "10"),))
    clock.freeze(MONDAY + timedelta(days=21))
    pay(api, tidy, "bank_transfer", "94.60", [(inv2, "94.60")])
    assert status(api, inv2) == [("1.93", "partially_paid")]
    books(api, company)
