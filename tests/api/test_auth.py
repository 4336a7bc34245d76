"""Who may call: API keys identify the caller, roles decide what they may change, companies fence the
data, and every write records who made it."""
from __future__ import annotations

from sqlalchemy import select, update

from o2c.core import clock
from o2c.core.auth import create_user, issue_api_key
from o2c.core.db import read_session, transaction
from o2c.core.models import ApiKey, AuditRecord, User
from o2c.core.setup import create_company
from o2c.web import deps
from tests.api import assert_problem, order_body, refused, snapshot

NEW_CUSTOMER = {"code": "NEWCO", "legal_name": "New Co", "currency": "USD",
                "billing_address": {"name": "AP", "line1": "1 Main St", "city": "Chicago", "region": "IL",
                                    "postal_code": "60601", "country": "US"}}


def test_each_role_may_change_only_what_its_permissions_allow(api, world):
    order = api.post("/orders", json=order_body()).json()
    product_id = world["ids"]["WIDGET"]
    stock = {"sku": "WIDGET", "warehouse": "CHI", "on_hand": "120", "reason": "cycle count"}
    writes = {
        "enter an order": ("post", "/orders", order_body(po_number="PO-ROLES")),
        "cancel an order": ("post", f"/orders/{order['id']}/cancel", {"reason": "customer asked"}),
        "create a customer": ("post", "/customers", NEW_CUSTOMER),
        "change a product": ("patch", f"/products/{product_id}", {"name": "Widget, stainless"}),
        "set stock on hand": ("put", "/stock", stock),
    }
    # role -> the writes it may do; everything else must be refused with 403 and change nothing
    allowed = {
        "viewer": set(),
        "approver": set(),
        "keeper": {"set stock on hand"},
        "desk": {"enter an order", "cancel an order"},
    }
    failures = []
    for user, may in allowed.items():
        for what, (verb, path, body) in writes.items():
            if what in may:
                continue
            with refused(f"{user} may not {what}", failures, snapshot):
                problem = assert_problem(getattr(api, verb)(path, user=user, json=body), 403)
                assert problem.get("permission"), f"the refusal does not name the permission: {problem}"
                assert problem["permission"] in problem["detail"]
        # everyone with a role may read
        for path in ("/orders", f"/orders/{order['id']}", "/customers", "/products", "/stock", "/warehouses"):
            if api.get(path, user=user).status_code != 200:
                failures.append(f"{user} cannot read {path}")
    assert not failures, "\n".join(failures)

    # and what is allowed works, recorded under the user who did it
    assert api.put("/stock", user="keeper", json=stock).status_code == 200
    assert api.post(f"/orders/{order['id']}/cancel", user="desk2", json={"reason": "customer asked"}).status_code == 200
    assert api.post("/customers", user="admin", json=NEW_CUSTOMER).status_code == 201
    assert _audit("stock")[-1] == ("on_hand_set", "keeper", "cycle count")
    assert [(action, actor) for action, actor, _ in _audit("order")] == [
        ("captured", "desk"), ("confirmed", "desk"), ("cancelled", "desk2")]
    assert _audit("customer")[-1][:2] == ("created", "admin")


def _audit(entity: str) -> list:
    """(action, actor, reason) of each audit record of a kind of entity, oldest first."""
    with read_session() as s:
        return [tuple(r) for r in s.execute(select(AuditRecord.action, AuditRecord.actor, AuditRecord.reason)
                                            .where(AuditRecord.entity == entity).order_by(AuditRecord.id))]


def test_keys_identify_the_caller_and_companies_fence_their_data(api, world):
    acme_order = api.post("/orders", json=order_body()).json()

    def other_company(session):
        other, _ = create_company(session, "OTHER", "Other Trading Ltd", "USD", "US", "America/New_York", admin=None)
        outsider = create_user(session, "outsider", ["order_desk"], [other.id])
        both = create_user(session, "shared_services", ["order_desk"], [other.id, world["ids"]["company"]])
        return issue_api_key(session, outsider), issue_api_key(session, both)

    api.keys["outsider"], api.keys["shared"] = transaction(other_company)

    # A user of another company sees none of ACME's orders and cannot reach them.
    listing = api.get("/orders", user="outsider")
    assert listing.status_code == 200 and listing.json()["items"] == []
    assert_problem(api.get(f"/orders/{acme_order['id']}", user="outsider"), 404)
    assert_problem(api.get(f"/orders/{acme_order['id']}/timeline", user="outsider"), 404)
    assert_problem(api.get(f"/customers/{world['ids']['BIGBUY']}", user="outsider"), 404)
    before = snapshot()
    assert_problem(api.post(f"/orders/{acme_order['id']}/cancel", user="outsider", json={"reason": "not mine"}), 404)
    assert_problem(api.get("/orders", user="outsider", headers={"O2C-Company": "ACME"}), 403)
    assert_problem(api.post("/orders", user="outsider", headers={"O2C-Company": "ACME"}, json=order_body()), 403)
    assert_problem(api.post("/orders", user="outsider", json=order_body()), 422, "customer_code")
    assert_problem(api.post("/orders", user="outsider", json={"customer_id": world["ids"]["BIGBUY"], "channel": "web",
                                                               "lines": [{"sku": "WIDGET", "quantity": "1"}]}),
                   422, "customer_id")
    assert snapshot() == before

    # A user of several companies names the one they work in.
    assert_problem(api.get("/orders", user="shared"), 422, "O2C-Company")
    mine = api.get("/orders", user="shared", headers={"O2C-Company": "ACME"})
    assert [o["id"] for o in mine.json()["items"]] == [acme_order["id"]]
    assert api.get("/orders", user="shared", headers={"O2C-Company": "OTHER"}).json()["items"] == []

    _api_keys_identify_the_caller(api, world)


def _api_keys_identify_the_caller(api, world):
    client = api.client
    r = client.get("/api/v1/orders")
    body = assert_problem(r, 401)
    assert r.headers.get("WWW-Authenticate") == "Bearer"
    assert "API key" in body["detail"]
    assert_problem(client.get("/api/v1/orders", headers={"Authorization": "Bearer o2c_not-a-real-key"}), 401)
    assert_problem(client.get("/api/v1/orders", headers={"Authorization": "Basic ZGVzazpzZWNyZXQ="}), 401)
    assert client.get("/api/v1/orders", headers={"Authorization": f"Bearer {world['keys']['desk']}"}).status_code == 200
    assert client.get("/api/v1/orders", headers={"X-API-Key": world["keys"]["desk"]}).status_code == 200

    # A revoked key and a deactivated user stop working (the key cache holds for seconds; clear it here).
    def revoke(session):
        session.execute(update(ApiKey).where(ApiKey.user_id == world["ids"]["desk2"]).values(revoked_at=clock.now()))
        session.execute(update(User).where(User.id == world["ids"]["viewer"]).values(active=False))

    transaction(revoke)
    deps.clear_caches()
    before = snapshot()
    assert_problem(api.get("/orders", user="desk2"), 401)
    assert_problem(api.post("/orders", user="desk2", json=order_body()), 401)
    assert_problem(api.get("/orders", user="viewer"), 401)
    assert snapshot() == before
    assert api.get("/orders", user="desk").status_code == 200
