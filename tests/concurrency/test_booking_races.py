"""On PostgreSQL, a statement's auto lines booked in batches while a person records a payment on one of
their invoices: whichever locks the invoice first settles it, the other sees what is left, and nothing
is ever applied beyond what is open. Between two batches the company's counters are free: a payment
recorded then does not wait for the rest of the statement."""
from __future__ import annotations

from datetime import timedelta
from decimal import Decimal as D

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from o2c.core import clock
from o2c.core.db import dispose_engines, read_session, transaction
from o2c.core.settings import get_settings
from o2c.demo_bank import Entry, statement
from o2c.payments import service as payments
from o2c.payments.models import Payment
from o2c.receivables import service
from o2c.receivables.models import BankStatementLine
from o2c.web.app import create_app
from tests.books import assert_ledger_agrees
from tests.concurrency.test_fulfilment_races import finished, held_open, meanwhile
from tests.conftest import Api
from tests.fulfillment.flow import MONDAY
from tests.payments.support import actor
from tests.receivables.support import invoice_of, open_amounts
from tests.shipping_world import equip
from tests.world import make

pytestmark = pytest.mark.postgres_only


@pytest.fixture
def stopped(pg, monkeypatch):
    """Four invoices of LOYAL, a statement paying each, imported with batches of one line: the import
    booked line 1, lines 2-4 wait for book_pending."""
    monkeypatch.setattr(service, "BOOK_BATCH", 1)
    clock.freeze(MONDAY)
    world = make()
    with TestClient(create_app(), raise_server_exceptions=False) as client:
        api = Api(client, world["keys"])
        equip(api)
        invoices = {f"i{n}": invoice_of(api, "LOYAL", (("WIDGET", str(n)),)) for n in range(1, 5)}
        clock.freeze(MONDAY + timedelta(days=7))
        company, cashier = world["ids"]["company"], actor(world, "cashier")
        camt = statement([Entry(inv["gross_total"], "LOYAL Inc.", None, f"Invoice {inv['number']}")
                          for inv in invoices.values()])
        [st] = transaction(lambda s: service.import_statement(s, cashier, company, camt, "a.xml")).statements
        yield world, invoices, cashier, st.id
    clock.freeze(None)
    dispose_engines()
    get_settings.cache_clear()


def by_hand(world, cashier, invoice: dict, amount: str):
    return lambda s: payments.record_payment(
        s, cashier, world["ids"]["company"], customer_id=world["ids"]["LOYAL"], method="cheque", currency="USD",
        amount=D(amount), applications=[(invoice["id"], D(amount))])


def statuses() -> list[tuple[str, bool]]:
    with read_session() as s:
        return [(ln.status, ln.payment_id is not None)
                for ln in s.scalars(select(BankStatementLine).order_by(BankStatementLine.seq))]


def payments_count() -> int:
    with read_session() as s:
        return s.scalar(select(func.count()).select_from(Payment))


def test_a_payment_by_hand_first_holds_the_statements_line_back(stopped):
    world, invoices, cashier, st = stopped
    # The person's payment of i3 is under way (invoice and counters locked) when the booking runs:
    # the batch of line 3 waits, then finds i3 paid, and keeps its line for a person.
    with held_open(by_hand(world, cashier, invoices["i3"], invoices["i3"]["gross_total"])):
        thread, answer = meanwhile(lambda: service.book_pending(cashier, world["ids"]["company"], [st]))
    assert finished(thread, answer) == service.Booking(2, 1)
    assert statuses() == [("auto", True), ("auto", True), ("suggested", False), ("auto", True)]
    assert set(open_amounts(invoices).values()) == {"0.00"} and payments_count() == 4
    assert_ledger_agrees(world["ids"]["company"])


def test_a_batch_first_makes_the_payment_by_hand_see_what_is_left(stopped, monkeypatch):
    world, invoices, cashier, st = stopped
    # A batch holding i2 (lines 2 and 3 in one batch) is under way when the person pays part of i2: the
    # person waits, then sees i2 paid, and is refused; once the batch is done, nothing of the company
    # waits on the rest of the statement.
    monkeypatch.setattr(service, "BOOK_BATCH", 2)
    with held_open(lambda s: service._book_batch(s, cashier, world["ids"]["company"], [st], 0, 2)):
        thread, answer = meanwhile(lambda: _refused(lambda: transaction(by_hand(world, cashier, invoices["i2"], "1.00"))))
    assert "applied to invoice" in finished(thread, answer)
    assert transaction(by_hand(world, cashier, invoices["i4"], "1.00")).number == "PAY-2026-000004"  # between batches
    assert service.book_pending(cashier, world["ids"]["company"], [st]) == service.Booking(0, 1)
    assert statuses()[3][0] == "suggested"  # i4 is short by the cheque now: a person decides
    assert open_amounts(invoices) == {"i1": "0.00", "i2": "0.00", "i3": "0.00", "i4": str(
        D(invoices["i4"]["gross_total"]) - 1)}
    assert_ledger_agrees(world["ids"]["company"])


def _refused(call) -> str:
    try:
        call()
    except Exception as exc:  # the refusal, as the person is told
        return str(exc)
    return "recorded"
