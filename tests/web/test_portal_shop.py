"""The portal's ordering side as a customer's buyer uses it: the catalogue at their own prices, the cart,
checkout (a double-click places one order), their orders with live status and tracking, reorder; and a
buyer of another customer who changes an id in a URL or a form gets nothing of BIGBUY's."""
from __future__ import annotations

import re
from decimal import Decimal as D

import pytest

from o2c.core import clock
from o2c.core.db import read_session
from o2c.customers import service as customers
from o2c.web.ui import cart as carts
from tests.concurrency.support import at_once
from tests.credit.support import set_limit
from tests.fulfillment.flow import ok, place
from tests.returns.delivery import add_carriers, deliver
from tests.web.support import log_in

KEY = re.compile(r'name="idem_key" value="([^"]+)"')


def row(html: str, sku: str) -> str:
    """The catalogue row of one product."""
    m = re.search(r"<tr>\s*<td data-label=\"Product\">[^<]*</td>\s*<td data-label=\"SKU\">" + re.escape(sku)
                  + r".*?</tr>", html, re.S)
    assert m, f"no row for {sku}"
    return m.group(0)


def add(b, sku: str, quantity: str):
    return b.post("/portal/cart/add", {"sku": sku, "quantity": quantity})


def checkout_form(b, **fields) -> dict:
    """The cart page's form as the browser would send it: its lines, its idempotency key, and `fields`."""
    page = b.get("/portal/cart").text
    data = {"idem_key": KEY.search(page).group(1)}
    for i, (sku, qty) in enumerate(re.findall(r'name="lines\[\d+\]\.sku" value="([^"]+)">.*?'
                                               r'name="lines\[\d+\]\.quantity" type="number" value="([^"]*)"',
                                               page, re.S)):
        data[f"lines[{i}].sku"], data[f"lines[{i}].quantity"] = sku, qty
    ship = re.search(r'<option value="(\d+)" selected>', page)
    data["ship_to_id"] = ship.group(1) if ship else ""
    return data | fields


def orders_of(api, customer_id: int) -> list[dict]:
    return ok(api.get("/orders", user="desk", params={"customer_id": customer_id}))["items"]


def order_id_of(r) -> int:
    assert r.status_code == 303, (r.status_code, r.text[:600])
    m = re.fullmatch(r"/portal/orders/(\d+)", r.headers["location"])
    assert m, r.headers["location"]
    return int(m.group(1))


def bigbuy_order(api) -> dict:
    return place(api, "BIGBUY", [("WIDGET", "3")], po_number="BB-SECRET-PO")


# ---------------------------------------------------------------- the cart cookie, pure

def test_the_cart_adds_sets_and_removes_lines_in_order():
    cart = carts.add({}, "WIDGET", D(2))
    cart = carts.add(cart, "GADGET", D(1))
    cart = carts.add(cart, "WIDGET", D(3))
    assert cart == {"WIDGET": D(5), "GADGET": D(1)} and list(cart) == ["WIDGET", "GADGET"]
    assert carts.set_quantity(cart, "WIDGET", D(7)) == {"WIDGET": D(7), "GADGET": D(1)}
    assert carts.remove(cart, "WIDGET") == {"GADGET": D(1)}
    full = {f"SKU{i}": D(1) for i in range(carts.MAX_LINES)}
    with pytest.raises(carts.CartFull):
        carts.add(full, "ONE-MORE", D(1))
    assert carts.add(full, "SKU0", D(1))["SKU0"] == D(2)  # more of a product already in it is fine


def test_the_cart_cookie_is_signed_and_belongs_to_one_user():
    token = carts.encode({"FLOUR": D("2.5"), "BOLT": D(24)}, 7, "s3cret")
    assert carts.decode(token, 7, "s3cret") == {"FLOUR": D("2.5"), "BOLT": D(24)}
    assert carts.decode(token, 8, "s3cret") == {}  # another user logging in on the same browser
    assert carts.decode(token, 7, "other secret") == {}
    assert carts.decode(token[:-2] + "xx", 7, "s3cret") == {}
    assert carts.decode(None, 7, "s3cret") == {}


# ---------------------------------------------------------------- catalogue

def test_each_customer_sees_their_own_prices_with_quantity_breaks(app):
    buyer = log_in(app, "buyer").get("/portal")
    assert buyer.status_code == 200
    assert "$22.50" in row(buyer.text, "GADGET")  # BIGBUY's contract price
    widget = row(buyer.text, "WIDGET")
    assert "$10.00" in widget and "from 10: $9.00" in widget and "from 100: $8.00" in widget
    assert "$0.3333" in row(buyer.text, "BOLT") and "multiples of 12" in row(buyer.text, "BOLT")
    assert "OLD" not in buyer.text  # discontinued: not sold
    tidy = log_in(app, "tidybuyer").get("/portal").text
    assert "$25.00" in row(tidy, "GADGET") and "$22.50" not in tidy  # the list price; BIGBUY's stays BIGBUY's


def test_the_catalogue_searches_by_name_or_sku(app):
    b = log_in(app, "buyer")
    found = b.get("/portal", params={"q": "gadget"}).text
    assert "GADGET" in found and "WIDGET" not in found
    assert "WIDGET" in b.get("/portal", params={"q": "WIDGET"}).text
    assert "No products found" in b.get("/portal", params={"q": "nothing like it"}).text


def test_a_bad_quantity_is_refused_beside_the_product_with_what_was_typed(app):
    b = log_in(app, "buyer")
    for sku, typed, why in (("GADGET", "0", "enter a quantity above 0"),
                            ("BOLT", "5", "multiples of 12 EA; 5 is not one"),
                            ("WIDGET", "1.5", "more than 0 decimals"), ("WIDGET", "lots", "enter a number")):
        r = add(b, sku, typed)
        assert r.status_code == 422, (sku, typed)
        refused = row(r.text, sku)
        assert why in refused and f'value="{typed}"' in refused and 'aria-invalid="true"' in refused
        assert why not in row(r.text, "FLOUR")  # only beside the product it was for
    assert "Your cart is empty" in b.get("/portal/cart").text


# ---------------------------------------------------------------- cart and checkout

def test_add_to_cart_and_check_out_places_one_portal_order_for_the_buyers_customer(app, api, world):
    b = log_in(app, "buyer")
    r = add(b, "GADGET", "2")
    assert r.status_code == 303 and r.headers["location"] == "/portal"
    assert add(b, "WIDGET", "4").status_code == 303
    cart = b.get("/portal/cart").text
    # priced for BIGBUY, shipped to Chicago: 2 x 22.50 + 4 x 10.00 = 85.00, Illinois tax 6.25% = 2.81 + 2.50
    assert "$45.00" in cart and "$40.00" in cart and "$85.00" in cart and "$5.31" in cart and "$90.31" in cart
    r = b.post("/portal/cart/order", checkout_form(b, po_number="BB-100", notes="Dock 2, please"))
    order_id = order_id_of(r)
    [order] = orders_of(api, world["ids"]["BIGBUY"])
    assert order["id"] == order_id and order["channel"] == "b2b_portal" and order["po_number"] == "BB-100"
    assert [(li["sku"], D(li["quantity"]), D(li["unit_price"])) for li in order["lines"]] == [
        ("GADGET", 2, D("22.50")), ("WIDGET", 4, 10)]
    assert order["total"] == "90.31" and order["status"] == "confirmed" and order["notes"] == "Dock 2, please"
    page = b.get(r.headers["location"])
    assert f"Order {order['number']}" in page.text and "placed" in page.text and "Confirmed" in page.text
    assert "Your cart is empty" in b.get("/portal/cart").text


def test_a_double_clicked_place_order_creates_one_order(app, api, world):
    b = log_in(app, "buyer")
    add(b, "WIDGET", "2")
    form = checkout_form(b, po_number="BB-DOUBLE")
    first, second = b.post("/portal/cart/order", form), b.post("/portal/cart/order", form)
    assert order_id_of(first) == order_id_of(second)
    assert len(orders_of(api, world["ids"]["BIGBUY"])) == 1
    assert "was placed already" in b.get(second.headers["location"]).text
    # back to the old page, the PO changed, sent again with the same key: told so, not a second order
    r = b.post("/portal/cart/order", form | {"po_number": "BB-OTHER"})
    assert r.status_code == 422 and "this order was placed already" in r.text
    assert len(orders_of(api, world["ids"]["BIGBUY"])) == 1


def test_two_place_order_clicks_at_the_same_moment_create_one_order(app, api, world):
    b = log_in(app, "buyer")
    add(b, "GADGET", "1")
    form = checkout_form(b, po_number="BB-RACE")
    results, errors = at_once([lambda: b.post("/portal/cart/order", form)] * 2)
    assert errors == [] and len({order_id_of(r) for r in results}) == 1
    assert [o["po_number"] for o in orders_of(api, world["ids"]["BIGBUY"])] == ["BB-RACE"]


def test_a_bad_quantity_at_checkout_is_refused_beside_the_line_and_nothing_is_ordered(app, api, world):
    b = log_in(app, "buyer")
    add(b, "BOLT", "24")
    add(b, "WIDGET", "1")
    r = b.post("/portal/cart/order", checkout_form(b, **{"lines[0].quantity": "30", "po_number": "BB-KEEP"}))
    assert r.status_code == 422
    assert 'id="f-lines-0-quantity-error"' in r.text and "BOLT is sold in multiples of 12 EA; 30 is not one" in r.text
    assert 'name="lines[0].quantity" type="number" value="30"' in r.text and 'value="BB-KEEP"' in r.text
    assert 'id="f-lines-1-quantity-error"' not in r.text
    r = b.post("/portal/cart/order", checkout_form(b, **{"lines[1].quantity": "0"}))
    assert r.status_code == 422 and "enter a quantity above 0" in r.text
    for day, why in (("not a date", "enter a date as YYYY-MM-DD"), ("2020-01-01", "pick today or a later day")):
        r = b.post("/portal/cart/order", checkout_form(b, requested_date=day))
        assert r.status_code == 422 and 'id="f-requested_date-error"' in r.text and why in r.text
        assert f'value="{day}"' in r.text
    r = add(b, "NO-SUCH-THING", "1")
    assert r.status_code == 422 and "NO-SUCH-THING: no product with SKU" in r.text
    assert orders_of(api, world["ids"]["BIGBUY"]) == []


def test_the_cart_updates_quantities_and_removes_lines(app):
    b = log_in(app, "buyer")
    add(b, "WIDGET", "2")
    add(b, "GADGET", "1")
    form = checkout_form(b, **{"lines[0].quantity": "10"})
    r = b.post("/portal/cart/update", form)
    assert r.status_code == 303
    cart = b.get("/portal/cart").text
    assert 'value="10"' in cart and "$90.00" in cart  # ten widgets reach the $9.00 break
    r = b.post("/portal/cart/update", checkout_form(b, **{"lines[1].quantity": "-1"}))
    assert r.status_code == 422 and 'value="-1"' in r.text and "enter a quantity above 0" in r.text
    assert b.post("/portal/cart/remove", {"remove": "WIDGET"}).status_code == 303
    cart = b.get("/portal/cart").text
    assert 'name="lines[0].sku" value="GADGET"' in cart and 'name="lines[1].sku"' not in cart


def test_the_ship_to_is_one_of_the_customers_own_addresses(app, api, world):
    b = log_in(app, "buyer")
    add(b, "WIDGET", "1")
    cart = b.get("/portal/cart").text
    assert "100 W Randolph St" in cart  # BIGBUY's Chicago address
    with read_session() as s:
        tidy = customers.customer_view(s, world["ids"]["company"], world["ids"]["TIDY"])
        tidy_address = str(tidy["shipping_addresses"][0].id)
    r = b.post("/portal/cart/order", checkout_form(b, ship_to_id=tidy_address))
    assert r.status_code == 404 and "no such address" in r.text and "200 N Spring St" not in r.text
    assert orders_of(api, world["ids"]["BIGBUY"]) == []


# ---------------------------------------------------------------- orders

def test_the_orders_list_shows_live_status_and_only_the_customers_own(app, api):
    mine = bigbuy_order(api)
    tidys = place(api, "TIDY", [("WIDGET", "1")], po_number="TIDY-PO")
    b = log_in(app, "buyer")
    page = b.get("/portal/orders").text
    assert mine["number"] in page and "BB-SECRET-PO" in page and "Confirmed" in page
    assert 'hx-trigger="every 15s"' in page and tidys["number"] not in page
    live = b.get("/portal/orders/live")
    assert live.status_code == 200 and mine["number"] in live.text and "<html" not in live.text


def test_the_order_page_tells_a_hold_in_the_customers_words(app, api):
    held = ok(api.post("/orders", user="desk", json={
        "customer_code": "BIGBUY", "channel": "web", "po_number": "BB-PAST", "requested_date": "2020-01-01",
        "lines": [{"sku": "WIDGET", "quantity": "1"}]}), 201)
    assert held["status"] == "held"
    page = log_in(app, "buyer").get(f"/portal/orders/{held['id']}").text
    assert "On hold" in page and "checking some details" in page and "is in the past" in page
    assert 'hx-get="/portal/orders/%d/live"' % held["id"] in page


def test_a_credit_hold_is_shown_as_a_review_never_with_its_internal_reason(app, api, world):
    set_limit(api, world["ids"]["BIGBUY"], credit_limit="50")
    b = log_in(app, "buyer")
    add(b, "WIDGET", "10")
    order_id = order_id_of(b.post("/portal/cart/order", checkout_form(b)))
    held = ok(api.get(f"/orders/{order_id}", user="desk"))
    [hold] = [h for h in held["holds"] if h["active"]]
    assert hold["kind"] == "credit"
    page = b.get(f"/portal/orders/{order_id}").text
    assert "On hold" in page and "Being reviewed by our accounts team" in page
    for reason in hold["reasons"]:
        assert reason["message"] not in page
    assert "limit" not in page.lower() and "exposure" not in page.lower()


def test_a_delivered_order_shows_tracking_links_invoices_and_a_return_link(app, api):
    add_carriers(api)
    order = bigbuy_order(api)
    [shipment] = deliver(api, order["id"], None)
    invoice = ok(api.post(f"/invoices/from-shipment/{shipment['id']}", user="biller"), 201)
    b = log_in(app, "buyer")
    page = b.get(f"/portal/orders/{order['id']}").text
    number = shipment["packages"][0]["tracking_number"]
    carrier = {"PARCELCO": "Parcel Co", "SWIFT": "Swift Express"}[shipment["carrier"]]
    assert "On its way" in page and carrier in page
    assert re.search(r'<a href="https://[^"]+' + number + '"', page), "the tracking number links to the carrier"
    assert f'href="/portal/invoices/{invoice["id"]}"' in page and invoice["number"] in page
    assert "/portal/returns/new" not in page  # not delivered yet
    ok(api.post("/tracking-events", user="keeper", json={"tracking_number": number, "kind": "delivered",
                                                          "occurred_at": clock.now().isoformat(),
                                                          "location": "front door"}), 201)
    live = b.get(f"/portal/orders/{order['id']}/live").text
    assert "Delivered" in live and "front door" in live
    page = b.get(f"/portal/orders/{order['id']}").text
    assert f'href="/portal/returns/new?order_id={order["id"]}"' in page


def test_reorder_fills_the_cart_with_the_orders_lines_at_todays_prices(app, api):
    order = place(api, "BIGBUY", [("GADGET", "2"), ("WIDGET", "12")])
    b = log_in(app, "buyer")
    add(b, "GADGET", "1")
    r = b.post(f"/portal/orders/{order['id']}/reorder")
    assert r.status_code == 303 and r.headers["location"] == "/portal/cart"
    cart = b.get("/portal/cart").text
    assert 'name="lines[0].quantity" type="number" value="3"' in cart  # added to what was there
    assert 'name="lines[1].quantity" type="number" value="12"' in cart and "$108.00" in cart  # 12 x 9.00


# ---------------------------------------------------------------- another customer's buyer

def test_another_customers_order_page_is_not_found(app, api):
    theirs = bigbuy_order(api)
    tidy = log_in(app, "tidybuyer")
    for path in (f"/portal/orders/{theirs['id']}", f"/portal/orders/{theirs['id']}/live"):
        r = tidy.get(path)
        assert r.status_code == 404 and "no such order" in r.text, path
        assert theirs["number"] not in r.text and "BB-SECRET-PO" not in r.text


def test_another_customers_orders_are_not_in_the_list(app, api):
    theirs = bigbuy_order(api)
    tidy = log_in(app, "tidybuyer")
    for path in ("/portal/orders", "/portal/orders/live", f"/portal/orders?before={theirs['id'] + 1}"):
        r = tidy.get(path)
        assert r.status_code == 200 and theirs["number"] not in r.text and "BB-SECRET-PO" not in r.text, path


def test_reordering_another_customers_order_is_not_found_and_fills_nothing(app, api):
    theirs = place(api, "BIGBUY", [("GADGET", "2")])
    tidy = log_in(app, "tidybuyer")
    r = tidy.post(f"/portal/orders/{theirs['id']}/reorder")
    assert r.status_code == 404 and "no such order" in r.text and theirs["number"] not in r.text
    assert "Your cart is empty" in tidy.get("/portal/cart").text


def test_checking_out_to_another_customers_address_is_not_found(app, api, world):
    tidy = log_in(app, "tidybuyer")
    add(tidy, "WIDGET", "1")
    with read_session() as s:
        big = customers.customer_view(s, world["ids"]["company"], world["ids"]["BIGBUY"])
        big_address = str(big["shipping_addresses"][0].id)
    for path in ("/portal/cart/order", "/portal/cart/update"):
        r = tidy.post(path, checkout_form(tidy, ship_to_id=big_address))
        assert "100 W Randolph St" not in r.text, path
    assert orders_of(api, world["ids"]["TIDY"]) == [] and orders_of(api, world["ids"]["BIGBUY"]) == []


def test_a_cart_cookie_of_another_buyer_is_an_empty_cart(app):
    buyer = log_in(app, "buyer")
    add(buyer, "GADGET", "2")
    stolen = buyer.client.cookies.get(carts.COOKIE)
    tidy = log_in(app, "tidybuyer")
    tidy.client.cookies.set(carts.COOKIE, stolen, path="/portal")
    assert "Your cart is empty" in tidy.get("/portal/cart").text


def test_the_catalogue_add_and_remove_act_on_the_buyers_own_cart_only(app):
    tidy = log_in(app, "tidybuyer")
    assert tidy.post("/portal/cart/remove", {"remove": "GADGET"}).status_code == 303
    assert add(tidy, "GADGET", "1").status_code == 303
    assert "$25.00" in tidy.get("/portal/cart").text and "$22.50" not in tidy.get("/portal/cart").text


def test_staff_cannot_use_the_portal_shop(app):
    desk = log_in(app, "desk")
    for path in ("/portal", "/portal/cart", "/portal/orders"):
        assert desk.get(path).status_code == 403, path
    assert desk.post("/portal/cart/add", {"sku": "WIDGET", "quantity": "1"}).status_code == 403


def test_a_polled_status_refresh_does_not_keep_an_idle_session_alive(app):
    b = log_in(app, "buyer")
    r = b.get("/portal/orders/live")
    assert r.status_code == 200 and "set-cookie" not in r.headers  # the idle clock keeps running
    assert "set-cookie" in b.get("/portal/orders").headers  # a page the user opens is activity


def test_where_the_money_stands_in_the_customers_words():
    from decimal import Decimal as D

    from o2c.web.ui.portal_shop import payment_words

    inv = [{"total": D("100.00"), "open": D("100.00")}, {"total": D("50.00"), "open": D("0")}]
    assert payment_words("confirmed", []) is None  # nothing invoiced: nothing to pay yet
    assert payment_words("confirmed", inv[:1]) == "Awaiting payment"
    assert payment_words("confirmed", inv) == "Part paid"
    assert payment_words("confirmed", [dict(inv[0], open=D("0")), inv[1]]) == "Paid"
    assert payment_words("cancelled", inv) is None
