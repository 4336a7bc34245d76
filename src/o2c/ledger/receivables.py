"""Receivables read from the journal as of a date: each customer's open items and credit items, the
entries on a customer's account, ageing and DSO, per currency.

Everything here reads the two customer accounts (receivables, unapplied credits) line by line, so a fee,
a refund item or a payment counts the moment it is posted, whatever stage posted it. An item's balance
is the sum of its lines dated on or before the day asked (as ledger.rules.open_items sums them).

Due dates are not the ledger's: the caller passes `due_dates`, a lookup from open item to due date (the
invoices' due dates, from billing). An item it does not know (a reminder fee, interest, a refund ahead of
its credit note) is due the day it was posted.
"""
from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal

from sqlalchemy import func, select
from sqlalchemy.orm import Session, selectinload

from o2c.core.money import ZERO, round_money
from o2c.customers import service as customer_service
from o2c.ledger import rules
from o2c.ledger.models import JournalEntry, JournalLine
from o2c.ledger.service import accounts

DueDates = Callable[[Iterable[str]], Mapping[str, date]]


@dataclass(frozen=True)
class Item:
    """One open item (receivables, amount > 0 owed) or credit item (unapplied credits, amount > 0 held)."""

    customer_id: int
    currency: str
    item: str
    posted: date  # the date of its first line: the invoice, fee or payment date
    due_date: date
    amount: Decimal  # what is open on it as of the day asked, positive


def customer_codes(session: Session, company_id: int) -> tuple[str, str]:
    """The account codes of receivables and unapplied credits in the company's chart."""
    chart = rules.check_chart(accounts(session, company_id))
    return chart.code(rules.RECEIVABLES), chart.code(rules.UNAPPLIED_CREDITS)


def items(session: Session, company_id: int, as_of: date, due_dates: DueDates, *, currency: str | None = None,
          customer_id: int | None = None) -> tuple[list[Item], list[Item]]:
    """(open items, credit items) as of the end of `as_of`, oldest first; items at zero left out. One query."""
    ar, credits = customer_codes(session, company_id)
    stmt = (select(JournalLine.account_code, JournalLine.customer_id, JournalEntry.currency, JournalLine.open_item,
                   func.min(JournalEntry.date), func.sum(JournalLine.debit), func.sum(JournalLine.credit))
            .join(JournalEntry, JournalEntry.id == JournalLine.entry_id)
            .where(JournalEntry.company_id == company_id, JournalEntry.date <= as_of,
                   JournalLine.account_code.in_((ar, credits)), JournalLine.customer_id.is_not(None))
            .group_by(JournalLine.account_code, JournalLine.customer_id, JournalEntry.currency, JournalLine.open_item))
    if currency is not None:
        stmt = stmt.where(JournalEntry.currency == currency)
    if customer_id is not None:
        stmt = stmt.where(JournalLine.customer_id == customer_id)
    rows = [(code, cust, cur, item, posted, round_money(Decimal(dr) - Decimal(cr), cur))  # exact: minor units
            for code, cust, cur, item, posted, dr, cr in session.execute(stmt)]
    due = due_dates([item for code, _, _, item, _, balance in rows if code == ar and balance])
    owed, held = [], []
    for code, cust, cur, item, posted, balance in rows:
        if balance == 0:
            continue
        if code == ar:
            owed.append(Item(cust, cur, item, posted, due.get(item, posted), balance))
        else:
            held.append(Item(cust, cur, item, posted, posted, -balance))
    key = lambda it: (it.due_date, it.posted, it.item)  # noqa: E731
    return sorted(owed, key=key), sorted(held, key=key)


def customer_entries(session: Session, company_id: int, customer_id: int, currency: str,
                     as_of: date) -> list[rules.Entry]:
    """The customer's entries in a currency up to `as_of`, oldest first, each with only its lines on the
    customer's own account lines (receivables and unapplied credits)."""
    codes = customer_codes(session, company_id)
    ids = (select(JournalLine.entry_id).where(JournalLine.customer_id == customer_id,
                                              JournalLine.account_code.in_(codes)))
    stmt = (select(JournalEntry).where(JournalEntry.company_id == company_id, JournalEntry.currency == currency,
                                       JournalEntry.date <= as_of, JournalEntry.id.in_(ids))
            .order_by(JournalEntry.date, JournalEntry.number).options(selectinload(JournalEntry.lines)))
    out = []
    for je in session.scalars(stmt):
        lines = tuple(rules.EntryLine(ln.account_code, round_money(ln.debit, currency), round_money(ln.credit, currency),
                                      str(ln.customer_id), ln.open_item)  # exact: entries are in minor units
                      for ln in je.lines if ln.customer_id == customer_id and ln.account_code in codes)
        out.append(rules.Entry(je.date, je.memo, (je.source_kind, je.source_id), lines, je.currency, str(je.number)))
    return out


def days_overdue(due: date, as_of: date) -> int:
    return max(0, (as_of - due).days)


def _open_items(owed: list[Item]) -> list[rules.OpenItem]:
    return [rules.OpenItem(str(it.customer_id), it.item, it.due_date, it.amount) for it in owed]


def ageing(session: Session, company_id: int, as_of: date, due_dates: DueDates) -> list[dict]:
    """Per currency: the open items in buckets of days past due (ledger.rules.BUCKETS) per customer and in
    total, with the unapplied credit each customer holds beside them (not aged: it is not owed) and the
    net (what is owed less that credit). Customers in id order."""
    owed, held = items(session, company_id, as_of, due_dates)
    out = []
    for cur in sorted({it.currency for it in owed + held}):
        mine = [it for it in owed if it.currency == cur]
        credit = [it for it in held if it.currency == cur]

        def row(owed_: list[Item], held_: list[Item]) -> dict:
            buckets = {b: round_money(v, cur) for b, v in rules.ageing(_open_items(owed_), as_of).items()}
            total = sum(buckets.values(), round_money(ZERO, cur))
            unapplied = sum((it.amount for it in held_), round_money(ZERO, cur))
            return {"buckets": buckets, "total": total, "unapplied_credit": unapplied, "net": total - unapplied}

        ids = sorted({it.customer_id for it in mine + credit})
        names = customer_service.labels(session, company_id, ids)
        customers = [{"customer_id": cust, "code": names[cust][0], "name": names[cust][1],
                      **row([it for it in mine if it.customer_id == cust],
                            [it for it in credit if it.customer_id == cust])}
                     for cust in ids]
        out.append({"currency": cur, "as_of": as_of, **row(mine, credit), "customers": customers})
    return out


def credit_sales(session: Session, company_id: int, since: date, until: date) -> dict[str, Decimal]:
    """Per currency: what was invoiced on credit in the days after `since` up to `until` (invoices' gross
    charged to receivables) less the credit notes of those days (their gross). One query."""
    codes = customer_codes(session, company_id)
    rows = session.execute(
        select(JournalEntry.currency, JournalEntry.source_kind, func.sum(JournalLine.debit), func.sum(JournalLine.credit))
        .join(JournalEntry, JournalEntry.id == JournalLine.entry_id)
        .where(JournalEntry.company_id == company_id, JournalEntry.date > since, JournalEntry.date <= until,
               JournalEntry.source_kind.in_(("invoice", "credit_note")), JournalLine.account_code.in_(codes))
        .group_by(JournalEntry.currency, JournalEntry.source_kind))
    out: dict[str, Decimal] = {}
    for cur, kind, dr, cr in rows:
        amount = round_money(Decimal(dr) - Decimal(cr), cur)  # invoice: + gross; credit note: - gross
        out[cur] = out.get(cur, ZERO) + amount
    return out


def dso(session: Session, company_id: int, as_of: date, days: int, due_dates: DueDates) -> list[dict]:
    """Per currency: DSO by the period-end method over the `days` days up to `as_of` (ledger.rules.dso:
    receivables at the end / credit sales of the period x days), the best possible DSO (only what is not
    yet due) and the average days delinquent (DSO - best possible). Receivables are the open items
    (what customers owe), not net of unapplied credit. Without credit sales in the period the ratios are
    None, with the reason."""
    since = as_of - timedelta(days=days)
    owed, _ = items(session, company_id, as_of, due_dates)
    sales = credit_sales(session, company_id, since, as_of)
    out = []
    for cur in sorted({it.currency for it in owed} | set(sales)):
        zero = round_money(ZERO, cur)
        mine = [it for it in owed if it.currency == cur]
        receivables = sum((it.amount for it in mine), zero)
        current = sum((it.amount for it in mine if it.due_date >= as_of), zero)
        s = sales.get(cur, zero)
        row = {"currency": cur, "as_of": as_of, "days": days, "period_from": since + timedelta(days=1),
               "receivables": receivables, "current_receivables": current, "past_due_receivables": receivables - current,
               "credit_sales": s, "dso": None, "best_possible_dso": None, "average_days_delinquent": None,
               "reason": None}
        if s > 0:
            row["dso"] = rules.dso(receivables, s, days)
            row["best_possible_dso"] = rules.best_possible_dso(current, s, days)
            row["average_days_delinquent"] = rules.average_days_delinquent(receivables, current, s, days)
        else:
            row["reason"] = f"no credit sales in {cur} in the {days} days up to {as_of.isoformat()}"
        out.append(row)
    return out
