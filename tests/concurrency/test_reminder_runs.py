"""On PostgreSQL, two reminder runs at the same moment send each letter once: the second run's items
wait on the first run's (unique invoice and rank), then are skipped, so the customer gets one letter,
one fee is posted and one email event is emitted. Two people disputing the same invoice at once make
one open dispute."""
from __future__ import annotations

import threading

import pytest
from sqlalchemy import func, select

from o2c.billing.models import InvoiceDispute
from o2c.core import clock
from o2c.core.auth import actor_for_user
from o2c.core.db import dispose_engines, read_session, transaction
from o2c.core.models import OutboxEvent, User
from o2c.core.settings import get_settings
from o2c.dunning import disputes
from o2c.dunning import service as dunning
from o2c.dunning.models import Reminder, ReminderItem
from o2c.ledger import service as ledger
from o2c.ledger.models import JournalEntry
from tests.concurrency.support import count_retries, equipped_api, wide_pool
from tests.concurrency.test_fulfilment_races import finished, held_open, meanwhile
from tests.dunning.support import invoiced, on
from tests.fulfillment.flow import ok
from tests.world import make

pytestmark = pytest.mark.postgres_only


@pytest.fixture
def overdue(pg, monkeypatch):
    """Two BIGBUY invoices and one of LOYAL's, 21 days overdue on 20 January 2027 (the second level,
    fee 5.00); the API, the biller as an actor, the company."""
    wide_pool(monkeypatch)
    on(2026, 11, 30)
    world = make()
    with equipped_api(world) as api:
        invs = [invoiced(api, "BIGBUY", [("WIDGET", "12")], "6.2"), invoiced(api, "BIGBUY", [("GADGET", "2")], "2.6"),
                invoiced(api, "LOYAL", [("WIDGET", "10")], "5.2")]
        on(2027, 1, 20)
        with read_session() as s:
            biller = actor_for_user(s, s.get(User, world["ids"]["biller"]))
        yield api, biller, world["ids"], invs, count_retries(monkeypatch)
    clock.freeze(None)
    dispose_engines()
    get_settings.cache_clear()


def counts() -> tuple[int, int, int, int]:
    with read_session() as s:
        return (s.scalar(select(func.count()).select_from(Reminder)),
                s.scalar(select(func.count()).select_from(ReminderItem)),
                s.scalar(select(func.count()).select_from(JournalEntry).where(JournalEntry.source_kind == "fee")),
                s.scalar(select(func.count()).select_from(OutboxEvent).where(OutboxEvent.topic == "reminder.sent")))


def books_agree(company_id: int) -> None:
    with read_session() as s:
        assert all(tb["balanced"] for tb in ledger.trial_balance(s, company_id))
        assert all(ar["agrees"] for ar in ledger.ar_check(s, company_id))


def test_a_run_started_while_another_is_open_waits_and_sends_nothing_twice(overdue):
    api, biller, ids, invs, retried = overdue
    with held_open(lambda s: dunning.run(s, biller, ids["company"])):
        thread, answer = meanwhile(lambda: api.post("/reminders/run", user="cashier", json={}))
    r = finished(thread, answer)
    assert r.status_code == 200, r.text
    assert r.json()["reminders"] == []  # the first run sent them all
    assert counts() == (2, 3, 2, 2)  # BIGBUY's letter (2 invoices) and LOYAL's; one fee and one email each
    sent = ok(api.get("/reminders", user="biller"))["items"]
    assert sorted((x["customer_id"], x["fee"], len(x["items"])) for x in sent) == sorted(
        [(ids["BIGBUY"], "5.00", 2), (ids["LOYAL"], "5.00", 1)])
    books_agree(ids["company"])
    assert "40P01" not in retried


def test_four_runs_at_once_send_each_letter_once(overdue):
    api, biller, ids, invs, retried = overdue
    start = threading.Barrier(4)
    results, errors = [], []

    def runner():
        start.wait()
        try:
            results.append(transaction(lambda s: dunning.run(s, biller, ids["company"])))
        except BaseException as exc:  # reported below
            errors.append(exc)

    threads = [threading.Thread(target=runner) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    assert errors == []
    letters = [x for r in results for x in r["reminders"]]
    assert sorted((x["customer_id"], len(x["items"])) for x in letters) == sorted([(ids["BIGBUY"], 2), (ids["LOYAL"], 1)])
    assert counts() == (2, 3, 2, 2)
    books_agree(ids["company"])


def test_two_disputes_of_one_invoice_at_once_make_one(overdue):
    api, biller, ids, invs, _ = overdue
    inv = invs[0]
    with held_open(lambda s: disputes.open_dispute(s, biller, ids["company"], inv["id"], "price")):
        thread, answer = meanwhile(lambda: api.post(f"/invoices/{inv['id']}/disputes", user="cashier",
                                                    json={"reason": "quantity"}))
    r = finished(thread, answer)
    assert r.status_code == 409, r.text
    with read_session() as s:
        assert s.scalars(select(InvoiceDispute.reason).where(InvoiceDispute.invoice_id == inv["id"])).all() == ["price"]
