"""The order's story read directly: two orders of BIGBUY ship together and arrive on time; the buyer
sends one widget of the second back. The figures see one perfect order of two; the second order's
timeline ends in its return, and it waits for customer service to authorise it."""
from __future__ import annotations

from datetime import date, datetime, timedelta, timezone
from decimal import Decimal as D
from zoneinfo import ZoneInfo

from o2c.core import clock
from o2c.core.db import read_session
from o2c.core.events import dispatch_pending
from o2c.reports import kpis, order_story
from tests.fulfillment.flow import MONDAY, ok
from tests.payments.support import actor
from tests.shipping_world import equip
from tests.web.test_dashboard import order, ship_all

CHICAGO = ZoneInfo("America/Chicago")


def delivered_pair(api) -> tuple[dict, dict]:
    clock.freeze(MONDAY)
    equip(api)
    a, g = order(api, "BIGBUY", "2"), order(api, "BIGBUY", "2")
    shipped = ship_all(api, [a, g])
    dispatch_pending()
    clock.freeze(MONDAY + timedelta(days=1))
    for o in (a, g):
        ok(api.post("/tracking-events", user="keeper", json={
            "tracking_number": shipped[o["id"]]["packages"][0]["tracking_number"], "kind": "delivered",
            "occurred_at": "2026-12-01T17:00:00+00:00", "event_id": f"delivered-{o['id']}"}), 201)
    return a, g


def test_a_returned_order_is_not_perfect_and_its_story_ends_in_the_return(api, world):
    a, g = delivered_pair(api)
    clock.freeze(MONDAY + timedelta(days=2))
    ok(api.post("/returns", user="buyer", json={"order_id": g["id"], "outcome": "refund",
                                                "lines": [{"line_no": 1, "quantity": "1", "reason": "defective"}]}), 201)
    since = MONDAY - timedelta(days=1)
    cid = world["ids"]["company"]
    with read_session() as s:
        assert kpis.perfect_orders(s, cid, since) == {"orders": 2, "perfect": 1, "rate": D("0.5000")}
        assert kpis.on_time_delivery(s, cid, since) == {"delivered": 2, "on_time": 2, "rate": D("1.0000")}
        story = order_story.story(s, actor(world, "viewer"), cid, g["id"])

    stages = [e["stage"] for e in story["timeline"]]
    assert stages[0] == "capture" and stages[-1] == "returns"
    assert stages.index("packing") < stages.index("shipment") < stages.index("invoice") < stages.index("returns")
    assert [e["at"] for e in story["timeline"]] == sorted(e["at"] for e in story["timeline"])
    assert [(e["text"], e["by"]) for e in story["timeline"] if e["stage"] == "tracking"][-1] == (
        f"SH{g['id']:08d} delivered", "PARCELCO (api)")
    assert {"what": "Return RMA00000001: waiting for customer service to authorise or reject it",
            "role": "customer_service"} in story["waits"]
    [line] = story["lines"]
    assert (line["ordered"], line["shipped"], line["invoiced"], line["reserved"]) == (D(2), D(2), D(2), D(0))


def test_todays_orders_follow_the_company_time_zone(api, world):
    clock.freeze(datetime(2026, 12, 2, 5, 30, tzinfo=timezone.utc))  # 23:30 on 1 December in Chicago
    order(api, "BIGBUY", "2")
    cid = world["ids"]["company"]
    with read_session() as s:
        assert kpis.todays_orders(s, cid, date(2026, 12, 1), CHICAGO) == {"count": 1, "value": {"USD": D("21.25")}}
        assert kpis.todays_orders(s, cid, date(2026, 12, 2), CHICAGO) == {"count": 0, "value": {}}
        # Nothing shipped yet: the time to process is measured to confirmation, which came at capture.
        assert kpis.time_to_process(s, cid, MONDAY) == {"to": "confirmed", "median_hours": D("0.0"), "orders": 1}
        assert kpis.holds_by_kind(s, cid) == dict.fromkeys(kpis.HOLD_KINDS, 0)


def test_stages_of_the_timeline():
    assert [order_story.stage_of(a) for a in (
        "captured", "pricing_hold_released", "credit_approval_given", "confirmed", "shipment_released",
        "parcel_closed", "shipment_shipped", "tracking_delivered", "invoiced", "paid", "return_requested")] == [
        "capture", "holds", "credit", "allocation", "picking", "packing", "shipment", "tracking", "invoice",
        "payments", "returns"]
    assert order_story.stage_of("invoice_paid_by_card") == "payments"  # the portal's card payment
