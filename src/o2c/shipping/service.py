"""Shipping use cases: carriers and their rate tables, rate shopping, handing a packed shipment to the
carrier (tracking numbers, SSCC, labels), and tracking events through to delivery.

Shipping a shipment is the moment goods leave: stock goes down, the order lines record what shipped,
and `shipment.shipped` tells billing what to invoice (the shipped quantities, never the ordered ones).
"""
from __future__ import annotations

import csv
import hashlib
import hmac
import io
import json
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date, datetime, timezone
from decimal import Decimal
from zoneinfo import ZoneInfo

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from o2c.core import audit, clock
from o2c.core.auth import Actor, require
from o2c.core.errors import Conflict, ErrorList, NotFound, ValidationFailed
from o2c.core.events import emit
from o2c.core.money import ZERO, plain
from o2c.core.models import Company
from o2c.fulfillment import service as fulfillment
from o2c.fulfillment.models import Package, Shipment
from o2c.inventory import outbound
from o2c.inventory.models import Warehouse
from o2c.orders import service as orders
from o2c.orders.models import Order, OrderLine
from o2c.shipping import labels, rates, tracking
from o2c.shipping.models import Carrier, TrackingEvent

# What a late delivery is taken to cost, in the company's currency, when rate shopping weighs each
# service's on-time record: a customer-service contact and a share of a lost re-order.
LATE_COST = Decimal("15")
DEMO_GS1_PREFIX = "0614141"  # GS1's documentation prefix, for companies that have not set their own
KINDS = ("shipped", "in_transit", "out_for_delivery", "delivered", "exception")
# How far along each kind is; an event never moves a shipment backwards (carriers send late scans).
PROGRESS = {"shipped": 1, "in_transit": 2, "exception": 2, "out_for_delivery": 3, "delivered": 4}
# What each tracking format needs besides the serial, for the numbers o2c prints on its labels.
TRACKING_ARGS = {"ups": {"service": "03"}, "usps_impb": {"service": "001"}, "s10": {"service": "CP"}}


# --- carriers -------------------------------------------------------------------------------------

def _table_errors(code: str, table: dict, errors: ErrorList, currency: str) -> None:
    """The rate table parses cleanly, is this carrier's (its quotes are matched to the carrier's on-time
    record by code) and is in the company's currency (rate shopping and allocation compare prices of
    every carrier, and add the cost of lateness in that currency)."""
    try:
        parsed = rates.parse_rate_table(table)
    except ValidationFailed as exc:
        for e in exc.errors:
            errors.add(e.field if e.field == "rate_table" else f"rate_table.{e.field}", e.code, e.message)
        return
    if parsed.carrier != code:
        errors.add("rate_table.carrier", "mismatch",
                   f"rate_table.carrier is {parsed.carrier!r}, but the carrier's code is {code!r}")
    if parsed.currency != currency:
        errors.add("rate_table.currency", "mismatch",
                   f"rate_table.currency is {parsed.currency}, but the company's currency is {currency}")


def _check_carrier(data, errors: ErrorList, currency: str) -> None:
    if data.tracking_format not in tracking.FORMATS:
        errors.add("tracking_format", "unknown",
                   f"tracking_format must be one of {', '.join(sorted(tracking.FORMATS))} (got {data.tracking_format!r})")
    _table_errors(data.code, data.rate_table, errors, currency)


def create_carrier(session: Session, actor: Actor, company_id: int, data) -> Carrier:
    require(actor, "masterdata.write")
    errors = ErrorList()
    _check_carrier(data, errors, session.get(Company, company_id).currency)
    errors.raise_if_any("the carrier cannot be saved")
    if session.scalar(select(Carrier.id).where(Carrier.company_id == company_id, Carrier.code == data.code)):
        raise Conflict(f"a carrier with code {data.code!r} exists already", field="code")
    now = clock.now()
    c = Carrier(company_id=company_id, code=data.code, name=data.name, tracking_format=data.tracking_format,
                account=data.account, rate_table=data.rate_table, webhook_secret=data.webhook_secret, active=True,
                created_at=now, updated_at=now)
    session.add(c)
    session.flush()
    audit.record(session, actor, "carrier", c.id, "created", company_id=company_id, data={"code": c.code})
    return c


def replace_rate_table(session: Session, actor: Actor, company_id: int, code: str, data) -> Carrier:
    """A new rate table replaces the old one whole, once it parses cleanly; a refused one changes nothing."""
    require(actor, "masterdata.write")
    c = get_carrier(session, company_id, code)
    errors = ErrorList()
    _table_errors(c.code, data.rate_table, errors, session.get(Company, company_id).currency)
    errors.raise_if_any("the rate table cannot be saved")
    c.rate_table, c.updated_at = data.rate_table, clock.now()
    session.flush()
    audit.record(session, actor, "carrier", c.id, "rate_table_replaced", company_id=company_id, reason=data.reason)
    return c


def get_carrier(session: Session, company_id: int, code: str) -> Carrier:
    c = session.scalar(select(Carrier).where(Carrier.company_id == company_id, Carrier.code == code))
    if c is None:
        raise NotFound(f"no carrier {code!r}")
    return c


def list_carriers(session: Session, company_id: int) -> list[Carrier]:
    return list(session.scalars(select(Carrier).where(Carrier.company_id == company_id).order_by(Carrier.id)))


def carrier_view(session: Session, c: Carrier) -> dict:
    table = parsed_table(c)
    hist = history(session, c.company_id)
    return {"id": c.id, "code": c.code, "name": c.name, "tracking_format": c.tracking_format, "account": c.account,
            "active": c.active, "currency": table.currency,
            "services": [{"code": s.code, "name": s.name,
                          "on_time_rate": _rate(hist.get((c.code, s.code))),
                          "delivered": hist.get((c.code, s.code), (0, 0))[1]} for s in table.services]}


def _rate(h: tuple[int, int] | None) -> Decimal | None:
    return (Decimal(h[0]) / Decimal(h[1])).quantize(Decimal("0.0001")) if h and h[1] else None


def carrier_code(session: Session, carrier_id: int | None) -> str | None:
    return session.scalar(select(Carrier.code).where(Carrier.id == carrier_id)) if carrier_id else None


_PARSED: dict[bytes, rates.RateTable] = {}


def parsed_table(c: Carrier) -> rates.RateTable:
    """The carrier's rate table, parsed once per content (hashing the document costs a tenth of parsing it)."""
    key = hashlib.sha256(json.dumps(c.rate_table, sort_keys=True).encode()).digest()
    table = _PARSED.get(key)
    if table is None:
        if len(_PARSED) > 256:
            _PARSED.clear()
        table = _PARSED[key] = rates.parse_rate_table(c.rate_table)
    return table


def _tables(session: Session, company_id: int) -> dict[str, tuple[Carrier, rates.RateTable]]:
    return {c.code: (c, parsed_table(c)) for c in session.scalars(
        select(Carrier).where(Carrier.company_id == company_id, Carrier.active.is_(True)).order_by(Carrier.id))}


def history(session: Session, company_id: int) -> dict[tuple[str, str], tuple[int, int]]:
    """Each carrier service's delivery record: (delivered on time, delivered with a promise date)."""
    rows = session.execute(
        select(Carrier.code, Shipment.service_code, Shipment.on_time, func.count())
        .join(Carrier, Carrier.id == Shipment.carrier_id)
        .where(Shipment.company_id == company_id, Shipment.on_time.is_not(None))
        .group_by(Carrier.code, Shipment.service_code, Shipment.on_time))
    out: dict[tuple[str, str], list[int]] = defaultdict(lambda: [0, 0])
    for code, service, on_time, n in rows:
        out[(code, service)][1] += n
        if on_time:
            out[(code, service)][0] += n
    return {k: (a, b) for k, (a, b) in out.items()}


# --- estimates for allocation ---------------------------------------------------------------------

def _place(country: str | None, postal_code: str | None) -> rates.Place | None:
    return rates.Place(country, postal_code) if country and postal_code else None


@dataclass
class Estimator:
    """Shipping cost and transit days of one parcel from a warehouse to an order's ship-to address, from
    the carriers' rate tables: what allocation compares warehouses by (the nearest is the cheapest)."""

    tables: list[rates.RateTable]
    origins: dict[int, rates.Place | None]
    dests: dict[int, rates.Place | None]
    ship_date: date
    _memo: dict = field(default_factory=dict)

    @property
    def has_rates(self) -> bool:
        return bool(self.tables)

    def _estimate(self, order_id: int, warehouse_id: int, weight_kg: Decimal):
        key = (order_id, warehouse_id, weight_kg)
        if key not in self._memo:
            o, d = self.origins.get(warehouse_id), self.dests.get(order_id)
            self._memo[key] = rates.estimate(self.tables, o, d, max(weight_kg, Decimal("0.1")), self.ship_date) \
                if o and d else None
        return self._memo[key]

    def cost(self, order_id: int, warehouse_id: int, weight_kg: Decimal) -> Decimal | None:
        e = self._estimate(order_id, warehouse_id, weight_kg)
        return e[0] if e else None

    def days(self, order_id: int, warehouse_id: int) -> int | None:
        e = self._estimate(order_id, warehouse_id, Decimal("1"))
        return e[1] if e else None


def estimator(session: Session, company_id: int, orders_: list[Order] | object) -> Estimator:
    company = session.get(Company, company_id)
    whs = session.scalars(select(Warehouse).where(Warehouse.company_id == company_id))
    return Estimator(
        tables=[t for _, t in _tables(session, company_id).values()],
        origins={w.id: _place(w.country, w.postal_code) for w in whs},
        dests={o.id: _place(o.ship_to_country, o.ship_to_postal_code) for o in orders_},
        ship_date=clock.today_in(company.timezone),
    )


# --- rate shopping --------------------------------------------------------------------------------

def _parcels(session: Session, shipment: Shipment) -> list[rates.Parcel]:
    from o2c.fulfillment.models import Box

    boxes = {b.code: b for b in session.scalars(select(Box).where(Box.company_id == shipment.company_id))}
    out = []
    for p in shipment.packages:
        b = boxes.get(p.box_code)
        dims = (b.inner_length_cm, b.inner_width_cm, b.inner_height_cm) if b else (ZERO, ZERO, ZERO)
        out.append(rates.Parcel(p.weighed_weight_kg or p.expected_weight_kg or Decimal("0.1"), *dims))
    return out


def choice_view(choice: rates.Choice) -> dict:
    def q(quote: rates.Quote) -> dict:
        return {"carrier": quote.carrier, "service": quote.service, "service_name": quote.service_name,
                "zone": quote.zone, "currency": quote.currency, "billable_kg": plain(quote.billable_kg),
                "total": plain(quote.total), "transit_days": quote.transit_days,
                "delivery_date": quote.delivery_date.isoformat(),
                "breakdown": {k: plain(getattr(quote.breakdown, k)) for k in ("base", "fuel", "residential", "remote", "oversize")}}
    return {
        "chosen": q(choice.chosen) if choice.chosen else None,
        "promise_date": choice.promise_date.isoformat() if choice.promise_date else None,
        "promise_at_risk": choice.promise_at_risk,
        "candidates": [{**q(c.quote), "p_on_time": plain(c.p_on_time), "risk_cost": plain(c.risk_cost),
                        "days_late": c.days_late, "chosen": c.chosen, "reason": c.reason} for c in choice.candidates],
    }


def shop_rates(session: Session, company_id: int, data) -> dict:
    """Quotes for parcels from a warehouse to a destination, and the service rate shopping would pick."""
    company = session.get(Company, company_id)
    wh = session.scalar(select(Warehouse).where(Warehouse.company_id == company_id, Warehouse.code == data.warehouse))
    if wh is None:
        raise ValidationFailed.one("warehouse", "unknown", f"no warehouse {data.warehouse!r}")
    tables = [t for _, t in _tables(session, company_id).values()]
    ship_date = data.ship_date or clock.today_in(company.timezone)
    parcels = [rates.Parcel(p.weight_kg, p.length_cm, p.width_cm, p.height_cm) for p in data.parcels]
    found = rates.quotes(tables, rates.Place(wh.country, wh.postal_code), rates.Place(data.country, data.postal_code),
                         parcels, ship_date, data.residential)
    return choice_view(rates.shop(found, data.promise_date, history(session, company_id), LATE_COST))


# --- ship -----------------------------------------------------------------------------------------

def ship(session: Session, actor: Actor, company_id: int, shipment_id: int, data) -> Shipment:
    """Hand a packed shipment to the carrier: choose the service (rate shopping unless one is given),
    number each parcel (tracking number and SSCC), take the goods out of stock, and record on the order
    what shipped. A short-picked remainder goes back to the order as a backorder."""
    require(actor, "fulfillment.write")
    if data.service and not data.carrier:  # a service code means something only with its carrier
        raise ValidationFailed.one("carrier", "required", f"name the carrier of service {data.service!r} "
                                   "(or neither, to let rate shopping choose)")
    sh = fulfillment.get_shipment(session, actor, company_id, shipment_id, lock=True)
    # The order before its stock rows, as every use case locks them (shipping records on the order).
    session.execute(select(Order.id).where(Order.id == sh.order_id).with_for_update())
    if sh.status != "packed":
        raise Conflict(f"shipment {sh.number} is {sh.status}: it ships once every picked item is packed "
                       f"({fulfillment.unpacked_reason(sh)})", current_status=sh.status)
    company = session.get(Company, company_id)
    wh = session.get(Warehouse, sh.warehouse_id)
    tables = _tables(session, company_id)
    if not tables:
        raise Conflict("no carriers are set up: add one with its rate table first (POST /carriers)")
    ship_date = clock.today_in(company.timezone)
    origin, dest = _place(wh.country, wh.postal_code), _place(sh.ship_to_country, sh.ship_to_postal_code)
    parcels = _parcels(session, sh)
    if data.carrier:
        if data.carrier not in tables:
            raise ValidationFailed.one("carrier", "unknown", f"no active carrier {data.carrier!r}")
        table = tables[data.carrier][1]
        codes = [data.service] if data.service else [s.code for s in table.services]
        found = [q for c in codes if (q := rates.quote(table, c, origin, dest, parcels, ship_date)) is not None]
        if not found:
            raise ValidationFailed.one("service" if data.service else "carrier", "no_service",
                                       f"{data.carrier} {data.service or ''} does not carry these parcels "
                                       f"from {wh.code} to {sh.ship_to_country} {sh.ship_to_postal_code}")
    else:
        found = rates.quotes([t for _, t in tables.values()], origin, dest, parcels, ship_date)
        if not found:
            raise Conflict(f"no carrier serves {sh.ship_to_country} {sh.ship_to_postal_code} from {wh.code}")
    choice = rates.shop(found, sh.promised_date, history(session, company_id), LATE_COST)
    chosen = choice.chosen
    carrier = tables[chosen.carrier][0]

    for n, pkg in enumerate(sh.packages, start=1):
        pkg.sscc = labels.sscc(0, company.gs1_prefix or DEMO_GS1_PREFIX, pkg.id)
        pkg.tracking_number = tracking_number_for(carrier, pkg.id, company.country)
        pkg.status = "shipped"
    now = clock.now()
    outgoing = []
    for sl in sh.lines:
        sl.shipped_qty = sl.packed_qty
        outgoing.append(outbound.Outgoing(sl.order_line_id, sl.product_id, sh.warehouse_id, sl.quantity, sl.shipped_qty))
    outbound.ship(session, actor, company_id, outgoing, sh.number)
    sh.status, sh.shipped_at, sh.updated_at = "shipped", now, now
    sh.carrier_id, sh.service_code = carrier.id, chosen.service
    sh.shipping_cost, sh.estimated_delivery = chosen.total, chosen.delivery_date
    sh.rate_choice = choice_view(choice)
    sh.version += 1
    session.flush()
    if sh.kind == "order":  # an exchange replaces goods the order already counts as shipped
        orders.record_shipment(session, actor, company_id, sh.order_id, sh.number,
                               {sl.order_line_id: (sl.quantity, sl.shipped_qty) for sl in sh.lines})
    fulfillment.on_timeline(session, actor, sh, "shipment_shipped", from_status="packed", to_status="shipped", data={
        "carrier": carrier.code, "service": chosen.service, "cost": plain(chosen.total),
        "estimated_delivery": chosen.delivery_date.isoformat(),
        "tracking_numbers": [p.tracking_number for p in sh.packages],
        "shipped": {sl.sku: plain(sl.shipped_qty) for sl in sh.lines},
        **({"promise_at_risk": True} if choice.promise_at_risk else {})})
    emit(session, "shipment.shipped", {
        "shipment_id": sh.id, "number": sh.number, "order_id": sh.order_id, "kind": sh.kind,
        "lines": [{"order_line_id": sl.order_line_id, "sku": sl.sku, "quantity": plain(sl.shipped_qty)}
                  for sl in sh.lines if sl.shipped_qty > 0]}, company_id=company_id, entity_id=sh.id)
    _record_event(session, sh, "shipped", now, wh.city, "handed to the carrier", "system", f"shipped-{sh.id}")
    return sh


def tracking_number_for(carrier: Carrier, serial: int, country: str) -> str:
    """A tracking number in the carrier's format for parcel (or return label) `serial`."""
    args = dict(TRACKING_ARGS.get(carrier.tracking_format, {}))
    if carrier.tracking_format in ("ups", "usps_impb"):
        args["account"] = carrier.account
    if carrier.tracking_format == "s10":
        args["country"] = country
    try:
        return tracking.generate(carrier.tracking_format, serial, **args)
    except ValueError as exc:
        raise Conflict(f"carrier {carrier.code} cannot number parcel {serial}: {exc}") from None


def tracking_link(session: Session, sh: Shipment) -> str | None:
    number = next((p.tracking_number for p in sh.packages if p.tracking_number), None)
    if not number or not sh.carrier_id:
        return None
    fmt = session.scalar(select(Carrier.tracking_format).where(Carrier.id == sh.carrier_id))
    try:
        return tracking.tracking_url(fmt, number)
    except ValueError:  # e.g. an S10 number of a post whose tracking page o2c does not know
        return None


# --- documents ------------------------------------------------------------------------------------

def _addr(obj, prefix: str = "") -> labels.LabelAddress:
    return labels.LabelAddress(*(getattr(obj, f"{prefix}{k}") or "" for k in
                                 ("name", "line1", "line2", "city", "region", "postal_code", "country")))


def _label(session: Session, pkg: Package, sh: Shipment) -> labels.ShippingLabel:
    if pkg.status != "shipped" or not pkg.tracking_number:
        raise Conflict(f"parcel {pkg.id} has no label yet: labels are printed when its shipment ships")
    company = session.get(Company, sh.company_id)
    wh = session.get(Warehouse, sh.warehouse_id)
    carrier = session.get(Carrier, sh.carrier_id)
    table = parsed_table(carrier)
    service = table.service(sh.service_code)
    ship_from = labels.LabelAddress(company.name, *(getattr(wh, k) or "" for k in
                                                    ("line1", "line2", "city", "region", "postal_code", "country")))
    return labels.ShippingLabel(
        ship_from=ship_from, ship_to=_addr(sh, "ship_to_"), carrier_name=carrier.name,
        service_name=service.name if service else sh.service_code, tracking_number=pkg.tracking_number,
        sscc=pkg.sscc, weight_kg=pkg.weighed_weight_kg or ZERO, package_no=sh.packages.index(pkg) + 1,
        package_count=len(sh.packages), order_number=f"SO{sh.order_id:08d}", shipment_number=sh.number,
        ship_date=sh.shipped_at.astimezone(ZoneInfo(company.timezone)).date())


def label(session: Session, actor: Actor, company_id: int, package_id: int, fmt: str) -> bytes | str:
    pkg, sh = fulfillment.get_package(session, actor, company_id, package_id)
    lab = _label(session, pkg, sh)
    return labels.label_zpl(lab) if fmt == "zpl" else labels.label_pdf(lab)


def packing_slip(session: Session, actor: Actor, company_id: int, shipment_id: int) -> bytes:
    sh = fulfillment.get_shipment(session, actor, company_id, shipment_id)
    company = session.get(Company, company_id)
    order = session.get(Order, sh.order_id)
    wh = session.get(Warehouse, sh.warehouse_id)
    olines = {li.id: li for li in session.scalars(select(OrderLine).where(OrderLine.order_id == order.id))}
    slip_lines = []
    for sl in sh.lines:
        li = olines[sl.order_line_id]
        shipped = sl.shipped_qty if sh.status not in fulfillment.OPEN else sl.packed_qty
        slip_lines.append(labels.PackingSlipLine(sl.sku, li.description, li.quantity, shipped,
                                                 max(li.quantity - li.shipped_qty - (0 if sh.shipped_at else shipped), ZERO),
                                                 li.uom))
    ship_date = (sh.shipped_at or clock.now()).astimezone(ZoneInfo(company.timezone)).date()
    return labels.packing_slip_pdf(labels.PackingSlip(
        company_name=company.name, ship_from=_addr(wh), ship_to=_addr(sh, "ship_to_"), order_number=order.number,
        po_number=order.po_number or "", shipment_number=sh.number, ship_date=ship_date, lines=slip_lines,
        packages=[(p.sscc or "", p.tracking_number or "", p.weighed_weight_kg or ZERO) for p in sh.packages]))


# --- tracking -------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Scan:
    """A tracking event as it arrives, before it is matched to a shipment."""

    tracking_number: str
    kind: str
    occurred_at: datetime
    location: str | None = None
    description: str | None = None
    event_id: str | None = None


def _shipment_by_tracking(session: Session, company_id: int, number: str) -> Shipment | None:
    sid = session.scalar(select(Package.shipment_id).where(Package.company_id == company_id,
                                                           Package.tracking_number == tracking.normalise(number)))
    return session.get(Shipment, sid) if sid else None


def _record_event(session: Session, sh: Shipment, kind: str, at: datetime, location, description, source, key,
                  *, notify: bool = True) -> TrackingEvent:
    """Record the scan; with `notify`, shipment.tracking tells the customer."""
    number = next((p.tracking_number for p in sh.packages if p.tracking_number), "")
    ev = TrackingEvent(company_id=sh.company_id, shipment_id=sh.id, tracking_number=number, kind=kind, occurred_at=at,
                       location=location, description=description, source=source, dedupe_key=key, created_at=clock.now())
    session.add(ev)
    session.flush()
    if notify:
        emit(session, "shipment.tracking", {"shipment_id": sh.id, "order_id": sh.order_id, "kind": kind,
                                            "tracking_event_id": ev.id}, company_id=sh.company_id, entity_id=sh.id)
    return ev


def track(session: Session, actor: Actor, company_id: int, scan: Scan, source: str,
          carrier_id: int | None = None) -> tuple[TrackingEvent, bool]:
    """Apply one tracking event; returns (event, created). A repeat of an event already recorded (same
    carrier event id, or same kind and time) is absorbed and returns the first one. With `carrier_id`
    (a carrier's own webhook) only that carrier's shipments are found."""
    require(actor, "tracking.write")
    errors = ErrorList()
    if scan.kind not in KINDS:
        errors.add("kind", "unknown", f"kind must be one of {', '.join(KINDS)} (got {scan.kind!r})")
    if scan.occurred_at.tzinfo is None:
        errors.add("occurred_at", "no_timezone", "occurred_at needs a time zone offset (e.g. 2026-11-26T14:05:00Z)")
    errors.raise_if_any("the tracking event is not valid")
    sh = _shipment_by_tracking(session, company_id, scan.tracking_number)
    if sh is None or (carrier_id is not None and sh.carrier_id != carrier_id):
        raise ValidationFailed.one("tracking_number", "unknown",
                                   f"no shipment carries tracking number {scan.tracking_number!r}")
    sh = fulfillment.get_shipment(session, actor, company_id, sh.id, lock=True)
    key = (scan.event_id or f"{scan.kind}@{scan.occurred_at.astimezone(timezone.utc).isoformat()}")[:120]
    # a repeat: the same carrier event id, or the same kind at the same time (a carrier's file repeats
    # its webhooks without their ids)
    seen = session.scalar(select(TrackingEvent).where(
        TrackingEvent.shipment_id == sh.id,
        (TrackingEvent.dedupe_key == key)
        | ((TrackingEvent.kind == scan.kind) & (TrackingEvent.occurred_at == scan.occurred_at)))
        .order_by(TrackingEvent.id).limit(1))
    if seen is not None:
        return seen, False
    if sh.status == "delivered":
        raise Conflict(f"shipment {sh.number} was delivered already; a later {scan.kind} event is not accepted",
                       current_status=sh.status)
    if sh.status in fulfillment.OPEN or sh.status == "cancelled":
        raise Conflict(f"shipment {sh.number} is {sh.status}; it has not been handed to the carrier", current_status=sh.status)
    if scan.kind == "shipped":  # the carrier's pick-up scan: the shipment shipped already, note it only
        ev = _record_event(session, sh, scan.kind, scan.occurred_at, scan.location, scan.description, source, key,
                           notify=False)  # the customer was told when it was handed over
        return ev, True
    before = sh.status
    if PROGRESS[scan.kind] >= PROGRESS.get(before, 0) or scan.kind == "exception":
        sh.status = scan.kind
    sh.updated_at = clock.now()
    sh.version += 1
    data = {"kind": scan.kind, "location": scan.location, "at": scan.occurred_at.isoformat(), "source": source}
    if scan.kind == "delivered":
        company = session.get(Company, company_id)
        delivered_on = scan.occurred_at.astimezone(ZoneInfo(company.timezone)).date()
        sh.delivered_at = scan.occurred_at
        sh.on_time = delivered_on <= sh.promised_date if sh.promised_date else None
        data |= {"promised": sh.promised_date.isoformat() if sh.promised_date else None, "on_time": sh.on_time}
        if sh.promised_date and not sh.on_time:
            data["days_late"] = (delivered_on - sh.promised_date).days
    fulfillment.on_timeline(session, actor, sh, f"tracking_{scan.kind}", from_status=before, to_status=sh.status,
                            reason=scan.description, data=data)
    ev = _record_event(session, sh, scan.kind, scan.occurred_at, scan.location, scan.description, source, key)
    if scan.kind == "delivered":
        # The order is locked before its shipments are looked at: the last two delivered at the same
        # moment would each see the other still on its way, and the order would never be delivered.
        session.execute(select(Order.id).where(Order.id == sh.order_id).with_for_update())
        orders.record_delivery(session, actor, company_id, sh.order_id, _all_delivered(session, sh.order_id))
        emit(session, "shipment.delivered", {"shipment_id": sh.id, "order_id": sh.order_id, "on_time": sh.on_time},
             company_id=company_id, entity_id=sh.id)
    return ev, True


def _all_delivered(session: Session, order_id: int) -> bool:
    statuses = session.scalars(select(Shipment.status).where(Shipment.order_id == order_id, Shipment.kind == "order",
                                                             Shipment.status != "cancelled")).all()
    return bool(statuses) and all(s == "delivered" for s in statuses)


def event_view(ev: TrackingEvent, created: bool = True) -> dict:
    return {"id": ev.id, "shipment_id": ev.shipment_id, "shipment_number": f"SH{ev.shipment_id:08d}",
            "tracking_number": ev.tracking_number, "kind": ev.kind, "occurred_at": ev.occurred_at,
            "location": ev.location, "description": ev.description, "source": ev.source, "duplicate": not created}


def list_events(session: Session, actor: Actor, company_id: int, shipment_id: int) -> list[TrackingEvent]:
    fulfillment.get_shipment(session, actor, company_id, shipment_id)
    return list(session.scalars(select(TrackingEvent).where(TrackingEvent.shipment_id == shipment_id)
                                .order_by(TrackingEvent.occurred_at, TrackingEvent.id)))


def verify_webhook(session: Session, company_id: int, carrier_code: str, body: bytes, signature: str | None) -> Carrier:
    """A carrier webhook is signed: X-O2C-Signature: sha256=<hex HMAC-SHA256 of the body with the carrier's secret>."""
    c = get_carrier(session, company_id, carrier_code)
    if not c.webhook_secret:
        raise Conflict(f"carrier {c.code} has no webhook secret set; its webhooks are not accepted")
    expected = "sha256=" + hmac.new(c.webhook_secret.encode(), body, hashlib.sha256).hexdigest()
    if not signature or not hmac.compare_digest(expected, signature):
        raise ValidationFailed.one("X-O2C-Signature", "bad_signature", "the webhook signature does not match the body")
    return c


CSV_COLUMNS = ("tracking_number", "kind", "occurred_at", "location", "description", "event_id")
CSV_MAX_LENGTH = {"tracking_number": 40, "location": 200, "description": 500, "event_id": 120}  # as TrackingIn


def _records(reader: csv.DictReader, errors: ErrorList):
    """The file's rows, until one cannot be read (a cell beyond the csv module's size limit): an error."""
    try:
        yield from reader
    except csv.Error as exc:
        n = reader.line_num + 1  # the lines read whole before the one that failed
        errors.add(f"line {n}", "unreadable", f"line {n} cannot be read: {exc}")


def parse_tracking_csv(text: str) -> list[Scan]:
    """A carrier's tracking file: a header row naming at least tracking_number, kind and occurred_at (ISO
    8601 with offset). Every row is checked first; one bad row refuses the file, naming its line."""
    reader = csv.DictReader(io.StringIO(text))
    try:
        header = [h.strip() for h in reader.fieldnames or []]
    except csv.Error as exc:
        raise ValidationFailed.one("file", "unreadable", f"the header cannot be read: {exc}") from None
    missing = [c for c in ("tracking_number", "kind", "occurred_at") if c not in header]
    if missing:
        raise ValidationFailed.one("file", "missing_columns", f"the header lacks {', '.join(missing)}; "
                                   f"expected columns: {', '.join(CSV_COLUMNS)}")
    errors = ErrorList()
    out = []
    for n, row in enumerate(_records(reader, errors), start=2):
        if None in row:  # csv puts the fields beyond the header under None, as a list
            errors.add(f"line {n}", "too_many_fields", f"line {n} has {len(header) + len(row[None])} fields, "
                       f"the header {len(header)} (a comma in a value must be quoted)")
            continue
        row = {(k or "").strip(): (v or "").strip() for k, v in row.items()}
        too_long = [c for c, most in CSV_MAX_LENGTH.items() if len(row.get(c) or "") > most]
        if too_long:
            c = too_long[0]
            errors.add(f"line {n}.{c}", "too_long", f"line {n}: {c} is longer than {CSV_MAX_LENGTH[c]} characters")
            continue
        try:
            at = datetime.fromisoformat(row["occurred_at"].replace("Z", "+00:00"))
            if at.tzinfo is None:
                raise ValueError
        except ValueError:
            errors.add(f"line {n}.occurred_at", "invalid", f"line {n}: occurred_at {row['occurred_at']!r} is not an ISO 8601 time with offset")
            continue
        if row["kind"] not in KINDS:
            errors.add(f"line {n}.kind", "unknown", f"line {n}: kind {row['kind']!r} is not one of {', '.join(KINDS)}")
            continue
        if not row["tracking_number"]:
            errors.add(f"line {n}.tracking_number", "required", f"line {n}: tracking_number is empty")
            continue
        out.append(Scan(row["tracking_number"], row["kind"], at, row.get("location") or None,
                        row.get("description") or None, row.get("event_id") or None))
    errors.raise_if_any("the tracking file was not imported")
    return out


def track_many(session: Session, actor: Actor, company_id: int, scans: list[Scan], source: str) -> dict:
    """All rows or none: an unknown tracking number or a refused event refuses the file, naming its line."""
    results = {"created": 0, "duplicates": 0}
    for n, sc in enumerate(scans, start=2):
        try:
            _, created = track(session, actor, company_id, sc, source)
        except (ValidationFailed, Conflict) as exc:
            raise ValidationFailed.one(f"line {n}", "refused", f"line {n}: {exc.detail}") from None
        results["created" if created else "duplicates"] += 1
    return results
