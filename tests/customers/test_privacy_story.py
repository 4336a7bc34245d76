"""A buyer at BIGBUY, Jane Roe, asks what the company holds on her, then asks for it to be erased.

The compliance officer exports her data (contact, the customer whose email is hers, her portal user,
the order shipped to her name, the message sent to her, the audit records naming her), then erases it:
every copy is pseudonymised, the audit chain still verifies, and the invoice-side records the law
requires stay as they were."""
from __future__ import annotations

import json

import pytest
from sqlalchemy import func, select

from o2c.core import audit, clock
from o2c.core.auth import SYSTEM, actor_for_user, create_user
from o2c.core.db import read_session, transaction
from o2c.core.errors import Forbidden, NotFound
from o2c.core.events import emit
from o2c.core.models import AuditRecord, OutboxEvent, User
from o2c.customers import privacy
from o2c.customers.models import Customer, CustomerContact
from o2c.orders.models import Order
from tests.api import assert_problem, order_body
from tests.fulfillment.flow import ok

JANE = {"name": "Jane Roe", "role": "buyer", "email": "Jane.Roe@bigbuy.example", "phone": "+13129225000"}


def _audit_text() -> str:
    with read_session() as s:
        return json.dumps([r for r in s.scalars(select(AuditRecord.data))]).lower()


def test_jane_roe_exports_then_erases_her_data(api, world):
    ids = world["ids"]
    bigbuy = ids["BIGBUY"]
    # Master data records Jane as BIGBUY's buyer, then corrects her email (the old one stays in the log).
    r = api.post(f"/customers/{bigbuy}/contacts", user="onboarder", json={**JANE, "email": "jroe@bigbuy.example"})
    assert r.status_code == 201, r.text
    jane = r.json()["id"]
    r = api.patch(f"/customers/{bigbuy}/contacts/{jane}", user="onboarder", json={"email": JANE["email"]})
    assert r.status_code == 200, r.text
    # Her address is also the customer's main email, her portal login's email, and an order goes to her name.
    transaction(lambda s: s.execute(Customer.__table__.update().where(Customer.id == bigbuy)
                                    .values(email=JANE["email"])))
    transaction(lambda s: create_user(s, "jane-portal", ["customer"], [ids["company"]], email="jane.roe@BIGBUY.example",
                                      customer_id=bigbuy))
    ship = {"name": "Jane Roe", "line1": "1 Main St", "city": "Chicago", "region": "IL", "postal_code": "60601",
            "country": "US"}
    order = api.post("/orders", json=order_body("BIGBUY", ship_to=ship)).json()
    other = api.post("/orders", json=order_body("BIGBUY")).json()
    # A message to her waits in the outbox (as a reminder email would).
    transaction(lambda s: emit(s, "reminder.sent", {"reminder_id": 1, "email": JANE["email"], "total": "10.00"},
                               company_id=ids["company"], entity_id=1))

    # The request comes by email: the compliance officer finds the contact it belongs to.
    assert_problem(api.get("/privacy/contacts", user="desk", params={"email": "jane.roe@bigbuy.example"}), 403)
    found = ok(api.get("/privacy/contacts", user="compliance", params={"email": " JANE.ROE@bigbuy.example"}))
    assert found == [{"id": jane, "customer_id": bigbuy, "name": "Jane Roe", "role": "buyer"}]
    assert ok(api.get("/privacy/contacts", user="compliance", params={"email": "jroe@bigbuy.example"})) == []

    # Export: only privacy.write (the compliance officer) may; the desk is refused.
    assert_problem(api.get(f"/privacy/contacts/{jane}/export", user="desk"), 403)
    r = api.get(f"/privacy/contacts/{jane}/export", user="compliance")
    assert r.status_code == 200, r.text
    out = r.json()
    assert (out["contact"]["name"], out["contact"]["email"], out["contact"]["phone"]) == (
        "Jane Roe", JANE["email"], JANE["phone"])
    assert [c["id"] for c in out["customers"]] == [bigbuy]
    assert [u["username"] for u in out["users"]] == ["jane-portal"]
    assert [o["id"] for o in out["orders"]] == [order["id"]] and other["id"] not in [o["id"] for o in out["orders"]]
    assert [m["topic"] for m in out["messages"]] == ["reminder.sent"]
    actions = [a["action"] for a in out["audit"]]
    assert "contact_added" in actions and "contact_updated" in actions
    assert "VAT" in out["kept_for_legal_retention"]
    assert api.get("/audit", user="auditor", params={"entity": "contact", "entity_id": jane}).json()["items"][0][
        "action"] == "exported"
    head_before = api.get("/audit/verify", user="auditor").json()
    assert head_before["ok"]

    # Erasure needs a reason; without one nothing changes.
    assert_problem(api.post(f"/privacy/contacts/{jane}/erase", user="compliance", json={"reason": " "}), 422, "reason")
    assert "jane roe" in _audit_text()
    r = api.post(f"/privacy/contacts/{jane}/erase", user="compliance", json={"reason": "erasure request of 2026-11-20"})
    assert r.status_code == 200, r.text
    done = r.json()
    pseudonym = f"erased-{jane}"
    assert done["pseudonym"] == pseudonym
    assert done["changed"] == {"contact": 1, "customers": 1, "users": 1, "orders": 1, "reminders": 0, "messages": 1,
                               "audit_records": 2}

    # Every copy is pseudonymised: the contact, the customer's email, the user's email, the order, the message.
    contact = next(c for c in api.get(f"/customers/{bigbuy}/contacts", user="onboarder").json() if c["id"] == jane)
    assert (contact["name"], contact["email"], contact["phone"]) == (pseudonym, None, None)
    assert contact["erased_at"] is not None
    with read_session() as s:
        assert s.scalar(select(Customer.email).where(Customer.id == bigbuy)) is None
        assert s.scalar(select(User.email).where(User.username == "jane-portal")) is None
        assert s.scalar(select(Order.ship_to_name).where(Order.id == order["id"])) == pseudonym
        assert s.scalar(select(Order.ship_to_name).where(Order.id == other["id"])) != pseudonym
        payload = s.scalar(select(OutboxEvent.payload).where(OutboxEvent.topic == "reminder.sent"))
        assert payload == {"reminder_id": 1, "email": None, "total": "10.00"}
        redacted = s.scalar(select(func.count()).select_from(AuditRecord).where(AuditRecord.redacted_at.is_not(None)))
    assert redacted == 2
    text = _audit_text()
    assert "jane" not in text and "jroe" not in text and "3129225000" not in text
    assert pseudonym in text  # the redacted records now name the pseudonym

    # The audit chain still verifies; the redaction and the erasure are on record.
    after = api.get("/audit/verify", user="auditor").json()
    assert (after["ok"], after["redacted"]) == (True, 2), after["problems"]
    assert after["head_seq"] > head_before["head_seq"]
    log = [i["action"] for i in api.get("/audit", user="auditor", params={"entity": "contact", "entity_id": jane})
           .json()["items"]]
    assert log[:3] == [audit.REDACTED_ACTION, "erased", "exported"]

    # A second erasure is refused; a new export holds nothing personal any more.
    assert_problem(api.post(f"/privacy/contacts/{jane}/erase", user="compliance", json={"reason": "again"}), 409)
    again = api.get(f"/privacy/contacts/{jane}/export", user="compliance").json()
    assert again["contact"]["name"] == pseudonym and again["contact"]["email"] is None
    assert (again["customers"], again["users"], again["messages"]) == ([], [], [])
    # Editing an erased contact is refused by master data.
    assert api.patch(f"/customers/{bigbuy}/contacts/{jane}", user="onboarder",
                     json={"email": "new@bigbuy.example"}).status_code == 409


def test_erasure_rules_are_pure():
    swap = {"jane roe": "erased-7", "jane@x.example": None}
    data = {"name": "Jane Roe", "before": {"email": "JANE@x.example", "role": "buyer"}, "list": ["jane roe", 3]}
    assert privacy.mentions(data, set(swap)) and not privacy.mentions({"name": "Janet"}, set(swap))
    assert privacy.replaced(data, swap) == {"name": "erased-7", "before": {"email": None, "role": "buyer"},
                                           "list": ["erased-7", 3]}


def test_an_erasure_or_export_refused_changes_nothing(world, db):
    ids = world["ids"]

    def add(s):
        c = CustomerContact(customer_id=ids["TIDY"], name="Tom Tidy", email="tom@tidy.example", created_at=clock.now())
        s.add(c)
        s.flush()
        return c.id

    tom = transaction(add)

    def as_user(name):
        with read_session() as s:
            return actor_for_user(s, s.get(User, ids[name]))

    before = _audit_text()
    for name in ("desk", "auditor", "onboarder"):  # none holds privacy.write
        actor = as_user(name)
        with pytest.raises(Forbidden):
            transaction(lambda s: privacy.erase(s, actor, ids["company"], tom, "asked"))
        with pytest.raises(Forbidden):
            transaction(lambda s: privacy.export(s, actor, ids["company"], tom))
    with pytest.raises(NotFound):
        transaction(lambda s: privacy.export(s, SYSTEM, ids["company"], tom + 999))
    with read_session() as s:
        assert s.get(CustomerContact, tom).email == "tom@tidy.example"
    assert _audit_text() == before
