"""Routes of returns: request, authorise (RMA and label), reject, receive, inspect; lists, labels and
the reasons analytics. Same error model, roles and idempotency as the order core."""
from __future__ import annotations

from datetime import date
from typing import Annotated, Literal

from fastapi import APIRouter, Query
from fastapi.responses import Response

from o2c.core.db import read_session
from o2c.core.schemas import MAX_ID, IdPath, Page
from o2c.returns import service
from o2c.returns.rules import STATUSES
from o2c.returns.schemas import AuthoriseIn, InspectIn, ReasonsSummary, ReceiveIn, RejectIn, ReturnIn, ReturnOut
from o2c.web.deps import CtxDep, IdemKey, ReaderDep, cursor_to_id
from o2c.web.responses import change, create

router = APIRouter(prefix="/returns", tags=["returns"])


def _one(s, ret) -> dict:
    return service.return_view(s, ret)


@router.post("", status_code=201, response_model=ReturnOut)
def request_return(data: ReturnIn, ctx: CtxDep, idempotency_key: IdemKey = None):
    """Ask to return delivered goods (customer portal or customer service). Lines never delivered, past
    the return window or more than was delivered and not yet returned are refused, naming the field,
    and nothing is stored. A repeat with the same Idempotency-Key returns the first return."""
    return create(ctx, idempotency_key, "/returns", data, ReturnOut,
                  lambda s: _one(s, service.request(s, ctx.actor, ctx.company_id, data)))


@router.get("", response_model=Page[ReturnOut])
def list_returns(
    ctx: ReaderDep,
    status: Literal[STATUSES] | None = None,  # type: ignore[valid-type]
    order_id: Annotated[int, Query(ge=1, le=MAX_ID)] | None = None,
    customer_id: Annotated[int, Query(ge=1, le=MAX_ID)] | None = None,
    cursor: str | None = None,
    limit: int = Query(50, ge=1, le=500),
):
    """Newest first; a portal user sees their own returns only."""
    with read_session() as s:
        rows = service.list_returns(s, ctx.actor, ctx.company_id, status=status, order_id=order_id,
                                    customer_id=customer_id, before_id=cursor_to_id(cursor), limit=limit)
        return Page[ReturnOut](items=[ReturnOut.model_validate(v) for v in service.views(s, rows)],
                               next_cursor=str(rows[-1].id) if len(rows) == limit else None)


@router.get("/reasons", response_model=ReasonsSummary)
def reasons(ctx: ReaderDep, date_from: date, date_to: date):
    """Why goods come back: returns and units per reason and per SKU, for returns requested between the
    two dates (inclusive, the company's business dates)."""
    with read_session() as s:
        return ReasonsSummary.model_validate(service.reasons_summary(s, ctx.actor, ctx.company_id, date_from, date_to))


@router.get("/{return_id}", response_model=ReturnOut)
def get_return(return_id: IdPath, ctx: ReaderDep):
    with read_session() as s:
        return ReturnOut.model_validate(_one(s, service.get_return(s, ctx.actor, ctx.company_id, return_id)))


@router.post("/{return_id}/authorise", response_model=ReturnOut)
def authorise(return_id: IdPath, ctx: CtxDep, data: AuthoriseIn | None = None):
    """Give the return its RMA number and a return label (the named carrier, or the cheapest one)."""
    carrier = data.carrier if data else None
    return change(ReturnOut, lambda s: _one(s, service.authorise(s, ctx.actor, ctx.company_id, return_id, carrier)))


@router.post("/{return_id}/reject", response_model=ReturnOut)
def reject(return_id: IdPath, data: RejectIn, ctx: CtxDep):
    return change(ReturnOut, lambda s: _one(s, service.reject(s, ctx.actor, ctx.company_id, return_id, data.reason)))


@router.post("/{return_id}/receive", response_model=ReturnOut)
def receive(return_id: IdPath, data: ReceiveIn, ctx: CtxDep):
    """The parcel arrived: the quantity of each line in it (at most what was authorised)."""
    return change(ReturnOut, lambda s: _one(s, service.receive(s, ctx.actor, ctx.company_id, return_id, data)))


@router.post("/{return_id}/inspect", response_model=ReturnOut)
def inspect(return_id: IdPath, data: InspectIn, ctx: CtxDep):
    """Each received line: restock, damaged or refused (a line may be split with quantities). Closes the
    return with its refund (return.refund_due for billing) or its exchange shipment."""
    return change(ReturnOut, lambda s: _one(s, service.inspect(s, ctx.actor, ctx.company_id, return_id, data)))


@router.get("/{return_id}/label.pdf")
def label_pdf(return_id: IdPath, ctx: ReaderDep):
    with read_session() as s:
        return Response(service.label(s, ctx.actor, ctx.company_id, return_id, "pdf"), media_type="application/pdf")


@router.get("/{return_id}/label.zpl")
def label_zpl(return_id: IdPath, ctx: ReaderDep):
    with read_session() as s:
        return Response(service.label(s, ctx.actor, ctx.company_id, return_id, "zpl"), media_type="application/zpl")
