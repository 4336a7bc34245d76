"""The demo's warehouse and carriers: rate tables, boxes, bin locations, and a day of waves, picking,
packing, shipping and tracking for the demo orders (some partial shipments, a short pick, a parcel
held by the weight check, a late delivery, a return). Used by `o2c demo` (o2c.demo).
"""
from __future__ import annotations

import random
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal as D

from sqlalchemy import select
from sqlalchemy.orm import Session

from o2c.core import clock
from o2c.core.auth import Actor
from o2c.core.db import read_session, transaction
from o2c.core.errors import Conflict, ValidationFailed

# Warehouse -> the first digit of its ZIP code: US ZIP codes run roughly east (0) to west (9), so the
# distance between first digits stands in for the carriers' zone charts in the demo.
ORIGINS = {"606": 6, "895": 8, "303": 3}


def _zones() -> list[dict]:
    out = []
    for origin, digit in ORIGINS.items():
        for d in range(10):
            out.append({"origin": origin, "country": "US", "from": f"{d}00", "to": f"{d}99",
                        "zone": 2 + min(abs(d - digit), 6)})
    # from anywhere else in the US (return labels start at the customer's address): a middle zone
    out.append({"origin": "*", "country": "US", "from": "000", "to": "999", "zone": 5})
    out.append({"origin": "*", "country": "DE", "zone": 9})
    return out


def _breaks(first: str, step: str) -> list[dict]:
    return [{"max_kg": kg, "price": str(D(first) + D(step) * i)} for i, kg in enumerate(("1", "2", "5", "10", "20", "30"))]


def rate_table(code: str, base: str, per_zone: str, express_factor: str, fuel: str) -> dict:
    """Ground (2 to 6 days by zone) and Express (1 to 2 days); international economy to zone 9."""
    zones = range(2, 9)
    ground = [{"zone": z, "breaks": _breaks(str(D(base) + D(per_zone) * (z - 2)), "1.10"), "per_kg_over_last": "0.90"}
              for z in zones]
    express = [{"zone": z, "breaks": _breaks(str((D(base) + D(per_zone) * (z - 2)) * D(express_factor)), "2.40"),
                "per_kg_over_last": "2.50"} for z in zones]
    return {
        "carrier": code, "currency": "USD", "origin_country": "US", "dim_divisor": 5000, "zones": _zones(),
        "surcharges": {"fuel_pct": fuel, "residential": "3.95",
                       "oversize": {"longest_side_cm": 120, "fee": "28.00"}},
        "services": [
            {"code": "GND", "name": "Ground", "transit_days": {str(z): 1 + (z + 1) // 2 for z in zones} | {"9": 7},
             "rates": ground + [{"zone": 9, "breaks": _breaks("38.00", "6.00"), "per_kg_over_last": "5.00"}]},
            {"code": "EXP", "name": "Express", "transit_days": {str(z): 1 if z <= 5 else 2 for z in zones},
             "rates": express},
        ],
    }


CARRIERS = [
    ("PARCELCO", "ParcelCo", "ups", "D3M0A1", "6.20", "0.85", "2.6", "11.5"),
    ("SWIFT", "Swift Express", "fedex_express", None, "6.90", "0.70", "2.3", "9"),
    ("POSTAL", "National Post", "usps_impb", "900123456", "5.40", "1.10", "3.0", "0"),
]
BOXES = [("S", 30, 20, 15, 10, "0.20"), ("M", 40, 30, 30, 20, "0.40"), ("L", 60, 40, 40, 30, "0.80"),
         ("XL", 130, 100, 70, 70, "2.50")]


def equip(session: Session, admin: Actor, keeper: Actor, cid: int, skus: list[str], warehouses: list[str]) -> None:
    """Carriers with rate tables, boxes, a bin for every product in every warehouse, channel policies."""
    from o2c.fulfillment import service as fulfillment
    from o2c.fulfillment.schemas import BoxIn
    from o2c.inventory import service as inventory
    from o2c.shipping import service as shipping
    from o2c.shipping.schemas import CarrierIn

    for code, name, fmt, account, base, per_zone, express, fuel in CARRIERS:
        shipping.create_carrier(session, admin, cid, CarrierIn(
            code=code, name=name, tracking_format=fmt, account=account, webhook_secret=f"demo-{code.lower()}-webhook-secret",
            rate_table=rate_table(code, base, per_zone, express, fuel)))
    for code, length, width, height, max_kg, tare in BOXES:
        fulfillment.create_box(session, admin, cid, BoxIn(code=code, inner_length_cm=length, inner_width_cm=width,
                                                          inner_height_cm=height, max_weight_kg=max_kg, tare_kg=tare))
    for n, sku in enumerate(skus, start=1):
        for wh in warehouses:
            bin_code = f"{'A' if n <= 15 else 'B'}-{1 + n % 10:02d}-{1 + (n * 7) % 20:02d}-{1 + n % 4}"
            inventory.set_bin(session, keeper, cid, sku, wh, bin_code)
    fulfillment.set_policy(session, admin, cid, "web", "speed")
    fulfillment.set_policy(session, admin, cid, "edi", "fewest_parcels")


@dataclass
class FulfilmentReport:
    waves: int = 0
    shipments: int = 0
    shipped: int = 0
    partial: int = 0  # shipments of orders still waiting for the rest
    short_picks: int = 0
    held_parcels: int = 0
    delivered: int = 0
    late: int = 0
    in_transit: int = 0
    returns: int = 0
    saving: D = D(0)
    failures: list[str] = field(default_factory=list)


def pick(cid: int, keeper: Actor, wave: dict, *, short_one: bool = False) -> int:
    """Every pick list of the wave in walking order, picked in full; with `short_one`, one bin comes up
    one short. Returns the number of short picks."""
    from o2c.fulfillment import service as fulfillment
    from o2c.fulfillment.schemas import PickIn, PicksIn

    short_done = not short_one
    for pl_id in wave["pick_lists"]:
        view = transaction(lambda s: fulfillment.pick_list_view(s, fulfillment.get_pick_list(s, cid, pl_id)))
        picks = []
        for stop in view["stops"]:
            for t in stop["tasks"]:
                q = t["quantity"]
                if not short_done and q >= 3 and q == q.to_integral_value():
                    q, short_done = q - 1, True
                picks.append(PickIn(task_id=t["task_id"], quantity=q))
        transaction(lambda s: fulfillment.confirm_picks(s, keeper, cid, pl_id, PicksIn(picker=f"picker {pl_id}", picks=picks)))
    return int(short_one and short_done)


def pack_and_ship(cid: int, keeper: Actor, shipment_ids: list[int], rng: random.Random, failures: list[str], *,
                  hold_one: bool = False, advance=None) -> tuple[list[dict], int]:
    """Pack each shipment with a scan per item, weigh it (with `hold_one`, one parcel is held 20% light
    and reopened), ship it with rate shopping. Returns the shipments shipped and the parcels held."""
    from o2c.fulfillment import service as fulfillment
    from o2c.fulfillment.schemas import CloseIn
    from o2c.shipping import service as shipping
    from o2c.shipping.schemas import ShipIn

    held = 0
    shipped: list[dict] = []
    for sid in shipment_ids:
        try:
            pkg = transaction(lambda s: fulfillment.package_view(fulfillment.open_package(s, keeper, cid, sid)))
            lines = transaction(lambda s: [(sl.sku, sl.picked_qty) for sl in fulfillment.get_shipment(s, keeper, cid, sid).lines])
            for sku, qty in lines:
                if qty > 0:
                    transaction(lambda s: fulfillment.scan(s, keeper, cid, pkg["id"], sku, qty))
            expected = transaction(lambda s: _expected_weight(s, keeper, cid, pkg["id"]))
            if hold_one and not held and expected > D(2):
                held += 1
                transaction(lambda s: fulfillment.close_package(s, keeper, cid, pkg["id"], CloseIn(weight_kg=expected * D("0.8"))))
                transaction(lambda s: fulfillment.review_package(s, keeper, cid, pkg["id"], "reopen",
                                                                 "20% light: one item missed the box"))
            noise = D(rng.randint(-20, 20)) / D(1000)
            transaction(lambda s: fulfillment.close_package(s, keeper, cid, pkg["id"], CloseIn(weight_kg=max(expected + noise, D("0.05")))))
            shipped.append(transaction(lambda s: fulfillment.shipment_view(s, shipping.ship(s, keeper, cid, sid, ShipIn()))))
        except (ValidationFailed, Conflict) as exc:
            failures.append(f"shipment {sid}: {exc}")
        if advance:
            advance()
    return shipped, held


def run_day(cid: int, actors: dict[str, Actor], rng: random.Random, start: datetime, progress=None) -> FulfilmentReport:
    """From `start` on: release a wave, pick, pack, ship; the carrier's scans over the next days."""
    from o2c.fulfillment import service as fulfillment
    from o2c.fulfillment.schemas import WaveIn
    from o2c.shipping import service as shipping

    keeper = actors["keeper"]
    carrier = Actor(user_id=None, username="carrier feed", roles=frozenset({"carrier"}), company_ids=frozenset({cid}))
    report = FulfilmentReport()
    clock.freeze(start)
    wave = transaction(lambda s: fulfillment.wave_view(s, fulfillment.release_wave(
        s, keeper, cid, WaveIn(max_orders=5000, pickers=3))))
    report.waves = 1
    report.saving = sum((D(g.get("saving", "0")) for g in wave["report"]["groups"]), D(0))
    shipment_ids = [int(n[2:]) for n in wave["shipments"]]
    report.shipments = len(shipment_ids)
    task = progress.add_task("Warehouse", total=len(shipment_ids)) if progress else None

    report.short_picks = pick(cid, keeper, wave, short_one=True)
    shipped, report.held_parcels = pack_and_ship(
        cid, keeper, shipment_ids, rng, report.failures, hold_one=True,
        advance=(lambda: progress.advance(task)) if progress else None)
    report.shipped = len(shipped)
    with read_session() as s:
        from o2c.orders.models import Order
        states = dict(s.execute(select(Order.id, Order.shipment_state).where(Order.id.in_({sh["order_id"] for sh in shipped}))).all())
    report.partial = sum(1 for sh in shipped if states.get(sh["order_id"]) == "partial")

    # The carriers' scans: in transit the next morning, most delivered on their estimated day, one late,
    # a few still on the road when the demo ends.
    late_done = False
    for n, sh in enumerate(shipped):
        number = sh["packages"][0]["tracking_number"]
        day = start.replace(hour=14) + timedelta(days=1)
        scans = [("in_transit", day, "sort hub")]
        if n % 10 != 9:
            eta = datetime.combine(sh["estimated_delivery"], start.timetz()).replace(hour=16)
            if not late_done and sh["promised_date"] and sh["estimated_delivery"] <= sh["promised_date"]:
                eta = datetime.combine(sh["promised_date"], start.timetz()).replace(hour=22) + timedelta(days=1)
                late_done = True
            scans += [("out_for_delivery", eta.replace(hour=13), "local depot"), ("delivered", eta, "front desk")]
        for kind, when, where in scans:
            try:
                transaction(lambda s: shipping.track(s, carrier, cid, shipping.Scan(number, kind, when, where), "api"))
            except (ValidationFailed, Conflict) as exc:
                report.failures.append(f"tracking {number}: {exc}")
    report.returns = _a_return(cid, actors, shipped, start + timedelta(days=8))
    with read_session() as s:
        from o2c.fulfillment.models import Shipment
        rows = s.execute(select(Shipment.status, Shipment.on_time).where(
            Shipment.company_id == cid, Shipment.kind == "order")).all()
    report.delivered = sum(1 for st, _ in rows if st == "delivered")
    report.late = sum(1 for st, ok in rows if st == "delivered" and ok is False)
    report.in_transit = sum(1 for st, _ in rows if st == "in_transit")
    return report


def _expected_weight(session: Session, actor: Actor, cid: int, package_id: int) -> D:
    from o2c.fulfillment import service as fulfillment

    pkg, _ = fulfillment.get_package(session, actor, cid, package_id)
    box = fulfillment.suggest_box(session, actor, cid, package_id)["box"]
    tare = next((D(t) for code, *_x, t in BOXES if code == box), D(0))
    return sum((it.weight_kg * it.quantity for it in fulfillment.items_of(session, pkg)), D(0)) + tare


def _a_return(cid: int, actors: dict[str, Actor], shipped: list[dict], when: datetime) -> int:
    """A week after delivery a customer sends one unit back, damaged in transit: customer service
    authorises it (RMA and label), the warehouse receives and inspects it, and the refund goes to billing."""
    from o2c.fulfillment import service as fulfillment
    from o2c.returns import service as returns
    from o2c.returns.schemas import InspectIn, ReceiveIn, ReturnIn

    clock.freeze(when)
    with read_session() as s:
        delivered = [sh for sh in shipped if fulfillment.get_shipment(s, actors["keeper"], cid, sh["id"]).status == "delivered"]
    for sh in delivered:
        if sh["ship_to"].get("country") != "US":
            continue  # the carriers' return rate tables are domestic: a return label from abroad is not offered
        line = next((li for li in sh["lines"] if li["shipped_qty"] >= 2 and li["shipped_qty"] % 1 == 0), None)
        if line is None:
            continue
        service, keeper = actors["service"], actors["keeper"]
        ret = transaction(lambda s: returns.request(s, service, cid, ReturnIn(
            order_id=sh["order_id"], outcome="refund", notes="the box arrived crushed",
            lines=[{"line_no": line["line_no"], "quantity": 1, "reason": "damaged_in_transit"}])).id)
        transaction(lambda s: returns.authorise(s, service, cid, ret))
        transaction(lambda s: returns.receive(s, keeper, cid, ret, ReceiveIn(lines=[{"line_no": line["line_no"], "quantity": 1}])))
        transaction(lambda s: returns.inspect(s, keeper, cid, ret, InspectIn(
            lines=[{"line_no": line["line_no"], "condition": "damaged"}])))
        return 1
    return 0
