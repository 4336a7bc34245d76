"""Fulfilment use cases: release a wave (allocate, create shipments, plan pick lists), confirm picks,
pack with scan verification and a weight check.

A shipment is one order's goods from one warehouse. Its status runs released -> picked -> packed, and
shipping takes it from there (o2c.shipping.service). Every step is on the order's timeline.
"""
from __future__ import annotations

from collections import defaultdict
from decimal import Decimal

from sqlalchemy import func, select
from sqlalchemy.orm import Session, selectinload

from o2c.catalog.models import Product
from o2c.core import audit, clock
from o2c.core.auth import Actor, require
from o2c.core.errors import Conflict, ErrorList, NotFound, ValidationFailed
from o2c.core.events import emit
from o2c.core.money import ZERO, plain, round_money
from o2c.core.models import Company
from o2c.fulfillment import allocation, packing, picking
from o2c.fulfillment.models import (
    Box, FulfillmentPolicy, Package, PackageItem, PickList, PickTask, Shipment, ShipmentLine, Wave,
)
from o2c.inventory import outbound
from o2c.inventory.models import Stock, Warehouse
from o2c.inventory.rules import unit_problem
from o2c.orders.models import Order, OrderLine

OPEN = ("released", "picked", "packed")  # in the warehouse, not yet handed to the carrier
POLICIES = ("cost", "speed", "fewest_parcels")
DEFAULT_POLICY = "cost"


# --- queries other stages use -------------------------------------------------------------------

def open_shipment_numbers(session: Session, order_id: int) -> list[str]:
    ids = session.scalars(select(Shipment.id).where(Shipment.order_id == order_id, Shipment.status.in_(OPEN))
                          .order_by(Shipment.id)).all()
    return [f"SH{i:08d}" for i in ids]


def get_shipment(session: Session, actor: Actor, company_id: int, shipment_id: int, *, lock: bool = False,
                 packages: bool = True) -> Shipment:
    """The shipment with its lines (and its packages, unless the caller needs only the lines)."""
    stmt = select(Shipment).where(Shipment.id == shipment_id, Shipment.company_id == company_id)
    if lock:  # and read it again: a copy loaded before the lock was granted may be out of date
        stmt = stmt.with_for_update().execution_options(populate_existing=True)
    stmt = stmt.options(selectinload(Shipment.lines))
    s = session.scalar(stmt.options(selectinload(Shipment.packages)) if packages else stmt)
    if s is None:
        raise NotFound(f"shipment {shipment_id} not found")
    if actor.customer_id is not None:
        owner = session.scalar(select(Order.customer_id).where(Order.id == s.order_id))
        if owner != actor.customer_id:
            raise NotFound(f"shipment {shipment_id} not found")
    return s




def on_timeline(session: Session, actor: Actor, shipment: Shipment, action: str, *, from_status=None,
                to_status=None, reason: str | None = None, data: dict | None = None) -> None:
    """Shipment steps are written on the order's timeline, which is where people look for them."""
    audit.record(session, actor, "order", shipment.order_id, action, company_id=shipment.company_id,
                 from_status=from_status, to_status=to_status, reason=reason,
                 data={"shipment": shipment.number, **(data or {})})


# --- policies and boxes ---------------------------------------------------------------------------

def set_policy(session: Session, actor: Actor, company_id: int, channel: str, policy: str) -> dict:
    require(actor, "company.write")
    if policy not in POLICIES:
        raise ValidationFailed.one("policy", "unknown", f"policy must be one of {', '.join(POLICIES)} (got {policy!r})")
    row = session.scalar(select(FulfillmentPolicy).where(FulfillmentPolicy.company_id == company_id,
                                                         FulfillmentPolicy.channel == channel))
    if row is None:
        row = FulfillmentPolicy(company_id=company_id, channel=channel, policy=policy, updated_at=clock.now())
        session.add(row)
    row.policy, row.updated_at = policy, clock.now()
    session.flush()
    audit.record(session, actor, "company", company_id, "fulfilment_policy_set", company_id=company_id,
                 data={"channel": channel, "policy": policy})
    return {"channel": channel, "policy": policy}


def policies(session: Session, company_id: int) -> dict[str, str]:
    return dict(session.execute(select(FulfillmentPolicy.channel, FulfillmentPolicy.policy)
                                .where(FulfillmentPolicy.company_id == company_id)).all())


def create_box(session: Session, actor: Actor, company_id: int, data) -> Box:
    require(actor, "masterdata.write")
    if session.scalar(select(Box.id).where(Box.company_id == company_id, Box.code == data.code)):
        raise Conflict(f"a box with code {data.code!r} exists already", field="code")
    box = Box(company_id=company_id, active=True, **data.model_dump())
    session.add(box)
    session.flush()
    audit.record(session, actor, "box", box.id, "created", company_id=company_id, data={"code": box.code})
    return box


def list_boxes(session: Session, company_id: int) -> list[Box]:
    return list(session.scalars(select(Box).where(Box.company_id == company_id, Box.active.is_(True)).order_by(Box.id)))


def _pack_box(b: Box) -> packing.Box:
    return packing.Box(b.code, b.inner_length_cm, b.inner_width_cm, b.inner_height_cm, b.max_weight_kg, b.tare_kg)


# --- waves ----------------------------------------------------------------------------------------

def _releasable_lines(session: Session, company_id: int, order_ids: list[int] | None, limit: int) -> dict[int, list[OrderLine]]:
    """Order lines with stock reserved and not yet in an open shipment, by order: the oldest orders
    first, highest priority first. An order paid by card waits until the card is authorised (its
    timeline says why): it never ships as paid without the money held."""
    from o2c.payments import cards  # payments builds on orders and fulfilment, not the reverse

    in_flight = (select(ShipmentLine.order_line_id).join(Shipment, Shipment.id == ShipmentLine.shipment_id)
                 .where(Shipment.status.in_(OPEN)))
    stmt = (select(OrderLine, Order)
            .join(Order, Order.id == OrderLine.order_id)
            .where(Order.company_id == company_id, Order.status.in_(("confirmed", "backordered")),
                   OrderLine.reserved_qty > 0, OrderLine.id.not_in(in_flight),
                   ~cards.awaiting_card(Order.id)))
    if order_ids:
        stmt = stmt.where(Order.id.in_(order_ids))
    stmt = stmt.order_by(Order.priority.desc(), Order.order_date, Order.id, OrderLine.line_no)
    out: dict[int, list[OrderLine]] = {}
    # populate_existing: read under the orders' locks, a line must not keep what was read before them
    for line, order in session.execute(stmt.execution_options(populate_existing=True)):
        if order.id not in out and len(out) >= limit:
            break
        out.setdefault(order.id, []).append(line)
    return out


def waiting_for_wave(session: Session, company_id: int, limit: int = 100) -> list[dict]:
    """The orders the next wave would take, in the order it would take them (stock reserved, in no open
    shipment, not waiting for a card): the warehouse's to-do list."""
    from o2c.customers.models import Customer

    by_order = _releasable_lines(session, company_id, None, limit)
    orders = {o.id: o for o in session.scalars(select(Order).where(Order.id.in_(list(by_order))))}
    codes = dict(session.execute(select(Customer.id, Customer.code).where(
        Customer.id.in_({o.customer_id for o in orders.values()}))).all())
    return [{"order_id": oid, "number": orders[oid].number, "customer": codes[orders[oid].customer_id],
             "priority": orders[oid].priority, "order_date": orders[oid].order_date,
             "expected_date": orders[oid].expected_date, "lines": len(lines),
             "units": sum((li.reserved_qty for li in lines), ZERO)} for oid, lines in by_order.items()]


def release_wave(session: Session, actor: Actor, company_id: int, data) -> Wave:
    """Group released orders into a wave: decide where each ships from (one optimisation over the wave,
    compared with greedy), move reservations accordingly, create a shipment per order and warehouse, and
    plan batch pick lists per warehouse along a walking path."""
    require(actor, "fulfillment.write")
    from o2c.shipping import service as shipping  # shipping estimates the cost of each option

    candidates = _releasable_lines(session, company_id, data.order_ids, data.max_orders)
    # Lock the orders (in id order), then look again: a wave released meanwhile by someone else has
    # taken some lines, and what it took must not be released twice.
    orders = {o.id: o for o in session.scalars(select(Order).where(Order.id.in_(list(candidates))).with_for_update()
                                               .order_by(Order.id).execution_options(populate_existing=True))}
    by_order = _releasable_lines(session, company_id, list(orders), data.max_orders) if orders else {}
    if not by_order:
        from o2c.payments import cards

        unpaid = cards.waiting_for_card(session, company_id, data.order_ids or [])
        if unpaid:
            raise Conflict(f"order(s) {', '.join(f'SO{i:08d}' for i in unpaid)} wait for card authorisation",
                           field="order_ids", waiting_for_card=unpaid)
        raise Conflict("no confirmed orders with reserved stock are waiting for a wave", field="order_ids")
    orders = {oid: orders[oid] for oid in by_order}
    lines = [li for ls in by_order.values() for li in ls]
    products = {p.id: p for p in session.scalars(select(Product).where(Product.id.in_({li.product_id for li in lines})))}
    chosen = policies(session, company_id)
    estimator = shipping.estimator(session, company_id, orders.values())
    report: dict = {"orders": len(orders), "groups": []}

    def decide(capacity, current):
        free = dict(capacity)
        new: list[outbound.LineReservation] = []
        by_policy: dict[str, list[int]] = defaultdict(list)
        for oid in by_order:
            by_policy[chosen.get(orders[oid].channel, DEFAULT_POLICY)].append(oid)
        held = defaultdict(list)
        for r in current:
            held[r.line_id].append(r)
        for policy, oids in sorted(by_policy.items()):
            demands = [allocation.Demand(
                order_id=oid, priority=orders[oid].priority, order_date=orders[oid].order_date,
                lines=tuple(allocation.DemandLine(li.id, li.product_id, li.reserved_qty,
                                                  products[li.product_id].weight_kg or ZERO)
                            for li in by_order[oid])) for oid in oids]
            if not estimator.has_rates:
                result = None
            else:
                greedy = allocation.greedy_wave(demands, free, estimator, policy)
                result = allocation.optimise_wave(demands, free, estimator, policy, baseline=greedy)
                report["groups"].append({"policy": policy, **_jsonable(allocation.compare(greedy, result))})
            for d in demands:
                alloc = result.allocations.get(d.order_id) if result else None
                if alloc is None or any(q > 0 for q in alloc.short.values()):
                    takes = [(r.line_id, r.product_id, r.warehouse_id, r.quantity) for li in d.lines for r in held[li.line_id]]
                else:
                    takes = [(t.line_id, t.product_id, t.warehouse_id, t.quantity) for t in alloc.takes]
                for line_id, product_id, wh, q in takes:
                    free[(product_id, wh)] = free.get((product_id, wh), ZERO) - q
                    new.append(outbound.LineReservation(d.order_id, line_id, product_id, wh, q))
        if not estimator.has_rates:
            report["groups"].append({"method": "kept", "note": "no carrier rate tables: reservations stay where they are"})
        return new

    placed = outbound.reallocate(session, company_id, [li.id for li in lines], decide)
    now = clock.now()
    wave = Wave(company_id=company_id, status="released", report=report, created_by=actor.user_id, created_at=now)
    session.add(wave)
    session.flush()

    line_by_id = {li.id: li for li in lines}
    per_shipment: dict[tuple[int, int], list[outbound.LineReservation]] = defaultdict(list)
    for r in placed:
        per_shipment[(r.order_id, r.warehouse_id)].append(r)
    shipments = []
    for (oid, wh), rs in sorted(per_shipment.items()):
        o = orders[oid]
        sh = Shipment(company_id=company_id, order_id=oid, warehouse_id=wh, wave_id=wave.id, kind="order",
                      status="released", promised_date=o.expected_date, created_at=now, updated_at=now, version=1,
                      **o.ship_to_columns())
        qty: dict[int, Decimal] = defaultdict(Decimal)
        for r in rs:
            qty[r.line_id] += r.quantity
        sh.lines = [ShipmentLine(order_line_id=lid, product_id=line_by_id[lid].product_id, sku=line_by_id[lid].sku,
                                 quantity=q, picked_qty=ZERO, packed_qty=ZERO, shipped_qty=ZERO, returned_qty=ZERO)
                    for lid, q in sorted(qty.items())]
        session.add(sh)
        shipments.append(sh)
    session.flush()
    codes = dict(session.execute(select(Warehouse.id, Warehouse.code).where(Warehouse.company_id == company_id)).all())
    for sh in shipments:
        on_timeline(session, actor, sh, "shipment_released", data={
            "wave": wave.number, "warehouse": codes[sh.warehouse_id],
            "lines": {line_by_id[sl.order_line_id].line_no: plain(sl.quantity) for sl in sh.lines}})
        emit(session, "shipment.released", {"shipment_id": sh.id, "order_id": sh.order_id, "wave_id": wave.id},
             company_id=company_id, entity_id=sh.id)
    _plan_pick_lists(session, company_id, wave, shipments, data.pickers, data.max_lines)
    wave.report = {**report, "shipments": len(shipments)}
    audit.record(session, actor, "wave", wave.id, "released", company_id=company_id, data=wave.report)
    session.flush()
    return wave


def _jsonable(d: dict) -> dict:
    """Decimals as text; the solver's seconds to the millisecond."""
    return {k: plain(v) if isinstance(v, Decimal) else round(v, 3) if isinstance(v, float) else v
            for k, v in d.items()}


def _plan_pick_lists(session: Session, company_id: int, wave: Wave, shipments: list[Shipment],
                     pickers: int | None, max_lines: int | None) -> None:
    """One batch per warehouse: tasks from every shipment line, merged per SKU and bin, along a path."""
    bins = {(p, w): b for p, w, b in session.execute(
        select(Stock.product_id, Stock.warehouse_id, Stock.bin).where(Stock.company_id == company_id))}
    names = dict(session.execute(select(Product.id, Product.name).where(
        Product.id.in_({sl.product_id for sh in shipments for sl in sh.lines}))).all())
    by_wh: dict[int, list[picking.PickTask]] = defaultdict(list)
    unbinned: dict[int, list[ShipmentLine]] = defaultdict(list)
    for sh in shipments:
        for sl in sh.lines:
            code = bins.get((sl.product_id, sh.warehouse_id))
            try:
                b = picking.parse_bin(code) if code else None
            except ValidationFailed:
                b = None
            if b is None:
                unbinned[sh.warehouse_id].append(sl)
            else:
                by_wh[sh.warehouse_id].append(picking.PickTask(sl, sl.sku, names[sl.product_id], b, sl.quantity))
    now = clock.now()
    for wh in sorted(set(by_wh) | set(unbinned)):
        plans = picking.plan_pick_lists(by_wh[wh], pickers=pickers, max_lines=max_lines) if by_wh[wh] else []
        for n, plan in enumerate(plans or [None]):
            pl = PickList(company_id=company_id, wave_id=wave.id, warehouse_id=wh, status="open", created_at=now,
                          length_m=plan.length_m if plan else ZERO,
                          unsorted_length_m=plan.unsorted_length_m if plan else ZERO)
            session.add(pl)
            session.flush()
            seq = 0
            for seq, stop in enumerate(plan.stops if plan else [], start=1):
                for sl, q in stop.serves:
                    session.add(PickTask(pick_list_id=pl.id, seq=seq, shipment_line_id=sl.id, product_id=sl.product_id,
                                         sku=sl.sku, bin=str(stop.bin), quantity=q))
            if n == len(plans or [None]) - 1:  # lines without a bin go last, for the supervisor to find
                for sl in unbinned[wh]:
                    seq += 1
                    session.add(PickTask(pick_list_id=pl.id, seq=seq, shipment_line_id=sl.id, product_id=sl.product_id,
                                         sku=sl.sku, bin="", quantity=sl.quantity))
    session.flush()


def get_wave(session: Session, company_id: int, wave_id: int) -> Wave:
    w = session.get(Wave, wave_id)
    if w is None or w.company_id != company_id:
        raise NotFound(f"wave {wave_id} not found")
    return w


def wave_view(session: Session, wave: Wave) -> dict:
    lists = session.scalars(select(PickList).where(PickList.wave_id == wave.id).order_by(PickList.id)).all()
    shipments = session.scalars(select(Shipment.id).where(Shipment.wave_id == wave.id).order_by(Shipment.id)).all()
    return {"id": wave.id, "number": wave.number, "status": wave.status, "report": wave.report,
            "created_at": wave.created_at, "pick_lists": [pl.id for pl in lists],
            "shipments": [f"SH{i:08d}" for i in shipments]}


def list_waves(session: Session, company_id: int, limit: int = 50) -> list[Wave]:
    return list(session.scalars(select(Wave).where(Wave.company_id == company_id).order_by(Wave.id.desc()).limit(limit)))


# --- picking --------------------------------------------------------------------------------------

def get_pick_list(session: Session, company_id: int, pick_list_id: int, *, lock: bool = False) -> PickList:
    stmt = select(PickList).where(PickList.id == pick_list_id, PickList.company_id == company_id)
    pl = session.scalar(stmt.with_for_update() if lock else stmt)
    if pl is None:
        raise NotFound(f"pick list {pick_list_id} not found")
    return pl


def pick_list_view(session: Session, pl: PickList) -> dict:
    """Stops in walking order, each with what it serves: the handheld and the printout both use this."""
    tasks = session.scalars(select(PickTask).where(PickTask.pick_list_id == pl.id).order_by(PickTask.seq, PickTask.id)).all()
    sl_ids = [t.shipment_line_id for t in tasks]
    where = dict(session.execute(select(ShipmentLine.id, Shipment.id).join(Shipment, Shipment.id == ShipmentLine.shipment_id)
                                 .where(ShipmentLine.id.in_(sl_ids))).all()) if sl_ids else {}
    names = dict(session.execute(select(Product.id, Product.name).where(Product.id.in_({t.product_id for t in tasks}))).all())
    stops: list[dict] = []
    for t in tasks:
        if not stops or stops[-1]["seq"] != t.seq:
            stops.append({"seq": t.seq, "bin": t.bin or None, "sku": t.sku, "description": names.get(t.product_id, ""),
                          "quantity": ZERO, "picked": ZERO, "tasks": []})
        stop = stops[-1]
        stop["quantity"] += t.quantity
        stop["picked"] += t.picked_qty or ZERO
        stop["tasks"].append({"task_id": t.id, "shipment": f"SH{where[t.shipment_line_id]:08d}", "quantity": t.quantity,
                              "picked_qty": t.picked_qty})
    wh = session.get(Warehouse, pl.warehouse_id)
    return {"id": pl.id, "number": pl.number, "wave_id": pl.wave_id, "warehouse": wh.code, "status": pl.status,
            "picker": pl.picker, "length_m": pl.length_m, "unsorted_length_m": pl.unsorted_length_m, "stops": stops}


def confirm_picks(session: Session, actor: Actor, company_id: int, pick_list_id: int, data) -> PickList:
    """The picker reports what was taken per task. Picking more than reserved is refused; less is a
    short pick, shipped short (the rest of the line goes back to the order as a backorder)."""
    require(actor, "fulfillment.write")
    pl = get_pick_list(session, company_id, pick_list_id, lock=True)
    tasks = {t.id: t for t in session.scalars(select(PickTask).where(PickTask.pick_list_id == pl.id))}
    units = _units(session, {t.product_id for t in tasks.values()})
    errors = ErrorList()
    seen: set[int] = set()
    for i, p in enumerate(data.picks):
        t = tasks.get(p.task_id)
        if t is None:
            errors.add(f"picks[{i}].task_id", "unknown", f"pick list {pl.number} has no task {p.task_id}")
            continue
        if p.task_id in seen:  # two picks of one task would both add to its shipment line
            errors.add(f"picks[{i}].task_id", "duplicate", f"task {t.id} ({t.sku}) is named twice in this request")
        elif t.picked_qty is not None:
            errors.add(f"picks[{i}].task_id", "already_picked", f"task {t.id} ({t.sku}) was confirmed already")
        elif p.quantity > t.quantity:
            errors.add(f"picks[{i}].quantity", "more_than_reserved",
                       f"picks[{i}].quantity {plain(p.quantity)} is more than the {plain(t.quantity)} of {t.sku} "
                       f"reserved for this task")
        elif problem := unit_problem(p.quantity, *units[t.product_id]):
            errors.add(f"picks[{i}].quantity", "too_many_decimals", f"picks[{i}].quantity: {t.sku} {problem}")
        seen.add(p.task_id)
    errors.raise_if_any("some picks cannot be confirmed")
    if pl.picker is None:
        pl.picker = data.picker or actor.username
    sl_ids = {tasks[p.task_id].shipment_line_id for p in data.picks}
    # Lock the shipments (in id order) before counting their open tasks: a picker finishing another list
    # of the same shipment at the same moment must see these picks, or neither advances it.
    session.scalars(select(Shipment).where(Shipment.id.in_(
        select(ShipmentLine.shipment_id).where(ShipmentLine.id.in_(sl_ids)))).order_by(Shipment.id)
        .with_for_update().execution_options(populate_existing=True)).all()
    lines = {sl.id: sl for sl in session.scalars(select(ShipmentLine).where(ShipmentLine.id.in_(sl_ids)))}
    for p in data.picks:
        t = tasks[p.task_id]
        t.picked_qty = p.quantity
        lines[t.shipment_line_id].picked_qty += p.quantity
    if all(t.picked_qty is not None for t in tasks.values()):
        pl.status = "done"
    session.flush()
    _advance_picked(session, actor, {sl.shipment_id for sl in lines.values()})
    _close_wave_if_done(session, pl.wave_id)
    return pl


def _units(session: Session, product_ids: set[int]) -> dict[int, tuple[int, str]]:
    """Product id -> (decimals its unit allows, unit): no half pieces are picked or packed."""
    return {pid: (d, u) for pid, d, u in session.execute(
        select(Product.id, Product.uom_decimals, Product.uom).where(Product.id.in_(product_ids)))}


def _advance_picked(session: Session, actor: Actor, shipment_ids: set[int]) -> None:
    """A shipment is picked once every task for its lines is confirmed."""
    for sh in session.scalars(select(Shipment).where(Shipment.id.in_(shipment_ids)).order_by(Shipment.id)):
        pending = session.scalar(select(func.count()).select_from(PickTask).join(
            ShipmentLine, ShipmentLine.id == PickTask.shipment_line_id).where(
            ShipmentLine.shipment_id == sh.id, PickTask.picked_qty.is_(None)))
        if pending == 0 and sh.status == "released":
            if all(sl.picked_qty == 0 for sl in sh.lines):
                _close_not_found(session, actor, sh)
                continue
            sh.status, sh.updated_at = "picked", clock.now()
            sh.version += 1
            short = {sl.sku: plain(sl.quantity - sl.picked_qty) for sl in sh.lines if sl.picked_qty < sl.quantity}
            on_timeline(session, actor, sh, "shipment_picked", from_status="released", to_status="picked",
                        data={"picked": {sl.sku: plain(sl.picked_qty) for sl in sh.lines}, **({"short": short} if short else {})})


def _close_not_found(session: Session, actor: Actor, sh: Shipment) -> None:
    """Nothing of the shipment was in its bins: there is nothing to pack, so it closes at once. The
    books are corrected as for any short pick (the missing units written off on hand, their
    reservations given up), and the order lines are reserved again where stock allows, or backordered."""
    from o2c.orders import service as orders  # orders builds on nothing of fulfilment at import time

    outbound.ship(session, actor, sh.company_id, [
        outbound.Outgoing(sl.order_line_id, sl.product_id, sh.warehouse_id, sl.quantity, ZERO) for sl in sh.lines],
        sh.number)
    sh.status, sh.updated_at = "cancelled", clock.now()
    sh.version += 1
    on_timeline(session, actor, sh, "shipment_not_found", from_status="released", to_status="cancelled",
                reason="nothing was found in the bins", data={"short": {sl.sku: plain(sl.quantity) for sl in sh.lines}})
    if sh.kind == "order":
        orders.record_shipment(session, actor, sh.company_id, sh.order_id, sh.number,
                               {sl.order_line_id: (sl.quantity, ZERO) for sl in sh.lines})


def _close_wave_if_done(session: Session, wave_id: int) -> None:
    # locked first, so two lists of the wave finished at once do not each see the other still open
    session.execute(select(Wave.id).where(Wave.id == wave_id).with_for_update())
    left = session.scalar(select(func.count()).select_from(PickList).where(PickList.wave_id == wave_id,
                                                                              PickList.status != "done"))
    if left == 0:
        session.get(Wave, wave_id).status = "done"


# --- packing --------------------------------------------------------------------------------------

def _barcodes(session: Session, shipment: Shipment, scanned: str | None = None) -> dict[str, str]:
    """Barcode -> SKU for the shipment's products, and for the scanned code if it is another product of
    the catalogue (so a wrong item is named as wrong, not as unknown)."""
    gtins: dict[str, list[str]] = defaultdict(list)
    for sku, gtin in session.execute(select(Product.sku, Product.gtin).where(
            Product.id.in_({sl.product_id for sl in shipment.lines}))):
        gtins[sku] += [gtin] if gtin else []
    if scanned:
        code = scanned.strip()
        try:
            gtin14 = packing.normalise_barcode(code)
        except ValidationFailed:
            gtin14 = code
        candidates = {code, gtin14, gtin14.lstrip("0"), gtin14[1:] if len(gtin14) == 14 else gtin14}
        for sku, gtin in session.execute(select(Product.sku, Product.gtin).where(
                Product.company_id == shipment.company_id,
                (Product.sku == code) | Product.gtin.in_(sorted(candidates)))):
            gtins.setdefault(sku, [gtin] if gtin else [])
    return packing.barcode_map(gtins)


def _packed_so_far(shipment: Shipment) -> dict[str, Decimal]:
    out: dict[str, Decimal] = defaultdict(Decimal)
    for pkg in shipment.packages:
        for it in pkg.items:
            out[it.sku] += it.quantity
    return out


def _pack_state(session: Session, shipment: Shipment, package: Package, scanned: str | None = None) -> packing.PackSession:
    """What the open parcel still expects: picked minus what other parcels hold."""
    picked: dict[str, Decimal] = defaultdict(Decimal)
    for sl in shipment.lines:
        picked[sl.sku] += sl.picked_qty
    elsewhere = _packed_so_far(shipment)
    here: dict[str, Decimal] = defaultdict(Decimal)
    for it in package.items:
        here[it.sku] += it.quantity
        elsewhere[it.sku] -= it.quantity
    expected = {sku: q - elsewhere.get(sku, ZERO) for sku, q in picked.items() if q - elsewhere.get(sku, ZERO) > 0}
    state = packing.start_packing(expected, _barcodes(session, shipment, scanned))
    return packing.PackSession(state.expected, state.barcodes, dict(here))


def open_package(session: Session, actor: Actor, company_id: int, shipment_id: int) -> Package:
    require(actor, "fulfillment.write")
    sh = get_shipment(session, actor, company_id, shipment_id, lock=True)
    if sh.status != "picked":
        raise Conflict(f"shipment {sh.number} is {sh.status}; parcels are packed once it is picked",
                       current_status=sh.status)
    if any(p.status == "open" for p in sh.packages):
        raise Conflict(f"shipment {sh.number} has an open parcel already; close it first")
    picked = sum((sl.picked_qty for sl in sh.lines), ZERO)
    if sum(_packed_so_far(sh).values(), ZERO) >= picked:
        raise Conflict(f"everything picked for shipment {sh.number} is packed already")
    pkg = Package(company_id=company_id, shipment_id=sh.id, status="open", created_at=clock.now())
    sh.packages.append(pkg)
    session.flush()
    return pkg


def get_package(session: Session, actor: Actor, company_id: int, package_id: int, *, lock: bool = False) -> tuple[Package, Shipment]:
    pkg = session.get(Package, package_id)
    if pkg is None or pkg.company_id != company_id:
        raise NotFound(f"package {package_id} not found")
    sh = get_shipment(session, actor, company_id, pkg.shipment_id, lock=lock)
    return pkg, sh


def _refuse_unless_packing(sh: Shipment) -> None:
    if sh.status != "picked":
        raise Conflict(f"shipment {sh.number} is {sh.status}; its parcels are packed while it is picked",
                       current_status=sh.status)


def scan(session: Session, actor: Actor, company_id: int, package_id: int, barcode: str, quantity: Decimal) -> dict:
    """One scan at the pack station: accepted into the parcel, or refused (unknown barcode, an item not in
    this shipment, one more than was picked) with nothing changed."""
    require(actor, "fulfillment.write")
    pkg, sh = get_package(session, actor, company_id, package_id, lock=True)
    _refuse_unless_packing(sh)
    if pkg.status != "open":
        raise Conflict(f"parcel {pkg.id} is {pkg.status}; scan into an open parcel")
    outcome = packing.scan(_pack_state(session, sh, pkg, barcode), barcode, quantity)
    product_id = next(sl.product_id for sl in sh.lines if sl.sku == outcome.sku)
    if problem := unit_problem(quantity, *_units(session, {product_id})[product_id]):
        raise ValidationFailed.one("quantity", "too_many_decimals", f"{outcome.sku}: {problem}")
    left = outcome.quantity
    for sl in sh.lines:  # fill the shipment lines of that SKU in order
        if sl.sku != outcome.sku or left <= 0:
            continue
        room = sl.picked_qty - sl.packed_qty
        take = min(room, left)
        if take > 0:
            sl.packed_qty += take
            item = next((it for it in pkg.items if it.shipment_line_id == sl.id), None)
            if item is None:
                pkg.items.append(PackageItem(shipment_line_id=sl.id, product_id=sl.product_id, sku=sl.sku, quantity=take))
            else:
                item.quantity += take
            left -= take
    session.flush()
    return {"package_id": pkg.id, "sku": outcome.sku, "packed": outcome.packed, "expected": outcome.expected,
            "sku_complete": outcome.sku_complete, "all_packed": outcome.all_packed,
            "missing": packing.missing(outcome.session)}


def suggest_box(session: Session, actor: Actor, company_id: int, package_id: int) -> dict:
    pkg, sh = get_package(session, actor, company_id, package_id)
    items = items_of(session, pkg)
    boxes = [_pack_box(b) for b in list_boxes(session, company_id)]
    box = packing.suggest_box(items, boxes) if items and boxes else None
    return {"package_id": pkg.id, "box": box.code if box else None,
            "message": f"use box {box.code}" if box else "no single box fits: split into several parcels"}


def items_of(session: Session, pkg: Package) -> list[packing.PackItem]:
    products = {p.id: p for p in session.scalars(select(Product).where(Product.id.in_({it.product_id for it in pkg.items})))}
    out = []
    for it in pkg.items:
        p = products[it.product_id]
        dims = (p.length_cm or Decimal(1), p.width_cm or Decimal(1), p.height_cm or Decimal(1))
        out.append(packing.PackItem(dims, p.weight_kg or ZERO, it.quantity, it.sku))
    return out


def close_package(session: Session, actor: Actor, company_id: int, package_id: int, data) -> Package:
    """Close the parcel: in a box (given or suggested), weighed; a weight off the expected by more than
    the tolerance holds it for review."""
    require(actor, "fulfillment.write")
    pkg, sh = get_package(session, actor, company_id, package_id, lock=True)
    _refuse_unless_packing(sh)
    if pkg.status != "open":
        raise Conflict(f"parcel {pkg.id} is {pkg.status}; only an open parcel can be closed")
    if not pkg.items:
        raise ValidationFailed.one("package", "empty", f"parcel {pkg.id} is empty: scan its items first")
    if data.all_items:
        packing.close_check(_pack_state(session, sh, pkg))
    boxes = {b.code: b for b in list_boxes(session, company_id)}
    items = items_of(session, pkg)
    if data.box_code is not None and data.box_code not in boxes:
        raise ValidationFailed.one("box_code", "unknown", f"no box {data.box_code!r}; known: {', '.join(boxes) or 'none'}")
    if data.box_code:
        box = _pack_box(boxes[data.box_code])
    else:
        box = packing.suggest_box(items, [_pack_box(b) for b in boxes.values()]) if boxes else None
    tare = box.tare_kg if box else ZERO
    expected = sum((it.weight_kg * it.quantity for it in items), ZERO) + tare
    company = session.get(Company, company_id)
    tolerance = company.qc_tolerance_pct if company.qc_tolerance_pct is not None else Decimal(5)
    qc = packing.qc_check(expected, data.weight_kg, tolerance) if expected > 0 else None
    pkg.box_code = box.code if box else None
    pkg.expected_weight_kg, pkg.weighed_weight_kg = expected, data.weight_kg
    pkg.qc_message = qc.message if qc else "no product weights on file: weight not checked"
    pkg.status = "closed" if qc is None or qc.passed else "qc_hold"
    pkg.closed_at = clock.now()
    session.flush()
    on_timeline(session, actor, sh, "parcel_closed" if pkg.status == "closed" else "parcel_held_for_weight",
                data={"package": pkg.id, "box": pkg.box_code, "weight_kg": plain(data.weight_kg),
                      "expected_kg": plain(expected), "qc": pkg.qc_message})
    _advance_packed(session, actor, sh)
    return pkg


def review_package(session: Session, actor: Actor, company_id: int, package_id: int, decision: str, reason: str) -> Package:
    """A person looks at a parcel held by the weight check: release it as it is, or reopen it to repack."""
    require(actor, "fulfillment.write")
    pkg, sh = get_package(session, actor, company_id, package_id, lock=True)
    if pkg.status != "qc_hold":
        raise Conflict(f"parcel {pkg.id} is {pkg.status}, not held for review")
    if decision == "release":
        pkg.status = "closed"
    elif decision == "reopen":
        pkg.status = "open"
        pkg.closed_at = None
    else:
        raise ValidationFailed.one("decision", "unknown", "decision must be release or reopen")
    on_timeline(session, actor, sh, f"parcel_review_{decision}", reason=reason, data={"package": pkg.id})
    session.flush()
    _advance_packed(session, actor, sh)
    return pkg


def _advance_packed(session: Session, actor: Actor, sh: Shipment) -> None:
    """Packed: every picked unit is in a closed parcel that passed its check."""
    done = (all(sl.packed_qty == sl.picked_qty for sl in sh.lines)
            and sh.packages and all(p.status == "closed" for p in sh.packages))
    if done and sh.status == "picked":
        sh.status, sh.updated_at = "packed", clock.now()
        sh.version += 1
        on_timeline(session, actor, sh, "shipment_packed", from_status="picked", to_status="packed",
                    data={"parcels": len(sh.packages)})
    session.flush()


def unpacked_reason(sh: Shipment) -> str:
    """Why a shipment is not packed yet, in the packer's words: what is missing, which parcel is open or held."""
    if sh.status == "released":
        return "it is not picked yet"
    parts = [f"{sl.sku}: {plain(sl.picked_qty - sl.packed_qty)} picked but not in a parcel"
             for sl in sh.lines if sl.packed_qty < sl.picked_qty]
    parts += [f"parcel {p.id} is {'held by the weight check' if p.status == 'qc_hold' else 'not closed'}"
              for p in sh.packages if p.status not in ("closed", "shipped")]
    return "; ".join(parts) or "nothing is packed yet"


def pack_view(session: Session, actor: Actor, company_id: int, shipment_id: int) -> dict:
    """What the pack station shows: the shipment, and per SKU its product, barcode, units picked and units
    already in parcels; the open parcel, if any."""
    sh = get_shipment(session, actor, company_id, shipment_id)
    products = {p.id: p for p in session.scalars(select(Product).where(
        Product.id.in_({sl.product_id for sl in sh.lines})))}
    items: dict[str, dict] = {}
    for sl in sh.lines:
        p = products[sl.product_id]
        it = items.setdefault(sl.sku, {"sku": sl.sku, "name": p.name, "gtin": p.gtin, "expected": ZERO, "packed": ZERO})
        it["expected"] += sl.picked_qty
        it["packed"] += sl.packed_qty
    open_pkg = next((p for p in sh.packages if p.status == "open"), None)
    return {**shipment_view(session, sh), "items": list(items.values()),
            "open_package": package_view(open_pkg) if open_pkg else None,
            "unpacked_reason": unpacked_reason(sh) if sh.status in ("released", "picked") else None}


def package_view(pkg: Package) -> dict:
    return {"id": pkg.id, "shipment_id": pkg.shipment_id, "status": pkg.status, "box_code": pkg.box_code,
            "expected_weight_kg": pkg.expected_weight_kg, "weighed_weight_kg": pkg.weighed_weight_kg,
            "qc_message": pkg.qc_message, "sscc": pkg.sscc, "tracking_number": pkg.tracking_number,
            "items": [{"sku": it.sku, "quantity": it.quantity} for it in pkg.items]}


def shipment_view(session: Session, sh: Shipment) -> dict:
    from o2c.shipping import service as shipping

    wh = session.get(Warehouse, sh.warehouse_id)
    lines = {li.id: li for li in session.scalars(select(OrderLine).where(
        OrderLine.id.in_([sl.order_line_id for sl in sh.lines])))}
    return {
        "id": sh.id, "number": sh.number, "order_id": sh.order_id, "order_number": f"SO{sh.order_id:08d}",
        "warehouse": wh.code, "wave_id": sh.wave_id, "kind": sh.kind, "status": sh.status,
        "promised_date": sh.promised_date, "estimated_delivery": sh.estimated_delivery,
        "shipped_at": sh.shipped_at, "delivered_at": sh.delivered_at, "on_time": sh.on_time,
        "carrier": shipping.carrier_code(session, sh.carrier_id), "service": sh.service_code,
        "shipping_cost": round_money(sh.shipping_cost, session.get(Company, sh.company_id).currency)
        if sh.shipping_cost is not None else None,
        "tracking_url": shipping.tracking_link(session, sh),
        "ship_to": sh.ship_to(),
        "lines": [{"id": sl.id, "line_no": lines[sl.order_line_id].line_no, "sku": sl.sku, "quantity": sl.quantity,
                   "picked_qty": sl.picked_qty, "packed_qty": sl.packed_qty, "shipped_qty": sl.shipped_qty,
                   "returned_qty": sl.returned_qty} for sl in sh.lines],
        "packages": [package_view(p) for p in sh.packages],
    }


def list_shipments(session: Session, actor: Actor, company_id: int, *, status: str | None, order_id: int | None,
                   after: int, limit: int) -> list[Shipment]:
    stmt = (select(Shipment).where(Shipment.company_id == company_id, Shipment.id > after)
            .options(selectinload(Shipment.lines), selectinload(Shipment.packages)).order_by(Shipment.id).limit(limit))
    if status:
        stmt = stmt.where(Shipment.status == status)
    if order_id:
        stmt = stmt.where(Shipment.order_id == order_id)
    if actor.customer_id is not None:
        stmt = stmt.where(Shipment.order_id.in_(select(Order.id).where(Order.customer_id == actor.customer_id)))
    return list(session.scalars(stmt))


def cancel_shipment(session: Session, actor: Actor, company_id: int, shipment_id: int, reason: str) -> Shipment:
    """Take a shipment back out of the warehouse before it ships: its lines are free to be waved again
    (their stock stays reserved for the order). An exchange shipment's stock is freed: the return
    decides anew (a refund instead)."""
    require(actor, "fulfillment.write")
    # Its pick lists are locked first, as confirming picks does (pick list, then shipment).
    lists = select(PickTask.pick_list_id).join(ShipmentLine, ShipmentLine.id == PickTask.shipment_line_id).where(
        ShipmentLine.shipment_id == shipment_id)
    pick_lists = session.scalars(select(PickList).where(PickList.id.in_(lists), PickList.company_id == company_id)
                                 .order_by(PickList.id).with_for_update()).all()
    sh = get_shipment(session, actor, company_id, shipment_id, lock=True)
    if sh.status not in OPEN:
        raise Conflict(f"shipment {sh.number} is {sh.status}; only a shipment still in the warehouse can be cancelled")
    before = sh.status
    sh.status, sh.updated_at = "cancelled", clock.now()
    if sh.kind == "exchange":  # its stock was reserved for this shipment alone: free it
        outbound.unreserve(session, company_id, [(sl.order_line_id, sl.product_id, sh.warehouse_id, sl.quantity)
                                                 for sl in sh.lines])
    for t in session.scalars(select(PickTask).where(PickTask.shipment_line_id.in_([sl.id for sl in sh.lines]),
                                                    PickTask.picked_qty.is_(None))):
        t.picked_qty = ZERO
    session.flush()
    for pl in pick_lists:  # a list whose last open tasks were this shipment's has nothing left to pick
        if not session.scalar(select(func.count()).select_from(PickTask).where(
                PickTask.pick_list_id == pl.id, PickTask.picked_qty.is_(None))):
            pl.status = "done"
            session.flush()
            _close_wave_if_done(session, pl.wave_id)
    on_timeline(session, actor, sh, "shipment_cancelled", from_status=before, to_status="cancelled", reason=reason)
    session.flush()
    return sh




def create_exchange_shipment(session: Session, actor: Actor, company_id: int, order_id: int, return_id: int,
                             rma: str, items: list[tuple[int, int, Decimal]]) -> Shipment:
    """Ship replacements for returned goods: (order line id, product id, quantity). Stock is reserved
    against the original order lines and the shipment gets a pick list of its own; when it ships, the
    order's shipped quantities stay as they are (the customer gets a replacement, not more goods)."""
    from o2c.inventory import service as inventory
    from o2c.inventory.rules import Need

    order = session.get(Order, order_id)
    plan = inventory.reserve(session, company_id, [Need(line_id, product_id, q) for line_id, product_id, q in items],
                             ship_complete=True)
    if not plan.complete:
        short = {lid: plain(q) for lid, q in plan.backordered.items() if q}
        raise Conflict("not enough stock for the exchange; refund instead, or receive stock first", short_lines=short)
    inventory.record_reservations(session, company_id, order_id,
                                  [(t.line_id, t.product_id, t.warehouse_id, t.quantity) for t in plan.takes])
    now = clock.now()
    wave = Wave(company_id=company_id, status="released", report={"exchange_for": rma}, created_by=actor.user_id,
                created_at=now)
    session.add(wave)
    session.flush()
    skus = dict(session.execute(select(Product.id, Product.sku).where(Product.id.in_({p for _, p, _ in items}))).all())
    by_wh: dict[int, list] = defaultdict(list)
    for t in plan.takes:
        by_wh[t.warehouse_id].append(t)
    shipments = []
    for wh, takes in sorted(by_wh.items()):
        sh = Shipment(company_id=company_id, order_id=order_id, warehouse_id=wh, wave_id=wave.id, kind="exchange",
                      return_id=return_id, status="released", promised_date=None, created_at=now, updated_at=now,
                      version=1, **order.ship_to_columns())
        sh.lines = [ShipmentLine(order_line_id=t.line_id, product_id=t.product_id, sku=skus[t.product_id],
                                 quantity=t.quantity, picked_qty=ZERO, packed_qty=ZERO, shipped_qty=ZERO,
                                 returned_qty=ZERO) for t in takes]
        session.add(sh)
        shipments.append(sh)
    session.flush()
    for sh in shipments:
        on_timeline(session, actor, sh, "exchange_shipment_released", data={"return": rma, "wave": wave.number})
        emit(session, "shipment.released", {"shipment_id": sh.id, "order_id": sh.order_id, "wave_id": wave.id},
             company_id=company_id, entity_id=sh.id)
    _plan_pick_lists(session, company_id, wave, shipments, None, None)
    return shipments[0]  # the first; replacements split over warehouses are all on the wave


def mark_returned(session: Session, accepted: dict[int, Decimal]) -> None:
    """Accepted returned units (order line id -> units) count as returned on the delivered shipment
    lines of those order lines, filled in shipment order."""
    left = dict(accepted)
    for sl in session.scalars(select(ShipmentLine).join(Shipment, Shipment.id == ShipmentLine.shipment_id).where(
            ShipmentLine.order_line_id.in_(sorted(accepted)), Shipment.kind == "order", Shipment.status == "delivered")
            .order_by(ShipmentLine.id)):
        take = min(sl.shipped_qty - sl.returned_qty, left.get(sl.order_line_id, ZERO))
        if take > 0:
            sl.returned_qty += take
            left[sl.order_line_id] -= take
