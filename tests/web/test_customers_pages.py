"""The back office's customer screens: applications, KYC review, screening decisions, the credit profile
and sensitive changes under four eyes, driven through the pages as each person would."""
from __future__ import annotations

import html
import re

import pytest
from sqlalchemy import func, select

from o2c.core.auth import Actor
from o2c.core.db import read_session
from o2c.core.errors import Forbidden
from o2c.customers import service
from o2c.customers.models import Customer, CustomerContact, KycDocument
from tests.compliance.test_screening_story import subset
from tests.credit.test_credit_service import HEALTHY
from tests.customers.test_onboarding_story import APPLICATION, PDF
from tests.fulfillment.flow import ok
from tests.web.support import log_in

FORM = {
    "code": "NORDHAFEN", "legal_name": "Nordhafen Handels GmbH", "trading_names[0]": "Nordhafen",
    "tax_id": "DE 136 695 976", "registration_id": "HRB 123456", "currency": "USD",
    "billing_address.name": "Nordhafen Handels GmbH", "billing_address.line1": "Am Sandtorkai 50",
    "billing_address.postal_code": "20457", "billing_address.city": "Hamburg", "billing_address.country": "DE",
    "contacts[0].name": "Greta Lund", "contacts[0].email": "greta.lund@nordhafen.example",
    "contacts[0].phone": "+49 40 4284 1012",
    "bank_accounts[0].iban": "DE89 3704 0044 0532 0130 00", "bank_accounts[0].bic": "COBADEFFXXX",
}


def text_of(r) -> str:
    return html.unescape(r.text)


def beside(page: str, field_id: str) -> str:
    """The error shown next to a form field (the macro's `<id>-error`)."""
    m = re.search(rf'id="{re.escape(field_id)}-error"[^>]*>([^<]*)<', page)
    assert m, f"no error beside {field_id}"
    return html.unescape(m.group(1))


def row(page: str, row_id: str) -> str:
    m = re.search(rf'<tr id="{re.escape(row_id)}">(.*?)</tr>', page, re.S)
    assert m, f"no row {row_id}"
    return html.unescape(m.group(1))


def counts() -> tuple[int, int]:
    with read_session() as s:
        return (s.scalar(select(func.count()).select_from(Customer)),
                s.scalar(select(func.count()).select_from(CustomerContact)))


def apply(api, user="onboarder", **changed) -> dict:
    return ok(api.post("/customers/applications", user=user, json={**APPLICATION, **changed}), 201)


def upload(api, cid: int, kind: str, user: str) -> dict:
    return ok(api.post(f"/customers/{cid}/documents", user=user, data={"kind": kind},
                       files={"file": (f"{kind}.pdf", PDF, "application/pdf")}), 201)


def test_the_application_form_refuses_bad_numbers_beside_their_fields_and_stores_nothing(app, world):
    b = log_in(app, "onboarder")
    assert b.get("/app/customers/applications/new").status_code == 200
    before = counts()
    r = b.post("/app/customers/applications/new", {**FORM, "tax_id": "DE136695977",
                                                  "contacts[0].email": "greta@@nordhafen"})
    assert r.status_code == 422
    assert "check digit is wrong" in beside(r.text, "f-tax_id")
    assert "not valid" in beside(r.text, "f-contacts-0-email")
    assert 'value="DE136695977"' in r.text and 'value="greta@@nordhafen"' in r.text
    assert 'value="Am Sandtorkai 50"' in r.text
    assert counts() == before

    r = b.post("/app/customers/applications/new", {**FORM, "email": "einkauf@@nordhafen"})
    assert r.status_code == 422 and "not valid" in beside(r.text, "f-email")
    assert counts() == before


def test_a_valid_application_is_stored_and_listed_as_waiting(app, world):
    b = log_in(app, "onboarder")
    r = b.post("/app/customers/applications/new", FORM)
    assert r.status_code == 303, r.text[:2000]
    page = text_of(b.get(r.headers["location"]))
    assert "Nordhafen Handels GmbH" in page and "DE136695976" in page and "Greta Lund" in page
    assert "DE89370400440532013000" in page
    listed = text_of(b.get("/app/customers/applications"))
    assert "NORDHAFEN" in listed and "Prospect" in listed
    found = text_of(b.get("/app/customers", params={"q": "de136695976"}))
    assert "NORDHAFEN" in found and "BIGBUY" not in found
    assert "NORDHAFEN" not in text_of(b.get("/app/customers", params={"status": "active"}))


def test_compliance_reviews_kyc_documents_and_the_uploader_may_not(app, api, world):
    cid = apply(api)["id"]
    clerk = log_in(app, "onboarder")
    r = clerk.post(f"/app/customers/{cid}/documents", {"kind": "registry_extract"},
                   files={"file": ("extract.pdf", PDF, "application/pdf")})
    assert r.status_code == 303
    r = clerk.post(f"/app/customers/{cid}/documents", {"kind": "registry_extract"},
                   files={"file": ("extract.exe", b"MZ\x90\x00", "application/pdf")})
    assert r.status_code == 422 and "is not application/pdf" in text_of(r)
    [doc] = ok(api.get(f"/customers/{cid}/documents"))
    assert clerk.get(f"/app/customers/{cid}/documents/{doc['id']}/content").content == PDF
    officer = log_in(app, "compliance")
    mine = row(officer.get(f"/app/customers/{cid}").text, f"doc-{doc['id']}")
    assert "Accept" in mine and "disabled" not in mine
    r = officer.post(f"/app/customers/{cid}/documents/{doc['id']}/accept")
    assert r.status_code == 303
    assert "Accepted" in row(officer.get(f"/app/customers/{cid}").text, f"doc-{doc['id']}")

    rejected = upload(api, cid, "proof_of_address", "onboarder")
    r = officer.post(f"/app/customers/{cid}/documents/{rejected['id']}/reject", {"reason": "older than 3 months"})
    assert r.status_code == 303
    assert "older than 3 months" in row(officer.get(f"/app/customers/{cid}").text, f"doc-{rejected['id']}")

    # The administrator holds both roles, but who uploaded a document does not review it.
    own = upload(api, cid, "ubo_declaration", "admin")
    admin = log_in(app, "admin")
    shown = row(admin.get(f"/app/customers/{cid}").text, f"doc-{own['id']}")
    assert "disabled" in shown and "you uploaded this document" in shown
    r = admin.post(f"/app/customers/{cid}/documents/{own['id']}/accept")
    assert r.status_code == 403 and "segregation of duties" in text_of(r)
    with read_session() as s:
        assert s.get(KycDocument, own["id"]).status == "received"
    # Without kyc.review the clerk sees why.
    clerk = row(log_in(app, "onboarder").get(f"/app/customers/{cid}").text, f"doc-{own['id']}")
    assert "disabled" in clerk and "kyc.review" in clerk


def test_a_false_positive_releases_the_compliance_hold(app, api, world):
    ok(api.post("/screening/lists", user="compliance", files=subset()), 201)
    listed = apply(api, code="AEROPARTS", legal_name="Aero Parts Trading FZE", tax_id=None, bank_accounts=[],
                   trading_names=["Iran Aircraft Manufacturing Industries"])
    officer = log_in(app, "compliance")
    queue = text_of(officer.get("/app/customers/screening"))
    assert "AEROPARTS" in queue and "IRAN AIRCRAFT MANUFACTURING INDUSTRIES" in queue
    assert "On compliance hold" in text_of(officer.get(f"/app/customers/{listed['id']}"))
    # The clerk sees the decision disabled: it is compliance's.
    assert "screening.write" in text_of(log_in(app, "onboarder").get("/app/customers/screening"))

    [hit] = ok(api.get("/screening/hits", user="compliance"))["items"]
    refused = officer.post(f"/app/customers/hits/{hit['id']}/decide", {"decision": "false_positive", "reason": ""})
    assert refused.status_code == 422 and "say why" in text_of(refused)
    r = officer.post(f"/app/customers/hits/{hit['id']}/decide",
                     {"decision": "false_positive", "reason": "a Dubai parts dealer, not the listed manufacturer",
                      "back": f"/app/customers/{listed['id']}"})
    assert r.status_code == 303 and r.headers["location"] == f"/app/customers/{listed['id']}"
    page = text_of(officer.get(f"/app/customers/{listed['id']}"))
    assert "No compliance hold" in page and "a Dubai parts dealer" in page
    assert "AEROPARTS" not in text_of(officer.get("/app/customers/screening"))


def test_the_credit_profile_shows_the_grade_with_its_reasons(app, api, world):
    bigbuy = world["ids"]["BIGBUY"]
    ok(api.post(f"/credit/customers/{bigbuy}/statements", user="analyst",
                json={"period_end": "2025-12-31", "currency": "USD", "figures": HEALTHY}), 201)
    analyst = log_in(app, "analyst")
    r = analyst.post(f"/app/customers/{bigbuy}/credit/score", {"expected_monthly_purchases": ""})
    assert r.status_code == 422 and "give the purchases expected per month" in text_of(r)
    assert analyst.post(f"/app/customers/{bigbuy}/credit/score",
                        {"expected_monthly_purchases": "20,000"}).status_code == 303
    page = text_of(analyst.get(f"/app/customers/{bigbuy}"))
    assert re.search(r"Grade\s*<strong[^>]*>B</strong>", page)
    assert "recommended limit <strong>$15,000.00</strong>" in page
    assert "3.8184 is in the safe zone" in page and "no payment history yet" in page
    assert "Quick ratio" in page and "1.20" in page and "period to 2025-12-31" in page
    assert "Open receivables" in page and "Shipped, not invoiced" in page


def test_a_change_waits_for_a_second_person(app, api, world):
    bigbuy = world["ids"]["BIGBUY"]
    analyst = log_in(app, "analyst")
    r = analyst.post(f"/app/customers/{bigbuy}/credit/limit", {"credit_limit": "-5", "reason": "annual review"})
    assert r.status_code == 422 and "cannot be negative" in text_of(r)
    r = analyst.post(f"/app/customers/{bigbuy}/credit/limit", {"credit_limit": "7500", "reason": "annual review"})
    assert r.status_code == 303
    [asked] = ok(api.get("/customers/changes", user="analyst"))
    assert asked["new_value"] == {"credit_limit": "7500"}
    for path in (f"/app/customers/{bigbuy}", "/app/customers/changes"):
        page = text_of(analyst.get(path))
        assert "you requested this change" in page and "Credit limit" in page
        assert f'action="/app/customers/changes/{asked["id"]}/approve' not in page
    r = analyst.post(f"/app/customers/changes/{asked['id']}/approve")
    assert r.status_code == 403
    assert "No limit" in text_of(analyst.get("/app/customers", params={"q": "BIGBUY"}))

    manager = log_in(app, "manager")
    page = text_of(manager.get("/app/customers/changes"))
    assert f'action="/app/customers/changes/{asked["id"]}/approve' in page
    r = manager.post(f"/app/customers/changes/{asked['id']}/approve?back=/app/customers/changes")
    assert r.status_code == 303 and r.headers["location"] == "/app/customers/changes"
    assert "$7,500.00" in text_of(manager.get("/app/customers", params={"q": "BIGBUY"}))
    assert "No changes wait" in text_of(manager.get("/app/customers/changes"))


def test_lifecycle_steps_show_who_may_take_them(app, api, world):
    own = apply(api, user="admin", code="OWNAPP")["id"]
    admin = log_in(app, "admin")
    assert admin.post(f"/app/customers/{own}/steps/submit").status_code == 303
    assert "you applied for this customer" in text_of(admin.get(f"/app/customers/{own}"))

    cid = apply(api)["id"]
    ok(api.post(f"/customers/{cid}/submit", user="onboarder"))
    officer = log_in(app, "compliance")
    page = text_of(officer.get(f"/app/customers/{cid}"))
    assert "the KYC checklist lacks an accepted certificate of incorporation" in page
    r = officer.post(f"/app/customers/{cid}/steps/block", {"reason": ""})
    assert r.status_code == 422 and "give the reason" in text_of(r)
    r = officer.post(f"/app/customers/{cid}/steps/block", {"reason": "fake registry extract"})
    assert r.status_code == 303
    assert "Blocked" in text_of(officer.get(f"/app/customers/{cid}"))


def test_pages_need_a_customer_role(app, world):
    assert log_in(app, "desk").get("/app/customers").status_code == 403


def test_customer_search_matches_code_name_or_vat_and_refuses_portal_users(api, world):
    cid = apply(api)["id"]
    staff = Actor(world["ids"]["onboarder"], "onboarder", frozenset({"master_data"}),
                  frozenset({world["ids"]["company"]}))
    with read_session() as s:
        def codes(**kw):
            return [r["code"] for r in service.search(s, staff, world["ids"]["company"], **kw)]

        assert codes(q="de 136 695 976") == codes(q="nordhafen") == codes(q="NORDH") == ["NORDHAFEN"]
        assert codes(q="NORDHAFEN", status="prospect") == ["NORDHAFEN"]
        assert codes(q="NORDHAFEN", status="active") == []
        assert codes(q="%") == []  # a wildcard is a character here
        [found] = service.search(s, staff, world["ids"]["company"], q="NORDHAFEN")
        assert (found["id"], found["credit_limit"], found["currency"]) == (cid, None, "USD")
        portal = Actor(None, "buyer", frozenset({"customer"}), frozenset({world["ids"]["company"]}),
                       customer_id=world["ids"]["BIGBUY"])
        with pytest.raises(Forbidden):
            service.search(s, portal, world["ids"]["company"])
