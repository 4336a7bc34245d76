"""The dashboard's figures: today's orders, holds by kind, shipments due and late, overdue receivables,
and the key figures of the order-to-cash process over a window of days (DAYS, ending now).

Every function reads; none writes. `dashboard` gathers them for a member of staff: the receivables
figures (ageing, DSO) are the ledger's reports and need `ledger.read`, as they do in the API.
"""
from __future__ import annotations

import statistics
from collections import defaultdict
from datetime import date, datetime, time, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

from sqlalchemy import func, select, text
from sqlalchemy.orm import Session

from o2c.billing.models import CreditNote, Invoice
from o2c.billing.statement import invoice_due_dates
from o2c.core import clock
from o2c.core.auth import Actor, require
from o2c.core.models import Company
from o2c.core.money import ZERO, round_money
from o2c.fulfillment.models import Shipment
from o2c.ledger import receivables, rules as ledger_rules
from o2c.orders import service as orders
from o2c.orders.models import Order, OrderHold, OrderLine
from o2c.orders.rules import CANCELLED
from o2c.returns.models import Return

DAYS = 90  # the window of the key figures (and of DSO), ending today
HOLD_KINDS = ("validation", "duplicate", "pricing", "customer", "compliance", "credit", "fraud")
NOT_UNDER_WAY = ("delivered", "cancelled")  # shipments no longer expected anywhere
_RATE = Decimal("0.0001")
_TENTH = Decimal("0.1")


def day_bounds(day: date, tz: ZoneInfo) -> tuple[datetime, datetime]:
    """The instants (UTC-aware) a business day of the company's zone starts and ends."""
    start = datetime.combine(day, time(0), tzinfo=tz)
    return start, datetime.combine(day + timedelta(days=1), time(0), tzinfo=tz)


def _rate(part: int, whole: int) -> Decimal | None:
    return (Decimal(part) / Decimal(whole)).quantize(_RATE) if whole else None


def todays_orders(session: Session, company_id: int, today: date, tz: ZoneInfo) -> dict:
    """Orders captured today in the company's zone, cancelled ones left out: how many, and their value
    per currency (totals with tax)."""
    start, end = day_bounds(today, tz)
    rows = session.execute(
        select(Order.currency, func.count(Order.id), func.sum(Order.total))
        .where(Order.company_id == company_id, Order.created_at >= start, Order.created_at < end,
               Order.status != CANCELLED)
        .group_by(Order.currency)).all()
    return {"count": sum(n for _, n, _ in rows),
            "value": {cur: round_money(Decimal(total), cur) for cur, _, total in sorted(rows)}}


def orders_per_day(session: Session, company_id: int, today: date, tz: ZoneInfo, days: int = 7) -> list[tuple[date, int]]:
    """Orders captured on each of the last `days` business days (today included), oldest first."""
    first = today - timedelta(days=days - 1)
    start, _ = day_bounds(first, tz)
    _, end = day_bounds(today, tz)
    counts: dict[date, int] = defaultdict(int)
    for (at,) in session.execute(select(Order.created_at).where(
            Order.company_id == company_id, Order.created_at >= start, Order.created_at < end)):
        counts[at.astimezone(tz).date()] += 1
    return [(first + timedelta(days=i), counts[first + timedelta(days=i)]) for i in range(days)]


def holds_by_kind(session: Session, company_id: int) -> dict[str, int]:
    """Active holds per kind, every kind present (zero when none)."""
    rows = dict(session.execute(
        select(OrderHold.kind, func.count(OrderHold.id)).join(Order, Order.id == OrderHold.order_id)
        .where(Order.company_id == company_id, OrderHold.active.is_(True)).group_by(OrderHold.kind)).all())
    return {kind: rows.get(kind, 0) for kind in HOLD_KINDS} | {k: n for k, n in rows.items() if k not in HOLD_KINDS}


def shipments_due(session: Session, company_id: int, today: date) -> dict:
    """Shipments not yet delivered (nor cancelled) whose promised delivery date is today (`due_today`)
    or already past (`late`), each oldest promise first."""
    rows = session.execute(
        select(Shipment.id, Shipment.order_id, Shipment.status, Shipment.promised_date)
        .where(Shipment.company_id == company_id, Shipment.status.not_in(NOT_UNDER_WAY),
               Shipment.promised_date <= today)
        .order_by(Shipment.promised_date, Shipment.id)).all()
    view = lambda r: {"id": r[0], "number": f"SH{r[0]:08d}", "order_id": r[1], "order_number": f"SO{r[1]:08d}",  # noqa: E731
                      "status": r[2], "promised_date": r[3], "days_late": (today - r[3]).days}
    return {"due_today": [view(r) for r in rows if r[3] == today], "late": [view(r) for r in rows if r[3] < today]}


def overdue_receivables(session: Session, company_id: int, today: date) -> list[dict]:
    """Per currency: what customers owe in ageing buckets (ledger.rules.BUCKETS, days past due), the
    overdue total (every bucket but current) and how many open items are overdue."""
    owed, _ = receivables.items(session, company_id, today, invoice_due_dates(session, company_id))
    out = []
    for cur in sorted({it.currency for it in owed}):
        mine = [it for it in owed if it.currency == cur]
        buckets = ledger_rules.ageing([ledger_rules.OpenItem(str(it.customer_id), it.item, it.due_date, it.amount)
                                       for it in mine], today)
        buckets = {b: round_money(v, cur) for b, v in buckets.items()}
        overdue = [it for it in mine if it.due_date < today]
        out.append({"currency": cur, "buckets": buckets, "open": sum(buckets.values(), round_money(ZERO, cur)),
                    "overdue": round_money(sum((it.amount for it in overdue), ZERO), cur), "overdue_count": len(overdue)})
    return out


def _seconds(session: Session, later, earlier):
    """The SQL for `later - earlier` in seconds, on PostgreSQL and on SQLite (timestamps stored as text)."""
    if session.get_bind().dialect.name == "postgresql":
        return func.extract("epoch", later - earlier)
    return (func.julianday(later) - func.julianday(earlier)) * 86400


def time_to_process(session: Session, company_id: int, since: datetime) -> dict:
    """Median time from capture to the order's first shipment leaving, over the orders captured since
    `since` that shipped (`to` = "shipped"). While none has shipped, the median time from capture to
    confirmation (stock reserved) instead (`to` = "confirmed"); None when neither happened yet."""
    # Only the window's orders and their own shipments are read, and the spans are computed by the
    # database: fetching the 25,000 pairs of timestamps instead took three times as long.
    in_window = (Order.company_id == company_id, Order.created_at >= since)
    shipped = list(session.scalars(
        select(_seconds(session, func.min(Shipment.shipped_at), Order.created_at))
        .join(Shipment, Shipment.order_id == Order.id)
        .where(*in_window, Shipment.kind == "order", Shipment.shipped_at.is_not(None))
        .group_by(Order.id, Order.created_at)))
    confirmed = [] if shipped else list(session.scalars(
        select(_seconds(session, Order.confirmed_at, Order.created_at)).where(*in_window, Order.confirmed_at.is_not(None))))
    to, spans = ("shipped", shipped) if shipped else ("confirmed", confirmed)
    hours = (Decimal(str(statistics.median(spans))) / 3600).quantize(_TENTH) if spans else None
    return {"to": to, "median_hours": hours, "orders": len(spans)}


def on_time_delivery(session: Session, company_id: int, since: datetime) -> dict:
    """Shipments delivered since `since` with a promised date, and the share delivered on or before it."""
    on_time, total = session.execute(
        select(func.count(Shipment.id).filter(Shipment.on_time.is_(True)), func.count(Shipment.id))
        .where(Shipment.company_id == company_id, Shipment.delivered_at >= since, Shipment.on_time.is_not(None))).one()
    return {"delivered": total, "on_time": on_time, "rate": _rate(on_time, total)}


def perfect_orders(session: Session, company_id: int, since: datetime) -> dict:
    """The perfect order rate over the orders captured since `since` whose goods were all delivered
    (shipment state delivered). An order is perfect when it was
    - on time: every one of its (non-cancelled) shipments was delivered on or before its promised date;
    - complete: every line was shipped and delivered in the quantity ordered (what "delivered" means
      for the order's shipment state);
    - undamaged and not returned: no return was asked for (other than one rejected) and nothing came back;
    - invoiced correctly: its invoices add up to the order's total and no credit note corrected them.
    """
    # One counting query: the per-order checks are correlated EXISTS / sums on indexed order_id columns,
    # so the cost follows the orders in the window (lists of ids sent back in IN (...) did not scale).
    mine = Order.id
    late = select(Shipment.id).where(Shipment.order_id == mine, Shipment.kind == "order",
                                     Shipment.status != "cancelled", Shipment.on_time.is_not(True))
    returned = select(Return.id).where(Return.order_id == mine, Return.status != "rejected")
    line_back = select(OrderLine.id).where(OrderLine.order_id == mine, OrderLine.returned_qty > 0)
    credited = select(CreditNote.id).where(CreditNote.order_id == mine)
    invoiced = select(func.sum(Invoice.gross_total)).where(Invoice.order_id == mine).scalar_subquery()
    perfect = (~late.exists()) & (~returned.exists()) & (~line_back.exists()) & (~credited.exists()) \
        & (invoiced == Order.total)
    total, good = session.execute(
        select(func.count(Order.id), func.count(Order.id).filter(perfect))
        .where(Order.company_id == company_id, Order.created_at >= since, Order.shipment_state == "delivered")).one()
    return {"orders": total, "perfect": good, "rate": _rate(good, total)}


def dso(session: Session, company_id: int, today: date) -> list[dict]:
    """Days sales outstanding per currency over the DAYS up to today (ledger.receivables.dso)."""
    return receivables.dso(session, company_id, today, DAYS, invoice_due_dates(session, company_id))


def without_jit(session: Session) -> None:
    """Turn PostgreSQL's JIT off for the rest of this transaction. The window's per-order checks are
    estimated costly enough to be compiled, and compiling them took longer (0.8 s at 25,000 orders in the
    window) than running them (bench/bench_pages.py)."""
    if session.get_bind().dialect.name == "postgresql":
        session.execute(text("SET LOCAL jit = off"))


def dashboard(session: Session, actor: Actor, company_id: int) -> dict:
    """Every figure of the dashboard, as of now in the company's zone."""
    require(actor, "read")
    without_jit(session)
    company = session.get(Company, company_id)
    tz = ZoneInfo(company.timezone or "UTC")
    today = clock.today_in(company.timezone or "UTC")
    since = clock.now() - timedelta(days=DAYS)
    figures = {
        "today": today, "days": DAYS, "currency": company.currency,
        "todays_orders": todays_orders(session, company_id, today, tz),
        "orders_per_day": orders_per_day(session, company_id, today, tz),
        "holds": holds_by_kind(session, company_id),
        "shipments": shipments_due(session, company_id, today),
        "entry_errors": orders.entry_error_rate(session, company_id),
        "time_to_process": time_to_process(session, company_id, since),
        "on_time": on_time_delivery(session, company_id, since),
        "perfect": perfect_orders(session, company_id, since),
        "receivables": None, "dso": None,
    }
    if actor.can("ledger.read"):
        figures["receivables"] = overdue_receivables(session, company_id, today)
        figures["dso"] = dso(session, company_id, today)
    return figures
