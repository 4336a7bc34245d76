"""Returns, as a story: TIDY in Los Angeles gets five widgets and two gadgets; two widgets come back
(one fit to sell again, one damaged) for a refund, a gadget broken in transit is exchanged, and the
rest of the widgets follow. The figures are checked at each step, as customer service and finance
would check them; then the requests that must be refused, each leaving everything as it was."""
from __future__ import annotations

from datetime import datetime, timezone

from o2c.core import clock
from o2c.shipping import labels, tracking
from tests.fulfillment.flow import ok, place
from tests.returns.delivery import add_carriers, deliver, events

UTC = timezone.utc
DELIVERED_AT = datetime(2026, 11, 27, 3, 0, tzinfo=UTC)  # 21:00 on 26 November in Chicago, the company's zone


def stock(api, sku, warehouse):
    [row] = ok(api.get(f"/stock?sku={sku}&warehouse={warehouse}"))["items"]
    return row["on_hand"], row["reserved"]


def at(*args):
    clock.freeze(datetime(*args, tzinfo=UTC))


def delivered_order(api, lines=(("WIDGET", "5"), ("GADGET", "2"))) -> tuple[dict, dict]:
    """TIDY's order, taken on 23 November, delivered on the evening of 26 November (Chicago time)."""
    at(2026, 11, 23, 15)
    order = place(api, "TIDY", list(lines), po_number="T-RET")  # confirmed: stock reserved
    at(2026, 11, 24, 15)
    [shipment] = deliver(api, order["id"], DELIVERED_AT)
    assert shipment["status"] == "delivered"
    return order, shipment


def test_returns_from_request_to_refund_and_exchange(people):
    api = people
    add_carriers(api)

    # 1. TIDY's order: 5 widgets at $10.00 and 2 gadgets at $25.00, Los Angeles tax 7.25%.
    order, shipment = delivered_order(api)
    widgets, gadgets = order["lines"]
    assert (widgets["net_amount"], widgets["tax_amount"]) == ("50.00", "3.63")  # 3.625 rounds half-up
    assert (gadgets["net_amount"], gadgets["tax_amount"]) == ("50.00", "3.63")
    wh = shipment["warehouse"]
    widgets_after_delivery = stock(api, "WIDGET", wh)

    # 2. On 1 December TIDY's buyer asks in the portal to return 2 widgets: they do not work. The
    #    portal retries the request (a timeout): the same Idempotency-Key gives the same one return.
    at(2026, 12, 1, 16)
    ask = {"order_id": order["id"], "outcome": "refund",
           "lines": [{"line_no": 1, "quantity": "2", "reason": "defective"}]}
    first = api.post("/returns", user="tidy", json=ask, headers={"Idempotency-Key": "tidy-ret-1"})
    again = api.post("/returns", user="tidy", json=ask, headers={"Idempotency-Key": "tidy-ret-1"})
    assert first.status_code == again.status_code == 201, first.text
    assert again.headers["Idempotent-Replayed"] == "true" and again.json() == first.json()
    ret = first.json()
    assert (ret["rma_number"], ret["status"], ret["outcome"], ret["order_number"]) == (
        "RMA00000001", "requested", "refund", order["number"])
    [line] = ret["lines"]
    assert (line["line_no"], line["sku"], line["quantity"], line["reason"]) == (1, "WIDGET", "2", "defective")
    assert (line["unit_net"], line["unit_tax"]) == ("10.0000", "0.7260")
    assert [r["id"] for r in ok(api.get(f"/returns?order_id={order['id']}", user="service"))["items"]] == [ret["id"]]

    #    Another customer's buyer sees nothing of it; TIDY's buyer cannot authorise it.
    assert api.get(f"/returns/{ret['id']}", user="bigbuy").status_code == 404
    assert ok(api.get("/returns", user="bigbuy"))["items"] == []
    assert api.post(f"/returns/{ret['id']}/authorise", user="tidy", json={}).status_code == 403

    # 3. Customer service authorises: the RMA number, and a label from the cheapest carrier for the way
    #    back (Parcel Co at $7.00 against Swift at $25.00), addressed to the warehouse that shipped.
    ret = ok(api.post(f"/returns/{ret['id']}/authorise", user="service", json={}))
    assert (ret["status"], ret["carrier"], ret["warehouse"]) == ("authorised", "PARCELCO", wh)
    number = ret["label_tracking_number"]
    assert tracking.is_valid("fedex_express", number)
    assert ret["tracking_url"] == tracking.tracking_url("fedex_express", number)
    [mail] = events("return.authorised")  # what the customer's email is made of
    assert (mail["rma"], mail["tracking_number"], mail["label_pdf"]) == (
        "RMA00000001", number, f"/api/v1/returns/{ret['id']}/label.pdf")
    assert mail["return_to"]["name"] == "Acme Supply Inc." and mail["lines"][0]["description"] == "Widget, steel"

    #    The label goes from TIDY's address to the warehouse, as PDF and ZPL; the buyer may print it.
    pdf = api.get(f"/returns/{ret['id']}/label.pdf", user="tidy")
    assert pdf.status_code == 200 and pdf.content.startswith(b"%PDF")
    zpl = api.get(f"/returns/{ret['id']}/label.zpl", user="tidy")
    assert zpl.status_code == 200
    fields = [p for c, p in labels.parse_zpl(zpl.text) if c == "^FD"]
    ship_to = fields.index("SHIP TO:")
    assert "200 N Spring St" in fields[:ship_to]  # from: TIDY in Los Angeles
    assert "Acme Supply Inc." in fields[ship_to:]  # to: the company's warehouse
    assert {f"TRACKING #: {number}", "RETURN Ground", "SHIPMENT: RMA00000001", f"ORDER: {order['number']}",
            "SHIP DATE: 2026-12-01"} <= set(fields)

    # 4. The parcel arrives on 4 December with both widgets.
    at(2026, 12, 4, 15)
    ret = ok(api.post(f"/returns/{ret['id']}/receive", user="service", json={"lines": [{"line_no": 1, "quantity": "2"}]}))
    assert ret["status"] == "received" and ret["lines"][0]["received_qty"] == "2"

    # 5. Inspection: one widget is fine and goes back on the shelf, one was damaged. Both are refunded:
    #    2/5 of the line's $50.00 and of its $3.63 tax (1.452 -> 1.45), $21.45 in all.
    ret = ok(api.post(f"/returns/{ret['id']}/inspect", user="service", json={"lines": [
        {"line_no": 1, "condition": "restock", "quantity": "1"}, {"line_no": 1, "condition": "damaged", "quantity": "1"}]}))
    assert (ret["status"], ret["refund_amount"], ret["currency"]) == ("closed", "21.45", "USD")
    assert ok(api.get(f"/returns/{ret['id']}", user="tidy"))["refund_amount"] == "21.45"  # as stored, in cents
    assert [(li["condition"], li["quantity"], li["received_qty"]) for li in ret["lines"]] == [
        ("restock", "1", "1"), ("damaged", "1", "1")]
    [due] = events("return.refund_due")
    assert due == {
        "return_id": ret["id"], "rma": "RMA00000001", "order_id": order["id"], "customer_id": order["customer_id"],
        "status": "inspected", "order_number": order["number"], "currency": "USD",
        "lines": [{"order_line_id": due["lines"][0]["order_line_id"], "line_no": 1, "sku": "WIDGET", "quantity": "2",
                   "net": "20", "tax": "1.45"}],
        "net": "20", "tax": "1.45", "total": "21.45"}

    #    Stock: one widget back on hand, the damaged one not; the move names the RMA.
    on_hand, reserved = widgets_after_delivery
    assert stock(api, "WIDGET", wh) == (str(int(on_hand) + 1), reserved)
    moves = ok(api.get("/stock/moves?sku=WIDGET&kind=return", user="keeper"))["items"]
    assert [(m["quantity"], m["reference"], m["warehouse"]) for m in moves] == [("1", "RMA00000001", wh)]
    assert ok(api.get(f"/shipments/{shipment['id']}"))["lines"][0]["returned_qty"] == "2"

    # 6. The order's timeline tells the return's story, with who did each step.
    steps = [(s["action"], s["from_status"], s["to_status"], s["actor"])
             for s in ok(api.get(f"/orders/{order['id']}/timeline")) if s["action"].startswith("return_")]
    assert steps == [
        ("return_requested", None, "requested", "tidy"),
        ("return_authorised", "requested", "authorised", "service"),
        ("return_received", "authorised", "received", "service"),
        ("return_inspected", "received", "inspected", "service"),
        ("return_refund_due", None, None, "service"),
        ("return_closed", "inspected", "closed", "service"),
    ]

    # 7. A gadget arrived broken; TIDY wants another one. Customer service names Swift for the label.
    at(2026, 12, 5, 15)
    gadgets_before = stock(api, "GADGET", "CHI")
    swap = ok(api.post("/returns", user="tidy", json={
        "order_id": order["id"], "outcome": "exchange",
        "lines": [{"line_no": 2, "quantity": "1", "reason": "damaged_in_transit"}]}), 201)
    swap = ok(api.post(f"/returns/{swap['id']}/authorise", user="service", json={"carrier": "SWIFT"}))
    assert swap["carrier"] == "SWIFT" and tracking.is_valid("ups", swap["label_tracking_number"])
    ok(api.post(f"/returns/{swap['id']}/receive", user="service", json={"lines": [{"line_no": 2, "quantity": "1"}]}))
    swap = ok(api.post(f"/returns/{swap['id']}/inspect", user="service",
                       json={"lines": [{"line_no": 2, "condition": "damaged"}]}))
    assert swap["status"] == "closed" and swap["refund_amount"] is None

    #    The replacement is a released exchange shipment with its own pick list; no refund is due.
    replacement = ok(api.get(f"/shipments/{int(swap['exchange_shipment'][2:])}", user="keeper"))
    assert (replacement["kind"], replacement["status"], replacement["order_id"]) == ("exchange", "released", order["id"])
    assert [(li["sku"], li["quantity"]) for li in replacement["lines"]] == [("GADGET", "1")]
    assert ok(api.get(f"/waves/{replacement['wave_id']}", user="keeper"))["pick_lists"]
    on_hand, reserved = gadgets_before
    assert stock(api, "GADGET", "CHI") == (on_hand, str(int(reserved) + 1))  # damaged: not restocked
    assert len(events("return.refund_due")) == 1

    # 8. On 20 December the other three widgets come back unused: 30.00 + 2.18, so the two widget
    #    refunds add up to exactly the line's 50.00 + 3.63.
    at(2026, 12, 20, 15)
    rest = ok(api.post("/returns", user="tidy", json={
        "order_id": order["id"], "outcome": "refund",
        "lines": [{"line_no": 1, "quantity": "3", "reason": "no_longer_needed"}]}), 201)
    ok(api.post(f"/returns/{rest['id']}/authorise", user="service", json={}))
    ok(api.post(f"/returns/{rest['id']}/receive", user="service", json={"lines": [{"line_no": 1, "quantity": "3"}]}))
    rest = ok(api.post(f"/returns/{rest['id']}/inspect", user="service", json={"lines": [{"line_no": 1, "condition": "restock"}]}))
    assert rest["refund_amount"] == "32.18"
    assert [(d["net"], d["tax"]) for d in events("return.refund_due")] == [("20", "1.45"), ("30", "2.18")]

    # 9. Why goods came back in December, per reason and per SKU.
    summary = ok(api.get("/returns/reasons?date_from=2026-12-01&date_to=2026-12-31", user="service"))
    assert summary["returns"] == 3
    assert [(r["reason"], r["returns"], r["quantity"]) for r in summary["by_reason"]] == [
        ("no_longer_needed", 1, "3"), ("defective", 1, "2"), ("damaged_in_transit", 1, "1")]
    assert [(s["sku"], s["returns"], s["quantity"], s["reasons"]) for s in summary["by_sku"]] == [
        ("WIDGET", 2, "5", {"defective": "2", "no_longer_needed": "3"}),
        ("GADGET", 1, "1", {"damaged_in_transit": "1"})]
    assert api.get("/returns/reasons?date_from=2026-12-01&date_to=2026-12-31", user="tidy").status_code == 403


# --- refused requests -------------------------------------------------------------------------------

def snapshot(api, order_id) -> tuple:
    """Everything a refused request must leave as it was."""
    return (ok(api.get("/returns?limit=500", user="service"))["items"],
            len(ok(api.get(f"/orders/{order_id}/timeline"))),
            [e for t in ("requested", "authorised", "received", "refund_due", "closed") for e in events(f"return.{t}")],
            stock(api, "WIDGET", "CHI"), stock(api, "GADGET", "CHI"),
            ok(api.get("/stock/moves?limit=1000", user="keeper"))["items"],
            ok(api.get("/shipments?limit=500", user="keeper"))["items"])


def refused(r, status=422) -> dict[str, str]:
    assert r.status_code == status, r.text
    assert r.headers["content-type"].startswith("application/problem+json")
    return {e["field"]: e["message"] for e in r.json().get("errors", [])} or {"detail": r.json()["detail"]}


def test_refused_requests_change_nothing(people):
    api = people
    add_carriers(api)
    order, _ = delivered_order(api)
    at(2026, 11, 25, 15)
    travelling = place(api, "TIDY", [("WIDGET", "1")])
    deliver(api, travelling["id"], None)  # shipped, still with the carrier
    waiting = place(api, "TIDY", [("WIDGET", "1")])  # not shipped
    at(2026, 12, 1, 16)
    before = snapshot(api, order["id"])

    def ask(order_id=order["id"], line_no=1, quantity="1", reason="defective", user="tidy", **kw):
        body = {"order_id": order_id, "outcome": "refund",
                "lines": [{"line_no": line_no, "quantity": quantity, "reason": reason, **kw}]}
        return api.post("/returns", user=user, json=body)

    # More than was delivered.
    assert refused(ask(quantity="6")) == {
        "lines[0].quantity": "only 5 of line 1 were delivered and not yet returned (delivered 5, in returns 0; asked 6)"}
    # Lines never delivered, or not delivered yet.
    assert refused(ask(order_id=waiting["id"])) == {"lines[0].line_no": "line 1 was never delivered"}
    assert refused(ask(order_id=travelling["id"])) == {
        "lines[0].line_no": "line 1 has shipped but is not delivered yet; it can be returned once it arrives"}
    assert refused(ask(line_no=3)) == {"lines[0].line_no": f"order {order['number']} has no line 3"}
    # A reason that is not a code, and "other" without saying what.
    assert set(refused(ask(reason="dislike"))) == {"lines[0].reason"}
    assert set(refused(ask(reason="other"))) == {"lines[0].reason_text"}
    # Past the window: delivered on 26 November (Chicago), 30 days. At 00:00 on 27 December in Chicago
    # it has closed, although it is still the 26th in Los Angeles.
    at(2026, 12, 27, 6)
    assert refused(ask()) == {
        "order_id": f"the return window of order {order['number']} closed on 2026-12-26 (30 days after delivery)"}
    # Another customer's buyer: the order does not exist for them.
    at(2026, 12, 1, 16)
    assert refused(ask(user="bigbuy"), 404) == {"detail": f"order {order['id']} not found"}
    assert api.get(f"/orders/{order['id']}/timeline", user="bigbuy").status_code == 404
    assert snapshot(api, order["id"]) == before

    # One minute before the window closes the same request is accepted; a repeat with its key is
    # absorbed, and the key cannot be reused for another request.
    at(2026, 12, 27, 5, 59)
    r = api.post("/returns", user="tidy", headers={"Idempotency-Key": "k-1"}, json={
        "order_id": order["id"], "outcome": "exchange", "lines": [{"line_no": 2, "quantity": "2", "reason": "wrong_item"}]})
    ret = ok(r, 201)
    again = api.post("/returns", user="tidy", headers={"Idempotency-Key": "k-1"}, json={
        "order_id": order["id"], "outcome": "exchange", "lines": [{"line_no": 2, "quantity": "2", "reason": "wrong_item"}]})
    assert ok(again, 201)["id"] == ret["id"]
    assert refused(api.post("/returns", user="tidy", headers={"Idempotency-Key": "k-1"}, json={
        "order_id": order["id"], "outcome": "refund", "lines": [{"line_no": 1, "quantity": "1", "reason": "defective"}]})) == {
        "Idempotency-Key": "this Idempotency-Key was used for a different request; use a new key for a new request"}
    assert len(ok(api.get("/returns", user="service"))["items"]) == 1
    # The two gadgets are in that return now: none is left to ask for.
    assert refused(ask(line_no=2)) == {
        "lines[0].quantity": "only 0 of line 2 were delivered and not yet returned (delivered 2, in returns 2; asked 1)"}

    # Steps out of order are conflicts, and change nothing.
    before = snapshot(api, order["id"])
    assert refused(api.post(f"/returns/{ret['id']}/receive", user="service",
                            json={"lines": [{"line_no": 2, "quantity": "2"}]}), 409) == {
        "detail": "return RMA00000001 is requested; it cannot be received (from requested: authorised, rejected)"}
    assert refused(api.post(f"/returns/{ret['id']}/authorise", user="service", json={"carrier": "NOPE"})) == {
        "carrier": "no active carrier 'NOPE'"}
    assert snapshot(api, order["id"]) == before
    ok(api.post(f"/returns/{ret['id']}/authorise", user="service", json={}))
    assert refused(api.post(f"/returns/{ret['id']}/authorise", user="service", json={}), 409)
    assert refused(api.post(f"/returns/{ret['id']}/receive", user="service",
                            json={"lines": [{"line_no": 2, "quantity": "3"}]})) == {
        "lines[0].quantity": "3 of line 2 received is more than the 2 authorised"}
    ok(api.post(f"/returns/{ret['id']}/receive", user="service", json={"lines": [{"line_no": 2, "quantity": "2"}]}))

    # No gadget is free for the exchange: the inspection is refused whole (nothing restocked, no
    # shipment, the return still received). Customer service decides a refund instead.
    ok(api.put("/stock", user="keeper", json={"sku": "GADGET", "warehouse": "CHI", "on_hand": "0",
                                              "reason": "count: shelf empty"}))
    before = snapshot(api, order["id"])
    r = api.post(f"/returns/{ret['id']}/inspect", user="service", json={"lines": [
        {"line_no": 2, "condition": "restock", "quantity": "1"}, {"line_no": 2, "condition": "damaged", "quantity": "1"}]})
    assert r.status_code == 409 and "not enough stock for the exchange" in r.json()["detail"], r.text
    assert snapshot(api, order["id"]) == before
    assert ok(api.get(f"/returns/{ret['id']}", user="service"))["status"] == "received"
    r = api.post(f"/returns/{ret['id']}/inspect", user="service", json={"outcome": "refund", "lines": [
        {"line_no": 2, "condition": "restock", "quantity": "1"}, {"line_no": 2, "condition": "refused", "quantity": "1"}]})
    ret = ok(r)
    assert (ret["status"], ret["outcome"], ret["refund_amount"], ret["exchange_shipment"]) == ("closed", "refund", "26.82", None)
    assert stock(api, "GADGET", "CHI")[0] == "1"  # the restocked one; the refused one goes back to TIDY


def test_a_rejected_request_holds_nothing_back(people):
    api = people
    add_carriers(api)
    order, _ = delivered_order(api)
    at(2026, 12, 2, 16)
    ret = ok(api.post("/returns", user="tidy", json={
        "order_id": order["id"], "outcome": "refund",
        "lines": [{"line_no": 1, "quantity": "5", "reason": "other", "reason_text": "bought elsewhere cheaper"}]}), 201)
    assert api.post(f"/returns/{ret['id']}/reject", user="tidy", json={"reason": "not mine to decide"}).status_code == 403
    assert refused(api.post(f"/returns/{ret['id']}/reject", user="service", json={"reason": ""})) == {
        "reason": "String should have at least 3 characters"}
    ret = ok(api.post(f"/returns/{ret['id']}/reject", user="service",
                      json={"reason": "opened software cannot be returned"}))
    assert (ret["status"], ret["rejection_reason"], ret["label_tracking_number"]) == (
        "rejected", "opened software cannot be returned", None)
    assert refused(api.get(f"/returns/{ret['id']}/label.pdf", user="tidy"), 409) == {
        "detail": "return RMA00000001 is rejected and has no label: labels come with the authorisation"}
    assert refused(api.post(f"/returns/{ret['id']}/authorise", user="service", json={}), 409)
    [event] = events("return.rejected")
    assert (event["rma"], event["reason"]) == ("RMA00000001", "opened software cannot be returned")
    # Nothing came back: all five may be asked for again, and the rejected request is no reason figure.
    ok(api.post("/returns", user="tidy", json={"order_id": order["id"], "outcome": "refund",
                                               "lines": [{"line_no": 1, "quantity": "5", "reason": "defective"}]}), 201)
    summary = ok(api.get("/returns/reasons?date_from=2026-12-02&date_to=2026-12-02", user="service"))
    assert [(r["reason"], r["quantity"]) for r in summary["by_reason"]] == [("defective", "5")]
    assert [r["status"] for r in ok(api.get("/returns?status=rejected", user="tidy"))["items"]] == ["rejected"]


def test_a_restocked_unit_serves_its_own_exchange(people):
    api = people
    add_carriers(api)
    order, shipment = delivered_order(api)
    wh = shipment["warehouse"]
    ok(api.put("/stock", user="keeper", json={"sku": "GADGET", "warehouse": wh, "on_hand": "0",
                                              "reason": "count: shelf empty"}))
    at(2026, 12, 3, 16)
    ret = ok(api.post("/returns", user="tidy", json={"order_id": order["id"], "outcome": "exchange", "lines": [
        {"line_no": 2, "quantity": "1", "reason": "not_as_described"}]}), 201)
    ok(api.post(f"/returns/{ret['id']}/authorise", user="service", json={}))
    ok(api.post(f"/returns/{ret['id']}/receive", user="service", json={"lines": [{"line_no": 2, "quantity": "1"}]}))
    ret = ok(api.post(f"/returns/{ret['id']}/inspect", user="service", json={"lines": [
        {"line_no": 2, "condition": "restock"}]}))
    assert ret["exchange_shipment"] is not None
    assert stock(api, "GADGET", wh) == ("1", "1")  # back on the shelf and reserved for the replacement
