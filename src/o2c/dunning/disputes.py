"""Invoice disputes: a customer contests an invoice, and while the dispute is open the invoice gets no
reminders (o2c.dunning.service leaves it out of the run). Opened with a reason, resolved with a
resolution (for example "credit note CN-2026-000004 issued"), never deleted; at most one open per
invoice. Permission dunning.write. Each step is on the order's and the customer's timeline and is
emitted as `invoice.disputed` / `invoice.dispute_resolved`.
"""
from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from o2c.billing import service as billing
from o2c.billing.models import Invoice, InvoiceDispute
from o2c.core import audit, clock
from o2c.core.auth import Actor, require
from o2c.core.errors import Conflict, NotFound, ValidationFailed
from o2c.core.events import emit

MAX_TEXT = 400


def _text(field: str, value: str | None) -> str:
    value = (value or "").strip()
    if not value:
        raise ValidationFailed.one(field, "required", f"{field} is required: say why, in a few words")
    if len(value) > MAX_TEXT:
        raise ValidationFailed.one(field, "too_long", f"{field} is longer than {MAX_TEXT} characters")
    return value


def _record(session: Session, actor: Actor, inv: Invoice, action: str, data: dict) -> None:
    for entity, entity_id in (("order", inv.order_id), ("customer", inv.customer_id)):
        audit.record(session, actor, entity, entity_id, action, company_id=inv.company_id, data=data)


def open_dispute(session: Session, actor: Actor, company_id: int, invoice_id: int, reason: str | None) -> InvoiceDispute:
    """Open a dispute of an invoice. A second one while one is open is a conflict naming it."""
    require(actor, "dunning.write")
    reason = _text("reason", reason)
    billing.get_invoice(session, actor, company_id, invoice_id)
    # The invoice row is the lock: two people opening a dispute at once take turns, and the second sees the first.
    inv = billing.lock_invoices(session, company_id, [invoice_id])[0]
    current = session.scalar(select(InvoiceDispute).where(InvoiceDispute.invoice_id == inv.id,
                                                          InvoiceDispute.resolved_at.is_(None)))
    if current is not None:
        raise Conflict(f"invoice {inv.number} is already disputed (dispute {current.id}, opened "
                       f"{current.opened_at:%Y-%m-%d}): resolve it first", dispute_id=current.id)
    dispute = InvoiceDispute(company_id=company_id, invoice_id=inv.id, reason=reason, opened_at=clock.now(),
                             opened_by=actor.user_id)
    session.add(dispute)
    session.flush()
    _record(session, actor, inv, "invoice_disputed", {"invoice": inv.number, "dispute": dispute.id, "reason": reason})
    emit(session, "invoice.disputed", {"dispute_id": dispute.id, "invoice_id": inv.id, "invoice": inv.number,
                                       "customer_id": inv.customer_id, "order_id": inv.order_id, "reason": reason},
         company_id=company_id, entity_id=dispute.id)
    return dispute


def resolve(session: Session, actor: Actor, company_id: int, dispute_id: int, resolution: str | None) -> InvoiceDispute:
    """Close an open dispute with its resolution; reminders of the invoice resume from the next run."""
    require(actor, "dunning.write")
    resolution = _text("resolution", resolution)
    dispute = session.scalar(select(InvoiceDispute).where(InvoiceDispute.id == dispute_id,
                                                          InvoiceDispute.company_id == company_id)
                             .with_for_update().execution_options(populate_existing=True))
    if dispute is None:
        raise NotFound(f"dispute {dispute_id} not found")
    inv = session.get(Invoice, dispute.invoice_id)
    if dispute.resolved_at is not None:
        raise Conflict(f"dispute {dispute.id} of invoice {inv.number} was resolved on {dispute.resolved_at:%Y-%m-%d}",
                       current_status="resolved")
    dispute.resolution, dispute.resolved_at, dispute.resolved_by = resolution, clock.now(), actor.user_id
    session.flush()
    _record(session, actor, inv, "invoice_dispute_resolved",
            {"invoice": inv.number, "dispute": dispute.id, "resolution": resolution})
    emit(session, "invoice.dispute_resolved", {"dispute_id": dispute.id, "invoice_id": inv.id, "invoice": inv.number,
                                               "customer_id": inv.customer_id, "order_id": inv.order_id,
                                               "resolution": resolution}, company_id=company_id, entity_id=dispute.id)
    return dispute


def list_disputes(session: Session, actor: Actor, company_id: int, invoice_id: int) -> list[InvoiceDispute]:
    """The invoice's disputes, oldest first (a portal user: of their own invoices only)."""
    billing.get_invoice(session, actor, company_id, invoice_id)
    return list(session.scalars(select(InvoiceDispute).where(InvoiceDispute.invoice_id == invoice_id)
                                .order_by(InvoiceDispute.id)))


def dispute_view(session: Session, d: InvoiceDispute) -> dict:
    number = session.scalar(select(Invoice.number).where(Invoice.id == d.invoice_id))
    return {"id": d.id, "invoice_id": d.invoice_id, "invoice_number": number, "status": "open" if d.resolved_at is None
            else "resolved", "reason": d.reason, "opened_at": d.opened_at, "resolution": d.resolution,
            "resolved_at": d.resolved_at}
