"""Routes of fulfilment: waves, pick lists, parcels (scan, close, review), shipments, boxes, policies."""
from __future__ import annotations

from fastapi import APIRouter, Query
from fastapi.responses import HTMLResponse

from o2c.core.db import read_session
from o2c.core.errors import Forbidden
from o2c.core.schemas import IdPath, Page
from o2c.fulfillment import service
from o2c.fulfillment.printing import pick_list_html
from o2c.fulfillment.schemas import (
    BoxIn, BoxOut, BoxSuggestion, CloseIn, PackageOut, PickListOut, PicksIn, PolicyIn, PolicyOut, ReasonIn,
    ReviewIn, ScanIn, ScanOut, ShipmentOut, WaveIn, WaveOut,
)
from o2c.web.deps import Ctx, CtxDep, IdemKey, ReaderDep, cursor_to_id
from o2c.web.responses import change, create

router = APIRouter(tags=["fulfillment"])


def _staff(ctx: Ctx) -> None:
    """Waves and pick lists hold every customer's shipments: the warehouse's own records."""
    if ctx.actor.customer_id is not None:
        raise Forbidden("waves and pick lists are the warehouse's internal records, not shown to portal users")


@router.post("/waves", status_code=201, response_model=WaveOut)
def release_wave(data: WaveIn, ctx: CtxDep, idempotency_key: IdemKey = None):
    """Release confirmed orders to the warehouse: one optimisation decides where each ships from (the
    report compares it with greedy), then a shipment per order and warehouse and batch pick lists."""
    return create(ctx, idempotency_key, "/waves", data, WaveOut,
                  lambda s: service.wave_view(s, service.release_wave(s, ctx.actor, ctx.company_id, data)))


@router.get("/waves", response_model=list[WaveOut])
def list_waves(ctx: ReaderDep, limit: int = Query(50, ge=1, le=500)):
    _staff(ctx)
    with read_session() as s:
        return [WaveOut.model_validate(service.wave_view(s, w)) for w in service.list_waves(s, ctx.company_id, limit)]


@router.get("/waves/{wave_id}", response_model=WaveOut)
def get_wave(wave_id: IdPath, ctx: ReaderDep):
    _staff(ctx)
    with read_session() as s:
        return WaveOut.model_validate(service.wave_view(s, service.get_wave(s, ctx.company_id, wave_id)))


@router.get("/pick-lists/{pick_list_id}", response_model=PickListOut)
def get_pick_list(pick_list_id: IdPath, ctx: ReaderDep):
    _staff(ctx)
    with read_session() as s:
        return PickListOut.model_validate(service.pick_list_view(s, service.get_pick_list(s, ctx.company_id, pick_list_id)))


@router.get("/pick-lists/{pick_list_id}/print", response_class=HTMLResponse)
def print_pick_list(pick_list_id: IdPath, ctx: ReaderDep):
    """The pick list as a page to print or to follow on a handheld, stops in walking order."""
    _staff(ctx)
    with read_session() as s:
        return HTMLResponse(pick_list_html(service.pick_list_view(s, service.get_pick_list(s, ctx.company_id, pick_list_id))))


@router.post("/pick-lists/{pick_list_id}/picks", response_model=PickListOut)
def confirm_picks(pick_list_id: IdPath, data: PicksIn, ctx: CtxDep):
    return change(PickListOut, lambda s: service.pick_list_view(
        s, service.confirm_picks(s, ctx.actor, ctx.company_id, pick_list_id, data)))


@router.get("/shipments", response_model=Page[ShipmentOut])
def list_shipments(ctx: ReaderDep, status: str | None = Query(None, max_length=20),
                   order_id: int | None = Query(None, ge=1, le=2**63 - 1),
                   cursor: str | None = None, limit: int = Query(50, ge=1, le=500)):
    with read_session() as s:
        rows = service.list_shipments(s, ctx.actor, ctx.company_id, status=status, order_id=order_id,
                                      after=cursor_to_id(cursor) or 0, limit=limit)
        return Page[ShipmentOut](items=[ShipmentOut.model_validate(service.shipment_view(s, r)) for r in rows],
                                 next_cursor=str(rows[-1].id) if len(rows) == limit else None)


@router.get("/shipments/{shipment_id}", response_model=ShipmentOut)
def get_shipment(shipment_id: IdPath, ctx: ReaderDep):
    with read_session() as s:
        return ShipmentOut.model_validate(service.shipment_view(s, service.get_shipment(s, ctx.actor, ctx.company_id, shipment_id)))


@router.post("/shipments/{shipment_id}/cancel", response_model=ShipmentOut)
def cancel_shipment(shipment_id: IdPath, body: ReasonIn, ctx: CtxDep):
    return change(ShipmentOut, lambda s: service.shipment_view(
        s, service.cancel_shipment(s, ctx.actor, ctx.company_id, shipment_id, body.reason)))


@router.post("/shipments/{shipment_id}/packages", status_code=201, response_model=PackageOut)
def open_package(shipment_id: IdPath, ctx: CtxDep):
    return change(PackageOut, lambda s: service.package_view(service.open_package(s, ctx.actor, ctx.company_id, shipment_id)))


@router.get("/packages/{package_id}", response_model=PackageOut)
def get_package(package_id: IdPath, ctx: ReaderDep):
    with read_session() as s:
        return PackageOut.model_validate(service.package_view(service.get_package(s, ctx.actor, ctx.company_id, package_id)[0]))


@router.post("/packages/{package_id}/scans", response_model=ScanOut)
def scan(package_id: IdPath, data: ScanIn, ctx: CtxDep):
    """One barcode scan at the pack station; a wrong, extra or unknown item is refused (422) and nothing changes."""
    return change(ScanOut, lambda s: service.scan(s, ctx.actor, ctx.company_id, package_id, data.barcode, data.quantity))


@router.get("/packages/{package_id}/box", response_model=BoxSuggestion)
def suggest_box(package_id: IdPath, ctx: ReaderDep):
    with read_session() as s:
        return BoxSuggestion.model_validate(service.suggest_box(s, ctx.actor, ctx.company_id, package_id))


@router.post("/packages/{package_id}/close", response_model=PackageOut)
def close_package(package_id: IdPath, data: CloseIn, ctx: CtxDep):
    return change(PackageOut, lambda s: service.package_view(service.close_package(s, ctx.actor, ctx.company_id, package_id, data)))


@router.post("/packages/{package_id}/review", response_model=PackageOut)
def review_package(package_id: IdPath, data: ReviewIn, ctx: CtxDep):
    return change(PackageOut, lambda s: service.package_view(
        service.review_package(s, ctx.actor, ctx.company_id, package_id, data.decision, data.reason)))


@router.post("/boxes", status_code=201, response_model=BoxOut)
def create_box(data: BoxIn, ctx: CtxDep, idempotency_key: IdemKey = None):
    return create(ctx, idempotency_key, "/boxes", data, BoxOut, lambda s: service.create_box(s, ctx.actor, ctx.company_id, data))


@router.get("/boxes", response_model=list[BoxOut])
def list_boxes(ctx: ReaderDep):
    with read_session() as s:
        return [BoxOut.model_validate(b) for b in service.list_boxes(s, ctx.company_id)]


@router.put("/fulfillment-policies", response_model=PolicyOut)
def set_policy(data: PolicyIn, ctx: CtxDep):
    return change(PolicyOut, lambda s: service.set_policy(s, ctx.actor, ctx.company_id, data.channel, data.policy))


@router.get("/fulfillment-policies", response_model=list[PolicyOut])
def list_policies(ctx: ReaderDep):
    with read_session() as s:
        return [PolicyOut(channel=c, policy=p) for c, p in sorted(service.policies(s, ctx.company_id).items())]
