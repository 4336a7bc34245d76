"""Master-data governance, as a data steward lives it, through the API.

A customer comes in twice (once typed by the desk, once from an import): the second is found as a
duplicate with the reasons per attribute, and merged into the golden record field by field under the
survivorship rules, its history kept. Subsidiaries hang below a global parent; a cycle is refused.
A bank account change asked for by the onboarder cannot be approved by the onboarder; the steward
approves it and it becomes the field's next version. Payment terms changed on the customer wait for
approval too. Every refusal changes nothing.
"""
from __future__ import annotations

from decimal import Decimal

from sqlalchemy import select

from o2c.core.db import read_session
from o2c.customers.models import CustomerAccount, CustomerBankAccount
from tests.api import assert_problem, order_body, snapshot

BERLIN = {"name": "Einkauf", "line1": "Hauptstrasse 5", "city": "Berlin", "postal_code": "10115", "country": "DE"}
BERLIN_TYPED = {"name": "Purchasing", "line1": "Hauptstr. 5", "city": "Berlin", "postal_code": "10115",
                "country": "DE"}
IBAN_A, IBAN_B = "DE89370400440532013000", "DE02120300000000202051"


def _ok(r, status=200):
    assert r.status_code == status, r.text
    return r.json()


def _refused(api, verb, path, user, status, body=None, field=None) -> dict:
    before = snapshot() | {"bank": _bank_accounts(), "accounts": _accounts()}
    r = getattr(api, verb)(path, user=user, json=body)
    problem = assert_problem(r, status, field)
    assert snapshot() | {"bank": _bank_accounts(), "accounts": _accounts()} == before, f"{path} changed data"
    return problem


def _bank_accounts() -> list:
    with read_session() as s:
        return [tuple(r) for r in s.execute(select(CustomerBankAccount.customer_id, CustomerBankAccount.iban)
                                            .order_by(CustomerBankAccount.id))]


def _accounts() -> list:
    with read_session() as s:
        return [(a.customer_id, a.payment_terms_days, a.credit_limit, a.group_credit_limit)
                for a in s.scalars(select(CustomerAccount).order_by(CustomerAccount.id))]


def test_duplicates_merge_hierarchy_and_four_eyes(api, world):
    ids = world["ids"]
    golden = _ok(api.post("/customers", user="onboarder", json={
        "code": "NORTHWIND", "legal_name": "Northwind Traders GmbH", "tax_id": "DE136695976", "phone": "+49301234567",
        "currency": "EUR", "billing_address": BERLIN, "shipping_addresses": [BERLIN]}), 201)

    # 1. The import's record is checked before it is created: the golden record is found, with reasons.
    imported = {"legal_name": "NORTHWIND TRADERS G.m.b.H.", "tax_id": "DE 136 695 976", "billing_address": BERLIN_TYPED}
    found = _ok(api.post("/customers/duplicates/check", user="onboarder", json=imported))
    assert [f["code"] for f in found] == ["NORTHWIND"]
    reasons = found[0]["reasons"]
    assert found[0]["score"] >= 95
    assert reasons["name"]["score"] == 100.0 and reasons["tax_id"]["result"] == "match"
    assert reasons["address"]["score"] >= 80 and "postal code same" in reasons["address"]["reason"]
    # An unrelated company at another address is not a candidate.
    assert _ok(api.post("/customers/duplicates/check", user="onboarder", json={
        "legal_name": "Southwind Logistics", "billing_address": BERLIN_TYPED | {"postal_code": "80331",
                                                                                "city": "Munich"}})) == []

    dup = _ok(api.post("/customers", user="onboarder", json={
        "code": "NWT-IMPORT", "legal_name": imported["legal_name"], "tax_id": imported["tax_id"],
        "email": "ap@northwind.example", "phone": "+49309999999", "currency": "EUR",
        "billing_address": BERLIN_TYPED, "shipping_addresses": [BERLIN_TYPED | {"name": "Lager"}]}), 201)
    assert [f["id"] for f in _ok(api.get(f"/customers/{dup['id']}/duplicates", user="steward"))] == [golden["id"]]
    assert [f["id"] for f in _ok(api.get(f"/customers/{golden['id']}/duplicates", user="steward"))] == [dup["id"]]

    # The duplicate got a bank account (asked by receivables, approved by the steward) and an order.
    change = _ok(api.post(f"/customers/{dup['id']}/bank-accounts", user="cashier", json={"iban": IBAN_B}), 202)
    assert change["status"] == "pending" and _bank_accounts() == []
    _ok(api.post(f"/customers/changes/{change['id']}/approve", user="steward", json={"reason": "letter on file"}))
    assert _bank_accounts() == [(dup["id"], IBAN_B)]
    order = _ok(api.post("/orders", user="desk", json=order_body("NWT-IMPORT", currency="EUR")), 201)

    # 2. Merge refusals change nothing: into itself, across currencies.
    _refused(api, "post", f"/customers/{golden['id']}/merge", "onboarder", 422,
             {"merged_id": golden["id"], "reason": "same"}, "merged_id")
    _refused(api, "post", f"/customers/{ids['BIGBUY']}/merge", "onboarder", 409,
             {"merged_id": ids["EURO"], "reason": "not the same currency"}, "merged_id")
    _refused(api, "post", f"/customers/{golden['id']}/merge", "viewer", 403,
             {"merged_id": dup["id"], "reason": "no right"})

    merged = _ok(api.post(f"/customers/{golden['id']}/merge", user="onboarder",
                          json={"merged_id": dup["id"], "reason": "same VAT number, same address"}), 201)
    kept = merged["survivorship"]
    # Field by field: the same valid tax number on both, so the survivor wins ties; empty loses.
    assert (kept["legal_name"]["value"], kept["legal_name"]["from"]) == ("Northwind Traders GmbH", "survivor")
    assert (kept["tax_id"]["value"], kept["tax_id"]["from"]) == ("DE136695976", "survivor")
    assert (kept["email"]["value"], kept["email"]["from"], kept["email"]["rule"]) == (
        "ap@northwind.example", "merged", "non_empty_survivor_first")
    assert (kept["phone"]["value"], kept["phone"]["from"]) == ("+49301234567", "survivor")
    assert kept["trading_names"]["value"] == ["NORTHWIND TRADERS G.m.b.H."]
    assert kept["credit_limit"]["rule"] == "sensitive_kept"
    assert merged["moved"]["customer_addresses"] == 2 and merged["moved"]["customer_bank_accounts"] == 1
    assert merged["merged_snapshot"]["code"] == "NWT-IMPORT"

    g = _ok(api.get(f"/customers/{golden['id']}", user="viewer"))
    assert (g["legal_name"], g["email"], g["phone"]) == ("Northwind Traders GmbH", "ap@northwind.example",
                                                        "+49301234567")
    assert g["billing_address"]["line1"] == "Hauptstrasse 5"  # the survivor's, a sensitive field
    assert _bank_accounts() == [(golden["id"], IBAN_B)]
    # History kept: the merged record and its order stay; it leaves lists; new orders name the golden record.
    assert _ok(api.get(f"/customers/{dup['id']}", user="viewer"))["code"] == "NWT-IMPORT"
    assert _ok(api.get(f"/orders/{order['id']}", user="viewer"))["customer_id"] == dup["id"]
    listed = [c["code"] for c in _ok(api.get("/customers", user="viewer", params={"limit": 500}))["items"]]
    assert "NWT-IMPORT" not in listed and "NORTHWIND" in listed
    problem = assert_problem(api.post("/orders", user="desk", json=order_body("NWT-IMPORT", currency="EUR")),
                             422, "customer_code")
    assert "merged into customer NORTHWIND" in problem["errors"][0]["message"]
    _refused(api, "post", f"/customers/{golden['id']}/merge", "onboarder", 409,
             {"merged_id": dup["id"], "reason": "again"}, "merged_id")
    actions = [e["action"] for e in _ok(api.get(f"/customers/{dup['id']}/timeline", user="viewer"))]
    assert "merged_into" in actions
    assert "merged_in" in [e["action"] for e in _ok(api.get(f"/customers/{golden['id']}/timeline", user="viewer"))]
    assert [m["merged_id"] for m in _ok(api.get(f"/customers/{golden['id']}/merges", user="viewer"))] == [dup["id"]]

    # 3. A group: BIGBUY on top, TIDY below it, LOYAL below TIDY; BIGBUY below LOYAL would be a cycle.
    _ok(api.put(f"/customers/{ids['TIDY']}/parent", user="onboarder", json={"parent_id": ids["BIGBUY"]}))
    _ok(api.put(f"/customers/{ids['LOYAL']}/parent", user="onboarder", json={"parent_id": ids["TIDY"]}))
    h = _ok(api.get(f"/customers/{ids['LOYAL']}/hierarchy", user="viewer"))
    assert (h["root_id"], h["path"]) == (ids["BIGBUY"], [ids["LOYAL"], ids["TIDY"], ids["BIGBUY"]])
    assert [c["code"] for c in h["tree"]["children"]] == ["TIDY"]
    assert [c["code"] for c in h["tree"]["children"][0]["children"]] == ["LOYAL"]
    problem = _refused(api, "put", f"/customers/{ids['BIGBUY']}/parent", "onboarder", 409,
                       {"parent_id": ids["LOYAL"]})
    assert problem["errors"][0]["code"] == "cycle"
    _refused(api, "put", f"/customers/{ids['TIDY']}/parent", "onboarder", 409, {"parent_id": ids["TIDY"]})
    # The group limit sits on the top customer only; analyst asks, a second credit user approves.
    _refused(api, "post", f"/customers/{ids['TIDY']}/changes", "analyst", 422,
             {"field": "group_credit_limit", "value": {"group_credit_limit": "9000"}}, "field")
    limit = _ok(api.post(f"/customers/{ids['BIGBUY']}/changes", user="analyst",
                         json={"field": "group_credit_limit", "value": {"group_credit_limit": "25000.00"}}), 202)
    _refused(api, "post", f"/customers/changes/{limit['id']}/approve", "steward", 403)  # not a credit approver
    _ok(api.post(f"/customers/changes/{limit['id']}/approve", user="analyst2"))
    assert [a[3] for a in _accounts() if a[0] == ids["BIGBUY"]] == [Decimal("25000")]

    # 4. Four eyes on the bank account: the onboarder asks, cannot approve it; the steward approves.
    add = _ok(api.post(f"/customers/{golden['id']}/changes", user="onboarder", json={
        "field": "bank_account", "value": {"action": "add", "iban": "DE89 3704 0044 0532 0130 00",
                                           "bic": "COBADEFFXXX", "holder_name": "Northwind Traders GmbH"},
        "reason": "new house bank"}), 202)
    assert (add["old_value"], add["new_value"]["iban"], add["version"]) == (None, IBAN_A, None)
    assert [c["id"] for c in _ok(api.get("/customers/changes", user="steward"))] == [add["id"]]
    problem = _refused(api, "post", f"/customers/changes/{add['id']}/approve", "onboarder", 403)
    assert problem["rule"] == "request_vs_approve_customer_change"
    first = _ok(api.post(f"/customers/changes/{add['id']}/approve", user="steward", json={"reason": "called back"}))
    assert (first["status"], first["version"], first["decided_by"]) == ("approved", 1, "steward")
    assert _bank_accounts() == [(golden["id"], IBAN_B), (golden["id"], IBAN_A)]
    _refused(api, "post", f"/customers/changes/{add['id']}/approve", "admin", 409)  # decided already

    # The old one goes (version 2); a rejected change gets no version.
    remove = _ok(api.post(f"/customers/{golden['id']}/changes", user="onboarder",
                          json={"field": "bank_account", "value": {"action": "remove", "iban": IBAN_B}}), 202)
    _ok(api.post(f"/customers/changes/{remove['id']}/approve", user="steward"))
    wrong = _ok(api.post(f"/customers/{golden['id']}/changes", user="onboarder",
                         json={"field": "bank_account", "value": {"action": "add", "iban": "GB82WEST12345698765432"}}),
                202)
    _refused(api, "post", f"/customers/changes/{wrong['id']}/withdraw", "steward", 403)
    _ok(api.post(f"/customers/changes/{wrong['id']}/reject", user="steward", json={"reason": "no such account"}))
    versions = _ok(api.get(f"/customers/{golden['id']}/changes", user="viewer", params={"field": "bank_account"}))
    assert [(v["status"], v["version"]) for v in versions] == [
        ("approved", 1), ("approved", 2), ("rejected", None)]
    assert _bank_accounts() == [(golden["id"], IBAN_A)]

    # 5. Payment terms through PATCH: other fields at once, the terms wait (202) for the steward.
    r = api.patch(f"/customers/{golden['id']}", user="onboarder",
                  json={"email": "billing@northwind.example", "payment_terms_days": 45})
    body = _ok(r, 202)
    assert (body["email"], body["payment_terms_days"]) == ("billing@northwind.example", 30)
    [terms] = body["pending_changes"]
    assert terms["new_value"] == {"payment_terms_days": 45, "early_discount_pct": None, "early_discount_days": None}
    _ok(api.post(f"/customers/changes/{terms['id']}/approve", user="steward"))
    assert _ok(api.get(f"/customers/{golden['id']}", user="viewer"))["payment_terms_days"] == 45
