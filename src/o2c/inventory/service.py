"""Inventory use cases: warehouses, stock on hand, reserving stock for orders, and the changes of on
hand (goods receipts, adjustments, cycle counts) with their history of moves; bin locations.

Reserving is one locked step: the stock rows of the order's products are locked in a fixed order
(product, warehouse), the plan is made from what they show, and the rows are updated before the
transaction commits. Concurrent reservations of the same product queue on those rows; none can
oversell, and a CHECK constraint (reserved <= on_hand) guards the invariant in the database too.
Callers do this as the last step before commit, to keep the locked section short.

Stock that a receipt, a positive adjustment or a count adds goes to the orders waiting for it in the
same transaction (o2c.orders.service.allocate_backorders decides who: priority, then order date).
"""
from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from decimal import Decimal

from sqlalchemy import Row, bindparam, delete, func, insert, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from o2c.catalog.models import Product
from o2c.core import audit, clock
from o2c.core.auth import Actor, require
from o2c.core.money import plain
from o2c.core.errors import Conflict, ErrorList, NotFound, ValidationFailed
from o2c.core.models import User
from o2c.customers.rules import Address, address_errors
from o2c.fulfillment.picking import parse_bin
from o2c.inventory import rules
from o2c.inventory.models import Reservation, Stock, StockMove, Warehouse
from o2c.inventory.rules import Need, Plan, plan_reservation
from o2c.inventory.schemas import AdjustmentIn, CountIn, ReceiptIn, StockSet, WarehouseIn


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
    # Setting the figure on hand is what a count does: the move records the difference found.
    session.add(_move(actor, company_id, product.id, wh.id, rules.COUNT, data.on_hand - before, data.on_hand,
                      data.reason, None))
    session.flush()
    audit.record(session, actor, "stock", row.id, "on_hand_set", company_id=company_id, reason=data.reason,
                 data={"sku": data.sku, "warehouse": data.warehouse, "before": str(before), "after": str(data.on_hand)})
    return stock_view(row, product.sku, wh.code)


def stock_view(row, sku: str, warehouse: str) -> dict:
    """A stock row (the model or a locked row's figures) as the API shows it."""
    return {"sku": sku, "warehouse": warehouse, "on_hand": row.on_hand, "reserved": row.reserved,
            "available": row.on_hand - row.reserved, "bin": row.bin}


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


# ---------------------------------------------------------------- receipts, adjustments, counts, bins, moves
#
# Every change of on hand is one StockMove (signed quantity, on hand after it, why, who) written with the
# stock row in the same transaction. The rows are locked first, in (product, warehouse) order like every
# other locker here, and every warehouse's row of the products is locked, because stock that becomes
# free is offered to waiting backorders at once, and reserving may take it from any warehouse.

RECEIPT_REASON, COUNT_REASON = "goods receipt", "cycle count"


@dataclass
class _Row:
    """A locked stock row's figures, changed in memory and written back by _save."""

    id: int
    product_id: int
    warehouse_id: int
    on_hand: Decimal
    reserved: Decimal
    bin: str | None
    was: tuple[Decimal, str | None] = (Decimal(0), None)


def _products(session: Session, company_id: int, skus: Iterable[str]) -> dict[str, Row]:
    rows = session.execute(select(Product.id, Product.sku, Product.uom, Product.uom_decimals)
                           .where(Product.company_id == company_id, Product.sku.in_(sorted(set(skus)))))
    return {r.sku: r for r in rows}


def _warehouse(session: Session, company_id: int, code: str, errors: ErrorList, *,
               receiving: bool = False) -> Warehouse | None:
    wh = session.scalar(select(Warehouse).where(Warehouse.company_id == company_id, Warehouse.code == code))
    if wh is None:
        errors.add("warehouse", "unknown", f"no warehouse {code!r}")
    elif receiving and not wh.active:
        errors.add("warehouse", "inactive", f"warehouse {code} is closed (inactive): goods cannot be received there")
    return wh


def _check_lines(products: dict[str, Row], lines: Sequence, qty: str, errors: ErrorList) -> None:
    """Each line names a known product, with a quantity its unit allows (no half pieces)."""
    for i, li in enumerate(lines):
        p = products.get(li.sku)
        if p is None:
            errors.add(f"lines[{i}].sku", "unknown", f"no product with SKU {li.sku!r}")
            continue
        problem = rules.unit_problem(getattr(li, qty), p.uom_decimals, p.uom)
        if problem:
            errors.add(f"lines[{i}].{qty}", "too_many_decimals", f"{li.sku}: {problem}")


def _bin(code: str | None, field: str, errors: ErrorList) -> str | None:
    """The bin code in its normal form (A-03-12-2), or None; a malformed one is a field error."""
    if code is None:
        return None
    try:
        return str(parse_bin(code, field))
    except ValidationFailed as exc:
        for e in exc.errors:
            errors.add(e.field, e.code, e.message)
        return None


def _lock_for_change(session: Session, company_id: int, warehouse_id: int,
                     product_ids: Iterable[int]) -> dict[int, _Row]:
    """Make sure each product has a stock row in the warehouse, lock all rows of the products; return
    the warehouse's rows by product id. The orders waiting for these products are locked first: every
    use case locks orders before stock rows, so a receipt never waits in a cycle with a shipment or a
    wave of the same order."""
    from o2c.orders import service as orders  # orders builds on inventory: imported here, not at load

    ids = sorted(set(product_ids))
    orders.lock_waiting(session, company_id, set(ids))
    have = set(session.scalars(select(Stock.product_id).where(Stock.warehouse_id == warehouse_id,
                                                              Stock.product_id.in_(ids))))
    missing = [p for p in ids if p not in have]
    if missing:
        # Two receipts may create the same row at once: the second one's insert does nothing (on
        # PostgreSQL it waits for the first to commit), and both then lock the one row.
        insert_ = pg_insert if session.get_bind().dialect.name == "postgresql" else sqlite_insert
        now = clock.now()
        session.execute(insert_(Stock.__table__).values([
            {"company_id": company_id, "product_id": p, "warehouse_id": warehouse_id, "on_hand": Decimal(0),
             "reserved": Decimal(0), "bin": None, "updated_at": now} for p in missing
        ]).on_conflict_do_nothing(index_elements=["product_id", "warehouse_id"]))
    rows = session.execute(
        select(Stock.id, Stock.product_id, Stock.warehouse_id, Stock.on_hand, Stock.reserved, Stock.bin)
        .where(Stock.company_id == company_id, Stock.product_id.in_(ids))
        .order_by(Stock.product_id, Stock.warehouse_id)
        .with_for_update(of=Stock)
    )
    return {r.product_id: _Row(r.id, r.product_id, r.warehouse_id, r.on_hand, r.reserved, r.bin, (r.on_hand, r.bin))
            for r in rows if r.warehouse_id == warehouse_id}


def _save(session: Session, rows: Iterable[_Row]) -> None:
    """Write back the on hand and bin of the rows that changed (the rows are locked)."""
    table, now = Stock.__table__, clock.now()
    for r in sorted(rows, key=lambda r: r.id):
        if (r.on_hand, r.bin) != r.was:
            session.execute(update(table).where(table.c.id == r.id)
                            .values(on_hand=r.on_hand, bin=r.bin, updated_at=now))


def _move(actor: Actor, company_id: int, product_id: int, warehouse_id: int, kind: str, quantity: Decimal,
          on_hand_after: Decimal, reason: str | None, reference: str | None) -> StockMove:
    return StockMove(company_id=company_id, product_id=product_id, warehouse_id=warehouse_id, kind=kind,
                     quantity=quantity, on_hand_after=on_hand_after, reason=reason, reference=reference,
                     created_by=actor.user_id, created_at=clock.now())


def _stock_after(session: Session, rows: Sequence[_Row], sku_of: dict[int, str], warehouse: str) -> list[dict]:
    """The rows as they are now (an allocation may have reserved some of them), in the order given."""
    now = {r.id: r for r in session.execute(select(Stock.id, Stock.on_hand, Stock.reserved, Stock.bin)
                                            .where(Stock.id.in_([r.id for r in rows])))}
    return [stock_view(now[r.id], sku_of[r.product_id], warehouse) for r in rows]


def _in_line_order(rows: dict[int, _Row], products: dict[str, Row], lines: Sequence) -> list[_Row]:
    """Each product's row once, in the order the request first named it."""
    return [rows[pid] for pid in dict.fromkeys(products[li.sku].id for li in lines)]


def _serve_backorders(session: Session, actor: Actor, company_id: int, product_ids: set[int]) -> list[dict]:
    """Stock of `product_ids` became free: the orders waiting for it get it now, in the order the order
    stage decides (priority, then order date). Returns, per order served, what it reserved."""
    if not product_ids:
        return []
    from o2c.orders import service as orders  # orders builds on inventory: imported here, not at load

    # The new reservations are the rows after this id: no other transaction can reserve these products
    # while this one holds their stock rows, and the orders served are locked by the order stage.
    since = session.scalar(select(func.max(Reservation.id))) or 0
    served = orders.allocate_backorders(session, actor, company_id, product_ids)
    if not served:
        return []
    got = session.execute(
        select(Reservation.order_id, Reservation.order_line_id, Reservation.product_id, Reservation.warehouse_id,
               func.sum(Reservation.quantity).label("quantity"))
        .where(Reservation.id > since, Reservation.order_id.in_([o.id for o in served]))
        .group_by(Reservation.order_id, Reservation.order_line_id, Reservation.product_id, Reservation.warehouse_id)
    ).all()
    skus = dict(session.execute(select(Product.id, Product.sku)
                                .where(Product.id.in_({g.product_id for g in got}))).all())
    codes = dict(session.execute(select(Warehouse.id, Warehouse.code).where(Warehouse.company_id == company_id)).all())
    out = []
    for order in served:
        line_no = {li.id: li.line_no for li in order.lines}
        lines = sorted(({"line_no": line_no[g.order_line_id], "sku": skus[g.product_id],
                         "warehouse": codes[g.warehouse_id], "quantity": g.quantity}
                        for g in got if g.order_id == order.id), key=lambda x: (x["line_no"], x["warehouse"]))
        out.append({"order_id": order.id, "number": order.number, "status": order.status, "lines": lines})
    return out


def receive(session: Session, actor: Actor, company_id: int, data: ReceiptIn) -> dict:
    """Goods arrived in a warehouse: on hand goes up line by line (one receipt move each, with the
    delivery's reference), the bin is set where a line gives one, and the orders waiting for these
    products get the new stock at once, in the same transaction."""
    require(actor, "stock.write")
    errors = ErrorList()
    wh = _warehouse(session, company_id, data.warehouse, errors, receiving=True)
    products = _products(session, company_id, [li.sku for li in data.lines])
    _check_lines(products, data.lines, "quantity", errors)
    bins = [_bin(li.bin, f"lines[{i}].bin", errors) for i, li in enumerate(data.lines)]
    put_away: dict[str, tuple[int, str]] = {}
    for i, (li, b) in enumerate(zip(data.lines, bins)):
        if b and put_away.setdefault(li.sku, (i, b))[1] != b:
            first = put_away[li.sku]
            errors.add(f"lines[{i}].bin", "conflicting_bin",
                       f"{li.sku} is put away in {first[1]} by lines[{first[0]}]: one bin per product and warehouse")
    errors.raise_if_any()

    rows = _lock_for_change(session, company_id, wh.id, {products[li.sku].id for li in data.lines})
    moves: list[StockMove] = []
    for li, b in zip(data.lines, bins):
        row = rows[products[li.sku].id]
        row.on_hand += li.quantity
        row.bin = b or row.bin
        moves.append(_move(actor, company_id, row.product_id, wh.id, rules.RECEIPT, li.quantity, row.on_hand,
                           data.note or RECEIPT_REASON, data.reference))
    _save(session, rows.values())
    session.add_all(moves)
    session.flush()
    sku_of = {p.id: p.sku for p in products.values()}
    for row in rows.values():
        mine = [m for m in moves if m.product_id == row.product_id]
        audit.record(session, actor, "stock", row.id, "received", company_id=company_id, reason=data.note,
                     data={"sku": sku_of[row.product_id], "warehouse": wh.code, "reference": data.reference,
                           "quantity": plain(sum((m.quantity for m in mine), Decimal(0))),
                           "before": plain(row.was[0]), "after": plain(row.on_hand), "bin": row.bin,
                           "moves": [m.id for m in mine]})
    allocated = _serve_backorders(session, actor, company_id, set(rows))
    return {
        "warehouse": wh.code, "reference": data.reference,
        "lines": [{"sku": sku_of[m.product_id], "quantity": m.quantity, "bin": b, "on_hand": m.on_hand_after,
                   "move_id": m.id} for m, b in zip(moves, bins)],
        "stock": _stock_after(session, _in_line_order(rows, products, data.lines), sku_of, wh.code),
        "allocated": allocated,
    }


def adjust(session: Session, actor: Actor, company_id: int, data: AdjustmentIn) -> dict:
    """A signed change of on hand with a reason code (rules.ADJUSTMENT_REASONS) and a note. It may not
    take on hand below zero or below what is reserved; stock that it adds serves waiting backorders."""
    require(actor, "stock.write")
    errors = ErrorList()
    wh = _warehouse(session, company_id, data.warehouse, errors)
    product = _products(session, company_id, [data.sku]).get(data.sku)
    if product is None:
        errors.add("sku", "unknown", f"no product with SKU {data.sku!r}")
    else:
        problem = rules.unit_problem(data.quantity, product.uom_decimals, product.uom)
        if problem:
            errors.add("quantity", "too_many_decimals", f"{data.sku}: {problem}")
    wrong = rules.adjustment_reason_problem(data.reason, data.quantity)
    if wrong:
        errors.add(wrong.field, wrong.code, wrong.message)
    errors.raise_if_any()

    row = _lock_for_change(session, company_id, wh.id, [product.id])[product.id]
    refused = rules.change_problem(row.on_hand, row.reserved, data.quantity, "quantity")
    if refused:
        raise Conflict(f"{data.sku} in {wh.code}: {refused.message}", errors=[refused],
                       on_hand=plain(row.on_hand), reserved=plain(row.reserved))
    row.on_hand += data.quantity
    move = _move(actor, company_id, product.id, wh.id, rules.ADJUSTMENT, data.quantity, row.on_hand,
                 f"{data.reason}: {data.note}", data.reference)
    _save(session, [row])
    session.add(move)
    session.flush()
    audit.record(session, actor, "stock", row.id, "adjusted", company_id=company_id, reason=move.reason,
                 data={"sku": data.sku, "warehouse": wh.code, "quantity": plain(data.quantity),
                       "reason_code": data.reason,
                       "before": plain(row.was[0]), "after": plain(row.on_hand), "move": move.id})
    allocated = _serve_backorders(session, actor, company_id, {product.id} if data.quantity > 0 else set())
    [stock] = _stock_after(session, [row], {product.id: product.sku}, wh.code)
    return {"sku": data.sku, "warehouse": wh.code, "quantity": data.quantity, "reason": data.reason, "note": data.note,
            "move_id": move.id, "stock": stock, "allocated": allocated}


def count(session: Session, actor: Actor, company_id: int, data: CountIn) -> dict:
    """A cycle count: what was found on the shelf becomes on hand. Every line is recorded as a count
    move with the difference (zero too: the count history says when each product was last counted).
    A count below what is reserved is refused: those reservations must be dealt with first."""
    require(actor, "stock.write")
    errors = ErrorList()
    wh = _warehouse(session, company_id, data.warehouse, errors)
    products = _products(session, company_id, [li.sku for li in data.lines])
    _check_lines(products, data.lines, "counted", errors)
    seen: dict[str, int] = {}
    for i, li in enumerate(data.lines):
        if seen.setdefault(li.sku, i) != i:
            errors.add(f"lines[{i}].sku", "duplicate", f"{li.sku} is counted already in lines[{seen[li.sku]}]: "
                                                       "give one total per product")
    errors.raise_if_any()

    rows = _lock_for_change(session, company_id, wh.id, {products[li.sku].id for li in data.lines})
    refused = [e for i, li in enumerate(data.lines)
               if (e := rules.count_problem(li.counted, rows[products[li.sku].id].reserved, f"lines[{i}].counted"))]
    if refused:
        detail = refused[0].message if len(refused) == 1 else f"{len(refused)} counts are below what is reserved"
        raise Conflict(detail, errors=refused)
    moves, out = [], []
    for li in data.lines:
        row = rows[products[li.sku].id]
        expected = row.on_hand
        row.on_hand = li.counted
        moves.append(_move(actor, company_id, row.product_id, wh.id, rules.COUNT, li.counted - expected, li.counted,
                           data.note or COUNT_REASON, data.reference))
        out.append({"sku": li.sku, "expected": expected, "counted": li.counted, "difference": li.counted - expected})
    _save(session, rows.values())
    session.add_all(moves)
    session.flush()
    for line, m, row in zip(out, moves, (rows[m.product_id] for m in moves)):
        line["move_id"] = m.id
        audit.record(session, actor, "stock", row.id, "counted", company_id=company_id, reason=m.reason,
                     data={"sku": line["sku"], "warehouse": wh.code, "reference": data.reference,
                           "expected": plain(line["expected"]), "counted": plain(line["counted"]),
                           "difference": plain(line["difference"]), "move": m.id})
    found_more = {m.product_id for m in moves if m.quantity > 0}
    allocated = _serve_backorders(session, actor, company_id, found_more)
    sku_of = {p.id: p.sku for p in products.values()}
    return {"warehouse": wh.code, "reference": data.reference, "lines": out,
            "stock": _stock_after(session, _in_line_order(rows, products, data.lines), sku_of, wh.code),
            "allocated": allocated}


def set_bin(session: Session, actor: Actor, company_id: int, sku: str, warehouse: str, bin: str | None) -> dict:
    """Where pickers find a product in a warehouse (ZONE-AISLE-BAY-LEVEL, e.g. A-03-12-2); None clears it.
    A product may get its bin before its first receipt."""
    require(actor, "stock.write")
    errors = ErrorList()
    wh = _warehouse(session, company_id, warehouse, errors)
    product = _products(session, company_id, [sku]).get(sku)
    if product is None:
        errors.add("sku", "unknown", f"no product with SKU {sku!r}")
    code = _bin(bin, "bin", errors)
    errors.raise_if_any()
    row = _lock_for_change(session, company_id, wh.id, [product.id])[product.id]
    before, row.bin = row.bin, code
    _save(session, [row])
    if before != code:
        audit.record(session, actor, "stock", row.id, "bin_set", company_id=company_id,
                     data={"sku": sku, "warehouse": wh.code, "before": before, "after": code})
    return stock_view(row, sku, wh.code)


def list_moves(session: Session, company_id: int, *, sku: str | None = None, warehouse: str | None = None,
               kind: str | None = None, reference: str | None = None, after: int = 0, limit: int = 100) -> list[dict]:
    """Stock history, oldest first (a ledger of on hand), filtered; page on with the last id seen."""
    stmt = (
        select(StockMove, Product.sku, Warehouse.code, User.username)
        .join(Product, Product.id == StockMove.product_id)
        .join(Warehouse, Warehouse.id == StockMove.warehouse_id)
        .outerjoin(User, User.id == StockMove.created_by)
        .where(StockMove.company_id == company_id, StockMove.id > after)
        .order_by(StockMove.id)
        .limit(limit)
    )
    if sku:
        stmt = stmt.where(Product.sku == sku)
    if warehouse:
        stmt = stmt.where(Warehouse.code == warehouse)
    if kind:
        stmt = stmt.where(StockMove.kind == kind)
    if reference:
        stmt = stmt.where(StockMove.reference == reference)
    return [{"id": m.id, "at": m.created_at, "sku": s, "warehouse": w, "kind": m.kind, "quantity": m.quantity,
             "on_hand_after": m.on_hand_after, "reason": m.reason, "reference": m.reference, "by": u}
            for m, s, w, u in session.execute(stmt)]
