"""A customer's statement of account in one currency as of a date: the account's movements in a period
(from its opening to its closing balance), the open items with their due dates and days overdue, the
credit the customer holds, and the ageing of what is open.

Every figure is read from the ledger's customer accounts (o2c.ledger.receivables), so invoices, credit
notes, payments, card captures, discounts, write-offs, fees and refunds all count as soon as they are
posted, and the statement always equals the books: closing balance = opening balance + the movements =
open items - unapplied credit. `figures` is the pure part; `statement` loads and assembles.
"""
from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from decimal import Decimal

from sqlalchemy import select
from sqlalchemy.orm import Session

from o2c.billing.models import Invoice
from o2c.core import clock
from o2c.core.auth import Actor, require
from o2c.core.companies import get as get_company
from o2c.core.errors import ErrorList
from o2c.core.money import ZERO, known_currencies, round_money
from o2c.customers import service as customers
from o2c.ledger import receivables, rules

# What each kind of journal source is called on a statement.
KIND_NAMES = {
    "invoice": "Invoice", "credit_note": "Credit note", "payment": "Payment", "card_capture": "Card payment",
    "credit_application": "Credit applied", "discount": "Early-payment discount", "write_off": "Written off",
    "fee": "Reminder fee", "interest": "Interest", "refund": "Refund", "rebate_settlement": "Rebate",
    "payment_bounce": "Payment bounced", "bounce_fee": "Bounce fee", "reversal": "Reversed",
}


@dataclass(frozen=True)
class Movement:
    """One entry on the customer's account in the period; `balance` is the running balance after it."""

    date: date
    entry: str  # the journal entry number
    kind: str  # the entry's source kind: invoice, payment, credit_note, fee...
    document: str  # the source document's number
    memo: str
    charge: Decimal  # what it added to what the customer owes
    credit: Decimal  # what it took off
    balance: Decimal


@dataclass(frozen=True)
class OpenLine:
    """An item the customer owes (an invoice, fee, interest or refund item) as of the statement date."""

    item: str
    kind: str
    posted: date
    due_date: date
    days_overdue: int
    charged: Decimal  # everything charged to it
    open: Decimal  # what is still open


@dataclass(frozen=True)
class CreditLine:
    """Credit the customer holds, not yet applied (a payment's rest, a credit note on a paid invoice)."""

    item: str
    kind: str
    posted: date
    amount: Decimal


@dataclass(frozen=True)
class Figures:
    opening_balance: Decimal
    movements: tuple[Movement, ...]
    closing_balance: Decimal
    open_items: tuple[OpenLine, ...]
    credits: tuple[CreditLine, ...]
    open_total: Decimal
    overdue_total: Decimal
    credit_total: Decimal
    ageing: dict[str, Decimal]


def figures(entries: Sequence[rules.Entry], ar_code: str, credit_code: str, due_dates: Mapping[str, date],
            as_of: date, date_from: date) -> Figures:
    """The statement's figures from the customer's entries up to `as_of` (their lines on the two customer
    accounts only), with the invoices' due dates (other items are due on the day they were posted)."""
    opening = ZERO
    movements = []
    first: dict[tuple[str, str], tuple[date, str]] = {}  # (account, item) -> (posted, kind) of its first line
    charged: dict[str, Decimal] = {}
    for e in entries:
        change = ZERO
        for ln in e.lines:
            change += ln.debit - ln.credit
            first.setdefault((ln.account_code, ln.open_item), (e.date, e.source[0]))
            if ln.account_code == ar_code:
                charged[ln.open_item] = charged.get(ln.open_item, ZERO) + ln.debit
        if e.date < date_from:
            opening += change
        elif change:  # credit applied moves credit onto an invoice: the balance does not change
            balance = (movements[-1].balance if movements else opening) + change
            movements.append(Movement(e.date, e.number or "", e.source[0], e.source[1], e.memo,
                                      max(change, ZERO), max(-change, ZERO), balance))
    closing = movements[-1].balance if movements else opening
    owed = []
    for (_, item), amount in rules.open_items(entries, ar_code).items():
        posted, kind = first[(ar_code, item)]
        due = due_dates.get(item, posted)
        owed.append(OpenLine(item, kind, posted, due, receivables.days_overdue(due, as_of), charged[item], amount))
    owed.sort(key=lambda o: (o.due_date, o.posted, o.item))
    held = sorted((CreditLine(item, first[(credit_code, item)][1], first[(credit_code, item)][0], -amount)
                   for (_, item), amount in rules.open_items(entries, credit_code).items()),
                  key=lambda c: (c.posted, c.item))
    ageing = rules.ageing((rules.OpenItem("", o.item, o.due_date, o.open) for o in owed), as_of)
    open_total = sum((o.open for o in owed), ZERO)
    credit_total = sum((c.amount for c in held), ZERO)
    assert open_total - credit_total == closing, "the statement's items and its movements disagree"
    return Figures(opening, tuple(movements), closing, tuple(owed), tuple(held), open_total,
                   sum((o.open for o in owed if o.days_overdue > 0), ZERO), credit_total, ageing)


@dataclass(frozen=True)
class Statement:
    seller: tuple[str, ...]  # name and address lines
    customer_id: int
    customer_code: str
    customer: tuple[str, ...]  # name and billing address lines
    currency: str
    as_of: date
    date_from: date
    figures: Figures


def invoice_due_dates(session: Session, company_id: int):
    """A lookup from open items to the due dates of the company's invoices of those numbers (for
    o2c.ledger.receivables); numbers of no invoice are left out."""
    def lookup(numbers: Iterable[str]) -> dict[str, date]:
        numbers = sorted(set(numbers))
        out: dict[str, date] = {}
        for i in range(0, len(numbers), 5000):  # keeps the IN list under SQLite's variable limit
            out.update(session.execute(select(Invoice.number, Invoice.due_date).where(
                Invoice.company_id == company_id, Invoice.number.in_(numbers[i:i + 5000]))).all())
        return out
    return lookup


def _address(name: str, street: Iterable[str | None], city: Iterable[str | None], country: str | None,
             *extra: str) -> tuple[str, ...]:
    town = " ".join(p for p in city if p)
    return tuple(p for p in (name, *street, town, country, *extra) if p)


def statement(session: Session, actor: Actor, company_id: int, customer_id: int, *, as_of: date | None = None,
              date_from: date | None = None, currency: str | None = None) -> Statement:
    """The statement of a customer's account. A portal user gets their own customer's only (another's is
    not found). as_of defaults to today in the company's time zone, the period to that month so far, the
    currency to the customer's account currency."""
    require(actor, "read")
    customer, account = customers.load(session, company_id, customer_id, actor)
    company = get_company(session, company_id)
    as_of = as_of or clock.today_in(company.timezone)
    date_from = date_from or as_of.replace(day=1)
    currency = currency or account.currency
    errors = ErrorList()
    if date_from > as_of:
        errors.add("from", "after_as_of", f"the period starts on {date_from}, after the statement date {as_of}")
    if currency not in known_currencies():
        errors.add("currency", "unknown", f"{currency!r} is not an ISO 4217 currency")
    errors.raise_if_any()
    entries = receivables.customer_entries(session, company_id, customer_id, currency, as_of)
    ar_code, credit_code = receivables.customer_codes(session, company_id)
    items = {ln.open_item for e in entries for ln in e.lines if ln.account_code == ar_code}
    billing = customers.customer_view(session, company_id, customer_id)["billing_address"]
    return Statement(
        seller=_address(company.legal_name or company.name, (company.street,), (company.postal_code, company.city),
                        company.country, *([f"VAT id: {company.vat_id}"] if company.vat_id else [])),
        customer_id=customer.id, customer_code=customer.code,
        customer=_address(customer.legal_name, (billing.line1, billing.line2) if billing else (),
                          (billing.city, billing.region, billing.postal_code) if billing else (),
                          billing.country if billing else None),
        currency=currency, as_of=as_of, date_from=date_from,
        figures=figures(entries, ar_code, credit_code, invoice_due_dates(session, company_id)(items), as_of, date_from))


def statement_view(st: Statement) -> dict:
    """The statement as the API shows it: amounts in the currency's minor units."""
    f = st.figures
    money = lambda amount: round_money(amount, st.currency)  # noqa: E731 (exact: the ledger is in minor units)
    return {
        "customer_id": st.customer_id, "customer_code": st.customer_code, "customer": list(st.customer),
        "currency": st.currency, "as_of": st.as_of, "from": st.date_from,
        "opening_balance": money(f.opening_balance), "closing_balance": money(f.closing_balance),
        "balance": money(f.closing_balance), "open_total": money(f.open_total), "overdue_total": money(f.overdue_total),
        "unapplied_credit": money(f.credit_total), "ageing": {b: money(v) for b, v in f.ageing.items()},
        "movements": [{"date": m.date, "entry": m.entry, "kind": m.kind, "document": m.document, "memo": m.memo,
                       "charge": money(m.charge), "credit": money(m.credit), "balance": money(m.balance)}
                      for m in f.movements],
        "open_items": [{"item": o.item, "kind": o.kind, "posted": o.posted, "due_date": o.due_date,
                        "days_overdue": o.days_overdue, "charged": money(o.charged), "open": money(o.open)}
                       for o in f.open_items],
        "credits": [{"item": c.item, "kind": c.kind, "posted": c.posted, "amount": money(c.amount)} for c in f.credits],
    }
