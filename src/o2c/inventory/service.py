"""Inventory use cases: warehouses, stock on hand, and reserving stock for orders.

Reserving is one locked step: the stock rows of the order's products are locked in a fixed order
(product, warehouse), the plan is made from what they show, and the rows are updated before the
transaction commits. Concurrent reservations of the same product queue on those rows; none can
oversell, and a CHECK constraint (reserved <= on_hand) guards the invariant in the database too.
Callers do this as the last step before commit, to keep the locked section short.
"""
from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal

from sqlalchemy import bindparam, delete, insert, select, update
from sqlalchemy.orm import Session

from o2c.catalog.models import Product
from o2c.core import audit, clock
from o2c.core.auth import Actor, require
from o2c.core.money import plain
from o2c.core.errors import Conflict, ErrorList, NotFound
from o2c.customers.rules import Address, address_errors
from o2c.inventory.models import Reservation, Stock, Warehouse
from o2c.inventory.rules import Need, Plan, plan_reservation
from o2c.inventory.schemas import StockSet, WarehouseIn


def create_warehouse(session: Session, actor: Actor, company_id: int, data: WarehouseIn) -> Warehouse:
    require(actor, "masterdata.write")
    errors = ErrorList()
    for e in address_errors(Address(**data.address.model_dump()), "address"):
        errors.add(e.field, e.code, e.message)
    errors.raise_if_any()
    if session.scalar(select(Warehouse.id).where(Warehouse.company_id == company_id, Warehouse.code == data.code)):
        raise Conflict(f"a warehouse with code {data.code!r} exists already", field="code")
    w = Warehouse(
        company_id=company_id, code=data.code, latitude=data.latitude, longitude=data.longitude,
        active=True, created_at=clock.now(), **data.address.model_dump(),
    )
    session.add(w)
    session.flush()
    audit.record(session, actor, "warehouse", w.id, "created", company_id=company_id, data={"code": w.code})
    return w


def warehouse_view(w: Warehouse) -> dict:
    return {
        "id": w.id, "code": w.code, "latitude": w.latitude, "longitude": w.longitude, "active": w.active,
        "address": {k: getattr(w, k) for k in ("name", "line1", "line2", "city", "region", "postal_code", "country")},
    }


def list_warehouses(session: Session, company_id: int) -> list[Warehouse]:
    return list(session.scalars(select(Warehouse).where(Warehouse.company_id == company_id).order_by(Warehouse.id)))


def set_on_hand(session: Session, actor: Actor, company_id: int, data: StockSet) -> dict:
    require(actor, "stock.write")
    product = session.scalar(select(Product).where(Product.company_id == company_id, Product.sku == data.sku))
    wh = session.scalar(select(Warehouse).where(Warehouse.company_id == company_id, Warehouse.code == data.warehouse))
    errors = ErrorList()
    if product is None:
        errors.add("sku", "unknown", f"no product with SKU {data.sku!r}")
    if wh is None:
        errors.add("warehouse", "unknown", f"no warehouse {data.warehouse!r}")
    errors.raise_if_any()
    row = session.scalar(
        select(Stock).where(Stock.product_id == product.id, Stock.warehouse_id == wh.id).with_for_update()
    )
    before = row.on_hand if row else Decimal(0)
    if row is None:
        row = Stock(company_id=company_id, product_id=product.id, warehouse_id=wh.id, on_hand=Decimal(0),
                    reserved=Decimal(0), updated_at=clock.now())
        session.add(row)
    if data.on_hand < row.reserved:
        raise Conflict(
            f"on hand cannot go below the {plain(row.reserved)} reserved for orders",
            errors=[], field="on_hand",
        )
    row.on_hand = data.on_hand
    row.updated_at = clock.now()
    session.flush()
    audit.record(session, actor, "stock", row.id, "on_hand_set", company_id=company_id, reason=data.reason,
                 data={"sku": data.sku, "warehouse": data.warehouse, "before": str(before), "after": str(data.on_hand)})
    return stock_view(row, product.sku, wh.code)


def stock_view(row: Stock, sku: str, warehouse: str) -> dict:
    return {"sku": sku, "warehouse": warehouse, "on_hand": row.on_hand, "reserved": row.reserved,
            "available": row.on_hand - row.reserved}


def list_stock(session: Session, company_id: int, sku: str | None, warehouse: str | None, after: int, limit: int) -> list[dict]:
    stmt = (
        select(Stock, Product.sku, Warehouse.code)
        .join(Product, Product.id == Stock.product_id)
        .join(Warehouse, Warehouse.id == Stock.warehouse_id)
        .where(Stock.company_id == company_id, Stock.id > after)
        .order_by(Stock.id)
        .limit(limit)
    )
    if sku:
        stmt = stmt.where(Product.sku == sku)
    if warehouse:
        stmt = stmt.where(Warehouse.code == warehouse)
    return [stock_view(r, s, w) | {"id": r.id} for r, s, w in session.execute(stmt)]


def _lock(session: Session, where) -> dict[tuple[int, int], tuple[int, Decimal]]:
    """Lock stock rows in (product, warehouse) order; map each key to (row id, available)."""
    rows = session.execute(
        select(Stock.id, Stock.product_id, Stock.warehouse_id, Stock.on_hand, Stock.reserved)
        .where(*where)
        .order_by(Stock.product_id, Stock.warehouse_id)
        .with_for_update(of=Stock)
    )
    return {(p, w): (sid, on_hand - reserved) for sid, p, w, on_hand, reserved in rows}


def _add_reserved(session: Session, changes: dict[int, Decimal]) -> None:
    """reserved += delta for each stock row id, in one batched statement (row ids in lock order)."""
    if changes:
        session.execute(
            update(Stock.__table__)
            .where(Stock.__table__.c.id == bindparam("row_id"))
            .values(reserved=Stock.__table__.c.reserved + bindparam("delta"), updated_at=bindparam("now")),
            [{"row_id": k, "delta": v, "now": clock.now()} for k, v in sorted(changes.items())],
        )


def reserve(session: Session, company_id: int, needs: Sequence[Need], ship_complete: bool) -> Plan:
    """Take what `needs` asks for from the stock rows, atomically; return what was taken where and what
    is short. The caller records the reservations (record_reservations) in the same transaction."""
    product_ids = sorted({n.product_id for n in needs})
    if not product_ids:
        return plan_reservation([], {}, ship_complete)
    active = select(Warehouse.id).where(Warehouse.company_id == company_id, Warehouse.active.is_(True))
    locked = _lock(session, [Stock.product_id.in_(product_ids), Stock.company_id == company_id,
                             Stock.warehouse_id.in_(active)])
    plan = plan_reservation(needs, {k: avail for k, (_, avail) in locked.items()}, ship_complete)
    changes: dict[int, Decimal] = {}
    for t in plan.takes:
        row_id = locked[(t.product_id, t.warehouse_id)][0]
        changes[row_id] = changes.get(row_id, Decimal(0)) + t.quantity
    _add_reserved(session, changes)
    return plan


def record_reservations(session: Session, company_id: int, order_id: int,
                        takes: Sequence[tuple[int, int, int, Decimal]]) -> None:
    """Rows for what `reserve` took: (order line id, product id, warehouse id, quantity)."""
    if takes:
        now = clock.now()
        session.execute(insert(Reservation.__table__), [
            {"company_id": company_id, "order_id": order_id, "order_line_id": line_id, "product_id": product_id,
             "warehouse_id": warehouse_id, "quantity": qty, "created_at": now}
            for line_id, product_id, warehouse_id, qty in takes
        ])


def release(session: Session, order_id: int, line_ids: Sequence[int] | None = None) -> Decimal:
    """Give back what is reserved for an order (or only for some of its lines); return the quantity."""
    where = [Reservation.order_id == order_id]
    if line_ids is not None:
        where.append(Reservation.order_line_id.in_(list(line_ids)))
    held: dict[tuple[int, int], Decimal] = {}
    for p, w, q in session.execute(select(Reservation.product_id, Reservation.warehouse_id, Reservation.quantity)
                                   .where(*where)):
        held[(p, w)] = held.get((p, w), Decimal(0)) + q
    if not held:
        return Decimal(0)
    locked = _lock(session, [Stock.product_id.in_({p for p, _ in held}), Stock.warehouse_id.in_({w for _, w in held})])
    _add_reserved(session, {locked[k][0]: -q for k, q in held.items()})
    session.execute(delete(Reservation).where(*where))
    return sum(held.values(), Decimal(0))


def get_warehouse(session: Session, company_id: int, warehouse_id: int) -> Warehouse:
    w = session.get(Warehouse, warehouse_id)
    if w is None or w.company_id != company_id:
        raise NotFound(f"warehouse {warehouse_id} not found")
    return w
