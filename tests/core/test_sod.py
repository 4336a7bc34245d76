"""Segregation of duties: the conflict matrix is data; a user who did one duty on a record is refused the
other (naming the rule); the report lists users whose roles hold both sides; an administrator changes
the matrix and the checks follow it."""
from __future__ import annotations

import pytest
from typer.testing import CliRunner

from o2c.cli import app as cli_app
from o2c.core import audit, sod, users
from o2c.core.auth import ROLES, SYSTEM, Actor, create_user, issue_api_key
from o2c.core.db import read_session, transaction
from o2c.core.errors import Forbidden
from o2c.core.events import dispatch_pending
from tests.api import assert_problem, order_body, snapshot
from tests.fulfillment.flow import ok
from tests.payments.support import invoiced
from tests.shipping_world import equip

CODES = {r.code for r in sod.DEFAULTS}


# ---------------------------------------------------------------- rules (pure)

def test_every_default_rule_pairs_two_known_duties_and_every_duty_maps_to_a_permission():
    assert len(sod.DEFAULTS) == len(CODES) == 7
    for r in sod.DEFAULTS:
        assert r.duty_a in sod.DUTIES and r.duty_b in sod.DUTIES and r.duty_a != r.duty_b
    for perm in sod.DUTIES.values():
        assert any(perm in p for p in ROLES.values())


@pytest.mark.parametrize("roles, expected", [
    (["order_desk"], set()),
    (["order_desk", "pricing_approver"], {"enter_order_vs_approve_price"}),
    (["order_desk", "credit_manager"], {"enter_order_vs_approve_credit"}),
    (["billing", "receivables"], {"record_payment_vs_issue_credit_note"}),
    (["master_data", "data_steward"], {"request_vs_approve_customer_change"}),
    (["master_data", "compliance_officer"], {"upload_vs_review_kyc_document", "apply_vs_activate_customer"}),
    (["admin"], CODES),
])
def test_roles_conflict_when_together_they_allow_both_duties_of_a_rule(roles, expected):
    assert {r.code for r in sod.role_conflicts(roles, list(sod.DEFAULTS))} == expected


def test_an_inactive_rule_does_not_conflict():
    off = [sod.Rule(r.code, r.duty_a, r.duty_b, r.description, active=False) for r in sod.DEFAULTS]
    assert sod.role_conflicts(["admin"], off) == []


def test_the_check_refuses_the_user_who_did_the_other_duty_and_only_that_user(world, db):
    someone = Actor(user_id=world["ids"]["approver"], username="approver", roles=frozenset({"pricing_approver"}))
    with read_session() as s:
        sod.check(s, someone, "approve_price", "enter_order", [world["ids"]["desk"], None])
        with pytest.raises(Forbidden) as refused:
            sod.check(s, someone, "approve_price", "enter_order", [world["ids"]["approver"]])
        assert refused.value.extra["rule"] == "enter_order_vs_approve_price"
        # Either order of the duties finds the rule; duties no rule pairs are not checked; the system
        # (no user) is never refused; an unknown duty is a programming error.
        with pytest.raises(Forbidden):
            sod.check(s, someone, "enter_order", "approve_price", [world["ids"]["approver"]])
        sod.check(s, someone, "approve_price", "record_payment", [world["ids"]["approver"]])
        sod.check(s, SYSTEM, "approve_price", "enter_order", [None])
        with pytest.raises(ValueError):
            sod.check(s, someone, "approve_prices", "enter_order", [])


# ---------------------------------------------------------------- the story, through the API

def _user(name: str, roles: list[str], world) -> str:
    def make(s):
        return issue_api_key(s, create_user(s, name, roles, [world["ids"]["company"]]))

    world["keys"][name] = key = transaction(make)
    return key


def test_the_matrix_the_report_and_a_change_of_the_matrix(api, world):
    # Anyone who reads sees the roles and the matrix: the seven default rules until an admin changes it.
    roles = ok(api.get("/roles", user="viewer"))
    assert {r["role"] for r in roles["roles"]} == set(ROLES)
    assert roles["duties"]["approve_price"] == "holds.release_pricing"
    matrix = ok(api.get("/roles/conflicts", user="viewer"))["rules"]
    assert {r["code"] for r in matrix} == CODES and all(r["active"] for r in matrix)

    # The report (auditors): the admin, flagged, and desk_approver, whose two roles enter and approve prices.
    assert_problem(api.get("/roles/conflict-report", user="desk"), 403)
    report = {u["username"]: u for u in ok(api.get("/roles/conflict-report", user="auditor"))}
    assert set(report) == {"admin", "desk_approver"}
    assert report["admin"]["admin"] is True and len(report["admin"]["conflicts"]) == len(CODES)
    assert report["desk_approver"]["admin"] is False
    assert [c["rule"] for c in report["desk_approver"]["conflicts"]] == ["enter_order_vs_approve_price"]

    # desk_approver enters an order with a price below list: it is held for pricing, and they may not
    # release it themselves (the rule is named); another approver may.
    held = ok(api.post("/orders", user="desk_approver", json=order_body(lines=[
        {"sku": "WIDGET", "quantity": "1", "unit_price": "5.00", "override_reason": "matching a competitor"}])), 201)
    hold = next(h for h in held["holds"] if h["kind"] == "pricing")
    url = f"/orders/{held['id']}/holds/{hold['id']}/release"
    before = snapshot()
    body = assert_problem(api.post(url, user="desk_approver", json={"reason": "fine"}), 403)
    assert body["rule"] == "enter_order_vs_approve_price"
    assert snapshot() == before

    # Only sod.configure (admins) changes the matrix; a bad rule is refused naming the field, changing nothing.
    rules = [{k: r[k] for k in ("code", "duty_a", "duty_b", "description", "active")} for r in matrix]
    assert_problem(api.put("/roles/conflicts", user="auditor", json={"rules": rules}), 403)
    bad = rules + [{"code": "x", "duty_a": "enter_orders", "duty_b": "approve_credit"}]
    assert_problem(api.put("/roles/conflicts", user="admin", json={"rules": bad}), 422, f"rules[{len(CODES)}].duty_a")
    assert_problem(api.put("/roles/conflicts", user="admin", json={"rules": rules + [rules[0]]}), 422, f"rules[{len(CODES)}].code")
    assert snapshot() == before

    # The admin switches the price rule off and adds one: the check and the report follow the data.
    for r in rules:
        r["active"] = r["code"] != "enter_order_vs_approve_price"
    rules.append({"code": "enter_order_vs_record_payment", "duty_a": "enter_order", "duty_b": "record_payment",
                  "description": "who takes orders does not take the cash"})
    changed = ok(api.put("/roles/conflicts", user="admin", json={"rules": rules}))["rules"]
    assert [(r["code"], r["active"]) for r in changed if r["code"] in
            ("enter_order_vs_approve_price", "enter_order_vs_record_payment")] == [
        ("enter_order_vs_approve_price", False), ("enter_order_vs_record_payment", True)]
    report = {u["username"]: u for u in ok(api.get("/roles/conflict-report", user="auditor"))}
    assert set(report) == {"admin"}
    assert ok(api.post(url, user="desk_approver", json={"reason": "fine"}))["status"] != "held"
    trail = ok(api.get("/audit", user="auditor", params={"entity": "sod_rule"}))["items"]
    assert sorted(i["action"] for i in trail) == ["added", "changed"]
    # Left out of the list, a rule is switched off, not deleted.
    ok(api.put("/roles/conflicts", user="admin", json={"rules": rules[:1]}))
    after = ok(api.get("/roles/conflicts", user="viewer"))["rules"]
    assert len(after) == len(CODES) + 1 and [r["code"] for r in after if r["active"]] == [rules[0]["code"]]


def test_who_recorded_a_payment_of_an_invoice_cannot_credit_it(api, world):
    _user("allrounder", ["billing", "receivables"], world)
    equip(api)
    inv = invoiced(api)
    payment = ok(api.post("/payments", user="allrounder", json={
        "customer_id": world["ids"]["BIGBUY"], "method": "bank_transfer", "currency": "USD", "amount": "10.00",
        "applications": [{"invoice_id": inv["id"], "amount": "10.00"}]}), 201)
    assert payment["amount"] == "10.00"
    url = f"/invoices/{inv['id']}/credit-notes"
    credit = {"reason": "one widget scratched", "lines": [{"line_no": 1, "quantity": "1"}]}
    body = assert_problem(api.post(url, user="allrounder", json=credit), 403)
    assert body["rule"] == "record_payment_vs_issue_credit_note"
    assert ok(api.get("/credit-notes", user="admin"))["items"] == []
    # Another invoice, not paid by them, they may credit; and the biller may credit this one.
    other = invoiced(api, "LOYAL")
    assert api.post(f"/invoices/{other['id']}/credit-notes", user="allrounder", json=credit).status_code == 201
    note = ok(api.post(url, user="biller", json=credit), 201)
    assert note["invoice_id"] == inv["id"]
    dispatch_pending()


def test_conflicting_roles_may_be_assigned_and_come_back_as_warnings(world, db):
    admin = Actor(user_id=world["ids"]["admin"], username="admin", roles=frozenset({"admin"}),
                  company_ids=frozenset({world["ids"]["company"]}))
    desk = Actor(user_id=world["ids"]["desk"], username="desk", roles=frozenset({"order_desk"}))
    with pytest.raises(Forbidden):
        transaction(lambda s: users.assign_roles(s, desk, "desk", ["order_desk", "pricing_approver"]))
    assert transaction(lambda s: users.assign_roles(s, admin, "desk2", ["order_desk"])) == []
    warnings = transaction(lambda s: users.assign_roles(s, admin, "desk", ["order_desk", "pricing_approver"]))
    assert warnings == ["enter_order_vs_approve_price: the user who entered an order cannot approve its prices"]
    with read_session() as s:
        [rec] = [r for r in audit.history(s, "user", world["ids"]["desk"])]
        assert (rec.action, rec.data["after"], rec.data["sod_warnings"]) == (
            "roles_changed", ["order_desk", "pricing_approver"], warnings)
        assert "desk" in {u["username"] for u in sod.conflicts(s, admin, world["ids"]["company"])}
    result = CliRunner().invoke(cli_app, ["user", "roles", "desk2", "--role", "billing", "--role", "receivables",
                                          "--database-url", db])
    assert result.exit_code == 0, result.output
    assert "warning: these roles conflict (segregation of duties): record_payment_vs_issue_credit_note" in result.output


def test_roles_assigned_through_the_api_come_back_with_their_conflicts(api, world):
    assert_problem(api.put("/roles/users/desk2", user="auditor", json={"roles": ["order_desk"]}), 403)
    assert_problem(api.put("/roles/users/desk2", user="admin", json={"roles": ["order_clerk"]}), 422, "roles")
    assert_problem(api.put("/roles/users/nobody", user="admin", json={"roles": ["viewer"]}), 404)
    r = ok(api.put("/roles/users/desk2", user="admin", json={"roles": ["order_desk", "credit_manager"]}))
    assert r == {"username": "desk2", "roles": ["credit_manager", "order_desk"],
                 "warnings": ["enter_order_vs_approve_credit: the user who entered an order cannot approve its "
                              "credit hold"]}
    report = {u["username"] for u in ok(api.get("/roles/conflict-report", user="auditor"))}
    assert "desk2" in report
