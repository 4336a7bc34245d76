"""Story: a German wholesaler applies to buy from ACME, through the HTTP API.

The master-data clerk (onboarder) enters the application with its VAT number, phone, contacts and bank
account; mistyped numbers are refused naming the field and the rule, and nothing is stored. The
application goes to KYC; an order placed meanwhile waits on a "customer" hold. The clerk uploads the
four checklist documents, the compliance officer rejects one and accepts the rest (never their own
upload), and activates the customer: the waiting order moves on to confirmed. Suspended, the customer's
new order is held again; reinstated, it goes ahead; blocked, it stays blocked. Every decision is on the
customer's timeline.
"""
from __future__ import annotations

from sqlalchemy import func, select

from o2c.core.db import read_session
from o2c.customers.models import CustomerBankAccount, CustomerContact, KycDocument
from tests.api import assert_problem, order_body, snapshot

HAMBURG = {"name": "Nordhafen Handels GmbH", "line1": "Am Sandtorkai 50", "city": "Hamburg",
           "postal_code": "20457", "country": "DE"}
CHICAGO = {"name": "Nordhafen US receiving", "line1": "100 W Randolph St", "city": "Chicago", "region": "IL",
           "postal_code": "60601", "country": "US"}
APPLICATION = {
    "code": "NORDHAFEN", "legal_name": "Nordhafen Handels GmbH", "trading_names": ["Nordhafen", "NH Trade"],
    "registration_id": "HRB 123456", "tax_id": "de 136 695 976", "email": "Einkauf@nordhafen.example",
    "phone": "040 428 410", "currency": "USD", "payment_terms_days": 30,
    "billing_address": HAMBURG, "shipping_addresses": [CHICAGO],
    "contacts": [{"name": "Greta Lund", "role": "buyer", "email": "greta.lund@nordhafen.example",
                  "phone": "+49 40 4284 1012"},
                 {"name": "Ole Brandt", "role": "accounts payable", "phone": "040 4284 1020"}],
    "bank_accounts": [{"iban": "DE89 3704 0044 0532 0130 00", "bic": "COBADEFFXXX",
                       "holder_name": "Nordhafen Handels GmbH"}],
}
PDF = b"%PDF-1.4\n1 0 obj << >> endobj\ntrailer << >>\n%%EOF\n"
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 32


def _state() -> dict:
    """What an application could write: the API snapshot plus contacts, bank accounts and documents."""
    with read_session() as s:
        extra = {m.__tablename__: s.scalar(select(func.count()).select_from(m))
                 for m in (CustomerContact, CustomerBankAccount, KycDocument)}
    return snapshot() | extra


def _refused(api, verb, path, user, status, field, code, **kw) -> dict:
    before = _state()
    r = getattr(api, verb)(path, user=user, **kw)
    body = assert_problem(r, status, field)
    if code is not None:
        assert code in [e["code"] for e in body["errors"] if e["field"] == field], body
    assert _state() == before, f"{verb} {path} was refused but changed data"
    return body


def _upload(api, cid, kind, user="onboarder", name="doc.pdf", content=PDF, ctype="application/pdf"):
    return api.post(f"/customers/{cid}/documents", user=user, data={"kind": kind},
                    files={"file": (name, content, ctype)})


def _order(api, customer="NORDHAFEN") -> dict:
    r = api.post("/orders", json=order_body(customer, lines=[{"sku": "WIDGET", "quantity": "3"}]))
    assert r.status_code == 201, r.text
    return r.json()


def _customer_hold(order: dict) -> dict:
    [hold] = [h for h in order["holds"] if h["active"]]
    assert hold["kind"] == "customer", order["holds"]
    return hold


def test_a_customer_applies_passes_kyc_and_its_orders_follow_its_status(api, world):
    # 1. Mistyped numbers are refused, each naming its field and the rule broken; nothing is stored.
    cases = [
        ({"tax_id": "DE136695977"}, "tax_id", "check_digit", "DE VAT number check digit is wrong"),
        ({"tax_id": "FR40303265045"}, "tax_id", "country_mismatch", "is a FR number but the address is in DE"),
        ({"phone": "040 12"}, "phone", "phone_invalid", "not a valid number"),
        ({"email": "einkauf@@nordhafen"}, "email", "email_syntax", "is not valid"),
        ({"contacts": [{"name": "Greta Lund", "email": "greta@"}]}, "contacts[0].email", "email_syntax", "not valid"),
        ({"contacts": [{"name": "Greta Lund", "phone": "+49 40"}]}, "contacts[0].phone", "phone_invalid", "not a valid number"),
        ({"bank_accounts": [{"iban": "DE89370400440532013001"}]}, "bank_accounts[0].iban", "check_digit",
         "check digits are wrong"),
        ({"bank_accounts": [{"iban": "DE89370400440532013000", "bic": "BNPAFRPP"}]}, "bank_accounts[0].bic",
         "country_mismatch", "bank in FR but the IBAN is from DE"),
        ({"billing_address": HAMBURG | {"postal_code": "2045"}}, "billing_address.postal_code", "invalid",
         "not valid for this country"),
    ]
    for change, field, code, words in cases:
        body = _refused(api, "post", "/customers/applications", "onboarder", 422, field, code,
                        json=APPLICATION | change)
        assert any(words in e["message"] for e in body["errors"]), (field, body)
    everything_wrong = APPLICATION | {"tax_id": "DE136695977", "phone": "12", "email": "x@@y"}
    body = _refused(api, "post", "/customers/applications", "onboarder", 422, "tax_id", "check_digit",
                    json=everything_wrong)
    assert sorted(e["field"] for e in body["errors"]) == ["email", "phone", "tax_id"]  # every problem at once
    # Someone without master-data rights cannot apply for a customer.
    _refused(api, "post", "/customers/applications", "desk", 403, None, None, json=APPLICATION)

    # 2. The application is stored as a prospect, its numbers in their stored forms.
    r = api.post("/customers/applications", user="onboarder", json=APPLICATION)
    assert r.status_code == 201, r.text
    app = r.json()
    cid = app["id"]
    assert (app["status"], app["tax_id"], app["email"], app["phone"]) == (
        "prospect", "DE136695976", "Einkauf@nordhafen.example", "+4940428410")
    assert app["trading_names"] == ["Nordhafen", "NH Trade"] and app["registration_id"] == "HRB 123456"
    assert [(c["name"], c["phone"]) for c in app["contacts"]] == [("Greta Lund", "+494042841012"),
                                                                  ("Ole Brandt", "+494042841020")]
    assert [(b["iban"], b["bic"]) for b in app["bank_accounts"]] == [("DE89370400440532013000", "COBADEFFXXX")]
    assert app["allowed_steps"] == ["submit", "block"]
    assert app["kyc"]["missing"] == ["registry_extract", "proof_of_address", "ubo_declaration", "director_id"]
    assert api.get(f"/customers/{cid}").json()["status"] == "prospect"
    assert [a["id"] for a in api.get("/customers/applications").json()["items"]] == [cid]
    assert api.get(f"/customers/{cid}/application").json()["contacts"] == app["contacts"]

    # 3. The application goes to KYC; an order placed now waits on a customer hold.
    assert api.post(f"/customers/{cid}/submit", user="desk").status_code == 403  # not the desk's step
    r = api.post(f"/customers/{cid}/submit", user="onboarder")
    assert r.status_code == 200, r.text
    assert r.json()["status"] == "pending_kyc"
    _refused(api, "patch", f"/customers/{cid}/application", "onboarder", 409, None, None,
             json={"legal_name": "Nordhafen AG"})  # no more changes to the application once in KYC
    waiting = _order(api)
    assert waiting["status"] == "held"
    assert [x["code"] for x in _customer_hold(waiting)["reasons"]] == ["customer_pending_kyc"]

    # 4. Activation needs every checklist item accepted.
    body = _refused(api, "post", f"/customers/{cid}/activate", "compliance", 409, None, None)
    assert "registry_extract" in body["detail"]

    # 5. The clerk uploads the documents; what is not on the checklist, or not what it says, is refused.
    _refused(api, "post", f"/customers/{cid}/documents", "onboarder", 422, "kind", "not_on_checklist",
             data={"kind": "selfie"}, files={"file": ("me.pdf", PDF, "application/pdf")})
    _refused(api, "post", f"/customers/{cid}/documents", "onboarder", 422, "file", "content_type",
             data={"kind": "director_id"}, files={"file": ("id.txt", b"passport", "text/plain")})
    _refused(api, "post", f"/customers/{cid}/documents", "onboarder", 422, "file", "content_mismatch",
             data={"kind": "director_id"}, files={"file": ("id.pdf", b"MZ\x90\x00 not a pdf", "application/pdf")})
    docs = {}
    for kind, name, content, ctype in [("registry_extract", "hrb.pdf", PDF, "application/pdf"),
                                       ("proof_of_address", "bill.png", PNG, "image/png"),
                                       ("ubo_declaration", "ubo.pdf", PDF, "application/pdf")]:
        r = _upload(api, cid, kind, name=name, content=content, ctype=ctype)
        assert r.status_code == 201, r.text
        docs[kind] = r.json()
        assert (docs[kind]["status"], docs[kind]["size"]) == ("received", len(content))
    r = _upload(api, cid, "director_id", user="admin", name="passport.pdf")  # the administrator scans one
    assert r.status_code == 201, r.text
    docs["director_id"] = r.json()
    content = api.get(f"/customers/{cid}/documents/{docs['proof_of_address']['id']}/content", user="compliance")
    assert (content.status_code, content.content, content.headers["content-type"]) == (200, PNG, "image/png")
    assert api.get(f"/customers/{cid}/documents/{docs['proof_of_address']['id']}/content",
                   user="viewer").status_code == 403  # identity papers are not for every reader

    # 6. Review: only compliance may decide, a rejection says why, nobody reviews their own upload.
    review = f"/customers/{cid}/documents/{{}}/review"
    _refused(api, "post", review.format(docs["registry_extract"]["id"]), "onboarder", 403, None, None,
             json={"decision": "accepted"})
    _refused(api, "post", review.format(docs["proof_of_address"]["id"]), "compliance", 422, "note", "required",
             json={"decision": "rejected"})
    body = _refused(api, "post", review.format(docs["director_id"]["id"]), "admin", 403, None, None,
                    json={"decision": "accepted"})
    assert body["rule"] == "upload_vs_review_kyc_document"
    r = api.post(review.format(docs["proof_of_address"]["id"]), user="compliance",
                 json={"decision": "rejected", "note": "older than three months"})
    assert r.json()["status"] == "rejected" and r.json()["review_note"] == "older than three months"
    for kind in ("registry_extract", "ubo_declaration", "director_id"):
        r = api.post(review.format(docs[kind]["id"]), user="compliance", json={"decision": "accepted"})
        assert r.status_code == 200 and r.json()["status"] == "accepted", r.text
    _refused(api, "post", review.format(docs["registry_extract"]["id"]), "compliance", 409, None, None,
             json={"decision": "rejected", "note": "changed my mind"})  # decided once
    state = api.get(f"/customers/{cid}/kyc").json()
    assert {i["kind"]: i["state"] for i in state["items"]} == {
        "registry_extract": "accepted", "proof_of_address": "rejected", "ubo_declaration": "accepted",
        "director_id": "accepted"}
    assert (state["complete"], state["missing"]) == (False, ["proof_of_address"])
    body = _refused(api, "post", f"/customers/{cid}/activate", "compliance", 409, None, None)
    assert body["missing"] == ["proof_of_address"]
    r = _upload(api, cid, "proof_of_address", name="statement.pdf")
    r = api.post(review.format(r.json()["id"]), user="compliance", json={"decision": "accepted"})
    assert r.status_code == 200, r.text
    assert api.get(f"/customers/{cid}/kyc").json()["complete"] is True

    # 7. Compliance activates the customer: the waiting order moves on.
    r = api.post(f"/customers/{cid}/activate", user="compliance", json={"reason": "KYC complete"})
    assert r.status_code == 200, r.text
    assert (r.json()["status"], r.json()["allowed_steps"]) == ("active", ["suspend", "block"])
    waiting = api.get(f"/orders/{waiting['id']}").json()
    assert waiting["status"] == "confirmed", waiting
    assert not any(h["active"] for h in waiting["holds"])
    assert api.get("/customers/applications").json()["items"] == []  # out of the onboarding queue

    # 8. Suspended (with a reason): its new orders are held, and so is the confirmed one not yet picked.
    _refused(api, "post", f"/customers/{cid}/suspend", "compliance", 422, "reason", "required")
    r = api.post(f"/customers/{cid}/suspend", user="compliance", json={"reason": "bank details in doubt"})
    assert r.json()["status"] == "suspended"
    held = _order(api)
    assert held["status"] == "held"
    assert [x["code"] for x in _customer_hold(held)["reasons"]] == ["customer_suspended"]
    assert api.get(f"/orders/{waiting['id']}").json()["status"] == "held"

    # 9. Reinstated: both go ahead. Blocked: final, and its orders wait again.
    r = api.post(f"/customers/{cid}/reinstate", user="compliance", json={"reason": "bank confirmed the account"})
    assert r.json()["status"] == "active"
    assert [api.get(f"/orders/{o['id']}").json()["status"] for o in (waiting, held)] == ["confirmed", "confirmed"]
    r = api.post(f"/customers/{cid}/block", user="compliance", json={"reason": "fraudulent documents"})
    assert r.json()["status"] == "blocked"
    assert _order(api)["status"] == "held"
    body = _refused(api, "post", f"/customers/{cid}/reinstate", "compliance", 409, None, None,
                    json={"reason": "try again"})
    assert "blocked is final" in body["detail"]

    # 10. The timeline tells it all, in order, with who decided.
    timeline = api.get(f"/customers/{cid}/timeline").json()
    steps = [(e["actor"], e["action"], e["to_status"]) for e in timeline if e["action"] != "kyc_document_uploaded"]
    assert steps == [
        ("onboarder", "applied", "prospect"),
        ("onboarder", "status_changed", "pending_kyc"),
        ("compliance", "kyc_document_rejected", None),
        ("compliance", "kyc_document_accepted", None),
        ("compliance", "kyc_document_accepted", None),
        ("compliance", "kyc_document_accepted", None),
        ("compliance", "kyc_document_accepted", None),
        ("compliance", "status_changed", "active"),
        ("compliance", "status_changed", "suspended"),
        ("compliance", "status_changed", "active"),
        ("compliance", "status_changed", "blocked"),
    ]
    assert [e["reason"] for e in timeline if e["action"] == "status_changed"][1:] == [
        "KYC complete", "bank details in doubt", "bank confirmed the account", "fraudulent documents"]
    assert sum(e["action"] == "kyc_document_uploaded" for e in timeline) == 5


def test_contacts_of_any_customer_are_added_changed_and_listed(api, world):
    bigbuy = world["ids"]["BIGBUY"]
    path = f"/customers/{bigbuy}/contacts"
    _refused(api, "post", path, "onboarder", 422, "phone", "phone_invalid",
             json={"name": "Pat Doe", "phone": "(312) 555-01"})
    _refused(api, "post", path, "onboarder", 422, "email", "email_syntax", json={"name": "Pat Doe", "email": "pat"})
    _refused(api, "post", path, "viewer", 403, None, None, json={"name": "Pat Doe"})
    r = api.post(path, user="onboarder", json={"name": "Pat Doe", "role": "buyer", "phone": "(312) 744-5000",
                                              "email": "Pat@BigBuy.example"})
    assert r.status_code == 201, r.text
    pat = r.json()
    assert (pat["phone"], pat["email"]) == ("+13127445000", "Pat@bigbuy.example")  # E.164; domain lower case
    _refused(api, "patch", f"{path}/{pat['id']}", "onboarder", 422, "phone", "phone_format", json={"phone": "1"})
    r = api.patch(f"{path}/{pat['id']}", user="onboarder", json={"role": "accounts payable"})
    assert (r.json()["role"], r.json()["phone"]) == ("accounts payable", "+13127445000")
    assert [c["role"] for c in api.get(path).json()] == ["accounts payable"]
    assert api.patch(f"/customers/{world['ids']['TIDY']}/contacts/{pat['id']}", user="onboarder",
                     json={"role": "x"}).status_code == 404  # not TIDY's contact
    actions = [e["action"] for e in api.get(f"/customers/{bigbuy}/timeline").json()]
    assert actions[-2:] == ["contact_added", "contact_updated"]
