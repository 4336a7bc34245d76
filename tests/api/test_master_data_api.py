"""Master data through the API: customers, products, price lists, tax rates, warehouses and stock.

Each kind is created, read, listed and changed, and the change is checked where it matters: in the
price and tax of an order, in the stock an order can reserve. Bad input names its field, changes nothing.
"""
from __future__ import annotations

from decimal import Decimal

from tests.api import assert_problem, nums, order_body, snapshot, stock_figures, stock_of

CHI = {"name": "Receiving", "line1": "100 W Randolph St", "city": "Chicago", "region": "IL",
       "postal_code": "60601", "country": "US"}
NYC = {"name": "Dock 1", "line1": "1 Broadway", "city": "New York", "region": "NY", "postal_code": "10004",
       "country": "US"}


def _refused(api, verb, path, body, status, field=None, user="admin"):
    before = snapshot()
    r = getattr(api, verb)(path, user=user, json=body)
    problem = assert_problem(r, status, field)
    assert snapshot() == before, f"{verb} {path} was refused but changed data"
    return problem


def _all_pages(api, path, limit, **params) -> list[dict]:
    items, cursor, pages = [], None, 0
    while True:
        r = api.get(path, user="admin", params={"limit": limit, **params, **({"cursor": cursor} if cursor else {})})
        assert r.status_code == 200, r.text
        page = r.json()
        items += page["items"]
        pages += 1
        cursor = page["next_cursor"]
        if not cursor:
            return items
        assert pages < 20, "pagination does not end"


def test_customers_are_created_read_listed_and_changed(api, world):
    new = {"code": "HARBOR", "legal_name": "Harbor Freight Co", "email": "ap@harbor.example", "currency": "USD",
           "payment_terms_days": 45, "ship_preference": "ship_complete", "billing_address": CHI,
           "shipping_addresses": [NYC, CHI | {"name": "Back door"}]}
    r = api.post("/customers", user="admin", json=new)
    assert r.status_code == 201, r.text
    c = r.json()
    assert (c["code"], c["currency"], c["payment_terms_days"], c["ship_preference"]) == ("HARBOR", "USD", 45,
                                                                                           "ship_complete")
    assert c["billing_address"]["postal_code"] == "60601"
    assert [a["city"] for a in c["shipping_addresses"]] == ["New York", "Chicago"]
    assert api.get(f"/customers/{c['id']}").json() == c

    # An order without a ship-to goes to the customer's first shipping address, taxed there (no NY rate yet).
    o = api.post("/orders", json=order_body("HARBOR")).json()
    assert o["ship_to"]["city"] == "New York"
    assert o["status"] == "held" and "lines[0].tax_class" in [x["field"] for x in o["holds"][0]["reasons"]]

    listed = _all_pages(api, "/customers", 2)
    codes = [x["code"] for x in listed]
    assert codes == ["BIGBUY", "TIDY", "EXEMPT", "LOYAL", "EURO", "HARBOR"]  # oldest first, no gaps, no repeats
    assert [x["code"] for x in api.get("/customers", params={"q": "harbor"}).json()["items"]] == ["HARBOR"]

    r = api.patch(f"/customers/{world['ids']['BIGBUY']}", user="admin",
                  json={"discount_pct": "10", "ship_preference": "ship_complete", "legal_name": "Big Buy Corp."})
    assert r.status_code == 200, r.text
    assert (r.json()["ship_preference"], r.json()["legal_name"]) == ("ship_complete", "Big Buy Corp.")
    assert nums(r.json()["discount_pct"]) == nums("10")
    # the standing discount now applies to BIGBUY's orders: 2 x 10.00 less 10% = 18.00
    o = api.post("/orders", json=order_body()).json()
    assert nums(o["lines"][0]["discount_pct"], o["subtotal"], o["discount_total"]) == nums("10", "20", "2")

    # bad input names its field and changes nothing
    bad_zip = new | {"code": "BADZIP", "billing_address": CHI | {"postal_code": "6060X"}}
    _refused(api, "post", "/customers", bad_zip, 422, "billing_address.postal_code")
    bad_ship = new | {"code": "BADZIP", "shipping_addresses": [NYC, NYC | {"postal_code": "ABCDE"}]}
    _refused(api, "post", "/customers", bad_ship, 422, "shipping_addresses[1].postal_code")
    _refused(api, "post", "/customers", new | {"code": "NOCTRY", "billing_address": CHI | {"country": "XX"}},
             422, "billing_address.country")
    _refused(api, "post", "/customers", new | {"code": "BADMAIL", "email": "not-an-email"}, 422, "email")
    _refused(api, "post", "/customers", new | {"code": "BADCUR", "currency": "XYZ"}, 422, "currency")
    _refused(api, "post", "/customers", new | {"code": "LONG", "legal_name": "L" * 201}, 422, "legal_name")
    _refused(api, "post", "/customers", new | {"code": "TERMS", "payment_terms_days": 400}, 422, "payment_terms_days")
    _refused(api, "post", "/customers", new | {"code": "SHIP", "ship_preference": "whenever"}, 422, "ship_preference")
    _refused(api, "post", "/customers", new | {"code": "EXTRA", "vip": True}, 422, "vip")
    _refused(api, "post", "/customers", new, 409)  # HARBOR exists
    _refused(api, "patch", f"/customers/{c['id']}", {"discount_pct": "150"}, 422, "discount_pct")
    _refused(api, "patch", f"/customers/{c['id']}", {"currency": "EUR"}, 422, "currency")  # not changeable here
    _refused(api, "patch", "/customers/999999", {"legal_name": "Ghost"}, 404)


def _products_price_lists_and_tax_rates_decide_an_orders_figures(api, world):
    r = api.post("/products", user="admin", json={
        "sku": "SPROCKET", "name": "Sprocket, 40 teeth", "uom": "EA", "weight_kg": "0.250", "length_cm": "12.5",
        "width_cm": "12.5", "height_cm": "1.0", "gtin": "4006381333931", "tax_class": "standard"})
    assert r.status_code == 201, r.text
    p = r.json()
    assert (p["sku"], p["gtin"], p["active"]) == ("SPROCKET", "4006381333931", True)
    assert nums(p["weight_kg"], p["length_cm"]) == nums("0.25", "12.5")
    assert api.get(f"/products/{p['id']}").json() == p
    assert [x["sku"] for x in api.get("/products", params={"active": "false"}).json()["items"]] == ["OLD"]
    assert [x["sku"] for x in _all_pages(api, "/products", 2)] == ["WIDGET", "GADGET", "BOLT", "FLOUR", "OLD",
                                                                   "SPROCKET"]
    r = api.patch(f"/products/{p['id']}", user="admin", json={"name": "Sprocket, 40T"})
    assert r.status_code == 200 and r.json()["name"] == "Sprocket, 40T"

    # A general list with quantity breaks, and LOYAL's own list that wins over it.
    r = api.post("/price-lists", user="admin", json={"name": "Sprockets", "currency": "USD", "items": [
        {"sku": "SPROCKET", "min_qty": "1", "unit_price": "5.00"},
        {"sku": "SPROCKET", "min_qty": "100", "unit_price": "4.00"},
        {"sku": "SPROCKET", "min_qty": "10", "unit_price": "4.50"}]})
    assert r.status_code == 201, r.text
    general = r.json()
    assert [nums(i["min_qty"], i["unit_price"]) for i in general["items"]] == [
        nums("1", "5"), nums("10", "4.5"), nums("100", "4")]
    r = api.post("/price-lists", user="admin", json={
        "name": "LOYAL sprockets", "currency": "USD", "customer_id": world["ids"]["LOYAL"],
        "items": [{"sku": "SPROCKET", "unit_price": "3.90"}]})
    assert r.status_code == 201, r.text
    assert api.get(f"/price-lists/{general['id']}").json() == general
    assert {"Sprockets", "LOYAL sprockets", "USD list", "EUR list"} <= {x["name"] for x in api.get("/price-lists").json()}

    # New York gets a tax rate; tax rates are listed by country.
    r = api.post("/tax-rates", user="admin", json={"country": "US", "region": "NY", "tax_class": "standard",
                                                    "rate_pct": "4", "name": "NY state", "valid_from": "2020-01-01"})
    assert r.status_code == 201, r.text
    rates = api.get("/tax-rates", params={"country": "US"}).json()
    assert ("NY", Decimal(4)) in [(t["region"], Decimal(t["rate_pct"])) for t in rates]
    assert api.put("/stock", user="keeper", json={"sku": "SPROCKET", "warehouse": "CHI", "on_hand": "1000",
                                                   "reason": "first delivery"}).status_code == 200

    def priced(customer, qty, ship_to=None):
        body = order_body(customer, lines=[{"sku": "SPROCKET", "quantity": qty}])
        if ship_to:
            body["ship_to"] = ship_to
        r = api.post("/orders", json=body)
        assert r.status_code == 201, r.text
        o = r.json()
        assert o["status"] == "confirmed", o
        return nums(o["lines"][0]["unit_price"], o["lines"][0]["tax_rate_pct"], o["total"])

    assert priced("BIGBUY", "9") == nums("5", "6.25", "47.81")       # 45.00 + 6.25% (2.8125 -> 2.81)
    assert priced("BIGBUY", "10") == nums("4.5", "6.25", "47.81")      # break at 10: 45.00 + 2.81
    assert priced("BIGBUY", "100", NYC) == nums("4", "4", "416.00")  # break at 100, NY tax 4%
    assert priced("LOYAL", "100") == nums("3.9", "6.25", "393.66")     # own list 390.00, less 5% = 370.50 + 23.16
    assert priced("TIDY", "2") == nums("5", "7.25", "10.73")         # ships to LA: CA 7.25% of 10.00 = 0.725 -> 0.73

    # Bad input names its field and changes nothing.
    _refused(api, "post", "/products", {"sku": "SPROCKET", "name": "again"}, 409)
    _refused(api, "post", "/products", {"sku": "NEW 1", "name": "x"}, 422, "sku")
    _refused(api, "post", "/products", {"sku": "NEW1", "name": "x", "gtin": "12AB5678"}, 422, "gtin")
    _refused(api, "post", "/products", {"sku": "NEW1", "name": "x", "uom_decimals": 4}, 422, "uom_decimals")
    _refused(api, "post", "/products", {"sku": "NEW1", "name": "x", "weight_kg": "-1"}, 422, "weight_kg")
    _refused(api, "post", "/products", {"sku": "NEW1", "name": ""}, 422, "name")
    _refused(api, "patch", f"/products/{p['id']}", {"sku": "RENAMED"}, 422, "sku")
    _refused(api, "patch", "/products/999999", {"name": "Ghost"}, 404)
    item = {"sku": "SPROCKET", "unit_price": "1"}
    _refused(api, "post", "/price-lists", {"name": "x", "currency": "USD", "items": [{"sku": "NOSUCH", "unit_price": "1"}]},
             422, "items[0].sku")
    _refused(api, "post", "/price-lists", {"name": "x", "currency": "USD", "items": [item, item]}, 422, "items[1].min_qty")
    _refused(api, "post", "/price-lists", {"name": "x", "currency": "USD", "customer_id": 999999, "items": [item]},
             422, "customer_id")
    _refused(api, "post", "/price-lists", {"name": "x", "currency": "USD", "valid_from": "2030-01-01",
                                            "valid_to": "2029-01-01", "items": [item]}, 422, "valid_to")
    _refused(api, "post", "/price-lists", {"name": "x", "currency": "QQQ", "items": [item]}, 422, "currency")
    _refused(api, "post", "/price-lists", {"name": "x", "currency": "USD", "items": [item | {"unit_price": "-1"}]},
             422, "items[0].unit_price")
    _refused(api, "post", "/tax-rates", {"country": "US", "region": "NY", "tax_class": "standard", "rate_pct": "5",
                                          "name": "again", "valid_from": "2020-01-01"}, 409)
    _refused(api, "post", "/tax-rates", {"country": "US", "rate_pct": "101", "name": "x", "valid_from": "2020-01-01"},
             422, "rate_pct")
    _refused(api, "post", "/tax-rates", {"country": "USA", "rate_pct": "1", "name": "x", "valid_from": "2020-01-01"},
             422, "country")
    _refused(api, "post", "/tax-rates", {"country": "US", "rate_pct": "1", "name": "x", "valid_from": "someday"},
             422, "valid_from")


def _warehouses_and_stock(api, world):
    r = api.post("/warehouses", user="admin", json={"code": "NYC", "address": NYC, "latitude": "40.705",
                                                     "longitude": "-74.0137"})
    assert r.status_code == 201, r.text
    w = r.json()
    assert (w["code"], w["address"]["city"], w["active"]) == ("NYC", "New York", True)
    assert nums(w["latitude"], w["longitude"]) == nums("40.705", "-74.0137")
    got = api.get(f"/warehouses/{w['id']}").json()
    assert nums(got.pop("latitude"), got.pop("longitude")) == nums(w.pop("latitude"), w.pop("longitude"))
    assert got == w
    assert [x["code"] for x in api.get("/warehouses").json()] == ["CHI", "LAX", "NYC"]
    assert_problem(api.get("/warehouses/999999"), 404)

    # Stock on hand is set with a reason; available is what is not reserved.
    r = api.put("/stock", user="keeper", json={"sku": "GADGET", "warehouse": "NYC", "on_hand": "4", "reason": "transfer in"})
    assert r.status_code == 200, r.text
    assert (r.json()["sku"], r.json()["warehouse"]) == ("GADGET", "NYC")
    assert stock_figures(r.json()) == nums(4, 0, 4)
    assert stock_figures(stock_of(api, "GADGET", "NYC")) == nums(4, 0, 4)
    assert stock_figures(stock_of(api, "GADGET", "CHI")) == nums(5, 0, 5)
    rows = _all_pages(api, "/stock", 2)
    assert len(rows) == 8 and len({(x["sku"], x["warehouse"]) for x in rows}) == 8  # 6 + SPROCKET/CHI + GADGET/NYC

    # An order for 3 GADGETs reserves them in one warehouse; on hand cannot drop below what is reserved.
    o = api.post("/orders", json=order_body(lines=[{"sku": "GADGET", "quantity": "3"}])).json()
    assert o["status"] == "confirmed"
    assert stock_figures(stock_of(api, "GADGET", "CHI")) == nums(5, 3, 2)
    assert stock_figures(stock_of(api, "GADGET", "NYC")) == nums(4, 0, 4)
    problem = _refused(api, "put", "/stock", {"sku": "GADGET", "warehouse": "CHI", "on_hand": "2", "reason": "count"},
                       409, user="keeper")
    assert "3" in problem["detail"] and "reserved" in problem["detail"]
    r = api.put("/stock", user="keeper", json={"sku": "GADGET", "warehouse": "CHI", "on_hand": "3", "reason": "count"})
    assert r.status_code == 200 and stock_figures(r.json()) == nums(3, 3, 0)

    stock = {"sku": "GADGET", "warehouse": "CHI", "on_hand": "10", "reason": "count"}
    _refused(api, "put", "/stock", stock | {"sku": "NOSUCH"}, 422, "sku", user="keeper")
    _refused(api, "put", "/stock", stock | {"warehouse": "MARS"}, 422, "warehouse", user="keeper")
    both = _refused(api, "put", "/stock", stock | {"sku": "NOSUCH", "warehouse": "MARS"}, 422, "sku", user="keeper")
    assert "warehouse" in [e["field"] for e in both["errors"]]
    _refused(api, "put", "/stock", stock | {"on_hand": "-1"}, 422, "on_hand", user="keeper")
    _refused(api, "put", "/stock", stock | {"on_hand": "1.2345"}, 422, "on_hand", user="keeper")
    _refused(api, "put", "/stock", {k: v for k, v in stock.items() if k != "reason"}, 422, "reason", user="keeper")
    _refused(api, "put", "/stock", stock | {"reason": ""}, 422, "reason", user="keeper")
    _refused(api, "put", "/stock", stock | {"reserved": "0"}, 422, "reserved", user="keeper")

    _refused(api, "post", "/warehouses", {"code": "BAD", "address": NYC | {"postal_code": "1000"}}, 422,
             "address.postal_code")
    _refused(api, "post", "/warehouses", {"code": "BAD", "address": NYC | {"line1": None}}, 422, "address.line1")
    _refused(api, "post", "/warehouses", {"code": "BAD", "address": NYC, "latitude": "91"}, 422, "latitude")
    _refused(api, "post", "/warehouses", {"code": "BAD", "address": NYC, "longitude": "-180.5"}, 422, "longitude")
    _refused(api, "post", "/warehouses", {"code": "NYC", "address": NYC}, 409)
    _refused(api, "post", "/warehouses", {"code": "has space", "address": NYC}, 422, "code")


def test_catalogue_warehouses_and_stock(api, world):
    """Products, price lists and tax rates, checked in the figures of orders; then warehouses and stock."""
    _products_price_lists_and_tax_rates_decide_an_orders_figures(api, world)
    _warehouses_and_stock(api, world)
