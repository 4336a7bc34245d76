"""Routes of credit (/credit: profiles, limits, statements, scores, holds) and of approvals (/approvals:
the queues per role, decisions, and the routing rules). Thin: identify the actor, call the service."""
from __future__ import annotations

from fastapi import APIRouter, Query
from fastapi.responses import JSONResponse

from o2c.core.db import read_session, transaction
from o2c.core.schemas import IdPath
from o2c.credit import approvals, service
from o2c.credit.schemas import (ApprovalOut, DecisionIn, LimitIn, ProfileOut, RoutesIn, RoutesOut, ScoreIn, ScoreOut,
                                StatementIn, StatementOut)
from o2c.customers import changes
from o2c.customers.governance_schemas import ChangeOut
from o2c.web.deps import CtxDep, IdemKey, ReaderDep, cursor_to_id
from o2c.web.responses import create

router = APIRouter(prefix="/credit", tags=["credit"])
approvals_router = APIRouter(prefix="/approvals", tags=["approvals"])


@router.get("/customers/{customer_id}", response_model=ProfileOut)
def credit_profile(customer_id: IdPath, ctx: ReaderDep):
    """Limits, exposure (open receivables + shipped not invoiced + open orders), available credit, overdue
    invoices, the latest score and the holds waiting for a decision."""
    with read_session() as s:
        return ProfileOut.model_validate(service.profile(s, ctx.actor, ctx.company_id, customer_id))


@router.put("/customers/{customer_id}/limit", status_code=202, response_model=list[ChangeOut])
def request_limit(customer_id: IdPath, data: LimitIn, ctx: CtxDep):
    """Ask for a new credit limit and/or group credit limit (null: no limit): 202, each waits for a second
    user with credit.approve (POST /customers/changes/{id}/approve)."""
    values = data.model_dump(exclude_unset=True, exclude={"reason"})

    def work(s):
        asked = service.request_limit_change(s, ctx.actor, ctx.company_id, customer_id, values=values,
                                             reason=data.reason)
        return [ChangeOut.model_validate(changes.view(s, c)).model_dump(mode="json") for c in asked]

    return JSONResponse(transaction(work), status_code=202)


@router.post("/customers/{customer_id}/statements", status_code=201, response_model=StatementOut)
def submit_statement(customer_id: IdPath, data: StatementIn, ctx: CtxDep, idempotency_key: IdemKey = None):
    """Record a period's financial statements; 422 naming the figure that cannot be true."""
    return create(ctx, idempotency_key, f"/credit/customers/{customer_id}/statements", data, StatementOut,
                  lambda s: service.submit_statement(s, ctx.actor, ctx.company_id, customer_id,
                                                     period_end=data.period_end, currency=data.currency,
                                                     figures=data.figures, source=data.source))


@router.get("/customers/{customer_id}/statements", response_model=list[StatementOut])
def list_statements(customer_id: IdPath, ctx: ReaderDep):
    with read_session() as s:
        return [StatementOut.model_validate(r) for r in service.statements(s, ctx.actor, ctx.company_id, customer_id)]


@router.post("/customers/{customer_id}/scores", status_code=201, response_model=ScoreOut)
def run_score(customer_id: IdPath, ctx: CtxDep, data: ScoreIn | None = None, idempotency_key: IdemKey = None):
    """Score the customer: statement ratios and Altman Z, payment behaviour with this company, a grade A-E
    with its reasons and a recommended limit (docs/credit-scoring.md)."""
    data = data or ScoreIn()
    return create(ctx, idempotency_key, f"/credit/customers/{customer_id}/scores", data, ScoreOut,
                  lambda s: service.score_view(service.run_score(s, ctx.actor, ctx.company_id, customer_id,
                                                                 **data.model_dump())))


@router.get("/customers/{customer_id}/scores", response_model=list[ScoreOut])
def list_scores(customer_id: IdPath, ctx: ReaderDep):
    with read_session() as s:
        return [ScoreOut.model_validate(service.score_view(r))
                for r in service.scores(s, ctx.actor, ctx.company_id, customer_id)]


@router.get("/holds", response_model=list[ApprovalOut])
def credit_holds(ctx: ReaderDep, customer_id: int | None = Query(None, ge=1), cursor: str | None = None,
                 limit: int = Query(100, ge=1, le=500)):
    """Orders on a credit hold waiting for a decision, oldest first (cursor: the last id seen)."""
    with read_session() as s:
        return service.holds(s, ctx.actor, ctx.company_id, customer_id=customer_id, after_id=cursor_to_id(cursor),
                             limit=limit)


# ---------------------------------------------------------------- /approvals

@approvals_router.get("/routes", response_model=RoutesOut)
def get_routes(ctx: ReaderDep):
    """The company's credit approval routes, first match by position (the defaults until it sets its own)."""
    with read_session() as s:
        return approvals.routes_view(s, ctx.actor, ctx.company_id)


@approvals_router.put("/routes", response_model=RoutesOut)
def put_routes(data: RoutesIn, ctx: CtxDep):
    """Replace the routes (company.write); 422 naming the route and field, nothing changed."""
    return transaction(lambda s: RoutesOut.model_validate(approvals.set_routes(
        s, ctx.actor, ctx.company_id, [r.model_dump() for r in data.routes])).model_dump(mode="json"))


@approvals_router.get("", response_model=list[ApprovalOut])
def approval_queue(ctx: ReaderDep, role: str | None = Query(None, max_length=40),
                   status: str = Query("pending", max_length=20), cursor: str | None = None,
                   limit: int = Query(50, ge=1, le=500)):
    """A role's queue, oldest first; a credit manager's includes the analysts' items. Without `role`: the
    queues of the caller's own credit roles. `status`: pending (default), approved, rejected, cancelled, all."""
    with read_session() as s:
        return approvals.queue(s, ctx.actor, ctx.company_id, role=role, status=status,
                               after_id=cursor_to_id(cursor), limit=limit)


@approvals_router.get("/{request_id}", response_model=ApprovalOut)
def get_approval(request_id: IdPath, ctx: ReaderDep):
    with read_session() as s:
        return approvals.views(s, [approvals.get_request(s, ctx.actor, ctx.company_id, request_id)])[0]


@approvals_router.post("/{request_id}/approve", response_model=ApprovalOut)
def approve(request_id: IdPath, ctx: CtxDep, data: DecisionIn | None = None):
    """Approve (reason required). The last approval needed releases the credit hold and the order moves on.
    403 for the user who entered the order or without the route's role; 409 when the order was cancelled,
    the request decided, or the user approved it already."""
    reason = data.reason if data else None
    return transaction(lambda s: ApprovalOut.model_validate(
        approvals.approve(s, ctx.actor, ctx.company_id, request_id, reason)).model_dump(mode="json"))


@approvals_router.post("/{request_id}/reject", response_model=ApprovalOut)
def reject(request_id: IdPath, ctx: CtxDep, data: DecisionIn | None = None):
    """Reject (reason required): the order is cancelled with the reason."""
    reason = data.reason if data else None
    return transaction(lambda s: ApprovalOut.model_validate(
        approvals.reject(s, ctx.actor, ctx.company_id, request_id, reason)).model_dump(mode="json"))
