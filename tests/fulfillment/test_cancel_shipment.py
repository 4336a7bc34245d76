"""Cancelling a shipment before it ships: its lines go back to waiting for a wave, their stock stays
reserved for the order, and the warehouse's lists are not left waiting for picks that will never come."""
from __future__ import annotations

from o2c.core import clock
from tests.books import assert_books_agree, stock
from tests.fulfillment.flow import MONDAY, ok, pick_lists, place, release, shipment_of
from tests.shipping_world import equip


def test_a_cancelled_shipment_goes_back_to_waiting_and_closes_its_pick_list(api):
    clock.freeze(MONDAY)
    equip(api)
    order = place(api, "BIGBUY", [("WIDGET", "3")])
    wave = release(api)
    sh = shipment_of(api, order["id"])
    reserved = stock()[("WIDGET", "CHI")]
    cancelled = ok(api.post(f"/shipments/{sh['id']}/cancel", user="keeper", json={"reason": "customer collects"}))
    assert cancelled["status"] == "cancelled"
    assert stock()[("WIDGET", "CHI")] == reserved  # still reserved for the order
    # Nothing is left to pick on the wave's list: it is done, and so is the wave.
    [pl] = pick_lists(api, wave)
    assert pl["status"] == "done"
    assert ok(api.get(f"/waves/{wave['id']}", user="keeper"))["status"] == "done"
    # The order's line waits for the next wave, which ships it.
    again = release(api)
    assert [s["status"] for s in ok(api.get("/shipments", user="keeper", params={"order_id": order["id"]}))["items"]] \
        == ["cancelled", "released"]
    assert again["id"] != wave["id"]
    assert_books_agree()
