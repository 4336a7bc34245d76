"""Refunds of returns: what the customer actually paid for the goods that came back, paid back.

A return's refund becomes credit notes (o2c.billing.service.credit_return). A note on an invoice still
open only reduces what is owed: nothing goes back. A note on an invoice already paid puts the paid part
on the customer's unapplied credits, under the note; that is what is refunded, once per return:

- approved at once (ledger refund_approved: Dr unapplied credits under each note, Cr refunds payable),
  so the credit cannot be applied elsewhere while the refund is on its way;
- paid back on the card(s) that paid those invoices, through the gateway, outside any transaction
  (refund.approved; ledger refund_payout by card: Dr refunds payable, Cr card clearing), under an
  idempotency key stored with the refund before the call, so a retry never refunds twice;
- or, when it was paid some other way or the card refund fails, paid out by a person with
  payments.write (POST /refunds/{id}/pay, by bank transfer, cheque or cash: refund_payout).

Decisions are o2c.payments.card_rules.refund_plan.
"""
from __future__ import annotations

import logging
import secrets
from decimal import Decimal

from sqlalchemy import func, select
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session

from o2c.core import audit, clock
from o2c.core.auth import Actor, require
from o2c.core.db import read_session, transaction
from o2c.core.errors import Conflict, ValidationFailed
from o2c.core.events import emit
from o2c.core.listing import newest_first, own_one
from o2c.core.models import Company
from o2c.core.money import ZERO, plain, round_money
from o2c.ledger import rules as ledger_rules
from o2c.ledger import service as ledger
from o2c.ledger.models import JournalEntry, JournalLine
from o2c.payments import card_rules as rules
from o2c.payments import gateways
from o2c.payments.gateway import REFUND_FAILED, REFUND_PENDING, Declined, GatewayUnavailable, InvalidRequest
from o2c.payments.models import CardCapture, CardPayment, Refund

log = logging.getLogger(__name__)

APPROVED, PENDING, PAID, FAILED = "approved", "pending", "paid", "failed"
STATUSES = (APPROVED, PENDING, PAID, FAILED)
PAYOUT_METHODS = ("bank_transfer", "cheque", "cash")


def number(refund: Refund) -> str:
    return f"RF{refund.id:08d}"


def view(refund: Refund) -> dict:
    money = lambda amount: round_money(amount, refund.currency)  # noqa: E731
    return {
        "id": refund.id, "number": number(refund), "customer_id": refund.customer_id, "return_id": refund.return_id,
        "rma_number": f"RMA{refund.return_id:08d}" if refund.return_id else None,
        "card_payment_id": refund.card_payment_id, "method": refund.method, "currency": refund.currency,
        "amount": money(refund.amount), "status": refund.status, "gateway_refund_ref": refund.gateway_refund_ref,
        "reason": refund.reason, "approved_entry_id": refund.approved_entry_id, "paid_entry_id": refund.paid_entry_id,
        "created_at": refund.created_at, "updated_at": refund.updated_at,
    }


def get(session: Session, actor: Actor, company_id: int, refund_id: int, *, lock: bool = False) -> Refund:
    """A portal user sees their own customer's refunds only; anyone else's is not found."""
    return own_one(session, Refund, actor, company_id, refund_id, "refund", lock=lock)


def list_refunds(session: Session, actor: Actor, company_id: int, *, customer_id: int | None = None,
                 status: str | None = None, return_id: int | None = None, before_id: int | None = None,
                 limit: int = 50) -> list[Refund]:
    """Newest first; `before_id` is the cursor. A portal user sees their own refunds only."""
    return list(session.scalars(newest_first(Refund, actor, company_id, before_id=before_id, limit=limit,
                                             customer_id=customer_id, status=status, return_id=return_id)))


# --- what was paid for the goods -------------------------------------------------------------------

def _credit(session: Session, company_id: int, customer_id: int, item: str) -> tuple[Decimal, Decimal]:
    """(credited in all, still held) on the customer's unapplied credits under the open item `item`."""
    code = ledger.chart(session, company_id).code(ledger_rules.UNAPPLIED_CREDITS)
    credited, held = session.execute(
        select(func.coalesce(func.sum(JournalLine.credit), 0),
               func.coalesce(func.sum(JournalLine.credit - JournalLine.debit), 0))
        .join(JournalEntry, JournalEntry.id == JournalLine.entry_id)
        .where(JournalEntry.company_id == company_id, JournalLine.account_code == code,
               JournalLine.customer_id == customer_id, JournalLine.open_item == item)).one()
    return Decimal(credited), Decimal(held)


def _card_payment_of_invoice(session: Session, invoice_id: int) -> int | None:
    """The card payment whose capture paid the invoice, if a card paid it."""
    return session.scalar(select(CardCapture.card_payment_id).where(CardCapture.invoice_id == invoice_id,
                                                                   CardCapture.status == rules.CAPTURED))


def _paid_credits(session: Session, company_id: int, notes, *, held: bool) -> list[rules.PaidCredit]:
    """Per credit note: what it gave back of money already paid (as credited, or as still held), and the
    card that paid its invoice."""
    out = []
    for note in notes:
        credited, still = _credit(session, company_id, note.customer_id, note.number)
        amount = round_money(still if held else credited, note.currency)
        out.append(rules.PaidCredit(note.number, amount, _card_payment_of_invoice(session, note.invoice_id)))
    return out


# --- approving the refund of a return --------------------------------------------------------------

def refund_return(session: Session, actor: Actor, company_id: int, return_id: int, payload: dict) -> Refund | None:
    """`return.refund_due`, in the dispatcher's transaction: the return's credit notes (found, or made
    now if billing's subscriber has not run), then the refund of what was paid for the goods, approved
    and posted. None when nothing was paid (the notes only reduced open invoices). Once per return: a
    redelivery finds the refund."""
    from o2c.billing import service as billing
    from o2c.customers import service as customers
    from o2c.returns import service as returns

    require(actor, "payments.write")
    ret = returns.get_return(session, actor, company_id, return_id)
    customers.lock_account(session, company_id, ret.customer_id)  # its credit is used once (apply_credit waits)
    notes = billing.credit_return(session, actor, company_id, return_id, payload)  # the order, then its invoices
    found = session.scalar(select(Refund).where(Refund.return_id == return_id))
    if found is not None or not notes:
        return found
    credits = _paid_credits(session, company_id, notes, held=True)
    cards = {cp.id: cp for cp in session.scalars(select(CardPayment).where(
        CardPayment.id.in_({c.card_payment_id for c in credits if c.card_payment_id})))}
    plan = rules.refund_plan(credits, {i: cp.captured_amount - cp.refunded_amount for i, cp in cards.items()})
    if plan is None:
        audit.record(session, actor, "order", ret.order_id, "no_refund_due", company_id=company_id,
                     reason="the credit notes reduced invoices not yet paid: nothing was paid for these goods",
                     data={"return": ret.rma_number, "credit_notes": [n.number for n in notes]})
        return None
    now = clock.now()
    currency = notes[0].currency
    refund = Refund(company_id=company_id, customer_id=ret.customer_id, return_id=ret.id,
                    card_payment_id=plan.card_parts[0][0] if plan.card_parts else None, method=plan.method,
                    currency=currency, amount=plan.amount, status=APPROVED,
                    idempotency_key=f"o2c-refund-{ret.id}-{secrets.token_hex(12)}", reason=f"return {ret.rma_number}",
                    created_at=now, updated_at=now)
    session.add(refund)
    session.flush()
    on = clock.today_in(session.get(Company, company_id).timezone)
    chart = ledger.chart(session, company_id)
    entries = [ledger.post(session, actor, company_id, ledger_rules.refund_approved(
        chart, ref=number(refund), customer_id=str(ret.customer_id), on=on, currency=currency, amount=amount,
        from_credit=note, available=next(c.amount for c in credits if c.note == note)))
        for note, amount in plan.from_credits]
    refund.approved_entry_id = entries[0].id
    audit.record(session, actor, "order", ret.order_id, "refund_approved", company_id=company_id,
                 reason="back on the card by the gateway" if plan.method == rules.CARD
                 else "to be paid out by bank transfer by a person with payments.write",
                 data={"refund": number(refund), "return": ret.rma_number, "method": plan.method,
                       "amount": plain(plan.amount), "currency": currency,
                       "credit_notes": [note for note, _ in plan.from_credits]})
    _emit(session, refund, "refund.approved", order_id=ret.order_id)
    return refund


def _emit(session: Session, refund: Refund, topic: str, **extra) -> None:
    emit(session, topic, {"refund_id": refund.id, "number": number(refund), "return_id": refund.return_id,
                          "customer_id": refund.customer_id, "method": refund.method, "currency": refund.currency,
                          "amount": plain(round_money(refund.amount, refund.currency)), **extra},
         company_id=refund.company_id, entity_id=refund.id)


# --- back on the card -------------------------------------------------------------------------------

def _card_parts(session: Session, refund: Refund) -> list[tuple[CardPayment, Decimal]] | None:
    """The refund's share per card, from its credit notes as issued (immutable, so every retry sends the
    same requests under the same keys). None when that no longer adds up to the refund."""
    from o2c.billing.models import CreditNote

    notes = list(session.scalars(select(CreditNote).where(CreditNote.return_id == refund.return_id)
                                 .order_by(CreditNote.id)))
    every_card = session.scalars(select(CardPayment.id).where(CardPayment.order_id.in_({n.order_id for n in notes})))
    plan = rules.refund_plan(_paid_credits(session, refund.company_id, notes, held=False),
                             refundable={cp: refund.amount for cp in every_card})  # the gateway enforces its limit
    if plan is None or plan.method != rules.CARD or plan.amount != refund.amount:
        return None
    return [(session.get(CardPayment, cp_id), amount) for cp_id, amount in plan.card_parts]


def pay_to_card(actor: Actor, company_id: int, refund_id: int, *, engine: Engine | None = None) -> Refund | None:
    """`refund.approved` of a card refund (outside any transaction): each card's share refunded through
    the gateway under the refund's key, then the payout posted. A refusal or decline leaves the refund
    (or what the cards did not take) approved for a bank transfer, with the reason on the timeline; a
    gateway that does not answer raises GatewayUnavailable, and the event is retried under the same keys."""
    with read_session(engine) as s:
        refund = get(s, actor, company_id, refund_id)
        if refund.method != rules.CARD or refund.status != APPROVED:
            return None
        parts = _card_parts(s, refund)
        s.expunge_all()  # kept as read: the read transaction's rollback must not expire them
    if parts is None:
        return transaction(lambda s: _record_card_refund(s, actor, company_id, refund.id, [], "the credit notes no longer "
                                                         "match the refund"), engine=engine)
    done: list[tuple[int, Decimal, str, str]] = []
    failure = None
    for n, (cp, amount) in enumerate(parts):
        with gateways.open_gateway(cp.gateway) as gw:
            try:
                result = gw.refund(cp.gateway_ref, amount, refund.currency, idempotency_key=f"{refund.idempotency_key}-{n}")
            except (Declined, InvalidRequest) as exc:
                failure = f"{getattr(exc, 'code', 'refused')}: {exc.message}"
                break
            except GatewayUnavailable:
                if done:
                    log.warning("refund %s: part %s reached the gateway, part %s has no answer yet; retried",
                                refund.id, n - 1, n)
                raise
        if result.status == REFUND_FAILED:
            failure = f"the gateway reports refund {result.refund_ref} failed"
            break
        done.append((cp.id, result.amount, result.refund_ref, result.status))
    return transaction(lambda s: _record_card_refund(s, actor, company_id, refund.id, done, failure), engine=engine)


def _record_card_refund(session: Session, actor: Actor, company_id: int, refund_id: int,
                        done: list[tuple[int, Decimal, str, str]], failure: str | None) -> Refund:
    """What went back on the cards, posted once; anything the cards did not take stays approved, to pay
    by bank transfer (the rest of a refund split over several cards becomes a refund of its own)."""
    refund = get(session, actor, company_id, refund_id, lock=True)
    if refund.status != APPROVED or refund.method != rules.CARD:
        return refund
    now = clock.now()
    paid = sum((amount for _, amount, _, _ in done), ZERO)
    order_id = _order_of(session, refund)
    if paid:
        for cp_id, amount, _, _ in done:
            cp = session.scalar(select(CardPayment).where(CardPayment.id == cp_id).with_for_update())
            cp.refunded_amount, cp.updated_at = cp.refunded_amount + amount, now
        company = session.get(Company, refund.company_id)
        entry = ledger.post(session, actor, refund.company_id, ledger_rules.refund_payout(
            ledger.chart(session, refund.company_id), ref=number(refund), on=clock.today_in(company.timezone),
            currency=refund.currency, amount=paid, method="card"))
        refund.paid_entry_id = entry.id
        refund.gateway_refund_ref = " ".join(ref for _, _, ref, _ in done)[:255]
        refund.status = PENDING if any(st == REFUND_PENDING for *_, st in done) else PAID
    rest = refund.amount - paid
    refund.updated_at = now
    if failure is None:
        _on_order(session, actor, refund, order_id, "refund_paid", None, amount=plain(round_money(paid, refund.currency)),
                  method="card", gateway_refund_ref=refund.gateway_refund_ref)
        _emit(session, refund, "refund.paid", order_id=order_id)
        return refund
    reason = f"the card refund failed ({failure}); pay it by bank transfer"
    if not paid:
        refund.method = rules.BANK_TRANSFER
        refund.reason = f"{refund.reason}; {reason}"[:200]
        _on_order(session, actor, refund, order_id, "card_refund_failed", reason,
                  amount=plain(round_money(refund.amount, refund.currency)))
        return refund
    refund.amount = paid
    remainder = Refund(company_id=refund.company_id, customer_id=refund.customer_id, return_id=None,
                       card_payment_id=None, method=rules.BANK_TRANSFER, currency=refund.currency, amount=rest,
                       status=APPROVED, idempotency_key=f"{refund.idempotency_key}-rest",
                       reason=f"rest of {number(refund)}: {reason}"[:200], approved_entry_id=refund.approved_entry_id,
                       created_at=now, updated_at=now)
    session.add(remainder)
    session.flush()
    _on_order(session, actor, refund, order_id, "card_refund_failed", reason, amount=plain(round_money(rest, refund.currency)),
              rest_refund=number(remainder))
    _emit(session, refund, "refund.paid", order_id=order_id)
    return refund


def _order_of(session: Session, refund: Refund) -> int | None:
    from o2c.returns.models import Return

    return session.scalar(select(Return.order_id).where(Return.id == refund.return_id)) if refund.return_id else None


def _on_order(session: Session, actor: Actor, refund: Refund, order_id: int | None, action: str, reason: str | None,
              **data) -> None:
    """On the order's timeline when the refund is for a return of it; on the refund's own otherwise."""
    entity, entity_id = ("order", order_id) if order_id else ("refund", refund.id)
    audit.record(session, actor, entity, entity_id, action, company_id=refund.company_id, reason=reason,
                 data={"refund": number(refund), **{k: v for k, v in data.items() if v is not None}})


# --- paid out by a person ---------------------------------------------------------------------------

def pay_out(session: Session, actor: Actor, company_id: int, refund_id: int, *, method: str = "bank_transfer",
            reference: str | None = None) -> Refund:
    """An approved refund paid out by bank transfer, cheque or cash (payments.write): refunds payable is
    cleared against the money account. Once: a paid refund is a conflict."""
    require(actor, "payments.write")
    if method not in PAYOUT_METHODS:
        raise ValidationFailed.one("method", "unknown", f"method must be one of {', '.join(PAYOUT_METHODS)}")
    refund = get(session, actor, company_id, refund_id, lock=True)
    if refund.status != APPROVED:
        raise Conflict(f"refund {number(refund)} is {refund.status}", current_status=refund.status)
    if refund.method == rules.CARD:
        raise Conflict(f"refund {number(refund)} goes back to the card through the gateway", method=refund.method)
    company = session.get(Company, company_id)
    entry = ledger.post(session, actor, company_id, ledger_rules.refund_payout(
        ledger.chart(session, company_id), ref=number(refund), on=clock.today_in(company.timezone),
        currency=refund.currency, amount=refund.amount, method=method))
    refund.status, refund.method, refund.paid_entry_id, refund.updated_at = PAID, method, entry.id, clock.now()
    order_id = _order_of(session, refund)
    _on_order(session, actor, refund, order_id, "refund_paid", None, method=method, reference=reference,
              amount=plain(round_money(refund.amount, refund.currency)))
    _emit(session, refund, "refund.paid", order_id=order_id)
    session.flush()
    return refund
