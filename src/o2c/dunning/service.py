"""Dunning use cases: the reminder run, reading reminders, and each company's reminder levels.

A run (`run`, permission dunning.write) looks at the company's invoices on a date: those of customers
who have not opted out, with no open dispute and something open, and lets o2c.dunning.rules decide which
level each is due for and how they group into letters (one per customer and currency). Each letter is
stored as a Reminder with its ReminderItems; its fee and its interest are posted with
ledger.rules.fee_charged, each a new open item on the customer's account (REM… and REM…-INT);
it is recorded on the customer's timeline and on each order's timeline, and `reminder.sent` is emitted
(the email goes out from the outbox: o2c.dunning.notifications). All in one transaction.

Idempotent and safe under concurrency by the unique (invoice, rank) of reminder items: the items are
inserted skipping those that exist, and a letter keeps only the items its own insert wrote. A second run
on the same day finds every level sent; two runs at the same moment on PostgreSQL wait on each other's
items and only one letter goes out.

The run reads billing's invoices and disputes in one query (read only), which no billing service offers.
"""
from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal

from sqlalchemy import delete, select
from sqlalchemy.orm import Session, selectinload

from o2c.billing import service as billing
from o2c.billing.models import Invoice, InvoiceDispute
from o2c.core import audit, clock
from o2c.core.auth import Actor, require
from o2c.core.errors import NotFound, ValidationFailed
from o2c.core.events import emit
from o2c.core.listing import newest_first, own_one
from o2c.core.models import Company
from o2c.core.money import round_money
from o2c.customers.models import Customer, CustomerAccount
from o2c.dunning import rules
from o2c.dunning.models import DunningLevel, Reminder, ReminderItem
from o2c.ledger import rules as ledger_rules
from o2c.ledger import service as ledger

CHUNK = 5000  # ids per IN list: well inside SQLite's and PostgreSQL's limits on bound parameters


def _chunks(ids: list[int]):
    for i in range(0, len(ids), CHUNK):
        yield ids[i:i + CHUNK]


# --- levels -------------------------------------------------------------------------------------

def levels(session: Session, company_id: int) -> tuple[tuple[rules.Level, ...], bool]:
    """The company's levels by rank, and whether they are the defaults (it has set none)."""
    rows = session.scalars(select(DunningLevel).where(DunningLevel.company_id == company_id)
                           .order_by(DunningLevel.rank)).all()
    if not rows:
        return rules.DEFAULT_LEVELS, True
    return tuple(rules.Level(r.rank, r.code, r.days_overdue, r.fee, r.interest_pct_year) for r in rows), False


def set_levels(session: Session, actor: Actor, company_id: int, new: list[rules.Level]) -> tuple[rules.Level, ...]:
    """Replace the company's levels (dunning.write). Refused naming the field, nothing changed, unless
    ranks and days both ascend, codes are unique, fees are zero or more and interest is 0-100 %.
    Reminders already sent keep the rank they were sent at."""
    require(actor, "dunning.write")
    # Two changes at once take turns on the company row (no key update: inserts referring to it go on).
    company = session.scalar(select(Company).where(Company.id == company_id).with_for_update(key_share=True))
    if company is None:
        raise NotFound(f"company {company_id} not found")
    checked = rules.check_levels(new, company.currency)
    before, _ = levels(session, company_id)
    session.execute(delete(DunningLevel).where(DunningLevel.company_id == company_id))
    session.add_all(DunningLevel(company_id=company_id, rank=lv.rank, code=lv.code, days_overdue=lv.days_overdue,
                                 fee=lv.fee, interest_pct_year=lv.interest_pct_year) for lv in checked)
    session.flush()
    audit.record(session, actor, "company", company_id, "dunning_levels_set", company_id=company_id, data={
        "before": [_level_text(lv) for lv in before], "after": [_level_text(lv) for lv in checked]})
    return checked


def _level_text(lv: rules.Level) -> str:
    return f"{lv.rank} {lv.code} {lv.days_overdue:+d}d fee {lv.fee} interest {lv.interest_pct_year}%"


# --- the run ------------------------------------------------------------------------------------

@dataclass(frozen=True)
class _Candidate:
    invoice_id: int
    number: str
    order_id: int
    customer_id: int
    currency: str
    due_date: date


def _candidates(session: Session, company_id: int, on: date, lvls: tuple[rules.Level, ...]) -> list[_Candidate]:
    """Invoices that may be due a level on `on`: issued by then, due soon enough for the first level,
    of a customer who has not opted out, with no open dispute, and short of the top level."""
    earliest = min(lv.days_overdue for lv in lvls)
    top = max(lv.rank for lv in lvls)
    disputed = (select(InvoiceDispute.id).where(InvoiceDispute.invoice_id == Invoice.id,
                                                InvoiceDispute.resolved_at.is_(None)).exists())
    at_top = select(ReminderItem.id).where(ReminderItem.invoice_id == Invoice.id, ReminderItem.rank >= top).exists()
    rows = session.execute(
        select(Invoice.id, Invoice.number, Invoice.order_id, Invoice.customer_id, Invoice.currency, Invoice.due_date)
        .join(CustomerAccount, (CustomerAccount.customer_id == Invoice.customer_id)
              & (CustomerAccount.company_id == Invoice.company_id))
        .where(Invoice.company_id == company_id, Invoice.issue_date <= on,
               Invoice.due_date <= on - timedelta(days=earliest),
               CustomerAccount.dunning_opt_out.is_(False), ~disputed, ~at_top)
        .order_by(Invoice.id))
    return [_Candidate(*r) for r in rows]


def _open_invoices(session: Session, cands: list[_Candidate]) -> list[rules.OpenInvoice]:
    """The candidates with what is open on each, the ranks each received and the date interest was last
    charged to."""
    ids = [c.invoice_id for c in cands]
    open_: dict[int, Decimal] = {}
    received: dict[int, set[int]] = defaultdict(set)
    charged_to: dict[int, date] = {}
    for part in _chunks(ids):
        open_.update(billing.open_amounts(session, part))
        for iid, rank, interest, sent_on in session.execute(
                select(ReminderItem.invoice_id, ReminderItem.rank, ReminderItem.interest, Reminder.sent_on)
                .join(Reminder, Reminder.id == ReminderItem.reminder_id).where(ReminderItem.invoice_id.in_(part))):
            received[iid].add(rank)
            if interest > 0 and sent_on > charged_to.get(iid, date.min):
                charged_to[iid] = sent_on
    return [rules.OpenInvoice(c.invoice_id, c.customer_id, c.currency, c.due_date, open_[c.invoice_id],
                              frozenset(received[c.invoice_id]), charged_to.get(c.invoice_id)) for c in cands]


def _insert_items(session: Session, rows: list[dict]) -> set[tuple[int, int]]:
    """Insert the items, skipping any (invoice, rank) that exists; the (reminder, invoice) pairs written.
    A concurrent run's uncommitted item is waited for, then skipped. One statement per batch of rows."""
    if not rows:
        return set()
    if session.get_bind().dialect.name == "postgresql":
        from sqlalchemy.dialects.postgresql import insert
    else:
        from sqlalchemy.dialects.sqlite import insert
    table = ReminderItem.__table__
    stmt = (insert(table).on_conflict_do_nothing(index_elements=["invoice_id", "rank"])
            .returning(table.c.reminder_id, table.c.invoice_id))
    return {(r, i) for r, i in session.execute(stmt, rows)}


def _send(session: Session, actor: Actor, company: Company, letters: list[rules.Letter], on: date,
          by_rank: dict[int, rules.Level], info: dict[int, _Candidate]) -> list[dict]:
    """Store, post, record and announce the letters, in batches (a run may write thousands); the views of
    those sent. A letter keeps the items its own insert wrote: none (a concurrent run sent them all), and
    it is not sent; some, and it is the rest."""
    emails = dict(session.execute(select(Customer.id, Customer.email)
                                  .where(Customer.id.in_({lt.customer_id for lt in letters}))).all())
    rems = [Reminder(company_id=company.id, customer_id=lt.customer_id, level=lt.level.code, rank=lt.level.rank,
                     sent_on=on, currency=lt.currency, open_total=lt.open_total, fee=lt.fee, interest=lt.interest,
                     email=emails.get(lt.customer_id), created_at=clock.now(), created_by=actor.user_id)
            for lt in letters]
    session.add_all(rems)
    session.flush()
    written = _insert_items(session, [
        {"reminder_id": rem.id, "invoice_id": it.invoice_id, "rank": it.rank, "days_overdue": it.days_overdue,
         "open_amount": it.open_amount, "interest": it.interest} for rem, lt in zip(rems, letters) for it in lt.items])
    sent, chart = [], None
    for rem, letter in zip(rems, letters):
        kept = [it for it in letter.items if (rem.id, it.invoice_id) in written]
        if not kept:
            session.delete(rem)
            continue
        if len(kept) < len(letter.items):
            letter = rules.letter(letter.customer_id, letter.currency, kept, by_rank, company.currency)
            rem.level, rem.rank = letter.level.code, letter.level.rank
            rem.open_total, rem.fee, rem.interest = letter.open_total, letter.fee, letter.interest
        number = rules.reminder_number(rem.id)
        # Two open items, so a statement of account tells the fee from the interest: REM… and REM…-INT.
        for kind, ref, amount in ((ledger_rules.FEE, number, letter.fee),
                                  (ledger_rules.INTEREST, rules.interest_item(number), letter.interest)):
            if amount > 0:
                chart = chart or ledger.chart(session, company.id)
                entry = ledger_rules.fee_charged(chart, ref=ref, customer_id=str(letter.customer_id), on=on,
                                                 currency=letter.currency, amount=amount, kind=kind)
                posted = ledger.post(session, actor, company.id, entry)
                rem.journal_entry_id = rem.journal_entry_id or posted.id
        sent.append((rem, number, letter))
    for rem, number, letter in sent:  # after the postings, so each posting's flush carries no records
        _announce(session, actor, company.id, rem, number, letter, on, by_rank, info)
    session.flush()
    return [_view(letter, on, info, rem.email, rem) for rem, _, letter in sent]


def _announce(session: Session, actor: Actor, company_id: int, rem: Reminder, number: str, letter: rules.Letter,
              on: date, by_rank: dict[int, rules.Level], info: dict[int, _Candidate]) -> None:
    """The letter on the customer's timeline and on each of its orders', and `reminder.sent` with the
    figures the email shows."""
    money = lambda amount: str(round_money(amount, letter.currency))  # noqa: E731
    invoices = [info[it.invoice_id] for it in letter.items]
    audit.record(session, actor, "customer", letter.customer_id, "reminder_sent", company_id=company_id, data={
        "reminder": number, "level": letter.level.code, "currency": letter.currency,
        "open_total": money(letter.open_total), "fee": money(letter.fee), "interest": money(letter.interest),
        "total": money(letter.total), "invoices": [c.number for c in invoices]})
    per_order: dict[int, list[str]] = defaultdict(list)
    for c in invoices:
        per_order[c.order_id].append(c.number)
    for order_id, numbers in sorted(per_order.items()):
        audit.record(session, actor, "order", order_id, "reminder_sent", company_id=company_id,
                     data={"reminder": number, "level": letter.level.code, "invoices": numbers})
    emit(session, "reminder.sent", {
        "reminder_id": rem.id, "number": number, "customer_id": letter.customer_id, "level": letter.level.code,
        "rank": letter.level.rank, "sent_on": on.isoformat(), "currency": letter.currency,
        "open_total": money(letter.open_total), "fee": money(letter.fee), "interest": money(letter.interest),
        "total": money(letter.total), "email": rem.email,
        "items": [{"invoice_id": it.invoice_id, "invoice": info[it.invoice_id].number,
                   "due_date": info[it.invoice_id].due_date.isoformat(), "rank": it.rank,
                   "days_overdue": it.days_overdue, "open_amount": money(it.open_amount), "interest": money(it.interest),
                   "interest_pct_year": str(by_rank[it.rank].interest_pct_year)} for it in letter.items]},
        company_id=company_id, entity_id=rem.id)


def run(session: Session, actor: Actor, company_id: int, as_of: date | None = None,
        dry_run: bool = False) -> dict:
    """Send the reminders due on `as_of` (default: the company's business date today); a dry run sends
    nothing and answers what would be sent. A real run may not look ahead of today. Answers the date,
    whether it was a dry run, and the reminders (as `reminder_view` shows them; no id in a dry run)."""
    require(actor, "dunning.write")
    company = session.get(Company, company_id)
    if company is None:
        raise NotFound(f"company {company_id} not found")
    today = clock.today_in(company.timezone)
    on = as_of or today
    if on > today and not dry_run:
        raise ValidationFailed.one("as_of", "in_future", f"as_of {on} is after today ({today}): reminders are not "
                                   "sent ahead of time (a dry run may look ahead)")
    lvls, _ = levels(session, company_id)
    by_rank = {lv.rank: lv for lv in lvls}
    cands = _candidates(session, company_id, on, lvls)
    info = {c.invoice_id: c for c in cands}
    letters = rules.plan(lvls, _open_invoices(session, cands), on, company.currency)
    if dry_run:
        emails = dict(session.execute(select(Customer.id, Customer.email)
                                      .where(Customer.id.in_({lt.customer_id for lt in letters}))).all())
        return {"as_of": on, "dry_run": True,
                "reminders": [_view(lt, on, info, emails.get(lt.customer_id)) for lt in letters]}
    return {"as_of": on, "dry_run": False, "reminders": _send(session, actor, company, letters, on, by_rank, info)}


# --- reading ------------------------------------------------------------------------------------

def get_reminder(session: Session, actor: Actor, company_id: int, reminder_id: int) -> Reminder:
    """A portal user sees their own customer's reminders only; anyone else's is not found."""
    return own_one(session, Reminder, actor, company_id, reminder_id, "reminder", selectinload(Reminder.items))


def list_reminders(session: Session, actor: Actor, company_id: int, *, customer_id: int | None = None,
                   before_id: int | None = None, limit: int = 50) -> list[Reminder]:
    """Newest first; `before_id` is the cursor. A portal user sees their own reminders only."""
    stmt = newest_first(Reminder, actor, company_id, before_id=before_id, limit=limit, customer_id=customer_id)
    return list(session.scalars(stmt.options(selectinload(Reminder.items))))


def _invoices(session: Session, ids: set[int]) -> dict[int, tuple[str, int, date]]:
    if not ids:
        return {}
    return {iid: (number, order_id, due) for iid, number, order_id, due in session.execute(
        select(Invoice.id, Invoice.number, Invoice.order_id, Invoice.due_date).where(Invoice.id.in_(ids)))}


def reminder_view(session: Session, rem: Reminder) -> dict:
    """A reminder as the API shows it: amounts in the currency's minor units."""
    invs = _invoices(session, {it.invoice_id for it in rem.items})
    money = lambda amount: round_money(amount, rem.currency)  # noqa: E731 (exact: stored in minor units)
    return {
        "id": rem.id, "number": rules.reminder_number(rem.id), "customer_id": rem.customer_id, "level": rem.level,
        "rank": rem.rank, "sent_on": rem.sent_on, "currency": rem.currency, "open_total": money(rem.open_total),
        "fee": money(rem.fee), "interest": money(rem.interest),
        "total": money(rem.open_total + rem.fee + rem.interest), "email": rem.email,
        "journal_entry_id": rem.journal_entry_id, "created_at": rem.created_at,
        "items": [{"invoice_id": it.invoice_id, "invoice_number": invs[it.invoice_id][0],
                   "order_id": invs[it.invoice_id][1], "due_date": invs[it.invoice_id][2], "rank": it.rank,
                   "days_overdue": it.days_overdue, "open_amount": money(it.open_amount),
                   "interest": money(it.interest)} for it in rem.items],
    }


def _view(lt: rules.Letter, on: date, info: dict[int, _Candidate], email: str | None,
          rem: Reminder | None = None) -> dict:
    """A letter as reminder_view shows it, from what the run holds (no id or number in a dry run)."""
    money = lambda amount: round_money(amount, lt.currency)  # noqa: E731
    return {
        "id": rem.id if rem else None, "number": rules.reminder_number(rem.id) if rem else None,
        "customer_id": lt.customer_id, "level": lt.level.code, "rank": lt.level.rank, "sent_on": on,
        "currency": lt.currency, "open_total": money(lt.open_total), "fee": money(lt.fee),
        "interest": money(lt.interest), "total": money(lt.total), "email": email,
        "journal_entry_id": rem.journal_entry_id if rem else None, "created_at": rem.created_at if rem else None,
        "items": [{"invoice_id": it.invoice_id, "invoice_number": info[it.invoice_id].number,
                   "order_id": info[it.invoice_id].order_id, "due_date": info[it.invoice_id].due_date,
                   "rank": it.rank, "days_overdue": it.days_overdue, "open_amount": money(it.open_amount),
                   "interest": money(it.interest)} for it in lt.items],
    }
