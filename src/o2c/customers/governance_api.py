"""Master-data governance routes: duplicate checks, sensitive changes under four eyes, the account
hierarchy and merges. Registered before the "/customers/{customer_id}" routes so /customers/changes and
/customers/duplicates are not read as customer ids."""
from __future__ import annotations

from typing import Literal

from fastapi import APIRouter, Query

from o2c.core.db import read_session
from o2c.core.errors import Forbidden
from o2c.core.schemas import IdPath
from o2c.customers import changes, duplicates, hierarchy, merge
from o2c.customers.governance_schemas import (
    ChangeIn, ChangeOut, DecisionIn, DuplicateCheckIn, DuplicateOut, MergeIn, MergeOut, ParentIn,
)
from o2c.web.deps import CtxDep, IdemKey, ReaderDep
from o2c.web.responses import change, create

router = APIRouter(prefix="/customers", tags=["customer governance"])


def _staff(ctx) -> None:
    """Portal users see their own records, never the company's master-data work."""
    if ctx.actor.customer_id is not None:
        raise Forbidden("portal users cannot see master-data governance")


@router.post("/duplicates/check", response_model=list[DuplicateOut])
def check_duplicates(data: DuplicateCheckIn, ctx: ReaderDep):
    """Customers of this company that may be the one described (before creating or importing it), best
    first, with each attribute's score and reason."""
    _staff(ctx)
    with read_session() as s:
        address = data.billing_address.model_dump() if data.billing_address else None
        return duplicates.find_duplicates(s, ctx.company_id, legal_name=data.legal_name, tax_id=data.tax_id,
                                          address=address, limit=data.limit)


@router.get("/changes", response_model=list[ChangeOut])
def change_queue(ctx: ReaderDep, status: Literal["pending", "approved", "rejected", "withdrawn", "all"] = "pending",
                 after: int = Query(0, ge=0), limit: int = Query(100, ge=1, le=500)):
    """The approvers' queue: the company's sensitive changes in a status (pending by default), oldest first."""
    _staff(ctx)
    with read_session() as s:
        return changes.views(s, changes.queue(s, ctx.company_id, None if status == "all" else status, after, limit))


def _decide(fn, ctx, change_id: int, data: DecisionIn | None):
    reason = data.reason if data else None
    return change(ChangeOut, lambda s: changes.view(s, fn(s, ctx.actor, ctx.company_id, change_id, reason)))


@router.post("/changes/{change_id}/approve", response_model=ChangeOut)
def approve_change(change_id: IdPath, ctx: CtxDep, data: DecisionIn | None = None):
    """Apply the change (a user other than the requester, with masterdata.approve or credit.approve for
    limits); 409 when it is no longer pending or the field changed since (stale)."""
    return _decide(changes.approve_change, ctx, change_id, data)


@router.post("/changes/{change_id}/reject", response_model=ChangeOut)
def reject_change(change_id: IdPath, ctx: CtxDep, data: DecisionIn | None = None):
    return _decide(changes.reject_change, ctx, change_id, data)


@router.post("/changes/{change_id}/withdraw", response_model=ChangeOut)
def withdraw_change(change_id: IdPath, ctx: CtxDep, data: DecisionIn | None = None):
    return _decide(changes.withdraw_change, ctx, change_id, data)


@router.get("/{customer_id}/duplicates", response_model=list[DuplicateOut])
def customer_duplicates(customer_id: IdPath, ctx: ReaderDep, limit: int = Query(5, ge=1, le=50)):
    _staff(ctx)
    with read_session() as s:
        return duplicates.duplicates_of(s, ctx.company_id, customer_id, limit)


@router.post("/{customer_id}/changes", status_code=202, response_model=ChangeOut)
def request_change(customer_id: IdPath, data: ChangeIn, ctx: CtxDep, idempotency_key: IdemKey = None):
    """Ask for a change of a sensitive field: 202, it waits for a second user's approval."""
    return create(ctx, idempotency_key, f"/customers/{customer_id}/changes", data, ChangeOut,
                  lambda s: changes.view(s, changes.request_change(s, ctx.actor, ctx.company_id, customer_id,
                                                                   data.field, data.value, data.reason)),
                  status_code=202)


@router.get("/{customer_id}/changes", response_model=list[ChangeOut])
def change_history(customer_id: IdPath, ctx: ReaderDep, field: str | None = Query(None, max_length=40)):
    """The customer's sensitive changes, oldest first; approved ones carry the field's version number."""
    _staff(ctx)
    with read_session() as s:
        return changes.views(s, changes.history(s, ctx.company_id, customer_id, field))


@router.put("/{customer_id}/parent")
def set_parent(customer_id: IdPath, data: ParentIn, ctx: CtxDep) -> dict:
    """Put the customer below a parent (null: make it the top of its own group); 409 on a cycle."""
    from o2c.core.db import transaction

    return transaction(lambda s: hierarchy.set_parent(s, ctx.actor, ctx.company_id, customer_id, data.parent_id,
                                                      data.reason))


@router.get("/{customer_id}/hierarchy")
def customer_hierarchy(customer_id: IdPath, ctx: ReaderDep) -> dict:
    """The customer's group from its top: nested nodes, and the customer's path up to the top."""
    _staff(ctx)
    with read_session() as s:
        return hierarchy.hierarchy(s, ctx.company_id, customer_id)


@router.post("/{customer_id}/merge", status_code=201, response_model=MergeOut)
def merge_customer(customer_id: IdPath, data: MergeIn, ctx: CtxDep, idempotency_key: IdemKey = None):
    """Merge `merged_id` into this customer (the golden record), under the survivorship rules."""
    return create(ctx, idempotency_key, f"/customers/{customer_id}/merge", data, MergeOut,
                  lambda s: merge.view(merge.merge(s, ctx.actor, ctx.company_id, customer_id, data.merged_id,
                                                   data.reason, data.choices)))


@router.get("/{customer_id}/merges", response_model=list[MergeOut])
def customer_merges(customer_id: IdPath, ctx: ReaderDep):
    _staff(ctx)
    with read_session() as s:
        return [merge.view(m) for m in merge.merges_of(s, ctx.company_id, customer_id)]
