"""Changing orders after capture: line edits on confirmed orders, partial backorders, approvals that
stop counting when what they approved changes, and orders left for a person to confirm."""
from __future__ import annotations


def reserved(api, sku, wh="CHI"):
    [row] = api.get(f"/stock?sku={sku}&warehouse={wh}").json()["items"]
    return row["reserved"]


def order(api, customer="BIGBUY", lines=(("WIDGET", "10"),), user="desk", **extra):
    body = {"customer_code": customer, "channel": "b2b_portal",
            "lines": [{"sku": s, "quantity": q} for s, q in lines]} | extra
    r = api.post("/orders", user=user, json=body)
    assert r.status_code == 201, r.text
    return r.json()


def test_editing_a_line_of_a_confirmed_order_re_reserves_only_that_line(api):
    o = order(api, lines=(("WIDGET", "10"), ("GADGET", "2")))
    assert o["status"] == "confirmed" and reserved(api, "WIDGET") == "10"
    r = api.patch(f"/orders/{o['id']}/lines/1", json={"quantity": "30", "reason": "buyer doubled the order"})
    o = r.json()
    assert o["status"] == "confirmed"
    assert o["lines"][0]["reserved_qty"] == "30" and o["lines"][0]["net_amount"] == "270.00"
    assert reserved(api, "WIDGET") == "30" and reserved(api, "GADGET") == "2"
    assert o["total"] == "334.69"  # 270.00 + 45.00 + tax 16.88 + 2.81
    steps = api.get(f"/orders/{o['id']}/timeline").json()
    assert steps[-1]["action"] == "line_changed" and steps[-1]["reason"] == "buyer doubled the order"


def test_raising_a_line_beyond_stock_backorders_the_difference(api):
    o = order(api, lines=(("GADGET", "2"),))
    o = api.patch(f"/orders/{o['id']}/lines/1", json={"quantity": "8"}).json()
    assert o["status"] == "backordered"
    assert (o["lines"][0]["reserved_qty"], o["lines"][0]["backordered_qty"]) == ("5", "3")
    assert reserved(api, "GADGET") == "5"
    # stock arrives; confirming again reserves just the 3 still missing
    api.put("/stock", user="keeper", json={"sku": "GADGET", "warehouse": "CHI", "on_hand": "9", "reason": "receipt"})
    o = api.post(f"/orders/{o['id']}/confirm").json()
    assert o["status"] == "confirmed" and reserved(api, "GADGET") == "8"


def test_an_edit_that_breaks_a_rule_puts_the_order_back_on_hold_and_frees_its_stock(api):
    o = order(api, lines=(("WIDGET", "10"), ("GADGET", "1")))
    o = api.patch(f"/orders/{o['id']}/lines/2", json={"unit_price": "1.00"}).json()
    assert o["status"] == "held"
    assert [r["field"] for h in o["holds"] if h["active"] for r in h["reasons"]] == ["lines[1].override_reason"]
    assert reserved(api, "WIDGET") == "0" and reserved(api, "GADGET") == "0"
    assert all(li["reserved_qty"] == "0" for li in o["lines"])


def test_ship_complete_orders_re_reserve_all_or_nothing(api):
    o = order(api, customer="TIDY", lines=(("WIDGET", "10"), ("GADGET", "5")))
    assert o["status"] == "confirmed" and reserved(api, "GADGET") == "5"
    o = api.patch(f"/orders/{o['id']}/lines/2", json={"quantity": "6"}).json()
    assert o["status"] == "backordered"
    assert [li["reserved_qty"] for li in o["lines"]] == ["0", "0"]
    assert reserved(api, "WIDGET") == "0" and reserved(api, "GADGET") == "0"


def test_a_price_approval_stops_counting_when_the_prices_change(api):
    r = api.post("/orders", json={"customer_code": "BIGBUY", "channel": "web", "lines": [
        {"sku": "WIDGET", "quantity": "5", "unit_price": "7.00", "override_reason": "promo"}]})
    o = r.json()
    hold = next(h for h in o["holds"] if h["active"])
    o = api.post(f"/orders/{o['id']}/holds/{hold['id']}/release", user="approver",
                 json={"reason": "promo approved"}).json()
    assert o["status"] == "confirmed"
    o = api.patch(f"/orders/{o['id']}/lines/1", json={"unit_price": "5.00", "override_reason": "deeper promo"}).json()
    assert o["status"] == "held"
    assert [h["kind"] for h in o["holds"] if h["active"]] == ["pricing"]


def test_an_order_can_wait_for_a_person_to_confirm_it(api):
    o = order(api, confirm=False)
    assert o["status"] == "validated" and reserved(api, "WIDGET") == "0"
    o = api.post(f"/orders/{o['id']}/confirm").json()
    assert o["status"] == "confirmed" and reserved(api, "WIDGET") == "10"


def test_a_confirmed_order_is_corrected_line_by_line_not_wholesale(api):
    o = order(api)
    r = api.patch(f"/orders/{o['id']}", json={"po_number": "NEW-PO"})
    assert r.status_code == 409
    assert "confirmed" in r.json()["detail"]
    assert api.get(f"/orders/{o['id']}").json()["po_number"] is None


def test_cancelling_a_held_order_closes_its_holds(api):
    o = order(api, lines=(("OLD", "1"),))
    assert o["status"] == "held"
    o = api.post(f"/orders/{o['id']}/cancel", json={"reason": "product discontinued"}).json()
    assert o["status"] == "cancelled" and not any(h["active"] for h in o["holds"])
    r = api.post(f"/orders/{o['id']}/cancel", json={"reason": "again"})
    assert r.status_code == 409 and r.headers["content-type"].startswith("application/problem+json")


def test_a_validation_hold_cannot_be_released_by_hand(api):
    o = order(api, lines=(("BOLT", "10"),))  # sold in cases of 12
    hold = next(h for h in o["holds"] if h["active"])
    r = api.post(f"/orders/{o['id']}/holds/{hold['id']}/release", json={"reason": "let it through"})
    assert r.status_code == 409
    o = api.patch(f"/orders/{o['id']}", json={"lines": [{"sku": "BOLT", "quantity": "24"}]}).json()
    assert o["status"] == "confirmed" and o["lines"][0]["net_amount"] == "8.00"  # 24 x 0.3333 = 7.9992


def test_the_price_override_threshold_is_the_company_setting(api):
    body = {"customer_code": "BIGBUY", "channel": "web", "lines": [
        {"sku": "WIDGET", "quantity": "5", "unit_price": "8.50", "override_reason": "promo"}]}  # 15% off
    assert api.post("/orders", json=body).json()["status"] == "held"
    assert api.patch("/company", json={"price_override_threshold_pct": "20"}).status_code == 403  # desk
    r = api.patch("/company", user="admin", json={"price_override_threshold_pct": "20"})
    assert r.status_code == 200 and r.json()["price_override_threshold_pct"] == "20"
    assert api.post("/orders", json=body).json()["status"] == "confirmed"


def test_a_customer_portal_user_cannot_set_prices_or_discounts(api, world):
    from o2c.core.auth import create_user, issue_api_key
    from o2c.core.db import transaction

    def portal(s):
        u = create_user(s, "bigbuy_buyer", ["customer"], [world["ids"]["company"]], customer_id=world["ids"]["BIGBUY"])
        return issue_api_key(s, u)

    api.keys["buyer"] = transaction(portal)
    body = {"customer_code": "BIGBUY", "channel": "b2b_portal", "lines": [
        {"sku": "WIDGET", "quantity": "2", "unit_price": "9.10", "override_reason": "I want it cheaper"},
        {"sku": "GADGET", "quantity": "1", "discount_pct": "5"}], "order_discount": "1.50",
        "order_discount_reason": "please"}
    r = api.post("/orders", user="buyer", json=body)
    assert r.status_code == 403
    assert [e["field"] for e in r.json()["errors"]] == ["lines[0].unit_price", "lines[1].discount_pct", "order_discount"]
    r = api.post("/orders", user="buyer", json={"customer_code": "BIGBUY", "channel": "b2b_portal",
                                                 "lines": [{"sku": "WIDGET", "quantity": "2"}]})
    assert r.status_code == 201 and r.json()["total"] == "21.25"
    r = api.patch(f"/orders/{r.json()['id']}/lines/1", user="buyer", json={"discount_pct": "50"})
    assert r.status_code == 403


def test_a_line_too_large_to_book_is_refused_naming_it(api):
    r = api.post("/orders", json={"customer_code": "BIGBUY", "channel": "web", "lines": [
        {"sku": "WIDGET", "quantity": "1000000", "unit_price": "99999999999", "override_reason": "test"}]})
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "lines[0].quantity"
    assert api.get("/orders").json()["items"] == []


def test_ids_beyond_64_bits_are_bad_input_naming_the_field(api):
    r = api.get("/orders/99999999999999999999")
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "order_id"
    r = api.post("/orders", json={"customer_id": 2**64, "channel": "web", "lines": [{"sku": "WIDGET", "quantity": "1"}]})
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "customer_id"
