"""Inventory decisions, pure: where to reserve, and which stock changes may be booked.

Reservation planning: given what each warehouse has available, what to reserve where.

Issue-2 policy (allocation optimisation across warehouses comes with fulfilment): prefer one
warehouse that can ship every line in full; otherwise fill each line from the warehouses with the
most available first, so a line splits as little as possible. A ship-complete customer gets all or
nothing: if any line cannot be covered in full, nothing is reserved and the order waits.

Stock changes (receipts, adjustments, counts): the reason codes an adjustment may give, and the
limits every change keeps (never below zero, never below what is reserved for orders).
"""
from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal

from o2c.core.errors import FieldError
from o2c.core.money import ZERO, plain


@dataclass(frozen=True)
class Need:
    line_id: int
    product_id: int
    quantity: Decimal


@dataclass(frozen=True)
class Take:
    line_id: int
    product_id: int
    warehouse_id: int
    quantity: Decimal


@dataclass(frozen=True)
class Plan:
    takes: tuple[Take, ...]
    backordered: Mapping[int, Decimal]  # line id -> quantity that could not be reserved

    @property
    def complete(self) -> bool:
        return not any(self.backordered.values())


def plan_reservation(
    needs: Sequence[Need],
    available: Mapping[tuple[int, int], Decimal],
    ship_complete: bool,
) -> Plan:
    """`available` maps (product_id, warehouse_id) to the quantity free to reserve there."""
    free = {k: v for k, v in available.items() if v > 0}
    warehouses = sorted({w for (_, w) in free})

    # One warehouse for the whole order, if any can do it (lowest id: a stable, explainable choice).
    total_need: dict[int, Decimal] = {}
    for n in needs:
        total_need[n.product_id] = total_need.get(n.product_id, ZERO) + n.quantity
    for w in warehouses:
        if all(free.get((p, w), ZERO) >= q for p, q in total_need.items()):
            takes = tuple(Take(n.line_id, n.product_id, w, n.quantity) for n in needs if n.quantity > 0)
            return Plan(takes, {n.line_id: ZERO for n in needs})

    takes: list[Take] = []
    short: dict[int, Decimal] = {}
    for n in needs:
        left = n.quantity
        for w in sorted(warehouses, key=lambda w: (-free.get((n.product_id, w), ZERO), w)):
            if left <= 0:
                break
            here = free.get((n.product_id, w), ZERO)
            if here <= 0:
                continue
            q = min(here, left)
            takes.append(Take(n.line_id, n.product_id, w, q))
            free[(n.product_id, w)] = here - q
            left -= q
        short[n.line_id] = left
    if ship_complete and any(short.values()):
        return Plan((), {n.line_id: n.quantity for n in needs})
    return Plan(tuple(takes), short)


# ---------------------------------------------------------------- stock changes: receipts, adjustments, counts

# What moved stock, as recorded on each StockMove.
RECEIPT, ADJUSTMENT, COUNT, SHIPMENT, RETURN = "receipt", "adjustment", "count", "shipment", "return"
MOVE_KINDS = (RECEIPT, ADJUSTMENT, COUNT, SHIPMENT, RETURN)


@dataclass(frozen=True)
class AdjustmentReason:
    code: str
    direction: int  # -1: only takes stock away, +1: only adds, 0: either way
    meaning: str


# Why stock may be adjusted outside a receipt, a count or a shipment. Each reason goes one way only
# where that is its nature (a damaged unit never adds stock), so a sign typed wrong is caught.
ADJUSTMENT_REASONS: dict[str, AdjustmentReason] = {r.code: r for r in (
    AdjustmentReason("damaged", -1, "broken or spoiled in the warehouse, written off"),
    AdjustmentReason("expired", -1, "past its use-by date, written off"),
    AdjustmentReason("lost", -1, "missing: stolen or not found where it should be"),
    AdjustmentReason("sample", -1, "taken out for samples, quality tests or marketing"),
    AdjustmentReason("found", +1, "found stock that was not on the books"),
    AdjustmentReason("correction", 0, "a booking error put right (wrong quantity received or shipped)"),
)}


def adjustment_reason_problem(code: str, quantity: Decimal) -> FieldError | None:
    """Why `quantity` (a signed change) cannot be booked with reason `code`, or None."""
    reason = ADJUSTMENT_REASONS.get(code)
    if reason is None:
        return FieldError("reason", "unknown_reason",
                          f"unknown reason code {code!r}: use one of {', '.join(ADJUSTMENT_REASONS)}")
    if reason.direction * quantity < 0:
        way = "takes stock away: the quantity must be negative" if reason.direction < 0 else \
            "adds stock: the quantity must be positive"
        return FieldError("quantity", "wrong_direction", f"reason {code!r} only {way}")
    return None


def decimals(q: Decimal) -> int:
    """How many decimals a quantity really has (12.50 has one)."""
    exp = q.normalize().as_tuple().exponent
    return max(0, -exp) if isinstance(exp, int) else 0


def unit_problem(quantity: Decimal, uom_decimals: int, uom: str) -> str | None:
    """A quantity finer than the product's unit allows (half a piece), or None."""
    if decimals(quantity) > uom_decimals:
        return f"{plain(quantity)} has more than {uom_decimals} decimals allowed for unit {uom}"
    return None


def change_problem(on_hand: Decimal, reserved: Decimal, change: Decimal, field: str) -> FieldError | None:
    """Why on hand cannot change by `change` (signed), or None: it may not go below zero, nor below
    what is reserved for orders (that stock is promised; release or move the reservations first)."""
    after = on_hand + change
    if after < 0:
        return FieldError(field, "below_zero", f"on hand would go below zero: {plain(on_hand)} on hand "
                                               f"{_signed(change)} = {plain(after)}")
    if after < reserved:
        return FieldError(field, "below_reserved", (
            f"on hand would go below what is reserved for orders: {plain(on_hand)} on hand {_signed(change)} "
            f"= {plain(after)}, but {plain(reserved)} are reserved; release or move the reservations first"))
    return None


def count_problem(counted: Decimal, reserved: Decimal, field: str) -> FieldError | None:
    """A count below the reserved quantity cannot simply be booked: orders were promised that stock."""
    if counted < reserved:
        return FieldError(field, "below_reserved", (
            f"counted {plain(counted)}, but {plain(reserved)} are reserved for orders: release or move those "
            "reservations first, then book the count"))
    return None


def _signed(change: Decimal) -> str:
    return f"- {plain(-change)}" if change < 0 else f"+ {plain(change)}"
