"""Stock leaving and coming back through fulfilment: moving reservations for a wave, taking stock out
at shipment, and putting returned goods back on the shelf.

Each function locks the stock rows it touches in (product, warehouse) order, like reservation, so
it queues behind (and never deadlocks with) concurrent reservations of the same products.
"""
from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal

from sqlalchemy import bindparam, delete, insert, select, update
from sqlalchemy.orm import Session

from o2c.core import clock
from o2c.core.auth import Actor
from o2c.core.errors import Conflict
from o2c.core.money import ZERO, plain
from o2c.inventory.models import Reservation, Stock, StockMove, Warehouse

Key = tuple[int, int]  # (product id, warehouse id)


def _lock(session: Session, company_id: int, product_ids: set[int]) -> dict[Key, tuple[int, Decimal, Decimal]]:
    """Lock the stock rows of `product_ids` in every active warehouse: key -> (row id, on hand, reserved)."""
    active = select(Warehouse.id).where(Warehouse.company_id == company_id, Warehouse.active.is_(True))
    rows = session.execute(
        select(Stock.id, Stock.product_id, Stock.warehouse_id, Stock.on_hand, Stock.reserved)
        .where(Stock.company_id == company_id, Stock.product_id.in_(sorted(product_ids)),
               Stock.warehouse_id.in_(active))
        .order_by(Stock.product_id, Stock.warehouse_id)
        .with_for_update(of=Stock)
    )
    return {(p, w): (sid, on_hand, reserved) for sid, p, w, on_hand, reserved in rows}


def _apply(session: Session, changes: Mapping[int, tuple[Decimal, Decimal]]) -> None:
    """on_hand += d_on_hand, reserved += d_reserved per stock row id, batched, in row order."""
    t = Stock.__table__
    if changes:
        session.execute(
            update(t).where(t.c.id == bindparam("row_id")).values(
                on_hand=t.c.on_hand + bindparam("d_on_hand"), reserved=t.c.reserved + bindparam("d_reserved"),
                updated_at=bindparam("now")),
            [{"row_id": k, "d_on_hand": a, "d_reserved": b, "now": clock.now()} for k, (a, b) in sorted(changes.items())],
        )


@dataclass(frozen=True)
class LineReservation:
    order_id: int
    line_id: int
    product_id: int
    warehouse_id: int
    quantity: Decimal


def reservations_of(session: Session, line_ids: Sequence[int]) -> list[LineReservation]:
    rows = session.execute(
        select(Reservation.order_id, Reservation.order_line_id, Reservation.product_id, Reservation.warehouse_id,
               Reservation.quantity).where(Reservation.order_line_id.in_(sorted(set(line_ids))))
        .order_by(Reservation.id))
    return [LineReservation(*r) for r in rows]


def reallocate(
    session: Session,
    company_id: int,
    line_ids: Sequence[int],
    decide: Callable[[Mapping[Key, Decimal], list[LineReservation]], list[LineReservation]],
) -> list[LineReservation]:
    """Move the reservations of `line_ids` to where `decide` says, atomically.

    `decide` gets what each (product, warehouse) could give these lines (free stock plus what they hold
    now) and their current reservations, and returns the new ones. Per line the quantity must stay the
    same; per stock row the new total must fit. The moves are applied as net deltas in one statement.
    """
    current = reservations_of(session, line_ids)
    if not current:
        return []
    locked = _lock(session, company_id, {r.product_id for r in current})
    held: dict[Key, Decimal] = {}
    for r in current:
        held[(r.product_id, r.warehouse_id)] = held.get((r.product_id, r.warehouse_id), ZERO) + r.quantity
    capacity = {k: on_hand - reserved + held.get(k, ZERO) for k, (_, on_hand, reserved) in locked.items()}
    new = decide(capacity, current)

    per_line_before: dict[int, Decimal] = {}
    per_line_after: dict[int, Decimal] = {}
    for r in current:
        per_line_before[r.line_id] = per_line_before.get(r.line_id, ZERO) + r.quantity
    wanted: dict[Key, Decimal] = {}
    for r in new:
        per_line_after[r.line_id] = per_line_after.get(r.line_id, ZERO) + r.quantity
        wanted[(r.product_id, r.warehouse_id)] = wanted.get((r.product_id, r.warehouse_id), ZERO) + r.quantity
    if per_line_after != per_line_before:
        raise ValueError("reallocation must keep each line's reserved quantity")
    for k, q in wanted.items():
        if k not in locked or q > capacity[k]:
            raise Conflict(f"stock moved while the wave was planned (product {k[0]}, warehouse {k[1]}); try again")
    deltas = {locked[k][0]: (ZERO, wanted.get(k, ZERO) - held.get(k, ZERO))
              for k in set(wanted) | set(held) if wanted.get(k, ZERO) != held.get(k, ZERO)}
    _apply(session, deltas)
    session.execute(delete(Reservation).where(Reservation.order_line_id.in_(sorted(set(line_ids)))))
    now = clock.now()
    session.execute(insert(Reservation.__table__), [
        {"company_id": company_id, "order_id": r.order_id, "order_line_id": r.line_id, "product_id": r.product_id,
         "warehouse_id": r.warehouse_id, "quantity": r.quantity, "created_at": now} for r in new if r.quantity > 0])
    return new


@dataclass(frozen=True)
class Outgoing:
    """One shipment line leaving a warehouse: `planned` was reserved for it, `shipped` went out."""

    line_id: int
    product_id: int
    warehouse_id: int
    planned: Decimal
    shipped: Decimal


def ship(session: Session, actor: Actor, company_id: int, outgoing: Sequence[Outgoing], reference: str) -> None:
    """Take shipped goods off the shelf and out of the reservations. What was planned but not shipped
    (a short pick: the bin held less than the books said) is written off on-hand as a count
    difference, and its reservation is given up, so the order line can be reserved again."""
    if not outgoing:
        return
    locked = _lock(session, company_id, {o.product_id for o in outgoing})
    changes: dict[int, tuple[Decimal, Decimal]] = {}
    moves = []
    on_hand_now = {k: v[1] for k, v in locked.items()}
    for o in sorted(outgoing, key=lambda o: (o.product_id, o.warehouse_id, o.line_id)):
        key = (o.product_id, o.warehouse_id)
        row_id = locked[key][0]
        d_on, d_res = changes.get(row_id, (ZERO, ZERO))
        changes[row_id] = (d_on - o.planned, d_res - o.planned)
        on_hand_now[key] -= o.shipped
        moves.append((o, "shipment", -o.shipped, on_hand_now[key], None))
        if o.planned > o.shipped:
            on_hand_now[key] -= o.planned - o.shipped
            moves.append((o, "count", o.shipped - o.planned, on_hand_now[key],
                          f"short pick: {plain(o.planned - o.shipped)} not found in the bin"))
        _take_reservation(session, o.line_id, o.warehouse_id, o.planned)
    _apply(session, changes)
    _record_moves(session, actor, company_id, reference,
                  [(o.product_id, o.warehouse_id, kind, q, after, reason) for o, kind, q, after, reason in moves if q])


def _take_reservation(session: Session, line_id: int, warehouse_id: int, quantity: Decimal) -> None:
    """Reduce the line's reservation rows in that warehouse by `quantity` (oldest first)."""
    left = quantity
    rows = session.execute(select(Reservation.id, Reservation.quantity).where(
        Reservation.order_line_id == line_id, Reservation.warehouse_id == warehouse_id).order_by(Reservation.id)).all()
    for rid, q in rows:
        if left <= 0:
            break
        take = min(q, left)
        if take == q:
            session.execute(delete(Reservation).where(Reservation.id == rid))
        else:
            session.execute(update(Reservation).where(Reservation.id == rid).values(quantity=q - take))
        left -= take
    if left > 0:
        raise Conflict(f"order line {line_id} has less reserved in warehouse {warehouse_id} than its shipment")


def unreserve(session: Session, company_id: int, items: Sequence[tuple[int, int, int, Decimal]]) -> None:
    """Give up reservations that will not ship: (order line id, product id, warehouse id, quantity)."""
    if not items:
        return
    locked = _lock(session, company_id, {p for _, p, _, _ in items})
    changes: dict[int, tuple[Decimal, Decimal]] = {}
    for line_id, product_id, warehouse_id, q in sorted(items, key=lambda i: (i[1], i[2], i[0])):
        row_id = locked[(product_id, warehouse_id)][0]
        changes[row_id] = (ZERO, changes.get(row_id, (ZERO, ZERO))[1] - q)
        _take_reservation(session, line_id, warehouse_id, q)
    _apply(session, changes)


def put_back(session: Session, actor: Actor, company_id: int, warehouse_id: int,
             items: Sequence[tuple[int, Decimal]], reference: str) -> None:
    """Returned goods fit to sell go back on hand: (product id, quantity)."""
    items = [(p, q) for p, q in items if q > 0]
    if not items:
        return
    locked = _lock(session, company_id, {p for p, _ in items})
    now = clock.now()
    for p, _ in items:
        if (p, warehouse_id) not in locked:
            session.add(Stock(company_id=company_id, product_id=p, warehouse_id=warehouse_id, on_hand=ZERO,
                              reserved=ZERO, updated_at=now))
    session.flush()
    locked = _lock(session, company_id, {p for p, _ in items})
    changes: dict[int, tuple[Decimal, Decimal]] = {}
    after: dict[Key, Decimal] = {k: v[1] for k, v in locked.items()}
    moves = []
    for p, q in items:
        row_id = locked[(p, warehouse_id)][0]
        changes[row_id] = (changes.get(row_id, (ZERO, ZERO))[0] + q, ZERO)
        after[(p, warehouse_id)] += q
        moves.append((p, warehouse_id, "return", q, after[(p, warehouse_id)], "returned and restocked"))
    _apply(session, changes)
    _record_moves(session, actor, company_id, reference, moves)


def _record_moves(session: Session, actor: Actor, company_id: int, reference: str, moves) -> None:
    now = clock.now()
    if moves:
        session.execute(insert(StockMove.__table__), [
            {"company_id": company_id, "product_id": p, "warehouse_id": w, "kind": kind, "quantity": q,
             "on_hand_after": after, "reason": reason, "reference": reference, "created_by": actor.user_id,
             "created_at": now} for p, w, kind, q, after, reason in moves])
