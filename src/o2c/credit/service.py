"""Credit use cases: customers' financial statements, scoring runs, a customer's credit profile, the
open credit holds, and asking for a limit change (applied by a second user: o2c.customers.changes).

Scoring reads the statements and this company's invoice history of the customer (invoices, credit
notes, settlements, disputes, bounced payments) and calls the pure o2c.credit.scoring; the score is
stored with every reason and the inputs as computed. docs/credit.md, docs/credit-scoring.md.
"""
from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from o2c.billing.models import CreditNote, Invoice, InvoiceDispute
from o2c.core import audit, clock
from o2c.core.auth import Actor, require
from o2c.core.errors import Forbidden, ValidationFailed
from o2c.core.events import emit
from o2c.core.models import Company
from o2c.core.money import ZERO, plain, round_money
from o2c.credit import approvals, exposure, rules, scoring
from o2c.credit.models import ApprovalRequest, CreditScore, CreditStatement
from o2c.customers import service as customers
from o2c.payments.models import Payment, Settlement

FIGURES = ("total_assets", "current_assets", "current_liabilities", "total_liabilities", "inventory",
           "retained_earnings", "ebit", "interest_expense", "sales", "market_value_of_equity")
HISTORY_MONTHS = 12


def _load(session: Session, actor: Actor, company_id: int, customer_id: int):
    if actor.customer_id is not None:
        raise Forbidden("credit records are for the company's staff", permission="credit.write")
    return customers.load(session, company_id, customer_id)


def _company(session: Session, company_id: int) -> Company:
    return session.get(Company, company_id)


# ---------------------------------------------------------------- statements

def submit_statement(session: Session, actor: Actor, company_id: int, customer_id: int, *, period_end: date,
                     currency: str, figures: dict, source: str | None = None) -> CreditStatement:
    """Record one period's statements as submitted; refused (422, naming the figure) when they cannot be true."""
    require(actor, "credit.write")
    c, _ = _load(session, actor, company_id, customer_id)
    unknown = sorted(set(figures) - set(FIGURES))
    if unknown:
        raise ValidationFailed.one(f"figures.{unknown[0]}", "unknown", f"unknown figure {unknown[0]!r}; "
                                   f"the figures are {', '.join(FIGURES)}")
    if period_end > clock.today_in(_company(session, company_id).timezone):
        raise ValidationFailed.one("period_end", "in_future", f"period_end {period_end} has not ended yet")
    s = scoring.Statements(currency=currency, **{k: figures.get(k) for k in FIGURES})  # raises naming the figure
    stored = {k: None if getattr(s, k) is None else plain(getattr(s, k)) for k in FIGURES}
    row = CreditStatement(customer_id=c.id, period_end=period_end, currency=currency, figures=stored,
                          source=source, submitted_by=actor.user_id, submitted_at=clock.now())
    session.add(row)
    session.flush()
    audit.record(session, actor, "customer", c.id, "credit_statement_submitted", company_id=company_id,
                 data={"statement_id": row.id, "period_end": period_end.isoformat(), "currency": currency,
                       "source": source})
    return row


def statements(session: Session, actor: Actor, company_id: int, customer_id: int) -> list[CreditStatement]:
    """The customer's statements, latest period first."""
    c, _ = _load(session, actor, company_id, customer_id)
    return list(session.scalars(select(CreditStatement).where(CreditStatement.customer_id == c.id)
                                .order_by(CreditStatement.period_end.desc(), CreditStatement.id.desc())))


def _as_statements(row: CreditStatement) -> scoring.Statements:
    f = row.figures
    return scoring.Statements(currency=row.currency, **{k: None if f.get(k) is None else Decimal(f[k]) for k in FIGURES})


# ---------------------------------------------------------------- payment history

def payment_history(session: Session, company_id: int, customer_id: int, as_of: date
                    ) -> tuple[list[scoring.Invoice], int, int, Decimal]:
    """The customer's invoices issued in the last 12 months (to `as_of`) as scoring sees them: amount after
    credit notes, paid on the day settlements first covered it; the disputes opened on them; payments
    received in the period that bounced; and the gross invoiced (for the expected monthly purchases)."""
    start = scoring.months_before(as_of, HISTORY_MONTHS)
    invs = list(session.execute(select(Invoice.id, Invoice.issue_date, Invoice.due_date, Invoice.gross_total)
                                .where(Invoice.company_id == company_id, Invoice.customer_id == customer_id,
                                       Invoice.issue_date > start, Invoice.issue_date <= as_of)
                                .order_by(Invoice.id)))
    ids = [i.id for i in invs]
    notes = dict(session.execute(select(CreditNote.invoice_id, func.sum(CreditNote.gross_total))
                                 .where(CreditNote.invoice_id.in_(ids), CreditNote.issue_date <= as_of)
                                 .group_by(CreditNote.invoice_id)).all()) if ids else {}
    settlements: dict[int, list] = {}
    if ids:
        for iid, on, amount in session.execute(select(Settlement.invoice_id, Settlement.settled_on, Settlement.amount)
                                               .where(Settlement.invoice_id.in_(ids), Settlement.settled_on <= as_of)
                                               .order_by(Settlement.settled_on, Settlement.id)):
            settlements.setdefault(iid, []).append((on, amount))
    history, invoiced = [], ZERO
    for i in invs:
        invoiced += i.gross_total
        amount = i.gross_total - Decimal(notes.get(i.id) or 0)
        if amount <= 0:
            continue  # credited in full: nothing was owed
        paid, total = None, ZERO
        for on, part in settlements.get(i.id, []):
            total += part
            paid = (paid or max(on, i.issue_date)) if total >= amount else None  # a reversal reopens it
        history.append(scoring.Invoice(i.issue_date, i.due_date, amount, paid))
    disputes = session.scalar(select(func.count(InvoiceDispute.id)).where(InvoiceDispute.invoice_id.in_(ids))) if ids else 0
    bounced = session.scalar(select(func.count(Payment.id)).where(
        Payment.company_id == company_id, Payment.customer_id == customer_id, Payment.bounced_at.is_not(None),
        Payment.received_on > start, Payment.received_on <= as_of))
    return history, int(disputes or 0), int(bounced or 0), invoiced


# ---------------------------------------------------------------- scores

def _figure(f: scoring.Figure) -> dict:
    return {"value": None if f.value is None else plain(f.value), "reason": f.reason}


def _z(z: scoring.ZScore) -> dict:
    return {"model": z.model.name, "label": z.model.label, "value": None if z.value is None else plain(z.value),
            "zone": z.zone, "reason": z.reason}


def _behaviour(pb: scoring.PaymentBehaviour) -> dict:
    out = {k: getattr(pb, k) for k in ("average_days_beyond_terms", "weighted_dso", "late_share_by_amount",
                                      "late_share_by_count", "trend_days")}
    return {**{k: None if v is None else plain(v) for k, v in out.items()}, "disputes": pb.disputes,
            "bounced_payments": pb.bounced_payments, "trend_reason": pb.trend_reason}


def run_score(session: Session, actor: Actor, company_id: int, customer_id: int, *, statement_id: int | None = None,
              listed: bool = False, manufacturer: bool = False, emerging_market: bool = False,
              expected_monthly_purchases: Decimal | None = None, as_of: date | None = None) -> CreditScore:
    """Grade the customer from its latest statements (or the one named) and its payment behaviour with this
    company, recommend a limit, and store the score with every reason."""
    require(actor, "credit.write")
    c, acc = _load(session, actor, company_id, customer_id)
    today = clock.today_in(_company(session, company_id).timezone)
    as_of = as_of or today
    if as_of > today:
        raise ValidationFailed.one("as_of", "in_future", f"as_of {as_of} is after today ({today})")
    stmt = select(CreditStatement).where(CreditStatement.customer_id == c.id)
    if statement_id is not None:
        row = session.scalar(stmt.where(CreditStatement.id == statement_id))
        if row is None:
            raise ValidationFailed.one("statement_id", "not_found", f"customer {c.code} has no statement {statement_id}")
    else:
        row = session.scalar(stmt.where(CreditStatement.period_end <= as_of)
                             .order_by(CreditStatement.period_end.desc(), CreditStatement.id.desc()).limit(1))
    if row is not None and row.currency != acc.currency:
        raise ValidationFailed.one("statement_id", "currency_mismatch",
                                   f"statement {row.id} is in {row.currency}, the account in {acc.currency}: "
                                   "submit statements in the account's currency to score against its limit")
    financials = None
    if row is not None:
        financials = scoring.analyse_statements(_as_statements(row), listed=listed, manufacturer=manufacturer,
                                                emerging_market=emerging_market)
    history, disputes, bounced, invoiced = payment_history(session, company_id, c.id, as_of)
    behaviour = scoring.payment_behaviour(history, as_of=as_of, disputes=disputes, bounced_payments=bounced) \
        if history or disputes or bounced else None
    if expected_monthly_purchases is None:
        if invoiced == 0:
            raise ValidationFailed.one("expected_monthly_purchases", "required",
                                       f"customer {c.code} has no invoices in the last {HISTORY_MONTHS} months: "
                                       "give the purchases expected per month")
        expected_monthly_purchases = round_money(invoiced / HISTORY_MONTHS, acc.currency)
    g = scoring.grade(financials, behaviour)
    limit = scoring.recommended_limit(financials, g, expected_monthly_purchases=expected_monthly_purchases,
                                      currency=acc.currency, net_days=acc.payment_terms_days)
    inputs = {
        "as_of": as_of.isoformat(), "statement_id": None if row is None else row.id,
        "expected_monthly_purchases": plain(expected_monthly_purchases), "invoices_counted": len(history),
        "payment_behaviour": None if behaviour is None else _behaviour(behaviour),
        "limit": {"amount": plain(limit.amount), "cap": plain(limit.cap),
                  "capacity": None if limit.capacity is None else plain(limit.capacity),
                  "grade_share": plain(limit.grade_share), "explanation": limit.explanation},
    }
    if financials is not None:
        inputs["financials"] = {
            "current_ratio": _figure(financials.current_ratio), "quick_ratio": _figure(financials.quick_ratio),
            "debt_to_equity": _figure(financials.debt_to_equity),
            "interest_coverage": _figure(financials.interest_coverage), "z": _z(financials.z),
            "other_models": [_z(z) for z in financials.other_models]}
    score = CreditScore(company_id=company_id, customer_id=c.id, statement_id=None if row is None else row.id,
                        grade=g.grade, points=Decimal(g.points), recommended_limit=limit.amount, currency=acc.currency,
                        reasons=[{"factor": r.factor, "points": r.points, "text": r.text} for r in g.reasons],
                        inputs=inputs, computed_by=actor.user_id, computed_at=clock.now())
    session.add(score)
    session.flush()
    audit.record(session, actor, "customer", c.id, "credit_scored", company_id=company_id,
                 data={"score_id": score.id, "grade": g.grade, "points": g.points,
                       "recommended_limit": plain(limit.amount), "currency": acc.currency})
    emit(session, "credit.scored", {"score_id": score.id, "customer_id": c.id, "grade": g.grade},
         company_id=company_id, entity_id=c.id)
    return score


def scores(session: Session, actor: Actor, company_id: int, customer_id: int) -> list[CreditScore]:
    """The customer's scores in this company, latest first."""
    c, _ = _load(session, actor, company_id, customer_id)
    return list(session.scalars(select(CreditScore).where(CreditScore.company_id == company_id,
                                                          CreditScore.customer_id == c.id)
                                .order_by(CreditScore.id.desc())))


def score_view(s: CreditScore) -> dict:
    return {"id": s.id, "customer_id": s.customer_id, "statement_id": s.statement_id, "grade": s.grade,
            "points": int(s.points), "recommended_limit": _money(s.recommended_limit, s.currency), "currency": s.currency,
            "reasons": s.reasons, "inputs": s.inputs, "computed_at": s.computed_at}


# ---------------------------------------------------------------- profile, holds, limits

def _money(amount: Decimal | None, currency: str) -> Decimal | None:
    return None if amount is None else round_money(amount, currency)


def profile(session: Session, actor: Actor, company_id: int, customer_id: int) -> dict:
    """The customer's credit position now: limits, exposure broken down, what is available, overdue
    invoices, the latest score and the holds waiting for a decision."""
    c, acc = _load(session, actor, company_id, customer_id)
    company = _company(session, company_id)
    today = clock.today_in(company.timezone)
    days = company.credit_overdue_days
    mine = exposure.figures(session, company_id, [c.id], acc.currency, today=today,
                            overdue_before=today - timedelta(days=days or 0))
    out = {
        "customer_id": c.id, "customer_code": c.code, "currency": acc.currency,
        "credit_limit": _money(acc.credit_limit, acc.currency),
        "exposure": mine.exposure.as_dict(), "available": _money(rules.available(acc.credit_limit, mine.exposure), acc.currency),
        "overdue": {"older_than_days": days or 0, "holds_orders": days is not None, "count": mine.overdue.count,
                    "amount": mine.overdue.amount, "oldest_days": mine.overdue.oldest_days},
        "group": None, "latest_score": None,
    }
    root_id = exposure.group_root(session, c.id)
    members = exposure.group_members(session, root_id)
    root_acc = acc if root_id == c.id else exposure.account(session, company_id, root_id)
    if len(members) > 1 or (root_acc is not None and root_acc.group_credit_limit is not None):
        cur = root_acc.currency if root_acc else acc.currency
        group = exposure.figures(session, company_id, members, cur).exposure
        limit = root_acc.group_credit_limit if root_acc else None
        out["group"] = {"root_customer_id": root_id, "members": members, "currency": cur,
                        "group_credit_limit": _money(limit, cur),
                        "exposure": group.as_dict(), "available": _money(rules.available(limit, group), cur)}
    latest = session.scalar(select(CreditScore).where(CreditScore.company_id == company_id,
                                                      CreditScore.customer_id == c.id)
                            .order_by(CreditScore.id.desc()).limit(1))
    if latest is not None:
        out["latest_score"] = score_view(latest)
    out["open_holds"] = holds(session, actor, company_id, customer_id=c.id)
    return out


def holds(session: Session, actor: Actor, company_id: int, *, customer_id: int | None = None,
          after_id: int | None = None, limit: int = 100) -> list[dict]:
    """Orders on a credit hold waiting for a decision, oldest first."""
    if actor.customer_id is not None:
        raise Forbidden("credit records are for the company's staff", permission="credit.write")
    stmt = (select(ApprovalRequest).where(ApprovalRequest.company_id == company_id, ApprovalRequest.kind == "credit",
                                          ApprovalRequest.status == "pending")
            .order_by(ApprovalRequest.id).limit(limit))
    if customer_id is not None:
        stmt = stmt.where(ApprovalRequest.customer_id == customer_id)
    if after_id is not None:
        stmt = stmt.where(ApprovalRequest.id > after_id)
    return approvals.views(session, list(session.scalars(stmt)))


def request_limit_change(session: Session, actor: Actor, company_id: int, customer_id: int, *,
                         values: dict, reason: str | None) -> list:
    """Ask for a new credit limit and/or group credit limit (None: no limit). Each waits for a second user
    with credit.approve (o2c.customers.changes); both are asked in one transaction or neither."""
    from o2c.customers import changes

    require(actor, "credit.write")
    _load(session, actor, company_id, customer_id)
    if not values:
        raise ValidationFailed.one("credit_limit", "required", "give credit_limit and/or group_credit_limit")
    return [changes.request_change(session, actor, company_id, customer_id, field, {field: value}, reason)
            for field, value in values.items()]
