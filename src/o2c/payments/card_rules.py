"""Card payment rules, pure: what an order's card attempts mean for its release, which hold a shipment's
capture may use, and how a return's refund goes back to the customer.

A card payment row is one attempt at the gateway with its own idempotency key:
pending (sent, outcome unknown) -> authorised | action_required | declined; authorised -> captured |
voided | expired. Stripe captures a PaymentIntent once: the first shipment captures its share of the
order's hold (the rest is released), and every later shipment is a new authorisation of the card
kept at order for later charges, made off session (the customer is not there), captured at once.
"""
from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal

from o2c.core.money import ZERO

PENDING = "pending"
AUTHORISED = "authorised"
ACTION_REQUIRED = "action_required"
DECLINED = "declined"
CAPTURED = "captured"
VOIDED = "voided"
EXPIRED = "expired"
STATUSES = (PENDING, AUTHORISED, ACTION_REQUIRED, DECLINED, CAPTURED, VOIDED, EXPIRED)

# Card networks hold an online authorisation for 7 days (Stripe cancels an uncaptured PaymentIntent
# then). A hold closer than the margin to its end is not captured but authorised again: a capture event
# retried with backoff must not land on a hold that lapsed meanwhile.
AUTHORISATION_LIFETIME = timedelta(days=7)
EXPIRY_MARGIN = timedelta(hours=12)
# Stripe keeps an idempotency key's answer for 24 hours. An attempt left pending longer is not re-sent
# by itself (a new request under the old key could charge anew): a person looks at it.
IDEMPOTENCY_WINDOW = timedelta(hours=24)

# Attempts that let an order go to the warehouse: money held, taken, or held once and re-authorised at
# capture (expired).
RELEASABLE = frozenset({AUTHORISED, CAPTURED, EXPIRED})
# Attempts that block it; the reason goes on the order's timeline.
WAITING = frozenset({PENDING, ACTION_REQUIRED, DECLINED, VOIDED})

WAITING_REASON = "waiting for card authorisation"


def waits_for_card(statuses: Iterable[str]) -> bool:
    """An order with card attempts waits for a wave until one of them holds or took money; an order
    without any is paid on invoice as usual."""
    seen = set(statuses)
    return bool(seen) and not (seen & RELEASABLE)


def waiting_reason(status: str, decline_code: str | None = None) -> str:
    """What the order's timeline says while it waits, in words a person acts on."""
    why = {
        PENDING: "the gateway has not answered yet; the retry uses the same key, so the card is charged once",
        ACTION_REQUIRED: "the card issuer asks the customer to confirm the payment (3-D Secure)",
        DECLINED: f"the card was declined ({decline_code or 'no reason given'}); another card can be tried",
        VOIDED: "the authorisation was cancelled",
    }[status]
    return f"{WAITING_REASON}: {why}"


# Why a charge at shipment failed, where the gateway's code alone does not tell a person what happened.
LATER_CHARGE_FAILURES = {
    "authentication_required": "the card issuer wants the customer to confirm this charge, which cannot be "
                               "asked at shipment",
}


def later_charge_failure(code: str | None) -> str:
    """The failure of a shipment's charge in words for the order's timeline: the code, explained if need be."""
    explained = LATER_CHARGE_FAILURES.get(code or "")
    return f"{code}: {explained}" if explained else str(code)


def expires_at(authorised_at: datetime) -> datetime:
    return authorised_at + AUTHORISATION_LIFETIME


def expiring(expires: datetime | None, now: datetime) -> bool:
    """Whether a hold is over, or too close to its end to capture safely."""
    return expires is None or now >= expires - EXPIRY_MARGIN


@dataclass(frozen=True)
class Hold:
    """An order's authorisation as the capture sees it."""

    id: int
    status: str
    amount: Decimal
    expires_at: datetime | None
    claimed: bool  # a capture of another shipment took it already (a PaymentIntent captures once)


def hold_for_capture(holds: Sequence[Hold], amount: Decimal, now: datetime) -> Hold | None:
    """The hold a shipment's capture of `amount` takes: the oldest authorised one not yet claimed, not
    expiring and large enough. None: authorise again for this shipment."""
    for h in sorted(holds, key=lambda h: h.id):
        if h.status == AUTHORISED and not h.claimed and h.amount >= amount and not expiring(h.expires_at, now):
            return h
    return None


def stale_holds(holds: Sequence[Hold], now: datetime) -> list[Hold]:
    """Authorised, unclaimed holds past their useful life: recorded as expired, never captured."""
    return [h for h in holds if h.status == AUTHORISED and not h.claimed and expiring(h.expires_at, now)]


# --- refunds ---------------------------------------------------------------------------------------

CARD, BANK_TRANSFER = "card", "bank_transfer"


@dataclass(frozen=True)
class PaidCredit:
    """What a credit note of a return gave back of money already paid: the customer's unapplied credit
    under the note, and the card payment that paid its invoice (None: paid some other way)."""

    note: str
    amount: Decimal
    card_payment_id: int | None


@dataclass(frozen=True)
class RefundPlan:
    method: str                                   # card, or bank_transfer (approved, paid out by a person)
    amount: Decimal
    from_credits: tuple[tuple[str, Decimal], ...]  # (credit note, amount) the refund uses up
    card_parts: tuple[tuple[int, Decimal], ...]   # (card payment, amount) refunded on each card


def refund_plan(credits: Sequence[PaidCredit], refundable: dict[int, Decimal]) -> RefundPlan | None:
    """The refund of a return: the money its credit notes gave back (an unpaid invoice's note only
    reduced what was owed: nothing to pay back). Back on the cards that paid, each within what it can
    still refund (`refundable`: captured less refunded); when any part was paid otherwise, or a card
    cannot take its part, the whole refund is approved for a bank transfer, so it is never split over
    two methods."""
    paid = [c for c in credits if c.amount > 0]
    if not paid:
        return None
    total = sum((c.amount for c in paid), ZERO)
    from_credits = tuple((c.note, c.amount) for c in paid)
    per_card: dict[int, Decimal] = defaultdict(lambda: ZERO)
    for c in paid:
        if c.card_payment_id is None:
            return RefundPlan(BANK_TRANSFER, total, from_credits, ())
        per_card[c.card_payment_id] += c.amount
    if any(amount > refundable.get(cp, ZERO) for cp, amount in per_card.items()):
        return RefundPlan(BANK_TRANSFER, total, from_credits, ())
    return RefundPlan(CARD, total, from_credits, tuple(sorted(per_card.items())))
