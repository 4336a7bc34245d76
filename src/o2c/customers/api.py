from __future__ import annotations

from fastapi import APIRouter, Query
from fastapi.responses import JSONResponse

from o2c.core.db import read_session
from o2c.core.schemas import IdPath, Page
from o2c.customers import service
from o2c.customers.governance_schemas import CustomerPatched
from o2c.customers.schemas import CustomerIn, CustomerOut, CustomerPatch
from o2c.orders.schemas import TimelineEntry
from o2c.web.deps import CtxDep, IdemKey, ReaderDep, cursor_to_id
from o2c.web.responses import change, create

router = APIRouter(prefix="/customers", tags=["customers"])


@router.post("", status_code=201, response_model=CustomerOut)
def create_customer(data: CustomerIn, ctx: CtxDep, idempotency_key: IdemKey = None):
    return create(ctx, idempotency_key, "/customers", data, CustomerOut,
                  lambda s: service.create_customer(s, ctx.actor, ctx.company_id, data))


@router.get("", response_model=Page[CustomerOut])
def list_customers(ctx: ReaderDep, q: str | None = Query(None, max_length=200), cursor: str | None = None,
                   limit: int = Query(50, ge=1, le=500)):
    with read_session() as s:
        items = service.list_customers(s, ctx.actor, ctx.company_id, cursor_to_id(cursor) or 0, limit, q)
        page = Page[CustomerOut](items=items, next_cursor=str(items[-1]["id"]) if len(items) == limit else None)
        return page


@router.get("/{customer_id}", response_model=CustomerOut)
def get_customer(customer_id: IdPath, ctx: ReaderDep):
    with read_session() as s:
        return CustomerOut.model_validate(service.customer_view(s, ctx.company_id, customer_id, ctx.actor))


@router.get("/{customer_id}/timeline", response_model=list[TimelineEntry])
def customer_timeline(customer_id: IdPath, ctx: ReaderDep):
    """What happened with the customer, oldest first: changes to their record, reminders, disputes, payments."""
    with read_session() as s:
        return [TimelineEntry.model_validate(r) for r in service.timeline(s, ctx.actor, ctx.company_id, customer_id)]


@router.patch("/{customer_id}", response_model=CustomerPatched, responses={202: {"model": CustomerPatched}})
def update_customer(customer_id: IdPath, patch: CustomerPatch, ctx: CtxDep):
    """Other fields change at once; payment terms (sensitive) become a change awaiting a second user's
    approval: 202 with it in pending_changes (o2c.customers.changes)."""
    body = change(CustomerPatched, lambda s: service.update_customer(s, ctx.actor, ctx.company_id, customer_id, patch))
    return JSONResponse(body, status_code=202) if body["pending_changes"] else body
