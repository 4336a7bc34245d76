"""Routes of the ledger: the chart of accounts, the journal (paged, and as CSV), the trial balance with the
receivables check, and the receivables reports (ageing, DSO). Reading the books needs the permission
ledger.read."""
from __future__ import annotations

from datetime import date
from typing import Annotated

from fastapi import APIRouter, Depends, Query
from fastapi.responses import Response
from pydantic import Field

from o2c.billing.statement import invoice_due_dates
from o2c.core import clock
from o2c.core.auth import require
from o2c.core.companies import get as get_company
from o2c.core.db import read_session, transaction
from o2c.core.schemas import DecimalStr, OutModel, Page, StrictModel
from o2c.ledger import receivables, rules, service
from o2c.web.deps import Ctx, context, cursor_to_id

router = APIRouter(prefix="/ledger", tags=["ledger"])


def _ledger_reader(ctx: Annotated[Ctx, Depends(context)]) -> Ctx:
    require(ctx.actor, "ledger.read")
    return ctx


LedgerDep = Annotated[Ctx, Depends(_ledger_reader)]


class AccountOut(OutModel):
    code: str
    name: str
    kind: str
    role: str | None


class LineOut(OutModel):
    account_code: str
    debit: DecimalStr
    credit: DecimalStr
    customer_id: int | None
    open_item: str | None


class EntryOut(OutModel):
    id: int
    number: int
    date: date
    memo: str
    source_kind: str
    source_id: str
    currency: str
    lines: list[LineOut]


class BalanceOut(OutModel):
    code: str
    name: str
    kind: str
    debit: DecimalStr
    credit: DecimalStr
    balance: DecimalStr


class ReceivablesOut(OutModel):
    control: DecimalStr
    subledger: DecimalStr
    agrees: bool
    customers: dict[int, DecimalStr]


class TrialBalanceOut(OutModel):
    currency: str
    accounts: list[BalanceOut]
    debits: DecimalStr
    credits: DecimalStr
    balanced: bool
    receivables: ReceivablesOut | None = None


@router.get("/accounts", response_model=list[AccountOut])
def list_accounts(ctx: LedgerDep):
    """The company's chart of accounts (the default chart until the first posting stores it)."""
    with read_session() as s:
        return [AccountOut.model_validate(a) for a in service.accounts(s, ctx.company_id)]


class AccountIn(StrictModel):
    code: str = Field(min_length=1, max_length=20)
    name: str = Field(min_length=1, max_length=200)
    kind: str = Field(min_length=1, max_length=20, description="asset, liability, equity, revenue or expense")
    role: str | None = Field(None, max_length=40, description="the role templates post to (see GET /ledger/accounts)")


class ChartIn(StrictModel):
    accounts: list[AccountIn] = Field(min_length=1, max_length=2000)


@router.put("/accounts", response_model=list[AccountOut])
def configure_accounts(data: ChartIn, ctx: Annotated[Ctx, Depends(context)]):
    """Replace the chart of accounts (permission ledger.configure): the whole chart, every role held by
    one account of a fitting kind. Accounts with postings keep their kind and stay; the receivables and
    unapplied-credit roles stay where they were posted. Refused as a whole, naming the account."""
    wanted = [rules.Account(a.code, a.name, a.kind, a.role) for a in data.accounts]
    chart = transaction(lambda s: service.configure_chart(s, ctx.actor, ctx.company_id, wanted))
    return [AccountOut.model_validate(a) for a in chart]


@router.get("/entries", response_model=Page[EntryOut])
def list_entries(ctx: LedgerDep, source_kind: str | None = Query(None, max_length=40),
                 source_id: str | None = Query(None, max_length=80), cursor: str | None = None,
                 limit: int = Query(50, ge=1, le=500)):
    """Journal entries, newest first."""
    with read_session() as s:
        rows = service.list_entries(s, ctx.company_id, before_number=cursor_to_id(cursor), limit=limit,
                                    source_kind=source_kind, source_id=source_id)
        return Page[EntryOut](items=[EntryOut.model_validate(service.entry_view(e)) for e in rows],
                              next_cursor=str(rows[-1].number) if len(rows) == limit else None)


@router.get("/trial-balance", response_model=list[TrialBalanceOut])
def trial_balance(ctx: LedgerDep):
    """Per currency: every account's debits, credits and balance; whether debits equal credits; and the
    receivables subledger against its control accounts."""
    with read_session() as s:
        ar = {r["currency"]: r for r in service.ar_check(s, ctx.company_id)}
        return [TrialBalanceOut.model_validate({**tb, "receivables": ar.get(tb["currency"])})
                for tb in service.trial_balance(s, ctx.company_id)]


@router.get("/journal.csv", response_class=Response)
def journal_csv(ctx: LedgerDep, date_from: date | None = None, date_to: date | None = None):
    """The journal as CSV, one row per line (columns: date, entry, account, account_name, debit, credit,
    currency, customer, open_item, memo, source)."""
    with read_session() as s:
        text = service.journal_csv(s, ctx.company_id, date_from=date_from, date_to=date_to)
    return Response(text, media_type="text/csv; charset=utf-8",
                    headers={"Content-Disposition": 'attachment; filename="journal.csv"'})


class CustomerAgeingOut(OutModel):
    customer_id: int
    code: str
    name: str
    buckets: dict[str, DecimalStr]
    total: DecimalStr
    unapplied_credit: DecimalStr
    net: DecimalStr


class AgeingOut(OutModel):
    currency: str
    as_of: date
    buckets: dict[str, DecimalStr]
    total: DecimalStr
    unapplied_credit: DecimalStr
    net: DecimalStr
    customers: list[CustomerAgeingOut]


class DsoOut(OutModel):
    currency: str
    as_of: date
    days: int
    period_from: date
    receivables: DecimalStr
    current_receivables: DecimalStr
    past_due_receivables: DecimalStr
    credit_sales: DecimalStr
    dso: DecimalStr | None
    best_possible_dso: DecimalStr | None
    average_days_delinquent: DecimalStr | None
    reason: str | None


def _as_of(s, ctx, as_of: date | None) -> date:
    return as_of or clock.today_in(get_company(s, ctx.company_id).timezone)


@router.get("/ageing", response_model=list[AgeingOut])
def ageing(ctx: LedgerDep, as_of: date | None = None):
    """Receivables ageing per currency as of a date (default today): the open items (invoices, fees,
    refund items) in buckets current, 1-30, 31-60, 61-90, 90+ days past their due date, per customer and
    in total, with the unapplied credit each customer holds and the net."""
    with read_session() as s:
        day = _as_of(s, ctx, as_of)
        return [AgeingOut.model_validate(r)
                for r in receivables.ageing(s, ctx.company_id, day, invoice_due_dates(s, ctx.company_id))]


@router.get("/dso", response_model=list[DsoOut])
def dso(ctx: LedgerDep, days: int = Query(90, ge=1, le=3660), as_of: date | None = None):
    """Days sales outstanding per currency over the `days` up to as_of (default today), period-end method:
    receivables / credit sales x days; with the best possible DSO (receivables not yet due) and the
    average days delinquent (DSO - best possible). Credit sales: invoices less credit notes of the period."""
    with read_session() as s:
        day = _as_of(s, ctx, as_of)
        return [DsoOut.model_validate(r)
                for r in receivables.dso(s, ctx.company_id, day, days, invoice_due_dates(s, ctx.company_id))]
