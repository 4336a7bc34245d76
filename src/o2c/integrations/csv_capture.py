"""Capturing many orders in one transaction, with the decisions of `o2c.orders.service.capture`.

Capturing one order at a time through the service costs about eight queries per order. A bulk import
needs fewer round trips, so this module captures a batch of orders (`OrderIn`, the API's input) at
once: it loads the reference data of the whole batch in one query per kind (customers and their
accounts, products, price breaks, tax rates, live orders with the same PO numbers), decides every
order with the same pure rules the service uses (orders.rules.price_order for prices and tax,
orders.rules.hold_reasons for holds, inventory.rules.plan_reservation for reservations), locks the stock rows of the batch's products once, in
(product, warehouse) order, reserves order after order against the running availability, and writes
with multi-row statements (COPY on PostgreSQL): orders, lines, holds, reservations, timeline (audit)
records and outbox events, then one UPDATE for all touched stock rows.

An order is refused, with API-style field errors, for exactly what `capture` refuses (unknown customer
or SKU, a currency that is not the customer's, an inactive customer account, another customer for a
portal user, a price or discount from a user without `orders.price_override`, a line amount past
MAX_AMOUNT); anything else is captured, held with its reasons or validated and confirmed, and
leaves the same rows as `capture` would, in the same order.

Kept in step with orders/service.py by tests/integrations/test_csv_import.py, which imports a file and
compares every row with the same orders captured through the API.
"""
from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import date, timedelta
from decimal import Decimal
from types import SimpleNamespace

from sqlalchemy import JSON, String, Table, and_, bindparam, cast, func, insert, or_, select, text, update
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.orm import Session

from o2c.catalog.models import PriceList, PriceListItem, Product, TaxRate
from o2c.catalog.rules import TaxRateRow
from o2c.core import audit, clock
from o2c.core.auth import Actor, require
from o2c.core.errors import FieldError, NotFound
from o2c.core.models import AuditRecord, Company, OutboxEvent
from o2c.core.money import plain, round_money
from o2c.customers.models import Customer, CustomerAccount, CustomerAddress
from o2c.customers.rules import Address, address_errors
from o2c.inventory.models import Reservation, Stock, Warehouse
from o2c.inventory.rules import Need, plan_reservation
from o2c.orders import gates, rules
from o2c.orders.models import Order, OrderHold, OrderLine
from o2c.orders.schemas import OrderIn

ZERO = Decimal(0)
MAX_AMOUNT = rules.MAX_AMOUNT
STAFF_ONLY = "only the company's staff may set this"
SHIP_TO = rules.SHIP_TO


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
    merged_into_id: int | None = None  # a duplicate merged into its golden record: its orders are refused


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


@dataclass
class Prepared:
    """A batch decided and its stock locked and planned: what `write_batch` writes."""

    outcomes: list[Captured | Refused]
    works: list[_Work]
    stock_added: dict[int, Decimal]
    actor: Actor | None = None
    company_id: int | None = None


def capture_batch(session: Session, actor: Actor, company_id: int, orders: Sequence[OrderIn],
                  ref: Reference | None = None) -> list[Captured | Refused]:
    """Capture `orders` in the caller's transaction; one outcome per order, in the same order.
    `ref` keeps master data from batch to batch (see Reference); without it, all is read afresh."""
    prepared = prepare_batch(session, actor, company_id, orders, ref)
    write_batch(session, prepared)
    return prepared.outcomes


def prepare_batch(session: Session, actor: Actor, company_id: int, orders: Sequence[OrderIn],
                  ref: Reference | None = None, own_pos: dict[tuple[int, str], int] | None = None,
                  before_lock: Callable[[], None] | None = None) -> Prepared:
    """Everything but the writing: refuse or decide each order, lock the stock rows and plan the
    reservations. `own_pos` maps (customer, PO) to orders of earlier batches of the same import that
    may not be committed yet (for the duplicate check); it is extended with this batch's orders.
    `before_lock` runs just before the stock rows are locked (the pipeline waits there for the batch
    before to commit, so the lock does not queue behind it)."""
    require(actor, "orders.write")
    ref = ref or Reference(company_id)
    ref.start(session)
    company = ref.company
    accounts = ref.accounts(session, {o.customer_code for o in orders if o.customer_code is not None},
                            {o.customer_id for o in orders if o.customer_id is not None})
    products = ref.products(session, {li.sku for o in orders for li in o.lines})

    outcomes: list[Captured | Refused | None] = [None] * len(orders)
    accepted: list[tuple[int, OrderIn, _Account]] = []
    may_override = actor.can("orders.price_override")
    for i, data in enumerate(orders):
        errors: list[FieldError] = []
        if not may_override:  # prices and discounts other than the customer's are for the company's staff
            errors += [FieldError(f"lines[{n}].{k}", "price_override_not_allowed", STAFF_ONLY)
                       for n, li in enumerate(data.lines) for k in ("unit_price", "discount_pct")
                       if getattr(li, k) is not None]
            if data.order_discount:
                errors.append(FieldError("order_discount", "price_override_not_allowed", STAFF_ONLY))
        by_code = data.customer_id is None
        acc = accounts.get(("code", data.customer_code) if by_code else ("id", data.customer_id))
        field_ = "customer_code" if by_code else "customer_id"
        if acc is None:
            value = repr(data.customer_code) if by_code else data.customer_id
            errors.append(FieldError(field_, "unknown", f"no customer {value} in this company"))
        elif actor.customer_id is not None and actor.customer_id != acc.customer_id:
            errors.append(FieldError(field_, "forbidden", "a portal user orders for their own company only"))
        elif acc.merged_into_id is not None:
            golden = session.scalar(select(Customer.code).where(Customer.id == acc.merged_into_id))
            errors.append(FieldError(field_, "merged", f"customer {acc.code} was merged into customer {golden}: "
                                     "order for that one"))
        else:
            if not acc.active:
                errors.append(FieldError(field_, "inactive", f"customer {acc.code} is not active"))
            if data.currency is not None and data.currency != acc.currency:
                errors.append(FieldError(
                    "currency", "mismatch", f"customer {acc.code} buys in {acc.currency}, not {data.currency}"))
        for n, li in enumerate(data.lines):
            if products.get(li.sku) is None:
                errors.append(FieldError(f"lines[{n}].sku", "unknown", f"no product with SKU {li.sku!r}"))
        if errors:
            outcomes[i] = Refused(errors)
        else:
            accepted.append((i, data, acc))
    if not accepted:
        return Prepared(outcomes, [], {})  # type: ignore[arg-type]

    today = ref.today
    defaults = ref.addresses(session, {acc.customer_id for _, d, acc in accepted if d.ship_to is None})
    ref.breaks(session, {a.customer_id for _, _, a in accepted},
               {products[li.sku].id for _, d, _ in accepted for li in d.lines})
    ship_tos = [d.ship_to.model_dump() if d.ship_to else defaults.get(a.customer_id, {}) for _, d, a in accepted]
    taxes = ref.taxes(session, {s.get("country") for s in ship_tos if s.get("country")})
    priced: list[_Priced] = []
    for (i, data, acc), ship_to in zip(accepted, ship_tos):
        p = _price(i, data, acc, ship_to, products, ref, taxes)
        if isinstance(p, Refused):
            outcomes[i] = p
        else:
            priced.append(p)
    live_pos = _live_pos(session, company_id, {(o.account.customer_id, o.data.po_number)
                                               for o in priced if o.data.po_number})
    if own_pos is not None:  # orders of this import: the earliest wins, as in the database
        for key, oid in live_pos.items():
            if key in own_pos and own_pos[key] < oid:
                live_pos[key] = own_pos[key]
        for o in priced:
            key = (o.account.customer_id, o.data.po_number)
            if o.data.po_number and key in own_pos and key not in live_pos:
                live_pos[key] = own_pos[key]
    gate = _gate(session, actor, company, {o.account.customer_id for o in priced})
    order_ids = _next_ids(session, Order.__table__, len(priced))
    line_ids = iter(_next_ids(session, OrderLine.__table__, sum(len(o.data.lines) for o in priced)))

    works: list[_Work] = []
    for o, oid in zip(priced, order_ids):
        works.append(_decide(actor, company, o, oid, line_ids, products, live_pos, today, gate))
        if o.data.po_number:
            live_pos.setdefault((o.account.customer_id, o.data.po_number), oid)

    if before_lock is not None:
        before_lock()
    touched = _reserve_all(session, actor, company, [w for w in works if w.order["status"] == rules.VALIDATED
                                                     and w.order["auto_confirm"]])
    if own_pos is not None:  # last: a batch that fails before this leaves no trace in it
        for w in works:
            if w.data.po_number:
                own_pos.setdefault((w.account.customer_id, w.data.po_number), w.order["id"])
    for w in works:
        outcomes[w.index] = Captured(w.order["id"], _number(w.order["id"]), w.order["status"])
    return Prepared(outcomes, works, touched, actor, company_id)  # type: ignore[arg-type]


def forget(own_pos: dict[tuple[int, str], int], prepared: Prepared) -> None:
    """Take a batch that was not written out of `own_pos` again."""
    ids = {w.order["id"] for w in prepared.works}
    for key in [k for k, v in own_pos.items() if v in ids]:
        del own_pos[key]


def write_batch(session: Session, prepared: Prepared) -> None:
    """Write a prepared batch: a few multi-row statements (COPY on PostgreSQL). Then the queues of
    the gate holds placed (credit approvals, fraud reviews) are opened, now that the orders exist."""
    if prepared.works:
        _write(session, prepared.works, prepared.stock_added)
    gate_kinds = gates.kinds()
    for w in prepared.works:
        for h in w.holds:
            if h["kind"] in gate_kinds:
                gates.opened(session, prepared.actor, prepared.company_id, w.order["id"], h["kind"], h["reasons"])


def unknown(session: Session, ref: Reference, codes: set[str], skus: set[str]) -> tuple[set[str], set[str]]:
    """Which of these customer codes and SKUs this company does not have (after ref.start)."""
    accounts, products = ref.accounts(session, codes), ref.products(session, skus)
    return {c for c in codes if accounts.get(("code", c)) is None}, {s for s in skus if products.get(s) is None}


def _in(session: Session, column, values):
    """`column IN values`. On PostgreSQL `column IN (SELECT unnest(CAST(:text AS type[])))`: one text
    parameter however many values, so the statement is compiled once and its thousands of values cost
    one string, parsed once by the server (a semi-join; `= ANY(CAST(...))` would parse it per row)."""
    values = sorted(values)
    if session.get_bind().dialect.name != "postgresql":
        return column.in_(values)
    return column.in_(select(func.unnest(cast(bindparam(None, _pg_array(values), type_=String()),
                                              ARRAY(column.type)))))


def _pg_array(values: Sequence) -> str:
    """A PostgreSQL array literal of ints or strings (each string quoted and escaped), for unnest()."""
    if values and isinstance(values[0], int):
        return "{" + ",".join(map(str, values)) + "}"
    return "{" + ",".join('"' + v.replace("\\", "\\\\").replace('"', '\\"') + '"' for v in values) + "}"


def _number(order_id: int) -> str:
    return f"SO{order_id:08d}"


# ---------------------------------------------------------------- reference data

class Reference:
    """The master data orders are decided with — customers' accounts and default addresses, products,
    price breaks, tax rates — read in one query per kind for what a batch needs and not known yet, and
    kept for the next batches of the same import while the company's `masterdata_version` stays the
    same (every change to that data bumps it, see o2c.core.masterdata) and the business day has not
    changed: an order is never priced from data older than its batch's transaction sees. Stock and PO
    numbers are never kept: every batch reads them, and locks the stock rows, in its own transaction."""

    def __init__(self, company_id: int):
        self.company_id = company_id
        self.company: Company | None = None
        self.today: date | None = None
        self._version: int | None = None

    def start(self, session: Session) -> None:
        """At the start of each batch: the company, and a fresh start when its master data changed."""
        company = session.get(Company, self.company_id)
        if company is None:
            raise NotFound(f"company {self.company_id} not found")
        today = clock.today_in(company.timezone)
        if company.masterdata_version != self._version or today != self.today:
            self._version, self.today = company.masterdata_version, today
            self._accounts: dict[tuple, _Account | None] = {}
            self._products: dict[str, _Product | None] = {}
            self._addresses: dict[int, dict] = {}
            self._general: dict[tuple[str, int], list] = {}
            self._general_for: set[int] = set()  # products whose general prices are loaded
            self._own: dict[tuple[int, str, int], list] = {}
            self._own_for: set[int] = set()  # customers whose own prices are loaded
            self._taxes: dict[str, list[TaxRateRow]] = {}
        self.company = company

    def accounts(self, session: Session, codes: set[str], ids: set[int] = frozenset()) -> dict[tuple, _Account | None]:
        """("code", code) and ("id", id) -> the account, or None for a customer this company does not have."""
        known = self._accounts
        codes = {c for c in codes if ("code", c) not in known}
        ids = {i for i in ids if ("id", i) not in known}
        if codes or ids:
            c, a = Customer.__table__, CustomerAccount.__table__
            conds = ([_in(session, c.c.code, codes)] if codes else []) + ([_in(session, c.c.id, ids)] if ids else [])
            rows = session.execute(
                select(c.c.id, c.c.code, a.c.currency, a.c.ship_complete, a.c.tax_exempt, a.c.discount_pct, a.c.active,
                       c.c.merged_into_id)
                .join(a, a.c.customer_id == c.c.id)
                .where(a.c.company_id == self.company_id, or_(*conds))
            )
            for key in [("code", x) for x in codes] + [("id", x) for x in ids]:
                self._accounts[key] = None  # unknown unless found
            for r in rows:
                acc = _Account(r.id, r.code, r.currency, r.ship_complete, r.tax_exempt, r.discount_pct, r.active,
                               r.merged_into_id)
                self._accounts[("code", r.code)] = self._accounts[("id", r.id)] = acc
        return self._accounts

    def products(self, session: Session, skus: set[str]) -> dict[str, _Product | None]:
        missing = skus - self._products.keys()
        if missing:
            p = Product.__table__
            rows = session.execute(
                select(p.c.id, p.c.sku, p.c.name, p.c.uom, p.c.uom_decimals, p.c.order_multiple, p.c.tax_class,
                       p.c.active)
                .where(p.c.company_id == self.company_id, _in(session, p.c.sku, missing))
            )
            self._products.update(dict.fromkeys(missing))
            self._products.update((r.sku, _Product(*r)) for r in rows)
        return self._products

    def addresses(self, session: Session, customer_ids: set[int]) -> dict[int, dict]:
        """Per customer, the address `capture` defaults to: shipping before billing, default first, oldest."""
        missing = customer_ids - self._addresses.keys()
        if missing:
            t = CustomerAddress.__table__
            best: dict[int, tuple] = {}
            for r in session.execute(select(t).where(_in(session, t.c.customer_id, missing))):
                key = (r.kind != "shipping", not r.is_default, r.id)
                if r.customer_id not in best or key < best[r.customer_id][0]:
                    best[r.customer_id] = (key, {k: getattr(r, k) for k in SHIP_TO})
            self._addresses.update(dict.fromkeys(missing, {}))
            self._addresses.update((cid, v[1]) for cid, v in best.items())
        return self._addresses

    def breaks(self, session: Session, customer_ids: set[int], product_ids: set[int]) -> Reference:
        """Load what `price_breaks` needs: general lists of the products, customers' own lists."""
        products, customers = product_ids - self._general_for, customer_ids - self._own_for
        if products or customers:
            pl, item = PriceList.__table__, PriceListItem.__table__
            on = self.today
            valid = (pl.c.company_id == self.company_id, pl.c.active.is_(True),
                     or_(pl.c.valid_from.is_(None), pl.c.valid_from <= on),
                     or_(pl.c.valid_to.is_(None), pl.c.valid_to >= on))
            conds = []
            if products:
                conds.append(and_(pl.c.customer_id.is_(None), _in(session, item.c.product_id, products)))
            if customers:
                conds.append(_in(session, pl.c.customer_id, customers))
            rows = session.execute(
                select(item.c.product_id, item.c.min_qty, item.c.unit_price, pl.c.customer_id, pl.c.currency)
                .join(pl, pl.c.id == item.c.price_list_id)
                .where(*valid, or_(*conds))
            )
            for pid, min_qty, price, cust, cur in rows:
                if cust is None:
                    self._general.setdefault((cur, pid), []).append((min_qty, price))
                else:
                    self._own.setdefault((cust, cur, pid), []).append((min_qty, price))
            self._general_for |= products
            self._own_for |= customers
        return self

    def price_breaks(self, customer_id: int, currency: str, product_id: int) -> list[tuple[Decimal, Decimal]]:
        """As catalog.service.price_breaks chooses: the customer's own list where it prices the product,
        the general list of the currency otherwise."""
        return self._own.get((customer_id, currency, product_id)) or self._general.get((currency, product_id)) or []

    def taxes(self, session: Session, countries: set[str]) -> dict[str, list[TaxRateRow]]:
        missing = countries - self._taxes.keys()
        if missing:
            t = TaxRate.__table__
            self._taxes.update((c, []) for c in missing)
            rows = session.execute(select(t).where(t.c.company_id == self.company_id, t.c.country.in_(sorted(missing))))
            for r in rows:
                self._taxes[r.country].append(TaxRateRow(r.country, r.region, r.tax_class, r.rate_pct, r.valid_from))
        return self._taxes


def _live_pos(session: Session, company_id: int, pairs: set[tuple[int, str]]) -> dict[tuple[int, str], int]:
    """(customer, PO number) -> the first live order carrying it, for the duplicate check."""
    if not pairs:
        return {}
    o = Order.__table__
    live = sorted(rules.LIVE)
    if session.get_bind().dialect.name == "postgresql":
        # One probe of the (company, customer, PO) index per pair, whatever the planner believes about
        # the size of the orders table (statistics taken while it was empty must not make this a scan).
        ordered = sorted(pairs)
        rows = session.execute(
            text(
                "SELECT k.customer_id, k.po_number, (SELECT min(o.id) FROM orders o WHERE o.company_id = :company"
                " AND o.customer_id = k.customer_id AND o.po_number = k.po_number"
                f" AND o.status IN ({', '.join(repr(s) for s in live)})) AS first"
                " FROM unnest(CAST(:customers AS bigint[]), CAST(:pos AS varchar[])) AS k(customer_id, po_number)"
            ),
            {"company": company_id, "customers": _pg_array([c for c, _ in ordered]),
             "pos": _pg_array([po for _, po in ordered])},
        )
        return {(c, po): first for c, po, first in rows if first is not None}
    rows = session.execute(
        select(o.c.customer_id, o.c.po_number, func.min(o.c.id))
        .where(o.c.company_id == company_id, o.c.po_number.in_(sorted({po for _, po in pairs})),
               o.c.customer_id.in_(sorted({c for c, _ in pairs})), o.c.status.in_(live))
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

@dataclass
class _Priced:
    """An accepted order with its prices (orders.rules.price_order), before it has ids."""

    index: int
    data: OrderIn
    account: _Account
    ship_to: dict
    lines: list[rules.PricedLine]
    totals: object
    order_discount: Decimal


def _price(index: int, data: OrderIn, acc: _Account, ship_to: dict, products: dict[str, _Product | None],
           ref: Reference, taxes: dict[str, list[TaxRateRow]]) -> _Priced | Refused:
    """Prices, tax and amounts as capture computes them; refused, as capture refuses it, when a line
    comes to more than one line can hold."""
    currency = acc.currency
    order_discount = round_money(data.order_discount, currency)
    country = ship_to.get("country")
    lines = [products[li.sku] for li in data.lines]
    priced, t = rules.price_order(
        [rules.PricingLine(p.id, li.quantity, p.tax_class, li.unit_price, li.discount_pct)
         for li, p in zip(data.lines, lines)],
        {p.id: ref.price_breaks(acc.customer_id, currency, p.id) for p in lines},
        taxes.get(country, ()) if country else (),
        country=country, region=ship_to.get("region"), on=ref.today, tax_exempt=acc.tax_exempt,
        standing_discount_pct=acc.discount_pct, currency=currency, order_discount=order_discount,
    )
    for i, pl in enumerate(priced):
        if abs(pl.amounts.gross) >= MAX_AMOUNT:
            return Refused([FieldError(f"lines[{i}].quantity", "amount_too_large",
                                       f"line {i + 1} comes to {plain(pl.amounts.gross)} {currency}, "
                                       "more than one order line can be")])
    return _Priced(index, data, acc, ship_to, priced, t, order_discount)


def _gate(session: Session, actor: Actor, company: Company, customer_ids: set[int]):
    """The order gates (o2c.orders.gates) for the orders of this batch: customers and their accounts are
    read once for the batch (the gates find them in the session), and the batch's running figures
    (credit exposure, order velocity) are shared from order to order."""
    accounts = {a.customer_id: a for a in session.scalars(
        select(CustomerAccount).where(CustomerAccount.company_id == company.id,
                                      _in(session, CustomerAccount.__table__.c.customer_id, customer_ids)))}
    # held here: the session keeps loaded objects only while something refers to them
    customers = session.scalars(select(Customer).where(_in(session, Customer.__table__.c.id, customer_ids))).all()
    batch: dict = {"customers": customers}

    def check(order: dict, lines: list[dict]) -> dict[str, list[FieldError]]:
        view = SimpleNamespace(**order, lines=[SimpleNamespace(**li) for li in lines], holds=[])
        return gates.check(gates.GateContext(session, actor, company, accounts[order["customer_id"]], view,
                                             batch=batch))
    return check


def _decide(actor: Actor, company: Company, o: _Priced, oid: int, line_ids, products: dict[str, _Product | None],
            live_pos, today: date, gate=None) -> _Work:
    """Check the priced order (orders.rules.hold_reasons, then the gates) and write down its rows: held
    with every reason, or validated (and confirmed later, once its stock is reserved)."""
    now = clock.now()
    data, acc, ship_to, t = o.data, o.account, o.ship_to, o.totals
    lines, line_facts = [], []
    for i, (li, pl) in enumerate(zip(data.lines, o.lines)):
        p = products[li.sku]
        overridden = li.unit_price is not None
        a = pl.amounts
        lines.append({
            "id": next(line_ids), "order_id": oid, "line_no": i + 1, "product_id": p.id, "sku": li.sku,
            "description": p.name, "quantity": li.quantity, "uom": p.uom, "list_price": pl.list_price,
            "unit_price": pl.unit_price, "price_overridden": overridden, "override_reason": li.override_reason,
            "discount_pct": pl.discount_pct, "gross_amount": a.gross, "discount_amount": a.discount,
            "net_amount": a.net, "tax_class": p.tax_class, "tax_rate_pct": pl.tax_rate_pct, "tax_amount": a.tax,
            "reserved_qty": ZERO, "backordered_qty": ZERO,
        })
        line_facts.append(rules.LineFacts(
            index=i, sku=li.sku, active=p.active, quantity=li.quantity, uom=p.uom, uom_decimals=p.uom_decimals,
            order_multiple=p.order_multiple, list_price=pl.list_price,
            given_price=pl.unit_price if overridden else None, override_reason=li.override_reason,
        ))
    problems = list(address_errors(Address(**{k: ship_to.get(k) for k in SHIP_TO}), "ship_to"))
    problems += [rules.missing_tax_reason(i, lines[i]["tax_class"], ship_to.get("country"), ship_to.get("region"))
                 for i, pl in enumerate(o.lines) if pl.missing_tax]
    other = live_pos.get((acc.customer_id, data.po_number)) if data.po_number else None
    found = rules.hold_reasons(rules.OrderFacts(
        lines=line_facts, address_errors=problems, duplicate_of=_number(other) if other else None,
        duplicate_accepted=False, requested_date=data.requested_date, today=today,
        threshold_pct=company.price_override_threshold_pct,
        subtotal=t.subtotal - t.discount + o.order_discount, order_discount=o.order_discount,
        order_discount_reason=data.order_discount_reason, pricing_approved=False,
    ))
    order = {
        "id": oid, "company_id": company.id, "customer_id": acc.customer_id, "channel": data.channel,
        "po_number": data.po_number, "currency": acc.currency, "status": None,
        **{f"ship_to_{k}": ship_to.get(k) for k in SHIP_TO},
        "requested_date": data.requested_date, "expected_date": None, "order_date": today, "notes": data.notes,
        "subtotal": t.subtotal, "discount_total": t.discount, "tax_total": t.tax, "total": t.total,
        "needed_correction": bool(found.by_kind.get(rules.HOLD_VALIDATION) or found.by_kind.get(rules.HOLD_DUPLICATE)),
        "auto_confirm": data.confirm, "order_discount": o.order_discount,
        "order_discount_reason": data.order_discount_reason, "entered_by": actor.user_id,
        "created_at": now, "updated_at": now, "confirmed_at": None, "version": 1,
    }
    if found.clean and gate is not None:
        found.by_kind.update(gate(order, lines))
    w = _Work(o.index, data, acc, order, lines)
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
        .where(_in(session, s.c.product_id, product_ids), wh.c.active.is_(True), s.c.company_id == company.id)
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
            "reserved": {li["line_no"]: plain(li["reserved_qty"]) for li in w.lines},
            "backordered": {li["line_no"]: plain(li["backordered_qty"])
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
    audit.mark(session)  # the timeline rows are sealed into the audit chain at commit
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
