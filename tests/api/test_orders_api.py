"""The orders API: list with filters and cursor pages, get, timeline, confirm, cancel, reservations,
portal isolation, problem+json for every error, and the OpenAPI contract."""
from __future__ import annotations

from sqlalchemy import select

from o2c.core.auth import create_user, issue_api_key
from o2c.core.db import read_session, transaction
from o2c.core.models import OutboxEvent
from o2c.inventory.models import Reservation
from tests.api import PROBLEM, assert_problem, nums, order_body, snapshot, stock_figures, stock_of


def _post(api, body, user="desk") -> dict:
    r = api.post("/orders", user=user, json=body)
    assert r.status_code == 201, r.text
    return r.json()


def _ids(r) -> list[int]:
    assert r.status_code == 200, r.text
    return [o["id"] for o in r.json()["items"]]


def test_list_filters_and_cursor_pages(api, world):
    made: list[dict] = []
    channels = ["web", "b2b_portal", "sales_rep", "email", "phone", "edi", "csv"]  # every channel, recorded
    customers = ["BIGBUY", "LOYAL", "EXEMPT", "BIGBUY"]
    for i in range(21):
        made.append(_post(api, order_body(customers[i % 4], channel=channels[i % 7], po_number=f"PO-{i:03d}")))
    assert sorted({o["channel"] for o in made}) == sorted(channels)
    validation = _post(api, order_body("LOYAL", channel="phone", lines=[{"sku": "BOLT", "quantity": "5"}]))
    pricing = _post(api, order_body("BIGBUY", channel="edi", po_number="PO-PRICE", lines=[
        {"sku": "WIDGET", "quantity": "1", "unit_price": "5.00", "override_reason": "matching a competitor"}]))
    duplicate = _post(api, order_body("BIGBUY", channel="web", po_number="PO-000"))
    cancelled = _post(api, order_body("EXEMPT", channel="web", po_number="PO-CANCEL"))
    assert api.post(f"/orders/{cancelled['id']}/cancel", json={"reason": "entered twice"}).status_code == 200
    made += [validation, pricing, duplicate, cancelled]
    assert len(made) == 25
    assert (validation["status"], pricing["status"], duplicate["status"]) == ("held", "held", "held")
    assert [h["kind"] for h in pricing["holds"]] == ["pricing"]
    assert [h["kind"] for h in duplicate["holds"]] == ["duplicate"]
    all_ids = sorted((o["id"] for o in made), reverse=True)

    # Cursor pages: newest first, no duplicates, no gaps, and an end.
    pages, cursor = [], None
    while True:
        r = api.get("/orders", params={"limit": 10, **({"cursor": cursor} if cursor else {})})
        pages.append(_ids(r))
        cursor = r.json()["next_cursor"]
        if cursor is None:
            break
        assert len(pages) < 5
    assert [len(p) for p in pages] == [10, 10, 5]
    assert [i for p in pages for i in p] == all_ids

    def listed(**params) -> list[int]:
        return _ids(api.get("/orders", params={"limit": 100, **params}))

    def expect(pred) -> list[int]:
        return [o["id"] for o in sorted(made, key=lambda o: -o["id"]) if pred(o)]

    assert listed(status="held") == [duplicate["id"], pricing["id"], validation["id"]]
    assert listed(status="cancelled") == [cancelled["id"]]
    assert listed(status="confirmed") == expect(lambda o: o["status"] == "confirmed" and o["id"] != cancelled["id"])
    assert len(listed(status="confirmed")) == 21
    assert listed(customer_id=world["ids"]["LOYAL"]) == expect(lambda o: o["customer_id"] == world["ids"]["LOYAL"])
    assert listed(po_number="PO-000") == [duplicate["id"], made[0]["id"]]
    assert listed(po_number="PO-404") == []
    assert listed(channel="edi") == expect(lambda o: o["channel"] == "edi")
    assert listed(hold="pricing") == [pricing["id"]]
    assert listed(hold="duplicate") == [duplicate["id"]]
    assert listed(hold="validation") == [validation["id"]]
    combined = listed(status="confirmed", channel="phone", customer_id=world["ids"]["BIGBUY"])
    assert combined == [made[11]["id"], made[4]["id"]]  # BIGBUY's phone orders; EXEMPT's (made[18]) is not one
    assert len(listed(channel="edi")) == 4  # made[5], [12], [19] and the pricing-held one
    # a filter and a cursor together still walk the whole filtered set
    web = expect(lambda o: o["channel"] == "web")
    first = api.get("/orders", params={"channel": "web", "limit": 3})
    rest = api.get("/orders", params={"channel": "web", "limit": 100, "cursor": first.json()["next_cursor"]})
    assert _ids(first) + _ids(rest) == web

    # get one order: the same view as it was created with
    got = api.get(f"/orders/{made[3]['id']}")
    assert got.status_code == 200
    assert got.json() == made[3]

    _every_error_is_problem_json(api)


def _timeline(api, order_id, user="desk") -> list[dict]:
    r = api.get(f"/orders/{order_id}/timeline", user=user)
    assert r.status_code == 200, r.text
    return r.json()


def test_an_order_through_hold_correction_confirmation_and_cancellation(api, world):
    before = stock_figures(stock_of(api, "WIDGET", "CHI"))
    o = _post(api, order_body(po_number="PO-STORY", confirm=False, lines=[{"sku": "WIDGET", "quantity": "1.5"}]))
    assert o["status"] == "held"
    assert [r["field"] for r in o["holds"][0]["reasons"]] == ["lines[0].quantity"]

    r = api.patch(f"/orders/{o['id']}", user="desk2",
                  json={"lines": [{"sku": "WIDGET", "quantity": "2"}], "reason": "buyer meant 2 pieces"})
    assert r.status_code == 200, r.text
    assert r.json()["status"] == "validated" and r.json()["needed_correction"] is True
    assert stock_figures(stock_of(api, "WIDGET", "CHI")) == before  # validated, not yet reserved

    r = api.post(f"/orders/{o['id']}/confirm", user="admin")
    assert r.status_code == 200, r.text
    assert r.json()["status"] == "confirmed"
    assert nums(r.json()["lines"][0]["reserved_qty"]) == nums(2)
    assert stock_figures(stock_of(api, "WIDGET", "CHI")) == nums(100, 2, 98)

    r = api.post(f"/orders/{o['id']}/cancel", json={"reason": "buyer cancelled by phone"})
    assert r.status_code == 200, r.text
    assert r.json()["status"] == "cancelled"
    assert nums(r.json()["lines"][0]["reserved_qty"]) == nums(0)
    assert stock_figures(stock_of(api, "WIDGET", "CHI")) == before  # the reservation went back
    with read_session() as s:
        assert s.scalars(select(Reservation).where(Reservation.order_id == o["id"])).all() == []

    steps = [(e["actor"], e["action"], e["from_status"], e["to_status"], e["reason"]) for e in _timeline(api, o["id"])]
    assert steps == [
        ("desk", "captured", None, "held", None),
        ("desk2", "corrected", "held", "validated", "buyer meant 2 pieces"),
        ("admin", "confirmed", "validated", "confirmed", None),
        ("desk", "cancelled", "confirmed", "cancelled", "buyer cancelled by phone"),
    ]
    timeline = _timeline(api, o["id"], user="viewer")
    assert [e["at"] for e in timeline] == sorted(e["at"] for e in timeline)
    assert timeline[0]["data"]["holds"]["validation"][0]["field"] == "lines[0].quantity"
    with read_session() as s:
        topics = [e.topic for e in s.scalars(select(OutboxEvent).where(OutboxEvent.entity_id == o["id"])
                                             .order_by(OutboxEvent.id))]
    assert topics == ["order.held", "order.validated", "order.confirmed", "order.cancelled"]

    # a cancelled order is final: every further move is refused, naming the states, and changes nothing
    before_all = snapshot()
    problem = assert_problem(api.post(f"/orders/{o['id']}/confirm"), 409)
    assert "cancelled" in problem["detail"] and "confirmed" in problem["detail"]
    assert (problem["current_status"], problem["requested_status"]) == ("cancelled", "confirmed")
    problem = assert_problem(api.post(f"/orders/{o['id']}/cancel", json={"reason": "again, to be sure"}), 409)
    assert problem["current_status"] == "cancelled"
    assert_problem(api.patch(f"/orders/{o['id']}", json={"notes": "too late"}), 409)
    assert_problem(api.patch(f"/orders/{o['id']}/lines/1", json={"quantity": "3"}), 409)
    assert snapshot() == before_all
    assert len(_timeline(api, o["id"])) == 4

    _backorders_follow_the_ship_preference_and_confirm_retries_them(api, world)


def _backorders_follow_the_ship_preference_and_confirm_retries_them(api, world):
    # GADGET: 5 on hand, all in CHI.
    partial = _post(api, order_body("BIGBUY", lines=[{"sku": "GADGET", "quantity": "8"}]))
    assert partial["status"] == "backordered"
    assert nums(partial["lines"][0]["reserved_qty"], partial["lines"][0]["backordered_qty"]) == nums(5, 3)
    complete = _post(api, order_body("TIDY", lines=[{"sku": "WIDGET", "quantity": "1"}, {"sku": "GADGET", "quantity": "2"}]))
    assert complete["status"] == "backordered"
    assert [nums(li["reserved_qty"], li["backordered_qty"]) for li in complete["lines"]] == [nums(0, 1), nums(0, 2)]
    assert stock_figures(stock_of(api, "GADGET", "CHI")) == nums(5, 5, 0)
    assert stock_figures(stock_of(api, "WIDGET", "CHI")) == nums(100, 0, 100)  # the whole order waits

    # Nothing arrived: confirming again changes nothing.
    r = api.post(f"/orders/{complete['id']}/confirm")
    assert r.status_code == 200 and r.json()["status"] == "backordered"

    assert api.put("/stock", user="keeper", json={"sku": "GADGET", "warehouse": "CHI", "on_hand": "10",
                                                   "reason": "delivery PO-778"}).status_code == 200
    r = api.post(f"/orders/{complete['id']}/confirm")
    assert r.status_code == 200 and r.json()["status"] == "confirmed"
    assert [nums(li["reserved_qty"], li["backordered_qty"]) for li in r.json()["lines"]] == [nums(1, 0), nums(2, 0)]
    r = api.post(f"/orders/{partial['id']}/confirm")
    assert r.status_code == 200 and r.json()["status"] == "confirmed"
    assert nums(r.json()["lines"][0]["reserved_qty"]) == nums(8)
    assert stock_figures(stock_of(api, "GADGET", "CHI")) == nums(10, 10, 0)

    assert api.post(f"/orders/{partial['id']}/cancel", json={"reason": "customer found it elsewhere"}).status_code == 200
    assert stock_figures(stock_of(api, "GADGET", "CHI")) == nums(10, 2, 8)
    problem = assert_problem(api.post(f"/orders/{complete['id']}/confirm"), 409)  # confirmed already
    assert "confirmed" in problem["detail"]


def test_a_portal_user_sees_and_orders_for_their_own_customer_only(api, world):
    def portal(session):
        user = create_user(session, "bigbuy_buyer", ["customer"], [world["ids"]["company"]],
                           customer_id=world["ids"]["BIGBUY"])
        return issue_api_key(session, user)

    api.keys["portal"] = transaction(portal)
    mine = _post(api, order_body("BIGBUY", po_number="PO-MINE"))
    theirs = _post(api, order_body("TIDY", po_number="PO-THEIRS"))
    held_theirs = _post(api, order_body("TIDY", lines=[{"sku": "BOLT", "quantity": "5"}]))

    assert _ids(api.get("/orders", user="portal")) == [mine["id"]]
    assert _ids(api.get("/orders", user="portal", params={"customer_id": world["ids"]["TIDY"]})) == []
    assert _ids(api.get("/orders", user="portal", params={"po_number": "PO-THEIRS"})) == []
    assert _ids(api.get("/orders", user="portal", params={"hold": "validation"})) == []
    assert api.get(f"/orders/{mine['id']}", user="portal").json()["po_number"] == "PO-MINE"
    assert [e["action"] for e in _timeline(api, mine["id"], user="portal")] == ["captured", "confirmed"]

    before = snapshot()
    for verb, path, body in [
        ("get", f"/orders/{theirs['id']}", None),
        ("get", f"/orders/{theirs['id']}/timeline", None),
        ("post", f"/orders/{theirs['id']}/cancel", {"reason": "let me try"}),
        ("post", f"/orders/{held_theirs['id']}/confirm", None),
        ("patch", f"/orders/{held_theirs['id']}", {"lines": [{"sku": "BOLT", "quantity": "12"}]}),
        ("patch", f"/orders/{theirs['id']}/lines/1", {"quantity": "1"}),
        ("get", f"/customers/{world['ids']['TIDY']}", None),
    ]:
        kw = {"json": body} if body is not None else {}
        r = getattr(api, verb)(path, user="portal", **kw)
        assert_problem(r, 404)
        assert "TIDY" not in r.text and "PO-THEIRS" not in r.text
    assert_problem(api.post("/orders", user="portal", json=order_body("TIDY")), 403)
    assert_problem(api.post("/orders", user="portal", json={
        "customer_id": world["ids"]["TIDY"], "channel": "b2b_portal", "lines": [{"sku": "WIDGET", "quantity": "1"}]}), 403)
    assert_problem(api.patch(f"/customers/{world['ids']['BIGBUY']}", user="portal", json={"discount_pct": "50"}), 403)
    assert snapshot() == before

    # Customers, and customer-specific price lists, of others stay hidden too.
    assert [c["code"] for c in api.get("/customers", user="portal").json()["items"]] == ["BIGBUY"]
    tidy_portal = transaction(lambda s: issue_api_key(s, create_user(
        s, "tidy_buyer", ["customer"], [world["ids"]["company"]], customer_id=world["ids"]["TIDY"])))
    api.keys["tidy_portal"] = tidy_portal
    lists = api.get("/price-lists", user="tidy_portal").json()
    assert "BIGBUY contract" not in [pl["name"] for pl in lists]
    contract = next(pl for pl in api.get("/price-lists", user="admin").json() if pl["name"] == "BIGBUY contract")
    assert_problem(api.get(f"/price-lists/{contract['id']}", user="tidy_portal"), 404)
    assert api.get(f"/price-lists/{contract['id']}", user="portal").status_code == 200

    # The company's order entry error rate counts every customer's orders: an internal figure.
    assert_problem(api.get("/orders/metrics/entry-error-rate", user="portal"), 403)
    assert api.get("/orders/metrics/entry-error-rate", user="viewer").json()["orders"] == 3

    # And their own order goes through.
    r = api.post("/orders", user="portal", json={"customer_id": world["ids"]["BIGBUY"], "channel": "b2b_portal",
                                                   "po_number": "PO-PORTAL", "lines": [{"sku": "WIDGET", "quantity": "4"}]})
    assert r.status_code == 201, r.text
    assert (r.json()["status"], r.json()["channel"]) == ("confirmed", "b2b_portal")
    assert _ids(api.get("/orders", user="portal")) == [r.json()["id"], mine["id"]]
    assert _timeline(api, r.json()["id"], user="desk")[0]["actor"] == "bigbuy_buyer"


def _every_error_is_problem_json(api):
    for r, status in [
        (api.client.get("/api/v1/no-such-thing"), 404),
        (api.delete("/orders/1"), 405),
        (api.get("/orders/999999"), 404),
        (api.post("/orders", content=b"{", headers={"Content-Type": "application/json"}), 400),
        (api.post("/orders", json={}), 422),
        (api.client.get("/api/v1/orders"), 401),
        (api.post("/orders", user="viewer", json=order_body()), 403),
    ]:
        body = assert_problem(r, status)
        assert r.headers["content-type"].startswith(PROBLEM)
        assert body["title"] and body["type"]


def test_the_openapi_contract_is_served():
    from fastapi.testclient import TestClient

    from o2c.web.app import create_app

    r = TestClient(create_app()).get("/api/v1/openapi.json")  # no lifespan, no database needed
    assert r.status_code == 200
    spec = r.json()
    assert spec["openapi"].startswith("3.")
    paths = spec["paths"]
    for path, verbs in {
        "/api/v1/orders": {"get", "post"},
        "/api/v1/orders/{order_id}": {"get", "patch"},
        "/api/v1/orders/{order_id}/confirm": {"post"},
        "/api/v1/orders/{order_id}/cancel": {"post"},
        "/api/v1/orders/{order_id}/timeline": {"get"},
        "/api/v1/customers": {"get", "post"},
        "/api/v1/customers/{customer_id}": {"get", "patch"},
        "/api/v1/products": {"get", "post"},
        "/api/v1/price-lists": {"get", "post"},
        "/api/v1/tax-rates": {"get", "post"},
        "/api/v1/warehouses": {"get", "post"},
        "/api/v1/stock": {"get", "put"},
    }.items():
        assert path in paths, f"{path} is not in the OpenAPI document"
        assert verbs <= set(paths[path]), f"{path}: {sorted(paths[path])}"
    create = paths["/api/v1/orders"]["post"]
    assert "Idempotency-Key" in [p["name"] for p in create.get("parameters", [])]
    assert "201" in create["responses"]
    listing = {p["name"] for p in paths["/api/v1/orders"]["get"]["parameters"]}
    assert {"status", "customer_id", "po_number", "channel", "hold", "cursor", "limit"} <= listing
    order_in = spec["components"]["schemas"]["OrderIn"]
    assert order_in.get("additionalProperties") is False  # unknown fields are refused, and the contract says so
    assert {"channel", "lines"} <= set(order_in["required"])
