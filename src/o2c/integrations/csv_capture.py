"""Capturing many orders in one transaction, with the decisions of `o2c.orders.service.capture`.

Capturing one order at a time through the service costs about eight queries per order. A bulk import
needs fewer round trips, so this module captures a batch of orders (`OrderIn`, the API's input) at
once: it loads the reference data of the whole batch in one query per kind (customers and their
accounts, products, price breaks, tax rates, live orders with the same PO numbers), decides every
order with the same pure rules the service uses (catalog.rules for prices and tax, orders.rules for
holds, inventory.rules for reservations), locks the stock rows of the batch's products once, in
(product, warehouse) order, reserves order after order against the running availability, and writes
with multi-row statements (COPY on PostgreSQL): orders, lines, holds, reservations, timeline (audit)
records and outbox events, then one UPDATE for all touched stock rows.

An order is refused, with API-style field errors, for exactly what `capture` refuses (unknown customer
or SKU, a currency that is not the customer's, an inactive customer account, another customer for a
portal user); anything else is captured, held with its reasons or validated and confirmed, and
leaves the same rows as `capture` would, in the same order.

Kept in step with orders/service.py by tests/integrations/test_csv_import.py, which imports a file and
compares every row with the same orders captured through the API.
"""
from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, timedelta
from decimal import Decimal

from sqlalchemy import JSON, Table, bindparam, func, insert, or_, select, text, update
from sqlalchemy.orm import Session

from o2c.catalog.models import PriceList, PriceListItem, Product, TaxRate
from o2c.catalog.rules import LineInput, TaxRateRow, price_lines, tax_rate_for, totals, unit_price_for
from o2c.core import clock
from o2c.core.auth import Actor, require
from o2c.core.errors import FieldError, NotFound
from o2c.core.models import AuditRecord, Company, OutboxEvent
from o2c.core.money import round_money
from o2c.customers.models import Customer, CustomerAccount, CustomerAddress
from o2c.customers.rules import Address, address_errors
from o2c.inventory.models import Reservation, Stock, Warehouse
from o2c.inventory.rules import Need, plan_reservation
from o2c.orders import rules
from o2c.orders.models import Order, OrderHold, OrderLine
from o2c.orders.schemas import OrderIn

ZERO = Decimal(0)
SHIP_TO = ("name", "line1", "line2", "city", "region", "postal_code", "country")


@dataclass(frozen=True)
class Captured:
    order_id: int
    number: str
    status: str


@dataclass(frozen=True)
class Refused:
    errors: list[FieldError]


@dataclass(frozen=True)
class _Account:
    customer_id: int
    code: str
    currency: str
    ship_complete: bool
    tax_exempt: bool
    discount_pct: Decimal
    active: bool


@dataclass(frozen=True)
class _Product:
    id: int
    sku: str
    name: str
    uom: str
    uom_decimals: int
    order_multiple: Decimal | None
    tax_class: str
    active: bool


@dataclass
class _Work:
    """One accepted order while it is decided: its rows as they will be written."""

    index: int
    data: OrderIn
    account: _Account
    order: dict
    lines: list[dict]
    holds: list[dict] = field(default_factory=list)
    audit: list[dict] = field(default_factory=list)
    events: list[dict] = field(default_factory=list)
    reservations: list[dict] = field(default_factory=list)


def capture_batch(session: Session, actor: Actor, company_id: int, orders: Sequence[OrderIn]) -> list[Captured | Refused]:
    """Capture `orders` in the caller's transaction; one outcome per order, in the same order."""
    require(actor, "orders.write")
    company = session.get(Company, company_id)
    if company is None:
        raise NotFound(f"company {company_id} not found")
    accounts = _accounts(session, company_id, orders)
    products = _products(session, company_id, {li.sku for o in orders for li in o.lines})

    outcomes: list[Captured | Refused | None] = [None] * len(orders)
    accepted: list[tuple[int, OrderIn, _Account]] = []
    for i, data in enumerate(orders):
        errors: list[FieldError] = []
        acc = accounts.get(("code", data.customer_code) if data.customer_code is not None else ("id", data.customer_id))
        if acc is None:
            if data.customer_code is not None:
                errors.append(FieldError("customer_code", "unknown", f"no customer with code {data.customer_code!r}"))
            else:
                errors.append(FieldError("customer_id", "unknown", f"no customer {data.customer_id} in this company"))
        elif actor.customer_id is not None and actor.customer_id != acc.customer_id:
            errors.append(FieldError("customer_code", "forbidden", "a portal user orders for their own company only"))
        else:
            if not acc.active:
                errors.append(FieldError("customer_id", "inactive", f"customer {acc.code} is not active"))
            if data.currency is not None and data.currency != acc.currency:
                errors.append(FieldError(
                    "currency", "mismatch", f"customer {acc.code} buys in {acc.currency}, not {data.currency}"))
        for n, li in enumerate(data.lines):
            if li.sku not in products:
                errors.append(FieldError(f"lines[{n}].sku", "unknown", f"no product with SKU {li.sku!r}"))
        if errors:
            outcomes[i] = Refused(errors)
        else:
            accepted.append((i, data, acc))
    if not accepted:
        return outcomes  # type: ignore[return-value]

    today = clock.today_in(company.timezone)
    defaults = _default_addresses(session, {acc.customer_id for _, d, acc in accepted if d.ship_to is None})
    used = {products[li.sku].id for _, d, _ in accepted for li in d.lines}
    breaks = _price_breaks(session, company_id, {(a.customer_id, a.currency) for _, _, a in accepted}, used, today)
    ship_tos = [d.ship_to.model_dump() if d.ship_to else defaults.get(a.customer_id, {}) for _, d, a in accepted]
    taxes = _tax_rows(session, company_id, {s.get("country") for s in ship_tos if s.get("country")})
    live_pos = _live_pos(session, company_id, {(a.customer_id, d.po_number) for _, d, a in accepted if d.po_number})
    order_ids = _next_ids(session, Order.__table__, len(accepted))
    line_ids = iter(_next_ids(session, OrderLine.__table__, sum(len(d.lines) for _, d, _ in accepted)))

    works: list[_Work] = []
    for (i, data, acc), ship_to, oid in zip(accepted, ship_tos, order_ids):
        w = _decide(actor, company, i, acc, data, ship_to, oid, line_ids, products, breaks, taxes, live_pos, today)
        works.append(w)
        if data.po_number:
            live_pos.setdefault((acc.customer_id, data.po_number), oid)

    touched = _reserve_all(session, actor, company, [w for w in works if w.order["status"] == rules.VALIDATED
                                              and w.order["auto_confirm"]])
    _write(session, works, touched)
    for w in works:
        outcomes[w.index] = Captured(w.order["id"], _number(w.order["id"]), w.order["status"])
    return outcomes  # type: ignore[return-value]


def _number(order_id: int) -> str:
    return f"SO{order_id:08d}"


# ---------------------------------------------------------------- reference data, one query per kind

def _accounts(session: Session, company_id: int, orders: Sequence[OrderIn]) -> dict[tuple, _Account]:
    codes = sorted({o.customer_code for o in orders if o.customer_code is not None})
    ids = sorted({o.customer_id for o in orders if o.customer_id is not None})
    if not codes and not ids:
        return {}
    c, a = Customer.__table__, CustomerAccount.__table__
    conds = []
    if codes:
        conds.append(c.c.code.in_(codes))
    if ids:
        conds.append(c.c.id.in_(ids))
    rows = session.execute(
        select(c.c.id, c.c.code, a.c.currency, a.c.ship_complete, a.c.tax_exempt, a.c.discount_pct, a.c.active)
        .join(a, a.c.customer_id == c.c.id)
        .where(a.c.company_id == company_id, or_(*conds))
    )
    out: dict[tuple, _Account] = {}
    for r in rows:
        acc = _Account(r.id, r.code, r.currency, r.ship_complete, r.tax_exempt, r.discount_pct, r.active)
        out[("code", r.code)] = out[("id", r.id)] = acc
    return out


def _products(session: Session, company_id: int, skus: set[str]) -> dict[str, _Product]:
    if not skus:
        return {}
    p = Product.__table__
    rows = session.execute(
        select(p.c.id, p.c.sku, p.c.name, p.c.uom, p.c.uom_decimals, p.c.order_multiple, p.c.tax_class, p.c.active)
        .where(p.c.company_id == company_id, p.c.sku.in_(sorted(skus)))
    )
    return {r.sku: _Product(*r) for r in rows}


def _default_addresses(session: Session, customer_ids: set[int]) -> dict[int, dict]:
    """Per customer, the address `capture` defaults to: shipping before billing, default first, oldest."""
    if not customer_ids:
        return {}
    t = CustomerAddress.__table__
    best: dict[int, tuple] = {}
    for r in session.execute(select(t).where(t.c.customer_id.in_(sorted(customer_ids)))):
        key = (r.kind != "shipping", not r.is_default, r.id)
        if r.customer_id not in best or key < best[r.customer_id][0]:
            best[r.customer_id] = (key, {k: getattr(r, k) for k in SHIP_TO})
    return {cid: v[1] for cid, v in best.items()}


def _price_breaks(session: Session, company_id: int, customers: set[tuple[int, str]], product_ids: set[int],
                  on: date) -> dict[tuple[int, int], list[tuple[Decimal, Decimal]]]:
    """(customer, product) -> quantity breaks, chosen as catalog.service.price_breaks chooses them: the
    customer's own list where it prices the product, the general list of their currency otherwise."""
    if not customers or not product_ids:
        return {}
    currencies = sorted({cur for _, cur in customers})
    cids = sorted({cid for cid, _ in customers})
    pl, item = PriceList.__table__, PriceListItem.__table__
    rows = session.execute(
        select(item.c.product_id, item.c.min_qty, item.c.unit_price, pl.c.customer_id, pl.c.currency)
        .join(pl, pl.c.id == item.c.price_list_id)
        .where(
            pl.c.company_id == company_id, pl.c.currency.in_(currencies), pl.c.active.is_(True),
            or_(pl.c.customer_id.is_(None), pl.c.customer_id.in_(cids)),
            or_(pl.c.valid_from.is_(None), pl.c.valid_from <= on),
            or_(pl.c.valid_to.is_(None), pl.c.valid_to >= on),
            item.c.product_id.in_(sorted(product_ids)),
        )
    )
    general: dict[tuple[str, int], list] = defaultdict(list)
    own: dict[tuple[int, str, int], list] = defaultdict(list)
    for pid, min_qty, price, cust, cur in rows:
        if cust is None:
            general[(cur, pid)].append((min_qty, price))
        else:
            own[(cust, cur, pid)].append((min_qty, price))
    out = {}
    for cid, cur in customers:
        for pid in product_ids:
            found = own.get((cid, cur, pid)) or general.get((cur, pid))
            if found:
                out[(cid, pid)] = found
    return out


def _tax_rows(session: Session, company_id: int, countries: set[str]) -> dict[str, list[TaxRateRow]]:
    if not countries:
        return {}
    t = TaxRate.__table__
    out: dict[str, list[TaxRateRow]] = defaultdict(list)
    for r in session.execute(select(t).where(t.c.company_id == company_id, t.c.country.in_(sorted(countries)))):
        out[r.country].append(TaxRateRow(r.country, r.region, r.tax_class, r.rate_pct, r.valid_from))
    return out


def _live_pos(session: Session, company_id: int, pairs: set[tuple[int, str]]) -> dict[tuple[int, str], int]:
    """(customer, PO number) -> the first live order carrying it, for the duplicate check."""
    if not pairs:
        return {}
    o = Order.__table__
    rows = session.execute(
        select(o.c.customer_id, o.c.po_number, func.min(o.c.id))
        .where(o.c.company_id == company_id, o.c.po_number.in_(sorted({po for _, po in pairs})),
               o.c.customer_id.in_(sorted({c for c, _ in pairs})), o.c.status.in_(sorted(rules.LIVE)))
        .group_by(o.c.customer_id, o.c.po_number)
    )
    return {(c, po): oid for c, po, oid in rows if (c, po) in pairs}


def _next_ids(session: Session, table: Table, n: int) -> list[int]:
    """Ids for `n` new rows, taken before the rows are written so every row can name its order."""
    if n == 0:
        return []
    if session.get_bind().dialect.name == "postgresql":
        rows = session.execute(
            text("SELECT nextval(pg_get_serial_sequence(:t, 'id')) FROM generate_series(1, :n)"),
            {"t": table.name, "n": n},
        )
        return sorted(r[0] for r in rows)
    # SQLite: the write transaction began with BEGIN IMMEDIATE, so nobody else can insert meanwhile.
    top = session.execute(select(func.coalesce(func.max(table.c.id), 0))).scalar_one()
    return list(range(top + 1, top + 1 + n))


# ---------------------------------------------------------------- deciding, as capture does

def _decide(actor: Actor, company: Company, index: int, acc: _Account, data: OrderIn, ship_to: dict, oid: int, line_ids,
            products: dict[str, _Product], breaks, taxes, live_pos, today: date) -> _Work:
    now = clock.now()
    currency = acc.currency
    order_discount = round_money(data.order_discount, currency)
    country, region = ship_to.get("country"), ship_to.get("region")
    tax_rows = taxes.get(country, ()) if country else ()
    lines, inputs, line_facts, missing_tax = [], [], [], []
    for i, li in enumerate(data.lines):
        p = products[li.sku]
        list_price = unit_price_for(breaks.get((acc.customer_id, p.id), ()), li.quantity)
        overridden = li.unit_price is not None
        unit_price = li.unit_price if overridden else (list_price if list_price is not None else ZERO)
        discount_pct = li.discount_pct if li.discount_pct is not None else acc.discount_pct
        rate = None if acc.tax_exempt else tax_rate_for(tax_rows, country, region, p.tax_class, today)
        if rate is None and not acc.tax_exempt:
            missing_tax.append(i)
        rate_pct = rate.rate_pct if rate else ZERO
        inputs.append(LineInput(li.quantity, unit_price, discount_pct, rate_pct))
        lines.append({
            "id": next(line_ids), "order_id": oid, "line_no": i + 1, "product_id": p.id, "sku": li.sku,
            "description": p.name, "quantity": li.quantity, "uom": p.uom, "list_price": list_price,
            "unit_price": unit_price, "price_overridden": overridden, "override_reason": li.override_reason,
            "discount_pct": discount_pct, "tax_class": p.tax_class, "tax_rate_pct": rate_pct,
            "reserved_qty": ZERO, "backordered_qty": ZERO,
        })
        line_facts.append(rules.LineFacts(
            index=i, sku=li.sku, active=p.active, quantity=li.quantity, uom=p.uom, uom_decimals=p.uom_decimals,
            order_multiple=p.order_multiple, list_price=list_price, given_price=unit_price if overridden else None,
            override_reason=li.override_reason,
        ))
    amounts = price_lines(inputs, currency, order_discount)
    for line, a in zip(lines, amounts):
        line.update(gross_amount=a.gross, discount_amount=a.discount, net_amount=a.net, tax_amount=a.tax)
    t = totals(amounts)

    addr_errors = list(address_errors(Address(**{k: ship_to.get(k) for k in SHIP_TO}), "ship_to"))
    for i in missing_tax:
        addr_errors.append(FieldError(
            f"lines[{i}].tax_class", "no_tax_rate",
            f"no {lines[i]['tax_class']} tax rate for {country or 'the ship-to country'}"
            f"{' / ' + region if region else ''}"))
    other = live_pos.get((acc.customer_id, data.po_number)) if data.po_number else None
    found = rules.hold_reasons(rules.OrderFacts(
        lines=line_facts, address_errors=addr_errors, duplicate_of=_number(other) if other else None,
        duplicate_accepted=False, requested_date=data.requested_date, today=today,
        threshold_pct=company.price_override_threshold_pct,
        subtotal=t.subtotal - t.discount + order_discount, order_discount=order_discount,
        order_discount_reason=data.order_discount_reason, pricing_approved=False,
    ))
    order = {
        "id": oid, "company_id": company.id, "customer_id": acc.customer_id, "channel": data.channel,
        "po_number": data.po_number, "currency": currency, "status": None,
        **{f"ship_to_{k}": ship_to.get(k) for k in SHIP_TO},
        "requested_date": data.requested_date, "expected_date": None, "order_date": today, "notes": data.notes,
        "subtotal": t.subtotal, "discount_total": t.discount, "tax_total": t.tax, "total": t.total,
        "needed_correction": bool(found.by_kind.get(rules.HOLD_VALIDATION) or found.by_kind.get(rules.HOLD_DUPLICATE)),
        "auto_confirm": data.confirm, "order_discount": order_discount,
        "order_discount_reason": data.order_discount_reason, "entered_by": actor.user_id,
        "created_at": now, "updated_at": now, "confirmed_at": None, "version": 1,
    }
    w = _Work(index, data, acc, order, lines)
    w.holds = [
        {"order_id": oid, "kind": kind, "reasons": [e.as_dict() for e in reasons], "active": True,
         "created_at": now, "released_at": None, "released_by": None, "release_reason": None, "superseded": False}
        for kind, reasons in found.by_kind.items() if reasons
    ]
    if found.clean:
        _move(actor, w, rules.VALIDATED, "captured", None, now)
    else:
        _move(actor, w, rules.HELD, "captured",
              {"holds": {k: [e.as_dict() for e in v] for k, v in found.by_kind.items() if v}}, now)
    return w


def _move(actor: Actor, w: _Work, to: str, action: str, data: dict | None, now) -> None:
    """The status change with its timeline record and its outbox event (orders.service._move)."""
    before = w.order["status"] or "new"
    if before != "new":
        rules.check_transition(before, to)
    w.order["status"] = to
    oid, company_id = w.order["id"], w.order["company_id"]
    w.audit.append({
        "company_id": company_id, "at": now, "actor_id": actor.user_id, "actor": actor.username,
        "entity": "order", "entity_id": oid, "action": action, "from_status": None if before == "new" else before,
        "to_status": to, "reason": None, "data": data,
    })
    w.events.append({
        "company_id": company_id, "topic": f"order.{to}", "entity_id": oid,
        "payload": {"order_id": oid, "number": _number(oid), "from": before, "to": to, "action": action},
        "created_at": now, "available_at": now, "attempts": 0, "last_error": None, "processed_at": None,
    })


def _reserve_all(session: Session, actor: Actor, company: Company, works: list[_Work]) -> dict[int, Decimal]:
    """Lock the stock rows of every product the clean orders need, once, in (product, warehouse) order,
    then reserve order after order against what is still free. Returns stock id -> quantity added."""
    if not works:
        return {}
    product_ids = sorted({li["product_id"] for w in works for li in w.lines})
    s, wh = Stock.__table__, Warehouse.__table__
    rows = session.execute(
        select(s.c.id, s.c.product_id, s.c.warehouse_id, s.c.on_hand, s.c.reserved)
        .join(wh, wh.c.id == s.c.warehouse_id)
        .where(s.c.product_id.in_(product_ids), wh.c.active.is_(True), s.c.company_id == company.id)
        .order_by(s.c.product_id, s.c.warehouse_id)
        .with_for_update(of=s)
    ).all()
    free: dict[tuple[int, int], Decimal] = {}
    stock_id: dict[tuple[int, int], int] = {}
    by_product: dict[int, list[tuple[int, int]]] = defaultdict(list)
    for sid, pid, wid, on_hand, reserved in rows:
        free[(pid, wid)] = on_hand - reserved
        stock_id[(pid, wid)] = sid
        by_product[pid].append((pid, wid))
    added: dict[int, Decimal] = defaultdict(lambda: ZERO)
    lead = timedelta(days=company.default_lead_days)
    for w in works:
        now = clock.now()
        needs = [Need(li["id"], li["product_id"], li["quantity"]) for li in w.lines if li["quantity"] > 0]
        available = {k: free[k] for pid in {n.product_id for n in needs} for k in by_product.get(pid, ())}
        plan = plan_reservation(needs, available, w.account.ship_complete)
        taken: dict[int, Decimal] = defaultdict(lambda: ZERO)
        for t in plan.takes:
            key = (t.product_id, t.warehouse_id)
            free[key] -= t.quantity
            added[stock_id[key]] += t.quantity
            taken[t.line_id] += t.quantity
            w.reservations.append({
                "company_id": company.id, "order_id": w.order["id"], "order_line_id": t.line_id,
                "product_id": t.product_id, "warehouse_id": t.warehouse_id, "quantity": t.quantity,
                "created_at": now,
            })
        for li in w.lines:
            li["reserved_qty"] = taken.get(li["id"], ZERO)
            li["backordered_qty"] = li["quantity"] - li["reserved_qty"]
        o = w.order
        complete = all(li["backordered_qty"] == 0 for li in w.lines)
        o["confirmed_at"] = now
        o["expected_date"] = max(o["requested_date"] or o["order_date"], o["order_date"] + lead)
        data = {
            "reserved": {li["line_no"]: str(li["reserved_qty"].normalize()) for li in w.lines},
            "backordered": {li["line_no"]: str(li["backordered_qty"].normalize())
                            for li in w.lines if li["backordered_qty"]},
            "ship_preference": "ship_complete" if w.account.ship_complete else "ship_partial",
        }
        _move(actor, w, rules.CONFIRMED if complete else rules.BACKORDERED, "confirmed", data, now)
    return dict(added)


# ---------------------------------------------------------------- writing, a few statements per batch

def _write(session: Session, works: list[_Work], stock_added: dict[int, Decimal]) -> None:
    conn = session.connection()
    pg = conn.dialect.name == "postgresql"
    writer = _copy if pg else _insert
    writer(conn, Order.__table__, [w.order for w in works])
    writer(conn, OrderLine.__table__, [li for w in works for li in w.lines])
    writer(conn, OrderHold.__table__, [h for w in works for h in w.holds])
    writer(conn, Reservation.__table__, [r for w in works for r in w.reservations])
    writer(conn, AuditRecord.__table__, [a for w in works for a in w.audit])
    writer(conn, OutboxEvent.__table__, [e for w in works for e in w.events])
    if not stock_added:
        return
    now = clock.now()
    ids = sorted(stock_added)
    if pg:
        with conn.connection.driver_connection.cursor() as cur:
            cur.execute(
                "UPDATE stock AS s SET reserved = s.reserved + d.delta, updated_at = %s "
                "FROM unnest(%s::bigint[], %s::numeric[]) AS d(id, delta) WHERE s.id = d.id",
                (now, ids, [stock_added[i] for i in ids]),
            )
    else:
        s = Stock.__table__
        conn.execute(
            update(s).where(s.c.id == bindparam("sid"))
            .values(reserved=s.c.reserved + bindparam("delta", type_=s.c.reserved.type), updated_at=bindparam("now")),
            [{"sid": i, "delta": stock_added[i], "now": now} for i in ids],
        )


def _insert(conn, table: Table, rows: list[dict]) -> None:
    if rows:
        conn.execute(insert(table), rows)


def _copy(conn, table: Table, rows: list[dict]) -> None:
    """COPY the rows in (PostgreSQL): the fastest way in, in the transaction of the batch."""
    if not rows:
        return
    cols = list(rows[0])
    json_cols = {i for i, c in enumerate(cols) if isinstance(table.c[c].type, JSON)}
    with conn.connection.driver_connection.cursor() as cur:
        with cur.copy(f'COPY {table.name} ({", ".join(cols)}) FROM STDIN') as cp:
            for r in rows:
                values = [r[c] for c in cols]
                for i in json_cols:
                    if values[i] is not None:
                        values[i] = json.dumps(values[i])
                cp.write_row(values)
