"""Credit services through the API and the gate: statements, scores from statements and from the
customer's real invoice history, exposure while goods are shipped but not invoiced, an approved amount
that stands until the order grows, routes that approve by themselves, a bulk import's running exposure,
and refusals that change nothing."""
from __future__ import annotations

from datetime import date
from decimal import Decimal as D
from types import SimpleNamespace

from sqlalchemy import func, select, update

from o2c.core.auth import SYSTEM
from o2c.core.db import read_session, transaction
from o2c.core.events import dispatch_pending
from o2c.core.models import Company
from o2c.credit import gate
from o2c.credit.models import ApprovalRoute, CreditScore, CreditStatement
from o2c.customers.models import CustomerAccount
from o2c.orders.gates import GateContext
from tests.credit.support import credit_hold, order, request_of, set_limit
from tests.dunning.support import invoiced, on
from tests.fulfillment.flow import ok, pack, pick_all, place, release, ship, shipment_of
from tests.shipping_world import equip

# The healthy firm of STANDARDS.md §7 in thousands: TA 1,000,000; CA 400,000; CL 250,000; TL 500,000;
# inventory 100,000; RE 300,000; EBIT 120,000; interest 20,000; sales 1,500,000.
HEALTHY = {"total_assets": "1000000", "current_assets": "400000", "current_liabilities": "250000",
           "total_liabilities": "500000", "inventory": "100000", "retained_earnings": "300000", "ebit": "120000",
           "interest_expense": "20000", "sales": "1500000"}


def count(model) -> int:
    with read_session() as s:
        return s.scalar(select(func.count()).select_from(model))


def test_statements_are_checked_and_a_score_explains_its_grade_and_limit(api, world):
    bigbuy = world["ids"]["BIGBUY"]
    path = f"/credit/customers/{bigbuy}/statements"
    bad = api.post(path, user="analyst", json={"period_end": "2025-12-31", "currency": "USD",
                                               "figures": {**HEALTHY, "current_assets": "1200000"}})
    assert bad.status_code == 422 and [e["field"] for e in bad.json()["errors"]] == ["current_assets"]
    bad = api.post(path, user="analyst", json={"period_end": "2025-12-31", "currency": "USD",
                                               "figures": {**HEALTHY, "goodwill": "5"}})
    assert bad.status_code == 422 and bad.json()["errors"][0]["field"] == "figures.goodwill"
    assert api.post(path, user="desk", json={"period_end": "2025-12-31", "currency": "USD",
                                             "figures": HEALTHY}).status_code == 403
    assert count(CreditStatement) == 0

    st = ok(api.post(path, user="analyst", json={"period_end": "2025-12-31", "currency": "USD", "figures": HEALTHY,
                                                 "source": "audited annual report 2025"}), 201)
    assert st["figures"]["current_assets"] == "400000" and st["figures"]["market_value_of_equity"] is None
    assert [s["id"] for s in ok(api.get(path, user="viewer"))] == [st["id"]]

    # No invoices yet: the expected purchases must be given.
    r = api.post(f"/credit/customers/{bigbuy}/scores", user="analyst", json={})
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "expected_monthly_purchases"
    assert count(CreditScore) == 0
    score = ok(api.post(f"/credit/customers/{bigbuy}/scores", user="analyst",
                        json={"expected_monthly_purchases": "20000"}), 201)
    # Z'' (a non-manufacturer, the default) 3.8184 safe 0; current ratio 1.6: 0; coverage 6: 0; no payment
    # history: 10 -> 10 points, grade B. Capacity min(10 % of 500,000, 20 % of 150,000) = 30,000; cap
    # 20,000 (a month at net 30); B gets 75 % of 20,000 = 15,000.00.
    assert (score["grade"], score["points"], score["recommended_limit"]) == ("B", 10, "15000.00")
    reasons = {r["factor"]: (r["points"], r["text"]) for r in score["reasons"]}
    assert reasons["Altman Z"] == (0, "Altman Z'' (non-manufacturer) 3.8184 is in the safe zone (safe above 2.6, "
                                      "distress below 1.1)")
    assert reasons["days beyond terms"] == (10, "no payment history yet")
    assert score["inputs"]["financials"]["quick_ratio"] == {"value": "1.2", "reason": None}
    assert score["inputs"]["limit"]["capacity"] == "30000"
    profile = ok(api.get(f"/credit/customers/{bigbuy}", user="viewer"))
    assert profile["latest_score"]["id"] == score["id"]
    assert [s["grade"] for s in ok(api.get(f"/credit/customers/{bigbuy}/scores", user="viewer"))] == ["B"]


def test_payment_behaviour_is_read_from_the_customers_invoices_payments_disputes_and_bounces(api, world):
    """LOYAL's invoice of 90.84 (30 November, due 30 December) was disputed; a cheque for it on 5 January
    bounced, and a transfer paid it on 9 January, 10 days late. No statements: Z unknown 15, current ratio 5, coverage 5; 10 days
    beyond terms 10; one dispute 3; one bounce 5: 43 points, grade C. Expected purchases default to a
    twelfth of the year's invoices (7.57), so the limit is 50 % of that, rounded down: 3.78."""
    equip(api)
    ids = world["ids"]
    on(2026, 11, 30)
    inv = invoiced(api, "LOYAL", [("WIDGET", "10")], "5.2")
    ok(api.post(f"/invoices/{inv['id']}/disputes", user="biller", json={"reason": "price"}), 201)

    def pay(method: str) -> dict:
        return ok(api.post("/payments", user="cashier", json={
            "customer_id": ids["LOYAL"], "method": method, "currency": "USD", "amount": "90.84",
            "applications": [{"invoice_id": inv["id"], "amount": "90.84"}]}), 201)

    on(2027, 1, 5)  # a cheque that bounces: the invoice is open again
    cheque = pay("cheque")
    ok(api.post(f"/payments/{cheque['id']}/bounce", user="cashier", json={"reason": "cheque returned: no funds"}))
    on(2027, 1, 9)  # paid by transfer: 10 days after the due date
    pay("bank_transfer")
    on(2027, 1, 20)
    score = ok(api.post(f"/credit/customers/{ids['LOYAL']}/scores", user="analyst", json={}), 201)
    pb = score["inputs"]["payment_behaviour"]
    assert (pb["average_days_beyond_terms"], pb["weighted_dso"], pb["late_share_by_amount"]) == ("10", "40", "100")
    assert (pb["disputes"], pb["bounced_payments"]) == (1, 1)
    assert (score["grade"], score["points"]) == ("C", 43)
    assert score["inputs"]["expected_monthly_purchases"] == "7.57"
    assert score["recommended_limit"] == "3.78"


def test_shipped_not_invoiced_then_receivables(api, world):
    """BIGBUY: 12 widgets at 9.00 + 6.25 % = 114.75. Confirmed: open orders. Shipped, invoice not yet
    issued (the outbox has not run): shipped not invoiced. Invoiced: open receivables."""
    equip(api)
    on(2026, 11, 30)
    bigbuy = world["ids"]["BIGBUY"]

    def parts():
        e = ok(api.get(f"/credit/customers/{bigbuy}", user="analyst"))["exposure"]
        return e["open_receivables"], e["shipped_not_invoiced"], e["open_orders"], e["total"]

    o = place(api, "BIGBUY", [("WIDGET", "12")])
    assert parts() == ("0.00", "0.00", "114.75", "114.75")
    pick_all(api, release(api, order_ids=[o["id"]]))
    sh = shipment_of(api, o["id"])
    pack(api, sh["id"], [("WIDGET", 12)], "6.2")
    ship(api, sh["id"])
    assert parts() == ("0.00", "114.75", "0.00", "114.75")
    dispatch_pending()
    assert parts() == ("114.75", "0.00", "0.00", "114.75")


def test_an_approved_amount_stands_until_the_order_grows(api, world):
    bigbuy = world["ids"]["BIGBUY"]
    set_limit(api, bigbuy, credit_limit="50")
    held = order(api, "BIGBUY", [("WIDGET", 10)])  # 95.63
    req = request_of(api, held["id"])
    ok(api.post(f"/approvals/{req['id']}/approve", user="analyst", json={"reason": "ok to 95.63"}))
    assert ok(api.get(f"/orders/{held['id']}"))["status"] == "confirmed"
    # fewer widgets (8 at 10.00 + 5.00 tax): still within what was approved
    smaller = ok(api.patch(f"/orders/{held['id']}/lines/1", json={"quantity": "8", "reason": "two less"}))
    assert smaller["status"] == "confirmed" and smaller["total"] == "85.00"
    # more than approved (11 at 9.00 + 6.19 tax): held again, a new request for the new total
    bigger = ok(api.patch(f"/orders/{held['id']}/lines/1", json={"quantity": "11", "reason": "one more"}))
    assert bigger["status"] == "held" and bigger["total"] == "105.19" and credit_hold(bigger)
    again = ok(api.get("/approvals", user="analyst"))
    assert [(r["order_id"], r["amount"]) for r in again] == [(held["id"], "105.19")]


def test_a_route_with_no_approvals_lets_small_orders_through_and_routes_need_an_administrator(api, world):
    bigbuy = world["ids"]["BIGBUY"]
    defaults = ok(api.get("/approvals/routes", user="viewer"))
    assert defaults["defaults"] is True and [r["approvals"] for r in defaults["routes"]] == [1, 1, 2]
    routes = [{"position": 1, "max_amount": "60", "approvals": 0, "description": "below 60: automatic"},
              {"position": 2, "role": "credit_analyst", "approvals": 1}]
    assert api.put("/approvals/routes", user="manager", json={"routes": routes}).status_code == 403
    bad = api.put("/approvals/routes", user="admin", json={"routes": [{**routes[0], "role": "credit_analyst"}]})
    assert bad.status_code == 422 and bad.json()["errors"][0]["field"] == "routes[0].role"
    assert count(ApprovalRoute) == 0
    ok(api.put("/approvals/routes", user="admin", json={"routes": routes}))
    set_limit(api, bigbuy, credit_limit="10")
    assert credit_hold(order(api, "BIGBUY", [("WIDGET", 5)])) is None  # 53.13, beyond 10 but below 60
    assert credit_hold(order(api, "BIGBUY", [("WIDGET", 10)]))["reasons"][0]["code"] == "limit_exceeded"


def test_a_bulk_import_sees_what_its_earlier_orders_added(api, world):
    """The gate with one batch for three orders of 400.00 against a 1,000.00 limit: two pass, the third
    is held, because the batch carries the first two (not yet written)."""
    ids = world["ids"]
    transaction(lambda s: s.execute(update(CustomerAccount).where(CustomerAccount.customer_id == ids["BIGBUY"])
                                    .values(credit_limit=D(1000))))

    def run(s):
        company = s.get(Company, ids["company"])
        account = s.scalar(select(CustomerAccount).where(CustomerAccount.customer_id == ids["BIGBUY"]))
        batch: dict = {}
        out = []
        for n in range(3):
            o = SimpleNamespace(id=None, company_id=company.id, customer_id=ids["BIGBUY"], currency="USD",
                                total=D("400.00"), lines=[], order_date=date(2026, 11, 30), entered_by=ids["desk"])
            out.append([r.code for r in gate.check(GateContext(s, SYSTEM, company, account, o, batch=batch))])
        return out

    assert transaction(run) == [[], [], ["limit_exceeded"]]


def test_bad_requests_are_refused_and_change_nothing(api, world):
    bigbuy = world["ids"]["BIGBUY"]
    r = api.put(f"/credit/customers/{bigbuy}/limit", user="analyst", json={"reason": "nothing asked"})
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "credit_limit"
    assert api.put(f"/credit/customers/{bigbuy}/limit", user="desk",
                   json={"credit_limit": "10", "reason": "x"}).status_code == 403
    assert api.get("/approvals", user="analyst", params={"role": "order_desk"}).status_code == 422
    assert api.get("/approvals", user="analyst", params={"status": "maybe"}).status_code == 422
    assert api.get("/approvals/999", user="analyst").status_code == 404
    assert api.post("/approvals/999/approve", user="analyst", json={"reason": "x"}).status_code == 404
    assert api.get("/credit/customers/999999", user="analyst").status_code == 404
    assert count(ApprovalRoute) == 0
    # The first hold writes the default routes and routes by them: 95.63, never scored -> an analyst.
    set_limit(api, bigbuy, credit_limit="10")
    held = order(api, "BIGBUY", [("WIDGET", 10)])
    assert count(ApprovalRoute) == 3 and ok(api.get("/approvals/routes", user="viewer"))["defaults"] is False
    req = request_of(api, held["id"])
    assert (req["role"], req["approvals_required"], req["customer_code"]) == ("credit_analyst", 1, "BIGBUY")
    # A viewer reads the queue but decides nothing.
    assert api.post(f"/approvals/{req['id']}/approve", user="viewer", json={"reason": "x"}).status_code == 403
    assert ok(api.get(f"/approvals/{req['id']}", user="viewer"))["decisions"] == []


def test_a_partly_shipped_order_counts_what_has_not_shipped(api, world):
    """BIGBUY orders 8 gadgets at its contract 22.50: 180.00 + tax 11.25 = 191.25. Five are in stock: they
    ship, three wait. Before the invoice: shipped not invoiced 5/8 of 191.25 = 119.53, open orders 3/8 =
    71.72. Invoiced: 112.50 + tax 7.03 = 119.53 open receivables. The total stays 191.25 throughout."""
    equip(api)
    on(2026, 11, 30)
    bigbuy = world["ids"]["BIGBUY"]

    def parts():
        e = ok(api.get(f"/credit/customers/{bigbuy}", user="analyst"))["exposure"]
        return e["open_receivables"], e["shipped_not_invoiced"], e["open_orders"], e["total"]

    o = order(api, "BIGBUY", [("GADGET", 8)])
    assert (o["status"], o["total"]) == ("backordered", "191.25")
    pick_all(api, release(api, order_ids=[o["id"]]))
    sh = shipment_of(api, o["id"])
    pack(api, sh["id"], [("GADGET", 5)], "6.2")
    ship(api, sh["id"])
    assert parts() == ("0.00", "119.53", "71.72", "191.25")
    dispatch_pending()
    assert parts() == ("119.53", "0.00", "71.72", "191.25")


def test_a_bulk_import_holds_the_order_that_goes_beyond_what_the_batch_used(api, world):
    """Three orders of 50 widgets (478.13 each) in one batch against BIGBUY's 1,000.00: the first two
    (956.26) pass, the third finds 43.74 left and waits for an analyst, its request opened once the batch
    is written."""
    from o2c.integrations.csv_capture import capture_batch
    from o2c.orders.schemas import OrderIn
    from tests.payments.support import actor

    ids = world["ids"]
    set_limit(api, ids["BIGBUY"], credit_limit="1000")
    orders = [OrderIn(customer_code="BIGBUY", channel="csv", po_number=f"BULK-{n}",
                      lines=[{"sku": "WIDGET", "quantity": 50}]) for n in range(3)]
    desk = actor(world, "desk")
    out = transaction(lambda s: capture_batch(s, desk, ids["company"], orders))
    assert [o.status for o in out] == ["confirmed", "confirmed", "held"]
    held = ok(api.get(f"/orders/{out[2].order_id}"))
    [reason] = credit_hold(held)["reasons"]
    assert reason["code"] == "limit_exceeded" and "available to the customer: 43.74 USD" in reason["message"]
    req = request_of(api, out[2].order_id)
    assert (req["amount"], req["role"], req["status"]) == ("478.13", "credit_analyst", "pending")
