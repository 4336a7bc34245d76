"""Order gate for credit (see o2c.orders.gates): an order beyond the credit available to its customer or
to its customer's group, or from a customer with invoices overdue past the company's age, goes on a
credit hold, unless the approval route for its amount and the customer's grade approves by itself.
A held order waits in /approvals (o2c.credit.approvals) for the people its route names.

A customer without a limit, in a group without one, of a company that does not check overdue invoices,
costs no query at all; otherwise the check is one query for the customer (o2c.credit.exposure) and one
for its group, plus the route and grade when there is a reason to hold.
"""
from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

from sqlalchemy import select
from sqlalchemy.orm import Session

from o2c.core import clock
from o2c.core.auth import Actor
from o2c.core.errors import FieldError
from o2c.core.masterdata import CACHE
from o2c.customers.models import Customer
from o2c.credit import approvals, exposure, rules

KIND = "credit"


def _batch(ctx) -> tuple[dict, dict]:
    """What this bulk import's earlier orders added per customer, and figures read for this batch."""
    return ctx.batch.setdefault("credit.added", {}), ctx.batch.setdefault("credit.read", {})


def check(ctx) -> list[FieldError]:
    session, company, account, order = ctx.session, ctx.company, ctx.account, ctx.order
    customer_id = order.customer_id
    # The parent is master data: cached per process until the company's master data changes (a new parent
    # bumps it), so a customer without limits costs this gate no query at all.
    parent_id = CACHE.one(session, company, ("credit.parent", customer_id),
                          lambda: session.scalar(select(Customer.parent_id).where(Customer.id == customer_id)))
    group = None  # (root customer, its account) when a group limit applies
    if parent_id is not None or account.group_credit_limit is not None:
        root_id = customer_id if parent_id is None else exposure.group_root(session, customer_id)
        root_account = account if root_id == customer_id else exposure.account(session, company.id, root_id)
        if root_account is not None and root_account.group_credit_limit is not None:
            group = (session.get(Customer, root_id), root_account)
    overdue_days = company.credit_overdue_days
    if account.credit_limit is None and group is None and overdue_days is None:
        return []

    added, read = _batch(ctx)
    amount = exposure.order_open_value(order)
    if "credit" in ctx.released and order.id is not None:
        approved = exposure.approved_amount(session, order.id)
        if approved is not None and order.total <= approved:  # a person approved this much: it stands
            added[customer_id] = added.get(customer_id, Decimal(0)) + amount
            return []

    today = clock.today_in(company.timezone)
    currency = account.currency
    # Figures read are kept for the batch: its orders are not written yet, so leaving out the order being
    # checked changes nothing for them (a single order's check has a batch of its own).
    mine = own = None
    if account.credit_limit is not None or overdue_days is not None:
        key = ("customer", customer_id)
        if key not in read:
            read[key] = exposure.figures(
                session, company.id, [customer_id], currency, exclude_order_id=order.id, today=today,
                overdue_before=None if overdue_days is None else today - timedelta(days=overdue_days))
        mine = read[key]
        own = mine.exposure.plus_orders(added.get(customer_id, Decimal(0)))
    group_exposure = group_limit = group_of = None
    if group is not None:
        root, root_account = group
        members = read.get(("members", root.id))
        if members is None:
            members = read[("members", root.id)] = exposure.group_members(session, root.id)
        gkey = ("group", root.id)
        if gkey not in read:
            read[gkey] = exposure.figures(session, company.id, members, root_account.currency,
                                          exclude_order_id=order.id)
        group_exposure = read[gkey].exposure.plus_orders(sum((added.get(m, Decimal(0)) for m in members),
                                                             Decimal(0)))
        group_limit, group_of = root_account.group_credit_limit, root.code
        if root_account.currency != currency:  # a limit in another currency cannot be compared unconverted
            group_exposure = None

    reasons = rules.hold_reasons(
        amount, limit=account.credit_limit, exposure=own, group_limit=group_limit, group_exposure=group_exposure,
        group_of=group_of, overdue=mine and mine.overdue, overdue_days=overdue_days)
    if reasons:
        route = rules.choose_route(approvals.routes_for(session, company.id, cache=read), order.total,
                                   exposure.latest_grade(session, company.id, customer_id))
        if route.approvals == 0:  # the company's routes approve this one by themselves
            reasons = []
    if not reasons:
        added[customer_id] = added.get(customer_id, Decimal(0)) + amount
    return reasons


def opened(session: Session, actor: Actor, company_id: int, order_id: int, reasons: list[dict]) -> None:
    approvals.open_request(session, actor, company_id, order_id, reasons)


def closed(session: Session, actor: Actor, company_id: int, order_id: int, why: str) -> None:
    approvals.cancel_requests(session, actor, company_id, order_id, why)
