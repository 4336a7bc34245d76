"""Warehouse: waves, pick lists, the pack station with its scanner field, ship confirmation and labels.

Everyone with stock.write or fulfillment.write sees these screens; only fulfillment.write acts (the
services check it again). Every write goes through the same fulfilment and shipping services as the API.
"""
from __future__ import annotations

import json
from decimal import Decimal
from typing import Annotated

from fastapi import APIRouter, Depends, Request
from pydantic import ValidationError
from starlette.datastructures import FormData

from o2c.core.db import read_session, transaction
from o2c.core.errors import Conflict, O2CError
from o2c.core.money import plain
from o2c.core.schemas import IdPath
from o2c.fulfillment import service as fulfillment
from o2c.fulfillment.packing import ScanRefused
from o2c.fulfillment.schemas import CloseIn, PicksIn, ReviewIn, ScanIn, WaveIn
from o2c.shipping import service as shipping
from o2c.shipping.schemas import ShipIn
from o2c.web.ui.context import BackOfficeDep, Ui
from o2c.web.ui.forms import Errors, attempt, errors_of, text, values
from o2c.web.ui.pages import download, fragment, money, page, redirect

router = APIRouter(include_in_schema=False)
HOME = "/app/warehouse"
WHY = "needs the warehouse role (fulfillment.write)"


async def _form(request: Request) -> FormData:
    return await request.form()


FormDep = Annotated[FormData, Depends(_form)]


def _viewer(ui: Ui) -> None:
    ui.require_any("fulfillment.write", "stock.write")


def _actor(ui: Ui) -> None:
    ui.require_any("fulfillment.write")


def _only(errors: Errors, fields: tuple[str, ...]) -> Errors:
    """Errors of fields the form shows stay beside them; any other goes above the form."""
    out = {k: v for k, v in errors.items() if k in fields}
    rest = [v for k, v in errors.items() if k not in fields]
    if rest:
        out["_form"] = "; ".join(rest)
    return out


# --- the board --------------------------------------------------------------------------------------

def _board(ui: Ui) -> dict:
    with read_session() as s:
        waves = [fulfillment.wave_view(s, w) for w in fulfillment.list_waves(s, ui.company_id, 50)
                 if w.status == "released"]
        pick_lists = [fulfillment.pick_list_view(s, fulfillment.get_pick_list(s, ui.company_id, i))
                      for w in waves for i in w["pick_lists"]]

        def shipments(status: str) -> list[dict]:
            return [fulfillment.shipment_view(s, sh) for sh in fulfillment.list_shipments(
                s, ui.actor, ui.company_id, status=status, order_id=None, after=0, limit=100)]

        return {"ready": fulfillment.waiting_for_wave(s, ui.company_id), "waves": waves,
                "pick_lists": [pl for pl in pick_lists if pl["status"] == "open"],
                "packing": shipments("released") + shipments("picked"), "to_ship": shipments("packed")}


def _board_page(ui: Ui, status: int = 200, form_values: dict | None = None, errors: Errors | None = None):
    return page(ui, "app/warehouse/index.html", status, active=HOME, title="Warehouse", why=WHY,
                values=form_values or {"max_orders": "500"}, errors=errors or {}, **_board(ui))


@router.get(HOME)
def board(ui: BackOfficeDep):
    _viewer(ui)
    return _board_page(ui)


def wave_summary(view: dict, currency: str) -> str:
    """The flash after a release: what the wave holds and what the optimiser saved against greedy."""
    report = view["report"]
    text_ = (f"Released wave {view['number']}: {report.get('orders', 0)} order(s), "
             f"{report.get('shipments', 0)} shipment(s), {len(view['pick_lists'])} pick list(s)")
    groups = [g for g in report.get("groups", []) if "saving" in g]
    if groups:
        saving = sum((Decimal(g["saving"]) for g in groups), Decimal(0))
        greedy = sum((Decimal(g["greedy_cost"]) for g in groups), Decimal(0))
        text_ += f"; shipping {money(greedy - saving, currency)}, {money(saving, currency)} less than greedy"
    elif any(g.get("method") == "kept" for g in report.get("groups", [])):
        text_ += "; no carrier rate tables, so each order ships from where its stock is reserved"
    return text_


@router.post(f"{HOME}/waves")
def release_wave(ui: BackOfficeDep, form: FormDep):
    _actor(ui)
    typed = values(form)
    body = {"order_ids": form.getlist("order_ids") or None, "max_orders": text(form, "max_orders") or 500,
            "pickers": text(form, "pickers"), "max_lines": text(form, "max_lines")}
    view, errors = attempt(lambda s: fulfillment.wave_view(
        s, fulfillment.release_wave(s, ui.actor, ui.company_id, WaveIn.model_validate(body))))
    if errors:
        return _board_page(ui, 422, typed, _only(errors, ("max_orders", "pickers", "max_lines")))
    return redirect(ui, HOME, flash=wave_summary(view, ui.currency))


# --- pick lists -------------------------------------------------------------------------------------

def _pick_list_page(ui: Ui, pick_list_id: int, status: int = 200, form_values: dict | None = None,
                    errors: Errors | None = None):
    with read_session() as s:
        view = fulfillment.pick_list_view(s, fulfillment.get_pick_list(s, ui.company_id, pick_list_id))
    typed = form_values or {f"qty-{t['task_id']}": plain(t["quantity"]) for stop in view["stops"] for t in stop["tasks"]}
    return page(ui, "app/warehouse/pick_list.html", status, active=HOME, title=f"Pick list {view['number']}",
                pl=view, values=typed, errors=errors or {}, why=WHY)


@router.get(HOME + "/pick-lists/{pick_list_id}")
def pick_list(pick_list_id: IdPath, ui: BackOfficeDep):
    _viewer(ui)
    return _pick_list_page(ui, pick_list_id)


@router.post(HOME + "/pick-lists/{pick_list_id}/picks")
def confirm_picks(pick_list_id: IdPath, ui: BackOfficeDep, form: FormDep):
    """One line (the button's `only`) or every open line, each at the quantity typed: less is a short pick."""
    _actor(ui)
    only = text(form, "only")
    with read_session() as s:
        view = fulfillment.pick_list_view(s, fulfillment.get_pick_list(s, ui.company_id, pick_list_id))
    open_ids = [t["task_id"] for stop in view["stops"] for t in stop["tasks"] if t["picked_qty"] is None]
    ids = [i for i in open_ids if str(i) == only] if only else open_ids
    if not ids:
        return _pick_list_page(ui, pick_list_id, 409, values(form), {"_form": "nothing left to confirm on this line or list"})
    picks = [{"task_id": i, "quantity": text(form, f"qty-{i}") or ""} for i in ids]
    result, errors = attempt(lambda s: fulfillment.confirm_picks(
        s, ui.actor, ui.company_id, pick_list_id, PicksIn.model_validate({"picks": picks})))
    if errors:
        named = {f"picks[{n}].quantity": f"qty-{i}" for n, i in enumerate(ids)}
        errors = {named.get(k, k): v for k, v in errors.items()}
        return _pick_list_page(ui, pick_list_id, 422, values(form), _only(errors, tuple(named.values())))
    short = [p for p, t in zip(picks, ids) if _short(view, t, p["quantity"])]
    note = f" ({len(short)} short)" if short else ""
    return redirect(ui, f"{HOME}/pick-lists/{pick_list_id}", flash=f"Confirmed {len(picks)} pick(s){note}")


def _short(view: dict, task_id: int, typed: str) -> bool:
    task = next(t for stop in view["stops"] for t in stop["tasks"] if t["task_id"] == task_id)
    return Decimal(typed) < task["quantity"]


# --- pack station -----------------------------------------------------------------------------------

def _station(ui: Ui, shipment_id: int) -> dict:
    with read_session() as s:
        view = fulfillment.pack_view(s, ui.actor, ui.company_id, shipment_id)
        pkg = view["open_package"]
        box = (fulfillment.suggest_box(s, ui.actor, ui.company_id, pkg["id"])
               if pkg and pkg["items"] else None)
        boxes = [(b.code, b.code) for b in fulfillment.list_boxes(s, ui.company_id)]
    return {"sh": view, "box": box, "boxes": boxes, "why": WHY, "review_id": None}


def _pack_page(ui: Ui, shipment_id: int, status: int = 200, **ctx):
    data = _station(ui, shipment_id)
    return page(ui, "app/warehouse/pack.html", status, active=HOME, title=f"Pack {data['sh']['number']}",
                **{"values": {}, "errors": {}, "result": None, **data, **ctx})


@router.get(HOME + "/pack/{shipment_id}")
def pack_station(shipment_id: IdPath, ui: BackOfficeDep):
    _viewer(ui)
    return _pack_page(ui, shipment_id)


REFUSED = {"wrong_item": "Wrong item", "extra_item": "Too many", "invalid_barcode": "Unreadable barcode",
           "not_positive": "Bad quantity"}


def _refusal(exc: Exception, barcode: str) -> str:
    if isinstance(exc, ScanRefused) and exc.code == "unknown_barcode":
        return f"Unknown barcode {barcode}: no product has this GTIN or SKU"
    errors = errors_of(exc)
    if isinstance(exc, ValidationError):  # pydantic's words do not name the field
        errors = {k: f"{k}: {v}" for k, v in errors.items()}
    message = "; ".join(errors.values())
    head = REFUSED.get(exc.code) if isinstance(exc, ScanRefused) else None
    return f"{head}: {message}" if head else f"Refused: {message}"


def _scan_into_parcel(ui: Ui, shipment_id: int, barcode: str, quantity: str):
    """The scan goes into the open parcel, opening one first if none is: the packer only scans. A refused
    scan keeps nothing, not even the parcel it opened."""
    data = ScanIn.model_validate({"barcode": barcode, "quantity": quantity or "1"})

    def work(s):
        # locked, so two quick scans of a fresh shipment open one parcel between them, not two
        sh = fulfillment.get_shipment(s, ui.actor, ui.company_id, shipment_id, lock=True)
        pkg = next((p for p in sh.packages if p.status == "open"), None)
        if pkg is None:
            pkg = fulfillment.open_package(s, ui.actor, ui.company_id, shipment_id)
        return fulfillment.scan(s, ui.actor, ui.company_id, pkg.id, data.barcode, data.quantity)
    return transaction(work)


@router.post(HOME + "/pack/{shipment_id}/scan")
def scan(shipment_id: IdPath, ui: BackOfficeDep, form: FormDep):
    """One scan (a keyboard-wedge scanner types the code and Enter). htmx gets the station back with
    HX-Trigger o2c-scan ok or not (the beep); without JavaScript the form posts and comes back here."""
    _actor(ui)
    barcode = (text(form, "barcode") or "")
    try:
        if not barcode:
            raise ScanRefused("invalid_barcode", "the scan is empty: scan the item again")
        out = _scan_into_parcel(ui, shipment_id, barcode, text(form, "quantity") or "1")
        ok = True
        message = (f"{out['sku']}: {plain(out['packed'])} of {plain(out['expected'])} in this parcel"
                   + (" (everything picked is packed: close the parcel)" if out["all_packed"] else ""))
    except (O2CError, ValidationError) as exc:
        ok, message = False, _refusal(exc, barcode)
    if ui.request.headers.get("HX-Request"):
        response = fragment(ui, "app/warehouse/_pack_station.html", result={"ok": ok, "message": message},
                            values={}, errors={}, **_station(ui, shipment_id))
        response.headers["HX-Trigger"] = json.dumps({"o2c-scan": {"ok": ok}})
        return response
    if ok:
        return redirect(ui, f"{HOME}/pack/{shipment_id}", flash=message)
    return _pack_page(ui, shipment_id, 422, result={"ok": False, "message": message})


@router.post(HOME + "/pack/{shipment_id}/close")
def close_parcel(shipment_id: IdPath, ui: BackOfficeDep, form: FormDep):
    """Close the open parcel: weighed, in the box chosen (or suggested); a weight off beyond the tolerance
    holds it for review. Once everything is in closed parcels the shipment is ready to ship."""
    _actor(ui)
    body = {"weight_kg": text(form, "weight_kg") or "", "box_code": text(form, "box_code")}

    def work(s):
        sh = fulfillment.get_shipment(s, ui.actor, ui.company_id, shipment_id)
        pkg = next((p for p in sh.packages if p.status == "open"), None)
        if pkg is None:
            raise Conflict("no parcel is open: scan an item to start one")
        pkg = fulfillment.close_package(s, ui.actor, ui.company_id, pkg.id, CloseIn.model_validate(body))
        return fulfillment.package_view(pkg), sh.status

    result, errors = attempt(work)
    if errors:
        return _pack_page(ui, shipment_id, 422, values=values(form), errors=_only(errors, ("weight_kg", "box_code")))
    pkg, sh_status = result
    if pkg["status"] == "qc_hold":
        return redirect(ui, f"{HOME}/pack/{shipment_id}",
                        flash=f"Parcel {pkg['id']} held by the weight check: {pkg['qc_message']}")
    flash = f"Parcel {pkg['id']} closed in box {pkg['box_code'] or 'none'}: {pkg['qc_message']}"
    if sh_status == "packed":
        return redirect(ui, f"{HOME}/ship/{shipment_id}", flash=flash + ". The shipment is packed: ship it")
    return redirect(ui, f"{HOME}/pack/{shipment_id}", flash=flash)


@router.post(HOME + "/parcels/{package_id}/review")
def review_parcel(package_id: IdPath, ui: BackOfficeDep, form: FormDep):
    """A parcel held by the weight check: release it as it is, or reopen it to repack (with a reason)."""
    _actor(ui)
    body = {"decision": text(form, "decision") or "", "reason": text(form, "reason") or ""}
    with read_session() as s:
        shipment_id = fulfillment.get_package(s, ui.actor, ui.company_id, package_id)[0].shipment_id
    result, errors = attempt(lambda s: fulfillment.package_view(fulfillment.review_package(
        s, ui.actor, ui.company_id, package_id, **ReviewIn.model_validate(body).model_dump())))
    if errors:
        return _pack_page(ui, shipment_id, 422, values=values(form),
                          errors=_only(errors, ("reason", "decision")), review_id=package_id)
    return redirect(ui, f"{HOME}/pack/{shipment_id}",
                    flash=f"Parcel {package_id} {'released' if result['status'] == 'closed' else 'reopened'}")


# --- ship -------------------------------------------------------------------------------------------

def _ship_page(ui: Ui, shipment_id: int, status: int = 200, form_values: dict | None = None,
               errors: Errors | None = None):
    with read_session() as s:
        view = fulfillment.pack_view(s, ui.actor, ui.company_id, shipment_id)
        carriers = [shipping.carrier_view(s, c) for c in shipping.list_carriers(s, ui.company_id) if c.active]
    options = [(value, label) for c in carriers for value, label in _services(c)]
    return page(ui, "app/warehouse/ship.html", status, active=HOME, title=f"Ship {view['number']}", sh=view,
                services=options, values=form_values or {}, errors=errors or {}, why=WHY)


def _services(carrier: dict) -> list[tuple[str, str]]:
    return [(carrier["code"], f"{carrier['name']}: its best service"),
            *[(f"{carrier['code']}:{sv['code']}", f"{carrier['name']}: {sv['name']}") for sv in carrier["services"]]]


@router.get(HOME + "/ship/{shipment_id}")
def ship_confirmation(shipment_id: IdPath, ui: BackOfficeDep):
    _viewer(ui)
    return _ship_page(ui, shipment_id)


@router.post(HOME + "/ship/{shipment_id}")
def ship(shipment_id: IdPath, ui: BackOfficeDep, form: FormDep):
    """Hand the packed shipment to the carrier chosen (`CARRIER` or `CARRIER:SERVICE`), or to rate shopping."""
    _actor(ui)
    carrier, _, service = (text(form, "service") or "").partition(":")
    body = {"carrier": carrier or None, "service": service or None}
    view, errors = attempt(lambda s: fulfillment.shipment_view(
        s, shipping.ship(s, ui.actor, ui.company_id, shipment_id, ShipIn.model_validate(body))))
    if errors:
        errors = {("service" if k == "carrier" else k): v for k, v in errors.items()}
        return _ship_page(ui, shipment_id, 422, values(form), _only(errors, ("service",)))
    numbers = ", ".join(p["tracking_number"] for p in view["packages"])
    return redirect(ui, f"{HOME}/ship/{shipment_id}",
                    flash=f"Shipped {view['number']} with {view['carrier']} {view['service']}: tracking {numbers}")


# --- documents: the same bytes as the API's downloads, for a logged-in browser ---------------------

@router.get(HOME + "/parcels/{package_id}/label.pdf")
def label_pdf(package_id: IdPath, ui: BackOfficeDep):
    _viewer(ui)
    with read_session() as s:
        body = shipping.label(s, ui.actor, ui.company_id, package_id, "pdf")
    return download(body, "application/pdf", f"label-{package_id}.pdf", inline=True)


@router.get(HOME + "/parcels/{package_id}/label.zpl")
def label_zpl(package_id: IdPath, ui: BackOfficeDep):
    """ZPL for a thermal printer: downloaded, for the printer's software to send."""
    _viewer(ui)
    with read_session() as s:
        body = shipping.label(s, ui.actor, ui.company_id, package_id, "zpl")
    return download(body, "application/zpl", f"label-{package_id}.zpl", inline=False)


@router.get(HOME + "/ship/{shipment_id}/packing-slip.pdf")
def packing_slip(shipment_id: IdPath, ui: BackOfficeDep):
    _viewer(ui)
    with read_session() as s:
        body = shipping.packing_slip(s, ui.actor, ui.company_id, shipment_id)
    return download(body, "application/pdf", f"packing-slip-{shipment_id}.pdf", inline=True)
