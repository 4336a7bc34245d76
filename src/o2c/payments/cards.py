"""Card payments through the gateway: authorise at order, capture at shipment, void on cancel.

Every gateway call takes three steps, so a card is charged once whatever fails in between:

1. a short transaction stores the attempt with its idempotency key (a card payment or capture, pending);
2. the gateway is called with NO database transaction open (a slow gateway never holds a lock; on
   SQLite the write lock is the whole database);
3. a short transaction records the outcome, if the row is still pending.

A timeout leaves the row pending. The retry (the same request again, the outbox event redelivered, or
`retry_pending`) sends the same key with the same parameters, and the gateway answers with the outcome
of the first request instead of acting twice. Declines are final for their key: another card is a new
attempt with a new key. Card data never gets this far: only the gateway's token is accepted
(o2c.payments.gateways.check_payment_method), before anything is stored.

A later shipment is paid by a new authorisation made without the customer: the order's first
authorisation asks the gateway to keep the card for later charges (for a gateway customer it makes, or
the one an earlier attempt of the order made), and the re-authorisation charges it off session against
that customer (`gateway_customer_ref`, copied from the hold it follows).

Decisions are o2c.payments.card_rules; the ledger sees a capture as a card payment applied to the
shipment's invoice (o2c.payments.service.record_payment).
"""
from __future__ import annotations

import hashlib
import logging
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal
from typing import TypeVar

from sqlalchemy import and_, select
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session

from o2c.core import audit, clock
from o2c.core.auth import SYSTEM, Actor, require
from o2c.core.db import read_session, transaction
from o2c.core.errors import Conflict, FieldError, IdempotencyMismatch, NotFound, O2CError
from o2c.core.events import emit
from o2c.core.models import Company
from o2c.core.money import ZERO, plain, round_money
from o2c.payments import card_rules as rules
from o2c.payments import gateways
from o2c.payments.gateway import (
    AUTHORISED as GW_AUTHORISED, FAILED as GW_FAILED, VOIDED as GW_VOIDED, CardGateway, Declined,
    GatewayUnavailable, InvalidRequest,
)
from o2c.payments.models import CardCapture, CardPayment

log = logging.getLogger(__name__)
T = TypeVar("T")


class CardDeclined(O2CError):
    """The card (or its issuer) said no. The attempt is recorded; another card is a new attempt."""

    status = 402
    type = "/problems/card-declined"
    title = "The card was declined"


class GatewayDown(O2CError):
    """The gateway did not answer: the outcome is unknown and the attempt stays pending. The same request
    again is safe (the gateway is asked under the same key and never charges twice)."""

    status = 503
    type = "/problems/gateway-unavailable"
    title = "The card gateway did not answer"


# --- reading ------------------------------------------------------------------------------------------

def view(cp: CardPayment) -> dict:
    """A card payment as the API shows it: amounts in the currency's minor units, never the token."""
    money = lambda amount: round_money(amount, cp.currency)  # noqa: E731
    return {
        "id": cp.id, "order_id": cp.order_id, "order_number": f"SO{cp.order_id:08d}", "customer_id": cp.customer_id,
        "gateway": cp.gateway, "gateway_ref": cp.gateway_ref,
        "gateway_customer_ref": cp.gateway_customer_ref, "status": cp.status, "currency": cp.currency,
        "amount": money(cp.authorised_amount), "captured_amount": money(cp.captured_amount),
        "refunded_amount": money(cp.refunded_amount), "decline_code": cp.decline_code,
        "authorised_at": cp.authorised_at, "expires_at": cp.expires_at, "created_at": cp.created_at,
        "updated_at": cp.updated_at,
    }


def of_order(session: Session, actor: Actor, company_id: int, order_id: int) -> list[CardPayment]:
    """The order's card attempts, oldest first (a portal user: own orders only)."""
    from o2c.orders import service as orders

    orders.get_order(session, actor, company_id, order_id)
    return _attempts(session, order_id)


def _attempts(session: Session, order_id: int) -> list[CardPayment]:
    return list(session.scalars(select(CardPayment).where(CardPayment.order_id == order_id).order_by(CardPayment.id)))


def awaiting_card(order_id):
    """SQL for "this order must not be released to a wave" (`order_id`: the orders' id column): it has
    card attempts and none of them holds or took money (card_rules.waits_for_card). Two EXISTS on the
    card payments' order index, per candidate order."""
    attempted = select(CardPayment.id).where(CardPayment.order_id == order_id).exists()
    holding = select(CardPayment.id).where(CardPayment.order_id == order_id,
                                           CardPayment.status.in_(sorted(rules.RELEASABLE))).exists()
    return and_(attempted, ~holding)


def waiting_for_card(session: Session, company_id: int, order_ids: list[int]) -> list[int]:
    """Which of these orders wait for card authorisation, to say why a wave left them out."""
    from o2c.orders.models import Order

    if not order_ids:
        return []
    return sorted(session.scalars(select(Order.id).where(Order.company_id == company_id, Order.id.in_(order_ids),
                                                         awaiting_card(Order.id))))


# --- the steps every gateway call takes ---------------------------------------------------------------

def _new_key(kind: str, ref: int) -> str:
    """An idempotency key for a new attempt: readable, and unique even across installations that share
    a gateway account (our ids are not)."""
    return f"o2c-{kind}-{ref}-{secrets.token_hex(12)}"


def _client_key(company_id: int, order_id: int, actor: Actor, header: str) -> str:
    """The attempt key for a request that carries its own Idempotency-Key: the same header from the same
    user for the same order is the same attempt, end to end (client -> o2c -> gateway)."""
    digest = hashlib.sha256(f"{company_id}:{order_id}:{actor.user_id}:{header}".encode()).hexdigest()[:40]
    return f"o2c-auth-{order_id}-{digest}"


@dataclass(frozen=True)
class Outcome:
    """What the gateway said to an authorisation: one of card_rules' statuses, or `invalid` (the request
    cannot succeed: nothing happened)."""

    status: str
    gateway_ref: str | None = None
    decline_code: str | None = None
    error: InvalidRequest | None = None
    customer_ref: str | None = None
    payment_method_ref: str | None = None


REAUTH = "reauth"  # the key kind of a shipment's re-authorisation (_prepare_capture)


def _card_use(cp: CardPayment) -> dict:
    """How an attempt uses the card, derived from what is stored so every send of it is the same: the
    order's first authorisation keeps the card for later charges; a shipment's re-authorisation (its key
    says so) charges the kept card off session. A re-authorisation after a hold made before cards were
    kept has no gateway customer, and goes as such holds did."""
    if not cp.idempotency_key.startswith(f"o2c-{REAUTH}-"):
        return {"save_for_later": True, "customer_ref": cp.gateway_customer_ref,
                "customer_metadata": {"o2c_customer": str(cp.customer_id)}}
    if cp.gateway_customer_ref is not None:
        return {"off_session": True, "customer_ref": cp.gateway_customer_ref}
    return {}


def _send_authorisation(gw: CardGateway, cp: CardPayment) -> Outcome:
    """Step 2 of an authorisation: the stored attempt sent as stored (same key, same parameters)."""
    order_number = f"SO{cp.order_id:08d}"
    try:
        auth = gw.authorise(cp.authorised_amount, cp.currency, cp.payment_method_token,
                            idempotency_key=cp.idempotency_key, description=f"Order {order_number}",
                            metadata={"order": order_number}, **_card_use(cp))
    except Declined as exc:
        return Outcome(rules.DECLINED, exc.gateway_ref, exc.decline_code or exc.code, customer_ref=exc.customer_ref)
    except GatewayUnavailable as exc:
        log.warning("card payment %s: %s", cp.id, exc.message)
        return Outcome(rules.PENDING)
    except InvalidRequest as exc:
        return Outcome("invalid", error=exc)
    status = rules.AUTHORISED if auth.status == GW_AUTHORISED else rules.ACTION_REQUIRED
    return Outcome(status, auth.gateway_ref, customer_ref=auth.customer_ref, payment_method_ref=auth.payment_method_ref)


def _check_authentication(gw: CardGateway, cp: CardPayment) -> Outcome:
    """An attempt waiting for the customer's 3-D Secure: how it stands at the gateway now."""
    try:
        state = gw.retrieve(cp.gateway_ref)
    except GatewayUnavailable:
        return Outcome(rules.ACTION_REQUIRED, cp.gateway_ref)
    status = {GW_AUTHORISED: rules.AUTHORISED, GW_FAILED: rules.DECLINED, GW_VOIDED: rules.VOIDED}.get(
        state.status, rules.ACTION_REQUIRED)
    return Outcome(status, cp.gateway_ref, "authentication_failed" if status == rules.DECLINED else None)


def _on_order(session: Session, actor: Actor, cp: CardPayment, action: str, reason: str | None = None,
              **data) -> None:
    audit.record(session, actor, "order", cp.order_id, action, company_id=cp.company_id, reason=reason,
                 data={"card_payment": cp.id, **{k: v for k, v in data.items() if v is not None}})


def _locked(session: Session, card_payment_id: int) -> CardPayment:
    return session.scalar(select(CardPayment).where(CardPayment.id == card_payment_id).with_for_update()
                          .execution_options(populate_existing=True))


def _record_authorisation(session: Session, actor: Actor, cp_id: int, outcome: Outcome, *,
                          was: str = rules.PENDING) -> CardPayment:
    """Step 3: the gateway's answer recorded, once (only while the attempt is still as we left it)."""
    cp = _locked(session, cp_id)
    if cp.status != was or outcome.status == was:
        return cp
    now = clock.now()
    cp.status, cp.updated_at = outcome.status, now
    cp.gateway_ref = outcome.gateway_ref or cp.gateway_ref
    cp.gateway_customer_ref = outcome.customer_ref or cp.gateway_customer_ref
    cp.gateway_payment_method_ref = outcome.payment_method_ref or cp.gateway_payment_method_ref
    amount = plain(round_money(cp.authorised_amount, cp.currency))
    if outcome.status == rules.AUTHORISED:
        cp.authorised_at, cp.expires_at = now, rules.expires_at(now)
        _on_order(session, actor, cp, "card_authorised", amount=amount, currency=cp.currency,
                  expires_at=cp.expires_at.isoformat())
    elif outcome.status == rules.VOIDED and was != rules.PENDING:
        _on_order(session, actor, cp, "card_voided", "the hold on the card is released", amount=amount,
                  currency=cp.currency)
    else:
        cp.decline_code = outcome.decline_code
        action = {rules.DECLINED: "card_declined", rules.ACTION_REQUIRED: "card_action_required",
                  rules.VOIDED: "card_voided"}[outcome.status]
        _on_order(session, actor, cp, action, rules.waiting_reason(outcome.status, outcome.decline_code),
                  amount=amount, currency=cp.currency, decline_code=outcome.decline_code)
    emit(session, f"card_payment.{outcome.status}", {"card_payment_id": cp.id, "order_id": cp.order_id,
                                                      "status": cp.status, "decline_code": cp.decline_code},
         company_id=cp.company_id, entity_id=cp.id)
    return cp


def _forget(session: Session, cp_id: int) -> None:
    """The gateway refused the request as sent (nothing happened there): the attempt is removed, so a
    refusal leaves nothing behind."""
    cp = _locked(session, cp_id)
    if cp is not None and cp.status == rules.PENDING:
        session.delete(cp)


def _run(fn: Callable[[Session], T], engine: Engine | None) -> T:
    return transaction(fn, engine=engine)


# --- authorise at order -----------------------------------------------------------------------------

@dataclass(frozen=True)
class _Step:
    card_payment: CardPayment
    action: str  # send (authorise under its key), check (3-D Secure finished?), done


def _begin(session: Session, actor: Actor, company_id: int, order_id: int, token: str, gateway: str,
           client_key: str | None) -> _Step:
    """Step 1, under the order's lock (two requests at once cannot both start an attempt): the attempt to
    send, an earlier one to resume, or the one that already holds the money."""
    from o2c.orders import service as orders

    require(actor, "payments.card")
    order = orders.get_order(session, actor, company_id, order_id, lock=True)
    attempts = _attempts(session, order.id)
    if client_key is not None:
        same = next((a for a in attempts if a.idempotency_key == client_key), None)
        if same is not None:
            if same.payment_method_token != token:
                message = "this Idempotency-Key was used with another card; use a new key for a new attempt"
                raise IdempotencyMismatch(message, [FieldError("Idempotency-Key", "reused", message)],
                                          field="Idempotency-Key")
            return _Step(same, _resume(same))
    pending = next((a for a in attempts if a.status == rules.PENDING), None)
    if pending is not None:
        return _Step(pending, "send")  # its outcome first: it may hold the money already
    holding = [a for a in attempts if a.status in rules.RELEASABLE]
    if holding:
        if holding[-1].payment_method_token == token:
            return _Step(holding[-1], "done")
        raise Conflict(f"order {order.number} is paid by card already ({holding[-1].status})",
                       card_payment_id=holding[-1].id, status=holding[-1].status)
    latest = attempts[-1] if attempts else None
    if latest is not None and latest.status == rules.ACTION_REQUIRED and latest.payment_method_token == token:
        return _Step(latest, "check")
    if order.status == "cancelled":
        raise Conflict(f"order {order.number} is cancelled", current_status=order.status)
    if order.shipment_state != "none":
        raise Conflict(f"order {order.number} has shipped goods: a card is authorised before anything ships",
                       shipment_state=order.shipment_state)
    amount = round_money(order.total, order.currency)
    if amount <= 0:
        raise Conflict(f"order {order.number} comes to {plain(amount)} {order.currency}: nothing to authorise")
    now = clock.now()
    # The gateway customer an earlier attempt of the order made (a declined card, say): the next card is
    # kept for the same one.
    kept_for = next((a.gateway_customer_ref for a in reversed(attempts)
                     if a.gateway == gateway and a.gateway_customer_ref is not None), None)
    cp = CardPayment(company_id=company_id, order_id=order.id, customer_id=order.customer_id, gateway=gateway,
                     payment_method_token=token, idempotency_key=client_key or _new_key("auth", order.id),
                     gateway_customer_ref=kept_for, currency=order.currency, authorised_amount=amount,
                     captured_amount=ZERO, refunded_amount=ZERO, status=rules.PENDING, created_at=now,
                     updated_at=now)
    session.add(cp)
    session.flush()
    return _Step(cp, "send")


def _resume(cp: CardPayment) -> str:
    return {rules.PENDING: "send", rules.ACTION_REQUIRED: "check"}.get(cp.status, "done")


def authorise(actor: Actor, company_id: int, order_id: int, token: object, *,
              idempotency_key: str | None = None, engine: Engine | None = None) -> CardPayment:
    """Hold the order's total on the card behind `token` (payments.card; a portal user: own orders).

    Card data is refused before anything is stored. Returns the attempt: authorised, or action_required
    (the customer must confirm with the issuer). A decline raises CardDeclined (402) and a gateway that
    did not answer GatewayDown (503); both attempts are recorded, and the order waits for a wave with
    the reason on its timeline. Asking again is always safe: a pending attempt is sent again under its
    own key, and an authorised one is returned as it is."""
    name = gateways.gateway_name(company_id)
    token = gateways.check_payment_method(name, token)
    client_key = _client_key(company_id, order_id, actor, idempotency_key) if idempotency_key else None
    for _ in range(2):  # a pending attempt of another card is settled first, then this card gets its turn
        step = _run(lambda s: _begin(s, actor, company_id, order_id, token, name, client_key), engine)
        cp = step.card_payment
        if step.action == "done":
            break
        with gateways.open_gateway(cp.gateway) as gw:
            outcome = _send_authorisation(gw, cp) if step.action == "send" else _check_authentication(gw, cp)
        if outcome.status == "invalid":
            _refused(outcome.error, cp, engine)
        was = rules.PENDING if step.action == "send" else rules.ACTION_REQUIRED
        if outcome.status == rules.PENDING:
            _run(lambda s: _on_order(s, actor, _locked(s, cp.id), "card_authorisation_pending",
                                     rules.waiting_reason(rules.PENDING)), engine)
            raise GatewayDown("the card gateway did not answer; the outcome is unknown. Send the same request "
                              "again: the card is charged at most once", card_payment_id=cp.id, status=rules.PENDING)
        cp = _run(lambda s: _record_authorisation(s, actor, cp.id, outcome, was=was), engine)
        if cp.payment_method_token == token or cp.status in rules.RELEASABLE:
            break
    if cp.status == rules.DECLINED:
        raise CardDeclined(f"the card was declined ({cp.decline_code}); the order waits: try another card",
                           card_payment_id=cp.id, decline_code=cp.decline_code, status=cp.status)
    return cp


def _refused(error: InvalidRequest, cp: CardPayment, engine: Engine | None) -> None:
    """The gateway refused the request as sent. Nothing happened there, so the attempt goes too, except
    when its key was seen with other parameters (then something did happen under it: keep it for a
    person). A refused API key is our set-up, not the customer's input."""
    if error.code == "idempotency_key_reused":
        log.error("card payment %s: the gateway saw its idempotency key with other parameters", cp.id)
        raise Conflict("the card gateway refused the retry of this attempt; it needs a person to look at it",
                       card_payment_id=cp.id)
    _run(lambda s: _forget(s, cp.id), engine)
    if error.code == "authentication_failed":
        log.error("card gateway refused our API key: %s", error.message)
        raise Conflict("card payments are not available: the gateway refused our credentials")
    raise error


def retry_pending(*, engine: Engine | None = None) -> dict[str, int]:
    """The worker's pass over attempts the gateway has not settled: pending ones are sent again under
    their key (within the gateway's idempotency window; older ones are left for a person, as a new send
    could charge anew), and ones waiting for 3-D Secure are looked up. A shipment's re-authorisation is
    left to its capture event. Returns how many changed, by new status."""
    now = clock.now()
    with read_session(engine) as s:
        claimed = select(CardCapture.card_payment_id)
        rows = list(s.scalars(select(CardPayment).where(CardPayment.status.in_((rules.PENDING, rules.ACTION_REQUIRED)),
                                                        CardPayment.id.not_in(claimed)).order_by(CardPayment.id)))
        s.expunge_all()  # kept as read: the read transaction's rollback must not expire them
    counts: dict[str, int] = {}
    for cp in rows:
        if cp.status == rules.PENDING and now - cp.created_at > rules.IDEMPOTENCY_WINDOW:
            log.warning("card payment %s pending since %s: beyond the gateway's idempotency window, not re-sent",
                        cp.id, cp.created_at.isoformat())
            continue
        with gateways.open_gateway(cp.gateway) as gw:
            outcome = _send_authorisation(gw, cp) if cp.status == rules.PENDING else _check_authentication(gw, cp)
        if outcome.status == "invalid":
            if outcome.error.code != "idempotency_key_reused":
                _run(lambda s, cp=cp: _forget(s, cp.id), engine)
            continue
        if outcome.status == cp.status:
            continue
        done = _run(lambda s, cp=cp, o=outcome: _record_authorisation(s, SYSTEM, cp.id, o, was=cp.status), engine)
        counts[done.status] = counts.get(done.status, 0) + 1
    return counts


# --- capture at shipment -------------------------------------------------------------------------------

def request_capture(session: Session, company_id: int, shipment_id: int) -> bool:
    """`shipment.shipped` (in the dispatcher's transaction): a shipment of an order paid by card asks for
    its capture, which runs outside any transaction (card_payment.capture_due). Other orders: nothing."""
    from o2c.fulfillment import service as fulfillment

    sh = fulfillment.get_shipment(session, SYSTEM, company_id, shipment_id)
    if sh.kind != "order":
        return False
    paying = session.scalar(select(CardPayment.id).where(CardPayment.order_id == sh.order_id,
                                                         CardPayment.status.in_(sorted(rules.RELEASABLE))).limit(1))
    if paying is None:
        return False
    emit(session, "card_payment.capture_due", {"shipment_id": sh.id, "order_id": sh.order_id},
         company_id=company_id, entity_id=sh.id)
    return True


@dataclass(frozen=True)
class _Capture:
    capture: CardCapture
    card_payment: CardPayment


def _prepare_capture(session: Session, actor: Actor, company_id: int, shipment_id: int) -> _Capture | None:
    """Step 1 of a capture, under the shipment's and the order's locks: the shipment's invoice (made now
    if the invoicing subscriber has not run yet), the hold to capture or a new authorisation for this
    shipment, and the capture row with its key. None: nothing to capture."""
    from o2c.billing import service as billing
    from o2c.fulfillment import service as fulfillment
    from o2c.orders import service as orders

    sh = fulfillment.get_shipment(session, actor, company_id, shipment_id, lock=True)
    found = session.scalar(select(CardCapture).where(CardCapture.shipment_id == sh.id))
    if found is not None:  # redelivered, or retried after the gateway did not answer
        return None if found.status != rules.PENDING else _Capture(found, session.get(CardPayment, found.card_payment_id))
    inv = billing.invoice_shipment(session, actor, company_id, sh.id)
    if inv is None:
        return None
    order = orders.get_order(session, actor, company_id, sh.order_id, lock=True)
    amount = billing.open_amounts(session, [inv.id]).get(inv.id, ZERO)
    if amount <= 0:
        return None  # settled some other way already
    attempts = _attempts(session, order.id)
    claimed = set(session.scalars(select(CardCapture.card_payment_id)
                                  .where(CardCapture.card_payment_id.in_([a.id for a in attempts]))))
    now = clock.now()
    holds = [rules.Hold(a.id, a.status, a.authorised_amount, a.expires_at, a.id in claimed) for a in attempts]
    by_id = {a.id: a for a in attempts}
    for h in rules.stale_holds(holds, now):
        cp = by_id[h.id]
        cp.status, cp.updated_at = rules.EXPIRED, now
        _on_order(session, actor, cp, "card_authorisation_expired",
                  "the hold is at the end of its 7 days: this shipment is authorised again")
    hold = rules.hold_for_capture(holds, amount, now)
    if hold is not None:
        cp = by_id[hold.id]
    else:
        paid_with = [a for a in attempts if a.status in rules.RELEASABLE]
        if not paid_with:
            return None
        last = paid_with[-1]
        cp = CardPayment(company_id=company_id, order_id=order.id, customer_id=order.customer_id, gateway=last.gateway,
                         payment_method_token=last.gateway_payment_method_ref or last.payment_method_token,
                         idempotency_key=_new_key(REAUTH, sh.id),
                         gateway_customer_ref=last.gateway_customer_ref, currency=order.currency,
                         authorised_amount=amount, captured_amount=ZERO, refunded_amount=ZERO, status=rules.PENDING,
                         created_at=now, updated_at=now)
        session.add(cp)
        session.flush()
    cap = CardCapture(card_payment_id=cp.id, shipment_id=sh.id, invoice_id=inv.id, idempotency_key=_new_key("capture", sh.id),
                      currency=inv.currency, amount=amount, status=rules.PENDING, created_at=now, updated_at=now)
    session.add(cap)
    session.flush()
    return _Capture(cap, cp)


def capture_shipment(actor: Actor, company_id: int, shipment_id: int, *,
                     engine: Engine | None = None) -> CardCapture | None:
    """Take a shipment's invoice amount from the card (card_payment.capture_due, outside any transaction).

    The first shipment captures its share of the order's hold (the gateway releases the rest); a later
    one, or any after the hold expired, is authorised again off session (the card kept at order for the
    order's gateway customer) and captured. Then the payment is recorded against the invoice, which
    shows paid. A decline (at the new authorisation or the capture) leaves the invoice open for payment
    like any other, with the reason on the order's timeline. A gateway that does not answer raises GatewayUnavailable: the event is retried, under
    the same keys. Redelivered, a captured shipment is found and nothing is taken twice."""
    step = _run(lambda s: _prepare_capture(s, actor, company_id, shipment_id), engine)
    if step is None:
        return None
    cap, cp = step.capture, step.card_payment
    with gateways.open_gateway(cp.gateway) as gw:
        if cp.status == rules.PENDING:
            outcome = _send_authorisation(gw, cp)
            if outcome.status == rules.PENDING:
                raise GatewayUnavailable(f"card payment {cp.id}: the gateway did not answer the authorisation "
                                         f"of shipment {shipment_id}; retried under the same key")
            if outcome.status == "invalid":
                outcome = Outcome(rules.DECLINED, decline_code=outcome.error.code)
            cp = _run(lambda s: _record_authorisation(s, actor, cp.id, outcome), engine)
        if cp.status != rules.AUTHORISED:
            return _run(lambda s: _capture_failed(s, actor, cap.id, cp.decline_code or cp.status,
                                                  f"the new authorisation was {cp.status}"), engine)
        try:
            taken = gw.capture(cp.gateway_ref, cap.amount, cap.currency, idempotency_key=cap.idempotency_key)
        except Declined as exc:
            return _run(lambda s: _capture_failed(s, actor, cap.id, exc.decline_code or exc.code, exc.message), engine)
        except InvalidRequest as exc:
            return _run(lambda s: _capture_failed(s, actor, cap.id, exc.code, exc.message), engine)
    return _run(lambda s: _record_capture(s, actor, cap.id, taken.amount), engine)


def _record_capture(session: Session, actor: Actor, capture_id: int, amount: Decimal) -> CardCapture:
    """Step 3: the capture and its payment, applied to the shipment's invoice, in one transaction."""
    from o2c.billing import service as billing
    from o2c.orders import service as orders
    from o2c.payments import service as payments

    cap = session.get(CardCapture, capture_id)
    cp = session.get(CardPayment, cap.card_payment_id)
    orders.get_order(session, actor, cp.company_id, cp.order_id, lock=True)
    cap = session.scalar(select(CardCapture).where(CardCapture.id == capture_id).with_for_update()
                         .execution_options(populate_existing=True))
    if cap.status != rules.PENDING:
        return cap
    cp = _locked(session, cp.id)
    now = clock.now()
    open_ = billing.open_amounts(session, [cap.invoice_id]).get(cap.invoice_id, ZERO)
    company = session.get(Company, cp.company_id)
    payment = payments.record_payment(
        session, actor, cp.company_id, customer_id=cp.customer_id, method="card", currency=cap.currency,
        amount=amount, received_on=clock.today_in(company.timezone), reference=cp.gateway_ref, source="card",
        source_ref=f"capture-{cap.id}", applications=[(cap.invoice_id, min(amount, open_))] if open_ > 0 else [])
    cap.status, cap.amount, cap.payment_id, cap.updated_at = rules.CAPTURED, amount, payment.id, now
    cp.status, cp.captured_amount, cp.updated_at = rules.CAPTURED, cp.captured_amount + amount, now
    inv = billing.get_invoice(session, actor, cp.company_id, cap.invoice_id)
    _on_order(session, actor, cp, "card_captured", amount=plain(round_money(amount, cap.currency)),
              currency=cap.currency, invoice=inv.number, shipment=f"SH{cap.shipment_id:08d}", payment=payment.number)
    emit(session, "card_payment.captured", {"card_payment_id": cp.id, "capture_id": cap.id, "order_id": cp.order_id,
                                            "shipment_id": cap.shipment_id, "invoice_id": cap.invoice_id,
                                            "payment_id": payment.id, "amount": plain(amount), "currency": cap.currency},
         company_id=cp.company_id, entity_id=cap.id)
    return cap


def _capture_failed(session: Session, actor: Actor, capture_id: int, code: str | None, message: str) -> CardCapture:
    """The card would not pay for this shipment: its invoice stays open (ordinary receivables, reminders)."""
    from o2c.billing import service as billing

    cap = session.scalar(select(CardCapture).where(CardCapture.id == capture_id).with_for_update()
                         .execution_options(populate_existing=True))
    if cap.status != rules.PENDING:
        return cap
    cp = session.get(CardPayment, cap.card_payment_id)
    cap.status, cap.error, cap.updated_at = "failed", f"{code}: {message}"[:300], clock.now()
    inv = billing.get_invoice(session, actor, cp.company_id, cap.invoice_id)
    _on_order(session, actor, cp, "card_capture_failed",
              f"the card did not pay for shipment SH{cap.shipment_id:08d} ({rules.later_charge_failure(code)}); "
              f"invoice {inv.number} stays open for payment", invoice=inv.number, decline_code=code)
    emit(session, "card_payment.capture_failed", {"card_payment_id": cp.id, "capture_id": cap.id,
                                                  "order_id": cp.order_id, "invoice_id": cap.invoice_id,
                                                  "decline_code": code},
         company_id=cp.company_id, entity_id=cap.id)
    return cap


# --- void on cancel -------------------------------------------------------------------------------------

def void_order(actor: Actor, company_id: int, order_id: int, *, engine: Engine | None = None) -> list[CardPayment]:
    """`order.cancelled` (outside any transaction): every hold of the order is released at the gateway.
    An attempt still pending is settled first under its own key (it may have authorised after all)."""
    with read_session(engine) as s:
        live = [a for a in _attempts(s, order_id) if a.company_id == company_id
                and a.status in (rules.PENDING, rules.AUTHORISED, rules.ACTION_REQUIRED)]
        s.expunge_all()  # kept as read: the read transaction's rollback must not expire them
    done = []
    for cp in live:
        with gateways.open_gateway(cp.gateway) as gw:
            if cp.status == rules.PENDING:
                if clock.now() - cp.created_at > rules.IDEMPOTENCY_WINDOW:
                    log.warning("card payment %s of cancelled order %s is pending beyond the idempotency window: "
                                "check it at the gateway", cp.id, order_id)
                    continue
                outcome = _send_authorisation(gw, cp)
                if outcome.status == rules.PENDING:
                    raise GatewayUnavailable(f"card payment {cp.id}: the gateway did not answer; the void is retried")
                if outcome.status == "invalid":
                    _run(lambda s, cp=cp: _forget(s, cp.id), engine)
                    continue
                cp = _run(lambda s, cp=cp, o=outcome: _record_authorisation(s, actor, cp.id, o), engine)
                if cp.status not in (rules.AUTHORISED, rules.ACTION_REQUIRED):
                    continue
            try:
                gw.void(cp.gateway_ref, idempotency_key=f"{cp.idempotency_key}-void")
            except InvalidRequest as exc:
                if gw.retrieve(cp.gateway_ref).status != GW_VOIDED:
                    _run(lambda s, cp=cp, exc=exc: _on_order(
                        s, actor, _locked(s, cp.id), "card_void_failed",
                        f"the gateway would not release the hold ({exc.code}); check it at the gateway"), engine)
                    continue
        done.append(_run(lambda s, cp=cp: _record_authorisation(s, actor, cp.id, Outcome(rules.VOIDED, cp.gateway_ref),
                                                                was=cp.status), engine))
    return done


def get(session: Session, actor: Actor, company_id: int, card_payment_id: int) -> CardPayment:
    cp = session.get(CardPayment, card_payment_id)
    if cp is None or cp.company_id != company_id or (actor.customer_id is not None and cp.customer_id != actor.customer_id):
        raise NotFound(f"card payment {card_payment_id} not found")
    return cp
