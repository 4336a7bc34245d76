"""Return decisions, pure: what may be returned and until when, the reasons, the status machine, the
inspection of what came back, and what is refunded.

Returnable quantity of an order line: what was delivered (shipments of kind "order" with status
"delivered") minus what is in returns already. A return counts with its requested quantity while it
is requested or authorised, and with what actually arrived once it is received: units the customer
never sent back become returnable again (within the window); a rejected return counts for nothing.

Return window: a line can be returned up to and including the day `return_window_days` after its
last delivery, counted in business dates of the company's time zone.

Refund (docs/returns.md): accepted units only: `restock` and `damaged` (damaged in transit or
defective goods are the seller's risk). `refused` units (not the goods sent, used, or outside the
policy) go back to the customer and are not refunded. The amount of q units of an order line of Q
units with net N and tax T is prorated cumulatively: with `before` units of that line returned
earlier,

    net = round(N × (before + q) / Q) − round(N × before / Q)        (tax the same with T)

each rounded half-up to the currency's minor units (o2c.core.money.round_money). One return of q
units gets round(N × q / Q); returning the whole line, at once or in parts, gives back exactly N + T,
never a cent more or less. The unit figures kept on a return line (unit_net = N / Q at 4 decimals)
are shown to people; the refund uses the exact proportion, so a large line cannot drift by
accumulating the 4-decimal rounding of its unit price.
"""
from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import ROUND_HALF_UP, Decimal

from o2c.core.errors import Conflict, ErrorList, FieldError
from o2c.core.money import ZERO, plain, round_money

# Reason codes, kept on every return line for the analytics (GET /returns/reasons).
REASONS: dict[str, str] = {
    "damaged_in_transit": "arrived damaged",
    "defective": "does not work as it should",
    "wrong_item": "not the item ordered",
    "not_as_described": "differs from its description",
    "no_longer_needed": "the customer no longer needs it",
    "other": "another reason, given in reason_text",
}
NEEDS_TEXT = frozenset({"other"})

OUTCOMES = ("refund", "exchange")

REQUESTED, AUTHORISED, RECEIVED, INSPECTED, CLOSED, REJECTED = (
    "requested", "authorised", "received", "inspected", "closed", "rejected")
STATUSES = (REQUESTED, AUTHORISED, RECEIVED, INSPECTED, CLOSED, REJECTED)
TRANSITIONS: dict[str, frozenset[str]] = {
    REQUESTED: frozenset({AUTHORISED, REJECTED}),
    AUTHORISED: frozenset({RECEIVED}),
    RECEIVED: frozenset({INSPECTED}),
    INSPECTED: frozenset({CLOSED}),
    CLOSED: frozenset(),
    REJECTED: frozenset(),
}
# What a person does to move a return on, for the error when the status does not allow it.
_STEP = {AUTHORISED: "authorised", REJECTED: "rejected", RECEIVED: "received", INSPECTED: "inspected",
         CLOSED: "closed"}

RESTOCK, DAMAGED, REFUSED = "restock", "damaged", "refused"
CONDITIONS = (RESTOCK, DAMAGED, REFUSED)
ACCEPTED = frozenset({RESTOCK, DAMAGED})  # refunded or exchanged; `refused` goes back to the customer

UNIT_PLACES = Decimal("0.0001")  # unit_net / unit_tax as stored on a return line


def check_transition(rma: str, current: str, to: str) -> None:
    if to not in TRANSITIONS[current]:
        allowed = ", ".join(sorted(TRANSITIONS[current])) or "nothing (it is final)"
        raise Conflict(f"return {rma} is {current}; it cannot be {_STEP[to]} (from {current}: {allowed})",
                       current_status=current)


# --- what may be returned -----------------------------------------------------------------------

def window_closes(last_delivered_on: date, window_days: int) -> date:
    """The last day a return may be asked for (inclusive)."""
    return last_delivered_on + timedelta(days=window_days)


def in_window(today: date, last_delivered_on: date, window_days: int) -> bool:
    return today <= window_closes(last_delivered_on, window_days)


def returnable(delivered: Decimal, in_returns: Decimal) -> Decimal:
    return max(delivered - in_returns, ZERO)


def counted_in_return(status: str, quantity: Decimal, received_qty: Decimal) -> Decimal:
    """How much of an order line one return line holds back from being returned again."""
    if status == REJECTED:
        return ZERO
    if status in (REQUESTED, AUTHORISED):
        return quantity
    return received_qty


@dataclass(frozen=True)
class LineFacts:
    """An order line as far as returns are concerned."""

    line_no: int
    shipped: Decimal  # handed to the carrier, delivered or not
    delivered: Decimal
    in_returns: Decimal  # see counted_in_return
    last_delivered_on: date | None  # business date in the company's time zone
    uom_decimals: int = 0


@dataclass(frozen=True)
class RequestLine:
    line_no: int
    quantity: Decimal
    reason: str
    reason_text: str | None = None


def _decimals(q: Decimal) -> int:
    return max(0, -q.normalize().as_tuple().exponent)


def reason_errors(at: str, reason: str, text: str | None) -> list[FieldError]:
    if reason not in REASONS:
        return [FieldError(f"{at}.reason", "unknown",
                           f"{at}.reason must be one of {', '.join(REASONS)} (got {reason!r})")]
    if reason in NEEDS_TEXT and not (text or "").strip():
        return [FieldError(f"{at}.reason_text", "required", f"{at}.reason_text: say what the reason is")]
    return []


def check_request(order_number: str, lines: Sequence[RequestLine], facts: Mapping[int, LineFacts], today: date,
                  window_days: int) -> None:
    """Refuse a return request with every problem named by its field; return quietly when it is fine.

    `facts` covers every line of the order. When the window has closed for everything the order
    delivered, the error names `order_id`; when it closed for some lines only, the line.
    """
    errors = ErrorList()
    closes = [window_closes(f.last_delivered_on, window_days) for f in facts.values() if f.last_delivered_on]
    order_closed = bool(closes) and today > max(closes)
    if order_closed:
        errors.add("order_id", "window_closed", f"the return window of order {order_number} closed on "
                                                f"{max(closes).isoformat()} ({window_days} days after delivery)")
    seen: set[int] = set()
    for i, li in enumerate(lines):
        at = f"lines[{i}]"
        for e in reason_errors(at, li.reason, li.reason_text):
            errors.add(e.field, e.code, e.message)
        f = facts.get(li.line_no)
        if f is None:
            errors.add(f"{at}.line_no", "unknown", f"order {order_number} has no line {li.line_no}")
            continue
        if li.line_no in seen:
            errors.add(f"{at}.line_no", "duplicate", f"line {li.line_no} is named twice; give its quantity once")
            continue
        seen.add(li.line_no)
        if f.delivered <= 0:
            detail = ("has shipped but is not delivered yet; it can be returned once it arrives" if f.shipped > 0
                      else "was never delivered")
            errors.add(f"{at}.line_no", "not_delivered", f"line {li.line_no} {detail}")
            continue
        if not order_closed and not in_window(today, f.last_delivered_on, window_days):
            closed_on = window_closes(f.last_delivered_on, window_days).isoformat()
            errors.add(f"{at}.line_no", "window_closed",
                       f"the return window for line {li.line_no} closed on {closed_on}")
            continue
        if _decimals(li.quantity) > f.uom_decimals:
            errors.add(f"{at}.quantity", "decimals", f"{at}.quantity {plain(li.quantity)} has more than "
                                                     f"{f.uom_decimals} decimals allowed for this product")
            continue
        left = returnable(f.delivered, f.in_returns)
        if li.quantity > left:
            errors.add(f"{at}.quantity", "more_than_returnable",
                       f"only {plain(left)} of line {li.line_no} were delivered and not yet returned "
                       f"(delivered {plain(f.delivered)}, in returns {plain(f.in_returns)}; "
                       f"asked {plain(li.quantity)})")
    errors.raise_if_any("the return cannot be requested")


# --- receipt and inspection ---------------------------------------------------------------------

def check_receipt(rma: str, authorised: Mapping[int, Decimal], received: Sequence[tuple[int, Decimal]]) -> None:
    """`authorised`: line_no -> quantity of the return; `received`: (line_no, quantity) as counted."""
    errors = ErrorList()
    seen: set[int] = set()
    for i, (line_no, q) in enumerate(received):
        at = f"lines[{i}]"
        if line_no not in authorised:
            errors.add(f"{at}.line_no", "unknown", f"return {rma} has no line {line_no} "
                                                   f"(its lines: {', '.join(map(str, sorted(authorised)))})")
        elif line_no in seen:
            errors.add(f"{at}.line_no", "duplicate", f"line {line_no} is named twice; count it once")
        elif q > authorised[line_no]:
            errors.add(f"{at}.quantity", "more_than_authorised",
                       f"{plain(q)} of line {line_no} received is more than the "
                       f"{plain(authorised[line_no])} authorised")
        seen.add(line_no)
    if not errors.items and not any(q > 0 for _, q in received):
        errors.add("lines", "nothing_received", "nothing was received: give the quantity of at least one line")
    errors.raise_if_any("the receipt cannot be recorded")


@dataclass(frozen=True)
class Verdict:
    line_no: int
    condition: str
    quantity: Decimal | None  # None: everything received of that line


def check_inspection(rma: str, received: Mapping[int, Decimal],
                     verdicts: Sequence[Verdict]) -> dict[int, list[tuple[str, Decimal]]]:
    """Every received line gets conditions for all its received units (one, or several splitting its
    quantity); returns line_no -> [(condition, quantity)] in the order given."""
    errors = ErrorList()
    out: dict[int, list[tuple[str, Decimal]]] = {}
    for i, v in enumerate(verdicts):
        at = f"lines[{i}]"
        if v.condition not in CONDITIONS:
            errors.add(f"{at}.condition", "unknown", f"{at}.condition must be one of {', '.join(CONDITIONS)}")
            continue
        if v.line_no not in received:
            errors.add(f"{at}.line_no", "unknown", f"return {rma} has no line {v.line_no}")
            continue
        if received[v.line_no] <= 0:
            errors.add(f"{at}.line_no", "not_received", f"nothing of line {v.line_no} was received")
            continue
        parts = out.setdefault(v.line_no, [])
        if v.quantity is None and parts or parts and parts[-1][1] is None:
            errors.add(f"{at}.quantity", "required", f"line {v.line_no} is split over several conditions: "
                                                     "give the quantity of each")
            continue
        parts.append((v.condition, v.quantity))
    for line_no, parts in out.items():
        if len(parts) == 1 and parts[0][1] is None:
            out[line_no] = [(parts[0][0], received[line_no])]
            continue
        total = sum((q for _, q in parts), ZERO)
        if total != received[line_no]:
            i = max(i for i, v in enumerate(verdicts) if v.line_no == line_no)
            errors.add(f"lines[{i}].quantity", "does_not_add_up",
                       f"the conditions of line {line_no} cover {plain(total)}; "
                       f"{plain(received[line_no])} were received")
    for line_no in sorted(received):
        if received[line_no] > 0 and line_no not in out and not any(v.line_no == line_no for v in verdicts):
            errors.add("lines", "missing", f"line {line_no} was received ({plain(received[line_no])}) "
                                           "and needs a condition: restock, damaged or refused")
    errors.raise_if_any("the inspection cannot be recorded")
    return out


# --- refund -------------------------------------------------------------------------------------

def unit_amount(amount: Decimal, quantity: Decimal) -> Decimal:
    """A line amount per unit, at 4 decimals (half-up), as kept on a return line for people to read."""
    return (amount / quantity).quantize(UNIT_PLACES, rounding=ROUND_HALF_UP)


def prorate(amount: Decimal, line_quantity: Decimal, before: Decimal, quantity: Decimal, currency: str) -> Decimal:
    """The part of a line `amount` for `quantity` units after `before` units were returned earlier."""
    def upto(q: Decimal) -> Decimal:
        return round_money(amount * q / line_quantity, currency)
    return upto(before + quantity) - upto(before)


@dataclass(frozen=True)
class RefundLine:
    order_line_id: int
    sku: str
    line_quantity: Decimal
    line_net: Decimal
    line_tax: Decimal
    returned_before: Decimal  # accepted units of this line in earlier returns
    quantity: Decimal  # accepted units now


@dataclass(frozen=True)
class Refund:
    lines: tuple[tuple[RefundLine, Decimal, Decimal], ...]  # (line, net, tax)
    net: Decimal
    tax: Decimal

    @property
    def total(self) -> Decimal:
        return self.net + self.tax


def refund(lines: Sequence[RefundLine], currency: str) -> Refund:
    """The refund of accepted units, per order line and in total (the total is the sum of the lines)."""
    out = []
    for li in lines:
        if li.quantity <= 0:
            continue
        if li.returned_before + li.quantity > li.line_quantity:
            raise ValueError(f"order line {li.order_line_id}: more returned than ordered")
        net = prorate(li.line_net, li.line_quantity, li.returned_before, li.quantity, currency)
        tax = prorate(li.line_tax, li.line_quantity, li.returned_before, li.quantity, currency)
        out.append((li, net, tax))
    return Refund(tuple(out), sum((n for _, n, _ in out), ZERO), sum((t for _, _, t in out), ZERO))
