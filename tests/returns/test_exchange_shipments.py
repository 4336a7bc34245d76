"""An exchange shipment is stock reserved against the original order lines for a replacement: it must
stay in the stock books like any other reservation, also when the warehouse cancels it."""
from __future__ import annotations


from tests.books import assert_books_agree, stock
from tests.fulfillment.flow import ok, place
from tests.returns.delivery import add_carriers, deliver
from tests.returns.test_story_returns import DELIVERED_AT, at


def exchange_released(api) -> tuple[dict, dict]:
    """TIDY's gadget broke in transit: returned, inspected as damaged, a replacement released."""
    add_carriers(api)
    at(2026, 11, 23, 15)
    order = place(api, "TIDY", [("GADGET", "2")])
    at(2026, 11, 24, 15)
    deliver(api, order["id"], DELIVERED_AT)
    at(2026, 12, 1, 16)
    ret = ok(api.post("/returns", user="tidy", json={"order_id": order["id"], "outcome": "exchange", "lines": [
        {"line_no": 1, "quantity": "1", "reason": "damaged_in_transit"}]}), 201)
    ok(api.post(f"/returns/{ret['id']}/authorise", user="service", json={}))
    ok(api.post(f"/returns/{ret['id']}/receive", user="service", json={"lines": [{"line_no": 1, "quantity": "1"}]}))
    ret = ok(api.post(f"/returns/{ret['id']}/inspect", user="service",
                      json={"lines": [{"line_no": 1, "condition": "damaged"}]}))
    return order, ok(api.get(f"/shipments/{int(ret['exchange_shipment'][2:])}", user="keeper"))


def test_a_cancelled_exchange_shipment_leaves_no_stock_reserved_for_nothing(people):
    api = people
    order, replacement = exchange_released(api)
    wh = replacement["warehouse"]
    on_hand, reserved = stock()[("GADGET", wh)]
    ok(api.post(f"/shipments/{replacement['id']}/cancel", user="keeper", json={"reason": "customer took a refund"}))
    # Either the replacement goes out on the next wave, or its unit is free again; not reserved for nobody.
    waved = api.post("/waves", user="keeper", json={"order_ids": [order["id"]]})
    if waved.status_code != 201:
        assert stock()[("GADGET", wh)] == (on_hand, reserved - 1)
    assert_books_agree()


def test_a_line_with_a_cancelled_exchange_can_still_be_waved(people):
    """BIGBUY's bin held 2 of 3 gadgets: 2 shipped and were delivered, the third is reserved again and
    waits for a wave. One delivered gadget is exchanged and the exchange shipment cancelled; the next
    wave must still ship the third gadget."""
    from tests.fulfillment.flow import pack, pick_lists, release, ship, tasks
    from tests.returns.delivery import WEIGHTS

    api = people
    add_carriers(api)
    at(2026, 11, 23, 15)
    order = place(api, "BIGBUY", [("GADGET", "3")])
    at(2026, 11, 24, 15)
    [pl] = pick_lists(api, release(api, order_ids=[order["id"]]))
    [task] = tasks(pl)
    ok(api.post(f"/pick-lists/{pl['id']}/picks", user="keeper",
                json={"picks": [{"task_id": task["task_id"], "quantity": "2"}]}))
    sid = int(task["shipment"][2:])
    pack(api, sid, [("GADGET", "2")], str(2 * WEIGHTS["GADGET"]))
    number = ship(api, sid)["packages"][0]["tracking_number"]
    ok(api.post("/tracking-events", user="keeper", json={"tracking_number": number, "kind": "delivered",
                                                          "occurred_at": DELIVERED_AT.isoformat()}), 201)
    assert ok(api.get(f"/orders/{order['id']}"))["lines"][0]["reserved_qty"] == "1"
    at(2026, 12, 1, 16)
    ret = ok(api.post("/returns", user="bigbuy", json={"order_id": order["id"], "outcome": "exchange", "lines": [
        {"line_no": 1, "quantity": "1", "reason": "damaged_in_transit"}]}), 201)
    ok(api.post(f"/returns/{ret['id']}/authorise", user="service", json={}))
    ok(api.post(f"/returns/{ret['id']}/receive", user="service", json={"lines": [{"line_no": 1, "quantity": "1"}]}))
    ret = ok(api.post(f"/returns/{ret['id']}/inspect", user="service",
                      json={"lines": [{"line_no": 1, "condition": "damaged"}]}))
    ok(api.post(f"/shipments/{int(ret['exchange_shipment'][2:])}/cancel", user="keeper",
                json={"reason": "customer took a refund"}))
    wave = api.post("/waves", user="keeper", json={"order_ids": [order["id"]]})
    assert wave.status_code == 201, wave.text
