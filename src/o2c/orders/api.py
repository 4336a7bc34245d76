from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Query

from o2c.core.db import read_session
from o2c.core.errors import Forbidden
from o2c.core.schemas import MAX_ID, IdPath, Page
from o2c.orders import service
from o2c.orders.rules import STATUSES
from o2c.orders.schemas import (
    EntryErrorRate, LinePatch, OrderIn, OrderOut, OrderPatch, ReasonIn, TimelineEntry,
)
from o2c.web.deps import CtxDep, IdemKey, ReaderDep, cursor_to_id
from o2c.web.responses import change, create

router = APIRouter(prefix="/orders", tags=["orders"])


def _out(order) -> OrderOut:
    return OrderOut.model_validate(service.order_view(order))


@router.post("", status_code=201, response_model=OrderOut)
def create_order(data: OrderIn, ctx: CtxDep, idempotency_key: IdemKey = None):
    """Capture an order from any channel. A clean order is confirmed (stock reserved) at once; one that
    breaks a business rule is kept on hold with each reason; one naming unknown things is refused."""
    return create(ctx, idempotency_key, "/orders", data, OrderOut,
                  lambda s: service.order_view(service.capture(s, ctx.actor, ctx.company_id, data)))


@router.get("", response_model=Page[OrderOut])
def list_orders(
    ctx: ReaderDep,
    status: Literal[STATUSES] | None = None,  # type: ignore[valid-type]
    customer_id: Annotated[int, Query(ge=1, le=MAX_ID)] | None = None,
    po_number: str | None = Query(None, max_length=60),
    channel: str | None = Query(None, max_length=20),
    hold: Literal["validation", "duplicate", "pricing"] | None = None,
    cursor: str | None = None,
    limit: int = Query(50, ge=1, le=500),
):
    with read_session() as s:
        orders = service.list_orders(
            s, ctx.actor, ctx.company_id, status=status, customer_id=customer_id, po_number=po_number,
            channel=channel, hold_kind=hold, before_id=cursor_to_id(cursor), limit=limit,
        )
        return Page[OrderOut](items=[_out(o) for o in orders],
                              next_cursor=str(orders[-1].id) if len(orders) == limit else None)


@router.get("/metrics/entry-error-rate", response_model=EntryErrorRate)
def entry_error_rate(ctx: ReaderDep):
    if ctx.actor.customer_id is not None:  # it counts every customer's orders
        raise Forbidden("the order entry error rate is the company's internal figure, not shown to portal users")
    with read_session() as s:
        return EntryErrorRate.model_validate(service.entry_error_rate(s, ctx.company_id))


@router.get("/{order_id}", response_model=OrderOut)
def get_order(order_id: IdPath, ctx: ReaderDep):
    with read_session() as s:
        return _out(service.get_order(s, ctx.actor, ctx.company_id, order_id))


@router.patch("/{order_id}", response_model=OrderOut)
def update_order(order_id: IdPath, patch: OrderPatch, ctx: CtxDep):
    """Correct a held (or validated, not yet confirmed) order; it is checked again at once."""
    return change(OrderOut, lambda s: service.order_view(service.update(s, ctx.actor, ctx.company_id, order_id, patch)))


@router.patch("/{order_id}/lines/{line_no}", response_model=OrderOut)
def edit_line(order_id: IdPath, line_no: IdPath, patch: LinePatch, ctx: CtxDep):
    """Change one line, also on a confirmed order: only that line is re-priced and re-reserved."""
    return change(OrderOut, lambda s: service.order_view(
        service.edit_line(s, ctx.actor, ctx.company_id, order_id, line_no, patch)))


@router.post("/{order_id}/confirm", response_model=OrderOut)
def confirm_order(order_id: IdPath, ctx: CtxDep):
    """Reserve stock for a validated order, or retry what a backordered order still lacks."""
    return change(OrderOut, lambda s: service.order_view(service.confirm(s, ctx.actor, ctx.company_id, order_id)))


@router.post("/{order_id}/cancel", response_model=OrderOut)
def cancel_order(order_id: IdPath, body: ReasonIn, ctx: CtxDep):
    return change(OrderOut, lambda s: service.order_view(
        service.cancel(s, ctx.actor, ctx.company_id, order_id, body.reason)))


@router.post("/{order_id}/holds/{hold_id}/release", response_model=OrderOut)
def release_hold(order_id: IdPath, hold_id: IdPath, body: ReasonIn, ctx: CtxDep):
    """Decide a duplicate or pricing hold. Validation holds clear by correcting the order."""
    return change(OrderOut, lambda s: service.order_view(
        service.release_hold(s, ctx.actor, ctx.company_id, order_id, hold_id, body.reason)))


@router.get("/{order_id}/timeline", response_model=list[TimelineEntry])
def order_timeline(order_id: IdPath, ctx: ReaderDep):
    with read_session() as s:
        return [TimelineEntry.model_validate(r) for r in service.timeline(s, ctx.actor, ctx.company_id, order_id)]
