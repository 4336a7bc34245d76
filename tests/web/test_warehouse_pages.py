"""The warehouse screens: release a wave, pick from a printable list, pack at the scanner station (a
keyboard-wedge scanner posts each code; htmx swaps the counts and triggers the beep), ship and print the
label. Set up through the JSON API, then driven through the pages as the warehouse keeper."""
from __future__ import annotations

import json
import re

from o2c.core.db import read_session
from o2c.fulfillment import service as fulfillment
from tests.fulfillment import flow
from tests.shipping_world import equip
from tests.web.support import log_in

WIDGET_GTIN = "04006381333931"


def flash(b) -> str:
    """The one-time message the next page shows."""
    m = re.search(r'<p class="flash">(.*?)</p>', b.get("/app/warehouse").text, re.S)
    return m.group(1) if m else ""


def picked_shipment(api, lines=(("WIDGET", "3"),)) -> dict:
    """An order released, its pick list confirmed in full: a shipment at the pack station."""
    order = flow.place(api, "BIGBUY", list(lines))
    wave = flow.release(api, order_ids=[order["id"]])
    flow.pick_all(api, wave)
    return flow.shipment_of(api, order["id"])


def counts(html: str, sku: str) -> tuple[str, str]:
    """(scanned, expected) of one SKU in the pack station's item list."""
    row = re.search(rf'<tr data-sku="{sku}">(.*?)</tr>', html, re.S).group(1)
    return (re.search(r'class="scanned">([^<]*)<', row).group(1), re.search(r'class="expected">([^<]*)<', row).group(1))


def result(html: str) -> tuple[str, str]:
    m = re.search(r'<div class="scan-result (ok|bad)" role="alert">(.*?)</div>', html, re.S)
    return m.group(1), m.group(2)


def test_the_keeper_releases_a_wave_from_the_page_and_sees_what_the_optimiser_saved(app, api):
    equip(api)
    order = flow.place(api, "BIGBUY", [("WIDGET", "3")])
    other = flow.place(api, "TIDY", [("WIDGET", "2")])
    b = log_in(app, "keeper")
    page = b.get("/app/warehouse")
    assert page.status_code == 200
    assert order["number"] in page.text and other["number"] in page.text
    assert "Release a wave" in page.text

    r = b.post("/app/warehouse/waves", {"order_ids": str(order["id"]), "max_orders": "500"})
    assert r.status_code == 303 and r.headers["location"] == "/app/warehouse"
    message = flash(b)
    assert re.search(r"Released wave WV\d{6}: 1 order\(s\), 1 shipment\(s\), 1 pick list\(s\)", message), message
    assert "less than greedy" in message
    page = b.get("/app/warehouse").text
    ready = page.split('id="waves-h"')[0]
    assert order["number"] not in ready and other["number"] in ready  # only the ticked order left the list
    assert flow.shipment_of(api, order["id"])["status"] == "released"


def test_a_bad_wave_option_is_refused_beside_its_field_and_nothing_is_released(app, api):
    order = flow.place(api, "BIGBUY", [("WIDGET", "3")])
    b = log_in(app, "keeper")
    before = flow.everything()
    r = b.post("/app/warehouse/waves", {"max_orders": "500", "pickers": "0"})
    assert r.status_code == 422
    assert 'id="f-pickers-error"' in r.text and 'value="0"' in r.text
    assert order["number"] in r.text
    assert flow.changed(before, flow.everything()) == []


def test_waiting_for_wave_lists_the_orders_a_wave_would_take(api, world):
    company = world["ids"]["company"]
    order = flow.place(api, "BIGBUY", [("WIDGET", "3"), ("GADGET", "1")])
    with read_session() as s:
        [row] = fulfillment.waiting_for_wave(s, company)
    assert (row["number"], row["customer"], row["lines"], row["units"]) == (order["number"], "BIGBUY", 2, 4)
    flow.release(api)
    with read_session() as s:
        assert fulfillment.waiting_for_wave(s, company) == []


def test_the_pick_list_prints_its_bins_in_walking_order_and_confirms_a_short_pick(app, api):
    equip(api)
    order = flow.place(api, "BIGBUY", [("GADGET", "2"), ("WIDGET", "5")])
    wave = flow.release(api, order_ids=[order["id"]])
    [pl] = flow.pick_lists(api, wave)
    b = log_in(app, "keeper")
    page = b.get(f"/app/warehouse/pick-lists/{pl['id']}")
    assert page.status_code == 200
    assert '<button type="button" data-print>Print</button>' in page.text
    body = page.text
    # the walking path: aisle A (widgets) before zone B (gadgets), with product and quantity
    assert body.index("A-01-05-1") < body.index("B-03-02-2")
    assert "Widget, steel" in body and "Gadget, deluxe" in body
    widget, gadget = (t for stop in pl["stops"] for t in stop["tasks"])
    assert f'name="qty-{widget["task_id"]}" value="5"' in body

    r = b.post(f"/app/warehouse/pick-lists/{pl['id']}/picks",
               {"only": str(widget["task_id"]), f"qty-{widget['task_id']}": "4", f"qty-{gadget['task_id']}": "2"})
    assert r.status_code == 303
    after = flow.ok(api.get(f"/pick-lists/{pl['id']}", user="keeper"))
    assert [t["picked_qty"] for stop in after["stops"] for t in stop["tasks"]] == ["4", None]
    assert "short" in b.get(f"/app/warehouse/pick-lists/{pl['id']}").text

    # more than reserved: refused beside the line, the typed value kept, nothing confirmed
    before = flow.everything()
    r = b.post(f"/app/warehouse/pick-lists/{pl['id']}/picks", {"only": "", f"qty-{gadget['task_id']}": "3"})
    assert r.status_code == 422
    assert f'id="f-qty-{gadget["task_id"]}-error"' in r.text and "more than the 2" in r.text
    assert f'name="qty-{gadget["task_id"]}" value="3"' in r.text
    assert flow.changed(before, flow.everything()) == []

    r = b.post(f"/app/warehouse/pick-lists/{pl['id']}/picks", {"only": "", f"qty-{gadget['task_id']}": "2"})
    assert r.status_code == 303
    assert flow.shipment_of(api, order["id"])["status"] == "picked"
    r = b.post(f"/app/warehouse/pick-lists/{pl['id']}/picks", {"only": ""})  # a second click: nothing left
    assert r.status_code == 409 and "nothing left to confirm" in r.text


def test_the_pack_station_counts_a_right_scan_and_beeps_ok(app, api):
    sh = picked_shipment(api)
    b = log_in(app, "keeper")
    page = b.get(f"/app/warehouse/pack/{sh['id']}")
    assert page.status_code == 200
    assert "data-scan-input" in page.text and "autofocus" in page.text
    assert re.search(r'<label for="f-barcode">Scan item barcode</label>', page.text)
    assert f'hx-post="/app/warehouse/pack/{sh["id"]}/scan"' in page.text
    assert counts(page.text, "WIDGET") == ("0", "3")

    r = b.htmx(f"/app/warehouse/pack/{sh['id']}/scan", {"barcode": WIDGET_GTIN})
    assert r.status_code == 200
    assert json.loads(r.headers["HX-Trigger"]) == {"o2c-scan": {"ok": True}}
    assert "<html" not in r.text and 'id="pack-station"' in r.text  # a fragment to swap in
    assert counts(r.text, "WIDGET") == ("1", "3")
    assert result(r.text) == ("ok", "WIDGET: 1 of 3 in this parcel")


def test_a_wrong_item_is_refused_and_nothing_is_counted(app, api):
    sh = picked_shipment(api)
    b = log_in(app, "keeper")
    b.htmx(f"/app/warehouse/pack/{sh['id']}/scan", {"barcode": WIDGET_GTIN})
    before = flow.everything()
    r = b.htmx(f"/app/warehouse/pack/{sh['id']}/scan", {"barcode": "GADGET"})  # in the catalogue, not here
    assert json.loads(r.headers["HX-Trigger"]) == {"o2c-scan": {"ok": False}}
    assert result(r.text) == ("bad", "Wrong item: SKU GADGET is not in this shipment: take it out of the parcel")
    assert counts(r.text, "WIDGET") == ("1", "3")
    r = b.htmx(f"/app/warehouse/pack/{sh['id']}/scan", {"barcode": WIDGET_GTIN, "quantity": "3"})
    assert result(r.text)[0] == "bad" and "only 2 more to pack" in result(r.text)[1]
    assert flow.changed(before, flow.everything()) == []


def test_an_unknown_barcode_says_so(app, api):
    sh = picked_shipment(api)
    b = log_in(app, "keeper")
    before = flow.everything()
    r = b.htmx(f"/app/warehouse/pack/{sh['id']}/scan", {"barcode": "NOPE-123"})
    assert json.loads(r.headers["HX-Trigger"]) == {"o2c-scan": {"ok": False}}
    state, message = result(r.text)
    assert state == "bad" and message.startswith("Unknown barcode NOPE-123")
    assert flow.changed(before, flow.everything()) == []  # not even a parcel was opened


def test_the_station_works_without_javascript(app, api):
    sh = picked_shipment(api)
    b = log_in(app, "keeper")
    r = b.post(f"/app/warehouse/pack/{sh['id']}/scan", {"barcode": WIDGET_GTIN, "quantity": "2"})
    assert r.status_code == 303 and r.headers["location"] == f"/app/warehouse/pack/{sh['id']}"
    page = b.get(r.headers["location"]).text
    assert counts(page, "WIDGET") == ("2", "3") and "WIDGET: 2 of 3 in this parcel" in page
    r = b.post(f"/app/warehouse/pack/{sh['id']}/scan", {"barcode": "NOPE-123"})
    assert r.status_code == 422 and result(r.text) == ("bad", "Unknown barcode NOPE-123: no product has this GTIN or SKU")
    assert counts(r.text, "WIDGET") == ("2", "3")


def test_pack_close_ship_and_print_the_label(app, api):
    equip(api)
    sh = picked_shipment(api)
    b = log_in(app, "keeper")
    r = b.post(f"/app/warehouse/pack/{sh['id']}/scan", {"barcode": WIDGET_GTIN, "quantity": "3"})
    assert r.status_code == 303
    page = b.get(f"/app/warehouse/pack/{sh['id']}").text
    assert "Suggested box: <strong>S</strong>" in page

    r = b.post(f"/app/warehouse/pack/{sh['id']}/close", {"weight_kg": "heavy"})
    assert r.status_code == 422 and 'id="f-weight_kg-error"' in r.text and 'value="heavy"' in r.text
    r = b.post(f"/app/warehouse/pack/{sh['id']}/close", {"weight_kg": "1.7"})  # 3 x 0.5 kg + 0.2 kg box
    assert r.status_code == 303 and r.headers["location"] == f"/app/warehouse/ship/{sh['id']}"

    board = b.get("/app/warehouse").text
    assert f'href="/app/warehouse/ship/{sh["id"]}">Ship</a>' in board.split('id="ship-h"')[1]
    page = b.get(f"/app/warehouse/ship/{sh['id']}")
    assert page.status_code == 200 and "Confirm and print labels" in page.text
    r = b.post(f"/app/warehouse/ship/{sh['id']}", {"service": ""})
    assert r.status_code == 303
    shipped = flow.ok(api.get(f"/shipments/{sh['id']}", user="keeper"))
    [parcel] = shipped["packages"]
    assert shipped["status"] == "shipped" and parcel["tracking_number"]
    page = b.get(f"/app/warehouse/ship/{sh['id']}").text
    assert parcel["tracking_number"] in page and shipped["carrier"] in page
    assert f"/app/warehouse/parcels/{parcel['id']}/label.zpl" in page

    pdf = b.get(f"/app/warehouse/parcels/{parcel['id']}/label.pdf")
    assert pdf.status_code == 200 and pdf.content.startswith(b"%PDF")
    assert pdf.headers["content-type"] == "application/pdf" and pdf.headers["content-disposition"].startswith("inline")
    assert pdf.content == api.get(f"/packages/{parcel['id']}/label.pdf", user="keeper").content
    zpl = b.get(f"/app/warehouse/parcels/{parcel['id']}/label.zpl")
    assert zpl.status_code == 200 and zpl.text.startswith("^XA") and parcel["tracking_number"] in zpl.text
    slip = b.get(f"/app/warehouse/ship/{sh['id']}/packing-slip.pdf")
    assert slip.status_code == 200 and slip.content.startswith(b"%PDF")


def test_a_parcel_off_weight_is_held_and_released_with_a_reason(app, api):
    equip(api)
    sh = picked_shipment(api)
    b = log_in(app, "keeper")
    b.post(f"/app/warehouse/pack/{sh['id']}/scan", {"barcode": WIDGET_GTIN, "quantity": "3"})
    r = b.post(f"/app/warehouse/pack/{sh['id']}/close", {"weight_kg": "5"})
    assert r.status_code == 303 and r.headers["location"] == f"/app/warehouse/pack/{sh['id']}"
    page = b.get(r.headers["location"]).text
    assert "held by the weight check" in page and "Decide" in page
    [pkg] = flow.ok(api.get(f"/shipments/{sh['id']}", user="keeper"))["packages"]
    r = b.post(f"/app/warehouse/parcels/{pkg['id']}/review", {"decision": "release", "reason": ""})
    assert r.status_code == 422 and f'id="f-reason-{pkg["id"]}-error"' in r.text
    r = b.post(f"/app/warehouse/parcels/{pkg['id']}/review", {"decision": "release", "reason": "scale was off"})
    assert r.status_code == 303
    assert flow.shipment_of(api, sh["order_id"])["status"] == "packed"


def test_users_without_the_warehouse_role_cannot_act(app, api):
    sh = picked_shipment(api)
    flow.place(api, "TIDY", [("WIDGET", "1")])
    for user in ("desk", "viewer"):
        b = log_in(app, user)
        assert b.get("/app/warehouse").status_code == 403
        assert "Warehouse" not in b.get("/app").text.split("</nav>")[0]
        before = flow.everything()
        assert b.post("/app/warehouse/waves", {"max_orders": "500"}).status_code == 403
        assert b.post(f"/app/warehouse/pack/{sh['id']}/scan", {"barcode": WIDGET_GTIN}).status_code == 403
        assert flow.changed(before, flow.everything()) == []
    portal = log_in(app, "buyer")
    assert portal.get(f"/app/warehouse/pack/{sh['id']}").status_code == 403
