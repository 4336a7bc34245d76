"""One order's whole life for a person at a screen: its lines with what was reserved, shipped, invoiced
and returned; its shipments, invoices, credit notes and returns; ONE timeline across every stage; and
what it waits for now, and who must act.

The timeline's spine is the order's own audit trail (orders.service.timeline): every stage writes its
steps there (holds and credit decisions, waves, picks, parcels, shipping, invoices and credit notes,
payments, returns), each with who and when. Carrier scans are taken from the tracking events instead,
at the time and place the carrier reported them, so the audit's own tracking notes are left out.
"""
from __future__ import annotations

from collections import defaultdict
from datetime import date
from decimal import Decimal

from sqlalchemy import select
from sqlalchemy.orm import Session

from o2c.billing import service as billing
from o2c.billing.models import Invoice
from o2c.core import clock
from o2c.core.auth import Actor, require
from o2c.core.models import AuditRecord, Company
from o2c.core.money import ZERO
from o2c.customers import service as customers
from o2c.fulfillment import service as fulfillment
from o2c.fulfillment.models import Shipment
from o2c.orders import rules, service as orders
from o2c.orders.models import Order
from o2c.returns import service as returns
from o2c.shipping import service as shipping

STAGES = ("capture", "holds", "credit", "allocation", "picking", "packing", "shipment", "tracking", "invoice",
          "payments", "returns")
WAREHOUSE_OPEN = {"released": "Picking", "picked": "Packing", "packed": "Shipping"}
IN_TRANSIT = ("shipped", "in_transit", "out_for_delivery", "exception")
RETURN_WAITS = {
    "requested": ("Return {rma}: waiting for customer service to authorise or reject it", "customer_service"),
    "authorised": ("Return {rma}: waiting for the customer to send the goods back", "customer"),
    "received": ("Return {rma}: waiting for the warehouse to inspect the goods", "warehouse"),
    "inspected": ("Return {rma}: waiting for customer service to close it (refund or exchange)", "customer_service"),
}
# Who decides each kind of hold (the role, and the words for a person).
HOLD_WAITS = {
    "validation": ("Validation hold: waiting for the order desk to correct {fields}", "order_desk"),
    "duplicate": ("Duplicate hold: waiting for the order desk to confirm it is not a duplicate", "order_desk"),
    "pricing": ("Pricing hold: waiting for a pricing approver who did not enter the order", "pricing_approver"),
    "customer": ("Customer hold: waiting for compliance to activate the customer", "compliance_officer"),
    "compliance": ("Compliance hold: waiting for a compliance officer to decide the screening hit",
                   "compliance_officer"),
    "fraud": ("Fraud review: waiting for a fraud analyst", "fraud_analyst"),
}


def stage_of(action: str) -> str:
    """Which stage of the process a timeline action belongs to."""
    if action.startswith("credit_"):
        return "credit"
    if action.startswith("return_") or action.startswith("refund_") or action in ("no_refund_due",
                                                                                   "exchange_shipment_released"):
        return "returns"
    if action.startswith("tracking_") or action == "delivered":
        return "tracking"
    if action.startswith("parcel_") or action == "shipment_packed":
        return "packing"
    if action.startswith("card_") or action in ("paid", "partially_paid", "payment_bounced", "reminder_sent",
                                                "invoice_paid_by_card"):
        return "payments"
    for prefix, stage in (("shipment_released", "picking"), ("shipment_picked", "picking"),
                          ("shipment_not_found", "picking"), ("shipment_", "shipment")):
        if action.startswith(prefix):
            return stage
    fixed = {"confirmed": "allocation", "backorder_allocated": "allocation", "shipped": "shipment",
             "invoiced": "invoice", "credited": "invoice", "rechecked": "holds", "screening_decided": "holds"}
    if action in fixed:
        return fixed[action]
    if action.endswith("_hold_released") or action.endswith("_rejected"):
        return "holds"
    return "capture"


def _fmt(data: dict | None, *keys: str) -> list[str]:
    return [str(data[k]) for k in keys if data and data.get(k) not in (None, "", [], {})]


def text_of(r: AuditRecord) -> str:
    """One timeline record in words."""
    d, a = r.data or {}, r.action
    texts = {
        "captured": lambda: "Captured" + (f", on hold: {', '.join(sorted(d['holds']))}" if d.get("holds") else
                                          f", {r.to_status}" if r.to_status else ""),
        "confirmed": lambda: "Stock reserved: order confirmed" if r.to_status == rules.CONFIRMED
        else "Stock reserved in part: the rest is backordered",
        "credit_approval_requested": lambda: (f"Credit approval asked of a {str(d.get('role', 'credit')).replace('_', ' ')} "
                                              f"(grade {d.get('grade', 'none')}, {d.get('amount')} {d.get('currency')})"),
        "rechecked": lambda: f"Checked again: now {r.to_status}" if r.to_status != r.from_status else "Checked again",
        "credit_hold_released": lambda: "Credit hold released",
        "shipment_released": lambda: f"{d.get('shipment')} released to {d.get('warehouse')} in wave {d.get('wave')}",
        "shipment_picked": lambda: f"{d.get('shipment')} picked",
        "parcel_closed": lambda: f"Parcel closed in box {d.get('box')}, {d.get('weight_kg')} kg",
        "shipment_packed": lambda: f"{d.get('shipment')} packed ({d.get('parcels')} parcel(s))",
        "shipment_shipped": lambda: " ".join([f"{d.get('shipment')} handed to", *_fmt(d, "carrier", "service")])
        + (f", tracking {', '.join(d['tracking_numbers'])}" if d.get("tracking_numbers") else ""),
        "shipped": lambda: f"{d.get('shipment')} left: the order is {str(d.get('shipment_state', '')).replace('_', ' ')}",
        "delivered": lambda: "Every line delivered",
        "invoiced": lambda: f"Invoice {d.get('invoice')} issued: {d.get('gross')} {d.get('currency')}, due {d.get('due_date')}",
        "credited": lambda: " ".join(["Credit note", *_fmt(d, "credit_note", "gross", "currency")]),
        "paid": lambda: f"{d.get('invoice')} paid by {d.get('by')}: {d.get('amount')} {d.get('currency')}",
        "partially_paid": lambda: (f"{d.get('invoice')} partly paid by {d.get('by')}: {d.get('amount')} "
                                   f"{d.get('currency')}, {d.get('open')} still open"),
        "invoice_paid_by_card": lambda: (f"{d.get('invoice')} paid by card in the portal: {d.get('amount')} "
                                         f"{d.get('currency')} ({d.get('payment')})"),
    }
    text = texts[a]() if a in texts else a.replace("_", " ").capitalize()
    return f"{text}: {r.reason}" if r.reason and a not in ("captured",) else text


def merged_timeline(records: list[AuditRecord], events: list[dict]) -> list[dict]:
    """The order's records and its shipments' carrier scans as one list of {at, stage, text, by},
    oldest first; entries at the same moment keep the order they happened in."""
    out = [{"at": r.at, "stage": stage_of(r.action), "text": text_of(r), "by": r.actor, "action": r.action}
           for r in records if not r.action.startswith("tracking_")]
    for ev in events:
        where = f" at {ev['location']}" if ev.get("location") else ""
        out.append({"at": ev["occurred_at"], "stage": "tracking", "action": f"tracking_{ev['kind']}",
                    "text": f"{ev['shipment_number']} {ev['kind'].replace('_', ' ')}{where}"
                            + (f": {ev['description']}" if ev.get("description") else ""),
                    "by": f"{ev['carrier'] or 'carrier'} ({ev['source']})"})
    return sorted(out, key=lambda e: e["at"])  # stable: the audit's own order breaks ties


def _credit_wait(records: list[AuditRecord], currency: str) -> tuple[str, str]:
    asked = next((r.data or {} for r in reversed(records) if r.action == "credit_approval_requested"), None)
    if not asked:
        return "Credit hold: waiting for credit to decide", "credit_analyst"
    role = asked.get("role") or "credit_analyst"
    who = role.replace("_", " ")
    grade = str(asked.get("grade") or "ungraded")
    amount = f"{Decimal(str(asked.get('amount'))):,.2f} {asked.get('currency') or currency}"
    return f"Credit hold: waiting for a {who} (grade {grade}, {amount})", role


def _hold_waits(order: Order, records: list[AuditRecord]) -> list[dict]:
    out = []
    for h in order.holds:
        if not h.active:
            continue
        if h.kind == "credit":
            what, role = _credit_wait(records, order.currency)
        else:
            template, role = HOLD_WAITS.get(h.kind, (f"{h.kind.capitalize()} hold: waiting for a decision", "order_desk"))
            fields = ", ".join(sorted({str(x.get("field")) for x in h.reasons or [] if isinstance(x, dict)})) or "it"
            what = template.format(fields=fields)
        out.append({"what": what, "role": role})
    return out


def _fulfilment_waits(order: Order, shipments: list[Shipment], carriers: dict[int, str]) -> list[dict]:
    out = []
    for sh in shipments:
        if sh.status in WAREHOUSE_OPEN:
            out.append({"what": f"{WAREHOUSE_OPEN[sh.status]}: {sh.number} in the warehouse", "role": "warehouse"})
        elif sh.status in IN_TRANSIT and sh.kind == "order":
            carrier = carriers.get(sh.carrier_id) or "the carrier"
            out.append({"what": f"Delivery: {sh.number} is with {carrier}"
                        + (f", promised for {sh.promised_date}" if sh.promised_date else ""), "role": "carrier"})
    backordered = [li for li in order.lines if li.backordered_qty > 0]
    if backordered:
        out.append({"what": "Stock: " + ", ".join(f"{li.sku} × {li.backordered_qty.normalize():f}" for li in backordered)
                    + " backordered", "role": "warehouse"})
    waved = {sh.status for sh in shipments if sh.status in WAREHOUSE_OPEN}
    if not waved and any(li.reserved_qty > 0 for li in order.lines):
        out.append({"what": "Wave release: reserved stock waits to be picked", "role": "warehouse"})
    return out


def waits_for(order: Order, records: list[AuditRecord], shipments: list[Shipment], invoices: list[dict],
              open_returns: list[dict], carriers: dict[int, str], today: date) -> list[dict]:
    """What the order waits for now, each {what, role}: the role whose people must act ("customer" for
    the customer, "carrier" for the carrier). Nothing left: an empty list."""
    if order.status == rules.CANCELLED:
        return []
    if order.status == rules.HELD:
        return _hold_waits(order, records)
    out = []
    if order.status == rules.VALIDATED:
        out.append({"what": "Confirmation: waiting for the order desk to confirm it (reserve stock)", "role": "order_desk"})
    out += _fulfilment_waits(order, shipments, carriers)
    invoiced = {inv["shipment_id"] for inv in invoices}
    for sh in shipments:
        if sh.kind == "order" and sh.shipped_at is not None and sh.id not in invoiced:
            out.append({"what": f"Invoice: {sh.number} shipped and is not invoiced yet", "role": "billing"})
    for inv in invoices:
        if Decimal(inv["open_amount"]) > 0:
            late = (today - inv["due_date"]).days
            what = (f"Payment: the customer, invoice {inv['number']} ({inv['open_amount']} {inv['currency']} open) "
                    f"due {inv['due_date'].isoformat()}")
            out.append({"what": what + (f", {late} days overdue" if late > 0 else ""), "role": "customer"})
    for ret in open_returns:
        template, role = RETURN_WAITS[ret["status"]]
        out.append({"what": template.format(rma=ret["rma_number"]), "role": role})
    return out


def _lines(order: Order, invoices: list[dict]) -> list[dict]:
    invoiced: dict[int, Decimal] = defaultdict(lambda: ZERO)
    for inv in invoices:
        for li in inv["lines"]:
            invoiced[li["order_line_id"]] += Decimal(li["quantity"])
    return [{"line_no": li.line_no, "sku": li.sku, "description": li.description, "uom": li.uom,
             "unit_price": li.unit_price, "net_amount": li.net_amount, "ordered": li.quantity,
             "reserved": li.reserved_qty, "backordered": li.backordered_qty, "shipped": li.shipped_qty,
             "invoiced": invoiced[li.id], "returned": li.returned_qty} for li in order.lines]


def story(session: Session, actor: Actor, company_id: int, order_id: int) -> dict:
    """Everything the order page shows, read in one go."""
    require(actor, "read")
    order = orders.get_order(session, actor, company_id, order_id)
    records = orders.timeline(session, actor, company_id, order_id)
    shipments = fulfillment.list_shipments(session, actor, company_id, status=None, order_id=order_id, after=0,
                                           limit=500)
    carriers = {sh.carrier_id: shipping.carrier_code(session, sh.carrier_id) for sh in shipments if sh.carrier_id}
    events = [{**shipping.event_view(ev), "carrier": carriers.get(sh.carrier_id)}
              for sh in shipments for ev in shipping.list_events(session, actor, company_id, sh.id)]
    invoices = billing.invoice_views(session, list(reversed(
        billing.list_invoices(session, actor, company_id, order_id=order_id, limit=500))))
    notes = [billing.credit_note_view(session, n) for n in reversed(
        billing.list_credit_notes(session, actor, company_id, order_id=order_id, limit=500))]
    rets = returns.views(session, list(reversed(returns.list_returns(session, actor, company_id, order_id=order_id,
                                                                     limit=500))))
    company = session.get(Company, company_id)
    today = clock.today_in(company.timezone or "UTC")
    code, name = customers.labels(session, company_id, [order.customer_id]).get(order.customer_id, ("?", "?"))
    return {
        "order": order, "customer": {"id": order.customer_id, "code": code, "name": name},
        "lines": _lines(order, invoices),
        "shipments": [{"id": sh.id, "number": sh.number, "status": sh.status, "kind": sh.kind,
                       "promised_date": sh.promised_date, "shipped_at": sh.shipped_at, "delivered_at": sh.delivered_at,
                       "carrier": carriers.get(sh.carrier_id), "tracking_url": shipping.tracking_link(session, sh)}
                      for sh in shipments],
        "invoices": invoices, "credit_notes": notes, "returns": rets,
        "timeline": merged_timeline(records, events),
        "waits": waits_for(order, records, shipments, invoices,
                           [r for r in rets if r["status"] in RETURN_WAITS], carriers, today),
    }


def waits_brief(session: Session, page: list[Order]) -> dict[int, str]:
    """For a list of orders, a few words each on what it waits for (from the order, its open shipments
    and its unpaid invoices: three queries for the whole list)."""
    ids = [o.id for o in page]
    in_warehouse = defaultdict(set)
    for oid, status in session.execute(select(Shipment.order_id, Shipment.status).where(
            Shipment.order_id.in_(ids), Shipment.status.in_(list(WAREHOUSE_OPEN) + list(IN_TRANSIT)))):
        in_warehouse[oid].add(status)
    invoice_orders = dict(session.execute(select(Invoice.id, Invoice.order_id).where(Invoice.order_id.in_(ids))).all())
    unpaid = {invoice_orders[i] for i, amount in billing.open_amounts(session, list(invoice_orders)).items() if amount > 0}
    return {o.id: _brief(o, in_warehouse[o.id], o.id in unpaid) for o in page}


def _brief(order: Order, shipment_statuses: set[str], unpaid: bool) -> str:
    if order.status == rules.CANCELLED:
        return "nothing (cancelled)"
    if order.status == rules.HELD:
        return ", ".join(f"{h.kind} hold" for h in order.holds if h.active) or "a recheck"
    if order.status == rules.VALIDATED:
        return "confirmation (order desk)"
    parts = [WAREHOUSE_OPEN[s].lower() + " (warehouse)" for s in ("released", "picked", "packed") if s in shipment_statuses]
    if order.status == rules.BACKORDERED:
        parts.append("stock (warehouse)")
    elif not parts and any(li.reserved_qty > 0 for li in order.lines):
        parts.append("wave release (warehouse)")
    if shipment_statuses & set(IN_TRANSIT):
        parts.append("delivery (carrier)")
    if unpaid:
        parts.append("payment (customer)")
    return ", ".join(parts) or "nothing"
