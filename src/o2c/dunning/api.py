"""Routes of dunning: the reminder run, reminders, the company's reminder levels, and invoice disputes.
Writes need dunning.write (roles billing, receivables, admin); reads need read, and a portal user sees
their own customer's reminders and disputes only."""
from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from o2c.core.companies import get as get_company
from o2c.core.db import read_session, transaction
from o2c.core.money import round_money
from o2c.core.schemas import MAX_ID, IdPath, Page
from o2c.dunning import disputes, rules, service
from o2c.dunning.schemas import (DisputeIn, DisputeOut, LevelsIn, LevelsOut, ReminderOut, ResolveIn, RunIn,
                                 RunOut)
from o2c.web.deps import CtxDep, IdemKey, ReaderDep, cursor_to_id
from o2c.web.responses import change, create

router = APIRouter(tags=["reminders"])


@router.post("/reminders/run", response_model=RunOut)
def run_reminders(ctx: CtxDep, data: RunIn | None = None):
    """Send the reminders due today (or on `as_of`, not after today): one letter per customer and
    currency, each invoice at the level it is due for, fee and interest posted to the ledger, emailed
    through the outbox. Running again the same day sends nothing new. `dry_run` answers what would be
    sent and changes nothing (it may look ahead)."""
    data = data or RunIn()
    return transaction(lambda s: RunOut.model_validate(
        service.run(s, ctx.actor, ctx.company_id, data.as_of, data.dry_run)).model_dump(mode="json"))


@router.get("/reminders", response_model=Page[ReminderOut])
def list_reminders(
    ctx: ReaderDep,
    customer_id: Annotated[int, Query(ge=1, le=MAX_ID)] | None = None,
    cursor: str | None = None,
    limit: int = Query(50, ge=1, le=500),
):
    """Newest first."""
    with read_session() as s:
        rows = service.list_reminders(s, ctx.actor, ctx.company_id, customer_id=customer_id,
                                      before_id=cursor_to_id(cursor), limit=limit)
        return {"items": [ReminderOut.model_validate(service.reminder_view(s, r)).model_dump(mode="json") for r in rows],
                "next_cursor": str(rows[-1].id) if len(rows) == limit else None}


@router.get("/reminders/{reminder_id}", response_model=ReminderOut)
def get_reminder(reminder_id: IdPath, ctx: ReaderDep):
    with read_session() as s:
        return ReminderOut.model_validate(service.reminder_view(s, service.get_reminder(s, ctx.actor, ctx.company_id,
                                                                                        reminder_id)))


def _levels_out(currency: str, levels, defaults: bool) -> dict:
    return LevelsOut.model_validate({"currency": currency, "defaults": defaults, "levels": [
        {"rank": lv.rank, "code": lv.code, "days_overdue": lv.days_overdue, "fee": round_money(lv.fee, currency),
         "interest_pct_year": lv.interest_pct_year} for lv in levels]}).model_dump(mode="json")


@router.get("/dunning-levels", response_model=LevelsOut)
def get_levels(ctx: ReaderDep):
    """The company's reminder levels, or the defaults while it has set none (docs/reminders.md)."""
    with read_session() as s:
        levels, defaults = service.levels(s, ctx.company_id)
        return _levels_out(get_company(s, ctx.company_id).currency, levels, defaults)


@router.put("/dunning-levels", response_model=LevelsOut)
def put_levels(data: LevelsIn, ctx: CtxDep):
    """Replace the company's reminder levels (dunning.write): ranks and days both ascending, fees of zero
    or more in the company's currency, interest 0-100 % a year. 422 naming the field, nothing changed."""
    def work(s):
        levels = service.set_levels(s, ctx.actor, ctx.company_id, [
            rules.Level(lv.rank, lv.code, lv.days_overdue, lv.fee, lv.interest_pct_year) for lv in data.levels])
        return _levels_out(get_company(s, ctx.company_id).currency, levels, False)

    return transaction(work)


@router.post("/invoices/{invoice_id}/disputes", status_code=201, response_model=DisputeOut)
def open_dispute(invoice_id: IdPath, data: DisputeIn, ctx: CtxDep, idempotency_key: IdemKey = None):
    """The customer disputes the invoice (dunning.write): it gets no reminders until the dispute is
    resolved. 409 while another dispute of it is open. Honours Idempotency-Key."""
    return create(ctx, idempotency_key, f"/invoices/{invoice_id}/disputes", data, DisputeOut,
                  lambda s: disputes.dispute_view(s, disputes.open_dispute(s, ctx.actor, ctx.company_id, invoice_id,
                                                                           data.reason)))


@router.get("/invoices/{invoice_id}/disputes", response_model=list[DisputeOut])
def list_disputes(invoice_id: IdPath, ctx: ReaderDep):
    """The invoice's disputes, oldest first."""
    with read_session() as s:
        return [disputes.dispute_view(s, d) for d in disputes.list_disputes(s, ctx.actor, ctx.company_id, invoice_id)]


@router.post("/disputes/{dispute_id}/resolve", response_model=DisputeOut)
def resolve_dispute(dispute_id: IdPath, data: ResolveIn, ctx: CtxDep):
    """Close the dispute with its resolution (dunning.write); the invoice's reminders resume. 409 if it
    is resolved already."""
    return change(DisputeOut, lambda s: disputes.dispute_view(
        s, disputes.resolve(s, ctx.actor, ctx.company_id, dispute_id, data.resolution)))
