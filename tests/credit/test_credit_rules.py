"""Credit rules, pure: available credit, hold reasons with their figures, route choice (defaults and
data), route checks, and who may approve."""
from __future__ import annotations

from decimal import Decimal as D

import pytest

from o2c.core.errors import ValidationFailed
from o2c.credit import rules
from o2c.credit.rules import ANALYST, MANAGER, Exposure, Overdue, Route


def exp(ar="0", sni="0", orders="0") -> Exposure:
    return Exposure("USD", D(ar), D(sni), D(orders))


def test_exposure_adds_its_three_parts_and_available_is_limit_less_exposure():
    e = exp("1200.50", "99.50", "700")
    assert e.total == D("2000.00")
    assert rules.available(D("2500"), e) == D("500.00")
    assert rules.available(D("1500"), e) == D("-500.00")
    assert rules.available(None, e) is None


def test_an_order_that_uses_the_credit_left_to_the_cent_is_not_held():
    e = exp(orders="1500")
    assert rules.hold_reasons(D("500.00"), limit=D("2000"), exposure=e) == []
    [r] = rules.hold_reasons(D("500.01"), limit=D("2000"), exposure=e)
    assert (r.field, r.code) == ("credit", "limit_exceeded")
    assert r.message == ("order 500.01 USD exceeds the credit available to the customer: 500.00 USD (limit "
                         "2,000.00 USD - exposure 1,500.00 USD = open receivables 0.00 USD + shipped not invoiced "
                         "0.00 USD + open orders 1,500.00 USD); over by 0.01 USD")


def test_over_by_counts_from_zero_when_the_limit_is_already_exceeded():
    [r] = rules.hold_reasons(D("100"), limit=D("1000"), exposure=exp(ar="1250"))
    assert "available to the customer: -250.00 USD" in r.message and r.message.endswith("over by 350.00 USD")


def test_no_limit_checks_nothing_but_overdue_still_holds():
    overdue = Overdue(2, D("300.40"), 45)
    assert rules.hold_reasons(D("1000000000"), limit=None, exposure=exp()) == []
    [r] = rules.hold_reasons(D("10"), limit=None, exposure=exp(), overdue=overdue, overdue_days=30)
    assert (r.code, r.message) == ("overdue_invoices",
                                   "2 invoice(s) of 300.40 USD overdue by more than 30 days (oldest 45 days past due)")
    # the company does not check overdue invoices: nothing
    assert rules.hold_reasons(D("10"), limit=None, exposure=exp(), overdue=overdue, overdue_days=None) == []
    assert rules.hold_reasons(D("10"), limit=None, exposure=exp(), overdue=Overdue(0, D(0), 0), overdue_days=30) == []


def test_group_and_customer_limits_are_both_checked_and_both_reasons_shown():
    reasons = rules.hold_reasons(D("600"), limit=D("1000"), exposure=exp(orders="500"), group_limit=D("5000"),
                                 group_exposure=exp(ar="4800"), group_of="GLOBEX")
    assert [r.code for r in reasons] == ["limit_exceeded", "group_limit_exceeded"]
    assert "available to the group of GLOBEX: 200.00 USD" in reasons[1].message
    assert rules.hold_reasons(D("600"), limit=None, exposure=None, group_limit=D("5000"),
                              group_exposure=exp(ar="4400"), group_of="GLOBEX") == []


@pytest.mark.parametrize("amount, grade, role, approvals", [
    ("0.01", "A", ANALYST, 1),
    ("9999.99", "C", ANALYST, 1),
    ("10000", "A", MANAGER, 1),       # the analyst's route ends below 10,000
    ("500", "D", MANAGER, 1),         # grades D and E always need the manager
    ("500", "E", MANAGER, 1),
    ("500", None, ANALYST, 1),        # never scored: routed as grade C
    ("49999.99", "B", MANAGER, 1),
    ("50000", "A", MANAGER, 2),       # two approvers from 50,000
    ("1000000", "E", MANAGER, 2),
])
def test_default_routes(amount, grade, role, approvals):
    r = rules.choose_route(rules.DEFAULT_ROUTES, D(amount), grade)
    assert (r.role, r.approvals) == (role, approvals)


def test_routes_are_data_first_match_by_position_and_a_gap_goes_to_the_manager():
    routes = [Route(20, D(0), D(1000), None, ANALYST, 1), Route(10, D(0), D(100), "A", None, 0),
              Route(30, D(2000), None, None, MANAGER, 2)]
    assert rules.choose_route(routes, D("99.99"), "A").approvals == 0  # position 10 first: automatic
    assert rules.choose_route(routes, D("99.99"), "B").role == ANALYST
    assert rules.choose_route(routes, D("100"), "A").role == ANALYST
    gap = rules.choose_route(routes, D("1500"), "A")
    assert gap is rules.FALLBACK and (gap.role, gap.approvals) == (MANAGER, 1)


@pytest.mark.parametrize("route, field, code", [
    ({"position": 1, "role": ANALYST, "approvals": 1, "max_grade": "F"}, "routes[0].max_grade", "unknown"),
    ({"position": 1, "role": None, "approvals": 1}, "routes[0].role", "unknown"),
    ({"position": 1, "role": "order_desk", "approvals": 1}, "routes[0].role", "unknown"),
    ({"position": 1, "role": ANALYST, "approvals": 0}, "routes[0].role", "not_allowed"),
    ({"position": 1, "role": ANALYST, "approvals": 4}, "routes[0].approvals", "out_of_range"),
    ({"position": 1, "role": ANALYST, "approvals": 1, "min_amount": D(10), "max_amount": D(10)},
     "routes[0].max_amount", "not_above_min"),
    ({"position": 1, "role": ANALYST, "approvals": 1, "min_amount": D(-1)}, "routes[0].min_amount", "negative"),
])
def test_bad_routes_are_refused_naming_the_field(route, field, code):
    with pytest.raises(ValidationFailed) as e:
        rules.check_routes([route])
    assert [(x.field, x.code) for x in e.value.errors] == [(field, code)]


def test_duplicate_positions_and_no_routes_are_refused():
    with pytest.raises(ValidationFailed) as e:
        rules.check_routes([{"position": 1, "role": ANALYST, "approvals": 1},
                            {"position": 1, "role": MANAGER, "approvals": 1}])
    assert [(x.field, x.code) for x in e.value.errors] == [("routes[1].position", "duplicate")]
    with pytest.raises(ValidationFailed):
        rules.check_routes([])


def test_who_may_approve():
    analyst, manager, desk = frozenset({ANALYST}), frozenset({MANAGER}), frozenset({"order_desk"})
    ok = dict(approvers_with_role=0, given=0)
    # one approval: the route's role, a manager covering an analyst
    assert rules.approval_refusal(roles=analyst, route_role=ANALYST, required=1, **ok) is None
    assert rules.approval_refusal(roles=manager, route_role=ANALYST, required=1, **ok) is None
    assert "routed to a credit_manager" in rules.approval_refusal(roles=analyst, route_role=MANAGER, required=1, **ok)
    assert "credit analyst or credit manager" in rules.approval_refusal(roles=desk, route_role=ANALYST, required=1, **ok)
    # two approvals on a manager's route: an analyst may give the first, never the last without a manager
    assert rules.approval_refusal(roles=analyst, route_role=MANAGER, required=2, approvers_with_role=0, given=0) is None
    assert "last of the 2 approvals" in rules.approval_refusal(roles=analyst, route_role=MANAGER, required=2,
                                                               approvers_with_role=0, given=1)
    assert rules.approval_refusal(roles=analyst, route_role=MANAGER, required=2, approvers_with_role=1, given=1) is None
    assert rules.approval_refusal(roles=manager, route_role=MANAGER, required=2, approvers_with_role=0, given=1) is None
