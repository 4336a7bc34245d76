"""What the customer is told as tracking events arrive: each step once."""
from __future__ import annotations

from sqlalchemy import select

from o2c.core import clock
from o2c.core.db import read_session
from o2c.core.models import OutboxEvent
from tests.fulfillment.flow import MONDAY, ok, pack, pick_all, place, release, ship, shipment_of
from tests.shipping_world import equip


def tracking_notices(shipment_id: int) -> list[str]:
    """The kinds of the shipment.tracking events (each one an email to the customer), oldest first."""
    with read_session() as s:
        return [p["kind"] for p in s.scalars(select(OutboxEvent.payload).where(
            OutboxEvent.topic == "shipment.tracking", OutboxEvent.entity_id == shipment_id).order_by(OutboxEvent.id))]


def test_the_carriers_pick_up_scan_does_not_tell_the_customer_again_that_it_shipped(api):
    """Handing the parcel over sends 'your order has shipped'. The carrier's own pick-up scan that
    follows is noted on the shipment's tracking, and the customer is not told a second time."""
    clock.freeze(MONDAY)
    equip(api)
    order = place(api, "BIGBUY", [("WIDGET", "2")])
    pick_all(api, release(api))
    sh = shipment_of(api, order["id"])
    pack(api, sh["id"], [("WIDGET", 2)], "1.2", box="S")
    number = ship(api, sh["id"])["packages"][0]["tracking_number"]
    assert tracking_notices(sh["id"]) == ["shipped"]

    ok(api.post("/tracking-events", user="keeper", json={
        "tracking_number": number, "kind": "shipped", "occurred_at": "2026-11-30T22:00:00+00:00",
        "location": "Chicago IL", "event_id": "pickup-1"}), 201)
    ok(api.post("/tracking-events", user="keeper", json={
        "tracking_number": number, "kind": "in_transit", "occurred_at": "2026-12-01T04:00:00+00:00"}), 201)
    kinds = [e["kind"] for e in ok(api.get(f"/shipments/{sh['id']}/tracking-events", user="keeper"))]
    assert kinds == ["shipped", "shipped", "in_transit"]
    assert tracking_notices(sh["id"]) == ["shipped", "in_transit"]


def test_the_same_scan_from_the_webhook_and_the_carriers_file_is_one_event(api):
    """docs/fulfillment.md: a repeat is the same event_id, or the same kind and time. The carrier pushes
    its scans by webhook with its event ids and sends them again in its nightly file, without them:
    the file's rows are repeats (counted as duplicates, no second email), and the file is not refused
    because the shipment has been delivered since."""
    clock.freeze(MONDAY)
    equip(api)
    order = place(api, "BIGBUY", [("WIDGET", "2")])
    pick_all(api, release(api))
    sh = shipment_of(api, order["id"])
    pack(api, sh["id"], [("WIDGET", 2)], "1.2", box="S")
    number = ship(api, sh["id"])["packages"][0]["tracking_number"]
    for kind, at, event_id in (("in_transit", "2026-12-01T04:00:00+00:00", "pc-11"),
                               ("delivered", "2026-12-02T18:00:00+00:00", "pc-12")):
        ok(api.post("/tracking-events", user="keeper", json={
            "tracking_number": number, "kind": kind, "occurred_at": at, "event_id": event_id}), 201)
    nightly = (f"tracking_number,kind,occurred_at,location\n{number},in_transit,2026-12-01T04:00:00Z,Joliet IL\n"
               f"{number},delivered,2026-12-02T18:00:00Z,front door\n")
    r = api.post("/tracking-events/file", user="keeper", content=nightly, headers={"Content-Type": "text/csv"})
    assert ok(r) == {"created": 0, "duplicates": 2}
    assert tracking_notices(sh["id"]) == ["shipped", "in_transit", "delivered"]
