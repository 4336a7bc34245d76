"""Changing a customer directly (PATCH /customers/{id}) checks its numbers as an application does, and a
new legal name is screened against the sanctions list: a rename cannot slip a listed party past it."""
from __future__ import annotations

from tests.api import assert_problem, order_body, snapshot
from tests.compliance.test_screening_story import subset


def test_a_patch_checks_vat_email_and_phone_and_stores_them_normalised(api, world):
    cid = world["ids"]["BIGBUY"]  # billed in Chicago (US)
    before = snapshot()
    assert_problem(api.patch(f"/customers/{cid}", user="admin", json={"email": "buyer@@bigbuy"}), 422, "email")
    body = assert_problem(api.patch(f"/customers/{cid}", user="admin",
                                    json={"phone": "12", "tax_id": "DE136695977", "legal_name": "BigBuy Corp."}),
                          422, "phone")
    assert sorted((e["field"], e["code"]) for e in body["errors"]) == [("phone", "phone_invalid"), ("tax_id", "format")]
    assert snapshot() == before  # refused: nothing changed, not even the name
    r = api.patch(f"/customers/{cid}", user="admin", json={"phone": "(312) 555-0142", "email": "AP@bigbuy.example"})
    assert r.status_code == 200, r.text
    assert (r.json()["phone"], r.json()["email"]) == ("+13125550142", "AP@bigbuy.example")


def test_a_new_legal_name_is_screened_and_a_hit_holds_the_customers_orders(api, world):
    r = api.post("/screening/lists", user="compliance", files=subset())
    assert r.status_code == 201, r.text
    assert r.json()["hits_opened"] == 0  # the world's customers are clean
    cid = world["ids"]["LOYAL"]
    r = api.patch(f"/customers/{cid}", user="admin",
                  json={"legal_name": "Iran Aircraft Manufacturing Industries"})
    assert r.status_code == 200, r.text
    hits = api.get("/screening/hits", user="compliance").json()["items"]
    assert [(h["customer_id"], h["listed_name"]) for h in hits] == [(cid, "IRAN AIRCRAFT MANUFACTURING INDUSTRIES")]
    held = api.post("/orders", json=order_body("LOYAL", lines=[{"sku": "WIDGET", "quantity": "1"}])).json()
    assert held["status"] == "held"
    assert [h["kind"] for h in held["holds"] if h["active"]] == ["compliance"]
