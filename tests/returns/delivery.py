"""Getting goods to a customer through the API, as the warehouse and the carrier would: a carrier with
its rate table, a wave, the picks, a parcel scanned, closed and weighed, shipped, and a delivered scan
(the warehouse's steps are tests/fulfillment/flow.py's). The return stories start from there."""
from __future__ import annotations

from datetime import datetime
from decimal import Decimal as D

from tests.fulfillment.flow import ok, pack, pick_all, release, ship

# A small parcel carrier: any US origin to any US destination is zone 1, priced by weight.
GROUND = {
    "carrier": "PARCELCO", "currency": "USD", "origin_country": "US", "dim_divisor": 5000,
    "zones": [{"origin": "*", "country": "US", "zone": 1}],
    "services": [{"code": "GND", "name": "Ground", "transit_days": {"1": 3},
                  "rates": [{"zone": 1, "breaks": [{"max_kg": "5", "price": "7.00"},
                                                   {"max_kg": "30", "price": "15.00"}]}]}],
}
EXPRESS = {
    **GROUND, "carrier": "SWIFT",
    "services": [{"code": "EXP", "name": "Express", "transit_days": {"1": 1},
                  "rates": [{"zone": 1, "breaks": [{"max_kg": "30", "price": "25.00"}]}]}],
}


def add_carriers(api) -> None:
    """Two carriers: PARCELCO (FedEx-style numbers, the cheaper) and SWIFT (UPS-style numbers)."""
    ok(api.post("/carriers", user="admin", json={"code": "PARCELCO", "name": "Parcel Co", "tracking_format": "fedex_express",
                                                  "rate_table": GROUND}), 201)
    ok(api.post("/carriers", user="admin", json={"code": "SWIFT", "name": "Swift Express", "tracking_format": "ups",
                                                  "account": "A1B2C3", "rate_table": EXPRESS}), 201)


# The world's product weights (tests/world.py), so a parcel weighs what the pack station expects.
WEIGHTS = {"WIDGET": D("0.5"), "GADGET": D("1.2")}


def deliver(api, order_id: int, delivered_at: datetime | None) -> list[dict]:
    """Wave the order, pick, pack and ship every shipment, and post a delivered scan for each (none
    when `delivered_at` is None: the goods stay with the carrier). Returns the shipments as the API
    shows them at the end."""
    pick_all(api, release(api, order_ids=[order_id]))
    out = []
    for sh in ok(api.get("/shipments", user="keeper", params={"order_id": order_id}))["items"]:
        if sh["kind"] != "order" or sh["status"] != "picked":
            continue
        scans = [(line["sku"], line["picked_qty"]) for line in sh["lines"]]
        weight = sum((WEIGHTS.get(sku, D(0)) * D(qty) for sku, qty in scans), D(0))
        closed = pack(api, sh["id"], scans, str(weight))
        assert closed["status"] == "closed", closed
        shipped = ship(api, sh["id"])
        if delivered_at is not None:
            ok(api.post("/tracking-events", user="keeper", json={
                "tracking_number": shipped["packages"][0]["tracking_number"], "kind": "delivered",
                "occurred_at": delivered_at.isoformat(), "location": "front door"}), 201)
        out.append(ok(api.get(f"/shipments/{sh['id']}", user="keeper")))
    return out


def events(topic: str) -> list[dict]:
    """The payloads of the outbox events of a topic, oldest first."""
    from sqlalchemy import select

    from o2c.core.db import read_session
    from o2c.core.models import OutboxEvent

    with read_session() as s:
        return list(s.scalars(select(OutboxEvent.payload).where(OutboxEvent.topic == topic).order_by(OutboxEvent.id)))
