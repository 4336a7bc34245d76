"""Sensitive customer changes in tests of other areas: asked by one user, approved by a second
(o2c.customers.changes), so a test that needs new payment terms or a bank account on file gets them
the way a user does."""
from __future__ import annotations


def _ok(r, status: int) -> dict:
    assert r.status_code == status, r.text
    return r.json()


def terms_approved(api, customer_id: int, patch: dict, requester: str = "admin", approver: str = "steward") -> dict:
    """PATCH the customer (payment terms wait: 202), the approver approves; the customer afterwards."""
    pending = _ok(api.patch(f"/customers/{customer_id}", user=requester, json=patch), 202)["pending_changes"]
    assert pending, "the patch asked for no sensitive change"
    for change in pending:
        _ok(api.post(f"/customers/changes/{change['id']}/approve", user=approver), 200)
    return _ok(api.get(f"/customers/{customer_id}", user=requester), 200)


def bank_account_approved(api, customer_id: int, body: dict, requester: str = "cashier",
                          approver: str = "steward") -> dict:
    """Ask for a bank account on file (202), the approver approves; the approved change."""
    change = _ok(api.post(f"/customers/{customer_id}/bank-accounts", user=requester, json=body), 202)
    return _ok(api.post(f"/customers/changes/{change['id']}/approve", user=approver), 200)
