"""Payments recorded as a batch (payments.record_payments, what a bank statement's auto lines go
through) make exactly what recording them one after the other makes: the same payments and numbers,
settlements, journal entries, balances per account and per open item, timeline records and events; a
payment refused in a batch is reported in its place and the others are recorded."""
from __future__ import annotations

from datetime import timedelta
from decimal import Decimal as D

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from o2c.billing import service as billing
from o2c.core import clock
from o2c.core.db import get_engine, transaction
from o2c.core.errors import O2CError, ValidationFailed
from o2c.core.models import AuditRecord, OutboxEvent
from o2c.ledger import rules as ledger_rules
from o2c.ledger import service as ledger
from o2c.ledger.models import JournalEntry
from o2c.payments import service as payments
from o2c.payments.models import Payment, Settlement
from tests.books import assert_ledger_agrees
from tests.customers.support import terms_approved
from tests.fulfillment.flow import MONDAY, ok
from tests.payments.support import actor, invoiced
from tests.shipping_world import equip


@pytest.fixture
def book(api, world):
    """Open invoices of BIGBUY (net 30) and of TIDY (2/10 net 30, so a payment in time may take the
    discount), ten days after they were issued."""
    clock.freeze(MONDAY)
    equip(api)
    ids = world["ids"]
    terms_approved(api, ids["TIDY"], {"payment_terms_days": 30, "early_discount_pct": "2", "early_discount_days": 10})
    invoices = [invoiced(api, "BIGBUY"), invoiced(api, "BIGBUY", (("WIDGET", "4"),)),
                invoiced(api, "TIDY", (("WIDGET", "10"),)), invoiced(api, "TIDY", (("WIDGET", "3"),))]
    clock.freeze(MONDAY + timedelta(days=10))
    yield world, invoices
    clock.freeze(None)


def rolled_back(work):
    """What `work(session)` returns, in a write transaction rolled back afterwards (numbers given back)."""
    with Session(get_engine(), expire_on_commit=False, autoflush=False) as s:
        try:
            return work(s)
        finally:
            s.rollback()


def outcome(s: Session, company: int, since: tuple[int, int]) -> dict:
    """Everything a payment leaves, by number (ids differ between two runs on PostgreSQL)."""
    numbers = dict(s.execute(select(Payment.id, Payment.number)).all())
    entries = dict(s.execute(select(JournalEntry.id, JournalEntry.number)).all())
    audit_from, event_from = since

    def plain(d: dict) -> dict:
        return {k: v for k, v in d.items() if k != "payment_id"}

    return {
        "payments": [(p.number, p.customer_id, p.method, p.currency, p.amount, p.received_on, p.source, p.source_ref,
                      entries[p.journal_entry_id]) for p in s.scalars(select(Payment).order_by(Payment.id))],
        "settlements": [(numbers.get(x.payment_id), x.invoice_id, x.kind, x.amount, x.reason,
                         entries[x.journal_entry_id]) for x in s.scalars(select(Settlement).order_by(Settlement.id))],
        "journal": ledger.journal_csv(s, company),
        "trial_balance": ledger.trial_balance(s, company),
        "open_items": {role: ledger.open_item_balances(s, company, role)
                       for role in (ledger_rules.RECEIVABLES, ledger_rules.UNAPPLIED_CREDITS)},
        "timeline": [(r.entity, r.entity_id, r.action, r.data) for r in s.scalars(
            select(AuditRecord).where(AuditRecord.id > audit_from).order_by(AuditRecord.id))],
        "events": [(e.topic, plain(e.payload)) for e in s.scalars(
            select(OutboxEvent).where(OutboxEvent.id > event_from).order_by(OutboxEvent.id))],
    }


def marks(s: Session) -> tuple[int, int]:
    return (s.scalar(select(func.coalesce(func.max(AuditRecord.id), 0))),
            s.scalar(select(func.coalesce(func.max(OutboxEvent.id), 0))))


def told(result) -> tuple:
    """A payment's number, or the refusal as the caller sees it."""
    if isinstance(result, O2CError):
        return type(result).__name__, result.detail, [(e.field, e.code) for e in result.errors]
    return result.number


# What one item may apply to an invoice: all that is open, part of it, what is open less the 2 % discount,
# or a cent more than is open (refused).
SHARES = st.sampled_from(["open", "half", "discounted", "above"])
ITEM = st.tuples(
    st.sampled_from(["owner", "owner", "owner", "BIGBUY", "TIDY"]),  # mostly the first invoice's customer
    st.lists(st.tuples(st.integers(0, 3), SHARES), max_size=3),
    st.sampled_from(["exact", "exact", "more", "less"]),
    st.booleans(),  # from a statement line (source_ref) or by hand
)
OWNERS = ["BIGBUY", "BIGBUY", "TIDY", "TIDY"]


def batch_of(world: dict, invoices: list[dict], items: list) -> list[payments.PaymentIn]:
    out = []
    for n, (customer, picks, total, statement) in enumerate(items):
        applications = []
        for i, share in picks:
            gross = D(invoices[i]["gross_total"])
            applications.append((invoices[i]["id"], {"open": gross, "half": (gross / 2).quantize(D("0.01")),
                                                      "discounted": gross - (gross * D("0.02")).quantize(D("0.01")),
                                                      "above": gross + D("0.01")}[share]))
        applied = sum((a for _, a in applications), D(0))
        amount = {"exact": applied, "more": applied + D("5.00"), "less": applied - D("1.00")}[total]
        if customer == "owner":
            customer = OWNERS[picks[0][0]] if picks else "BIGBUY"
        out.append(payments.PaymentIn(
            customer_id=world["ids"][customer], method="bank_transfer", currency="USD",
            amount=amount if amount > 0 else D("3.00"), source="statement" if statement else "manual",
            source_ref=f"line-{n}" if statement else None, applications=applications))
    return out


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture,
                                                                  HealthCheck.too_slow])
@given(items=st.lists(ITEM, min_size=1, max_size=6))
@example(items=[("owner", [(0, "open")], "exact", True), ("owner", [(0, "half"), (1, "open")], "more", False),
                ("owner", [(2, "discounted")], "exact", True), ("owner", [(2, "discounted")], "exact", False),
                ("owner", [(0, "open")], "exact", True)])  # an invoice paid twice, a discount twice
def test_a_batch_makes_what_one_by_one_recording_makes(book, items):
    world, invoices = book
    company, cashier = world["ids"]["company"], actor(world, "cashier")
    batch = batch_of(world, invoices, items)

    def as_batch(s):
        since = marks(s)
        done = payments.record_payments(s, cashier, company, batch)
        return [told(r.refused or r.payment) for r in done], outcome(s, company, since)

    def one_by_one(s):
        since = marks(s)
        results = []
        for p in batch:
            try:
                results.append(told(payments.record_payment(s, cashier, company, **vars(p))))
            except O2CError as exc:
                results.append(told(exc))
        return results, outcome(s, company, since)

    batched, alone = rolled_back(as_batch), rolled_back(one_by_one)
    assert batched[0] == alone[0]
    for what in alone[1]:
        assert batched[1][what] == alone[1][what], what
    assert all(tb["balanced"] for tb in batched[1]["trial_balance"])


def test_a_payment_of_an_invoice_settled_meanwhile_is_refused_and_the_others_of_the_batch_recorded(book):
    world, [inv1, inv2, inv3, _] = book
    company, cashier, big, tidy = (world["ids"]["company"], actor(world, "cashier"), world["ids"]["BIGBUY"],
                                   world["ids"]["TIDY"])
    # Someone settles inv2 by hand first.
    transaction(lambda s: payments.record_payment(s, cashier, company, customer_id=big, method="cheque",
                                                  currency="USD", amount=D("42.50"),
                                                  applications=[(inv2["id"], D("42.50"))]))

    def line(n, customer, invoice, amount):
        return payments.PaymentIn(customer, "bank_transfer", "USD", D(amount), source="statement",
                                  source_ref=f"line-{n}", applications=[(invoice["id"], D(amount))])

    batch = [line(1, big, inv1, "21.25"), line(2, big, inv2, "42.50"), line(3, tidy, inv3, "94.60")]
    done = transaction(lambda s: [(r.payment.number if r.payment else None, r.refused)
                                  for r in payments.record_payments(s, cashier, company, batch)])
    assert [number for number, _ in done] == ["PAY-2026-000002", None, "PAY-2026-000003"]  # no gap
    refused = done[1][1]
    assert isinstance(refused, ValidationFailed)
    assert [(e.field, e.code) for e in refused.errors] == [("applications[0].amount", "above_open")]
    with Session(get_engine()) as s:
        open_now = billing.open_amounts(s, [inv1["id"], inv2["id"], inv3["id"]])
        assert open_now == {inv1["id"]: D("0.00"), inv2["id"]: D("0.00"), inv3["id"]: D("0.00")}  # inv3: discount
        assert s.scalar(select(func.count()).select_from(Payment)) == 3
        assert list(s.scalars(select(JournalEntry.number).order_by(JournalEntry.number))) == list(
            range(1, s.scalar(select(func.count()).select_from(JournalEntry)) + 1))  # journal numbers gap-free
        assert s.scalar(select(func.count()).select_from(Payment).where(Payment.source_ref == "line-2")) == 0
    assert_ledger_agrees(company)

    # The batch again (a retry): the same payments, nothing new; the refused one is refused again.
    again = transaction(lambda s: [(r.payment.number if r.payment else None, r.refused is not None)
                                   for r in payments.record_payments(s, cashier, company, batch)])
    assert again == [("PAY-2026-000002", False), (None, True), ("PAY-2026-000003", False)]
