"""Bad input to fulfilment and shipping: waves, picks, scans, parcels, shipping, carriers and tracking.

Each refusal is problem+json naming its field (for a 422) or saying what is in the way (for a 409), and
changes nothing: every row of every table is the same before and after (stock, shipments, parcels,
pick tasks, carriers, tracking events, audit records, outbox events). The cases run in loops inside a
few tests, so the warehouse is set up once per backend; every failing case is reported by its label.
"""
from __future__ import annotations

import hashlib
import hmac
import json
from datetime import datetime, timezone

import pytest
from sqlalchemy import update

from o2c.core import clock
from o2c.core.db import transaction
from o2c.fulfillment.models import Package
from o2c.shipping import tracking
from tests.api import assert_problem, refused
from tests.fulfillment.flow import (
    MONDAY, changed, everything, ok, open_parcel, pack, pick_all, pick_lists, place, release, scan, ship,
    shipment_of, tasks,
)
from tests.shipping_world import WEBHOOK_SECRET, equip, rate_table

WEBHOOK = "/api/v1/tracking-events/webhook/ACME"
CSV = {"Content-Type": "text/csv"}


@pytest.fixture
def floor(api):
    """Two carriers, boxes and bins (tests/shipping_world.py); BIGBUY's order (20 widgets, 2 gadgets,
    Chicago) and TIDY's (10 widgets, Los Angeles) released in one wave."""
    clock.freeze(MONDAY)
    equip(api)
    big = place(api, "BIGBUY", [("WIDGET", "20"), ("GADGET", "2")])
    tidy = place(api, "TIDY", [("WIDGET", "10")])
    wave = release(api, pickers=1)
    return {"big": big, "tidy": tidy, "wave": wave,
            "big_sh": shipment_of(api, big["id"]), "tidy_sh": shipment_of(api, tidy["id"])}


def refusals(api, cases) -> list[str]:
    """Each case: (label, verb, path, request kwargs, status, field, code). The answer is problem+json
    with that status, its first error names `field` with `code` (when given), and nothing changed."""
    failures = []
    for label, verb, path, kw, status, field, code in cases:
        kw = dict(kw)
        user = kw.pop("user", "keeper")
        with refused(label, failures, everything):
            body = assert_problem(getattr(api, verb)(path, user=user, **kw), status, field)
            if field is not None:
                assert body["errors"][0]["field"] == field, body["errors"]
            if code is not None:
                assert body["errors"][0]["code"] == code, body["errors"]
    return failures


# --- waves ----------------------------------------------------------------------------------------

def test_a_wave_with_nothing_waiting_is_refused_and_creates_nothing(api):
    clock.freeze(MONDAY)
    equip(api)
    before = everything()
    problem = assert_problem(api.post("/waves", user="keeper", json={}), 409)
    assert problem["field"] == "order_ids" and "no confirmed orders" in problem["detail"]
    assert not changed(before, everything())

    # An order already in a wave is not waiting either, nor is an order that does not exist.
    order = place(api, "BIGBUY", [("WIDGET", "3")])
    release(api)
    failures = refusals(api, [
        ("everything is in a wave already", "post", "/waves", {"json": {}}, 409, None, None),
        ("only an order in a wave already", "post", "/waves", {"json": {"order_ids": [order["id"]]}}, 409, None, None),
        ("an order that does not exist", "post", "/waves", {"json": {"order_ids": [999999]}}, 409, None, None),
        ("an order id of zero", "post", "/waves", {"json": {"order_ids": [0]}}, 422, "order_ids[0]", None),
        ("no pickers", "post", "/waves", {"json": {"pickers": 0}}, 422, "pickers", None),
        ("an unknown field", "post", "/waves", {"json": {"priority": "high"}}, 422, "priority", "extra_forbidden"),
    ])
    assert not failures, "\n".join(failures)


def test_a_retried_wave_is_the_same_wave_and_a_reused_key_is_refused(api):
    clock.freeze(MONDAY)
    equip(api)
    order = place(api, "BIGBUY", [("WIDGET", "5")])
    first = api.post("/waves", user="keeper", json={"pickers": 1}, headers={"Idempotency-Key": "wave-7"})
    assert first.status_code == 201, first.text
    state = everything()

    again = api.post("/waves", user="keeper", json={"pickers": 1}, headers={"Idempotency-Key": "wave-7"})
    assert again.status_code == 201 and again.headers.get("Idempotent-Replayed") == "true"
    assert again.json() == first.json()
    assert not changed(state, everything())  # no second wave, shipment or pick list
    assert [w["id"] for w in ok(api.get("/waves", user="keeper"))] == [first.json()["id"]]

    # The same key with another request is refused, naming the header, even with a new order waiting.
    place(api, "LOYAL", [("WIDGET", "1")])
    failures = refusals(api, [
        ("same key, other body", "post", "/waves", {"json": {"pickers": 2}, "headers": {"Idempotency-Key": "wave-7"}},
         422, "Idempotency-Key", "reused"),
    ])
    assert not failures, "\n".join(failures)
    assert [sh["order_id"] for sh in ok(api.get("/shipments", user="keeper"))["items"]] == [order["id"]]


# --- picking --------------------------------------------------------------------------------------

def test_bad_picks_are_refused_and_confirm_nothing(api, floor):
    chi, lax = sorted(pick_lists(api, floor["wave"]), key=lambda pl: pl["warehouse"])
    widget, gadget = (next(t["task_id"] for s in chi["stops"] if s["sku"] == sku for t in s["tasks"])
                      for sku in ("WIDGET", "GADGET"))
    lax_task = tasks(lax)[0]["task_id"]
    ok(api.post(f"/pick-lists/{chi['id']}/picks", user="keeper",
                json={"picks": [{"task_id": gadget, "quantity": "2"}]}))
    path = f"/pick-lists/{chi['id']}/picks"

    def picks(*pairs):
        return {"json": {"picks": [{"task_id": t, "quantity": q} for t, q in pairs]}}

    failures = refusals(api, [
        ("an unknown task, after a good pick", "post", path, picks((widget, "20"), (999999, "1")),
         422, "picks[1].task_id", "unknown"),
        ("a task of another pick list", "post", path, picks((lax_task, "10")), 422, "picks[0].task_id", "unknown"),
        ("a task confirmed already", "post", path, picks((gadget, "2")), 422, "picks[0].task_id", "already_picked"),
        ("more than the task's quantity", "post", path, picks((widget, "21")), 422, "picks[0].quantity",
         "more_than_reserved"),
        ("a negative quantity", "post", path, picks((widget, "-1")), 422, "picks[0].quantity", None),
        ("a quantity with four decimals", "post", path, picks((widget, "1.2345")), 422, "picks[0].quantity", None),
        ("half a widget (a piece has no decimals)", "post", path, picks((widget, "19.5")), 422, "picks[0].quantity",
         "too_many_decimals"),
        ("a quantity in words", "post", path, picks((widget, "all")), 422, "picks[0].quantity", None),
        ("no picks", "post", path, {"json": {"picks": []}}, 422, "picks", None),
        ("an unknown pick list", "post", "/pick-lists/999999/picks", picks((widget, "1")), 404, None, None),
    ])
    assert not failures, "\n".join(failures)

    r = api.post(path, user="keeper", json={"picks": [{"task_id": widget, "quantity": "20"}]})
    assert ok(r)["status"] == "done"
    assert [(li["sku"], li["picked_qty"]) for li in ok(api.get(f"/shipments/{floor['big_sh']['id']}"))["lines"]] == [
        ("WIDGET", "20"), ("GADGET", "2")]


def test_one_task_confirmed_twice_in_one_request_is_refused(api, floor):
    """Two picks of 15 for the same task of 20 would put 30 widgets on the shipment line: refused."""
    chi = next(pl for pl in pick_lists(api, floor["wave"]) if pl["warehouse"] == "CHI")
    widget = next(t["task_id"] for s in chi["stops"] if s["sku"] == "WIDGET" for t in s["tasks"])
    failures = refusals(api, [
        ("the same task twice", "post", f"/pick-lists/{chi['id']}/picks",
         {"json": {"picks": [{"task_id": widget, "quantity": "15"}, {"task_id": widget, "quantity": "15"}]}},
         422, "picks[1].task_id", "duplicate"),
    ])
    assert not failures, "\n".join(failures)


def test_a_shipment_picked_empty_leaves_the_warehouse_books_right(api, floor):
    chi = next(pl for pl in pick_lists(api, floor["wave"]) if pl["warehouse"] == "CHI")
    ok(api.post(f"/pick-lists/{chi['id']}/picks", user="keeper",
                json={"picks": [{"task_id": t["task_id"], "quantity": "0"} for t in tasks(chi)]}))
    # The bins held none of the 20 widgets and 2 gadgets: that is a count difference to book, and the
    # shipment cannot stay open waiting for a parcel that will never be packed.
    gadgets = ok(api.get("/stock", user="keeper", params={"sku": "GADGET", "warehouse": "CHI"}))["items"][0]
    assert gadgets["on_hand"] == "3"
    assert ok(api.get(f"/shipments/{floor['big_sh']['id']}"))["status"] == "cancelled"
    # the order is owed everything again: reserved again where stock is left (Chicago still has 80 widgets
    # and 3 gadgets), nothing counted as shipped
    order = ok(api.get(f"/orders/{floor['big_sh']['order_id']}"))
    assert order["shipment_state"] == "none"
    assert [(li["reserved_qty"], li["shipped_qty"]) for li in order["lines"]] == [("20", "0"), ("2", "0")]


# --- packing --------------------------------------------------------------------------------------

def test_bad_scans_and_closes_are_refused_and_change_no_parcel(api, floor):
    pick_all(api, floor["wave"])
    sid = floor["big_sh"]["id"]
    widgets = pack(api, sid, [("WIDGET", 20)], "10.4", box="M")  # 20 x 0.5 kg + the M box's 0.4 kg
    assert widgets["status"] == "closed", widgets
    gadgets = open_parcel(api, sid)
    g = f"/packages/{gadgets['id']}"
    failures = refusals(api, [
        ("a scan into a closed parcel", "post", f"/packages/{widgets['id']}/scans",
         {"json": {"barcode": "GADGET", "quantity": 1}}, 409, None, None),
        ("a scan of quantity 0", "post", f"{g}/scans", {"json": {"barcode": "GADGET", "quantity": 0}},
         422, "quantity", None),
        ("a scan of a negative quantity", "post", f"{g}/scans", {"json": {"barcode": "GADGET", "quantity": -1}},
         422, "quantity", None),
        ("a scan without a barcode", "post", f"{g}/scans", {"json": {"barcode": "", "quantity": 1}},
         422, "barcode", None),
        ("a scan of half a gadget", "post", f"{g}/scans", {"json": {"barcode": "GADGET", "quantity": "0.5"}},
         422, "quantity", "too_many_decimals"),
        ("a scan into an unknown parcel", "post", "/packages/999999/scans", {"json": {"barcode": "GADGET"}},
         404, None, None),
        ("closing an empty parcel", "post", f"{g}/close", {"json": {"weight_kg": "2.6"}}, 422, "package", "empty"),
        ("a second open parcel", "post", f"/shipments/{sid}/packages", {}, 409, None, None),
        ("reviewing an open parcel", "post", f"{g}/review", {"json": {"decision": "release", "reason": "looks fine"}},
         409, None, None),
        ("reviewing a closed parcel", "post", f"/packages/{widgets['id']}/review",
         {"json": {"decision": "reopen", "reason": "check again"}}, 409, None, None),
    ])
    scan(api, gadgets["id"], "GADGET", 2)
    failures += refusals(api, [
        ("closing with an unknown box", "post", f"{g}/close", {"json": {"weight_kg": "2.8", "box_code": "XXL"}},
         422, "box_code", "unknown"),
        ("closing with a negative weight", "post", f"{g}/close", {"json": {"weight_kg": "-1"}}, 422, "weight_kg", None),
        ("closing without a weight", "post", f"{g}/close", {"json": {}}, 422, "weight_kg", "missing"),
        ("a review with an unknown decision", "post", f"{g}/review", {"json": {"decision": "ship it", "reason": "ok"}},
         422, "decision", None),
        ("shipping with a parcel still open", "post", f"/shipments/{sid}/ship", {"json": {}}, 409, None, None),
    ])
    assert not failures, "\n".join(failures)

    # The shipment names the open parcel when it refuses to ship; closed, it ships.
    r = api.post(f"/shipments/{sid}/ship", user="keeper", json={})
    assert str(gadgets["id"]) in assert_problem(r, 409)["detail"]
    assert ok(api.post(f"{g}/close", user="keeper", json={"weight_kg": "2.6", "box_code": "S"}))["status"] == "closed"
    assert ship(api, sid)["status"] == "shipped"


def test_a_shipment_ships_only_once_everything_picked_is_in_closed_parcels(api, floor):
    released, picked = floor["big_sh"]["id"], floor["tidy_sh"]["id"]
    failures = refusals(api, [
        ("a released shipment", "post", f"/shipments/{released}/ship", {"json": {}}, 409, None, None),
        ("an unknown shipment", "post", "/shipments/999999/ship", {"json": {}}, 404, None, None),
    ])
    pick_all(api, floor["wave"])
    problem = assert_problem(api.post(f"/shipments/{picked}/ship", user="keeper", json={}), 409)
    assert "WIDGET: 10 picked but not in a parcel" in problem["detail"] and problem["current_status"] == "picked"
    parcel = open_parcel(api, picked)
    scan(api, parcel["id"], "WIDGET", 5)  # half of it in a parcel still open
    failures += refusals(api, [
        ("a picked shipment, nothing packed", "post", f"/shipments/{released}/ship", {"json": {}}, 409, None, None),
        ("a picked shipment with an open parcel", "post", f"/shipments/{picked}/ship", {"json": {}}, 409, None, None),
    ])
    assert not failures, "\n".join(failures)
    problem = assert_problem(api.post(f"/shipments/{picked}/ship", user="keeper", json={}), 409)
    assert f"parcel {parcel['id']} is not closed" in problem["detail"]


# --- shipping -------------------------------------------------------------------------------------

LOCAL = {"code": "LOCAL", "name": "Chicago Couriers", "tracking_format": "fedex_express",
         "rate_table": {"carrier": "LOCAL", "currency": "USD", "origin_country": "US", "dim_divisor": 5000,
                        "zones": [{"origin": "606", "country": "US", "from": "600", "to": "629", "zone": 1}],
                        "services": [{"code": "GND", "name": "Same day", "transit_days": {"1": 1},
                                      "rates": [{"zone": 1, "breaks": [{"max_kg": "30", "price": "12.00"}]}]}]}}


def test_shipping_needs_a_known_carrier_that_serves_the_destination(api, floor):
    ok(api.post("/carriers", user="admin", json=LOCAL), 201)  # Chicago to Chicago only
    pick_all(api, floor["wave"])
    sid = floor["tidy_sh"]["id"]  # Los Angeles to Los Angeles
    pack(api, sid, [("WIDGET", 10)], "5.2", box="S")
    path = f"/shipments/{sid}/ship"
    failures = refusals(api, [
        ("an unknown carrier", "post", path, {"json": {"carrier": "NOPE"}}, 422, "carrier", "unknown"),
        ("a carrier that does not serve Los Angeles", "post", path, {"json": {"carrier": "LOCAL"}},
         422, "carrier", "no_service"),
        ("a service that does not serve Los Angeles", "post", path, {"json": {"carrier": "LOCAL", "service": "GND"}},
         422, "service", "no_service"),
        ("a service the carrier does not have", "post", path, {"json": {"carrier": "PARCELCO", "service": "OVERNIGHT"}},
         422, "service", "unknown"),
        ("a carrier code with spaces", "post", path, {"json": {"carrier": "PARCEL CO"}}, 422, "carrier", None),
        ("an unknown field", "post", path, {"json": {"carrier": "SWIFT", "insured": True}}, 422, "insured", None),
    ])
    assert not failures, "\n".join(failures)
    shipped = ship(api, sid, carrier="SWIFT", service="GND")
    assert (shipped["status"], shipped["carrier"], shipped["service"]) == ("shipped", "SWIFT", "GND")


def test_a_service_without_its_carrier_is_refused_not_ignored(api, floor):
    """Naming a service but no carrier used to be ignored: rate shopping then picked another service."""
    pick_all(api, floor["wave"])
    sid = floor["tidy_sh"]["id"]
    pack(api, sid, [("WIDGET", 10)], "5.2", box="S")
    failures = refusals(api, [
        ("a service and no carrier", "post", f"/shipments/{sid}/ship", {"json": {"service": "EXP"}},
         422, "carrier", "required"),
    ])
    assert not failures, "\n".join(failures)


# --- carriers -------------------------------------------------------------------------------------

def _overlapping(code: str) -> dict:
    table = rate_table(code, {2: "6.00", 5: "9.00", 8: "14.00"}, {2: "18.00", 5: "24.00", 8: "30.00"}, "10")
    # Chicago's 600-629 band is zone 2; this one says 620-650 is zone 3: which zone is 62x?
    table["zones"].append({"origin": "606", "country": "US", "from": "620", "to": "650", "zone": 3})
    return table


def test_bad_carriers_and_rate_tables_are_refused_and_the_old_table_stays(api, floor):
    good = rate_table("NEWCO", {2: "5.00", 5: "8.00", 8: "12.00"}, {2: "15.00", 5: "20.00", 8: "25.00"}, "5")
    carrier = {"code": "NEWCO", "name": "New Co Freight", "tracking_format": "fedex_express"}
    overlap = len(good["zones"])  # the index of the band appended by _overlapping
    quote_body = {"warehouse": "CHI", "country": "US", "postal_code": "60601", "parcels": [{"weight_kg": "2"}]}
    quotes_before = ok(api.post("/rates", user="keeper", json=quote_body))
    failures = refusals(api, [
        ("overlapping postal bands", "post", "/carriers",
         {"user": "admin", "json": {**carrier, "rate_table": _overlapping("NEWCO")}},
         422, f"rate_table.zones[{overlap}].from", "overlap"),
        ("an unknown tracking format", "post", "/carriers",
         {"user": "admin", "json": {**carrier, "tracking_format": "pigeon", "rate_table": good}},
         422, "tracking_format", "unknown"),
        ("a rate table without services", "post", "/carriers",
         {"user": "admin", "json": {**carrier, "rate_table": {k: v for k, v in good.items() if k != "services"}}},
         422, "rate_table.services", "missing"),
        ("a rate table in euros for a company that pays in dollars (rate shopping compares one currency)",
         "post", "/carriers", {"user": "admin", "json": {**carrier, "rate_table": {**good, "currency": "EUR"}}},
         422, "rate_table.currency", "mismatch"),
        ("replacing a rate table with one in euros", "put", "/carriers/PARCELCO/rate-table",
         {"user": "admin", "json": {"rate_table": {**good, "carrier": "PARCELCO", "currency": "EUR"},
                                    "reason": "new prices"}}, 422, "rate_table.currency", "mismatch"),
        ("a code in use", "post", "/carriers",
         {"user": "admin", "json": {**carrier, "code": "PARCELCO", "rate_table": {**good, "carrier": "PARCELCO"}}},
         409, None, None),
        ("a webhook secret too short to be safe", "post", "/carriers",
         {"user": "admin", "json": {**carrier, "webhook_secret": "abc", "rate_table": good}},
         422, "webhook_secret", None),
        ("replacing a rate table with overlapping bands", "put", "/carriers/PARCELCO/rate-table",
         {"user": "admin", "json": {"rate_table": _overlapping("PARCELCO"), "reason": "new prices"}},
         422, f"rate_table.zones[{overlap}].from", "overlap"),
        ("replacing a rate table with a price in words", "put", "/carriers/PARCELCO/rate-table",
         {"user": "admin", "json": {"rate_table": {**good, "carrier": "PARCELCO", "surcharges": {"fuel_pct": "ten"}},
                                    "reason": "new prices"}}, 422, "rate_table.surcharges.fuel_pct", "invalid"),
        ("replacing the rate table of an unknown carrier", "put", "/carriers/NOPE/rate-table",
         {"user": "admin", "json": {"rate_table": good, "reason": "new prices"}}, 404, None, None),
    ])
    assert not failures, "\n".join(failures)
    # Both problems of one request are named together.
    r = api.post("/carriers", user="admin",
                 json={**carrier, "tracking_format": "pigeon", "rate_table": _overlapping("NEWCO")})
    fields = {e["field"] for e in assert_problem(r, 422)["errors"]}
    assert {"tracking_format", f"rate_table.zones[{overlap}].from"} <= fields
    assert [c["code"] for c in ok(api.get("/carriers", user="keeper"))] == ["PARCELCO", "SWIFT"]
    assert ok(api.post("/rates", user="keeper", json=quote_body)) == quotes_before  # the old prices hold


# --- tracking -------------------------------------------------------------------------------------

def signed(body: dict | bytes, secret: str = WEBHOOK_SECRET) -> tuple[bytes, dict]:
    raw = body if isinstance(body, bytes) else json.dumps(body).encode()
    sig = "sha256=" + hmac.new(secret.encode(), raw, hashlib.sha256).hexdigest()
    return raw, {"X-O2C-Signature": sig, "Content-Type": "application/json"}


@pytest.fixture
def shipped(api, floor):
    """BIGBUY's shipment gone with ParcelCo (UPS numbers), TIDY's with Swift (FedEx numbers, no webhook
    secret), and LOYAL's packed in Chicago, still in the warehouse."""
    loyal = place(api, "LOYAL", [("WIDGET", "2")])
    wave2 = release(api, order_ids=[loyal["id"]])
    pick_all(api, floor["wave"])
    pick_all(api, wave2)
    pack(api, floor["big_sh"]["id"], [("WIDGET", 20), ("GADGET", 2)], "12.3", box="M")
    pack(api, floor["tidy_sh"]["id"], [("WIDGET", 10)], "5.2", box="S")
    loyal_sh = shipment_of(api, loyal["id"])
    waiting = pack(api, loyal_sh["id"], [("WIDGET", 2)], "1.2", box="S")
    big = ship(api, floor["big_sh"]["id"], carrier="PARCELCO", service="GND")
    tidy = ship(api, floor["tidy_sh"]["id"], carrier="SWIFT", service="GND")
    return {"big": big["packages"][0]["tracking_number"], "tidy": tidy["packages"][0]["tracking_number"],
            "waiting_package": waiting["id"], "big_id": big["id"]}


def at(day: int, hour: int = 12) -> str:
    return datetime(2026, 12, day, hour, tzinfo=timezone.utc).isoformat()


def test_bad_tracking_events_are_refused_and_record_nothing(api, shipped):
    number = shipped["big"]
    event = {"tracking_number": number, "kind": "in_transit", "occurred_at": at(1)}
    failures = refusals(api, [
        ("an unknown tracking number", "post", "/tracking-events",
         {"json": {**event, "tracking_number": "1Z999AA10123456784"}}, 422, "tracking_number", "unknown"),
        ("a time without a time zone", "post", "/tracking-events",
         {"json": {**event, "occurred_at": "2026-12-01T12:00:00"}}, 422, "occurred_at", "no_timezone"),
        ("a time that is no time", "post", "/tracking-events", {"json": {**event, "occurred_at": "yesterday"}},
         422, "occurred_at", None),
        ("an unknown kind", "post", "/tracking-events", {"json": {**event, "kind": "teleported"}}, 422, "kind", None),
        ("no tracking number", "post", "/tracking-events", {"json": {"kind": "in_transit", "occurred_at": at(1)}},
         422, "tracking_number", "missing"),
    ])
    assert not failures, "\n".join(failures)
    kinds = [e["kind"] for e in ok(api.get(f"/shipments/{shipped['big_id']}/tracking-events", user="keeper"))]
    assert kinds == ["shipped"]


def test_a_tracking_file_with_one_bad_row_records_none_of_its_rows(api, shipped):
    big, tidy = shipped["big"], shipped["tidy"]
    header = "tracking_number,kind,occurred_at,location,event_id\n"

    def rows(*lines):
        return header + "".join(f"{n},{k},{t},Somewhere,{e}\n" for n, k, t, e in lines)

    good_a = (big, "in_transit", at(1), "ev-1")
    good_b = (tidy, "in_transit", at(1, 14), "ev-2")
    failures = refusals(api, [
        ("an unknown kind on line 3", "post", "/tracking-events/file",
         {"content": rows(good_a, (big, "teleported", at(2), "ev-3"), good_b), "headers": CSV},
         422, "line 3.kind", "unknown"),
        ("a time without offset on line 2", "post", "/tracking-events/file",
         {"content": rows((big, "in_transit", "2026-12-01T12:00:00", "ev-3"), good_b), "headers": CSV},
         422, "line 2.occurred_at", "invalid"),
        ("an unknown tracking number on line 3", "post", "/tracking-events/file",
         {"content": rows(good_a, ("1Z999AA10123456784", "in_transit", at(2), "ev-3"), good_b), "headers": CSV},
         422, "line 3", "refused"),
        ("a row with more fields than the header on line 3 (a comma in the place, unquoted)", "post",
         "/tracking-events/file", {"content": rows(good_a) + f"{tidy},in_transit,{at(2)},Joliet, IL,ev-4\n",
                                   "headers": CSV}, 422, "line 3", "too_many_fields"),
        ("a place longer than a place may be on line 2", "post", "/tracking-events/file",
         {"content": rows((big, "in_transit", at(2), "ev-5")).replace("Somewhere", "S" * 201), "headers": CSV},
         422, "line 2.location", "too_long"),
        ("a cell of 2 MiB on line 2 (beyond what the csv reader takes)", "post", "/tracking-events/file",
         {"content": header + f'{big},in_transit,{at(1)},"{"x" * (2 << 20)}",ev-5\n', "headers": CSV},
         422, "line 2", "unreadable"),
        ("no kind column", "post", "/tracking-events/file",
         {"content": f"tracking_number,occurred_at\n{big},{at(1)}\n", "headers": CSV}, 422, "file", "missing_columns"),
        ("an empty file", "post", "/tracking-events/file", {"content": "", "headers": CSV},
         422, "file", "missing_columns"),
        ("not CSV", "post", "/tracking-events/file", {"json": {"tracking_number": big}}, 415, None, None),
    ])
    assert not failures, "\n".join(failures)
    r = api.post("/tracking-events/file", user="keeper", content=rows(good_a, good_b), headers=CSV)
    assert ok(r) == {"created": 2, "duplicates": 0}


def test_a_webhook_needs_the_carriers_signature_and_its_own_parcels(api, shipped):
    event = {"tracking_number": shipped["big"], "kind": "in_transit", "occurred_at": at(1), "event_id": "pc-1"}
    raw, headers = signed(event)
    failures = []
    cases = [
        ("a body changed after signing", "PARCELCO", raw + b" ", headers, 422, "X-O2C-Signature"),
        ("a signature with another secret", "PARCELCO", *signed(event, "not-the-secret-at-all"),
         422, "X-O2C-Signature"),
        ("no signature", "PARCELCO", raw, {"Content-Type": "application/json"}, 422, "X-O2C-Signature"),
        ("a carrier without a webhook secret", "SWIFT", *signed(event, "any-secret-0123456789"), 409, None),
        ("an unknown carrier", "NOPE", raw, headers, 404, None),
        ("ParcelCo reporting a Swift parcel", "PARCELCO", *signed({**event, "tracking_number": shipped["tidy"]}),
         422, "tracking_number"),
        ("a signed body with an unknown kind", "PARCELCO", *signed({**event, "kind": "teleported"}), 422, "kind"),
    ]
    for label, carrier, body, hdrs, status, field in cases:
        with refused(label, failures, everything):
            assert_problem(api.client.post(f"{WEBHOOK}/{carrier}", content=body, headers=hdrs), status, field)
    assert not failures, "\n".join(failures)
    assert api.client.post(f"{WEBHOOK}/PARCELCO", content=raw, headers=headers).status_code == 201


def test_a_tracking_event_for_a_shipment_still_in_the_warehouse_is_refused(api, shipped):
    """Numbers are given when a shipment ships, so this is a carrier scanning a label that was printed
    for a parcel not yet handed over (planted here on LOYAL's packed parcel)."""
    early = tracking.generate("ups", 9_000_001, account="A1B2C3", service="03")
    transaction(lambda s: s.execute(update(Package).where(Package.id == shipped["waiting_package"])
                                    .values(tracking_number=early)))
    failures = refusals(api, [
        ("by API", "post", "/tracking-events",
         {"json": {"tracking_number": early, "kind": "in_transit", "occurred_at": at(1)}}, 409, None, None),
        ("in a file", "post", "/tracking-events/file",
         {"content": f"tracking_number,kind,occurred_at\n{shipped['big']},in_transit,{at(1)}\n"
                     f"{early},in_transit,{at(1)}\n",
          "headers": CSV}, 422, "line 3", "refused"),
    ])
    assert not failures, "\n".join(failures)
    r = api.post("/tracking-events", user="keeper",
                 json={"tracking_number": early, "kind": "delivered", "occurred_at": at(1)})
    assert "has not been handed to the carrier" in assert_problem(r, 409)["detail"]
