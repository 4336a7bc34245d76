"""The payments API refuses bad input with the field named and nothing changed (not a payment, not a
number taken, not a ledger line, not an event); who may record payments; what a customer's portal user
sees; a retry with the same Idempotency-Key."""
from __future__ import annotations

import pytest

from o2c.core import clock
from o2c.core.auth import create_user, issue_api_key
from o2c.core.db import transaction
from tests.fulfillment.flow import MONDAY, changed, everything, ok
from tests.customers.support import terms_approved
from tests.payments.support import invoiced
from tests.shipping_world import equip


@pytest.fixture
def books(api, world):
    """BIGBUY's invoice for 21.25 and TIDY's for 10 widgets; nothing paid yet."""
    clock.freeze(MONDAY)
    equip(api)
    yield api, world["ids"], invoiced(api), invoiced(api, customer="TIDY", lines=(("WIDGET", "10"),))
    clock.freeze(None)


def refused(api, path: str, body: dict, status: int = 422, user: str = "cashier", **kw) -> list[tuple[str, str]]:
    """The errors of a refused POST, after checking it changed nothing at all."""
    before = everything()
    r = api.post(path, user=user, json=body, **kw)
    assert r.status_code == status, r.text
    assert r.headers["content-type"] == "application/problem+json"
    assert changed(before, everything()) == []
    return [(e["field"], e["code"]) for e in r.json().get("errors", [])]


def payment(ids: dict, inv: dict | None = None, **kw) -> dict:
    body = {"customer_id": ids["BIGBUY"], "method": "bank_transfer", "currency": "USD", "amount": "21.25"}
    if inv is not None:
        body["applications"] = [{"invoice_id": inv["id"], "amount": "21.25"}]
    return body | kw


@pytest.mark.parametrize("change,expected", [
    ({"method": "bitcoin"}, [("method", "unknown")]),
    ({"method": "card"}, [("method", "card_by_capture")]),
    ({"currency": "EUR"}, [("currency", "not_account_currency")]),
    ({"currency": "XX"}, [("currency", "unknown")]),
    ({"amount": "0"}, [("amount", "not_positive")]),
    ({"amount": "-21.25"}, [("amount", "not_positive")]),
    ({"amount": "21.255"}, [("amount", "not_minor_units")]),
    ({"amount": "1e30"}, [("amount", "decimal_max_digits")]),
    ({"customer_id": 999999}, [("customer_id", "unknown")]),
    ({"received_on": "2026-12-01"}, [("received_on", "future")]),
    ({"payer_iban": "DE00 1234"}, [("payer_iban", "value_error")]),
    ({"tip": "1.00"}, [("tip", "extra_forbidden")]),
])
def test_a_bad_payment_is_refused_naming_the_field(books, change, expected):
    api, ids, big_inv, _ = books
    assert refused(api, "/payments", payment(ids, big_inv, **change)) == expected


def test_applications_the_invoices_cannot_take_are_refused_naming_them(books):
    api, ids, big_inv, tidy_inv = books
    def apps(*pairs):
        return payment(ids, applications=[{"invoice_id": i, "amount": a} for i, a in pairs])

    assert refused(api, "/payments", apps((big_inv["id"], "21.26"))) == [("applications[0].amount", "above_open")]
    assert refused(api, "/payments", apps((tidy_inv["id"], "1.00"))) == [("applications[0].invoice_id", "other_customer")]
    assert refused(api, "/payments", apps((999999, "1.00"))) == [("applications[0].invoice_id", "unknown")]
    assert refused(api, "/payments", apps((big_inv["id"], "1.00"), (big_inv["id"], "1.00"))) == [
        ("applications[1].invoice_id", "duplicate")]
    assert refused(api, "/payments", apps((big_inv["id"], "-1.00"))) == [("applications[0].amount", "not_positive")]
    assert refused(api, "/payments", payment(ids, big_inv, amount="20.00")) == [("applications", "above_amount")]


def test_only_receivables_record_payments(books):
    api, ids, big_inv, _ = books
    for user in ("desk", "biller", "keeper", "viewer"):
        assert refused(api, "/payments", payment(ids, big_inv), status=403, user=user) == []


def test_a_payment_naming_no_invoice_is_all_credit_and_a_retry_with_its_key_is_the_same_payment(books):
    api, ids, big_inv, _ = books
    key = {"Idempotency-Key": "cheque-004512"}
    first = ok(api.post("/payments", user="cashier", headers=key, json=payment(ids, method="cheque")), 201)
    assert (first["applied"], first["unapplied"], first["settlements"]) == ("0.00", "21.25", [])
    before = everything()
    again = api.post("/payments", user="cashier", headers=key, json=payment(ids, method="cheque"))
    assert again.status_code == 201 and again.json() == first and again.headers["Idempotent-Replayed"] == "true"
    assert changed(before, everything()) == []
    assert refused(api, "/payments", payment(ids, method="cash"), headers=key) == [("Idempotency-Key", "reused")]
    assert ok(api.get(f"/invoices/{big_inv['id']}", user="cashier"))["payment_status"] == "open"


def test_credit_that_is_not_there_cannot_be_applied(books):
    api, ids, big_inv, tidy_inv = books
    ok(api.post("/payments", user="cashier", json=payment(ids, amount="5.00")), 201)  # PAY-2026-000001: 5.00 credit
    def body(item, *pairs, customer="BIGBUY"):
        return {"customer_id": ids[customer], "credit_item": item,
                "applications": [{"invoice_id": i, "amount": a} for i, a in pairs]}

    assert refused(api, "/payments/apply-credit", body("PAY-2026-000009", (big_inv["id"], "1.00"))) == [
        ("credit_item", "no_credit")]
    assert refused(api, "/payments/apply-credit", body("PAY-2026-000001", (big_inv["id"], "5.01"))) == [
        ("applications", "above_amount")]
    assert refused(api, "/payments/apply-credit", body("PAY-2026-000001", (big_inv["id"], "1.00"), customer="TIDY")) == [
        ("credit_item", "no_credit"), ("applications[0].invoice_id", "other_customer")]
    assert refused(api, "/payments/apply-credit", body("PAY-2026-000001")) == [("applications", "too_short")]
    used = ok(api.post("/payments/apply-credit", user="cashier", json=body("PAY-2026-000001", (big_inv["id"], "5.00"))), 201)
    assert (used["applied"], used["remaining"]) == ("5.00", "0.00")
    assert ok(api.get(f"/invoices/{big_inv['id']}", user="cashier"))["open_amount"] == "16.25"


def test_a_write_off_needs_a_tolerance_a_reason_and_no_more_than_is_open(books):
    api, ids, big_inv, _ = books
    path = f"/invoices/{big_inv['id']}/write-off"
    assert refused(api, path, {"amount": "0.50", "reason": "bank charges"}) == [("amount", "no_tolerance")]
    ok(api.patch("/company", user="admin", json={"write_off_tolerance": "1.00"}))
    assert refused(api, path, {"amount": "1.01", "reason": "bank charges"}) == [("amount", "above_tolerance")]
    assert refused(api, path, {"amount": "0.50", "reason": ""}) == [("reason", "string_too_short")]
    assert refused(api, path, {"amount": "0.50"}) == [("reason", "missing")]
    assert refused(api, "/invoices/999999/write-off", {"amount": "0.50", "reason": "x"}, status=404) == []
    assert refused(api, path, {"amount": "0.50", "reason": "bank charges"}, status=403, user="biller") == []
    ok(api.post("/payments", user="cashier", json=payment(ids, big_inv, amount="21.00",
                                                           applications=[{"invoice_id": big_inv["id"], "amount": "21.00"}])), 201)
    assert refused(api, path, {"amount": "0.26", "reason": "bank charges"}) == [("amount", "above_open")]
    off = ok(api.post(path, user="cashier", json={"amount": "0.25", "reason": "bank charges"}), 201)
    assert (off["kind"], off["invoice_number"], off["amount"]) == ("write_off", big_inv["number"], "0.25")
    assert ok(api.get(f"/invoices/{big_inv['id']}", user="cashier"))["payment_status"] == "paid"


def test_a_customers_portal_user_sees_their_own_payments_and_account_only(books):
    api, ids, big_inv, tidy_inv = books
    api.keys["bigbuy"] = transaction(lambda s: issue_api_key(s, create_user(
        s, "bigbuy-portal", ["customer"], [ids["company"]], customer_id=ids["BIGBUY"])))
    mine = ok(api.post("/payments", user="cashier", json=payment(ids, big_inv)), 201)
    theirs = ok(api.post("/payments", user="cashier", json={
        "customer_id": ids["TIDY"], "method": "cash", "currency": "USD", "amount": "5.00"}), 201)
    assert [p["number"] for p in ok(api.get("/payments", user="bigbuy"))["items"]] == [mine["number"]]
    assert ok(api.get("/payments", user="bigbuy", params={"customer_id": ids["TIDY"]}))["items"] == []
    assert ok(api.get(f"/payments/{mine['id']}", user="bigbuy")) == mine
    assert api.get(f"/payments/{theirs['id']}", user="bigbuy").status_code == 404
    assert ok(api.get(f"/customers/{ids['BIGBUY']}/account", user="bigbuy"))["balance"] == "0.00"
    assert api.get(f"/customers/{ids['TIDY']}/account", user="bigbuy").status_code == 404
    assert refused(api, "/payments", payment(ids, big_inv), status=403, user="bigbuy") == []


def test_the_payments_list_pages_newest_first(books):
    api, ids, _, _ = books
    for amount in ("1.00", "2.00", "3.00"):
        ok(api.post("/payments", user="cashier", json=payment(ids, amount=amount)), 201)
    page = ok(api.get("/payments", user="cashier", params={"limit": 2}))
    assert [p["amount"] for p in page["items"]] == ["3.00", "2.00"] and page["next_cursor"]
    rest = ok(api.get("/payments", user="cashier", params={"limit": 2, "cursor": page["next_cursor"]}))
    assert [p["amount"] for p in rest["items"]] == ["1.00"] and rest["next_cursor"] is None
    assert api.get("/payments", user="cashier", params={"cursor": "x"}).status_code == 422


@pytest.mark.parametrize("patch,expected", [
    ({"early_discount_pct": "2"}, [("early_discount_days", "required")]),
    ({"early_discount_days": 10}, [("early_discount_pct", "required")]),
    ({"early_discount_pct": "2", "early_discount_days": 45}, [("early_discount_days", "after_net")]),
    ({"early_discount_pct": "100", "early_discount_days": 10}, [("early_discount_pct", "less_than")]),
    ({"endpoint_id": "4012345000009"}, [("endpoint_scheme", "required")]),
    ({"endpoint_id": "4012345000008", "endpoint_scheme": "0088"}, [("endpoint_id", "invalid")]),
    ({"endpoint_id": "x", "endpoint_scheme": "1234"}, [("endpoint_scheme", "invalid")]),
    ({"dunning_opt_out": None}, [("dunning_opt_out", "required")]),
])
def test_a_customers_terms_and_electronic_address_are_checked_naming_the_field(api, world, patch, expected):
    big = world["ids"]["BIGBUY"]
    before = everything()
    r = api.patch(f"/customers/{big}", user="admin", json=patch)
    assert r.status_code == 422, r.text
    assert [(e["field"], e["code"]) for e in r.json()["errors"]] == expected
    assert changed(before, everything()) == []


def test_a_customers_terms_electronic_address_and_reminder_opt_out_are_kept(api, world):
    big = world["ids"]["BIGBUY"]
    c = terms_approved(api, big, {"early_discount_pct": "1.5", "early_discount_days": 15,
                                  "endpoint_id": "4012345000009", "endpoint_scheme": "0088"})
    assert (c["early_discount_pct"], c["early_discount_days"], c["payment_terms"]) == ("1.5", 15, "1.5/15 net 30")
    assert (c["endpoint_id"], c["endpoint_scheme"], c["dunning_opt_out"]) == ("4012345000009", "0088", False)
    # Receivables may set the reminder opt-out, and only that.
    assert ok(api.patch(f"/customers/{big}", user="cashier", json={"dunning_opt_out": True}))["dunning_opt_out"] is True
    assert api.patch(f"/customers/{big}", user="cashier", json={"legal_name": "X"}).status_code == 403
    c = terms_approved(api, big, {"early_discount_pct": None, "early_discount_days": None})
    assert (c["early_discount_pct"], c["payment_terms"]) == (None, "net 30")
    new = ok(api.post("/customers", user="admin", json={
        "code": "SKONTO", "legal_name": "Skonto GmbH", "currency": "USD", "payment_terms_days": 30,
        "early_discount_pct": "3", "early_discount_days": 8, "dunning_opt_out": True,
        "billing_address": {"name": "AP", "line1": "1 Main St", "city": "Chicago", "region": "IL",
                            "postal_code": "60601", "country": "US"}}), 201)
    assert (new["payment_terms"], new["dunning_opt_out"]) == ("3/8 net 30", True)
    r = api.post("/customers", user="admin", json={
        "code": "HALF", "legal_name": "Half Inc.", "currency": "USD", "early_discount_days": 8,
        "billing_address": {"name": "AP", "line1": "1 Main St", "city": "Chicago", "region": "IL",
                            "postal_code": "60601", "country": "US"}})
    assert r.status_code == 422 and [e["field"] for e in r.json()["errors"]] == ["early_discount_pct"]
