"""Order use cases: capture, correct, validate, price, confirm (reserve), cancel, release holds.

Each public function runs inside the caller's transaction (see o2c.core.db.transaction) and leaves the
order, its timeline records and its outbox events to commit together.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta
from decimal import Decimal

from sqlalchemy import func, select
from sqlalchemy.orm import Session, selectinload

from o2c.catalog import service as catalog
from o2c.catalog.models import Product
from o2c.core import audit, clock, sod
from o2c.core.auth import Actor, require
from o2c.core.errors import Conflict, ErrorList, FieldError, Forbidden, NotFound, ValidationFailed
from o2c.core.events import emit
from o2c.core.listing import newest_first
from o2c.core.masterdata import CACHE, detach
from o2c.core.money import plain, round_money
from o2c.core.models import Company
from o2c.customers import service as customers
from o2c.customers.models import CustomerAccount
from o2c.customers.rules import Address, address_errors
from o2c.inventory import service as inventory
from o2c.inventory.rules import Need
from o2c.orders import gates, rules
from o2c.orders.models import Order, OrderHold, OrderLine
from o2c.orders.schemas import LinePatch, OrderIn, OrderLineIn, OrderLineOut, OrderPatch

ZERO = Decimal(0)
SHIP_TO = rules.SHIP_TO


# ---------------------------------------------------------------- reading

def get_order(session: Session, actor: Actor, company_id: int, order_id: int, *, lock: bool = False,
              holds: bool = True) -> Order:
    """The order with its lines (and its holds, unless the caller needs only the lines)."""
    stmt = (
        select(Order)
        .where(Order.id == order_id, Order.company_id == company_id)
        .options(selectinload(Order.lines), *([selectinload(Order.holds)] if holds else []))
    )
    if lock:
        stmt = stmt.with_for_update(of=Order)
    order = session.scalar(stmt)
    if order is None or (actor.customer_id is not None and order.customer_id != actor.customer_id):
        raise NotFound(f"order {order_id} not found")
    return order


_LINE_AMOUNTS = ("gross_amount", "discount_amount", "net_amount", "tax_amount")


def _line_view(li: OrderLine, currency: str) -> dict:
    """A line as the API shows it: amounts in the currency's minor units, as stored or as just computed."""
    view = {c: getattr(li, c) for c in OrderLineOut.model_fields}
    return view | {k: round_money(getattr(li, k), currency) for k in _LINE_AMOUNTS}


def order_view(order: Order) -> dict:
    money = lambda amount: round_money(amount, order.currency)  # noqa: E731 (20.00, not 20.0000 from the database)
    return {
        "id": order.id, "number": order.number, "customer_id": order.customer_id, "channel": order.channel,
        "po_number": order.po_number, "currency": order.currency, "status": order.status,
        "shipment_state": order.shipment_state, "priority": order.priority,
        "ship_to": order.ship_to(),
        "requested_date": order.requested_date, "expected_date": order.expected_date,
        "order_date": order.order_date, "notes": order.notes, "subtotal": money(order.subtotal),
        "discount_total": money(order.discount_total), "tax_total": money(order.tax_total),
        "total": money(order.total), "order_discount": money(order.order_discount),
        "needed_correction": order.needed_correction,
        "lines": [_line_view(li, order.currency) for li in order.lines], "holds": order.holds,
        "created_at": order.created_at,
        "updated_at": order.updated_at, "confirmed_at": order.confirmed_at, "version": order.version,
    }


def list_orders(
    session: Session, actor: Actor, company_id: int, *, status: str | None = None, customer_id: int | None = None,
    po_number: str | None = None, channel: str | None = None, hold_kind: str | None = None,
    before_id: int | None = None, limit: int = 50,
) -> list[Order]:
    """Newest first; `before_id` is the cursor (the id of the last order of the previous page)."""
    stmt = newest_first(Order, actor, company_id, before_id=before_id, limit=limit, status=status or None,
                        customer_id=customer_id, po_number=po_number or None, channel=channel or None)
    stmt = stmt.options(selectinload(Order.lines), selectinload(Order.holds))
    if hold_kind:
        stmt = stmt.where(
            Order.id.in_(select(OrderHold.order_id).where(OrderHold.kind == hold_kind, OrderHold.active.is_(True)))
        )
    return list(session.scalars(stmt))


def timeline(session: Session, actor: Actor, company_id: int, order_id: int):
    get_order(session, actor, company_id, order_id)
    return audit.history(session, "order", order_id)


def entry_error_rate(session: Session, company_id: int) -> dict:
    """Share of orders that needed a correction before they could proceed (the order entry error rate)."""
    total, corrected = session.execute(
        select(func.count(Order.id), func.count(Order.id).filter(Order.needed_correction.is_(True)))
        .where(Order.company_id == company_id)
    ).one()
    rate = (Decimal(corrected) / Decimal(total)).quantize(Decimal("0.0001")) if total else ZERO
    return {"orders": total, "needed_correction": corrected, "rate": rate}


# ---------------------------------------------------------------- writing

def _company(session: Session, company_id: int) -> Company:
    company = session.get(Company, company_id)
    if company is None:
        raise NotFound(f"company {company_id} not found")
    return company


def _customer_for(session: Session, actor: Actor, company: Company, data: OrderIn):
    """The ordering customer and this company's account with it; unknown is bad input."""
    if data.customer_id is not None:
        found = CACHE.one(session, company, ("customer_id", data.customer_id),
                          lambda: detach(session, customers.find(session, company.id, customer_id=data.customer_id)))
        field, value = "customer_id", data.customer_id
    else:
        found = CACHE.one(session, company, ("customer_code", data.customer_code),
                          lambda: detach(session, customers.find(session, company.id, code=data.customer_code)))
        field, value = "customer_code", repr(data.customer_code)
    if found is None:
        raise ValidationFailed.one(field, "unknown", f"no customer {value} in this company")
    customer, account = found
    if actor.customer_id is not None and actor.customer_id != customer.id:
        raise Forbidden("a portal user orders for their own company only")
    if customer.merged_into_id is not None:  # a duplicate merged into its golden record (o2c.customers.merge)
        golden = customers.find(session, company.id, customer_id=customer.merged_into_id)
        raise ValidationFailed.one(field, "merged", f"customer {customer.code} was merged into customer "
                                   f"{golden[0].code if golden else customer.merged_into_id}: order for that one")
    if not account.active:
        raise ValidationFailed.one(field, "inactive", f"customer {customer.code} is not active")
    if data.currency is not None and data.currency != account.currency:
        raise ValidationFailed.one(
            "currency", "mismatch", f"customer {customer.code} buys in {account.currency}, not {data.currency}"
        )
    return customer, account


def _products_for(session: Session, company: Company, lines: list[OrderLineIn]) -> dict[str, Product]:
    products = CACHE.many(session, company, "sku", (li.sku for li in lines),
                          lambda skus: detach(session, catalog.products_by_sku(session, company.id, skus)))
    errors = ErrorList()
    for i, li in enumerate(lines):
        if li.sku not in products:
            errors.add(f"lines[{i}].sku", "unknown", f"no product with SKU {li.sku!r}")
    errors.raise_if_any()
    return products


def _apply_lines(order: Order, lines: list[OrderLineIn], products: dict[str, Product]) -> None:
    order.lines = [
        OrderLine(
            line_no=i + 1, product_id=products[li.sku].id, sku=li.sku, description=products[li.sku].name,
            quantity=li.quantity, uom=products[li.sku].uom,
            unit_price=li.unit_price if li.unit_price is not None else ZERO,
            price_overridden=li.unit_price is not None, override_reason=li.override_reason,
            discount_pct=li.discount_pct if li.discount_pct is not None else STANDING,
            gross_amount=ZERO, discount_amount=ZERO, net_amount=ZERO, tax_class=products[li.sku].tax_class,
            tax_rate_pct=ZERO, tax_amount=ZERO, reserved_qty=ZERO, backordered_qty=ZERO,
            shipped_qty=ZERO, returned_qty=ZERO,
        )
        for i, li in enumerate(lines)
    ]


# A line's discount_pct before pricing: "the customer's standing discount" (set when the order is priced).
STANDING = Decimal(-1)


@dataclass
class _Change:
    """One use case's change to one order. Status moves and reservations are decided first; their
    timeline records, outbox events and reservation rows are written at `finish`, once the order and
    its lines have ids, so a new order is inserted once, already in its final state."""

    session: Session
    actor: Actor
    company: Company
    account: CustomerAccount
    order: Order
    products: dict[int, Product]
    records: list[tuple] = field(default_factory=list)  # (action, from, to, reason, data, event?)
    takes: list[tuple] = field(default_factory=list)  # (line, Take)
    opened: list[OrderHold] = field(default_factory=list)  # gate holds placed by this change
    closed: list[tuple[str, str]] = field(default_factory=list)  # (gate kind, why) cleared by this change

    def move(self, to: str, action: str, reason: str | None, data: dict | None) -> None:
        before = self.order.status
        if before != "new" or to not in rules.TRANSITIONS["new"]:
            rules.check_transition(before, to)
        self.order.status = to
        self.records.append((action, None if before == "new" else before, to, reason, data, True))

    def note(self, action: str, reason: str | None, data: dict | None) -> None:
        """A timeline entry without a status change."""
        self.records.append((action, self.order.status, self.order.status, reason, data, False))

    def finish(self) -> Order:
        session, order = self.session, self.order
        session.add(order)
        session.flush()
        if self.takes:
            inventory.record_reservations(session, self.company.id, order.id, [
                (line.id, t.product_id, t.warehouse_id, t.quantity) for line, t in self.takes])
        for action, before, to, reason, data, event in self.records:
            audit.record(session, self.actor, "order", order.id, action, company_id=order.company_id,
                         from_status=before, to_status=to, reason=reason, data=data)
            if event:
                emit(session, f"order.{to}", {"order_id": order.id, "number": order.number, "from": before or "new",
                                              "to": to, "action": action},
                     company_id=order.company_id, entity_id=order.id)
        for hold in self.opened:
            gates.opened(session, self.actor, order.company_id, order.id, hold.kind, hold.reasons)
        for kind, why in self.closed:
            gates.closed(session, self.actor, order.company_id, order.id, kind, why)
        self.opened, self.closed = [], []
        session.flush()
        return order


def _require_price_override(actor: Actor, fields: list[str]) -> None:
    """Prices and discounts other than the customer's are for the company's people, not its customers."""
    if fields and not actor.can("orders.price_override"):
        raise Forbidden(
            f"user {actor.username!r} may not set prices or discounts on orders ({', '.join(fields)})",
            errors=[FieldError(f, "price_override_not_allowed", "only the company's staff may set this")
                    for f in fields],
            permission="orders.price_override",
        )


def _overrides(lines: list[OrderLineIn] | None, order_discount=None, prefix: str = "lines") -> list[str]:
    fields = []
    for i, li in enumerate(lines or []):
        fields += [f"{prefix}[{i}].{k}" for k in ("unit_price", "discount_pct") if getattr(li, k) is not None]
    if order_discount:
        fields.append("order_discount")
    return fields


def capture(session: Session, actor: Actor, company_id: int, data: OrderIn) -> Order:
    """Take an order from any channel: refuse what cannot be an order, hold what needs a person,
    and confirm (reserve stock) what is clean, all in the caller's transaction."""
    require(actor, "orders.write")
    _require_price_override(actor, _overrides(data.lines, data.order_discount))
    company = _company(session, company_id)
    customer, account = _customer_for(session, actor, company, data)
    products = _products_for(session, company, data.lines)
    ship_to = data.ship_to.model_dump() if data.ship_to else CACHE.one(
        session, company, ("ship_to", customer.id), lambda: customers.default_ship_to(session, customer.id))
    now = clock.now()
    order = Order(
        company_id=company_id, customer_id=customer.id, channel=data.channel, po_number=data.po_number,
        currency=account.currency, status="new", requested_date=data.requested_date,
        order_date=clock.today_in(company.timezone), notes=data.notes,
        order_discount=round_money(data.order_discount, account.currency),
        order_discount_reason=data.order_discount_reason, auto_confirm=data.confirm,
        priority=data.priority, shipment_state="none",
        subtotal=ZERO, discount_total=ZERO, tax_total=ZERO, total=ZERO, needed_correction=False,
        entered_by=actor.user_id, created_at=now, updated_at=now, version=1,
        **{f"ship_to_{k}": ship_to.get(k) for k in SHIP_TO},
    )
    _apply_lines(order, data.lines, products)
    order.holds = []
    change = _Change(session, actor, company, account, order, {p.id: p for p in products.values()})
    _evaluate(change, action="captured")
    return change.finish()


def _evaluate(change: _Change, *, action: str, reason: str | None = None,
              changed_line_nos: set[int] | None = None) -> None:
    """Price, check and move the order on: held with its reasons, or validated and (if asked) confirmed."""
    order = change.order
    missing_tax = _price(change)
    found = rules.hold_reasons(_facts(change, missing_tax))
    _gate(change, found)
    before = order.status
    _sync_holds(change, found)
    if found.by_kind.get(rules.HOLD_VALIDATION) or found.by_kind.get(rules.HOLD_DUPLICATE):
        order.needed_correction = True
    order.updated_at = clock.now()
    if not found.clean:
        if before in (rules.CONFIRMED, rules.BACKORDERED):
            inventory.release(change.session, order.id)
            for line in order.lines:
                line.reserved_qty = line.backordered_qty = ZERO
        change.move(rules.HELD, action, reason,
                    {"holds": {k: [e.as_dict() for e in v] for k, v in found.by_kind.items() if v}})
    elif before in (rules.CONFIRMED, rules.BACKORDERED) and changed_line_nos is not None:
        _rereserve_lines(change, changed_line_nos, action, reason)
    else:
        change.move(rules.VALIDATED, action, reason, None)
        if order.auto_confirm:
            _reserve(change, "confirmed")


def _released(order: Order) -> dict[str, OrderHold]:
    """Per kind, the latest hold a person released that still counts (no later change superseded it)."""
    return {h.kind: h for h in order.holds if not h.active and h.released_by is not None and not h.superseded}


def _gate(change: _Change, found: rules.HoldReasons) -> None:
    """Run the gates (customer status, compliance, credit, fraud) on an order that passes validation.
    An order that does not keeps the gate holds it has: they are decided once it is valid again."""
    order = change.order
    if found.clean:
        ctx = gates.GateContext(change.session, change.actor, change.company, change.account, order,
                                released=_released(order))
        found.by_kind.update(gates.check(ctx))
        return
    for h in order.holds:
        if h.active and h.kind in gates.kinds():
            found.by_kind[h.kind] = [FieldError(r["field"], r["code"], r["message"]) for r in h.reasons]


def _price(change: _Change) -> list[int]:
    """Set every line's prices, tax and amounts and the order totals; return the indexes of lines that
    need a tax rate and have none."""
    order, company, account, session = change.order, change.company, change.account, change.session
    breaks = CACHE.many(
        session, company, ("breaks", order.customer_id, order.currency, order.order_date),
        [li.product_id for li in order.lines],
        lambda ids: catalog.price_breaks(session, company.id, order.customer_id, order.currency, ids, order.order_date))
    tax_rows = CACHE.one(session, company, ("tax", order.ship_to_country),
                         lambda: catalog.tax_rows(session, company.id, order.ship_to_country))
    priced, t = rules.price_order(
        [rules.PricingLine(li.product_id, li.quantity, li.tax_class,
                           li.unit_price if li.price_overridden else None,
                           None if li.discount_pct == STANDING else li.discount_pct)
         for li in order.lines],
        breaks, tax_rows, country=order.ship_to_country, region=order.ship_to_region, on=order.order_date,
        tax_exempt=account.tax_exempt, standing_discount_pct=account.discount_pct, currency=order.currency,
        order_discount=order.order_discount,
    )
    for i, p in enumerate(priced):
        if abs(p.amounts.gross) >= rules.MAX_AMOUNT:
            raise ValidationFailed.one(f"lines[{i}].quantity", "amount_too_large",
                                       f"line {i + 1} comes to {plain(p.amounts.gross)} {order.currency}, "
                                       "more than one order line can be")
    for li, p in zip(order.lines, priced):
        a = p.amounts
        _set_changed(li, list_price=p.list_price, unit_price=p.unit_price, discount_pct=p.discount_pct,
                     tax_rate_pct=p.tax_rate_pct, gross_amount=a.gross, discount_amount=a.discount,
                     net_amount=a.net, tax_amount=a.tax)
    _set_changed(order, subtotal=t.subtotal, discount_total=t.discount, tax_total=t.tax, total=t.total)
    return [i for i, p in enumerate(priced) if p.missing_tax]


def _set_changed(obj, **values) -> None:
    """Assign only what differs, so re-pricing a large order writes just the lines that changed."""
    for k, v in values.items():
        if getattr(obj, k) != v:
            setattr(obj, k, v)


def _facts(change: _Change, missing_tax: list[int]) -> rules.OrderFacts:
    order, company, products = change.order, change.company, change.products
    problems = list(address_errors(Address(**{k: getattr(order, f"ship_to_{k}") for k in SHIP_TO}), "ship_to"))
    problems += [rules.missing_tax_reason(i, order.lines[i].tax_class, order.ship_to_country, order.ship_to_region)
                 for i in missing_tax]
    duplicate_of = None
    if order.po_number:
        stmt = select(Order.id).where(
            Order.company_id == company.id, Order.customer_id == order.customer_id,
            Order.po_number == order.po_number, Order.status.in_(sorted(rules.LIVE)),
        ).limit(1)
        if order.id is not None:
            stmt = stmt.where(Order.id != order.id)
        other = change.session.scalar(stmt)
        duplicate_of = f"SO{other:08d}" if other else None
    released = {h.kind for h in order.holds if not h.active and h.released_by is not None and not h.superseded}
    return rules.OrderFacts(
        lines=[
            rules.LineFacts(
                index=i, sku=li.sku, active=products[li.product_id].active, quantity=li.quantity, uom=li.uom,
                uom_decimals=products[li.product_id].uom_decimals,
                order_multiple=products[li.product_id].order_multiple, list_price=li.list_price,
                given_price=li.unit_price if li.price_overridden else None, override_reason=li.override_reason,
            )
            for i, li in enumerate(order.lines)
        ],
        address_errors=problems,
        duplicate_of=duplicate_of,
        duplicate_accepted=rules.HOLD_DUPLICATE in released,
        requested_date=order.requested_date,
        today=clock.today_in(company.timezone),
        threshold_pct=company.price_override_threshold_pct,
        subtotal=order.subtotal - order.discount_total + order.order_discount,
        order_discount=order.order_discount,
        order_discount_reason=order.order_discount_reason,
        pricing_approved=rules.HOLD_PRICING in released,
    )


def _sync_holds(change: _Change, found: rules.HoldReasons) -> None:
    """One active hold per kind with the current reasons; a hold whose reasons are gone is released.
    Gate holds placed or cleared here are noted on the change, for their queues (see finish)."""
    order = change.order
    now = clock.now()
    active = {h.kind: h for h in order.holds if h.active}
    gate_kinds = gates.kinds()
    for kind, reasons in found.by_kind.items():
        if not reasons:
            continue
        payload = [e.as_dict() for e in reasons]
        if kind in active:
            active[kind].reasons = payload
        else:
            hold = OrderHold(kind=kind, reasons=payload, active=True, created_at=now, superseded=False)
            order.holds.append(hold)
            if kind in gate_kinds:
                change.opened.append(hold)
    for kind, hold in active.items():
        if not found.by_kind.get(kind):
            hold.active = False
            hold.released_at = now
            hold.release_reason = "corrected: the order passes this check now"
            if kind in gate_kinds:
                change.closed.append((kind, hold.release_reason))


def _reserve_lines(change: _Change, lines: list[OrderLine]) -> None:
    """Reserve what `lines` still lack (one locked step in inventory) and note it on the lines."""
    order = change.order
    index = {id(li): i for i, li in enumerate(order.lines)}
    # what has shipped already is neither reserved nor owed
    needs = [Need(index[id(li)], li.product_id, li.quantity - li.shipped_qty - li.reserved_qty)
             for li in lines if li.quantity > li.shipped_qty + li.reserved_qty]
    plan = inventory.reserve(change.session, change.company.id, needs, change.account.ship_complete)
    for t in plan.takes:
        line = order.lines[t.line_id]
        line.reserved_qty += t.quantity
        change.takes.append((line, t))
    for li in order.lines:
        li.backordered_qty = li.quantity - li.shipped_qty - li.reserved_qty


def _reservation_data(lines: list[OrderLine], account: CustomerAccount) -> dict:
    return {
        "reserved": {li.line_no: plain(li.reserved_qty) for li in lines},
        "backordered": {li.line_no: plain(li.backordered_qty) for li in lines if li.backordered_qty},
        "ship_preference": "ship_complete" if account.ship_complete else "ship_partial",
    }


def _reserve(change: _Change, action: str) -> None:
    order = change.order
    _reserve_lines(change, order.lines)
    order.confirmed_at = order.confirmed_at or clock.now()
    order.expected_date = max(
        order.requested_date or order.order_date, order.order_date + timedelta(days=change.company.default_lead_days)
    )
    complete = all(li.backordered_qty == 0 for li in order.lines)
    change.move(rules.CONFIRMED if complete else rules.BACKORDERED, action, None,
                _reservation_data(order.lines, change.account))


def _rereserve_lines(change: _Change, line_nos: set[int], action: str, reason: str | None) -> None:
    """A confirmed order had lines changed: give back those lines' stock and reserve them again
    (all lines for a ship-complete customer, whose order reserves all or nothing)."""
    order = change.order
    changed = [li for li in order.lines if change.account.ship_complete or li.line_no in line_nos]
    inventory.release(change.session, order.id, [li.id for li in changed])
    for li in changed:
        li.reserved_qty = ZERO
    _reserve_lines(change, changed)
    to = rules.CONFIRMED if all(li.backordered_qty == 0 for li in order.lines) else rules.BACKORDERED
    # the timeline notes what this change reserved: the changed lines, not the whole order again
    data = _reservation_data(changed, change.account) | {"lines_changed": sorted(line_nos)}
    if to == order.status:
        change.note(action, reason, data)
    else:
        change.move(to, action, reason, data)


def _load_for_change(session: Session, actor: Actor, company_id: int, order_id: int, *,
                     permission: str | None = "orders.write") -> _Change:
    if permission:
        require(actor, permission)
    order = get_order(session, actor, company_id, order_id, lock=True)
    company = _company(session, company_id)
    _, account = customers.load(session, company_id, order.customer_id)
    products = CACHE.many(session, company, "product_id", [li.product_id for li in order.lines],
                          lambda ids: detach(session, _products_by_id(session, ids)))
    return _Change(session, actor, company, account, order, products)


def update(session: Session, actor: Actor, company_id: int, order_id: int, patch: OrderPatch) -> Order:
    """Correct an order that is held or not yet confirmed, then check it again."""
    change = _load_for_change(session, actor, company_id, order_id)
    order = change.order
    if order.status not in rules.EDITABLE:
        raise Conflict(
            f"order {order.number} is {order.status}; only held or validated orders can be corrected "
            "(change a line of a confirmed order with PATCH /orders/{id}/lines/{line_no})",
            current_status=order.status,
        )
    changes = patch.model_dump(exclude_unset=True)
    _require_price_override(actor, _overrides(patch.lines, changes.get("order_discount")))
    reason = changes.pop("reason", None)
    if "po_number" in changes:
        order.po_number = changes.pop("po_number")
        _supersede(order, rules.HOLD_DUPLICATE)
    if "ship_to" in changes:
        ship_to = changes.pop("ship_to") or {}
        for k in SHIP_TO:
            setattr(order, f"ship_to_{k}", ship_to.get(k))
    for k in ("requested_date", "notes", "order_discount", "order_discount_reason"):
        if k in changes:
            value = changes.pop(k)
            if k == "order_discount":
                value = round_money(value or ZERO, order.currency)
            setattr(order, k, value)
            if k.startswith("order_discount"):
                _supersede(order, rules.HOLD_PRICING)
    if patch.lines is not None:
        by_sku = _products_for(session, change.company, patch.lines)
        _apply_lines(order, patch.lines, by_sku)
        change.products = {p.id: p for p in by_sku.values()}
        _supersede(order, rules.HOLD_PRICING)
    order.version += 1
    _evaluate(change, action="corrected", reason=reason)
    return change.finish()


def edit_line(session: Session, actor: Actor, company_id: int, order_id: int, line_no: int, patch: LinePatch) -> Order:
    """Change one line (quantity, price, discount): re-price, re-check, and re-reserve just that line."""
    change = _load_for_change(session, actor, company_id, order_id)
    order = change.order
    if order.status not in rules.EDITABLE | {rules.CONFIRMED, rules.BACKORDERED}:
        raise Conflict(f"order {order.number} is {order.status}; its lines cannot change", current_status=order.status)
    _refuse_if_in_fulfilment(session, order)
    line = next((li for li in order.lines if li.line_no == line_no), None)
    if line is None:
        raise NotFound(f"order {order.number} has no line {line_no}")
    changes = patch.model_dump(exclude_unset=True)
    _require_price_override(actor, [k for k in ("unit_price", "discount_pct") if changes.get(k) is not None])
    reason = changes.pop("reason", None)
    if not changes:
        raise ValidationFailed.one("quantity", "required", "give at least one of quantity, unit_price, discount_pct")
    if "quantity" in changes:
        line.quantity = changes["quantity"]
    if "unit_price" in changes:
        line.price_overridden = changes["unit_price"] is not None
        line.unit_price = changes["unit_price"] if changes["unit_price"] is not None else ZERO
        _supersede(order, rules.HOLD_PRICING)
    if "override_reason" in changes:
        line.override_reason = changes["override_reason"]
    if "discount_pct" in changes:
        line.discount_pct = changes["discount_pct"] if changes["discount_pct"] is not None else STANDING
    order.version += 1
    _evaluate(change, action="line_changed", reason=reason, changed_line_nos={line_no})
    return change.finish()


def _products_by_id(session: Session, ids: list[int]) -> dict[int, Product]:
    return {p.id: p for p in session.scalars(select(Product).where(Product.id.in_(sorted(set(ids)))))}


def _supersede(order: Order, kind: str) -> None:
    for h in order.holds:
        if h.kind == kind and not h.active:
            h.superseded = True


def confirm(session: Session, actor: Actor, company_id: int, order_id: int) -> Order:
    """Reserve stock for a validated order, or try again for what a backordered order still lacks."""
    change = _load_for_change(session, actor, company_id, order_id)
    if change.order.status not in (rules.VALIDATED, rules.BACKORDERED):
        rules.check_transition(change.order.status, rules.CONFIRMED)
    _reserve(change, "confirmed")
    return change.finish()


def record_shipment(session: Session, actor: Actor, company_id: int, order_id: int, shipment_number: str,
                    lines: dict[int, tuple[Decimal, Decimal]]) -> Order:
    """A shipment left: per order line id, (quantity it had reserved, quantity that shipped). What did not
    ship (a short pick) is backordered and reserved again where stock allows."""
    change = _load_for_change(session, actor, company_id, order_id, permission=None)
    order = change.order
    short_lines = []
    for li in order.lines:
        if li.id in lines:
            planned, shipped = lines[li.id]
            li.reserved_qty -= planned
            li.shipped_qty += shipped
            if shipped < planned:
                li.backordered_qty += planned - shipped
                short_lines.append(li)
    if short_lines:  # all or nothing for a ship-complete customer, as _reserve_lines does
        _reserve_lines(change, short_lines)
    if all(li.shipped_qty >= li.quantity for li in order.lines):
        order.shipment_state = "shipped"
    else:
        order.shipment_state = "partial" if any(li.shipped_qty for li in order.lines) else "none"
    order.updated_at = clock.now()
    order.version += 1
    data = {"shipment": shipment_number, "shipment_state": order.shipment_state,
            "shipped": {li.line_no: plain(li.shipped_qty) for li in order.lines if li.id in lines},
            **({"backordered": {li.line_no: plain(li.backordered_qty) for li in order.lines if li.backordered_qty}}
               if any(li.backordered_qty for li in order.lines) else {})}
    to = rules.BACKORDERED if any(li.backordered_qty for li in order.lines) else rules.CONFIRMED
    if to == order.status:
        change.note("shipped", None, data)
    else:
        change.move(to, "shipped", "short pick: the rest is backordered" if to == rules.BACKORDERED else None, data)
    return change.finish()


def record_delivery(session: Session, actor: Actor, company_id: int, order_id: int, all_delivered: bool) -> None:
    """Delivery completes the order's fulfilment once everything ordered has shipped and arrived."""
    order = session.get(Order, order_id)
    if all_delivered and order.shipment_state == "shipped":
        order.shipment_state = "delivered"
        order.updated_at = clock.now()
        audit.record(session, actor, "order", order.id, "delivered", company_id=company_id,
                     data={"shipment_state": "delivered"})


def _refuse_if_in_fulfilment(session: Session, order: Order) -> None:
    """Once goods are in a wave or shipped, the order's lines belong to the warehouse and the carrier."""
    from o2c.fulfillment import service as fulfillment  # fulfilment builds on orders, not the reverse

    open_ = fulfillment.open_shipment_numbers(session, order.id)
    if open_ or order.shipment_state != "none":
        raise Conflict(
            f"order {order.number} is in the warehouse ({', '.join(open_) or 'shipped'}); cancel its open "
            "shipments first, and what has shipped comes back as a return",
            shipment_state=order.shipment_state, open_shipments=open_)


def _waiting(company_id: int, product_ids: set[int]):
    return (select(Order.id)
            .where(Order.company_id == company_id, Order.status == rules.BACKORDERED,
                   Order.id.in_(select(OrderLine.order_id).where(OrderLine.product_id.in_(sorted(product_ids)),
                                                                  OrderLine.backordered_qty > 0))))


def lock_waiting(session: Session, company_id: int, product_ids: set[int]) -> None:
    """Lock, in id order, the backordered orders waiting for these products (before their stock rows)."""
    if product_ids:
        session.execute(_waiting(company_id, product_ids).order_by(Order.id).with_for_update())


def allocate_backorders(session: Session, actor: Actor, company_id: int, product_ids: set[int]) -> list[Order]:
    """Stock of `product_ids` arrived: give it to the orders waiting for it, highest priority first,
    then oldest order date, then first entered. Each order reserves what it still lacks (all or nothing
    for a ship-complete customer) and moves to confirmed once complete. Returns the orders that got stock."""
    waiting = session.scalars(_waiting(company_id, product_ids)
                              .order_by(Order.priority.desc(), Order.order_date, Order.id)).all()
    served = []
    for order_id in waiting:
        change = _load_for_change(session, actor, company_id, order_id, permission=None)
        if change.order.status != rules.BACKORDERED:
            continue  # cancelled, held or served while we waited for its lock: it waits for nothing now
        before = sum((li.reserved_qty for li in change.order.lines), ZERO)
        _reserve(change, "backorder_allocated")
        if sum((li.reserved_qty for li in change.order.lines), ZERO) > before:
            served.append(change.finish())
        else:
            change.records.clear()  # nothing arrived for this one: no timeline entry
    return served


def cancel(session: Session, actor: Actor, company_id: int, order_id: int, reason: str) -> Order:
    change = _load_for_change(session, actor, company_id, order_id)
    order = change.order
    rules.check_transition(order.status, rules.CANCELLED)
    _refuse_if_in_fulfilment(session, order)
    released = inventory.release(session, order.id)
    for li in order.lines:
        li.reserved_qty = ZERO
        li.backordered_qty = ZERO
    now = clock.now()
    for h in order.holds:
        if h.active:
            h.active, h.released_at, h.release_reason = False, now, "order cancelled"
            if h.kind in gates.kinds():
                change.closed.append((h.kind, "order cancelled"))
    order.updated_at = now
    order.version += 1
    change.move(rules.CANCELLED, "cancelled", reason, {"released_qty": plain(released)})
    return change.finish()


def release_hold(session: Session, actor: Actor, company_id: int, order_id: int, hold_id: int, reason: str) -> Order:
    """A person decides a hold: pricing holds need a pricing approver who did not enter the order."""
    change = _load_for_change(session, actor, company_id, order_id, permission=None)
    order = change.order
    hold = next((h for h in order.holds if h.id == hold_id), None)
    if hold is None:
        raise NotFound(f"order {order.number} has no hold {hold_id}")
    if not hold.active:
        raise Conflict(f"hold {hold_id} was released already", hold_id=hold_id)
    if hold.kind == rules.HOLD_PRICING:
        require(actor, "holds.release_pricing")
        sod.check(session, actor, "approve_price", "enter_order", [order.entered_by])
    elif hold.kind == rules.HOLD_DUPLICATE:
        require(actor, "holds.release")
    elif hold.kind in gates.kinds():
        raise Conflict(
            f"a {hold.kind} hold is decided in its own queue ({_GATE_QUEUES.get(hold.kind, hold.kind)})",
            hold_id=hold.id, kind=hold.kind,
        )
    else:
        raise Conflict(
            "a validation hold clears when the order is corrected; fix the fields it names",
            errors=[], reasons=hold.reasons,
        )
    now = clock.now()
    hold.active, hold.released_at, hold.released_by, hold.release_reason = False, now, actor.user_id, reason
    change.note(f"{hold.kind}_hold_released", reason, {"hold_id": hold.id})
    _evaluate(change, action="rechecked")
    return change.finish()


# ---------------------------------------------------------------- gate holds (decided in their areas' queues)

_GATE_QUEUES = {
    "customer": "the customer must be active: /customers/{id}/activate",
    "compliance": "a compliance officer decides the screening hit: /screening/hits",
    "credit": "credit approves or rejects it: /approvals",
    "fraud": "a fraud analyst reviews it: /fraud-reviews",
}


def _active_gate_hold(order: Order, kind: str) -> OrderHold:
    if order.status == rules.CANCELLED:
        raise Conflict(f"order {order.number} was cancelled; there is nothing left to decide",
                       current_status=order.status)
    hold = next((h for h in order.holds if h.active and h.kind == kind), None)
    if hold is None:
        raise Conflict(f"order {order.number} has no {kind} hold waiting", current_status=order.status, kind=kind)
    return hold


def release_gate_hold(session: Session, actor: Actor, company_id: int, order_id: int, kind: str, reason: str,
                      data: dict | None = None) -> Order:
    """A person of the gate's area approved its hold: release it and check the order again (it moves on
    unless another hold remains). The caller checked the person's right to decide (permission, SoD)."""
    change = _load_for_change(session, actor, company_id, order_id, permission=None)
    order = change.order
    hold = _active_gate_hold(order, kind)
    now = clock.now()
    hold.active, hold.released_at, hold.released_by, hold.release_reason = False, now, actor.user_id, reason
    change.note(f"{kind}_hold_released", reason, {"hold_id": hold.id, **(data or {})})
    order.version += 1
    _evaluate(change, action="rechecked")
    return change.finish()


def reject_gate_hold(session: Session, actor: Actor, company_id: int, order_id: int, kind: str, reason: str,
                     data: dict | None = None) -> Order:
    """A person of the gate's area rejected its hold: the order is cancelled with that reason."""
    change = _load_for_change(session, actor, company_id, order_id, permission=None)
    order = change.order
    hold = _active_gate_hold(order, kind)
    _refuse_if_in_fulfilment(session, order)
    now = clock.now()
    for h in order.holds:
        if h.active:
            h.active, h.released_at, h.release_reason = False, now, f"{kind} rejected: {reason}"
            if h.kind != kind and h.kind in gates.kinds():
                change.closed.append((h.kind, "order cancelled"))
    hold.released_by = actor.user_id
    released = inventory.release(session, order.id)
    for li in order.lines:
        li.reserved_qty = li.backordered_qty = ZERO
    order.updated_at = now
    order.version += 1
    change.move(rules.CANCELLED, f"{kind}_rejected", reason, {"hold_id": hold.id, "released_qty": plain(released),
                                                             **(data or {})})
    return change.finish()


def recheck(session: Session, actor: Actor, company_id: int, order_id: int, reason: str) -> Order:
    """Check an order's gates again after something they read changed. A held order whose reasons are
    gone moves on. A live order not yet in the warehouse that a gate now holds (the customer was
    blocked, a screening hit opened) goes on hold and gives back its stock. Orders in the warehouse
    are left to it."""
    from o2c.fulfillment import service as fulfillment  # fulfilment builds on orders, not the reverse

    change = _load_for_change(session, actor, company_id, order_id, permission=None)
    order = change.order
    if order.status not in rules.LIVE:
        return order
    if order.status != rules.HELD:
        if fulfillment.open_shipment_numbers(session, order.id):
            return order
        ctx = gates.GateContext(session, actor, change.company, change.account, order, released=_released(order))
        if not gates.check(ctx):
            return order
    _evaluate(change, action="rechecked", reason=reason)
    return change.finish()


def recheck_customer(session: Session, actor: Actor, customer_id: int, reason: str) -> list[Order]:
    """Check again every live order of the customer, in every company, in id order (see recheck)."""
    rows = session.execute(select(Order.id, Order.company_id)
                           .where(Order.customer_id == customer_id, Order.status.in_(sorted(rules.LIVE)))
                           .order_by(Order.id)).all()
    return [recheck(session, actor, company_id, oid, reason) for oid, company_id in rows]


def held_order_ids(session: Session, company_id: int, customer_id: int, kinds: set[str]) -> list[int]:
    """The customer's held orders in the company with an active hold of one of `kinds`, in id order."""
    return list(session.scalars(
        select(Order.id).where(Order.company_id == company_id, Order.customer_id == customer_id,
                               Order.status == rules.HELD,
                               Order.id.in_(select(OrderHold.order_id).where(OrderHold.kind.in_(sorted(kinds)),
                                                                            OrderHold.active.is_(True))))
        .order_by(Order.id)))
