"""Paying an open invoice by card (the customer portal's "Pay"): authorised and captured through the card
gateway at once, then recorded as a card payment that settles the invoice.

The card tables (o2c.payments.models.CardPayment, CardCapture) hold an order's hold and its captures at
shipment, and the warehouse and capture flows read them; a payment of an invoice already issued is not one
of those, so it is kept by the payments service alone. Its source_ref, derived from (company, invoice,
user, the request's idempotency key), makes it idempotent end to end, as cards.py does:

1. a short read checks the invoice (the customer's own, open) and the amount, or finds the payment a
   repeat of the same request recorded already;
2. the gateway is called with NO transaction open, under keys derived from the same source_ref, so a
   repeat (a double click, a retry after a timeout) is answered with the first outcome and never charges
   twice;
3. a short transaction records the payment (method card, reference the gateway's id), applied to the
   invoice and posted to the ledger; the same source_ref recorded twice is one payment.

A decline, a card that wants the issuer's confirmation, or a gateway that does not answer is refused,
naming the card field, and nothing is recorded.
"""
from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import TypeVar

from sqlalchemy import select
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session

from o2c.billing import service as billing
from o2c.core import audit, clock
from o2c.core.auth import SYSTEM, Actor, require
from o2c.core.db import read_session, transaction
from o2c.core.errors import Conflict, ValidationFailed
from o2c.core.models import Company
from o2c.core.money import ZERO, plain, round_money
from o2c.payments import gateways
from o2c.payments import rules as payment_rules
from o2c.payments.cards import CardDeclined, GatewayDown
from o2c.payments.gateway import (
    AUTHORISED, CardGateway, Declined, GatewayUnavailable, InvalidRequest, check_idempotency_key, derived_key,
)
from o2c.payments.models import Payment

T = TypeVar("T")
CARD_FIELD = "payment_method_token"


@dataclass(frozen=True)
class _Plan:
    """What step 1 decided: the payment recorded already for this request, or what to charge."""

    source_ref: str
    invoice_id: int
    number: str
    currency: str
    amount: Decimal
    found: Payment | None = None


@dataclass(frozen=True)
class _Charged:
    gateway_ref: str
    amount: Decimal


def source_ref(company_id: int, invoice_id: int, actor: Actor, idempotency_key: str) -> str:
    """The payment's source_ref and the root of its gateway keys: the same request (same user, invoice and
    key) is the same payment, end to end."""
    digest = hashlib.sha256(f"{company_id}:{invoice_id}:{actor.user_id}:{idempotency_key}".encode()).hexdigest()
    return f"o2c-invpay-{invoice_id}-{digest[:40]}"


def _amount(value: object, open_amount: Decimal, currency: str, number: str) -> Decimal:
    """The amount asked (default: all that is open), refused naming `amount` when it is not a positive
    amount in the currency's minor units, or more than is open."""
    if value is None or value == "":
        return open_amount
    try:
        amount = value if isinstance(value, Decimal) else Decimal(str(value).strip())
    except InvalidOperation:
        raise ValidationFailed.one("amount", "invalid", f"amount {value!r} is not an amount") from None
    if not amount.is_finite() or amount <= 0:
        raise ValidationFailed.one("amount", "not_positive", "amount must be more than zero")
    if round_money(amount, currency) != amount:
        raise ValidationFailed.one("amount", "too_many_decimals",
                                   f"amount {plain(amount)} has more decimals than {currency} allows")
    if amount > open_amount:
        raise ValidationFailed.one("amount", "more_than_open", f"amount {plain(amount)} is more than the "
                                   f"{plain(open_amount)} {currency} open on invoice {number}")
    return amount


def _plan(session: Session, actor: Actor, company_id: int, invoice_id: int, amount: object, ref: str) -> _Plan:
    """Step 1: the payment of this same request if it is recorded already; else the invoice (a portal
    user's own customer's only: another's is not found) checked open, and the amount checked."""
    inv = billing.get_invoice(session, actor, company_id, invoice_id)
    found = session.scalar(select(Payment).where(Payment.company_id == company_id,
                                                 Payment.source == payment_rules.CARD, Payment.source_ref == ref))
    if found is not None:
        session.expunge(found)  # kept as read: the read transaction's rollback must not expire it
        return _Plan(ref, inv.id, inv.number, inv.currency, found.amount, found)
    open_amount = billing.invoice_open(session, inv)
    if open_amount <= 0:
        raise Conflict(f"invoice {inv.number} has nothing open to pay", field="amount")
    return _Plan(ref, inv.id, inv.number, inv.currency, _amount(amount, open_amount, inv.currency, inv.number))


def _charge(gw: CardGateway, plan: _Plan, token: str) -> _Charged:
    """Step 2: authorise and capture the amount under keys derived from the request's source_ref (the
    adapter has no one-step charge). Every outcome other than money taken is a refusal naming the card."""
    key = plan.source_ref
    try:
        auth = gw.authorise(plan.amount, plan.currency, token, idempotency_key=key,
                            description=f"Invoice {plan.number}", metadata={"invoice": plan.number})
        if auth.status != AUTHORISED:
            gw.void(auth.gateway_ref, idempotency_key=derived_key(key, "void"))
            raise CardDeclined("this card asks the customer to confirm the payment with the bank, which this page "
                               "cannot do: use another card", field=CARD_FIELD)
        taken = gw.capture(auth.gateway_ref, plan.amount, plan.currency, idempotency_key=derived_key(key, "capture"))
    except Declined as exc:
        raise CardDeclined(f"the card was declined ({exc.decline_code or exc.code}): nothing was charged; "
                           "try another card", field=CARD_FIELD, decline_code=exc.decline_code or exc.code) from None
    except GatewayUnavailable:
        raise GatewayDown("the card gateway did not answer; send the same payment again: the card is charged "
                          "at most once", field=CARD_FIELD) from None
    except InvalidRequest as exc:
        if exc.code == "authentication_failed":
            raise Conflict("card payments are not available: the gateway refused our credentials",
                           field=CARD_FIELD) from None
        raise
    return _Charged(taken.gateway_ref, taken.amount)


def _record(session: Session, actor: Actor, company_id: int, plan: _Plan, charged: _Charged) -> Payment:
    """Step 3: the card payment, applied to the invoice (what is open on it now, at most), posted to the
    ledger by the payments service. Recorded by the system, as a capture is (the portal user holds no
    payments.write); the customer's own act is on the order's timeline."""
    from o2c.payments import service as payments

    inv = billing.get_invoice(session, actor, company_id, plan.invoice_id)
    billing.lock_invoices(session, company_id, [inv.id])  # what is open is read after any payment in flight
    open_amount = billing.invoice_open(session, inv)
    applied = min(charged.amount, open_amount)
    company = session.get(Company, company_id)
    payment = payments.record_payment(
        session, SYSTEM, company_id, customer_id=inv.customer_id, method="card", currency=inv.currency,
        amount=charged.amount, received_on=clock.today_in(company.timezone), reference=charged.gateway_ref,
        source=payment_rules.CARD, source_ref=plan.source_ref,
        applications=[(inv.id, applied)] if applied > ZERO else [])
    audit.record(session, actor, "order", inv.order_id, "invoice_paid_by_card", company_id=company_id, data={
        "invoice": inv.number, "payment": payment.number, "currency": inv.currency,
        "amount": plain(round_money(charged.amount, inv.currency))})
    return payment


def _run(fn: Callable[[Session], T], engine: Engine | None) -> T:
    return transaction(fn, engine=engine)


def pay_invoice(actor: Actor, company_id: int, invoice_id: int, payment_method_token: object,
                amount: object = None, *, idempotency_key: object, engine: Engine | None = None) -> Payment:
    """Pay `amount` (default: all that is open) of an open invoice with the card behind the gateway token
    (payments.card; a portal user: own customer's invoices only, another's is not found).

    Refused, naming the field, with nothing charged or recorded: card payments not set up, card data or a
    token of no gateway, an amount above what is open, an invoice with nothing open. A decline (402) or a
    gateway that did not answer (503) is refused naming the card field, nothing recorded. The same
    idempotency key again returns the first payment: one charge, one payment."""
    require(actor, "payments.card")
    name = gateways.gateway_name(company_id)
    token = gateways.check_payment_method(name, payment_method_token)
    key = check_idempotency_key(idempotency_key)
    ref = source_ref(company_id, invoice_id, actor, key)
    with read_session(engine) as s:
        plan = _plan(s, actor, company_id, invoice_id, amount, ref)
    if plan.found is not None:
        return plan.found
    with gateways.open_gateway(name) as gw:
        charged = _charge(gw, plan, token)
    return _run(lambda s: _record(s, actor, company_id, plan, charged), engine)
