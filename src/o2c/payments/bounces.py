"""Bounced payments: a payment that did not clear (a cheque bounced, a direct debit came back) is undone.

Everything the payment did is taken back, in one transaction:
- each invoice it paid owes again what it paid, and the early-payment discount taken with it;
- a short payment written off after it (the write-off that followed it on the invoice) is taken back;
- the unapplied credit it left is taken back (a bounce is refused while part of that credit has been used
  by apply_credit or otherwise: reverse that use first);
- a credit note issued on an invoice after the payment had settled it sent its credit to the customer's
  account (o2c.ledger.rules.credit_note_issued); with the invoice open again, that credit goes back onto it.

Settlements are posted records: each is undone by a settlement of the same kind and the opposite amount
(reason "bounced: ..."), so every sum over settlements (an invoice's open amount, what a payment applied)
reads right. The payment itself is marked bounced (bounced_at, bounce_reason, bounced_by), once.

The ledger: o2c.ledger.rules.payment_bounced (Dr receivables per invoice, Dr unapplied credits, Cr the
bank), entry_reversed for each discount and write-off, credit_applied for a credit note's credit put back,
and bounce_fee_charged for an optional fee charged to the customer (its own open item, `<payment>-FEE`).

Card payments are not bounced: a card payment is reversed by a refund or a chargeback.

Locks, in payments.service's order: the customer's account (the payment's credit is in play), then the
invoices (id order), then the journal counter.
"""
from __future__ import annotations

from collections import defaultdict
from datetime import date
from decimal import Decimal
from typing import NamedTuple

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from o2c.billing import service as billing
from o2c.billing.models import CreditNote, Invoice
from o2c.core import audit, clock
from o2c.core.auth import Actor, require
from o2c.core.errors import Conflict, ErrorList, NotFound
from o2c.core.events import emit
from o2c.core.models import Company
from o2c.core.money import ZERO, round_money
from o2c.customers import service as customers
from o2c.ledger import rules as ledger_rules
from o2c.ledger import service as ledger
from o2c.ledger.models import JournalEntry
from o2c.payments import rules
from o2c.payments.models import Payment, Settlement
from o2c.payments.service import invoice_numbers

REASON_MAX = 500


def check_bounce(errors: ErrorList, *, reason: object, fee: object, currency: str) -> None:
    """The request's own fields: a reason, and a fee (if any) above zero in the currency's minor units."""
    if not (isinstance(reason, str) and reason.strip()):
        errors.add("reason", "required", "say why the payment bounced (e.g. 'cheque returned: insufficient funds')")
    elif len(reason.strip()) > REASON_MAX:
        errors.add("reason", "too_long", f"reason is {len(reason.strip())} characters, at most {REASON_MAX}")
    if fee is not None:
        rules._amount_ok(errors, "fee", fee, currency)


def fee_item(payment_number: str) -> str:
    return f"{payment_number}-FEE"


def _money(amount: Decimal, currency: str) -> str:
    return str(round_money(amount, currency))


def _payment(session: Session, company_id: int, payment_id: object) -> Payment:
    """The company's payment, read afresh (after the account lock, another bounce may have committed)."""
    if not isinstance(payment_id, int) or isinstance(payment_id, bool):
        raise NotFound(f"payment {payment_id!r} not found")
    pay = session.scalar(select(Payment).where(Payment.company_id == company_id, Payment.id == payment_id)
                         .execution_options(populate_existing=True))
    if pay is None:
        raise NotFound(f"payment {payment_id} not found")
    return pay


def _taken_with(settlements: list[Settlement], payment_id: int) -> list[Settlement]:
    """The write-offs a payment brought about: on each invoice, a write-off belongs to the money
    settlement (payment or credit) just before it; those that follow this payment's."""
    last: dict[int, Settlement] = {}
    out = []
    for st in sorted(settlements, key=lambda s: s.id):
        if st.kind in (rules.PAYMENT, rules.CREDIT) and st.amount > 0:
            last[st.invoice_id] = st
        elif st.kind == rules.WRITE_OFF and st.amount > 0:
            before = last.get(st.invoice_id)
            if before is not None and before.kind == rules.PAYMENT and before.payment_id == payment_id:
                out.append(st)
    return out


def _credit_held(session: Session, company_id: int, pay: Payment, own: list[Settlement]) -> Decimal:
    """The unapplied credit the payment left, all of it still held; refused when part was used since."""
    cur = pay.currency
    left = pay.amount - sum((s.amount for s in own if s.kind == rules.PAYMENT), ZERO)
    held = -ledger.open_item_balances(session, company_id, ledger_rules.UNAPPLIED_CREDITS, customer_id=pay.customer_id,
                                      items=[pay.number]).get((pay.customer_id, cur, pay.number), ZERO)
    if held != left:
        used = sorted({s.invoice_id for s in own if s.kind == rules.CREDIT})
        found = invoice_numbers(session, used)
        numbers = [found[i] for i in used]
        by = f"applied to {', '.join(numbers)}" if numbers else "used (refunded or applied)"
        raise Conflict(f"payment {pay.number} left {_money(left, cur)} {cur} as credit and "
                       f"{_money(left - held, cur)} of it was {by}: reverse that first",
                       [], payment_id=pay.id, credit_used_on=numbers)
    return held


class _NoteBack(NamedTuple):
    """A credit note's credit put back on the invoice it credited: `take` of the `held` on `note`, onto
    `invoice`, whose ledger open item is `open_item` before it."""

    invoice: str
    note: str
    take: Decimal
    held: Decimal
    open_item: Decimal


def _credit_notes_back(session: Session, company_id: int, pay: Payment, locked: dict[int, tuple[Invoice, Decimal]],
                       back: dict[int, Decimal], settled: dict[int, Decimal]) -> list[_NoteBack]:
    """A credit note issued after an invoice was paid sent its credit to the customer's account (nothing
    was open on the invoice). With the invoice owing again, the ledger's open item would say more than
    billing's open amount (gross less notes less settlements); the difference is that credit, put back
    on the invoice from its notes, newest first. Refused when the notes no longer hold enough."""
    ar = ledger.open_item_balances(session, company_id, ledger_rules.RECEIVABLES, customer_id=pay.customer_id,
                                   items=[inv.number for inv, _ in locked.values()])
    out = []
    for iid, (inv, notes) in sorted(locked.items()):
        ledger_after = ar.get((inv.customer_id, inv.currency, inv.number), ZERO) + back[iid]
        gap = ledger_after - max(ZERO, inv.gross_total - notes - settled[iid] + back[iid])
        if gap <= 0:
            continue
        note_numbers = list(session.scalars(select(CreditNote.number).where(CreditNote.invoice_id == iid)
                                            .order_by(CreditNote.id.desc())))
        credits = ledger.open_item_balances(session, company_id, ledger_rules.UNAPPLIED_CREDITS,
                                            customer_id=inv.customer_id, items=note_numbers)
        open_item = ledger_after
        for note in note_numbers:
            held = -credits.get((inv.customer_id, inv.currency, note), ZERO)
            take = min(gap, held)
            if take > 0:
                out.append(_NoteBack(inv.number, note, take, held, open_item))
                gap -= take
                open_item -= take
        if gap > 0:
            raise Conflict(f"invoice {inv.number} was credited after it was paid, and {_money(gap, inv.currency)} "
                           f"{inv.currency} of that credit ({', '.join(note_numbers)}) has been used since: "
                           "reverse that use first", [], payment_id=pay.id, invoice_id=iid)
    return out


def bounce_payment(session: Session, actor: Actor, company_id: int, payment_id: int, reason: str,
                   fee: Decimal | None = None) -> Payment:
    """Undo a payment that did not clear, with its reason, and optionally charge the customer `fee`.

    Refused, with nothing changed: a missing reason or a bad fee (422 naming the field), a card payment
    (409: refund or chargeback it), a payment bounced already (409), and a payment whose unapplied credit
    has been used in part, or whose invoice's credit note credit has been used since (409, naming what
    used it)."""
    require(actor, "payments.write")
    pay = _payment(session, company_id, payment_id)
    errors = ErrorList()
    check_bounce(errors, reason=reason, fee=fee, currency=pay.currency)
    errors.raise_if_any("The bounce is refused")
    reason = reason.strip()
    if pay.method == "card" or pay.source == rules.CARD:
        raise Conflict(f"payment {pay.number} is a card payment: it does not bounce; reverse it by a refund "
                       "or a chargeback", [], payment_id=pay.id)
    customers.lock_account(session, company_id, pay.customer_id)  # its credit, one use at a time
    pay = _payment(session, company_id, payment_id)
    if pay.bounced_at is not None:
        raise Conflict(f"payment {pay.number} bounced already on {pay.bounced_at.date().isoformat()}: "
                       f"{pay.bounce_reason}", [], payment_id=pay.id)
    own = list(session.scalars(select(Settlement).where(Settlement.payment_id == pay.id).order_by(Settlement.id)))
    held = _credit_held(session, company_id, pay, own)

    # Its invoices, locked; every settlement on them, to find the write-offs the payment brought about.
    paid = {s.invoice_id: s for s in own if s.kind == rules.PAYMENT}
    locked = {inv.id: (inv, notes) for inv, _, (_, _, notes) in billing.lock_open(session, company_id, sorted(paid))}
    on_invoices = list(session.scalars(select(Settlement).where(Settlement.invoice_id.in_(sorted(paid)))))
    undone = [s for s in own if s.kind in (rules.PAYMENT, rules.DISCOUNT)] + _taken_with(on_invoices, pay.id)
    back: dict[int, Decimal] = defaultdict(lambda: ZERO)  # what each invoice owes again
    settled: dict[int, Decimal] = defaultdict(lambda: ZERO)  # what is settled on it now
    for s in undone:
        back[s.invoice_id] += s.amount
    for s in on_invoices:
        settled[s.invoice_id] += s.amount
    notes_back = _credit_notes_back(session, company_id, pay, locked, back, settled)

    # Refusals are behind us: post, settle back, mark the payment, tell.
    today = clock.today_in(session.get(Company, company_id).timezone)
    numbers = {iid: inv.number for iid, (inv, _) in locked.items()}
    reversed_of = [s for s in undone if s.kind != rules.PAYMENT]
    entry_ids = ledger.post_many(session, actor, company_id, _entries(
        session, company_id, pay, today, numbers, paid, held, reversed_of, notes_back, fee))
    now = clock.now()
    why = f"bounced: {reason}"[:200]
    session.add_all(Settlement(
        company_id=company_id, customer_id=s.customer_id, invoice_id=s.invoice_id, payment_id=pay.id, kind=s.kind,
        currency=s.currency, amount=-s.amount, settled_on=today, reason=why,
        journal_entry_id=entry_ids[0] if s.kind == rules.PAYMENT else entry_ids[1 + reversed_of.index(s)],
        created_at=now, created_by=actor.user_id) for s in undone)
    # Posted records are not edited through the ORM; the bounce columns exist to be set once, here.
    marked = session.execute(update(Payment).where(Payment.id == pay.id, Payment.bounced_at.is_(None))
                             .values(bounced_at=now, bounce_reason=reason, bounced_by=actor.user_id)
                             .execution_options(synchronize_session=False))
    if marked.rowcount != 1:  # the account lock makes this unreachable; kept as the last word
        raise Conflict(f"payment {pay.number} bounced already", [], payment_id=pay.id)
    session.flush()
    _announce(session, actor, company_id, pay, reason, fee, today, held,
              {iid: (inv, back[iid]) for iid, (inv, _) in locked.items()}, notes_back)
    return _payment(session, company_id, pay.id)


def _entries(session: Session, company_id: int, pay: Payment, today: date, numbers: dict[int, str],
             paid: dict[int, Settlement], held: Decimal, reversed_of: list[Settlement],
             notes_back: list[_NoteBack], fee: Decimal | None) -> list[ledger_rules.Entry]:
    """The bounce's entries, in this order: the payment undone, each discount or write-off reversed (in
    the order of `reversed_of`), each credit note's credit put back, the fee."""
    chart = ledger.chart(session, company_id)
    cur, customer = pay.currency, str(pay.customer_id)
    entries = [ledger_rules.payment_bounced(
        chart, payment_id=pay.number, customer_id=customer, on=today, currency=cur, amount=pay.amount,
        method=pay.method, applications={numbers[iid]: s.amount for iid, s in sorted(paid.items())}, credit=held)]
    originals = {je.id: je for je in session.scalars(select(JournalEntry).where(
        JournalEntry.id.in_([s.journal_entry_id for s in reversed_of])))} if reversed_of else {}
    entries += [ledger_rules.entry_reversed(
        chart, ledger.as_entry(originals[s.journal_entry_id]), ref=f"{pay.number}/{numbers[s.invoice_id]}", on=today,
        memo=f"{s.kind.replace('_', '-')} on {numbers[s.invoice_id]} taken back: payment {pay.number} bounced")
        for s in reversed_of]
    entries += [ledger_rules.credit_applied(
        chart, ref=pay.number, customer_id=customer, on=today, currency=cur, credit_item=nb.note, available=nb.held,
        applications={nb.invoice: nb.take}, open_amounts={nb.invoice: nb.open_item}) for nb in notes_back]
    if fee is not None:
        entries.append(ledger_rules.bounce_fee_charged(chart, ref=fee_item(pay.number), customer_id=customer,
                                                       on=today, currency=cur, amount=fee, payment_id=pay.number))
    return entries


def _announce(session: Session, actor: Actor, company_id: int, pay: Payment, reason: str, fee: Decimal | None,
              today: date, held: Decimal, invoices: dict[int, tuple[Invoice, Decimal]],
              notes_back: list[_NoteBack]) -> None:
    """The timelines (the customer's; each invoice's order) and the payment.bounced event."""
    cur = pay.currency
    opens = billing.open_amounts(session, sorted(invoices))
    per_invoice = [{"invoice_id": iid, "number": inv.number, "owed_again": _money(owed, cur),
                    "open": _money(opens[iid], cur)} for iid, (inv, owed) in sorted(invoices.items())]
    for iid, (inv, owed) in sorted(invoices.items()):
        audit.record(session, actor, "order", inv.order_id, "payment_bounced", company_id=company_id, reason=reason,
                     data={"invoice": inv.number, "by": pay.number, "amount": _money(owed, cur),
                           "open": _money(opens[iid], cur), "currency": cur})
    money = {"amount": _money(pay.amount, cur), "credit_taken_back": _money(held, cur),
             "fee": _money(fee, cur) if fee is not None else None}
    audit.record(session, actor, "customer", pay.customer_id, "payment_bounced", company_id=company_id,
                 reason=reason, data={"payment": pay.number, "method": pay.method, "currency": cur, **money,
                                      "invoices": [i["number"] for i in per_invoice],
                                      "credit_notes_reapplied": [nb.note for nb in notes_back]})
    emit(session, "payment.bounced", {
        "payment_id": pay.id, "number": pay.number, "customer_id": pay.customer_id, "method": pay.method,
        "currency": cur, **money, "reason": reason, "bounced_on": today.isoformat(),
        "fee_item": fee_item(pay.number) if fee is not None else None, "invoices": per_invoice},
        company_id=company_id, entity_id=pay.id)
