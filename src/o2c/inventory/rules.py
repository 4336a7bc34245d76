"""Reservation planning, pure: given what each warehouse has available, what to reserve where.

Issue-2 policy (allocation optimisation across warehouses comes with fulfilment): prefer one
warehouse that can ship every line in full; otherwise fill each line from the warehouses with the
most available first, so a line splits as little as possible. A ship-complete customer gets all or
nothing: if any line cannot be covered in full, nothing is reserved and the order waits.
"""
from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal

from o2c.core.money import ZERO


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
