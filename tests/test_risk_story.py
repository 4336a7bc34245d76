"""Who the business sells to, and on what terms, as one story through the API (issue 5). Each area has
its own detailed story beside its tests; this one walks them together, as the people involved would:

1. Compliance loads the sanctions list. A buyer applies with its VAT number, contacts and bank account;
   the clerk uploads the KYC documents, compliance accepts them and activates the customer (the clerk,
   who applied, may not).
2. An applicant trading under a listed alias is caught on arrival; compliance confirms the match and
   the applicant is blocked: its order stays held.
3. The credit analyst asks for a 500.00 limit; the clerk may not approve it, the manager does (version 1).
   An order of 850.00 goes beyond it and waits in the analysts' queue; the desk who entered it is refused,
   the analyst approves and the order is confirmed.
4. An order shipping to a high-risk destination waits for fraud review; the fraud analyst approves it.
5. The auditor verifies the audit chain and reads the conflict report; a contact's data is exported
   and erased on request, and the chain still verifies.
"""
from __future__ import annotations

from tests.api import order_body
from tests.compliance.test_screening_story import subset
from tests.customers.test_onboarding_story import APPLICATION, PDF
from tests.fraud.support import TEHRAN
from tests.fulfillment.flow import ok


def _held_by(order: dict) -> list[str]:
    return sorted(h["kind"] for h in order["holds"] if h["active"])


def test_onboarding_screening_credit_fraud_and_audit(api, world):
    # 1. The list, then an application through KYC.
    load = ok(api.post("/screening/lists", user="compliance", files=subset()), 201)
    assert load["entries"] == 17 and load["hits_opened"] == 0
    app = ok(api.post("/customers/applications", user="onboarder", json=APPLICATION), 201)
    cid, contact = app["id"], app["contacts"][0]
    assert (app["status"], app["tax_id"]) == ("prospect", "DE136695976")
    for kind in app["kyc"]["missing"]:
        doc = ok(api.post(f"/customers/{cid}/documents", user="onboarder", data={"kind": kind},
                          files={"file": (f"{kind}.pdf", PDF, "application/pdf")}), 201)
        ok(api.post(f"/customers/{cid}/documents/{doc['id']}/review", user="compliance",
                    json={"decision": "accepted"}))
    assert ok(api.post(f"/customers/{cid}/submit", user="onboarder"))["status"] == "pending_kyc"
    assert api.post(f"/customers/{cid}/activate", user="onboarder").status_code == 403
    assert ok(api.post(f"/customers/{cid}/activate", user="compliance"))["status"] == "active"

    # 2. A listed alias is caught on arrival and confirmed: blocked, its order held.
    listed = ok(api.post("/customers/applications", user="onboarder", json={
        "code": "AEROPARTS", "legal_name": "Aero Parts Trading FZE", "currency": "USD",
        "trading_names": ["Iran Aircraft Manufacturing Industries"],
        "billing_address": {"name": "Aero Parts", "line1": "Dubai Airport Freezone, Building 6W", "city": "Dubai",
                            "region": "Dubai", "country": "AE"},
        "shipping_addresses": [APPLICATION["shipping_addresses"][0]]}), 201)
    [hit] = ok(api.get("/screening/hits", user="compliance"))["items"]
    assert (hit["customer_id"], hit["listed_name"]) == (listed["id"], "IRAN AIRCRAFT MANUFACTURING INDUSTRIES")
    blocked_order = ok(api.post("/orders", json=order_body("AEROPARTS", lines=[{"sku": "WIDGET", "quantity": "1"}])),
                       201)
    assert _held_by(blocked_order) == ["compliance", "customer"]
    ok(api.post(f"/screening/hits/{hit['id']}/decision", user="compliance",
                json={"decision": "true_match", "reason": "the alias and the free zone; confirmed with OFAC's notes"}))
    assert ok(api.get(f"/customers/{listed['id']}"))["status"] == "blocked"
    assert ok(api.get(f"/orders/{blocked_order['id']}"))["status"] == "held"

    # 3. A limit under four eyes, an order beyond it, decided by the analyst and not by the desk.
    [asked] = ok(api.put(f"/credit/customers/{cid}/limit", user="analyst",
                         json={"credit_limit": "500", "reason": "new customer"}), 202)
    assert api.post(f"/customers/changes/{asked['id']}/approve", user="onboarder",
                    json={"reason": "ok"}).status_code == 403  # no credit.approve
    approved = ok(api.post(f"/customers/changes/{asked['id']}/approve", user="manager", json={"reason": "agreed"}))
    assert (approved["status"], approved["version"]) == ("approved", 1)
    big = ok(api.post("/orders", json=order_body(APPLICATION["code"], lines=[{"sku": "WIDGET", "quantity": "100"}])),
             201)
    assert big["total"] == "850.00" and _held_by(big) == ["credit"]
    [request] = [r for r in ok(api.get("/approvals", user="analyst")) if r["order_id"] == big["id"]]
    assert (request["amount"], request["role"]) == ("850.00", "credit_analyst")
    assert api.post(f"/approvals/{request['id']}/approve", user="desk", json={"reason": "mine"}).status_code == 403
    ok(api.post(f"/approvals/{request['id']}/approve", user="analyst", json={"reason": "KYC fresh, small excess"}))
    assert ok(api.get(f"/orders/{big['id']}"))["status"] == "confirmed"

    # 4. A high-risk destination waits for fraud review; the analyst approves it.
    far = ok(api.post("/orders", json=order_body("EXEMPT", ship_to=TEHRAN,
                                                 lines=[{"sku": "WIDGET", "quantity": "3"}])), 201)
    assert _held_by(far) == ["fraud"]
    [review] = [r for r in ok(api.get("/fraud-reviews", user="fraudcop"))["items"] if r["order_id"] == far["id"]]
    assert {x["code"] for x in review["reasons"]} >= {"high_risk_destination"}
    ok(api.post(f"/fraud-reviews/{review['id']}/approve", user="fraudcop", json={"reason": "known consignee"}))
    assert ok(api.get(f"/orders/{far['id']}"))["status"] == "confirmed"

    # Every decision is on the timelines.
    order_actions = [e["action"] for e in ok(api.get(f"/orders/{big['id']}/timeline"))]
    assert "credit_hold_released" in order_actions
    customer_actions = [e["action"] for e in ok(api.get(f"/customers/{cid}/timeline"))]
    assert {"change_approved"} <= set(customer_actions)

    # 5. The auditor's view, and a privacy request.
    verified = ok(api.get("/audit/verify", user="auditor"))
    assert verified["ok"] and verified["problems"] == [] and verified["records"] > 20
    report = {u["username"] for u in ok(api.get("/roles/conflict-report", user="auditor"))}
    assert report == {"admin", "desk_approver"}
    exported = ok(api.get(f"/privacy/contacts/{contact['id']}/export", user="compliance"))
    assert contact["email"] in str(exported)
    erased = ok(api.post(f"/privacy/contacts/{contact['id']}/erase", user="compliance",
                         json={"reason": "erasure request of the contact"}))
    assert erased["contact_id"] == contact["id"]
    contacts = ok(api.get(f"/customers/{cid}/contacts"))
    assert contact["email"] not in str(contacts)
    assert ok(api.get("/audit/verify", user="auditor"))["ok"]
