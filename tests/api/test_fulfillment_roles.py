"""Who may work the warehouse: the warehouse role releases waves, picks, packs, ships and records
tracking; a viewer and the order desk may look but not do any of it (403 naming the permission, nothing
changed). A customer's portal user follows their own shipments and cannot see anyone else's: not the
shipment, its parcels, labels, packing slip or tracking, nor the waves and pick lists that hold them.
"""
from __future__ import annotations

from datetime import datetime, timezone

import pytest

from o2c.core import clock
from o2c.core.auth import create_user, issue_api_key
from o2c.core.db import transaction
from tests.api import assert_problem, refused
from tests.fulfillment.flow import (
    MONDAY, changed, everything, ok, pack, pick_all, pick_lists, place, release, ship, shipment_of, tasks,
)
from tests.shipping_world import equip

OUTSIDERS = ("viewer", "desk")  # read-only, and the order desk (order_desk role)
CSV = {"Content-Type": "text/csv"}


def at(day: int, hour: int = 12) -> str:
    return datetime(2026, 12, day, hour, tzinfo=timezone.utc).isoformat()


def refused_to_outsiders(api, what: str, verb: str, path: str, permission: str, **kw) -> list[str]:
    """The viewer and the desk are refused with 403 naming `permission`, and nothing changes."""
    failures = []
    for user in OUTSIDERS:
        with refused(f"{user} may not {what}", failures, everything):
            problem = assert_problem(getattr(api, verb)(path, user=user, **kw), 403)
            assert problem.get("permission") == permission, problem
            assert permission in problem["detail"], problem["detail"]
    return failures


def test_only_the_warehouse_releases_picks_packs_ships_and_tracks(api):
    clock.freeze(MONDAY)
    equip(api)
    big = place(api, "BIGBUY", [("WIDGET", "4")])
    loyal = place(api, "LOYAL", [("GADGET", "1")])
    f = refused_to_outsiders(api, "release a wave", "post", "/waves", "fulfillment.write", json={})
    wave = release(api)  # the warehouse user can

    [pl] = pick_lists(api, wave)
    picks = {"picks": [{"task_id": t["task_id"], "quantity": t["quantity"]} for t in tasks(pl)]}
    f += refused_to_outsiders(api, "confirm picks", "post", f"/pick-lists/{pl['id']}/picks", "fulfillment.write",
                              json=picks)
    assert ok(api.post(f"/pick-lists/{pl['id']}/picks", user="keeper", json=picks))["status"] == "done"

    sid, other = shipment_of(api, big["id"])["id"], shipment_of(api, loyal["id"])["id"]
    f += refused_to_outsiders(api, "cancel a shipment", "post", f"/shipments/{other}/cancel", "fulfillment.write",
                              json={"reason": "customer called"})
    assert ok(api.post(f"/shipments/{other}/cancel", user="keeper", json={"reason": "customer called"}))["status"] == \
        "cancelled"
    f += refused_to_outsiders(api, "open a parcel", "post", f"/shipments/{sid}/packages", "fulfillment.write")
    pkg = ok(api.post(f"/shipments/{sid}/packages", user="keeper"), 201)["id"]
    f += refused_to_outsiders(api, "scan into a parcel", "post", f"/packages/{pkg}/scans", "fulfillment.write",
                              json={"barcode": "WIDGET", "quantity": 4})
    ok(api.post(f"/packages/{pkg}/scans", user="keeper", json={"barcode": "WIDGET", "quantity": 4}))
    f += refused_to_outsiders(api, "close a parcel", "post", f"/packages/{pkg}/close", "fulfillment.write",
                              json={"weight_kg": "3.5", "box_code": "S"})
    held = ok(api.post(f"/packages/{pkg}/close", user="keeper", json={"weight_kg": "3.5", "box_code": "S"}))
    assert held["status"] == "qc_hold"  # 3.5 kg on the scale, 2.2 kg expected
    review = {"decision": "release", "reason": "a manual inside the box"}
    f += refused_to_outsiders(api, "release a held parcel", "post", f"/packages/{pkg}/review", "fulfillment.write",
                              json=review)
    assert ok(api.post(f"/packages/{pkg}/review", user="keeper", json=review))["status"] == "closed"

    f += refused_to_outsiders(api, "ship", "post", f"/shipments/{sid}/ship", "fulfillment.write", json={})
    number = ship(api, sid)["packages"][0]["tracking_number"]

    event = {"tracking_number": number, "kind": "in_transit", "occurred_at": at(1)}
    f += refused_to_outsiders(api, "record a tracking event", "post", "/tracking-events", "tracking.write", json=event)
    assert api.post("/tracking-events", user="keeper", json=event).status_code == 201
    csv_file = f"tracking_number,kind,occurred_at\n{number},delivered,{at(2)}\n"
    f += refused_to_outsiders(api, "import a tracking file", "post", "/tracking-events/file", "tracking.write",
                              content=csv_file, headers=CSV)
    assert ok(api.post("/tracking-events/file", user="keeper", content=csv_file, headers=CSV)) == {
        "created": 1, "duplicates": 0}
    assert ok(api.get(f"/shipments/{sid}", user="viewer"))["status"] == "delivered"  # and everyone may look
    assert ok(api.get(f"/shipments/{sid}", user="desk"))["status"] == "delivered"
    assert not f, "\n".join(f)


def test_carriers_and_policies_are_master_data_not_the_warehouses(api):
    clock.freeze(MONDAY)
    equip(api)
    before = everything()
    for verb, path, body, permission in [
        ("post", "/carriers", {"code": "NEWCO", "name": "New Co", "tracking_format": "fedex_express",
                               "rate_table": {}}, "masterdata.write"),
        ("put", "/carriers/PARCELCO/rate-table", {"rate_table": {}, "reason": "cheaper now"}, "masterdata.write"),
        ("post", "/boxes", {"code": "XL", "inner_length_cm": 80, "inner_width_cm": 60, "inner_height_cm": 60,
                            "max_weight_kg": 40, "tare_kg": "1.2"}, "masterdata.write"),
        ("put", "/fulfillment-policies", {"channel": "web", "policy": "speed"}, "company.write"),
    ]:
        for user in ("keeper", *OUTSIDERS):
            problem = assert_problem(getattr(api, verb)(path, user=user, json=body), 403)
            assert problem["permission"] == permission, (user, path, problem)
    assert not changed(before, everything())


@pytest.fixture
def two_customers(api, world):
    """BIGBUY's and TIDY's orders shipped and in transit; a portal user for each customer."""
    clock.freeze(MONDAY)
    equip(api)
    big = place(api, "BIGBUY", [("WIDGET", "4")])
    tidy = place(api, "TIDY", [("WIDGET", "2")])
    wave = release(api)
    pick_all(api, wave)
    out = {"wave": wave}
    for name, order, weight in (("big", big, "2.2"), ("tidy", tidy, "1.2")):
        sid = shipment_of(api, order["id"])["id"]
        qty = 4 if name == "big" else 2
        pack(api, sid, [("WIDGET", qty)], weight, box="S")
        shipped = ship(api, sid)
        number = shipped["packages"][0]["tracking_number"]
        ok(api.post("/tracking-events", user="keeper",
                    json={"tracking_number": number, "kind": "in_transit", "occurred_at": at(1)}), 201)
        out[name] = {"order": order["id"], "shipment": sid, "package": shipped["packages"][0]["id"], "number": number}

    def portal(session):
        cid = world["ids"]["company"]
        return {name: issue_api_key(session, create_user(session, name, ["customer"], [cid],
                                                         customer_id=world["ids"][code]))
                for name, code in (("bigbuy_buyer", "BIGBUY"), ("tidy_buyer", "TIDY"))}

    api.keys.update(transaction(portal))
    return out


def test_a_portal_user_follows_their_own_shipments_only(api, two_customers):
    mine, theirs = two_customers["big"], two_customers["tidy"]
    me = "bigbuy_buyer"

    listed = ok(api.get("/shipments", user=me))["items"]
    assert [(s["id"], s["order_id"]) for s in listed] == [(mine["shipment"], mine["order"])]
    assert ok(api.get("/shipments", user=me, params={"order_id": theirs["order"]}))["items"] == []
    own = ok(api.get(f"/shipments/{mine['shipment']}", user=me))
    assert (own["status"], own["packages"][0]["tracking_number"]) == ("in_transit", mine["number"])
    assert [e["kind"] for e in ok(api.get(f"/shipments/{mine['shipment']}/tracking-events", user=me))] == [
        "shipped", "in_transit"]
    assert ok(api.get(f"/packages/{mine['package']}", user=me))["tracking_number"] == mine["number"]
    for path, start in ((f"/shipments/{mine['shipment']}/packing-slip.pdf", b"%PDF"),
                        (f"/packages/{mine['package']}/label.pdf", b"%PDF"),
                        (f"/packages/{mine['package']}/label.zpl", b"^XA")):
        r = api.get(path, user=me)
        assert r.status_code == 200 and r.content.startswith(start), (path, r.status_code)

    # TIDY's shipment, parcel, labels, slip and tracking are not there for BIGBUY's buyer.
    before = everything()
    for path in (f"/shipments/{theirs['shipment']}", f"/shipments/{theirs['shipment']}/tracking-events",
                 f"/shipments/{theirs['shipment']}/packing-slip.pdf", f"/packages/{theirs['package']}",
                 f"/packages/{theirs['package']}/box", f"/packages/{theirs['package']}/label.zpl",
                 f"/packages/{theirs['package']}/label.pdf"):
        r = api.get(path, user=me)
        assert_problem(r, 404)
        assert theirs["number"] not in r.text and "TIDY" not in r.text, path
    # And TIDY's buyer sees TIDY's, not BIGBUY's.
    assert [s["id"] for s in ok(api.get("/shipments", user="tidy_buyer"))["items"]] == [theirs["shipment"]]
    assert_problem(api.get(f"/shipments/{mine['shipment']}", user="tidy_buyer"), 404)

    # A portal user does no warehouse work, even on their own shipment.
    for verb, path, body, permission in [
        ("post", "/waves", {}, "fulfillment.write"),
        ("post", f"/shipments/{mine['shipment']}/cancel", {"reason": "changed my mind"}, "fulfillment.write"),
        ("post", "/tracking-events", {"tracking_number": mine["number"], "kind": "delivered", "occurred_at": at(2)},
         "tracking.write"),
    ]:
        assert assert_problem(getattr(api, verb)(path, user=me, json=body), 403)["permission"] == permission
    assert not changed(before, everything())


def test_a_portal_user_does_not_see_the_warehouses_waves_and_pick_lists(api, two_customers):
    """A wave and its pick lists hold every customer's shipments: internal records, like the order
    entry error rate, refused to portal users (the warehouse and the viewer read them)."""
    wave = two_customers["wave"]
    pl = wave["pick_lists"][0]
    for path in ("/waves", f"/waves/{wave['id']}", f"/pick-lists/{pl}", f"/pick-lists/{pl}/print"):
        r = api.get(path, user="bigbuy_buyer")
        assert_problem(r, 403)
        assert "SH0" not in r.text, path  # no shipment numbers of anyone
        assert api.get(path, user="viewer").status_code == 200, path
