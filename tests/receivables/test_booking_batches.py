"""A statement's auto lines are booked in batches, each in a transaction of its own, after the import
stored the statement (with the first batch): through the API and the command line all of them are
booked; an import that stopped between batches leaves its other auto lines unbooked, and they are
booked by book_pending (POST /bank-statements/{id}/book, or the same command run again), each once."""
from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import func, select
from typer.testing import CliRunner

from o2c.cli import app
from o2c.core import clock
from o2c.core.db import read_session, transaction
from o2c.demo_bank import Entry, statement
from o2c.payments.models import Payment
from o2c.receivables import service
from o2c.receivables.models import BankStatementLine
from tests.books import assert_ledger_agrees
from tests.fulfillment.flow import MONDAY, ok
from tests.payments.support import actor
from tests.receivables.support import invoice_of, open_amounts, payments_made
from tests.shipping_world import equip


@pytest.fixture
def five(api, world, monkeypatch):
    """Five invoices of LOYAL and BIGBUY, a statement paying each by its number, batches of two lines."""
    monkeypatch.setattr(service, "BOOK_BATCH", 2)
    clock.freeze(MONDAY)
    equip(api)
    invoices = {f"i{n}": invoice_of(api, customer, (("WIDGET", str(n)),))
                for n, customer in enumerate(["LOYAL", "BIGBUY", "LOYAL", "BIGBUY", "LOYAL"], 1)}
    clock.freeze(MONDAY + timedelta(days=7))
    camt = statement([Entry(inv["gross_total"], "LOYAL Inc." if n % 2 else "BIGBUY Inc.", None,
                            f"Invoice {inv['number']}") for n, inv in enumerate(invoices.values(), 1)]
                     + [Entry("9.99", "Someone", None, "?")])
    yield world, invoices, camt
    clock.freeze(None)


def lines() -> list[tuple[int, str, bool]]:
    with read_session() as s:
        return [(ln.seq, ln.status, ln.payment_id is not None)
                for ln in s.scalars(select(BankStatementLine).order_by(BankStatementLine.seq))]


def count_payments() -> int:
    with read_session() as s:
        return s.scalar(select(func.count()).select_from(Payment))


def test_the_api_books_every_auto_line_in_batches(api, five):
    world, invoices, camt = five
    [st] = ok(api.post("/bank-statements", user="cashier", content=camt), 201)["statements"]
    assert st["counts"]["auto"] == 5 and st["counts"]["unmatched"] == 1
    assert lines() == [(1, "auto", True), (2, "auto", True), (3, "auto", True), (4, "auto", True),
                       (5, "auto", True), (6, "unmatched", False)]
    assert set(open_amounts(invoices).values()) == {"0.00"}
    # Numbers follow the statement's order across the batches, without a gap.
    with read_session() as s:
        assert list(s.scalars(select(Payment.number).order_by(Payment.id))) == [
            f"PAY-2026-00000{n}" for n in range(1, 6)]
    assert [p[4] for p in payments_made(world["ids"]["company"])] == [
        f"line-{n}" for n in range(1, 6)]
    assert_ledger_agrees(world["ids"]["company"])


def test_an_import_stopped_between_batches_is_finished_by_book_pending_once(api, five):
    world, invoices, camt = five
    company, cashier = world["ids"]["company"], actor(world, "cashier")
    # The process dies after the import's transaction: only the first batch is booked.
    imported = transaction(lambda s: service.import_statement(s, cashier, company, camt, "dec04.xml"))
    [st] = imported.statements
    assert lines()[:5] == [(1, "auto", True), (2, "auto", True), (3, "auto", False), (4, "auto", False),
                           (5, "auto", False)]
    assert open_amounts(invoices)["i3"] != "0.00" and count_payments() == 2

    # A line shown in the meantime says auto, with no payment yet.
    assert ok(api.get(f"/bank-statements/{st.id}", user="cashier"))["lines"][2]["payment_id"] is None
    answer = ok(api.post(f"/bank-statements/{st.id}/book", user="cashier"))
    assert answer["counts"]["auto"] == 5
    assert [paid for _, _, paid in lines()] == [True] * 5 + [False]
    assert set(open_amounts(invoices).values()) == {"0.00"} and count_payments() == 5

    # Again, or run by anyone else: nothing left, nothing doubles.
    assert service.book_pending(cashier, company, [st.id]) == service.Booking(0, 0)
    assert service.book_pending(cashier, company) == service.Booking(0, 0)
    assert count_payments() == 5
    assert_ledger_agrees(company)


def test_running_the_command_again_finishes_an_import_that_stopped(api, five, tmp_path):
    world, invoices, camt = five
    company, cashier = world["ids"]["company"], actor(world, "cashier")
    transaction(lambda s: service.import_statement(s, cashier, company, camt, "dec04.xml"))
    assert count_payments() == 2
    f = tmp_path / "dec04.xml"
    f.write_bytes(camt)
    r = CliRunner().invoke(app, ["import", "statement", str(f), "--user", "cashier"])
    assert r.exit_code == 1 and "imported already" in r.output, r.output
    assert "3 auto lines of the earlier import booked now, 0 held back for a person" in r.output
    assert count_payments() == 5 and set(open_amounts(invoices).values()) == {"0.00"}


def test_a_line_whose_invoice_was_paid_before_its_batch_waits_for_a_person(api, five):
    world, invoices, camt = five
    company, cashier = world["ids"]["company"], actor(world, "cashier")
    imported = transaction(lambda s: service.import_statement(s, cashier, company, camt, "dec04.xml"))
    # Before the rest is booked, the customer's cheque for i4 is recorded by hand.
    ok(api.post("/payments", user="cashier", json={
        "customer_id": world["ids"]["BIGBUY"], "method": "cheque", "currency": "USD",
        "amount": invoices["i4"]["gross_total"],
        "applications": [{"invoice_id": invoices["i4"]["id"], "amount": invoices["i4"]["gross_total"]}]}), 201)
    assert service.book_pending(cashier, company, [imported.statements[0].id]) == service.Booking(2, 1)
    assert lines()[:5] == [(1, "auto", True), (2, "auto", True), (3, "auto", True), (4, "suggested", False),
                           (5, "auto", True)]
    [waiting] = ok(api.get("/reconciliation", user="cashier", params={"status": "suggested"}))["items"]
    assert f"{invoices['i4']['number']} was settled meanwhile: 0 is open now" in waiting["reasons"]
    assert set(open_amounts(invoices).values()) == {"0.00"} and count_payments() == 5  # 4 lines + the cheque
    assert_ledger_agrees(company)
