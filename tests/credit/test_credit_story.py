"""Credit, as a story, through the API. Prices: widgets 10.00, 9.00 from 10, 8.00 from 100; Illinois tax
6.25 % (BIGBUY ships to Chicago), California 7.25 % (TIDY ships to Los Angeles).

    100 widgets at 8.00 = 800.00 + tax 50.00 = 850.00
     50 widgets at 9.00 = 450.00 + tax 28.13 = 478.13
   1000 widgets at 8.00 = 8,000.00 + tax 500.00 = 8,500.00
     10 widgets at 9.00 =  90.00 + tax  5.63 =  95.63
      5 widgets at 10.00 = 50.00 + tax  3.13 =  53.13

The credit analyst asks for a 2,000.00 limit on BIGBUY and the credit manager approves it. The company
routes credit holds below 1,000 (grade A-C) to an analyst, below 5,000 to the manager, and from 5,000 to
two approvers of whom one is a manager. Two orders of 850.00 fit (1,700.00 exposure, 300.00 left); an
order of 478.13 does not and is held with the figures. It was entered by a clerk who also holds the
credit analyst role: the clerk may not approve it; the analyst does, and the order goes on. An order of
8,500.00 needs two approvers; one of 95.63 is rejected and cancelled; one of 53.13 is cancelled by the
desk and can no longer be approved.
"""
from __future__ import annotations

from o2c.core import clock
from tests.credit.support import add_user, credit_hold, order, request_of, set_limit
from tests.dunning.support import invoiced, on
from tests.fulfillment.flow import ok
from tests.shipping_world import equip

ROUTES = [
    {"position": 10, "min_amount": "0", "max_amount": "1000", "max_grade": "C", "role": "credit_analyst",
     "approvals": 1, "description": "small, grade A-C: an analyst"},
    {"position": 20, "min_amount": "0", "max_amount": "5000", "role": "credit_manager", "approvals": 1,
     "description": "below 5,000: the manager"},
    {"position": 30, "min_amount": "5000", "role": "credit_manager", "approvals": 2,
     "description": "5,000 and above: two approvers, one a manager"},
]


def profile(api, customer_id: int) -> dict:
    return ok(api.get(f"/credit/customers/{customer_id}", user="analyst"))


def test_limits_holds_routing_and_decisions(api, world):
    ids = world["ids"]
    bigbuy = ids["BIGBUY"]

    # The limit: asked by the analyst, applied only once the manager approves.
    asked = ok(api.put(f"/credit/customers/{bigbuy}/limit", user="analyst",
                       json={"credit_limit": "2000", "reason": "annual review"}), 202)
    assert [(c["field"], c["status"]) for c in asked] == [("credit_limit", "pending")]
    assert profile(api, bigbuy)["credit_limit"] is None
    assert api.post(f"/customers/changes/{asked[0]['id']}/approve", user="analyst",
                    json={"reason": "mine"}).status_code == 403
    ok(api.post(f"/customers/changes/{asked[0]['id']}/approve", user="manager", json={"reason": "agreed"}))
    p = profile(api, bigbuy)
    assert (p["credit_limit"], p["available"], p["exposure"]["total"]) == ("2000.00", "2000.00", "0.00")

    routes = ok(api.put("/approvals/routes", user="admin", json={"routes": ROUTES}))
    assert routes["defaults"] is False and [r["role"] for r in routes["routes"]] == [
        "credit_analyst", "credit_manager", "credit_manager"]

    # Within the limit: confirmed as usual, and counted as open orders.
    first = order(api, "BIGBUY", [("WIDGET", 100)])
    assert (first["status"], first["total"]) == ("confirmed", "850.00")
    second = order(api, "BIGBUY", [("WIDGET", 100)])
    assert second["total"] == "850.00" and credit_hold(second) is None
    p = profile(api, bigbuy)
    assert p["exposure"] == {"open_receivables": "0.00", "shipped_not_invoiced": "0.00", "open_orders": "1700.00",
                             "total": "1700.00"}
    assert p["available"] == "300.00"

    # Beyond the available credit: held, with the figures, in the analysts' queue.
    add_user(world, api, "clerk", ["order_desk", "credit_analyst"])
    third = order(api, "BIGBUY", [("WIDGET", 50)], user="clerk")
    assert third["status"] == "held" and third["total"] == "478.13"
    [reason] = credit_hold(third)["reasons"]
    assert reason["code"] == "limit_exceeded"
    assert reason["message"] == (
        "order 478.13 USD exceeds the credit available to the customer: 300.00 USD (limit 2,000.00 USD - "
        "exposure 1,700.00 USD = open receivables 0.00 USD + shipped not invoiced 0.00 USD + open orders "
        "1,700.00 USD); over by 178.13 USD")
    queue = ok(api.get("/approvals", user="analyst", params={"role": "credit_analyst"}))
    assert [(r["order_id"], r["amount"], r["role"], r["approvals_required"]) for r in queue] == [
        (third["id"], "478.13", "credit_analyst", 1)]
    req = queue[0]
    assert [h["order_id"] for h in ok(api.get("/credit/holds", user="viewer"))] == [third["id"]]
    assert [h["id"] for h in profile(api, bigbuy)["open_holds"]] == [req["id"]]
    # A held order is not granted credit yet: the exposure is unchanged.
    assert profile(api, bigbuy)["exposure"]["total"] == "1700.00"

    # The clerk entered it: credit rights or not, the clerk never decides it. Nothing changes.
    r = api.post(f"/approvals/{req['id']}/approve", user="clerk", json={"reason": "my customer"})
    assert r.status_code == 403 and r.json()["rule"] == "enter_order_vs_approve_credit"
    r = api.post(f"/approvals/{req['id']}/approve", user="analyst", json={})
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "reason"
    assert api.post(f"/approvals/{req['id']}/approve", user="desk", json={"reason": "x"}).status_code == 403
    unchanged = ok(api.get(f"/approvals/{req['id']}", user="analyst"))
    assert (unchanged["status"], unchanged["decisions"]) == ("pending", [])
    assert ok(api.get(f"/orders/{third['id']}"))["status"] == "held"

    decided = ok(api.post(f"/approvals/{req['id']}/approve", user="analyst", json={"reason": "pays on time"}))
    assert (decided["status"], decided["approvals_given"]) == ("approved", 1)
    assert [(d["user"], d["decision"], d["reason"]) for d in decided["decisions"]] == [
        ("analyst", "approve", "pays on time")]
    third = ok(api.get(f"/orders/{third['id']}"))
    assert third["status"] not in ("held", "cancelled") and credit_hold(third) is None
    p = profile(api, bigbuy)
    assert (p["exposure"]["open_orders"], p["available"]) == ("2178.13", "-178.13")
    assert api.post(f"/approvals/{req['id']}/approve", user="manager", json={"reason": "late"}).status_code == 409

    # A large order: two approvers, the last place kept for a manager.
    big = order(api, "BIGBUY", [("WIDGET", 1000)])
    assert big["status"] == "held" and big["total"] == "8500.00"
    req = request_of(api, big["id"])
    assert (req["role"], req["approvals_required"]) == ("credit_manager", 2)
    assert req["id"] not in [r["id"] for r in ok(api.get("/approvals", user="analyst",
                                                         params={"role": "credit_analyst"}))]
    assert req["id"] in [r["id"] for r in ok(api.get("/approvals", user="manager", params={"role": "credit_manager"}))]
    one = ok(api.post(f"/approvals/{req['id']}/approve", user="analyst", json={"reason": "seasonal stock-up"}))
    assert (one["status"], one["approvals_given"]) == ("pending", 1)
    assert ok(api.get(f"/orders/{big['id']}"))["status"] == "held"
    assert api.post(f"/approvals/{req['id']}/approve", user="analyst", json={"reason": "again"}).status_code == 409
    r = api.post(f"/approvals/{req['id']}/approve", user="analyst2", json={"reason": "me too"})
    assert r.status_code == 403 and "credit_manager" in r.json()["detail"]
    two = ok(api.post(f"/approvals/{req['id']}/approve", user="manager", json={"reason": "approved to 8,500"}))
    assert (two["status"], two["approvals_given"]) == ("approved", 2)
    assert credit_hold(ok(api.get(f"/orders/{big['id']}"))) is None

    # Rejected: the order is cancelled with the reason; nothing more can be decided.
    small = order(api, "BIGBUY", [("WIDGET", 10)])
    assert small["status"] == "held" and small["total"] == "95.63"
    req = request_of(api, small["id"])
    r = api.post(f"/approvals/{req['id']}/reject", user="analyst", json={"reason": "  "})
    assert r.status_code == 422
    rejected = ok(api.post(f"/approvals/{req['id']}/reject", user="analyst", json={"reason": "ask for prepayment"}))
    assert rejected["status"] == "rejected"
    assert ok(api.get(f"/orders/{small['id']}"))["status"] == "cancelled"
    assert api.post(f"/approvals/{req['id']}/approve", user="manager", json={"reason": "no"}).status_code == 409

    # Cancelled by the desk while it waited: its request is cancelled and cannot be approved.
    gone = order(api, "BIGBUY", [("WIDGET", 5)])
    assert gone["status"] == "held" and gone["total"] == "53.13"
    req = request_of(api, gone["id"])
    ok(api.post(f"/orders/{gone['id']}/cancel", json={"reason": "customer withdrew"}))
    r = api.post(f"/approvals/{req['id']}/approve", user="analyst", json={"reason": "fine"})
    assert r.status_code == 409
    after = ok(api.get(f"/approvals/{req['id']}", user="analyst"))
    assert (after["status"], after["decisions"]) == ("cancelled", [])
    assert ok(api.get("/credit/holds", user="analyst")) == []

    # The order's timeline and the customer's tell who decided what.
    actions = [(e["action"], e["actor"]) for e in ok(api.get(f"/orders/{third['id']}/timeline"))]
    assert ("credit_approval_requested", "clerk") in actions
    assert ("credit_approval_given", "analyst") in actions and ("credit_hold_released", "analyst") in actions
    customer_actions = [e["action"] for e in ok(api.get(f"/customers/{bigbuy}/timeline", user="analyst"))]
    for action in ("credit_approval_requested", "credit_approval_given", "credit_approval_rejected",
                   "credit_approval_cancelled"):
        assert action in customer_actions


def test_overdue_invoices_hold_orders_past_the_company_age(api, world):
    """LOYAL (5 % off) is invoiced 10 widgets on 30 November, due 30 December: 85.50 + tax 5.34 = 90.84.
    The company holds orders of customers with invoices overdue by more than 10 days."""
    equip(api)
    loyal = world["ids"]["LOYAL"]
    on(2026, 11, 30)
    inv = invoiced(api, "LOYAL", [("WIDGET", "10")], "5.2")
    assert (inv["gross_total"], inv["due_date"]) == ("90.84", "2026-12-30")
    ok(api.patch("/company", user="admin", json={"credit_overdue_days": 10}))

    on(2027, 1, 9)  # 10 days overdue: not more than 10
    assert order(api, "LOYAL", [("WIDGET", 1)])["status"] == "confirmed"
    on(2027, 1, 11)  # 12 days overdue
    held = order(api, "LOYAL", [("WIDGET", 1)])
    assert held["status"] == "held"
    assert [(r["code"], r["message"]) for r in credit_hold(held)["reasons"]] == [
        ("overdue_invoices", "1 invoice(s) of 90.84 USD overdue by more than 10 days (oldest 12 days past due)")]
    p = profile(api, loyal)
    assert p["overdue"] == {"older_than_days": 10, "holds_orders": True, "count": 1, "amount": "90.84",
                            "oldest_days": 12}
    assert p["exposure"]["open_receivables"] == "90.84"
    # LOYAL has no limit: the routes by amount still apply (9.50 + tax: an analyst).
    req = request_of(api, held["id"])
    assert req["role"] == "credit_analyst"
    ok(api.post(f"/approvals/{req['id']}/approve", user="analyst", json={"reason": "payment promised"}))
    assert ok(api.get(f"/orders/{held['id']}"))["status"] == "confirmed"
    clock.freeze(None)


def test_group_exposure_rolls_up_from_subsidiary_to_parent(api, world):
    """TIDY becomes a subsidiary of BIGBUY; the group may owe 1,000.00. TIDY orders 100 widgets (800.00 +
    CA tax 58.00 = 858.00): within the group limit. BIGBUY then orders 50 widgets (478.13): the group has
    142.00 left, so it is held on the group's limit though BIGBUY has no limit of its own."""
    ids = world["ids"]
    ok(api.put(f"/customers/{ids['TIDY']}/parent", user="admin", json={"parent_id": ids["BIGBUY"]}))
    set_limit(api, ids["BIGBUY"], group_credit_limit="1000")

    tidy = order(api, "TIDY", [("WIDGET", 100)])
    assert tidy["total"] == "858.00" and credit_hold(tidy) is None
    parent = order(api, "BIGBUY", [("WIDGET", 50)])
    assert parent["status"] == "held"
    assert [(r["code"], r["message"]) for r in credit_hold(parent)["reasons"]] == [(
        "group_limit_exceeded",
        "order 478.13 USD exceeds the credit available to the group of BIGBUY: 142.00 USD (limit 1,000.00 USD - "
        "exposure 858.00 USD = open receivables 0.00 USD + shipped not invoiced 0.00 USD + open orders 858.00 USD); "
        "over by 336.13 USD")]
    group = profile(api, ids["TIDY"])["group"]
    assert (group["root_customer_id"], sorted(group["members"])) == (ids["BIGBUY"], sorted([ids["BIGBUY"], ids["TIDY"]]))
    assert (group["group_credit_limit"], group["exposure"]["total"], group["available"]) == ("1000.00", "858.00", "142.00")
    # A subsidiary's order is checked against the group too: 5 widgets (50.00 + CA tax 3.63 = 53.63) fit.
    assert credit_hold(order(api, "TIDY", [("WIDGET", 5)])) is None
    assert profile(api, ids["TIDY"])["group"]["available"] == "88.37"


def test_a_raised_limit_lets_the_orders_it_now_covers_go_on(api, world):
    """An order held beyond the limit waits for a person, unless the limit is raised first: approving the
    higher limit checks the credit holds again, the order moves on and its approval request closes."""
    bigbuy = world["ids"]["BIGBUY"]
    set_limit(api, bigbuy, credit_limit="500")
    held = order(api, "BIGBUY", [("WIDGET", 100)])  # 850.00
    assert held["status"] == "held" and credit_hold(held)["reasons"][0]["code"] == "limit_exceeded"
    request = request_of(api, held["id"])
    assert request["status"] == "pending"

    set_limit(api, bigbuy, credit_limit="1000")
    after = ok(api.get(f"/orders/{held['id']}"))
    assert after["status"] == "confirmed" and credit_hold(after) is None
    assert request_of(api, held["id"])["status"] == "cancelled"
    timeline = [(e["action"], e["to_status"]) for e in ok(api.get(f"/orders/{held['id']}/timeline"))]
    assert timeline[-3:] == [("rechecked", "validated"), ("confirmed", "confirmed"),
                             ("credit_approval_cancelled", "confirmed")]
