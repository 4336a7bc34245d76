"""The back-office queues as their people use them: each queue lists its held orders with the reasons and
figures, each decision needs a reason, and an action a user may not take shows disabled with the reason
(segregation of duties, a missing role); posting it anyway is refused and changes nothing."""
from __future__ import annotations

import html
import re

import pytest

from o2c.core import sod
from o2c.core.auth import Actor, create_user, issue_api_key
from o2c.core.db import read_session, transaction
from o2c.core.errors import Forbidden
from tests.compliance.test_screening_story import GENEVA, new_customer, subset
from tests.credit.support import order, request_of, set_limit
from tests.fraud.support import TEHRAN
from tests.fulfillment.flow import ok
from tests.web.support import log_in
from tests.world import password_hash


def staff(world, api, name: str, roles: list[str]) -> None:
    """A user made for one test who can log in to the pages (e.g. a desk clerk who also approves credit)."""
    def make(s):
        user = create_user(s, name, roles, [world["ids"]["company"]])
        user.password_hash = password_hash()
        return user.id, issue_api_key(s, user)

    world["ids"][name], api.keys[name] = transaction(make)


def text(r) -> str:
    """The page as a person reads it: tags dropped, entities decoded, spaces collapsed."""
    return " ".join(html.unescape(re.sub(r"<[^>]+>", " ", r.text)).split())


def row(r, order_id: int) -> str:
    """One order's row of a queue page, as text."""
    m = re.search(rf'<tr id="row-{order_id}">(.*?)</tr>', r.text, re.S)
    assert m, f"order {order_id} is not in the queue"
    return " ".join(html.unescape(re.sub(r"<[^>]+>", " ", m.group(1))).split())


def disabled(r, order_id: int) -> list[str]:
    """The disabled buttons of a row with the reason beside each: ['Approve credit: why', ...]."""
    m = re.search(rf'<tr id="row-{order_id}">(.*?)</tr>', r.text, re.S)
    found = re.findall(r'<button type="button" disabled[^>]*>(.*?)</button>\s*<small[^>]*class="why">(.*?)</small>',
                       m.group(1), re.S)
    return [f"{html.unescape(b).strip()}: {html.unescape(w).strip()}" for b, w in found]


def status_of(api, order_id: int) -> str:
    return ok(api.get(f"/orders/{order_id}"))["status"]


def test_each_user_sees_the_queues_of_their_role_only(app):
    desk = log_in(app, "desk")
    r = desk.get("/app/queues")
    assert r.status_code == 200
    assert 'id="queue-validation"' in r.text and 'id="queue-credit"' not in r.text
    assert desk.get("/app/queues/credit").status_code == 403
    assert desk.get("/app/queues/fraud").status_code == 403

    analyst = log_in(app, "analyst")
    r = analyst.get("/app/queues")
    assert re.findall(r'id="queue-(\w+)"', r.text) == ["credit"]
    assert analyst.get("/app/queues/validation").status_code == 403
    assert analyst.get("/app/queues/pricing").status_code == 403

    admin = log_in(app, "admin")
    r = admin.get("/app/queues")
    assert re.findall(r'id="queue-(\w+)"', r.text) == ["validation", "pricing", "credit", "compliance", "fraud"]
    assert admin.get("/app/queues/nonsense").status_code == 404

    assert log_in(app, "viewer").get("/app/queues").status_code == 403
    assert log_in(app, "keeper").get("/app/queues/credit").status_code == 403


def test_validation_queue_releases_a_duplicate_and_asks_for_corrections(app, api):
    first = ok(api.post("/orders", json={"customer_code": "BIGBUY", "channel": "web", "po_number": "PO-9",
                                         "lines": [{"sku": "WIDGET", "quantity": "2"}]}), 201)
    dup = ok(api.post("/orders", json={"customer_code": "BIGBUY", "channel": "edi", "po_number": "PO-9",
                                       "lines": [{"sku": "WIDGET", "quantity": "1"}]}), 201)
    bad = ok(api.post("/orders", json={"customer_code": "TIDY", "channel": "web",
                                       "lines": [{"sku": "OLD", "quantity": "1"}]}), 201)
    assert (first["status"], dup["status"], bad["status"]) == ("confirmed", "held", "held")

    desk = log_in(app, "desk")
    assert re.search(r'id="queue-validation">\s*<div class="v">2</div>', desk.get("/app/queues").text)
    page = desk.get("/app/queues/validation")
    assert page.status_code == 200
    dup_row = row(page, dup["id"])
    assert dup["number"] in dup_row and "BIGBUY" in dup_row and "$10.63" in dup_row  # 10.00 + 6.25% tax
    assert "duplicate: " in dup_row and first["number"] in dup_row and "desk" in dup_row
    assert f'href="/app/orders/{dup["id"]}"' in page.text
    assert disabled(page, bad["id"]) == ["Release: correct the order: product OLD is no longer sold (inactive)"]

    # No reason: refused beside the field, the order still held.
    r = desk.post(f"/app/queues/validation/{dup['id']}/release", {"reason": ""})
    assert r.status_code == 422
    assert f'id="reason-{dup["id"]}-error"' in r.text and "required" in row(r, dup["id"])
    assert status_of(api, dup["id"]) == "held"

    r = desk.post(f"/app/queues/validation/{dup['id']}/release", {"reason": "buyer confirms a second delivery"})
    assert r.status_code == 303 and r.headers["location"] == "/app/queues/validation"
    assert status_of(api, dup["id"]) == "confirmed"
    after = desk.client.get("/app/queues/validation")
    assert "duplicate hold released; the order is confirmed now" in text(after)
    assert f'id="row-{dup["id"]}"' not in after.text

    # A validation hold is not released by a button: the service refuses it too.
    r = desk.post(f"/app/queues/validation/{bad['id']}/release", {"reason": "ship it anyway"})
    assert r.status_code == 409 and "clears when the order is corrected" in row(r, bad["id"])
    r = desk.post(f"/app/queues/validation/{bad['id']}/reject", {"reason": "product discontinued, told the buyer"})
    assert r.status_code == 303
    assert status_of(api, bad["id"]) == "cancelled"


def test_pricing_queue_keeps_the_person_who_set_the_price_from_approving_it(app, api):
    priced = ok(api.post("/orders", user="desk_approver", json={
        "customer_code": "BIGBUY", "channel": "phone",
        "lines": [{"sku": "WIDGET", "quantity": "5", "unit_price": "7.00", "override_reason": "damaged packaging"}]}),
        201)
    assert priced["status"] == "held"

    own = log_in(app, "desk_approver")
    page = own.get("/app/queues/pricing")
    assert "30.0%" in row(page, priced["id"])
    assert disabled(page, priced["id"]) == [
        "Approve prices: You entered this order: segregation of duties — enter order vs approve price"]
    r = own.post(f"/app/queues/pricing/{priced['id']}/release", {"reason": "I approve my own price"})
    assert r.status_code == 403 and "segregation of duties" in row(r, priced["id"])
    assert status_of(api, priced["id"]) == "held"

    approver = log_in(app, "approver")
    page = approver.get("/app/queues/pricing")
    assert disabled(page, priced["id"]) == [
        "Reject: cancel order: needs the orders.write permission (customer, order_desk, sales_rep)"]
    r = approver.post(f"/app/queues/pricing/{priced['id']}/release", {"reason": "packaging damage confirmed"})
    assert r.status_code == 303
    assert ok(api.get(f"/orders/{priced['id']}"))["total"] == "37.19" and status_of(api, priced["id"]) == "confirmed"


def test_credit_queue_segregation_of_duties_reasons_and_approval(app, api, world):
    staff(world, api, "deskcredit", ["order_desk", "credit_analyst"])
    set_limit(api, world["ids"]["BIGBUY"], credit_limit="100")
    held = order(api, "BIGBUY", [("WIDGET", 20)], user="deskcredit")  # 20 x 9.00 + 6.25% = 191.25
    assert held["status"] == "held" and held["total"] == "191.25"

    # The clerk who entered it holds a credit role too: the approval is shown, disabled, with the rule.
    own = log_in(app, "deskcredit")
    page = own.get("/app/queues/credit")
    assert "exceeds the credit available" in row(page, held["id"])
    assert disabled(page, held["id"]) == [
        "Approve credit: You entered this order: segregation of duties — enter order vs approve credit",
        "Reject: cancel order: You entered this order: segregation of duties — enter order vs approve credit"]
    r = own.post(f"/app/queues/credit/{held['id']}/approve", {"reason": "mine, but fine"})
    assert r.status_code == 403 and "segregation of duties" in row(r, held["id"])
    assert request_of(api, held["id"])["approvals_given"] == 0 and status_of(api, held["id"]) == "held"

    analyst = log_in(app, "analyst")
    page = analyst.get("/app/queues/credit")
    line = row(page, held["id"])
    assert "$191.25" in line and "limit 100.00 USD" in line and "over by 91.25 USD" in line
    assert "Routed to credit_analyst: 0 of 1 approval(s) given" in line and "deskcredit" in line
    assert disabled(page, held["id"]) == []

    # A rejection without a reason: refused next to the field, nothing changed.
    r = analyst.post(f"/app/queues/credit/{held['id']}/reject", {"reason": "  "})
    assert r.status_code == 422
    assert f'id="reason-{held["id"]}-error"' in r.text and "give the reason for the decision" in r.text
    assert status_of(api, held["id"]) == "held" and request_of(api, held["id"])["status"] == "pending"
    #    The same with htmx: only the row comes back, with the message beside the field.
    r = analyst.htmx(f"/app/queues/credit/{held['id']}/reject", {"reason": ""})
    assert r.status_code == 200 and r.text.lstrip().startswith(f'<tr id="row-{held["id"]}">')
    assert "give the reason for the decision" in r.text

    r = analyst.post(f"/app/queues/credit/{held['id']}/approve", {"reason": "long-standing customer, small excess"})
    assert r.status_code == 303 and r.headers["location"] == "/app/queues/credit"
    assert status_of(api, held["id"]) == "confirmed"
    after = analyst.client.get("/app/queues/credit")
    assert "credit approved" in text(after) and f'id="row-{held["id"]}"' not in after.text

    # Deciding again, after the order left the queue: refused, shown above the list.
    r = analyst.post(f"/app/queues/credit/{held['id']}/approve", {"reason": "again"})
    assert r.status_code == 404 and "no credit approval waiting" in text(r)


def test_credit_routed_to_a_manager_is_disabled_for_an_analyst(app, api, world):
    set_limit(api, world["ids"]["BIGBUY"], credit_limit="100")
    big = order(api, "BIGBUY", [("GADGET", 500)])  # 500 x 22.50 + 6.25% = 11,953.13: the manager's
    assert big["status"] == "held"
    analyst = log_in(app, "analyst")
    assert f'id="row-{big["id"]}"' not in analyst.get("/app/queues/credit").text  # not in the analysts' queue
    page = analyst.get("/app/queues/credit?role=credit_manager")
    assert disabled(page, big["id"]) == ["Approve credit: needs the credit_manager role for 11,953.13 USD",
                                         "Reject: cancel order: needs the credit_manager role for 11,953.13 USD"]
    r = analyst.post(f"/app/queues/credit/{big['id']}/approve", {"reason": "fine by me"})
    assert r.status_code == 403 and status_of(api, big["id"]) == "held"

    manager = log_in(app, "manager")
    r = manager.post(f"/app/queues/credit/{big['id']}/reject", {"reason": "far beyond the limit, ask for prepayment"})
    assert r.status_code == 303 and status_of(api, big["id"]) == "cancelled"


def test_fraud_queue_shows_the_score_and_decides(app, api):
    far = ok(api.post("/orders", json={"customer_code": "EXEMPT", "channel": "web", "ship_to": TEHRAN,
                                       "lines": [{"sku": "WIDGET", "quantity": "3"}]}), 201)
    again = ok(api.post("/orders", json={"customer_code": "EXEMPT", "channel": "web", "ship_to": TEHRAN,
                                         "lines": [{"sku": "WIDGET", "quantity": "4"}]}), 201)
    assert far["status"] == again["status"] == "held"
    cop = log_in(app, "fraudcop")
    page = cop.get("/app/queues/fraud")
    line = row(page, far["id"])
    assert "fraud score" in line and "points" in line and "IR" in line
    assert disabled(page, far["id"]) == []

    r = cop.post(f"/app/queues/fraud/{far['id']}/approve", {"reason": "known consignee, checked by phone"})
    assert r.status_code == 303 and status_of(api, far["id"]) == "confirmed"
    r = cop.post(f"/app/queues/fraud/{again['id']}/reject", {"reason": ""})
    assert r.status_code == 422 and status_of(api, again["id"]) == "held"
    r = cop.post(f"/app/queues/fraud/{again['id']}/reject", {"reason": "second order to the same address in minutes"})
    assert r.status_code == 303 and status_of(api, again["id"]) == "cancelled"
    assert "fraud review rejected; the order is cancelled now" in text(cop.client.get("/app/queues/fraud"))


def test_compliance_queue_decides_the_screening_hit_of_a_held_customer(app, api):
    ok(api.post("/screening/lists", user="compliance", files=subset()), 201)
    new_customer(api, "TNKT", "TNK Tradng International S.A.", GENEVA)
    held = ok(api.post("/orders", json={"customer_code": "TNKT", "channel": "web",
                                        "lines": [{"sku": "WIDGET", "quantity": "2"}]}), 201)
    assert held["status"] == "held"

    officer = log_in(app, "compliance")
    page = officer.get("/app/queues/compliance")
    line = row(page, held["id"])
    assert "TNK TRADING INTERNATIONAL S.A." in line and "score 100.00" in line and "UKRAINE-EO13662" in line
    [hit] = re.findall(rf'/app/queues/compliance/{held["id"]}/approve\?hit=(\d+)', page.text)[:1]

    r = officer.post(f"/app/queues/compliance/{held['id']}/approve?hit={hit}", {"reason": ""})
    assert r.status_code == 422 and status_of(api, held["id"]) == "held"
    r = officer.post(f"/app/queues/compliance/{held['id']}/approve?hit={hit}",
                     {"reason": "Swiss register CHE-123.456.789: another company"})
    assert r.status_code == 303 and status_of(api, held["id"]) == "confirmed"
    assert "decided a false positive" in text(officer.client.get("/app/queues/compliance"))


def test_two_approvers_each_approve_once(app, api, world):
    set_limit(api, world["ids"]["BIGBUY"], credit_limit="100")
    big = order(api, "BIGBUY", [("GADGET", 2100)])  # 2,100 x 22.50 + 6.25% = 50,203.13: two approvers
    assert big["status"] == "held" and big["total"] == "50203.13"
    manager = log_in(app, "manager")
    r = manager.post(f"/app/queues/credit/{big['id']}/approve", {"reason": "group guarantee on file"})
    assert r.status_code == 303
    page = manager.client.get("/app/queues/credit")
    assert "your approval is recorded (1 of 2); another approver is needed" in text(page)
    assert "Routed to credit_manager: 1 of 2 approval(s) given" in row(page, big["id"])
    assert "approved by manager: group guarantee on file" in row(page, big["id"])
    assert disabled(page, big["id"]) == [
        "Approve credit: you already approved; another approver is needed",
        "Reject: cancel order: you already approved; another approver is needed"]
    r = manager.post(f"/app/queues/credit/{big['id']}/approve", {"reason": "once more"})
    assert r.status_code == 409 and request_of(api, big["id"])["approvals_given"] == 1

    # The second approval may come from an analyst: the manager's holds the route's role.
    analyst = log_in(app, "analyst")
    page = analyst.get("/app/queues/credit?role=credit_manager")
    assert disabled(page, big["id"]) == []  # any approver who may take part may reject, as the service says
    r = analyst.post(f"/app/queues/credit/{big['id']}/approve", {"reason": "second pair of eyes: agreed"})
    assert r.status_code == 303
    assert request_of(api, big["id"])["status"] == "approved" and not any(
        h["active"] and h["kind"] == "credit" for h in ok(api.get(f"/orders/{big['id']}"))["holds"])


def test_the_conflict_the_page_shows_is_the_one_the_service_refuses(world):
    clerk = Actor(world["ids"]["desk"], "desk", frozenset({"order_desk"}))
    other = Actor(world["ids"]["analyst"], "analyst", frozenset({"credit_analyst"}))
    with read_session() as s:
        rule = sod.conflict(s, clerk, "approve_credit", "enter_order", [clerk.user_id])
        assert rule.code == "enter_order_vs_approve_credit" and rule.title == "enter order vs approve credit"
        assert sod.conflict(s, other, "approve_credit", "enter_order", [clerk.user_id]) is None
        with pytest.raises(Forbidden, match="segregation of duties"):
            sod.check(s, clerk, "approve_credit", "enter_order", [clerk.user_id])
        sod.check(s, other, "approve_credit", "enter_order", [clerk.user_id])


def test_a_fraud_analyst_who_entered_the_order_may_not_review_it(app, api, world):
    staff(world, api, "deskcop", ["order_desk", "fraud_analyst"])
    far = ok(api.post("/orders", user="deskcop", json={"customer_code": "EXEMPT", "channel": "web", "ship_to": TEHRAN,
                                                       "lines": [{"sku": "WIDGET", "quantity": "3"}]}), 201)
    own = log_in(app, "deskcop")
    page = own.get("/app/queues/fraud")
    why = "You entered this order: segregation of duties — enter order vs review fraud"
    assert disabled(page, far["id"]) == [f"Approve: legitimate: {why}", f"Reject: fraud, cancel order: {why}"]
    r = own.htmx(f"/app/queues/fraud/{far['id']}/approve", {"reason": "fine"})
    assert r.status_code == 200 and "segregation of duties" in r.text and status_of(api, far["id"]) == "held"

    # With htmx a decision that goes through reloads the queue, its message shown there.
    r = log_in(app, "fraudcop").htmx(f"/app/queues/fraud/{far['id']}/approve", {"reason": "known consignee"})
    assert r.status_code == 204 and r.headers["HX-Redirect"] == "/app/queues/fraud"
    assert status_of(api, far["id"]) == "confirmed"


def test_a_confirmed_match_blocks_the_customer_and_its_order_waits_to_be_cancelled(app, api):
    ok(api.post("/screening/lists", user="compliance", files=subset()), 201)
    new_customer(api, "TNKT", "TNK Tradng International S.A.", GENEVA)
    held = ok(api.post("/orders", json={"customer_code": "TNKT", "channel": "web",
                                        "lines": [{"sku": "WIDGET", "quantity": "2"}]}), 201)
    officer = log_in(app, "compliance")
    [hit] = set(re.findall(rf'/app/queues/compliance/{held["id"]}/reject\?hit=(\d+)',
                           officer.get("/app/queues/compliance").text))
    r = officer.post(f"/app/queues/compliance/{held['id']}/reject?hit={hit}", {"reason": "same register number"})
    assert r.status_code == 303
    assert ok(api.get(f"/customers/{held['customer_id']}"))["status"] == "blocked"
    page = officer.client.get("/app/queues/compliance")
    assert "decided a true match" in text(page)
    assert "No open hit" in row(page, held["id"])
    assert disabled(page, held["id"]) == [
        "Cancel order: needs the orders.write permission (customer, order_desk, sales_rep)"]
    r = log_in(app, "admin").post(f"/app/queues/compliance/{held['id']}/reject", {"reason": "sanctioned buyer"})
    assert r.status_code == 303 and status_of(api, held["id"]) == "cancelled"
