"""Routes of card payments and refunds: authorise an order's card, see its attempts; refunds, and paying
one out by hand. Capture, void and card refunds run from events (o2c.process), not from here."""
from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from fastapi import APIRouter, Query
from fastapi.responses import JSONResponse
from pydantic import Field

from o2c.core.db import read_session
from o2c.core.schemas import MAX_ID, DecimalStr, IdPath, OutModel, Page, StrictModel
from o2c.payments import cards, refunds
from o2c.web.deps import CtxDep, IdemKey, ReaderDep, cursor_to_id
from o2c.web.responses import change

router = APIRouter(tags=["payments"])


class CardPaymentIn(StrictModel):
    # Checked by the service, which never echoes it (it might be a card number sent by mistake).
    payment_method_token: str


class CardPaymentOut(OutModel):
    id: int
    order_id: int
    order_number: str
    customer_id: int
    gateway: str
    gateway_ref: str | None
    gateway_customer_ref: str | None
    status: str
    currency: str
    amount: DecimalStr
    captured_amount: DecimalStr
    refunded_amount: DecimalStr
    decline_code: str | None
    authorised_at: datetime | None
    expires_at: datetime | None
    created_at: datetime
    updated_at: datetime


class RefundOut(OutModel):
    id: int
    number: str
    customer_id: int
    return_id: int | None
    rma_number: str | None
    card_payment_id: int | None
    method: str
    currency: str
    amount: DecimalStr
    status: str
    gateway_refund_ref: str | None
    reason: str | None
    approved_entry_id: int | None
    paid_entry_id: int | None
    created_at: datetime
    updated_at: datetime


class PayoutIn(StrictModel):
    method: Literal["bank_transfer", "cheque", "cash"] = "bank_transfer"
    reference: str | None = Field(None, max_length=140)


def _card(cp) -> dict:
    return CardPaymentOut.model_validate(cards.view(cp)).model_dump(mode="json")


@router.post("/orders/{order_id}/card-payments", status_code=201, response_model=CardPaymentOut,
             responses={402: {"description": "the card was declined (the attempt is recorded; try another card)"},
                        503: {"description": "the gateway did not answer: send the same request again"}})
def authorise_card(order_id: IdPath, data: CardPaymentIn, ctx: CtxDep, idempotency_key: IdemKey = None):
    """Authorise the order's total on a card (payments.card; a portal user for their own orders), with
    the gateway's token for it: a card number or CVV is refused before anything is stored. 201 with
    status authorised (the order may ship; the money is taken at shipment) or action_required (the
    customer must confirm with the card issuer). 402 when declined and 503 when the gateway did not
    answer: the order waits for a wave, with the reason on its timeline. Asking again is safe: the same
    attempt is sent under the same gateway key (never charged twice), and an authorised one is returned.
    An Idempotency-Key names the attempt end to end."""
    cp = cards.authorise(ctx.actor, ctx.company_id, order_id, data.payment_method_token,
                         idempotency_key=idempotency_key)
    return JSONResponse(_card(cp), status_code=201)


@router.get("/orders/{order_id}/card-payments", response_model=list[CardPaymentOut])
def order_card_payments(order_id: IdPath, ctx: ReaderDep):
    """The order's card attempts, oldest first, with what each captured and refunded."""
    with read_session() as s:
        return [_card(cp) for cp in cards.of_order(s, ctx.actor, ctx.company_id, order_id)]


@router.get("/card-payments/{card_payment_id}", response_model=CardPaymentOut)
def get_card_payment(card_payment_id: IdPath, ctx: ReaderDep):
    with read_session() as s:
        return _card(cards.get(s, ctx.actor, ctx.company_id, card_payment_id))


@router.get("/refunds", response_model=Page[RefundOut])
def list_refunds(
    ctx: ReaderDep,
    customer_id: Annotated[int, Query(ge=1, le=MAX_ID)] | None = None,
    return_id: Annotated[int, Query(ge=1, le=MAX_ID)] | None = None,
    status: Literal[refunds.STATUSES] | None = None,  # type: ignore[valid-type]
    cursor: str | None = None,
    limit: int = Query(50, ge=1, le=500),
):
    """Newest first; a portal user sees their own refunds only."""
    with read_session() as s:
        rows = refunds.list_refunds(s, ctx.actor, ctx.company_id, customer_id=customer_id, status=status,
                                    return_id=return_id, before_id=cursor_to_id(cursor), limit=limit)
        return {"items": [refunds.view(r) for r in rows], "next_cursor": str(rows[-1].id) if len(rows) == limit else None}


@router.get("/refunds/{refund_id}", response_model=RefundOut)
def get_refund(refund_id: IdPath, ctx: ReaderDep):
    with read_session() as s:
        return refunds.view(refunds.get(s, ctx.actor, ctx.company_id, refund_id))


@router.post("/refunds/{refund_id}/pay", response_model=RefundOut)
def pay_refund(refund_id: IdPath, data: PayoutIn, ctx: CtxDep):
    """Pay an approved refund by bank transfer, cheque or cash (payments.write): refunds payable is
    cleared against the money account. 409 when it is paid already or goes back to a card."""
    return change(RefundOut, lambda s: refunds.view(refunds.pay_out(
        s, ctx.actor, ctx.company_id, refund_id, method=data.method, reference=data.reference)))

