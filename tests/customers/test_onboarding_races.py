"""On PostgreSQL, two compliance officers act on one customer at the same moment. The customer row (or
the document row) is locked before its status is read, so one decision goes through and the other is
refused against the status the first left; the customer's held order moves on exactly once."""
from __future__ import annotations


import pytest
from sqlalchemy import select

from o2c.core.auth import actor_for_user, create_user
from o2c.core.db import read_session, transaction
from o2c.core.errors import Conflict
from o2c.core.models import AuditRecord, User
from o2c.customers import onboarding
from o2c.orders import service as orders
from o2c.orders.models import Order
from o2c.orders.schemas import OrderIn
from tests.concurrency.support import at_once, count_retries, wide_pool
from tests.customers.test_onboarding_service import application, with_documents_accepted
from tests.world import make

pytestmark = pytest.mark.postgres_only


@pytest.fixture
def w(pg, monkeypatch):
    wide_pool(monkeypatch)
    world = make()
    world["retried"] = count_retries(monkeypatch)
    uid = transaction(lambda s: create_user(s, "compliance2", ["compliance_officer"], [world["ids"]["company"]]).id)
    with read_session() as s:
        world["actors"] = {u: actor_for_user(s, s.get(User, i)) for u, i in
                           (("onboarder", world["ids"]["onboarder"]), ("compliance", world["ids"]["compliance"]),
                            ("compliance2", uid), ("desk", world["ids"]["desk"]))}
    return world


def _applied_in_kyc(w) -> int:
    a, cmp = w["actors"], w["ids"]["company"]
    data = application(currency="USD", shipping_addresses=[{
        "name": "Dock", "line1": "100 W Randolph St", "city": "Chicago", "region": "IL", "postal_code": "60601",
        "country": "US"}])
    cid = transaction(lambda s: onboarding.apply(s, a["onboarder"], cmp, data))["id"]
    transaction(lambda s: onboarding.submit(s, a["onboarder"], cmp, cid))
    return cid


def test_two_officers_activating_at_once_activate_once(w):
    a, cmp = w["actors"], w["ids"]["company"]
    cid = _applied_in_kyc(w)
    with_documents_accepted(w, cid)
    order = OrderIn(customer_code="LUMIERE", channel="web", lines=[{"sku": "WIDGET", "quantity": 1}])
    oid = transaction(lambda s: orders.capture(s, a["desk"], cmp, order).id)

    def activate(actor):
        return lambda: transaction(lambda s: onboarding.activate(s, actor, cmp, cid, "at once")["status"])

    results, errors = at_once([activate(a["compliance"]), activate(a["compliance2"])])
    assert results == ["active"] and len(errors) == 1, (results, errors)
    assert isinstance(errors[0], Conflict) and "an active customer cannot be activated" in errors[0].detail
    with read_session() as s:
        changes = s.scalars(select(AuditRecord.to_status).where(
            AuditRecord.entity == "customer", AuditRecord.entity_id == cid, AuditRecord.action == "status_changed")
            .order_by(AuditRecord.id)).all()
        assert s.get(Order, oid).status == "confirmed"
        rechecked = s.scalars(select(AuditRecord.action).where(
            AuditRecord.entity == "order", AuditRecord.entity_id == oid, AuditRecord.action == "rechecked")).all()
    assert changes == ["pending_kyc", "active"]
    assert len(rechecked) == 1  # the order moved on once
    assert "40P01" not in w["retried"]


def test_two_officers_deciding_one_document_at_once_decide_it_once(w):
    a, cmp = w["actors"], w["ids"]["company"]
    cid = _applied_in_kyc(w)
    doc = transaction(lambda s: onboarding.upload_document(s, a["onboarder"], cmp, cid, "director_id", "id.pdf",
                                                           "application/pdf", b"%PDF-1.4\n").id)

    def review(actor, decision):
        return lambda: transaction(lambda s: onboarding.review_document(
            s, actor, cmp, cid, doc, decision, "seen" if decision == "rejected" else None).status)

    results, errors = at_once([review(a["compliance"], "accepted"), review(a["compliance2"], "rejected")])
    assert len(results) == 1 and len(errors) == 1, (results, errors)
    assert isinstance(errors[0], Conflict)
    with read_session() as s:
        decided = s.scalars(select(AuditRecord.action).where(
            AuditRecord.entity == "customer", AuditRecord.entity_id == cid,
            AuditRecord.action.like("kyc_document_%ed"), AuditRecord.action != "kyc_document_uploaded")).all()
    assert decided == [f"kyc_document_{results[0]}"]
