"""On PostgreSQL, payments racing for the same invoice, the same statement line or the same credit: the
second waits for the first's locks and then sees what it did, so an invoice is never settled above its
amount, a line never becomes two payments, a credit is never spent twice, and payment numbers stay
gap-free. The held-open tests fix the interleaving; the threaded one lets the database choose it."""
from __future__ import annotations

import queue
import threading
from decimal import Decimal as D

import pytest
from sqlalchemy import func, select

from o2c.billing import service as billing
from o2c.core import clock
from o2c.core.db import read_session, transaction
from o2c.core.errors import ValidationFailed
from o2c.payments import service as payments
from o2c.payments.models import Payment, Settlement
from tests.books import assert_ledger_agrees
from tests.concurrency.support import count_retries, equipped_api, wide_pool
from tests.concurrency.test_fulfilment_races import finished, held_open, meanwhile
from tests.fulfillment.flow import MONDAY
from tests.payments.support import actor, invoiced
from tests.world import make

pytestmark = pytest.mark.postgres_only


@pytest.fixture
def desk(pg, monkeypatch):
    """BIGBUY's invoice INV-2026-000001 for 21.25; the cashier as an actor."""
    wide_pool(monkeypatch)
    clock.freeze(MONDAY)
    world = make()
    with equipped_api(world) as api:
        inv = invoiced(api)
        yield api, world["ids"], actor(world, "cashier"), inv, count_retries(monkeypatch)
    clock.freeze(None)


def record(s, cashier, ids, amount: str, applications=(), **kw):
    return payments.record_payment(s, cashier, ids["company"], customer_id=ids["BIGBUY"], method="bank_transfer",
                                   currency="USD", amount=D(amount), applications=list(applications), **kw)


def count(model) -> int:
    with read_session() as s:
        return s.scalar(select(func.count()).select_from(model))


def test_two_payments_of_one_invoice_at_once_settle_it_once(desk):
    api, ids, cashier, inv, retried = desk
    full = [(inv["id"], D("21.25"))]
    with held_open(lambda s: record(s, cashier, ids, "21.25", full)):
        thread, answer = meanwhile(lambda: api.post("/payments", user="cashier", json={
            "customer_id": ids["BIGBUY"], "method": "cheque", "currency": "USD", "amount": "21.25",
            "applications": [{"invoice_id": inv["id"], "amount": "21.25"}]}))
    r = finished(thread, answer)
    # The second waited for the invoice's lock, then found nothing open: refused, nothing stored.
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "applications[0].amount", r.text
    with read_session() as s:
        assert billing.open_amounts(s, [inv["id"]]) == {inv["id"]: D("0.00")}
        assert [p.number for p in s.scalars(select(Payment))] == ["PAY-2026-000001"]
    assert count(Settlement) == 1
    assert_ledger_agrees(ids["company"])
    assert "40P01" not in retried


def test_one_statement_line_recorded_twice_at_once_is_one_payment_and_no_number_is_lost(desk):
    api, ids, cashier, inv, retried = desk
    line = dict(source="statement", source_ref="camt-2026-11-30/7")
    with held_open(lambda s: record(s, cashier, ids, "30.00", [(inv["id"], D("21.25"))], **line)):
        thread, answer = meanwhile(lambda: transaction(lambda s: record(s, cashier, ids, "30.00", [], **line).id))
    second = finished(thread, answer)
    with read_session() as s:
        [pay] = s.scalars(select(Payment))
        assert second == pay.id and pay.number == "PAY-2026-000001"
        assert payments.unapplied_credit(s, ids["company"], ids["BIGBUY"])["total"] == D("8.75")
    # The loser gave its number back: the next payment is number 2.
    assert transaction(lambda s: record(s, cashier, ids, "1.00").number) == "PAY-2026-000002"
    assert count(Settlement) == 1
    assert_ledger_agrees(ids["company"])


def test_one_credit_applied_twice_at_once_is_spent_once(desk):
    api, ids, cashier, inv, retried = desk
    transaction(lambda s: record(s, cashier, ids, "21.25"))  # PAY-2026-000001: all credit
    inv2 = invoiced(api)
    body = lambda i: {"customer_id": ids["BIGBUY"], "credit_item": "PAY-2026-000001",  # noqa: E731
                      "applications": [{"invoice_id": i["id"], "amount": "21.25"}]}
    with held_open(lambda s: payments.apply_credit(s, cashier, ids["company"], ids["BIGBUY"], "PAY-2026-000001",
                                                   [(inv["id"], D("21.25"))])):
        thread, answer = meanwhile(lambda: api.post("/payments/apply-credit", user="cashier", json=body(inv2)))
    r = finished(thread, answer)
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "credit_item", r.text
    with read_session() as s:
        assert billing.open_amounts(s, [inv["id"], inv2["id"]]) == {inv["id"]: D("0.00"), inv2["id"]: D("21.25")}
    assert_ledger_agrees(ids["company"])


def test_many_part_payments_from_four_threads_never_settle_more_than_is_open(desk):
    """Ten payments of 5.00 on an invoice of 21.25, from four threads at once: four are applied (20.00),
    the other six are refused; numbers 1 to 4 with no gap; no deadlock."""
    api, ids, cashier, inv, retried = desk
    work: queue.Queue[int] = queue.Queue()
    for n in range(10):
        work.put(n)
    outcomes: list[str] = []
    errors: list[BaseException] = []
    start = threading.Barrier(4)

    def cashier_desk():
        start.wait()
        while True:
            try:
                work.get_nowait()
            except queue.Empty:
                return
            try:
                outcomes.append(transaction(lambda s: record(s, cashier, ids, "5.00", [(inv["id"], D("5.00"))]).number))
            except ValidationFailed as exc:
                outcomes.append(exc.errors[0].code)
            except BaseException as exc:  # reported below, with the thread's own error
                errors.append(exc)

    threads = [threading.Thread(target=cashier_desk) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    assert errors == []
    assert sorted(outcomes) == [f"PAY-2026-00000{n}" for n in (1, 2, 3, 4)] + ["above_open"] * 6
    with read_session() as s:
        assert billing.open_amounts(s, [inv["id"]]) == {inv["id"]: D("1.25")}
    assert_ledger_agrees(ids["company"])
    assert "40P01" not in retried
