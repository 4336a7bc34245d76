"""Routes of payments: record a payment (payments.write, Idempotency-Key), list and read payments with
their settlements, apply unapplied credit, write off a short payment, and a customer's account (open
invoices, unapplied credit, balance). A portal user sees their own customer's payments and account only."""
from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from o2c.core.db import read_session
from o2c.core.schemas import MAX_ID, IdPath, Page
from o2c.payments import bounces, service
from o2c.payments.schemas import (
    AccountOut, ApplyCreditIn, BounceIn, CreditApplicationOut, PaymentIn, PaymentOut, SettlementOut, WriteOffIn,
)
from o2c.web.deps import CtxDep, IdemKey, ReaderDep, cursor_to_id
from o2c.web.responses import create

router = APIRouter(tags=["payments"])


def _view(s, pay) -> dict:
    return service.payment_views(s, pay.company_id, [pay])[0]


@router.post("/payments", status_code=201, response_model=PaymentOut)
def record_payment(data: PaymentIn, ctx: CtxDep, idempotency_key: IdemKey = None):
    """Record money received (payments.write) and apply it to the invoices named; what is not applied
    is unapplied credit on the customer's account. 422 naming the field for an unknown method, a
    currency not the customer's, an amount not above zero, an invoice of another customer or more than
    is open on it: nothing is stored. A repeat with the same Idempotency-Key returns the first payment."""
    def work(s):
        pay = service.record_payment(
            s, ctx.actor, ctx.company_id, customer_id=data.customer_id, method=data.method, currency=data.currency,
            amount=data.amount, received_on=data.received_on, reference=data.reference, payer_name=data.payer_name,
            payer_iban=data.payer_iban, applications=[(a.invoice_id, a.amount) for a in data.applications])
        return _view(s, pay)

    return create(ctx, idempotency_key, "/payments", data, PaymentOut, work)


@router.get("/payments", response_model=Page[PaymentOut])
def list_payments(ctx: ReaderDep, customer_id: Annotated[int, Query(ge=1, le=MAX_ID)] | None = None,
                  cursor: str | None = None, limit: int = Query(50, ge=1, le=500)):
    """Newest first; a portal user sees their own payments only."""
    with read_session() as s:
        rows = service.list_payments(s, ctx.actor, ctx.company_id, customer_id=customer_id,
                                     before_id=cursor_to_id(cursor), limit=limit)
        return {"items": service.payment_views(s, ctx.company_id, rows),
                "next_cursor": str(rows[-1].id) if len(rows) == limit else None}


@router.post("/payments/apply-credit", status_code=201, response_model=CreditApplicationOut)
def apply_credit(data: ApplyCreditIn, ctx: CtxDep, idempotency_key: IdemKey = None):
    """Use a customer's unapplied credit (an overpaid payment or a credit note, by its number) on their
    open invoices (payments.write). 422 naming the field when the item holds no credit or less than
    asked, or an invoice has less open."""
    return create(ctx, idempotency_key, "/payments/apply-credit", data, CreditApplicationOut,
                  lambda s: service.apply_credit(s, ctx.actor, ctx.company_id, data.customer_id, data.credit_item,
                                                 [(a.invoice_id, a.amount) for a in data.applications]))


@router.get("/payments/{payment_id}", response_model=PaymentOut)
def get_payment(payment_id: IdPath, ctx: ReaderDep):
    with read_session() as s:
        return _view(s, service.get_payment(s, ctx.actor, ctx.company_id, payment_id))


@router.post("/payments/{payment_id}/bounce", response_model=PaymentOut)
def bounce_payment(payment_id: IdPath, data: BounceIn, ctx: CtxDep, idempotency_key: IdemKey = None):
    """A payment that did not clear (a cheque bounced, a direct debit returned), undone (payments.write):
    its invoices owe again what it paid (with any discount or write-off taken with it), the credit it left
    is taken back, and `fee`, if given, is charged to the customer. 422 naming the field for a missing
    reason or a bad fee; 409 for a card payment, a payment bounced already, or one whose credit was used.
    A repeat with the same Idempotency-Key returns the first answer."""
    def work(s):
        return _view(s, bounces.bounce_payment(s, ctx.actor, ctx.company_id, payment_id, data.reason, data.fee))

    return create(ctx, idempotency_key, f"/payments/{payment_id}/bounce", data, PaymentOut, work, status_code=200)


@router.post("/invoices/{invoice_id}/write-off", status_code=201, response_model=SettlementOut)
def write_off(invoice_id: IdPath, data: WriteOffIn, ctx: CtxDep, idempotency_key: IdemKey = None):
    """Write off what a short payment left open (payments.write), with a reason, up to the company's
    write-off tolerance; 422 naming the field above it, above what is open, or when no tolerance is set."""
    def work(s):
        row = service.write_off(s, ctx.actor, ctx.company_id, invoice_id, data.amount, data.reason)
        return service.settlement_view(row, service.invoice_numbers(s, [row.invoice_id]))

    return create(ctx, idempotency_key, f"/invoices/{invoice_id}/write-off", data, SettlementOut, work)


@router.get("/customers/{customer_id}/account", response_model=AccountOut)
def customer_account(customer_id: IdPath, ctx: ReaderDep):
    """The customer's open invoices (oldest due first), the unapplied credit held for them, and the
    balance: what is open less the credit."""
    with read_session() as s:
        return service.account_summary(s, ctx.actor, ctx.company_id, customer_id)
