"""A parcel of a cancelled shipment takes no more scans, and a late carrier scan of an earlier step
does not tell the customer something older than what they were told already."""
from __future__ import annotations

from datetime import datetime, timezone

from o2c.core import clock
from o2c.core.events import dispatch_pending
from tests.fulfillment.flow import ok, open_parcel, pack, pick_lists, place, release, ship, tasks
from tests.shipping_world import equip
from tests.test_notifications import SmtpServer, free_port, point_smtp_at


def test_a_cancelled_shipments_parcel_takes_no_scans(api):
    equip(api)
    order = place(api, "BIGBUY", [("GADGET", "2")])
    [pl] = pick_lists(api, release(api, order_ids=[order["id"]]))
    ok(api.post(f"/pick-lists/{pl['id']}/picks", user="keeper",
                json={"picks": [{"task_id": t["task_id"], "quantity": t["quantity"]} for t in tasks(pl)]}))
    sid = int(tasks(pl)[0]["shipment"][2:])
    parcel = open_parcel(api, sid)
    ok(api.post(f"/shipments/{sid}/cancel", user="keeper", json={"reason": "customer called"}))
    r = api.post(f"/packages/{parcel['id']}/scans", user="keeper", json={"barcode": "GADGET"})
    assert r.status_code == 409 and "cancelled" in r.json()["detail"]
    r = api.post(f"/packages/{parcel['id']}/close", user="keeper", json={"weight_kg": "2.4"})
    assert r.status_code == 409
    assert ok(api.get(f"/packages/{parcel['id']}", user="keeper"))["items"] == []


def test_a_late_in_transit_scan_after_out_for_delivery_sends_no_mail(api, monkeypatch):
    clock.freeze(datetime(2026, 11, 30, 15, tzinfo=timezone.utc))
    equip(api)
    order = place(api, "BIGBUY", [("GADGET", "2")])
    [pl] = pick_lists(api, release(api, order_ids=[order["id"]]))
    ok(api.post(f"/pick-lists/{pl['id']}/picks", user="keeper",
                json={"picks": [{"task_id": t["task_id"], "quantity": t["quantity"]} for t in tasks(pl)]}))
    sid = int(tasks(pl)[0]["shipment"][2:])
    pack(api, sid, [("GADGET", 2)], "2.6", box="S")
    number = ship(api, sid)["packages"][0]["tracking_number"]
    for kind, hour in (("out_for_delivery", 13), ("in_transit", 2)):  # the hub's scan arrives late
        ok(api.post("/tracking-events", user="keeper", json={
            "tracking_number": number, "kind": kind,
            "occurred_at": datetime(2026, 12, 1, hour, tzinfo=timezone.utc).isoformat()}), 201)
    smtp = SmtpServer(free_port())
    point_smtp_at(monkeypatch, smtp.port)
    smtp.start()
    try:
        dispatch_pending()
    finally:
        smtp.stop()
    subjects = [m["Subject"] for _, m in smtp.messages if "Your order" in m["Subject"]]
    assert [s.split(" (")[0] for s in subjects] == [
        f"Your order {order['number']} has shipped", f"Your order {order['number']} is out for delivery today"]
