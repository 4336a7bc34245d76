"""`o2c demo`: the demo company and its orders add up, on both databases, and a second run is harmless."""
from __future__ import annotations

import io
from collections import Counter
from decimal import Decimal

from rich.console import Console
from sqlalchemy import func, select

from o2c.core.auth import actor_for_key, check_password
from o2c.core.db import dispose_engines, read_session
from o2c.billing.models import Invoice
from o2c.core.models import AuditRecord, OutboxEvent, User
from o2c.dunning.models import Reminder
from o2c.fulfillment.models import Shipment
from o2c.ledger import service as ledger
from o2c.demo import SCENARIOS, run_demo
from o2c.orders.models import Order, OrderHold, OrderLine
from tests.books import assert_books_agree
from tests.conftest import _empty
from tests.test_notifications import SmtpServer, free_port, point_smtp_at

# Orders the risk desk adds: the onboarded customer's, the sanctioned applicant's, a credit hold, a fraud hold.
RISK_ORDERS = 4
# Where each kind of order must end up.
ENDS = {
    "clean": {"confirmed"}, "short": {"backordered"}, "bad_postal": {"confirmed"}, "no_reason": {"confirmed"},
    "override": {"confirmed"}, "duplicate": {"confirmed", "cancelled"}, "cancel": {"cancelled"},
    "quote": {"validated"}, "left_held": {"held"},
}


def _console() -> Console:
    return Console(file=io.StringIO(), width=160)


def _check_books(company_id: int) -> dict:
    """Stock, reservations, holds and the error rate, read from the database; returns orders by status."""
    # stock is never oversold, and what each stock row and order line has reserved is exactly the sum of
    # its reservations
    assert_books_agree()
    with read_session() as s:
        by_status = dict(s.execute(select(Order.status, func.count()).where(Order.company_id == company_id)
                                   .group_by(Order.status)).all())
        # only live, confirmed orders hold stock; what has shipped is neither reserved nor owed any more
        for line, status in s.execute(select(OrderLine, Order.status).join(Order, Order.id == OrderLine.order_id)):
            if status == "confirmed":
                assert line.reserved_qty + line.shipped_qty == line.quantity and line.backordered_qty == 0
            elif status == "backordered":
                assert line.reserved_qty + line.backordered_qty + line.shipped_qty == line.quantity
            else:
                assert line.reserved_qty == 0
        # a pricing hold is released by a pricing approver who did not enter the order
        for hold, entered_by in s.execute(select(OrderHold, Order.entered_by).join(Order)
                                          .where(OrderHold.kind == "pricing", OrderHold.released_by.is_not(None))):
            approver = s.get(User, hold.released_by)
            assert hold.released_by != entered_by and "pricing_approver" in approver.roles.split()
        # the error rate counts the orders that were held for validation or as duplicates
        corrected = s.scalar(select(func.count(func.distinct(OrderHold.order_id)))
                             .where(OrderHold.kind.in_(["validation", "duplicate"])))
        assert s.scalar(select(func.count()).where(Order.needed_correction.is_(True))) == corrected
        # every order has a timeline that starts with its capture
        firsts = s.execute(select(AuditRecord.entity_id, func.min(AuditRecord.id)).where(AuditRecord.entity == "order")
                           .group_by(AuditRecord.entity_id)).all()
        assert len(firsts) == sum(by_status.values())
    return by_status


def test_demo_adds_up_and_a_second_run_reuses_it(db, monkeypatch):
    port = free_port()
    point_smtp_at(monkeypatch, port)  # nothing listens there yet

    out = _console()
    report = run_demo(40, seed=7, console=out)
    text = out.file.getvalue()
    assert report.created and report.failures == []
    assert sum(report.outcomes.values()) == report.orders_pushed == 40
    # every kind of order happened, and each ended where it should
    assert {scenario for scenario, _ in report.outcomes} == set(SCENARIOS)
    for (scenario, status), n in report.outcomes.items():
        assert status in ENDS[scenario], (scenario, status, n)
    by_status = _check_books(report.company_id)
    assert by_status == report.by_status
    assert sum(by_status.values()) == 40 + RISK_ORDERS
    assert {"confirmed", "backordered", "validated", "held", "cancelled"} <= {k for k, v in by_status.items() if v}
    assert report.holds["pricing"][0] >= 1 and report.holds["pricing"][1] == 0  # all approved
    # the held orders wait for the desk, and the sanctioned applicant's for ever
    assert report.holds["validation"][1] + 1 == by_status["held"]
    er = report.error_rate
    n = 40 + RISK_ORDERS
    assert er["orders"] == n and er["rate"] == (Decimal(er["needed_correction"]) / n).quantize(Decimal("0.0001"))
    assert er["needed_correction"] >= report.holds["validation"][0] // 2 > 0

    # the risk desk: a customer onboarded through KYC (its waiting order then confirmed), a sanctions
    # hit confirmed (the applicant blocked, its order held), a credit hold and a fraud hold each released
    # by the right person, and the audit chain verified
    r = report.risk
    assert r.failures == [] and len(r.lines) == 6, r
    assert (report.holds["customer"], report.holds["compliance"]) == ((2, 1), (1, 1))
    assert report.holds["credit"] == (1, 0) and report.holds["fraud"] == (1, 0)
    assert "is now confirmed" in text and "compliance confirmed the hit as a true match" in text
    assert "the desk could not approve it, the analyst did" in text and "the fraud analyst approved it" in text
    assert "Audit log verified" in text

    # the warehouse shipped every released shipment: a short pick, a parcel held by the scale, a late delivery
    f = report.fulfilment
    assert f.failures == [] and f.shipped == f.shipments > 0
    assert (f.short_picks, f.held_parcels) == (1, 1)
    assert f.delivered > 0 and f.late >= 1 and f.delivered + f.in_transit == f.shipped
    assert f.returns == 1
    assert "Warehouse: 1 wave" in text

    # cash: every shipped shipment invoiced once, a backorder's second shipment invoiced on its own,
    # payments, a bank statement mostly matched by itself, a late customer reminded; the books balance
    c = report.cash
    assert c.failures == []
    with read_session() as s:
        shipped = s.scalars(select(Shipment.id).where(Shipment.kind == "order", Shipment.shipped_at.is_not(None))).all()
        invoiced = s.scalars(select(Invoice.shipment_id)).all()
        assert sorted(invoiced) == sorted(shipped) and c.invoices == len(shipped)
        for number in c.invoiced_twice:
            assert s.scalar(select(func.count()).select_from(Invoice).where(Invoice.order_id == int(number[2:]))) >= 2
        assert all(tb["balanced"] for tb in ledger.trial_balance(s, report.company_id))
        assert all(check["agrees"] for check in ledger.ar_check(s, report.company_id))
        reminded = s.scalars(select(Reminder.customer_id)).all()
    assert c.invoiced_twice and c.payments >= 3 and len(reminded) == len(c.reminded) >= 1
    assert c.statement["auto"] >= c.statement["lines"] // 2 and c.statement["not_incoming"] == 1
    assert "Cash:" in text and "invoiced twice" in text

    # no mail server: the events wait in the outbox, and the demo says so
    assert report.events_delivered is None and report.events_pending > 40
    assert "stay in the outbox" in text

    # the login it printed works, for users of every role
    assert set(report.keys) == {"admin", "desk", "rep", "approver", "keeper", "service", "viewer", "biller",
                                "cashier", "steward", "clerk", "compliance", "analyst", "manager", "fraud", "auditor",
                                "buyer"}
    with read_session() as s:
        for username, key in report.keys.items():
            assert key in text
            assert actor_for_key(s, key).username == username
        buyer = s.scalar(select(User).where(User.username == "buyer"))
        assert buyer.customer_id is not None and check_password("demo", buyer.password_hash)
        assert check_password("demo", s.scalar(select(User.password_hash).where(User.username == "keeper")))
    assert "http://127.0.0.1:8000/ and log in" in text and "password 'demo'" in text
    assert "http://127.0.0.1:8000/api/v1/docs" in text
    assert "Order entry error rate" in text and f"{er['needed_correction']} of {n}" in text

    # a second run finds the company, creates nothing and hands out a fresh admin key
    again_out = _console()
    again = run_demo(40, seed=7, console=again_out)
    assert not again.created and again.orders_pushed == 0
    assert again.by_status == by_status
    assert list(again.keys) == ["admin"] and again.keys["admin"] != report.keys["admin"]
    assert "exists already" in again_out.file.getvalue()
    with read_session() as s:
        assert actor_for_key(s, again.keys["admin"]).username == "admin"

    # with a mail server, another batch goes through and every pending event is delivered
    server = SmtpServer(port)
    server.start()
    try:
        more = run_demo(5, seed=7, more=True, console=_console())
    finally:
        server.stop()
    assert more.failures == [] and sum(more.by_status.values()) == 45 + RISK_ORDERS
    assert more.events_pending == 0  # delivered in the demo's own rounds or at its end
    with read_session() as s:
        # one confirmation per confirming event, except for orders cancelled before the mail went out
        confirmations = s.scalar(select(func.count()).select_from(OutboxEvent)
                                 .join(Order, Order.id == OutboxEvent.entity_id)
                                 .where(OutboxEvent.topic.in_(["order.confirmed", "order.backordered"]),
                                        Order.status.in_(["confirmed", "backordered"])))
        # and one notice per tracking step of every shipment (every demo customer has an email address)
        # and the return's authorisation
        notices = s.scalar(select(func.count()).select_from(OutboxEvent).where(
            OutboxEvent.topic.in_(["shipment.tracking", "return.authorised", "return.rejected", "reminder.sent",
                                   "invoice.issued", "refund.paid"])))
    assert len(server.messages) == confirmations + notices
    assert all(rcpt[0].startswith("purchasing@") for rcpt, _ in server.messages)
    _check_books(report.company_id)


def test_the_same_seed_gives_the_same_demo(db, monkeypatch):
    point_smtp_at(monkeypatch, free_port())

    def snapshot():
        report = run_demo(10, seed=11, console=_console())
        with read_session() as s:
            orders = s.execute(select(Order.po_number, Order.status, Order.total).order_by(Order.id)).all()
        return Counter(report.outcomes), orders

    first = snapshot()
    dispose_engines()
    _empty(db)
    assert snapshot() == first


def test_the_default_demo_runs_to_the_end(db, monkeypatch):
    """`bash scripts/run` loads the default demo (300 orders, seed 42): every step of it goes through."""
    point_smtp_at(monkeypatch, free_port())
    report = run_demo(console=_console())
    assert report.failures == [] and report.orders_pushed == 300
    assert report.fulfilment.failures == [] and report.fulfilment.returns == 1
    assert report.cash.failures == [] and report.cash.invoices > 0 and report.cash.reminded
