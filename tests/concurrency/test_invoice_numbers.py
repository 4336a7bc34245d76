"""On PostgreSQL, invoice numbers are gap-free and unique under concurrency: 20 shipped shipments
invoiced from 4 threads at once get INV-<year>-000001 to -000020, each once, and journal entries 1 to
20; the company's chart of accounts, first used by all four at the same moment, is made once."""
from __future__ import annotations

import queue
import threading

import pytest
from sqlalchemy import func, select

from o2c.billing import service as billing
from o2c.billing.models import Invoice
from o2c.core import clock
from o2c.core.auth import SYSTEM
from o2c.core.db import read_session, transaction
from o2c.ledger import rules as ledger_rules
from o2c.ledger.models import JournalEntry, LedgerAccount
from tests.concurrency.support import count_retries, equipped_api, wide_pool
from tests.concurrency.test_fulfilment_races import shipped_shipment
from tests.fulfillment.flow import MONDAY
from tests.world import make

pytestmark = pytest.mark.postgres_only

SHIPMENTS, THREADS = 20, 4


@pytest.fixture
def shipped(pg, monkeypatch):
    """The world with 20 shipped shipments of one order each, none invoiced yet (no dispatcher runs)."""
    wide_pool(monkeypatch)
    clock.freeze(MONDAY)
    world = make()
    with equipped_api(world) as api:
        ids = [shipped_shipment(api, lines=(("WIDGET", "2"),))["id"] for _ in range(SHIPMENTS)]
    yield world["ids"]["company"], ids, count_retries(monkeypatch)
    clock.freeze(None)


def test_twenty_shipments_invoiced_from_four_threads_are_numbered_1_to_20(shipped):
    company_id, shipment_ids, retried = shipped
    work: queue.Queue[int] = queue.Queue()
    for sid in shipment_ids:
        work.put(sid)
    errors: list[BaseException] = []
    start = threading.Barrier(THREADS)

    def invoicer():
        start.wait()
        while True:
            try:
                sid = work.get_nowait()
            except queue.Empty:
                return
            try:
                transaction(lambda s: billing.invoice_shipment(s, SYSTEM, company_id, sid))
            except BaseException as exc:  # reported below
                errors.append(exc)

    threads = [threading.Thread(target=invoicer) for _ in range(THREADS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    assert errors == []
    with read_session() as s:
        invoices = s.execute(select(Invoice.seq, Invoice.number, Invoice.shipment_id)).all()
        entries = sorted(s.scalars(select(JournalEntry.number)))
        accounts = s.scalar(select(func.count()).select_from(LedgerAccount))
    assert sorted(seq for seq, _, _ in invoices) == list(range(1, SHIPMENTS + 1))
    assert sorted(n for _, n, _ in invoices) == [f"INV-2026-{k:06d}" for k in range(1, SHIPMENTS + 1)]
    assert sorted(sid for _, _, sid in invoices) == sorted(shipment_ids)
    assert entries == list(range(1, SHIPMENTS + 1))
    assert accounts == len(ledger_rules.DEFAULT_ACCOUNTS)
    assert "40P01" not in retried  # rows are locked in one order: no deadlock
