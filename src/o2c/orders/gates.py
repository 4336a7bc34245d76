"""The checks an order passes once it is valid, each owned by its own area: the customer's status
(o2c.customers.gate), sanctions screening (o2c.compliance.gate), credit (o2c.credit.gate) and fraud
(o2c.fraud.gate). A gate that finds reasons puts the order on a hold of its kind; the area's people
decide it in their own queue and release it through `o2c.orders.service.release_gate_hold` (the
order then moves on) or reject it through `reject_gate_hold` (the order is cancelled).

A gate module has:
    KIND: str                                           the hold kind it puts orders on
    check(ctx: GateContext) -> list[FieldError]         reasons to hold, read-only (no writes)
    opened(session, actor, company_id, order_id, reasons: list[dict]) -> None
                                                        its hold was just placed and the order row
                                                        exists: open the queue item (approval, review)
    closed(session, actor, company_id, order_id, why: str) -> None
                                                        the order was cancelled or its hold cleared
                                                        without a decision: close open queue items
Gates are run in the order of GATE_MODULES, all of them, so an order shows every reason at once.
"""
from __future__ import annotations

import importlib
from dataclasses import dataclass, field
from functools import cache
from types import ModuleType

from sqlalchemy.orm import Session

from o2c.core.auth import Actor
from o2c.core.errors import FieldError

GATE_MODULES = ("o2c.customers.gate", "o2c.compliance.gate", "o2c.credit.gate", "o2c.fraud.gate")


@dataclass
class GateContext:
    """What a gate sees. `order` is the priced order (an o2c.orders.models.Order, or an object with the
    same attributes for a bulk import: id, company_id, customer_id, channel, currency, total, order_date,
    entered_by, ship_to_* and lines with product_id, sku, quantity, net_amount); its id may be None
    while it is being captured. `released` holds, per kind, the latest hold of that kind a person
    released and that still counts (not superseded by a later change). `batch` is shared by the
    orders of one bulk import, for what earlier orders of the batch add that is not written yet
    (credit exposure, order velocity); it is empty for a single order."""

    session: Session
    actor: Actor
    company: object  # o2c.core.models.Company
    account: object  # o2c.customers.models.CustomerAccount
    order: object
    released: dict[str, object] = field(default_factory=dict)
    batch: dict = field(default_factory=dict)


@cache
def modules() -> tuple[ModuleType, ...]:
    return tuple(importlib.import_module(m) for m in GATE_MODULES)


def kinds() -> frozenset[str]:
    return frozenset(m.KIND for m in modules())


def module_for(kind: str) -> ModuleType:
    return next(m for m in modules() if m.KIND == kind)


def check(ctx: GateContext) -> dict[str, list[FieldError]]:
    """Every gate's reasons to hold the order, by hold kind (kinds without reasons left out)."""
    out = {}
    for m in modules():
        reasons = m.check(ctx)
        if reasons:
            out[m.KIND] = list(reasons)
    return out


def opened(session: Session, actor: Actor, company_id: int, order_id: int, kind: str, reasons: list[dict]) -> None:
    module_for(kind).opened(session, actor, company_id, order_id, reasons)


def closed(session: Session, actor: Actor, company_id: int, order_id: int, kind: str, why: str) -> None:
    module_for(kind).closed(session, actor, company_id, order_id, why)
