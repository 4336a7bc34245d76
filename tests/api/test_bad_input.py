"""Bad input: each request below gets a clear 4xx problem+json naming the field, and changes nothing.

The cases run in a loop inside one test (so the world is built once per backend); every failing case
is reported with its label, not just the first one. Missing or unknown API keys, roles without the
permission and users of another company are refused in test_auth.py, with the same "nothing changed" check.
"""
from __future__ import annotations

from decimal import Decimal

from tests.api import assert_problem, order_body, refused, snapshot

JSON = {"Content-Type": "application/json"}


def _line(**kw) -> dict:
    return {"sku": "WIDGET", "quantity": "2"} | kw


# label, request keyword arguments, expected status, field the problem must name (None: no field)
ORDER_CASES = [
    ("malformed JSON", {"content": b'{"customer_code": "BIGBUY", "channel": "web", "lines": [', "headers": JSON},
     400, "body"),
    ("not JSON at all", {"content": b"customer=BIGBUY&sku=WIDGET", "headers": JSON}, 400, "body"),
    ("a JSON list, not an object", {"json": [order_body()]}, 422, "body"),
    ("unknown top-level field", {"json": order_body(colour="red")}, 422, "colour"),
    ("unknown field inside a line", {"json": order_body(lines=[_line(colour="red")])}, 422, "lines[0].colour"),
    ("unknown field inside ship_to", {"json": order_body(ship_to={"country": "US", "colour": "red"})},
     422, "ship_to.colour"),
    ("zero quantity", {"json": order_body(lines=[_line(quantity="0")])}, 422, "lines[0].quantity"),
    ("negative quantity", {"json": order_body(lines=[_line(quantity="-3")])}, 422, "lines[0].quantity"),
    ("absurd quantity", {"json": order_body(lines=[_line(quantity="1000001")])}, 422, "lines[0].quantity"),
    ("absurd quantity in exponent form", {"json": order_body(lines=[_line(quantity="1e12")])},
     422, "lines[0].quantity"),
    ("quantity NaN", {"json": order_body(lines=[_line(quantity="NaN")])}, 422, "lines[0].quantity"),
    ("quantity Infinity", {"json": order_body(lines=[_line(quantity="Infinity")])}, 422, "lines[0].quantity"),
    ("quantity not a number", {"json": order_body(lines=[_line(quantity="two")])}, 422, "lines[0].quantity"),
    ("quantity with too many decimals", {"json": order_body(lines=[_line(quantity="1.2345")])},
     422, "lines[0].quantity"),
    ("bad quantity on the second line", {"json": order_body(lines=[_line(), _line(sku="GADGET", quantity="0")])},
     422, "lines[1].quantity"),
    ("price with too many decimals",
     {"json": order_body(lines=[_line(unit_price="9.12345", override_reason="deal")])}, 422, "lines[0].unit_price"),
    ("negative price", {"json": order_body(lines=[_line(unit_price="-1", override_reason="deal")])},
     422, "lines[0].unit_price"),
    ("discount above 100%", {"json": order_body(lines=[_line(discount_pct="101")])}, 422, "lines[0].discount_pct"),
    ("negative order discount", {"json": order_body(order_discount="-5", order_discount_reason="x")},
     422, "order_discount"),
    ("unknown SKU", {"json": order_body(lines=[_line(sku="NOSUCH")])}, 422, "lines[0].sku"),
    ("unknown SKU on the third line",
     {"json": order_body(lines=[_line(), _line(sku="GADGET"), _line(sku="NOSUCH")])}, 422, "lines[2].sku"),
    ("SKU with forbidden characters", {"json": order_body(lines=[_line(sku="WID GET;")])}, 422, "lines[0].sku"),
    ("SKU past its limit", {"json": order_body(lines=[_line(sku="W" * 65)])}, 422, "lines[0].sku"),
    ("unknown customer id", {"json": {"customer_id": 999999, "channel": "web", "lines": [_line()]}},
     422, "customer_id"),
    ("customer id not a number", {"json": {"customer_id": "abc", "channel": "web", "lines": [_line()]}},
     422, "customer_id"),
    ("customer id zero", {"json": {"customer_id": 0, "channel": "web", "lines": [_line()]}}, 422, "customer_id"),
    ("unknown customer code", {"json": order_body("NOBODY")}, 422, "customer_code"),
    ("both customer_id and customer_code", {"json": order_body(customer_id=1)}, 422, "customer_id"),
    ("neither customer_id nor customer_code", {"json": {"channel": "web", "lines": [_line()]}}, 422, "customer_id"),
    ("wrong currency: EURO buys in EUR", {"json": order_body("EURO", currency="USD")}, 422, "currency"),
    ("wrong currency: BIGBUY buys in USD", {"json": order_body("BIGBUY", currency="EUR")}, 422, "currency"),
    ("currency not ISO-shaped", {"json": order_body(currency="usd")}, 422, "currency"),
    ("PO number past 60 characters", {"json": order_body(po_number="P" * 61)}, 422, "po_number"),
    ("notes past 2000 characters", {"json": order_body(notes="n" * 2001)}, 422, "notes"),
    ("ship-to name past 200 characters",
     {"json": order_body(ship_to={"name": "x" * 201, "line1": "1 Main St", "city": "Chicago", "region": "IL",
                                  "postal_code": "60601", "country": "US"})}, 422, "ship_to.name"),
    ("ship-to country not ISO-shaped", {"json": order_body(ship_to={"country": "USA"})}, 422, "ship_to.country"),
    ("override reason past 200 characters",
     {"json": order_body(lines=[_line(unit_price="9", override_reason="r" * 201)])}, 422, "lines[0].override_reason"),
    ("empty lines list", {"json": order_body(lines=[])}, 422, "lines"),
    ("no lines at all", {"json": {"customer_code": "BIGBUY", "channel": "web"}}, 422, "lines"),
    ("more than 5000 lines", {"json": order_body(lines=[_line()] * 5001)}, 422, "lines"),
    ("wrong channel", {"json": order_body(channel="fax")}, 422, "channel"),
    ("missing channel", {"json": {"customer_code": "BIGBUY", "lines": [_line()]}}, 422, "channel"),
    ("impossible date", {"json": order_body(requested_date="2030-02-30")}, 422, "requested_date"),
    ("date in words", {"json": order_body(requested_date="next tuesday")}, 422, "requested_date"),
    ("confirm flag not a boolean", {"json": order_body(confirm="perhaps")}, 422, "confirm"),
    ("an empty Idempotency-Key", {"json": order_body(), "headers": {"Idempotency-Key": ""}}, 422, "Idempotency-Key"),
    ("Idempotency-Key past 255 characters",
     {"json": order_body(), "headers": {"Idempotency-Key": "k" * 256}}, 422, "Idempotency-Key"),
    ("NUL character in the notes", {"json": order_body(notes="deliver\x00 to back door")}, 422, "notes"),
    ("NUL character in a line's override reason", {"json": order_body(lines=[_line(override_reason="a\x00b", unit_price="9")])},
     422, "lines[0].override_reason"),
    ("customer id past 64 bits", {"json": {"customer_id": 2**70, "channel": "web", "lines": [_line()]}}, 422, None),
    ("a line amount too large to store",
     {"json": order_body(lines=[_line(quantity="1000000", unit_price="99999999999.9999", override_reason="deal")])},
     422, None),
    ("unknown company header", {"json": order_body(), "headers": {"O2C-Company": "NOPE"}}, 422, "O2C-Company"),
    ("company header past its limit", {"json": order_body(), "headers": {"O2C-Company": "C" * 21}},
     422, "O2C-Company"),
]


def _run(api, cases, call) -> list[str]:
    """Run each case; return a description of every case that did not get its problem or changed data."""
    failures = []
    for label, kwargs, status, field in cases:
        with refused(label, failures, snapshot):
            assert_problem(call(kwargs), status, field)
    return failures


READ_CASES = [
    ("a cursor that is not a cursor", "/orders", {"cursor": "abc"}, 422, "cursor"),
    ("a negative cursor", "/orders", {"cursor": "-5"}, 422, "cursor"),
    ("a cursor with SQL in it", "/orders", {"cursor": "1 OR 1=1"}, 422, "cursor"),
    ("a customers cursor that is not a cursor", "/customers", {"cursor": "zz"}, 422, "cursor"),
    ("a stock cursor that is not a cursor", "/stock", {"cursor": "zz"}, 422, "cursor"),
    ("a products cursor that is not a cursor", "/products", {"cursor": "%%"}, 422, "cursor"),
    ("a cursor past 64 bits", "/orders", {"cursor": str(2**70)}, 422, "cursor"),
    ("a cursor of superscript digits", "/orders", {"cursor": "\u00b2\u00b3"}, 422, "cursor"),
    ("limit zero", "/orders", {"limit": "0"}, 422, "limit"),
    ("limit absurd", "/orders", {"limit": "100000"}, 422, "limit"),
    ("unknown status filter", "/orders", {"status": "shipped"}, 422, "status"),
    ("unknown hold filter", "/orders", {"hold": "credit-ish"}, 422, "hold"),
    ("customer filter not a number", "/orders", {"customer_id": "BIGBUY"}, 422, "customer_id"),
    ("order id not a number", "/orders/abc", {}, 422, "order_id"),
    ("order that does not exist", "/orders/999999", {}, 404, None),
    ("order id past 64 bits", f"/orders/{2**70}", {}, 422, None),
    ("customer filter past 64 bits", "/orders", {"customer_id": str(2**70)}, 422, None),
    ("customer id past 64 bits", f"/customers/{2**70}", {}, 422, None),
    ("timeline of an order that does not exist", "/orders/999999/timeline", {}, 404, None),
    ("customer that does not exist", "/customers/999999", {}, 404, None),
]


def test_bad_requests_are_refused_naming_the_field_and_change_nothing(api):
    failures = _run(api, ORDER_CASES, lambda kw: api.post("/orders", **kw))
    reads = [(label, (path, params), status, field) for label, path, params, status, field in READ_CASES]
    failures += _run(api, reads, lambda pp: api.get(pp[0], params=pp[1]))
    assert not failures, "\n".join(failures)


def test_a_held_order_and_bad_writes_on_existing_orders(api):
    # 1.5 pieces is well-formed but breaks a business rule: the order is kept on hold with the reason,
    # and reserves nothing.
    before = {s["sku"] + s["warehouse"]: s["reserved"] for s in api.get("/stock", user="admin").json()["items"]}
    r = api.post("/orders", json=order_body(lines=[_line(quantity="1.5"), _line(sku="BOLT", quantity="13")]))
    assert r.status_code == 201, r.text
    order = r.json()
    assert order["status"] == "held"
    [hold] = order["holds"]
    assert hold["kind"] == "validation"
    assert {x["field"] for x in hold["reasons"]} == {"lines[0].quantity", "lines[1].quantity"}
    assert all(Decimal(li["reserved_qty"]) == 0 for li in order["lines"])
    after = {s["sku"] + s["warehouse"]: s["reserved"] for s in api.get("/stock", user="admin").json()["items"]}
    assert after == before

    # Bad corrections, line edits and cancellations are refused, naming the field, and change nothing.
    held = order
    done = api.post("/orders", json=order_body()).json()
    assert (held["status"], done["status"]) == ("held", "confirmed")
    cases = [
        ("correction with an unknown field", ("patch", f"/orders/{held['id']}", {"colour": "red"}), 422, "colour"),
        ("correction with a bad line", ("patch", f"/orders/{held['id']}", {"lines": [_line(quantity="-1")]}),
         422, "lines[0].quantity"),
        ("correction naming an unknown SKU", ("patch", f"/orders/{held['id']}", {"lines": [_line(sku="NOSUCH")]}),
         422, "lines[0].sku"),
        ("correction with an empty lines list", ("patch", f"/orders/{held['id']}", {"lines": []}), 422, "lines"),
        ("line edit with a zero quantity", ("patch", f"/orders/{done['id']}/lines/1", {"quantity": "0"}),
         422, "quantity"),
        ("line edit with an unknown field", ("patch", f"/orders/{done['id']}/lines/1", {"qty": "3"}), 422, "qty"),
        ("cancel without a reason", ("post", f"/orders/{done['id']}/cancel", {}), 422, "reason"),
        ("cancel with a reason too short to mean anything", ("post", f"/orders/{done['id']}/cancel", {"reason": "x"}),
         422, "reason"),
        ("cancel with an unknown field", ("post", f"/orders/{done['id']}/cancel", {"reason": "customer asked",
                                                                                  "force": True}), 422, "force"),
        ("correcting a confirmed order as a whole", ("patch", f"/orders/{done['id']}", {"notes": "hi"}), 409, None),
        ("editing a line that does not exist", ("patch", f"/orders/{done['id']}/lines/9", {"quantity": "1"}),
         404, None),
        ("cancelling an order that does not exist", ("post", "/orders/999999/cancel", {"reason": "customer asked"}),
         404, None),
    ]
    failures = _run(api, cases, lambda c: getattr(api, c[0])(c[1], json=c[2]))
    assert not failures, "\n".join(failures)
