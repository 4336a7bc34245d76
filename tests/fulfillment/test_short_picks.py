"""A short pick (the bin held less than the books said): what did not ship is reserved again where
stock allows, or backordered."""
from __future__ import annotations


from o2c.core import clock
from tests.books import assert_books_agree
from tests.fulfillment.flow import MONDAY, ok, pack, pick_lists, place, release, ship, tasks
from tests.shipping_world import equip


def test_a_short_pick_for_a_ship_complete_customer_is_reserved_again_at_once(api):
    """docs/fulfillment.md: the rest of a short-picked line is reserved again at once where stock
    allows. TIDY ships complete; its bin in Los Angeles held 9 of 10 widgets, and there are widgets
    left in both warehouses: the tenth is reserved at once, not left backordered until a receipt."""
    clock.freeze(MONDAY)
    equip(api)
    order = place(api, "TIDY", [("WIDGET", "10")])
    [pl] = pick_lists(api, release(api))
    [task] = tasks(pl)
    ok(api.post(f"/pick-lists/{pl['id']}/picks", user="keeper",
                json={"picks": [{"task_id": task["task_id"], "quantity": "9"}]}))
    sid = int(task["shipment"][2:])
    pack(api, sid, [("WIDGET", 9)], "4.7", box="S")
    ship(api, sid)
    after = ok(api.get(f"/orders/{order['id']}"))
    assert after["status"] == "confirmed"
    assert [(li["shipped_qty"], li["reserved_qty"], li["backordered_qty"]) for li in after["lines"]] == [("9", "1", "0")]
    assert_books_agree()


def test_a_short_pick_does_not_send_the_order_confirmation_again(api, monkeypatch):
    """BIGBUY's 5 gadgets: the bin held 4 and there are no others. The order is backordered now; the
    customer was confirmed the order when it was placed and gets the shipment's own notices, not a
    second order confirmation."""
    from o2c.core.events import dispatch_pending
    from tests.test_notifications import SmtpServer, free_port, point_smtp_at

    clock.freeze(MONDAY)
    equip(api)
    smtp = SmtpServer(free_port())
    point_smtp_at(monkeypatch, smtp.port)
    smtp.start()
    try:
        order = place(api, "BIGBUY", [("GADGET", "5")])
        [pl] = pick_lists(api, release(api))
        [task] = tasks(pl)
        ok(api.post(f"/pick-lists/{pl['id']}/picks", user="keeper",
                    json={"picks": [{"task_id": task["task_id"], "quantity": "4"}]}))
        sid = int(task["shipment"][2:])
        pack(api, sid, [("GADGET", 4)], "5.2", box="S")
        ship(api, sid)
        assert ok(api.get(f"/orders/{order['id']}"))["status"] == "backordered"
        dispatch_pending()
        subjects = [m["Subject"] for rcpt, m in smtp.inbox.messages if rcpt == ["buyer@bigbuy.example"]]
    finally:
        smtp.stop()
    assert sum(s.startswith("Order confirmation") for s in subjects) == 1, subjects
