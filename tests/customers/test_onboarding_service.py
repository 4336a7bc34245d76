"""The onboarding service on both databases: segregation of duties at activation and review, the
compliance hold, changes to an application, possible duplicates, sanctions screening on apply, the
direct create's checks, events, and refusals that change nothing."""
from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import func, select

from o2c.compliance import service as compliance
from o2c.core.auth import actor_for_user
from o2c.core.db import read_session, transaction
from o2c.core.errors import Conflict, Forbidden, ValidationFailed
from o2c.core.models import AuditRecord, OutboxEvent, User
from o2c.customers import onboarding, service
from o2c.customers.models import Customer, CustomerBankAccount, CustomerContact, KycDocument
from o2c.customers.onboarding_schemas import ApplicationIn, ApplicationPatch, ContactIn
from o2c.customers.schemas import CustomerIn
from tests.world import make

PDF = b"%PDF-1.4\n%%EOF\n"
PARIS = {"name": "Atelier Lumière SARL", "line1": "10 Rue de Rivoli", "city": "Paris", "postal_code": "75004",
         "country": "FR"}
SANCTIONS = Path(__file__).resolve().parents[1] / "fixtures" / "sanctions" / "ofac-sdn-subset"


@pytest.fixture
def w(db):
    world = make()
    with read_session() as s:
        world["actors"] = {u: actor_for_user(s, s.get(User, world["ids"][u]))
                           for u in ("admin", "onboarder", "compliance", "desk", "viewer")}
    return world


def application(**changed) -> ApplicationIn:
    return ApplicationIn.model_validate({
        "code": "LUMIERE", "legal_name": "Atelier Lumière SARL", "tax_id": "40 303 265 045", "currency": "EUR",
        "registration_id": "552 100 554", "phone": "01 42 76 40 40", "billing_address": PARIS,
        "contacts": [{"name": "Camille Martin", "email": "camille@lumiere.example"}],
        "bank_accounts": [{"iban": "FR14 2004 1010 0505 0001 3M02 606", "bic": "BNPAFRPP"}],
    } | changed)


def run(fn):
    return transaction(fn)


def state() -> tuple:
    with read_session() as s:
        return tuple(s.scalar(select(func.count()).select_from(t)) for t in (
            Customer, CustomerContact, CustomerBankAccount, KycDocument, AuditRecord, OutboxEvent))


def applied(w, user="onboarder", **changed) -> int:
    return run(lambda s: onboarding.apply(s, w["actors"][user], w["ids"]["company"], application(**changed)))["id"]


def with_documents_accepted(w, cid: int) -> None:
    """The clerk uploads every checklist document and compliance accepts them."""
    a, cmp = w["actors"], w["ids"]["company"]
    for kind in ("registry_extract", "proof_of_address", "ubo_declaration", "director_id"):
        doc = run(lambda s: onboarding.upload_document(s, a["onboarder"], cmp, cid, kind, f"{kind}.pdf",
                                                       "application/pdf", PDF).id)
        run(lambda s: onboarding.review_document(s, a["compliance"], cmp, cid, doc, "accepted", None))


def test_an_application_is_stored_with_its_numbers_normalised_and_announced(w):
    cid = applied(w)
    with read_session() as s:
        c = s.get(Customer, cid)
        assert (c.status, c.tax_id, c.registration_id, c.phone) == ("prospect", "FR40303265045", "552100554",
                                                                    "+33142764040")
        [bank] = s.scalars(select(CustomerBankAccount).where(CustomerBankAccount.customer_id == cid)).all()
        assert (bank.iban, bank.bic) == ("FR1420041010050500013M02606", "BNPAFRPP")
        [event] = s.scalars(select(OutboxEvent).where(OutboxEvent.topic == "customer.applied")).all()
        assert event.payload["customer_id"] == cid and event.entity_id == cid


def test_refused_applications_change_nothing(w):
    before = state()
    for changed, field in [({"tax_id": "FR40303265046"}, "tax_id"),
                           ({"registration_id": "552100553"}, "registration_id"),
                           ({"bank_accounts": [{"iban": "FR14 2004 1010 0505 0001 3M02 606", "bic": "COBADEFF"}]},
                            "bank_accounts[0].bic"),
                           ({"bank_accounts": [{"iban": "FR1420041010050500013M02606"},
                                               {"iban": "FR14 2004 1010 0505 0001 3M02 606"}]},
                            "bank_accounts[1].iban"),
                           ({"trading_names": ["  "]}, "trading_names[0]"),
                           ({"currency": "XYZ"}, "currency")]:
        with pytest.raises(ValidationFailed) as exc:
            applied(w, **changed)
        assert field in [e.field for e in exc.value.errors], (changed, exc.value.errors)
    with pytest.raises(Conflict):
        applied(w, code="BIGBUY")  # the code is taken
    with pytest.raises(Forbidden):
        applied(w, user="desk")
    assert state() == before


def test_the_applicant_cannot_activate_the_customer_they_applied_for(w):
    cid = applied(w, user="admin")  # the administrator holds every permission, kyc.review included
    a, cmp = w["actors"], w["ids"]["company"]
    run(lambda s: onboarding.submit(s, a["admin"], cmp, cid))
    with_documents_accepted(w, cid)
    before = state()
    with pytest.raises(Forbidden) as exc:
        run(lambda s: onboarding.activate(s, a["admin"], cmp, cid))
    assert exc.value.extra["rule"] == "apply_vs_activate_customer"
    assert state() == before
    with pytest.raises(Forbidden):  # the clerk lacks kyc.review
        run(lambda s: onboarding.activate(s, a["onboarder"], cmp, cid))
    assert run(lambda s: onboarding.activate(s, a["compliance"], cmp, cid))["status"] == "active"
    with read_session() as s:
        [event] = [e for e in s.scalars(select(OutboxEvent).where(OutboxEvent.topic == "customer.status_changed"))
                   if e.payload["to"] == "active"]
        assert (event.payload["from"], event.payload["step"]) == ("pending_kyc", "activate")


def test_a_compliance_hold_keeps_the_customer_from_becoming_active(w):
    a, cmp = w["actors"], w["ids"]["company"]
    cid = applied(w)
    run(lambda s: onboarding.submit(s, a["onboarder"], cmp, cid))
    with_documents_accepted(w, cid)
    run(lambda s: setattr(s.get(Customer, cid), "compliance_hold", True))
    with pytest.raises(Conflict, match="compliance hold"):
        run(lambda s: onboarding.activate(s, a["compliance"], cmp, cid))
    run(lambda s: setattr(s.get(Customer, cid), "compliance_hold", False))
    run(lambda s: onboarding.activate(s, a["compliance"], cmp, cid))
    run(lambda s: onboarding.suspend(s, a["compliance"], cmp, cid, "screening hit under review"))
    run(lambda s: setattr(s.get(Customer, cid), "compliance_hold", True))
    with pytest.raises(Conflict, match="compliance hold"):
        run(lambda s: onboarding.reinstate(s, a["compliance"], cmp, cid, "cleared"))
    assert run(lambda s: onboarding.block(s, a["compliance"], cmp, cid, "true match"))["status"] == "blocked"


def test_a_sanctioned_applicant_is_screened_and_held_at_once(w):
    a, cmp = w["actors"], w["ids"]["company"]
    run(lambda s: compliance.load_list(s, a["compliance"],
                                       {p.name: p.read_bytes() for p in SANCTIONS.glob("*.csv")}))
    zurich = {"name": "TNK Trading", "line1": "Bahnhofstrasse 1", "city": "Zürich", "postal_code": "8001",
              "country": "CH"}
    cid = applied(w, code="TNK", legal_name="TNK Trading International SA", trading_names=["Suex OTC"],
                  tax_id=None, registration_id=None, phone=None, billing_address=zurich, bank_accounts=[])
    view = run(lambda s: onboarding.application_view(s, cmp, cid))
    assert view["compliance_hold"] is True
    with read_session() as s:
        actions = [r.action for r in s.scalars(select(AuditRecord).where(AuditRecord.entity == "customer",
                                                                         AuditRecord.entity_id == cid))]
    assert actions[0] == "applied" and "screened" in actions


def test_possible_duplicates_come_with_the_application(w):
    chicago = {"name": "Receiving", "line1": "100 W Randolph Street", "city": "Chicago", "region": "IL",
               "postal_code": "60601", "country": "US"}
    view = run(lambda s: onboarding.apply(s, w["actors"]["onboarder"], w["ids"]["company"], application(
        code="BIGBUY2", legal_name="BIGBUY Incorporated", tax_id=None, registration_id=None, phone=None,
        billing_address=chicago, bank_accounts=[], currency="USD")))
    assert view["possible_duplicates"][0]["code"] == "BIGBUY"
    assert view["id"] not in [d["id"] for d in view["possible_duplicates"]]
    assert run(lambda s: onboarding.apply(s, w["actors"]["onboarder"], w["ids"]["company"], application())
               )["possible_duplicates"] == []


def test_an_application_is_corrected_while_a_prospect_and_numbers_follow_the_country(w):
    a, cmp = w["actors"], w["ids"]["company"]
    cid = applied(w)
    berlin = {"name": "Lumière GmbH", "line1": "Unter den Linden 1", "city": "Berlin", "postal_code": "10117",
              "country": "DE"}
    before = state()
    with pytest.raises(ValidationFailed) as exc:  # a French VAT number does not fit a German address
        run(lambda s: onboarding.update_application(s, a["onboarder"], cmp, cid, ApplicationPatch(
            billing_address=berlin)))
    assert [(e.field, e.code) for e in exc.value.errors] == [("tax_id", "country_mismatch")]
    assert state() == before
    view = run(lambda s: onboarding.update_application(s, a["onboarder"], cmp, cid, ApplicationPatch(
        billing_address=berlin, tax_id="136695976", phone="030 901820", registration_id="HRB 1",
        bank_accounts=[{"iban": "DE89370400440532013000"}], trading_names=["Lumière Berlin"])))
    assert (view["tax_id"], view["phone"], view["billing_address"].city) == ("DE136695976", "+4930901820", "Berlin")
    assert [b.iban for b in view["bank_accounts"]] == ["DE89370400440532013000"]
    assert view["trading_names"] == ["Lumière Berlin"]
    run(lambda s: onboarding.submit(s, a["onboarder"], cmp, cid))
    with pytest.raises(Conflict, match="only while it is a prospect"):
        run(lambda s: onboarding.update_application(s, a["onboarder"], cmp, cid, ApplicationPatch(legal_name="X")))


def test_documents_are_refused_for_a_blocked_customer_and_reviewed_once(w):
    a, cmp = w["actors"], w["ids"]["company"]
    cid = applied(w)
    doc = run(lambda s: onboarding.upload_document(s, a["onboarder"], cmp, cid, "director_id", "id.pdf",
                                                   "application/pdf", PDF).id)
    with pytest.raises(Forbidden):  # a reader may not upload
        run(lambda s: onboarding.upload_document(s, a["viewer"], cmp, cid, "director_id", "id.pdf",
                                                 "application/pdf", PDF))
    run(lambda s: onboarding.review_document(s, a["compliance"], cmp, cid, doc, "rejected", "expired passport"))
    with pytest.raises(Conflict, match="rejected already"):
        run(lambda s: onboarding.review_document(s, a["compliance"], cmp, cid, doc, "accepted", None))
    run(lambda s: onboarding.block(s, a["compliance"], cmp, cid, "refused to provide a valid ID"))
    with pytest.raises(Conflict, match="blocked"):
        run(lambda s: onboarding.upload_document(s, a["onboarder"], cmp, cid, "director_id", "id2.pdf",
                                                 "application/pdf", PDF))


def test_the_direct_create_checks_the_same_numbers_and_starts_active(w):
    base = {"code": "DIRECT", "legal_name": "Direct GmbH", "currency": "EUR",
            "billing_address": {"name": "Direct GmbH", "line1": "Unter den Linden 1", "city": "Berlin",
                                "postal_code": "10117", "country": "DE"}}
    cmp, onboarder = w["ids"]["company"], w["actors"]["onboarder"]
    before = state()
    for changed, field, code in [({"tax_id": "DE136695977"}, "tax_id", "check_digit"),
                                 ({"phone": "030 1"}, "phone", "phone_invalid"),
                                 ({"tax_id": "FR40303265045"}, "tax_id", "country_mismatch")]:
        with pytest.raises(ValidationFailed) as exc:
            run(lambda s: service.create_customer(s, onboarder, cmp, CustomerIn.model_validate(base | changed)))
        assert (field, code) in [(e.field, e.code) for e in exc.value.errors]
    assert state() == before
    view = run(lambda s: service.create_customer(s, onboarder, cmp, CustomerIn.model_validate(
        base | {"tax_id": "de 136 695 976", "phone": "030 901820", "email": "Info@Direct.example"})))
    assert (view["status"], view["tax_id"], view["phone"], view["email"]) == (
        "active", "DE136695976", "+4930901820", "info@direct.example")  # EmailStr lowers it first


def test_contacts_are_checked_against_the_customers_country(w):
    a, cmp = w["actors"], w["ids"]["company"]
    cid = applied(w)
    with pytest.raises(ValidationFailed) as exc:
        run(lambda s: onboarding.add_contact(s, a["onboarder"], cmp, cid, ContactIn(name="Luc", phone="030 901820")))
    assert exc.value.errors[0].code == "phone_invalid"  # a Berlin number read as French is no number
    contact = run(lambda s: onboarding.add_contact(s, a["onboarder"], cmp, cid,
                                                   ContactIn(name="Luc", phone="01 42 76 40 40")))
    assert contact.phone == "+33142764040"


def test_a_renamed_application_is_screened_again(w):
    a, cmp = w["actors"], w["ids"]["company"]
    run(lambda s: compliance.load_list(s, a["compliance"],
                                       {p.name: p.read_bytes() for p in SANCTIONS.glob("*.csv")}))
    cid = applied(w)
    assert run(lambda s: onboarding.application_view(s, cmp, cid))["compliance_hold"] is False
    view = run(lambda s: onboarding.update_application(s, a["onboarder"], cmp, cid, ApplicationPatch(
        trading_names=["Suex OTC"])))
    assert view["compliance_hold"] is True
