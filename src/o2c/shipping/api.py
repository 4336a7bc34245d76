"""Routes of shipping: carriers, rates, ship, labels and packing slips, tracking events."""
from __future__ import annotations

import json
from typing import Annotated

from fastapi import APIRouter, Header, Request
from fastapi.responses import JSONResponse, Response
from pydantic import ValidationError

from o2c.core.auth import Actor
from o2c.core.db import read_session, transaction
from o2c.core.errors import UnsupportedMediaType, ValidationFailed
from o2c.core.schemas import Code, IdPath
from o2c.fulfillment import service as fulfillment
from o2c.fulfillment.schemas import ShipmentOut
from o2c.shipping import service
from o2c.shipping.schemas import (
    CarrierIn, CarrierOut, RateRequest, RateTableIn, ShipIn, TrackingFileOut, TrackingIn, TrackingOut,
)
from o2c.web.deps import CtxDep, IdemKey, ReaderDep, _company_id
from o2c.web.responses import change, create

router = APIRouter(tags=["shipping"])
MAX_FILE = 8 << 20


@router.post("/carriers", status_code=201, response_model=CarrierOut)
def create_carrier(data: CarrierIn, ctx: CtxDep, idempotency_key: IdemKey = None):
    """A carrier with its rate table (zones, weight breaks, dimensional weight, surcharges, transit days)."""
    return create(ctx, idempotency_key, "/carriers", data, CarrierOut,
                  lambda s: service.carrier_view(s, service.create_carrier(s, ctx.actor, ctx.company_id, data)))


@router.get("/carriers", response_model=list[CarrierOut])
def list_carriers(ctx: ReaderDep):
    with read_session() as s:
        return [CarrierOut.model_validate(service.carrier_view(s, c)) for c in service.list_carriers(s, ctx.company_id)]


@router.put("/carriers/{code}/rate-table", response_model=CarrierOut)
def replace_rate_table(code: Code, data: RateTableIn, ctx: CtxDep):
    return change(CarrierOut, lambda s: service.carrier_view(s, service.replace_rate_table(s, ctx.actor, ctx.company_id, code, data)))


@router.post("/rates")
def shop_rates(data: RateRequest, ctx: ReaderDep):
    """Quote every service of every carrier and say which one rate shopping picks, and why."""
    with read_session() as s:
        return service.shop_rates(s, ctx.company_id, data)


@router.post("/shipments/{shipment_id}/ship", response_model=ShipmentOut)
def ship(shipment_id: IdPath, data: ShipIn, ctx: CtxDep):
    """Hand a packed shipment to the carrier: rate shopping (unless a carrier is named), tracking numbers,
    SSCCs, stock out, the order's shipped quantities, and `shipment.shipped` for invoicing."""
    return change(ShipmentOut, lambda s: fulfillment.shipment_view(s, service.ship(s, ctx.actor, ctx.company_id, shipment_id, data)))


@router.get("/packages/{package_id}/label.zpl")
def label_zpl(package_id: IdPath, ctx: ReaderDep):
    with read_session() as s:
        return Response(service.label(s, ctx.actor, ctx.company_id, package_id, "zpl"), media_type="application/zpl")


@router.get("/packages/{package_id}/label.pdf")
def label_pdf(package_id: IdPath, ctx: ReaderDep):
    with read_session() as s:
        return Response(service.label(s, ctx.actor, ctx.company_id, package_id, "pdf"), media_type="application/pdf")


@router.get("/shipments/{shipment_id}/packing-slip.pdf")
def packing_slip(shipment_id: IdPath, ctx: ReaderDep):
    with read_session() as s:
        return Response(service.packing_slip(s, ctx.actor, ctx.company_id, shipment_id), media_type="application/pdf")


@router.get("/shipments/{shipment_id}/tracking-events", response_model=list[TrackingOut])
def list_tracking(shipment_id: IdPath, ctx: ReaderDep):
    with read_session() as s:
        return [TrackingOut.model_validate(service.event_view(e)) for e in service.list_events(s, ctx.actor, ctx.company_id, shipment_id)]


def _scan(data: TrackingIn) -> service.Scan:
    return service.Scan(data.tracking_number, data.kind, data.occurred_at, data.location, data.description, data.event_id)


def _track(actor: Actor, company_id: int, scan: service.Scan, source: str, carrier_id: int | None = None) -> JSONResponse:
    def work(s):
        ev, created = service.track(s, actor, company_id, scan, source, carrier_id)
        return TrackingOut.model_validate(service.event_view(ev, created)).model_dump(mode="json"), created
    body, created = transaction(work)
    return JSONResponse(body, status_code=201 if created else 200)


@router.post("/tracking-events", status_code=201, response_model=TrackingOut)
def post_tracking(data: TrackingIn, ctx: CtxDep):
    """One tracking event. A repeat (same event_id, or same kind and time) answers 200 with the first one."""
    return _track(ctx.actor, ctx.company_id, _scan(data), "api")


@router.post("/tracking-events/webhook/{company}/{carrier}", status_code=201, response_model=TrackingOut)
async def carrier_webhook(company: Code, carrier: Code, request: Request,
                          signature: Annotated[str | None, Header(alias="X-O2C-Signature", max_length=100)] = None):
    """A carrier's push: the body is a tracking event as for POST /tracking-events, signed with the
    carrier's webhook secret (X-O2C-Signature: sha256=<hex HMAC-SHA256 of the body>). Carriers resend
    webhooks; a repeat answers 200 and changes nothing."""
    body = await request.body()
    if len(body) > 64 << 10:
        raise ValidationFailed.one("body", "too_large", "a webhook body is at most 64 KiB")
    cid = _company_id(company)
    if cid is None:
        raise ValidationFailed.one("company", "unknown", f"no company {company!r}")
    with read_session() as s:
        carrier_id = service.verify_webhook(s, cid, carrier, body, signature).id
    try:
        data = TrackingIn.model_validate(json.loads(body or b"null"))
    except (ValueError, ValidationError) as exc:
        errs = exc.errors() if isinstance(exc, ValidationError) else [{"loc": ("body",), "msg": "not JSON"}]
        e = errs[0]
        raise ValidationFailed.one(".".join(str(x) for x in e["loc"]) or "body", "invalid", e["msg"]) from None
    actor = Actor(user_id=None, username=f"carrier {carrier}", roles=frozenset({"carrier"}), company_ids=frozenset({cid}))
    return _track(actor, cid, _scan(data), "webhook", carrier_id)  # a carrier reports its own parcels only


@router.post("/tracking-events/file", response_model=TrackingFileOut,
             openapi_extra={"requestBody": {"content": {"text/csv": {"schema": {"type": "string"}}}}})
async def tracking_file(request: Request, ctx: CtxDep):
    """A carrier's tracking file (text/csv; columns tracking_number, kind, occurred_at, location,
    description, event_id). Every row is checked first; a bad row refuses the file, naming its line."""
    media = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if media not in ("text/csv", "application/csv", "text/plain"):
        raise UnsupportedMediaType(f"send the file as text/csv (got {media or 'no Content-Type'})", field="Content-Type")
    raw = await request.body()
    if len(raw) > MAX_FILE:
        raise ValidationFailed.one("file", "too_large", "the file is larger than 8 MiB; split it")
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise ValidationFailed.one("file", "encoding", "the file must be UTF-8") from None
    scans = service.parse_tracking_csv(text)
    return transaction(lambda s: service.track_many(s, ctx.actor, ctx.company_id, scans, "csv"))
