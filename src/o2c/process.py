"""The order-to-cash flow in one place: which event starts which step.

Services write events to the outbox in the transaction of their change; the dispatcher
(o2c.core.events) hands each one to the subscribers listed here, at least once. Every subscriber is
idempotent: its delivery is recorded per (event, subscriber), and a side effect outside the database
(an email) carries an id derived from the event.
"""
from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from o2c.core.events import external
from o2c.billing.notifications import send_invoice, send_refund_notice
from o2c.core.models import OutboxEvent
from o2c.dunning.notifications import send_reminder


# A confirmation delivered late (the mail server was down) must not contradict the order as it is now.
STALE_FOR_CONFIRMATION = frozenset({"cancelled", "held", "validated"})


@external
def send_order_confirmation(session: Session, event: OutboxEvent) -> None:
    """Capture → Confirm: the customer is told what was confirmed, at what price, and when to expect it."""
    from o2c.customers.models import Customer
    from o2c.integrations import email
    from o2c.orders.models import Order
    from o2c.orders.notifications import confirmation

    if event.payload.get("action") == "shipped":
        return  # a short pick backordered the rest after the goods left: the shipment notice says so
    order = session.get(Order, event.payload["order_id"])
    if order.status in STALE_FOR_CONFIRMATION:
        return  # the order moved on (cancelled, or held again) before the mail went out: no stale news
    customer = session.get(Customer, order.customer_id)
    if not customer.email:
        return  # nobody to tell; the confirmation is still on the order's timeline
    subject, body = confirmation(order, customer.legal_name)
    email.send(customer.email, subject, body, message_id=f"order-{order.id}-event-{event.id}")


@external
def send_tracking_update(session: Session, event: OutboxEvent) -> None:
    """Ship → Deliver: every tracking step reaches the customer with the tracking link."""
    from o2c.customers.models import Customer
    from o2c.fulfillment.models import Shipment
    from o2c.integrations import email
    from o2c.inventory.models import Warehouse
    from o2c.orders.models import Order
    from o2c.shipping import service as shipping
    from o2c.shipping.models import Carrier, TrackingEvent
    from o2c.shipping.notifications import tracking_update

    sh = session.get(Shipment, event.payload["shipment_id"])
    ev = session.get(TrackingEvent, event.payload["tracking_event_id"])
    earlier = session.scalars(select(TrackingEvent.kind).where(TrackingEvent.shipment_id == sh.id,
                                                                TrackingEvent.id < ev.id)).all()
    if any(shipping.PROGRESS[k] > shipping.PROGRESS[ev.kind] for k in earlier):
        return  # a scan of an earlier step that arrived late: the customer heard of a later one already
    order = session.get(Order, sh.order_id)
    customer = session.get(Customer, order.customer_id)
    if not customer.email:
        return  # nobody to tell; the step is on the order's timeline
    descriptions = {li.id: li.description for li in order.lines}
    subject, body = tracking_update(
        ev.kind, customer_name=customer.legal_name, order_number=order.number, po_number=order.po_number,
        shipment_number=sh.number, carrier=session.get(Carrier, sh.carrier_id).name,
        city=session.get(Warehouse, sh.warehouse_id).city, location=ev.location, description=ev.description,
        tracking_numbers=[p.tracking_number for p in sh.packages if p.tracking_number],
        tracking_url=shipping.tracking_link(session, sh),
        lines=[(sl.sku, descriptions.get(sl.order_line_id, ""), sl.shipped_qty) for sl in sh.lines if sl.shipped_qty],
        estimated_delivery=sh.estimated_delivery.isoformat() if sh.estimated_delivery else None)
    email.send(customer.email, subject, body, message_id=f"shipment-{sh.id}-event-{event.id}")


@external
def send_return_notice(session: Session, event: OutboxEvent) -> None:
    """Return authorised or rejected: the customer learns the RMA and where the label is, or why not."""
    from o2c.customers.models import Customer
    from o2c.integrations import email
    from o2c.returns.models import Return
    from o2c.returns.notifications import return_notice

    ret = session.get(Return, event.payload["return_id"])
    customer = session.get(Customer, ret.customer_id)
    if not customer.email:
        return
    subject, body = return_notice(event.topic, customer.legal_name, ret.rma_number, event.payload)
    email.send(customer.email, subject, body, message_id=f"return-{ret.id}-event-{event.id}")


def invoice_shipment(session: Session, event: OutboxEvent) -> None:
    """Ship → Invoice: the shipped quantities are invoiced (never the ordered ones) and posted to the
    ledger, in the dispatcher's transaction; a redelivery finds the shipment's invoice and makes none."""
    from o2c.billing import service as billing
    from o2c.core.auth import SYSTEM

    billing.invoice_shipment(session, SYSTEM, event.company_id, event.payload["shipment_id"])


def credit_return(session: Session, event: OutboxEvent) -> None:
    """Return → Credit: the refund of a return becomes credit notes of the invoices it corrects, posted
    to the ledger; a redelivery finds the return's notes and makes none."""
    from o2c.billing import service as billing
    from o2c.core.auth import SYSTEM

    billing.credit_return(session, SYSTEM, event.company_id, event.payload["return_id"], event.payload)


def request_card_capture(session: Session, event: OutboxEvent) -> None:
    """Ship → Capture: a shipment of an order paid by card asks for its capture (card_payment.capture_due),
    which talks to the gateway outside any transaction. Other orders are paid on invoice: nothing."""
    from o2c.payments import cards

    cards.request_capture(session, event.company_id, event.payload["shipment_id"])


@external
def capture_card_payment(session: Session, event: OutboxEvent) -> None:
    """Capture → Paid: the shipment's invoice amount taken from the card (the hold, or a new
    authorisation) and recorded as a payment of the invoice. Its own short transactions around the
    gateway call; the keys stored first make a redelivery or retry capture once."""
    from o2c.core.auth import SYSTEM
    from o2c.payments import cards

    cards.capture_shipment(SYSTEM, event.company_id, event.payload["shipment_id"], engine=session.get_bind())


@external
def void_card_payment(session: Session, event: OutboxEvent) -> None:
    """Cancel → Void: the card's hold for a cancelled order is released at the gateway."""
    from o2c.core.auth import SYSTEM
    from o2c.payments import cards

    cards.void_order(SYSTEM, event.company_id, event.payload["order_id"], engine=session.get_bind())


def refund_return(session: Session, event: OutboxEvent) -> None:
    """Credit → Refund: what the customer paid for the returned goods (the paid part of the return's
    credit notes) is approved for refund, on the card or by bank transfer; a redelivery makes none."""
    from o2c.core.auth import SYSTEM
    from o2c.payments import refunds

    refunds.refund_return(session, SYSTEM, event.company_id, event.payload["return_id"], event.payload)


@external
def refund_to_card(session: Session, event: OutboxEvent) -> None:
    """Refund → Card: an approved card refund sent through the gateway under its stored key."""
    from o2c.core.auth import SYSTEM
    from o2c.payments import refunds

    if event.payload.get("method") == "card":
        refunds.pay_to_card(SYSTEM, event.company_id, event.payload["refund_id"], engine=session.get_bind())


SUBSCRIBERS = {
    # Capture → Validate → Confirm (reserve)
    "order.confirmed": [send_order_confirmation],
    "order.backordered": [send_order_confirmation],
    # order.held, order.validated, order.cancelled: on the timeline; later stages subscribe here.
    "order.held": [],
    "order.validated": [],
    "order.cancelled": [void_card_payment],  # a card's hold is released
    # Wave → Pick → Pack → Ship → Deliver
    "shipment.released": [],
    "shipment.tracking": [send_tracking_update],  # shipped, in transit, out for delivery, delivered, exception
    # Ship → Invoice: the shipped quantities, posted to the ledger. shipment.delivered: on time or late.
    "shipment.shipped": [invoice_shipment, request_card_capture],
    # Card orders: the shipment's invoice is paid from the card at once (declined: it stays open).
    "card_payment.capture_due": [capture_card_payment],
    "shipment.delivered": [],
    # Returns: request -> authorise (RMA, label) -> receive -> inspect -> refund or exchange
    "return.requested": [],
    "return.authorised": [send_return_notice],
    "return.rejected": [send_return_notice],
    "return.received": [],
    # return.refund_due: billing issues the credit notes; an exchange ships as shipment.released.
    "return.refund_due": [credit_return, refund_return],
    # What was paid for the goods goes back: on the card by the gateway, or by a person (POST /refunds/{id}/pay).
    "refund.approved": [refund_to_card],
    "refund.paid": [send_refund_notice],
    "return.closed": [],
    # Invoice → Collect: payments, reminders and statements subscribe here (issue 4).
    "invoice.issued": [send_invoice],  # by email, the PDF attached
    "credit_note.issued": [],
    # Collect → Remind: the letter goes out by email; a disputed invoice is held from reminders.
    "reminder.sent": [send_reminder],
    "invoice.disputed": [],
    "invoice.dispute_resolved": [],
}
