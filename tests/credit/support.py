"""What the credit tests share: limits set under four eyes, orders placed, and the approval queue."""
from __future__ import annotations

from o2c.core.auth import create_user, issue_api_key
from o2c.core.db import transaction
from tests.fulfillment.flow import ok


def set_limit(api, customer_id: int, *, asker: str = "analyst", approver: str = "manager", **limits) -> None:
    """A limit asked for by one credit user and approved by another (o2c.customers.changes)."""
    asked = ok(api.put(f"/credit/customers/{customer_id}/limit", user=asker,
                       json={**limits, "reason": "annual credit review"}), 202)
    for change in asked:
        ok(api.post(f"/customers/changes/{change['id']}/approve", user=approver, json={"reason": "agreed"}))


def order(api, customer: str, lines: list[tuple[str, int]], user: str = "desk") -> dict:
    return ok(api.post("/orders", user=user, json={"customer_code": customer, "channel": "web",
                                                   "lines": [{"sku": s, "quantity": q} for s, q in lines]}), 201)


def credit_hold(o: dict) -> dict | None:
    return next((h for h in o["holds"] if h["kind"] == "credit" and h["active"]), None)


def request_of(api, order_id: int, user: str = "manager", status: str = "all") -> dict:
    [req] = [r for r in ok(api.get("/approvals", user=user, params={"status": status, "limit": 500}))
             if r["order_id"] == order_id]
    return req


def add_user(world: dict, api, name: str, roles: list[str]) -> None:
    """A user made for one test (e.g. an order desk clerk who also holds a credit role)."""
    def make(session):
        user = create_user(session, name, roles, [world["ids"]["company"]])
        return user.id, issue_api_key(session, user)

    world["ids"][name], api.keys[name] = transaction(make)
