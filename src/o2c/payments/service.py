"""Payment use cases: recording a payment and what it settles, applying unapplied credit, writing off a
short payment, and reading payments and a customer's account.

Each runs in the caller's transaction: the payment, its ledger entries, its settlements, the timeline
records and the event commit together. The invoices settled are locked in id order before their open
amounts are read (o2c.billing.service.lock_invoices), so two payments never both take what is open on
one invoice. Locks are taken in this order: the customer's account (only to use its credit), the
invoices, the payment number series, the journal counter.

Many payments at once (a statement's auto lines) go through `record_payments`, which records a batch as
one-by-one recording would, with a handful of statements for the whole batch; `record_payment` is a
batch of one.

A payment from a statement line or a card capture carries its source_ref: the same (company, source,
source_ref) is one payment, whoever asks twice and however concurrently (a unique key; the loser of a
race rolls back to a savepoint, giving its number back, and returns the winner's payment).
"""
from __future__ import annotations

import contextlib
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from datetime import date
from decimal import Decimal

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from o2c.billing import service as billing
from o2c.billing.models import DocumentSeries, Invoice
from o2c.core import audit, clock
from o2c.core.auth import Actor, require
from o2c.core.errors import Conflict, ErrorList, NotFound, O2CError, ValidationFailed
from o2c.core.events import emit
from o2c.core.listing import newest_first, own_one
from o2c.core.models import Company
from o2c.core.money import ZERO, round_money
from o2c.customers import service as customers
from o2c.customers.models import Customer, CustomerAccount
from o2c.ledger import rules as ledger_rules
from o2c.ledger import service as ledger
from o2c.payments import rules
from o2c.payments.models import Payment, Settlement


def _money(amount: Decimal, currency: str) -> str:
    return str(round_money(amount, currency))


def _account(session: Session, company_id: int, customer_id: object, actor: Actor | None = None):
    """The customer's account with the company; a customer it does not know is the request's fault."""
    if not isinstance(customer_id, int) or isinstance(customer_id, bool):
        raise ValidationFailed.one("customer_id", "invalid", f"customer_id must be a customer id, not {customer_id!r}")
    try:
        return customers.load(session, company_id, customer_id, actor)[1]
    except NotFound:
        raise ValidationFailed.one("customer_id", "unknown", f"there is no customer {customer_id}") from None


def _open_invoices(session: Session, company_id: int, invoice_ids: Iterable[object]) -> dict[int, rules.OpenInvoice]:
    """The company's invoices named, locked (id order), as the rules see them: open amount, amount due
    for the discount, and whether a discount was taken on them already (asked only of invoices whose
    terms give one)."""
    ids = sorted({i for i in invoice_ids if isinstance(i, int) and not isinstance(i, bool)})
    found = billing.lock_open(session, company_id, ids)
    with_discount = [inv.id for inv, _, _ in found if "/" in inv.terms]  # "2/10 net 30"; "net 30" has none
    discounted = set(session.scalars(select(Settlement.invoice_id).where(
        Settlement.invoice_id.in_(with_discount), Settlement.kind == rules.DISCOUNT))) if with_discount else set()
    return {inv.id: rules.OpenInvoice(
        inv.id, inv.number, inv.customer_id, inv.currency, inv.issue_date, inv.terms, open_,
        inv.gross_total - c_gross, inv.net_total - c_net, inv.tax_total - c_tax, inv.id in discounted,
        order_id=inv.order_id) for inv, open_, (c_net, c_tax, c_gross) in found}


def _by_source(session: Session, company_id: int, source: str, source_ref: str) -> Payment | None:
    return session.scalar(select(Payment).where(Payment.company_id == company_id, Payment.source == source,
                                                Payment.source_ref == source_ref))


def _same(found: Payment, customer_id: int, currency: str, amount: Decimal) -> Payment:
    """The payment recorded before for this source_ref, if it is the same money; a different payment
    under the same reference is a conflict, not a repeat."""
    if (found.customer_id, found.currency, found.amount) != (customer_id, currency, amount):
        raise Conflict(f"{found.source} {found.source_ref} was recorded as payment {found.number} for "
                       f"{_money(found.amount, found.currency)} {found.currency} from customer {found.customer_id}",
                       [], field="source_ref", payment_id=found.id)
    return found


def _settle(session: Session, actor: Actor, company_id: int, *, kind: str, settled: Sequence[rules.Settled],
            on: date, entry_id: int, payment: Payment | None = None, reason: str | None = None,
            ref: str) -> list[Settlement]:
    """The settlements of applications already posted (entry_id), each invoice's discount posted and
    settled with it; the order timeline of each invoice says paid or partially paid."""
    rows = []
    chart = ledger.chart(session, company_id) if any(s.discount for s in settled) else None
    now = clock.now()
    for s in settled:
        inv = s.invoice
        common = dict(company_id=company_id, customer_id=inv.customer_id, invoice_id=inv.id,
                      payment_id=payment.id if payment else None, currency=inv.currency, settled_on=on,
                      created_at=now, created_by=actor.user_id)
        rows.append(Settlement(kind=kind, amount=s.amount, reason=reason, journal_entry_id=entry_id, **common))
        if s.discount:
            entry = ledger_rules.discount_taken(
                chart, ref=f"{ref}/{inv.number}", customer_id=str(inv.customer_id), on=on, currency=inv.currency,
                invoice_id=inv.number, amount=s.discount, open_amount=inv.open - s.amount, tax_share=s.discount_tax)
            je = ledger.post(session, actor, company_id, entry)
            rows.append(Settlement(kind=rules.DISCOUNT, amount=s.discount, reason=f"early payment ({inv.terms})",
                                   journal_entry_id=je.id, **common))
        audit.record(session, actor, "order", inv.order_id, "paid" if s.open_after == 0 else "partially_paid",
                     company_id=company_id, data={
                         "invoice": inv.number, "by": ref, "kind": kind, "amount": _money(s.amount, inv.currency),
                         "discount": _money(s.discount, inv.currency), "open": _money(s.open_after, inv.currency),
                         "currency": inv.currency})
    session.add_all(rows)
    session.flush()
    return rows


@dataclass(frozen=True)
class PaymentIn:
    """One payment to record, as record_payment takes it: for a batch (record_payments)."""

    customer_id: int
    method: str
    currency: str
    amount: Decimal
    received_on: date | None = None
    reference: str | None = None
    payer_name: str | None = None
    payer_iban: str | None = None
    source: str = rules.MANUAL
    source_ref: str | None = None
    applications: Sequence[tuple[int, Decimal]] = ()


@dataclass(frozen=True)
class Recorded:
    """What became of one payment of a batch: its payment (new, or the one recorded before for its
    source_ref), or the error that refused it (nothing of it stored)."""

    payment: Payment | None
    refused: O2CError | None = None


def record_payment(session: Session, actor: Actor, company_id: int, *, customer_id: int, method: str,
                   currency: str, amount: Decimal, received_on: date | None = None, reference: str | None = None,
                   payer_name: str | None = None, payer_iban: str | None = None, source: str = rules.MANUAL,
                   source_ref: str | None = None,
                   applications: Sequence[tuple[int, Decimal]] | None = None) -> Payment:
    """Record money received from a customer and apply it to the invoices named in `applications`
    ((invoice_id, amount) pairs); the rest is unapplied credit on the customer's account. A manual
    payment that names no invoice is all unapplied credit until `apply_credit` uses it.

    Refused, naming the field, with nothing stored: an unknown method or customer, a currency other than
    the customer's or an invoice's, an amount not above zero, an invoice of another customer, more applied
    to an invoice than is open on it or more in all than the payment. With source_ref, recording the same
    (source, source_ref) again returns the first payment."""
    [done] = record_payments(session, actor, company_id, [PaymentIn(
        customer_id, method, currency, amount, received_on, reference, payer_name, payer_iban, source, source_ref,
        list(applications or []))])
    if done.refused is not None:
        raise done.refused
    return done.payment


def _accounts(session: Session, company_id: int, batch: Sequence[PaymentIn]) -> dict[int, object]:
    """The accounts of the batch's customers with the company, in one query (ids that are no customer's
    of the company left out)."""
    ids = {p.customer_id for p in batch if isinstance(p.customer_id, int) and not isinstance(p.customer_id, bool)}
    if not ids:
        return {}
    return {acc.customer_id: acc for acc in session.scalars(
        select(CustomerAccount).join(Customer, Customer.id == CustomerAccount.customer_id)
        .where(CustomerAccount.company_id == company_id, CustomerAccount.customer_id.in_(ids)))}


def _recorded_before(session: Session, company_id: int, batch: Sequence[PaymentIn]) -> dict[tuple[str, str], Payment]:
    """The payments recorded already under the batch's (source, source_ref)s, in one query per source."""
    wanted: dict[str, set[str]] = defaultdict(set)
    for p in batch:
        if p.source_ref is not None:
            wanted[p.source].add(p.source_ref)
    out = {}
    for source, refs in wanted.items():
        out.update(((pay.source, pay.source_ref), pay) for pay in session.scalars(select(Payment).where(
            Payment.company_id == company_id, Payment.source == source, Payment.source_ref.in_(refs))))
    return out


def _repeat(found: Payment, p: PaymentIn) -> Recorded:
    try:
        return Recorded(_same(found, p.customer_id, p.currency, p.amount))
    except Conflict as exc:
        return Recorded(None, exc)


class _Collided(Exception):
    """A payment of the batch lost the race for its source_ref to a concurrent recording."""


def record_payments(session: Session, actor: Actor, company_id: int, batch: Sequence[PaymentIn]) -> list[Recorded]:
    """Record a batch of payments, in its order, each exactly as record_payment records it alone: the
    same checks, numbers, ledger entries, settlements, timeline records and events, as if recorded one
    after the other in one transaction. A payment refused is reported in its place (Recorded.refused)
    and the others are recorded. All the batch's invoices are locked at once (id order), then the payment
    numbers and journal numbers are taken with one counter update each, and the rows written with
    multi-row inserts: a handful of statements for the batch instead of some fourteen per payment."""
    require(actor, "payments.write")
    batch = list(batch)
    for _ in range(len(batch) + 1):  # each collision settles at least one source_ref for the next round
        try:
            return _record_batch(session, actor, company_id, batch)
        except _Collided:
            continue
    raise AssertionError("unreachable")


def _record_batch(session: Session, actor: Actor, company_id: int, batch: list[PaymentIn]) -> list[Recorded]:
    out: list[Recorded | None] = [None] * len(batch)
    before = _recorded_before(session, company_id, batch)
    accounts = _accounts(session, company_id, batch)
    company = session.get(Company, company_id)
    today = clock.today_in(company.timezone)
    todo = []
    for k, p in enumerate(batch):
        if p.source_ref is not None and (p.source, p.source_ref) in before:
            out[k] = _repeat(before[(p.source, p.source_ref)], p)
        elif not isinstance(p.customer_id, int) or isinstance(p.customer_id, bool):
            out[k] = Recorded(None, ValidationFailed.one(
                "customer_id", "invalid", f"customer_id must be a customer id, not {p.customer_id!r}"))
        elif p.customer_id not in accounts:
            out[k] = Recorded(None, ValidationFailed.one("customer_id", "unknown", f"there is no customer {p.customer_id}"))
        else:
            todo.append(k)
    # What is open on each invoice as the batch goes: each payment sees what the ones before it left.
    invoices = _open_invoices(session, company_id, (i for k in todo for i, _ in batch[k].applications))
    accepted: list[tuple[int, date, list[rules.Settled]]] = []
    claimed: dict[tuple[str, str], int] = {}
    for k in todo:
        p = batch[k]
        key = (p.source, p.source_ref)
        if p.source_ref is not None and key in claimed:
            continue  # named twice in the batch: the first one's payment, once it is recorded
        received_on = p.received_on or today
        errors = ErrorList()
        usable = rules.check_payment(errors, method=p.method, source=p.source, source_ref=p.source_ref,
                                     currency=p.currency, account_currency=accounts[p.customer_id].currency,
                                     amount=p.amount, received_on=received_on, today=today)
        settled = rules.settle(errors, customer_id=p.customer_id, currency=p.currency if usable else None,
                               limit=p.amount if usable else None, applications=list(p.applications),
                               invoices=invoices, paid_on=received_on)
        try:
            errors.raise_if_any("The payment cannot be recorded")
        except ValidationFailed as exc:
            out[k] = Recorded(None, exc)
            continue
        for s in settled:
            invoices[s.invoice.id] = replace(s.invoice, open=s.open_after, discounted=s.invoice.discounted or s.discount > 0)
        accepted.append((k, received_on, settled))
        if p.source_ref is not None:
            claimed[key] = k
    if accepted:
        paid = _write(session, actor, company_id, today, [(batch[k], on, settled) for k, on, settled in accepted])
        for (k, _, _), pay in zip(accepted, paid):
            out[k] = Recorded(pay)
    for k, p in enumerate(batch):
        if out[k] is None:  # a repeat within the batch
            out[k] = _repeat(out[claimed[(p.source, p.source_ref)]].payment, p)
    return out


def _write(session: Session, actor: Actor, company_id: int, today: date,
           accepted: list[tuple[PaymentIn, date, list[rules.Settled]]]) -> list[Payment]:
    """Number, post and store the payments accepted, with their settlements, discounts, timeline records and
    events. Numbers and entries follow the batch's order, each payment's entry before its discounts', as
    one-by-one recording numbers them."""
    # Only payments with a source_ref can collide with a concurrent recording of the same: then the
    # savepoint gives the numbers back and the batch is gone through again (the winner's is a repeat).
    try:
        with session.begin_nested() if any(p.source_ref is not None for p, _, _ in accepted) \
                else contextlib.nullcontext():
            first = ledger.take_counter(session, DocumentSeries, {"company_id": company_id, "series": rules.PAYMENT_SERIES,
                                                                  "year": today.year}, len(accepted))
            numbers = [rules.payment_number(today.year, first + i) for i in range(len(accepted))]
            chart = ledger.chart(session, company_id)
            entries = []
            for (p, on, settled), number in zip(accepted, numbers):
                entries.append(ledger_rules.payment_received(
                    chart, payment_id=number, customer_id=str(p.customer_id), on=on, currency=p.currency,
                    amount=p.amount, method=p.method, applications={s.invoice.number: s.amount for s in settled},
                    open_amounts={s.invoice.number: s.invoice.open for s in settled}))
                entries.extend(ledger_rules.discount_taken(
                    chart, ref=f"{number}/{s.invoice.number}", customer_id=str(s.invoice.customer_id), on=on,
                    currency=s.invoice.currency, invoice_id=s.invoice.number, amount=s.discount,
                    open_amount=s.invoice.open - s.amount, tax_share=s.discount_tax) for s in settled if s.discount)
            entry_ids = iter(ledger.post_many(session, actor, company_id, entries))
            now = clock.now()
            paid, posted = [], []
            for (p, on, settled), number in zip(accepted, numbers):
                pay = Payment(company_id=company_id, number=number, customer_id=p.customer_id, method=p.method,
                              currency=p.currency, amount=p.amount, received_on=on, reference=p.reference,
                              payer_name=p.payer_name, payer_iban=p.payer_iban, source=p.source,
                              source_ref=p.source_ref, journal_entry_id=next(entry_ids), created_at=now,
                              created_by=actor.user_id)
                paid.append(pay)
                posted.append([next(entry_ids) for s in settled if s.discount])
            session.add_all(paid)
            session.flush()
    except IntegrityError:
        if _recorded_before(session, company_id, [p for p, _, _ in accepted]):
            raise _Collided() from None  # a concurrent recording of the same won
        raise
    rows = []
    for (p, on, settled), pay, discounts in zip(accepted, paid, posted):
        discounts = iter(discounts)
        for s in settled:
            inv = s.invoice
            common = dict(company_id=company_id, customer_id=inv.customer_id, invoice_id=inv.id, payment_id=pay.id,
                          currency=inv.currency, settled_on=on, created_at=now, created_by=actor.user_id)
            rows.append(Settlement(kind=rules.PAYMENT, amount=s.amount, journal_entry_id=pay.journal_entry_id,
                                   **common))
            if s.discount:
                rows.append(Settlement(kind=rules.DISCOUNT, amount=s.discount, reason=f"early payment ({inv.terms})",
                                       journal_entry_id=next(discounts), **common))
            audit.record(session, actor, "order", inv.order_id, "paid" if s.open_after == 0 else "partially_paid",
                         company_id=company_id, data={
                             "invoice": inv.number, "by": pay.number, "kind": rules.PAYMENT,
                             "amount": _money(s.amount, inv.currency), "discount": _money(s.discount, inv.currency),
                             "open": _money(s.open_after, inv.currency), "currency": inv.currency})
        _announce(session, actor, company_id, pay, settled)
    session.add_all(rows)
    session.flush()
    return paid


def _announce(session: Session, actor: Actor, company_id: int, pay: Payment, settled: list[rules.Settled]) -> None:
    """The payment's timeline record on the customer and its payment.recorded event."""
    cur = pay.currency
    applied = sum((s.amount for s in settled), ZERO)
    discount = sum((s.discount for s in settled), ZERO)
    money = {"amount": _money(pay.amount, cur), "applied": _money(applied, cur),
             "unapplied": _money(pay.amount - applied, cur), "discount": _money(discount, cur)}
    audit.record(session, actor, "customer", pay.customer_id, "payment_recorded", company_id=company_id, data={
        "payment": pay.number, "method": pay.method, "currency": cur, **money,
        "invoices": [s.invoice.number for s in settled]})
    emit(session, "payment.recorded", {
        "payment_id": pay.id, "number": pay.number, "customer_id": pay.customer_id, "method": pay.method,
        "currency": cur, **money, "received_on": pay.received_on.isoformat(), "source": pay.source,
        "source_ref": pay.source_ref,
        "invoices": [{"invoice_id": s.invoice.id, "number": s.invoice.number,
                      "amount": _money(s.amount, cur), "discount": _money(s.discount, cur),
                      "open": _money(s.open_after, cur)} for s in settled]},
        company_id=company_id, entity_id=pay.id)


# --------------------------------------------------------------------------------------------------
# Unapplied credit and write-offs


def unapplied_credit(session: Session, company_id: int, customer_id: int) -> dict:
    """What the company holds for the customer, not yet applied: per credit item (an overpaid payment's
    number, a credit note's number) and in all, read from the ledger's unapplied credits."""
    account = customers.load(session, company_id, customer_id)[1]
    held = ledger.open_item_balances(session, company_id, ledger_rules.UNAPPLIED_CREDITS, customer_id=customer_id)
    items, total = rules.unapplied({item: -balance for (_, cur, item), balance in held.items()
                                    if cur == account.currency})
    return {"customer_id": customer_id, "currency": account.currency, "total": round_money(total, account.currency),
            "items": [{"item": item, "amount": amount} for item, amount in items]}


def apply_credit(session: Session, actor: Actor, company_id: int, customer_id: int, credit_item: str,
                 applications: Sequence[tuple[int, Decimal]]) -> dict:
    """Use unapplied credit (`credit_item`: the number of an overpaid payment or of a credit note) on open
    invoices of the same customer. Refused, naming the field, for an item holding no credit, more than it
    holds, or more than is open on an invoice."""
    require(actor, "payments.write")
    _account(session, company_id, customer_id)
    account = customers.lock_account(session, company_id, customer_id)  # one use of the credit at a time
    errors = ErrorList()
    held = ledger.open_item_balances(session, company_id, ledger_rules.UNAPPLIED_CREDITS, customer_id=customer_id,
                                     items=[credit_item]) if isinstance(credit_item, str) else {}
    available = -held.get((customer_id, account.currency, credit_item), ZERO)
    if available <= 0:
        errors.add("credit_item", "no_credit", f"{credit_item!r} holds no unapplied credit for customer {customer_id}")
    applications = list(applications or [])
    if not applications:
        errors.add("applications", "empty", "name at least one invoice to apply the credit to")
    invoices = _open_invoices(session, company_id, (i for i, _ in applications))
    settled = rules.settle(errors, customer_id=customer_id, currency=account.currency,
                           limit=available if available > 0 else None, applications=applications, invoices=invoices)
    errors.raise_if_any("The credit cannot be applied")
    company = session.get(Company, company_id)
    today = clock.today_in(company.timezone)
    entry = ledger_rules.credit_applied(
        ledger.chart(session, company_id), ref=credit_item, customer_id=str(customer_id), on=today,
        currency=account.currency, credit_item=credit_item, available=available,
        applications={s.invoice.number: s.amount for s in settled},
        open_amounts={s.invoice.number: s.invoice.open for s in settled})
    je = ledger.post(session, actor, company_id, entry)
    payment = _by_number(session, company_id, credit_item)
    rows = _settle(session, actor, company_id, kind=rules.CREDIT, settled=settled, on=today, entry_id=je.id,
                   payment=payment, reason=f"credit {credit_item}", ref=credit_item)
    applied = sum((s.amount for s in settled), ZERO)
    cur = account.currency
    audit.record(session, actor, "customer", customer_id, "credit_applied", company_id=company_id, data={
        "credit_item": credit_item, "currency": cur, "applied": _money(applied, cur),
        "remaining": _money(available - applied, cur), "invoices": [s.invoice.number for s in settled]})
    emit(session, "credit.applied", {
        "customer_id": customer_id, "credit_item": credit_item, "currency": cur, "applied": _money(applied, cur),
        "remaining": _money(available - applied, cur),
        "invoices": [{"invoice_id": s.invoice.id, "number": s.invoice.number, "amount": _money(s.amount, cur),
                      "open": _money(s.open_after, cur)} for s in settled]},
        company_id=company_id, entity_id=customer_id)
    return {"customer_id": customer_id, "credit_item": credit_item, "currency": cur,
            "applied": round_money(applied, cur), "remaining": round_money(available - applied, cur),
            "journal_entry_id": je.id,
            "settlements": [settlement_view(r, {s.invoice.id: s.invoice.number for s in settled}) for r in rows]}


def _by_number(session: Session, company_id: int, number: str) -> Payment | None:
    return session.scalar(select(Payment).where(Payment.company_id == company_id, Payment.number == number))


def write_off(session: Session, actor: Actor, company_id: int, invoice_id: int, amount: Decimal,
              reason: str) -> Settlement:
    """Write off what a short payment left open on an invoice, with a reason, up to the company's
    write-off tolerance (Company.write_off_tolerance; none set: refused)."""
    require(actor, "payments.write")
    found = _open_invoices(session, company_id, [invoice_id]).get(invoice_id)
    if found is None:
        raise NotFound(f"invoice {invoice_id} not found")
    company = session.get(Company, company_id)
    errors = ErrorList()
    rules.check_write_off(errors, amount=amount, open_amount=found.open, currency=found.currency,
                          tolerance=company.write_off_tolerance, reason=reason)
    errors.raise_if_any("The write-off is refused")
    reason = reason.strip()
    today = clock.today_in(company.timezone)
    entry = ledger_rules.written_off(
        ledger.chart(session, company_id), ref=found.number, customer_id=str(found.customer_id), on=today,
        currency=found.currency, invoice_id=found.number, amount=amount, open_amount=found.open, reason=reason,
        tolerance=company.write_off_tolerance)
    je = ledger.post(session, actor, company_id, entry)
    [row] = _settle(session, actor, company_id, kind=rules.WRITE_OFF, settled=[rules.Settled(found, amount)],
                    on=today, entry_id=je.id, reason=reason, ref="write-off")
    cur = found.currency
    audit.record(session, actor, "customer", found.customer_id, "written_off", company_id=company_id, reason=reason,
                 data={"invoice": found.number, "amount": _money(amount, cur), "currency": cur})
    emit(session, "invoice.written_off", {
        "invoice_id": found.id, "number": found.number, "customer_id": found.customer_id, "currency": cur,
        "amount": _money(amount, cur), "reason": reason}, company_id=company_id, entity_id=found.id)
    return row


# --------------------------------------------------------------------------------------------------
# Reading


def get_payment(session: Session, actor: Actor, company_id: int, payment_id: int) -> Payment:
    """A portal user sees their own customer's payments only; anyone else's is not found."""
    return own_one(session, Payment, actor, company_id, payment_id, "payment")


def list_payments(session: Session, actor: Actor, company_id: int, *, customer_id: int | None = None,
                  before_id: int | None = None, limit: int = 50) -> list[Payment]:
    """Newest first; `before_id` is the cursor. A portal user sees their own payments only."""
    return list(session.scalars(newest_first(Payment, actor, company_id, before_id=before_id, limit=limit,
                                             customer_id=customer_id)))


def invoice_numbers(session: Session, invoice_ids: list[int]) -> dict[int, str]:
    if not invoice_ids:
        return {}
    return dict(session.execute(select(Invoice.id, Invoice.number).where(Invoice.id.in_(set(invoice_ids)))).all())


def settlement_view(st: Settlement, numbers: dict[int, str]) -> dict:
    return {"id": st.id, "invoice_id": st.invoice_id, "invoice_number": numbers.get(st.invoice_id),
            "payment_id": st.payment_id, "kind": st.kind, "currency": st.currency,
            "amount": round_money(st.amount, st.currency), "settled_on": st.settled_on, "reason": st.reason,
            "journal_entry_id": st.journal_entry_id}


def invoice_settlements(session: Session, actor: Actor, company_id: int, invoice_id: int) -> list[dict]:
    """What settled an invoice, oldest first: each settlement as settlement_view shows it, with the number
    of the payment it came from (None for a write-off or credit note credit). A portal user sees their own
    invoices' only."""
    inv = billing.get_invoice(session, actor, company_id, invoice_id)
    rows = session.execute(select(Settlement, Payment.number).outerjoin(Payment, Payment.id == Settlement.payment_id)
                           .where(Settlement.invoice_id == inv.id).order_by(Settlement.id)).all()
    return [{**settlement_view(st, {inv.id: inv.number}), "payment_number": number} for st, number in rows]


def payment_views(session: Session, company_id: int, payments: list[Payment]) -> list[dict]:
    """Payments as the API shows them, with their settlements, what they applied (money, not the
    discounts they earned) and the credit each still holds (from the ledger). Three queries."""
    ids = [p.id for p in payments]
    settlements = list(session.scalars(select(Settlement).where(Settlement.payment_id.in_(ids))
                                       .order_by(Settlement.id))) if ids else []
    numbers = invoice_numbers(session, [s.invoice_id for s in settlements])
    held = ledger.open_item_balances(session, company_id, ledger_rules.UNAPPLIED_CREDITS,
                                     items=[p.number for p in payments]) if payments else {}
    credit = {item: -balance for (_, _, item), balance in held.items()}
    by_payment: dict[int, list[Settlement]] = defaultdict(list)
    for s in settlements:
        by_payment[s.payment_id].append(s)
    out = []
    for p in payments:
        mine = by_payment[p.id]
        applied = sum((s.amount for s in mine if s.kind in (rules.PAYMENT, rules.CREDIT)), ZERO)
        out.append({
            "id": p.id, "number": p.number, "customer_id": p.customer_id, "method": p.method,
            "currency": p.currency, "amount": round_money(p.amount, p.currency),
            "applied": round_money(applied, p.currency), "unapplied": round_money(credit.get(p.number, ZERO), p.currency),
            "received_on": p.received_on, "reference": p.reference, "payer_name": p.payer_name,
            "payer_iban": p.payer_iban, "source": p.source, "source_ref": p.source_ref,
            "journal_entry_id": p.journal_entry_id, "created_at": p.created_at,
            "bounced_at": p.bounced_at, "bounce_reason": p.bounce_reason,
            "settlements": [settlement_view(s, numbers) for s in mine]})
    return out


def account_summary(session: Session, actor: Actor, company_id: int, customer_id: int) -> dict:
    """A customer's account: the invoices open (oldest due first, with what is open on each), the
    unapplied credit held, and the balance (open less credit: what the customer owes, net)."""
    customers.load(session, company_id, customer_id, actor)
    credit = unapplied_credit(session, company_id, customer_id)
    cur = credit["currency"]
    rows = [(inv, amount) for inv, amount in billing.open_invoices(session, company_id, customer_id)
            if inv.currency == cur]
    today = clock.today_in(session.get(Company, company_id).timezone)
    open_total = round_money(sum((a for _, a in rows), ZERO), cur)
    overdue = round_money(sum((a for inv, a in rows if inv.due_date < today), ZERO), cur)
    return {"customer_id": customer_id, "currency": cur, "as_of": today,
            "open_invoices": [{"id": inv.id, "number": inv.number, "issue_date": inv.issue_date,
                               "due_date": inv.due_date, "gross_total": round_money(inv.gross_total, cur),
                               "open_amount": amount, "days_overdue": max(0, (today - inv.due_date).days)}
                              for inv, amount in rows],
            "open_total": open_total, "overdue_total": overdue, "unapplied_credit": credit["total"],
            "credit_items": credit["items"], "balance": open_total - credit["total"]}
