"""Reading a customer's (or a group's) credit exposure: open receivables + shipped not invoiced + open
orders, and its overdue invoices. The order gate runs this for every order of a customer with a limit,
so the usual case is one query: the receivables aggregate, with the open orders' total and two counts
as scalar subqueries beside it; lines are read only for partly shipped orders and for shipments not yet
invoiced (both short-lived). docs/credit.md has the formula.

An invoice's open amount is its gross less its credit notes less its settlements, never below zero, as
o2c.billing.service reckons it. Amounts are summed in the account's currency only: exposure in another
currency (a group member billed in EUR under a USD group limit) is not converted.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from functools import cache

from sqlalchemy import and_, bindparam, case, exists, func, select
from sqlalchemy.orm import Session

from o2c.billing.models import CreditNote, Invoice
from o2c.core.money import ZERO, round_money
from o2c.credit.models import ApprovalRequest, CreditScore
from o2c.credit.rules import Exposure, Overdue
from o2c.customers import hierarchy
from o2c.customers.models import CustomerAccount
from o2c.fulfillment.models import Shipment, ShipmentLine
from o2c.orders.models import Order, OrderHold, OrderLine
from o2c.orders.rules import LIVE
from o2c.payments.models import Settlement

# Orders whose unshipped value counts: live (held, validated, confirmed, backordered) and not fully shipped.
_LIVE = tuple(sorted(LIVE))


# ---------------------------------------------------------------- the customer tree

def group_root(session: Session, customer_id: int) -> int:
    """The top of the customer's group (o2c.customers.hierarchy)."""
    return hierarchy.group_root(session, customer_id)


def group_members(session: Session, root_id: int) -> list[int]:
    """The top customer and every customer below it."""
    return list(hierarchy.group_members(session, root_id))


def account(session: Session, company_id: int, customer_id: int) -> CustomerAccount | None:
    return session.scalar(select(CustomerAccount).where(CustomerAccount.company_id == company_id,
                                                        CustomerAccount.customer_id == customer_id))


# ---------------------------------------------------------------- exposure

@dataclass(frozen=True)
class Figures:
    exposure: Exposure
    overdue: Overdue | None  # None: not asked


def _sum(value, currency: str) -> Decimal:
    return ZERO if value is None else round_money(Decimal(value), currency)


@cache
def _statements():
    """The exposure queries, built once with bound parameters (company, ids, currency, exclude, cutoff):
    the gate runs them for every order of a customer with a limit, so SQLAlchemy only looks up its
    compiled form. An invoice's credit notes and settlements are summed per invoice (indexed by
    invoice), so a customer's exposure costs the same however many customers and payments the company has."""
    company, ids, currency = bindparam("company"), bindparam("ids", expanding=True), bindparam("currency")
    notes = (select(func.sum(CreditNote.gross_total)).where(CreditNote.invoice_id == Invoice.id)
             .correlate(Invoice).scalar_subquery())
    settled = (select(func.sum(Settlement.amount)).where(Settlement.invoice_id == Invoice.id)
               .correlate(Invoice).scalar_subquery())
    rest = Invoice.gross_total - func.coalesce(notes, 0) - func.coalesce(settled, 0)
    inv = (select(Invoice.due_date.label("due"), case((rest > 0, rest), else_=0).label("open"))
           .where(Invoice.company_id == company, Invoice.customer_id.in_(ids), Invoice.currency == currency)
           .subquery())
    live = and_(Order.company_id == company, Order.customer_id.in_(ids), Order.currency == currency,
                Order.status.in_(_LIVE), Order.id != bindparam("exclude"),
                # An order waiting for credit approval is not granted credit yet: counting it would let one
                # held order hold every order after it. Once approved it counts.
                ~exists().where(OrderHold.order_id == Order.id, OrderHold.kind == "credit", OrderHold.active))
    unshipped_total = select(func.sum(Order.total)).where(live, Order.shipment_state == "none").scalar_subquery()
    partial_count = select(func.count()).where(live, Order.shipment_state == "partial").scalar_subquery()
    not_invoiced = and_(Shipment.company_id == company, Shipment.shipped_at.is_not(None), Shipment.kind == "order",
                        Order.id == Shipment.order_id, Order.customer_id.in_(ids), Order.currency == currency,
                        ~exists().where(Invoice.shipment_id == Shipment.id))
    sni_count = select(func.count(Shipment.id)).where(not_invoiced).scalar_subquery()
    late = and_(inv.c.open > 0, inv.c.due < bindparam("cutoff"))
    main = select(func.sum(inv.c.open), unshipped_total, partial_count, sni_count,
                  func.sum(case((late, inv.c.open), else_=0)), func.sum(case((late, 1), else_=0)),
                  func.min(case((late, inv.c.due)))).select_from(inv)
    partial = (select(OrderLine.quantity, OrderLine.shipped_qty, func.sum(OrderLine.net_amount + OrderLine.tax_amount))
               .join(Order, Order.id == OrderLine.order_id)
               .where(live, Order.shipment_state == "partial", OrderLine.shipped_qty < OrderLine.quantity)
               .group_by(OrderLine.quantity, OrderLine.shipped_qty))
    shipped = (select(OrderLine.quantity, ShipmentLine.shipped_qty, func.sum(OrderLine.net_amount + OrderLine.tax_amount))
               .join(ShipmentLine, ShipmentLine.order_line_id == OrderLine.id)
               .join(Shipment, Shipment.id == ShipmentLine.shipment_id)
               .join(Order, Order.id == Shipment.order_id)
               .where(not_invoiced).group_by(OrderLine.quantity, ShipmentLine.shipped_qty))
    return main, partial, shipped


def figures(session: Session, company_id: int, customer_ids: list[int], currency: str, *,
            exclude_order_id: int | None = None, overdue_before: date | None = None,
            today: date | None = None) -> Figures:
    """Exposure of these customers in `currency` (one company), leaving out the order being checked;
    with `overdue_before`, also the invoices open and due before that day (count, amount, oldest)."""
    main, partial_lines, shipped_lines = _statements()
    params = {"company": company_id, "ids": sorted(set(customer_ids)), "currency": currency,
              "exclude": -1 if exclude_order_id is None else exclude_order_id,
              "cutoff": overdue_before or date(1900, 1, 1)}
    row = session.execute(main, params).one()
    ar, orders_total, partial, sni = _sum(row[0], currency), _sum(row[1], currency), row[2] or 0, row[3] or 0
    if partial:  # the unshipped share of partly shipped lines, exact per group of equal quantities
        rows = session.execute(partial_lines, params)
        orders_total += sum((round_money(Decimal(g) * (q - s) / q, currency) for q, s, g in rows if q), ZERO)
    shipped = ZERO
    if sni:
        rows = session.execute(shipped_lines, params)
        shipped = sum((round_money(Decimal(g) * s / q, currency) for q, s, g in rows if q), ZERO)

    overdue = None
    if overdue_before is not None:
        oldest = row[6]
        if isinstance(oldest, str):  # SQLite returns MIN over a CASE as text
            oldest = date.fromisoformat(oldest)
        overdue = Overdue(int(row[5] or 0), _sum(row[4], currency),
                          (today - oldest).days if oldest is not None and today is not None else 0)
    return Figures(Exposure(currency, ar, shipped, orders_total), overdue)


def order_open_value(order) -> Decimal:
    """What an order adds to exposure: its total, less what of it has shipped already (counted as shipped
    not invoiced or as receivables)."""
    lines = getattr(order, "lines", None) or []
    if not any(getattr(li, "shipped_qty", ZERO) for li in lines):
        return order.total
    value = ZERO
    for li in lines:
        if li.quantity:
            value += round_money((li.net_amount + li.tax_amount) * (li.quantity - li.shipped_qty) / li.quantity,
                                 order.currency)
    return value


# ---------------------------------------------------------------- what the gate needs besides exposure

def latest_grade(session: Session, company_id: int, customer_id: int) -> str | None:
    return session.scalar(select(CreditScore.grade).where(CreditScore.company_id == company_id,
                                                          CreditScore.customer_id == customer_id)
                          .order_by(CreditScore.id.desc()).limit(1))


def approved_amount(session: Session, order_id: int) -> Decimal | None:
    """The amount of the order's latest approved credit request (what a person approved)."""
    return session.scalar(select(ApprovalRequest.amount).where(ApprovalRequest.order_id == order_id,
                                                               ApprovalRequest.kind == "credit",
                                                               ApprovalRequest.status == "approved")
                          .order_by(ApprovalRequest.id.desc()).limit(1))
