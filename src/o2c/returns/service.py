"""Return use cases: request, authorise (RMA number and return label), reject, receive, inspect and
close with a refund or an exchange; lists, the return label, and the reasons analytics.

Each use case runs in the caller's transaction: the change, its record on the order's timeline
(entity "order", actions return_requested, return_authorised, ...) and its outbox events commit
together, and a refusal changes nothing. Decisions are in o2c.returns.rules.

Events: return.requested, return.authorised (the customer gets the RMA number and the label link),
return.rejected, return.received, return.refund_due (billing issues the credit note from it),
return.closed.
"""
from __future__ import annotations

from collections import defaultdict
from datetime import date, datetime, time, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.orm import Session, selectinload

from o2c.catalog.models import Product
from o2c.core import audit, clock
from o2c.core.auth import Actor, require
from o2c.core.errors import Conflict, Forbidden, ValidationFailed
from o2c.core.events import emit
from o2c.core.listing import newest_first, own_one
from o2c.core.models import Company
from o2c.core.money import ZERO, plain, round_money
from o2c.customers.models import Customer
from o2c.fulfillment import service as fulfillment
from o2c.fulfillment.models import Package, Shipment, ShipmentLine
from o2c.inventory import outbound
from o2c.inventory.models import Warehouse
from o2c.orders import service as orders
from o2c.orders.models import Order, OrderLine
from o2c.returns import rules
from o2c.returns.models import Return, ReturnLine
from o2c.shipping import labels, rates, tracking
from o2c.shipping import service as shipping
from o2c.shipping.models import Carrier

# A return label's SSCC uses this extension digit (outbound parcels use 0), so the two series never
# share a number under the same GS1 company prefix.
RETURN_SSCC_EXTENSION = 5
# A label needs a weight above zero; products without a weight on file are counted at this.
MIN_LABEL_WEIGHT_KG = Decimal("0.1")
# The serial widths of the tracking formats o2c numbers (o2c.shipping.tracking.generate), widest first.
SERIAL_WIDTHS = (14, 11, 10, 9, 8, 7)
AUTHORISED_ACTION = "return_authorised"


# --- reading ------------------------------------------------------------------------------------

def get_return(session: Session, actor: Actor, company_id: int, return_id: int, *, lock: bool = False) -> Return:
    """A portal user sees the returns of their own customer only; anyone else's is not found."""
    return own_one(session, Return, actor, company_id, return_id, "return", selectinload(Return.lines), lock=lock)


def list_returns(session: Session, actor: Actor, company_id: int, *, status: str | None = None,
                 order_id: int | None = None, customer_id: int | None = None, before_id: int | None = None,
                 limit: int = 50) -> list[Return]:
    """Newest first; `before_id` is the cursor (the id of the last return of the previous page)."""
    stmt = newest_first(Return, actor, company_id, before_id=before_id, limit=limit, status=status or None,
                        order_id=order_id, customer_id=customer_id)
    return list(session.scalars(stmt.options(selectinload(Return.lines))))


def views(session: Session, returns: list[Return]) -> list[dict]:
    """Returns as the API shows them, loading what they refer to once for the whole list."""
    order_ids = {r.order_id for r in returns}
    line_ids = {li.order_line_id for r in returns for li in r.lines}
    line_nos = dict(session.execute(select(OrderLine.id, OrderLine.line_no).where(OrderLine.id.in_(line_ids))).all()) \
        if line_ids else {}
    currency = dict(session.execute(select(Order.id, Order.currency).where(Order.id.in_(order_ids))).all()) \
        if order_ids else {}
    warehouses = dict(session.execute(select(Warehouse.id, Warehouse.code).where(
        Warehouse.id.in_({r.warehouse_id for r in returns if r.warehouse_id}))).all())
    carriers = {c.id: (c.code, c.tracking_format) for c in session.scalars(select(Carrier).where(
        Carrier.id.in_({r.label_carrier_id for r in returns if r.label_carrier_id})))}
    out = []
    for r in returns:
        carrier, fmt = carriers.get(r.label_carrier_id, (None, None))
        out.append({
            "id": r.id, "rma_number": r.rma_number, "order_id": r.order_id, "order_number": f"SO{r.order_id:08d}",
            "customer_id": r.customer_id, "status": r.status, "outcome": r.outcome, "currency": currency[r.order_id],
            "warehouse": warehouses.get(r.warehouse_id), "notes": r.notes, "carrier": carrier,
            "label_tracking_number": r.label_tracking_number,
            "tracking_url": tracking.tracking_url(fmt, r.label_tracking_number) if fmt else None,
            "refund_amount": None if r.refund_amount is None else round_money(r.refund_amount, currency[r.order_id]),
            "exchange_shipment": f"SH{r.exchange_shipment_id:08d}" if r.exchange_shipment_id else None,
            "rejection_reason": r.rejection_reason, "created_at": r.created_at, "authorised_at": r.authorised_at,
            "received_at": r.received_at, "closed_at": r.closed_at,
            "lines": [{"line_no": line_nos[li.order_line_id], "sku": li.sku, "quantity": li.quantity,
                       "reason": li.reason, "reason_text": li.reason_text, "received_qty": li.received_qty,
                       "condition": li.condition, "unit_net": li.unit_net, "unit_tax": li.unit_tax}
                      for li in sorted(r.lines, key=lambda li: (line_nos[li.order_line_id], li.id))],
        })
    return out


def return_view(session: Session, ret: Return) -> dict:
    return views(session, [ret])[0]


# --- helpers --------------------------------------------------------------------------------------

def _on_timeline(session: Session, actor: Actor, ret: Return, action: str, *, from_status: str | None = None,
                 to_status: str | None = None, reason: str | None = None, data: dict | None = None) -> None:
    """Return steps are written on the order's timeline, where customer service looks for them."""
    audit.record(session, actor, "order", ret.order_id, action, company_id=ret.company_id,
                 from_status=from_status, to_status=to_status, reason=reason,
                 data={"return_id": ret.id, "rma": ret.rma_number, **(data or {})})


def _move(session: Session, actor: Actor, ret: Return, to: str, action: str, *, reason: str | None = None,
          data: dict | None = None) -> None:
    before = ret.status
    rules.check_transition(ret.rma_number, before, to)
    ret.status = to
    _on_timeline(session, actor, ret, action, from_status=before, to_status=to, reason=reason, data=data)


def _emit(session: Session, ret: Return, topic: str, payload: dict | None = None) -> None:
    emit(session, topic, {"return_id": ret.id, "rma": ret.rma_number, "order_id": ret.order_id,
                          "customer_id": ret.customer_id, "status": ret.status, **(payload or {})},
         company_id=ret.company_id, entity_id=ret.id)


def _local_date(at: datetime, tz: str) -> date:
    return at.astimezone(ZoneInfo(tz)).date()


def _line_facts(session: Session, company: Company, order: Order) -> dict[int, rules.LineFacts]:
    """Per order line number: shipped, delivered (shipments of kind "order"), held in returns, the last
    delivery's business date, and the decimals its unit allows."""
    shipped: dict[int, Decimal] = defaultdict(Decimal)
    delivered: dict[int, Decimal] = defaultdict(Decimal)
    last: dict[int, date] = {}
    for line_id, status, qty, delivered_at in session.execute(
            select(ShipmentLine.order_line_id, Shipment.status, ShipmentLine.shipped_qty, Shipment.delivered_at)
            .join(Shipment, Shipment.id == ShipmentLine.shipment_id)
            .where(Shipment.order_id == order.id, Shipment.kind == "order")):
        shipped[line_id] += qty
        if status == "delivered" and delivered_at is not None:
            delivered[line_id] += qty
            on = _local_date(delivered_at, company.timezone)
            last[line_id] = max(last.get(line_id, on), on)
    held: dict[int, Decimal] = defaultdict(Decimal)
    for line_id, status, qty, received in session.execute(
            select(ReturnLine.order_line_id, Return.status, ReturnLine.quantity, ReturnLine.received_qty)
            .join(Return, Return.id == ReturnLine.return_id).where(Return.order_id == order.id)):
        held[line_id] += rules.counted_in_return(status, qty, received)
    decimals = dict(session.execute(select(Product.id, Product.uom_decimals).where(
        Product.id.in_({li.product_id for li in order.lines}))).all())
    return {li.line_no: rules.LineFacts(li.line_no, shipped[li.id], delivered[li.id], held[li.id], last.get(li.id),
                                        decimals.get(li.product_id, 0))
            for li in order.lines}


def returnable_lines(session: Session, actor: Actor, company_id: int, order_id: int) -> list[dict]:
    """An order's lines as a return request sees them, for a form to offer: delivered, already in returns,
    what may still be returned and until when (a portal user: own orders only, another's is not found)."""
    require(actor, "read")
    order = orders.get_order(session, actor, company_id, order_id, holds=False)
    company = session.get(Company, company_id)
    today = clock.today_in(company.timezone)
    facts = _line_facts(session, company, order)
    out = []
    for li in sorted(order.lines, key=lambda li: li.line_no):
        f = facts[li.line_no]
        closes = rules.window_closes(f.last_delivered_on, company.return_window_days) if f.last_delivered_on else None
        open_ = closes is not None and today <= closes
        out.append({"line_no": li.line_no, "sku": li.sku, "description": li.description, "uom": li.uom,
                    "ordered": li.quantity, "delivered": f.delivered, "in_returns": f.in_returns,
                    "returnable": rules.returnable(f.delivered, f.in_returns) if open_ else ZERO,
                    "window_closes": closes})
    return out


# --- request --------------------------------------------------------------------------------------

def request(session: Session, actor: Actor, company_id: int, data) -> Return:
    """A customer (in the portal) or customer service asks to return delivered goods: refused with every
    problem named (never delivered, past the window, more than delivered and not yet returned, an
    unknown reason) and nothing stored; otherwise the return is `requested`."""
    require(actor, "returns.request")
    order = orders.get_order(session, actor, company_id, data.order_id, lock=True)  # 404 for others' orders
    company = session.get(Company, company_id)
    asked = [rules.RequestLine(li.line_no, li.quantity, li.reason, li.reason_text) for li in data.lines]
    rules.check_request(order.number, asked, _line_facts(session, company, order), clock.today_in(company.timezone),
                        company.return_window_days)
    by_no = {li.line_no: li for li in order.lines}
    now = clock.now()
    ret = Return(company_id=company_id, order_id=order.id, customer_id=order.customer_id, status=rules.REQUESTED,
                 outcome=data.outcome, notes=data.notes, requested_by=actor.user_id, created_at=now)
    ret.lines = [ReturnLine(order_line_id=by_no[a.line_no].id, product_id=by_no[a.line_no].product_id,
                            sku=by_no[a.line_no].sku, quantity=a.quantity, reason=a.reason,
                            reason_text=(a.reason_text or "").strip() or None, received_qty=ZERO, condition=None,
                            unit_net=rules.unit_amount(by_no[a.line_no].net_amount, by_no[a.line_no].quantity),
                            unit_tax=rules.unit_amount(by_no[a.line_no].tax_amount, by_no[a.line_no].quantity))
                 for a in asked]
    session.add(ret)
    session.flush()
    lines = {a.line_no: plain(a.quantity) for a in asked}
    _on_timeline(session, actor, ret, "return_requested", to_status=rules.REQUESTED, reason=data.notes,
                 data={"outcome": ret.outcome, "lines": lines, "reasons": {a.line_no: a.reason for a in asked}})
    _emit(session, ret, "return.requested", {"outcome": ret.outcome, "lines": [
        {"line_no": a.line_no, "sku": by_no[a.line_no].sku, "quantity": plain(a.quantity), "reason": a.reason}
        for a in asked]})
    return ret


# --- authorise or reject -------------------------------------------------------------------------

def _return_warehouse(session: Session, company_id: int, ret: Return) -> Warehouse:
    """Goods go back to the active warehouse that delivered most of them (lowest id on a tie)."""
    line_ids = {li.order_line_id for li in ret.lines}
    sent: dict[int, Decimal] = defaultdict(Decimal)
    for wh, qty in session.execute(
            select(Shipment.warehouse_id, ShipmentLine.shipped_qty)
            .join(Shipment, Shipment.id == ShipmentLine.shipment_id)
            .where(Shipment.order_id == ret.order_id, Shipment.kind == "order", Shipment.status == "delivered",
                   ShipmentLine.order_line_id.in_(line_ids))):
        sent[wh] += qty
    active = {w.id: w for w in session.scalars(select(Warehouse).where(Warehouse.company_id == company_id,
                                                                       Warehouse.active.is_(True)))}
    for wh in sorted(sent, key=lambda w: (-sent[w], w)):
        if wh in active:
            return active[wh]
    if not active:
        raise Conflict("the company has no active warehouse to take returns")
    return active[min(active)]


def _label_weight(session: Session, ret: Return) -> Decimal:
    """The parcel's weight estimated from the catalogue (the carrier weighs it again)."""
    weights = dict(session.execute(select(Product.id, Product.weight_kg).where(
        Product.id.in_({li.product_id for li in ret.lines}))).all())
    kg = sum(((weights.get(li.product_id) or ZERO) * li.quantity for li in ret.lines), ZERO)
    return max(kg, MIN_LABEL_WEIGHT_KG)


def _place(country: str | None, postal_code: str | None) -> rates.Place | None:
    return rates.Place(country, postal_code) if country and postal_code else None


def _choose_carrier(session: Session, company: Company, code: str | None, origin: rates.Place | None,
                    dest: rates.Place | None, weight_kg: Decimal) -> tuple[Carrier, rates.Quote | None]:
    """The named active carrier (its cheapest service, if its table covers the way back), or the
    cheapest quote of every active carrier (ties: the faster, then the first set up)."""
    carriers = [c for c in shipping.list_carriers(session, company.id) if c.active]
    if code is not None:
        carriers = [c for c in carriers if c.code == code]
        if not carriers:
            raise ValidationFailed.one("carrier", "unknown", f"no active carrier {code!r}")
    elif not carriers:
        raise Conflict("no carriers are set up: add one with its rate table first (POST /carriers)")
    found = []
    if origin and dest:
        ship_date = clock.today_in(company.timezone)
        parcel = rates.Parcel(weight_kg, ZERO, ZERO, ZERO)
        for n, c in enumerate(carriers):
            for q in rates.quotes([shipping.parsed_table(c)], origin, dest, [parcel], ship_date):
                found.append((q.total, q.transit_days, n, c, q))
    if found:
        _, _, _, c, q = min(found, key=lambda f: f[:3])
        return c, q
    if code is not None:
        return carriers[0], None
    start = f"{origin.country} {origin.postal_code}" if origin else "an address without a postal code"
    end = f"{dest.country} {dest.postal_code}" if dest else "a warehouse without a postal code"
    raise Conflict(f"no carrier's rate table covers a parcel from {start} to {end}: name the carrier of the "
                   "return label", field="carrier")


def _label_number(session: Session, company: Company, carrier: Carrier, return_id: int) -> str:
    """The return label's tracking number. Parcels are numbered upwards from their id; return labels
    count down from the top of the carrier's serial space, so the two series do not meet."""
    problem = None
    for width in SERIAL_WIDTHS:
        try:
            number = shipping.tracking_number_for(carrier, 10**width - return_id, company.country)
            break
        except Conflict as exc:
            problem = exc
    else:
        raise Conflict(f"carrier {carrier.code} cannot number the return label: {problem.detail}", field="carrier")
    if session.scalar(select(Package.id).where(Package.company_id == company.id, Package.tracking_number == number)):
        raise Conflict(f"carrier {carrier.code}'s number {number} is taken by a parcel; choose another carrier",
                       field="carrier")
    return number


def _warehouse_address(company: Company, wh: Warehouse) -> dict:
    return {"name": company.name, **{k: getattr(wh, k) for k in ("line1", "line2", "city", "region", "postal_code",
                                                                 "country")}}


def authorise(session: Session, actor: Actor, company_id: int, return_id: int, carrier: str | None = None) -> Return:
    """Accept the request: the RMA number, the warehouse the goods go back to, and a return label from
    the named carrier or the cheapest one for the way back."""
    require(actor, "returns.write")
    ret = get_return(session, actor, company_id, return_id, lock=True)
    rules.check_transition(ret.rma_number, ret.status, rules.AUTHORISED)
    company = session.get(Company, company_id)
    order = session.get(Order, ret.order_id)
    wh = _return_warehouse(session, company_id, ret)
    weight = _label_weight(session, ret)
    chosen, quote = _choose_carrier(session, company, carrier, _place(order.ship_to_country, order.ship_to_postal_code),
                                    _place(wh.country, wh.postal_code), weight)
    number = _label_number(session, company, chosen, ret.id)
    ret.warehouse_id, ret.label_tracking_number = wh.id, number
    ret.label_carrier_id, ret.label_service_code, ret.label_weight_kg = chosen.id, quote.service if quote else None, weight
    ret.authorised_by, ret.authorised_at = actor.user_id, clock.now()
    choice = {"carrier": chosen.code, "service": quote.service if quote else None, "tracking_number": number,
              "warehouse": wh.code, "label_cost": plain(quote.total) if quote else None,
              "weight_kg": plain(weight)}
    _move(session, actor, ret, rules.AUTHORISED, AUTHORISED_ACTION, data=choice)
    descriptions = {li.id: li.description for li in order.lines}
    line_nos = {li.id: li.line_no for li in order.lines}
    _emit(session, ret, "return.authorised", {
        "order_number": order.number, "outcome": ret.outcome, "carrier": chosen.code, "carrier_name": chosen.name,
        "tracking_number": number, "tracking_url": tracking.tracking_url(chosen.tracking_format, number),
        "label_pdf": f"/api/v1/returns/{ret.id}/label.pdf", "label_zpl": f"/api/v1/returns/{ret.id}/label.zpl",
        "return_to": _warehouse_address(company, wh),
        "lines": [{"line_no": line_nos[li.order_line_id], "sku": li.sku,
                   "description": descriptions[li.order_line_id], "quantity": plain(li.quantity)} for li in ret.lines]})
    session.flush()
    return ret


def reject(session: Session, actor: Actor, company_id: int, return_id: int, reason: str) -> Return:
    require(actor, "returns.write")
    ret = get_return(session, actor, company_id, return_id, lock=True)
    rules.check_transition(ret.rma_number, ret.status, rules.REJECTED)
    ret.rejection_reason, ret.closed_at = reason, clock.now()
    _move(session, actor, ret, rules.REJECTED, "return_rejected", reason=reason)
    _emit(session, ret, "return.rejected", {"reason": reason})
    session.flush()
    return ret


def label(session: Session, actor: Actor, company_id: int, return_id: int, fmt: str) -> bytes | str:
    """The return label: from the customer's ship-to address to the warehouse, 4 x 6 in, PDF or ZPL."""
    ret = get_return(session, actor, company_id, return_id)
    if not ret.label_tracking_number:
        raise Conflict(f"return {ret.rma_number} is {ret.status} and has no label: labels come with the authorisation",
                       current_status=ret.status)
    company = session.get(Company, company_id)
    order = session.get(Order, ret.order_id)
    wh = session.get(Warehouse, ret.warehouse_id)
    carrier = session.get(Carrier, ret.label_carrier_id)
    service = shipping.parsed_table(carrier).service(ret.label_service_code) if ret.label_service_code else None
    ship_from = labels.LabelAddress(
        order.ship_to_name or session.get(Customer, order.customer_id).legal_name,
        *(getattr(order, f"ship_to_{k}") or "" for k in ("line1", "line2", "city", "region", "postal_code", "country")))
    ship_to = labels.LabelAddress(*(v or "" for v in _warehouse_address(company, wh).values()))
    prefix = company.gs1_prefix or shipping.DEMO_GS1_PREFIX
    lab = labels.ShippingLabel(
        ship_from=ship_from, ship_to=ship_to, carrier_name=carrier.name,
        service_name=f"RETURN {service.name}" if service else "RETURN",
        tracking_number=ret.label_tracking_number, sscc=labels.sscc(RETURN_SSCC_EXTENSION, prefix, ret.id),
        weight_kg=ret.label_weight_kg, package_no=1, package_count=1, order_number=order.number,
        shipment_number=ret.rma_number, ship_date=_local_date(ret.authorised_at, company.timezone),
        company_prefix_length=len(prefix))
    return labels.label_zpl(lab) if fmt == "zpl" else labels.label_pdf(lab)


# --- receive and inspect -------------------------------------------------------------------------

def _line_nos(session: Session, ret: Return) -> dict[int, int]:
    """Order line id -> its line number."""
    return dict(session.execute(select(OrderLine.id, OrderLine.line_no).where(
        OrderLine.id.in_({li.order_line_id for li in ret.lines}))).all())


def receive(session: Session, actor: Actor, company_id: int, return_id: int, data) -> Return:
    """The parcel arrived: what is in it, per line (at most what was authorised), and where."""
    require(actor, "returns.receive")
    ret = get_return(session, actor, company_id, return_id, lock=True)
    rules.check_transition(ret.rma_number, ret.status, rules.RECEIVED)
    nos = _line_nos(session, ret)
    rows = {nos[li.order_line_id]: li for li in ret.lines}
    counted = [(li.line_no, li.quantity) for li in data.lines]
    rules.check_receipt(ret.rma_number, {n: r.quantity for n, r in rows.items()}, counted)
    if data.warehouse is not None:
        wh = session.scalar(select(Warehouse).where(Warehouse.company_id == company_id,
                                                    Warehouse.code == data.warehouse))
        if wh is None or not wh.active:
            raise ValidationFailed.one("warehouse", "unknown", f"no active warehouse {data.warehouse!r}")
        ret.warehouse_id = wh.id
    got = dict(counted)
    for n, row in rows.items():
        row.received_qty = got.get(n, ZERO)
    ret.received_at = clock.now()
    short = {n: plain(r.quantity - r.received_qty) for n, r in sorted(rows.items()) if r.received_qty < r.quantity}
    wh_code = session.get(Warehouse, ret.warehouse_id).code
    _move(session, actor, ret, rules.RECEIVED, "return_received", data={
        "warehouse": wh_code, "received": {n: plain(r.received_qty) for n, r in sorted(rows.items())},
        **({"short": short} if short else {})})
    _emit(session, ret, "return.received", {"warehouse": wh_code, "lines": [
        {"line_no": n, "sku": r.sku, "quantity": plain(r.received_qty)} for n, r in sorted(rows.items())]})
    session.flush()
    return ret


def _split(ret: Return, rows: dict[int, ReturnLine], parts: dict[int, list[tuple[str, Decimal]]]) -> None:
    """Give each received line its condition; a line split over several conditions becomes several
    return lines (same order line and reason), whose quantities add up to the original ones."""
    for n, found in parts.items():
        row = rows[n]
        row.condition = found[0][0]
        for condition, q in found[1:]:
            ret.lines.append(ReturnLine(order_line_id=row.order_line_id, product_id=row.product_id, sku=row.sku,
                                        quantity=q, reason=row.reason, reason_text=row.reason_text, received_qty=q,
                                        condition=condition, unit_net=row.unit_net, unit_tax=row.unit_tax))
            row.quantity -= q
            row.received_qty -= q


def _refund(session: Session, actor: Actor, ret: Return, order: Order, accepted: dict[int, Decimal]) -> dict:
    """The refund of the accepted units, handed to billing as return.refund_due (before the order lines
    count them as returned: the proration starts where earlier returns left off)."""
    by_id = {li.id: li for li in order.lines}
    due = rules.refund([rules.RefundLine(i, by_id[i].sku, by_id[i].quantity, by_id[i].net_amount,
                                         by_id[i].tax_amount, by_id[i].returned_qty, q)
                        for i, q in sorted(accepted.items())], order.currency)
    ret.refund_amount = due.total
    if due.lines:
        totals = {"net": plain(due.net), "tax": plain(due.tax), "total": plain(due.total)}
        _on_timeline(session, actor, ret, "return_refund_due", data={"currency": order.currency, **totals})
        _emit(session, ret, "return.refund_due", {
            "order_number": order.number, "currency": order.currency, **totals,
            "lines": [{"order_line_id": li.order_line_id, "line_no": by_id[li.order_line_id].line_no, "sku": li.sku,
                       "quantity": plain(li.quantity), "net": plain(net), "tax": plain(tax)}
                      for li, net, tax in due.lines]})
    return {"refund": plain(due.total)}


def _exchange(session: Session, actor: Actor, ret: Return, order: Order, accepted: dict[int, Decimal]) -> dict:
    """A released exchange shipment of the accepted units (fulfilment reserves them; short: Conflict)."""
    items = [(li.id, li.product_id, accepted[li.id]) for li in sorted(order.lines, key=lambda li: li.id)
             if accepted.get(li.id, ZERO) > 0]
    if not items:
        return {}
    shipment = fulfillment.create_exchange_shipment(session, actor, company_id=ret.company_id, order_id=order.id,
                                                    return_id=ret.id, rma=ret.rma_number, items=items)
    ret.exchange_shipment_id = shipment.id
    return {"exchange_shipment": shipment.number}


def inspect(session: Session, actor: Actor, company_id: int, return_id: int, data) -> Return:
    """Inspect what came back and close the return in one step: restocked units go back on hand in the
    receiving warehouse; damaged and refused ones do not (no stock move: they never join sellable
    stock). Restocked and damaged units are accepted: they are refunded (return.refund_due for billing)
    or replaced by an exchange shipment. Refused units go back to the customer. A short of stock for
    the exchange refuses the whole inspection and changes nothing (decide `outcome: refund` instead)."""
    require(actor, "returns.receive")
    ret = get_return(session, actor, company_id, return_id, lock=True)
    rules.check_transition(ret.rma_number, ret.status, rules.INSPECTED)
    order = orders.get_order(session, actor, company_id, ret.order_id, lock=True)
    nos = _line_nos(session, ret)
    rows = {nos[li.order_line_id]: li for li in ret.lines}
    parts = rules.check_inspection(ret.rma_number, {n: r.received_qty for n, r in rows.items()},
                                   [rules.Verdict(v.line_no, v.condition, v.quantity) for v in data.lines])
    outcome = data.outcome or ret.outcome
    changed_outcome = outcome != ret.outcome
    ret.outcome = outcome
    _split(ret, rows, parts)
    session.flush()

    accepted: dict[int, Decimal] = defaultdict(Decimal)  # order line id -> units
    restock: dict[int, Decimal] = defaultdict(Decimal)  # product id -> units
    for li in ret.lines:
        if li.condition in rules.ACCEPTED:
            accepted[li.order_line_id] += li.received_qty
        if li.condition == rules.RESTOCK:
            restock[li.product_id] += li.received_qty
    _move(session, actor, ret, rules.INSPECTED, "return_inspected", data={
        "conditions": {n: [[c, plain(q)] for c, q in found] for n, found in sorted(parts.items())},
        **({"outcome_changed_to": outcome} if changed_outcome else {})})
    outbound.put_back(session, actor, company_id, ret.warehouse_id, sorted(restock.items()), ret.rma_number)

    by_id = {li.id: li for li in order.lines}
    if outcome == "refund":
        result = {"outcome": outcome, **_refund(session, actor, ret, order, accepted)}
    else:
        result = {"outcome": outcome, **_exchange(session, actor, ret, order, accepted)}
    for i, q in accepted.items():
        by_id[i].returned_qty += q
    fulfillment.mark_returned(session, accepted)

    ret.closed_at = clock.now()
    _move(session, actor, ret, rules.CLOSED, "return_closed", data=result)
    _emit(session, ret, "return.closed", {**result, "exchange_shipment_id": ret.exchange_shipment_id})
    session.flush()
    return ret


# --- analytics ------------------------------------------------------------------------------------

MAX_RANGE_DAYS = 3 * 366


def reasons_summary(session: Session, actor: Actor, company_id: int, date_from: date, date_to: date) -> dict:
    """Why goods come back: per reason and per SKU, the number of returns and the units, for returns
    requested between the two business dates (inclusive). Rejected requests are left out: nothing
    came back."""
    if actor.customer_id is not None:
        raise Forbidden("return reasons are the company's internal figures, not shown to portal users")
    if date_to < date_from:
        raise ValidationFailed.one("date_to", "before_from", f"date_to {date_to} is before date_from {date_from}")
    if (date_to - date_from).days > MAX_RANGE_DAYS:
        raise ValidationFailed.one("date_to", "range_too_long", "ask for at most three years at a time")
    tz = ZoneInfo(session.get(Company, company_id).timezone)
    start = datetime.combine(date_from, time(), tz)
    end = datetime.combine(date_to + timedelta(days=1), time(), tz)
    rows = session.execute(
        select(ReturnLine.return_id, ReturnLine.reason, ReturnLine.sku, ReturnLine.quantity)
        .join(Return, Return.id == ReturnLine.return_id)
        .where(Return.company_id == company_id, Return.status != rules.REJECTED,
               Return.created_at >= start, Return.created_at < end))
    by_reason: dict[str, tuple[set, Decimal]] = defaultdict(lambda: (set(), ZERO))
    by_sku: dict[str, tuple[set, Decimal, dict]] = defaultdict(lambda: (set(), ZERO, defaultdict(Decimal)))
    returns = set()
    for rid, reason, sku, qty in rows:
        returns.add(rid)
        ids, total = by_reason[reason]
        ids.add(rid)
        by_reason[reason] = (ids, total + qty)
        ids, total, reasons = by_sku[sku]
        ids.add(rid)
        reasons[reason] += qty
        by_sku[sku] = (ids, total + qty, reasons)
    return {
        "date_from": date_from, "date_to": date_to, "returns": len(returns),
        "by_reason": [{"reason": r, "description": rules.REASONS.get(r, r), "returns": len(ids), "quantity": q}
                      for r, (ids, q) in sorted(by_reason.items(), key=lambda kv: (-kv[1][1], kv[0]))],
        "by_sku": [{"sku": s, "returns": len(ids), "quantity": q, "reasons": dict(sorted(reasons.items()))}
                   for s, (ids, q, reasons) in sorted(by_sku.items(), key=lambda kv: (-kv[1][1], kv[0]))],
    }
