"""Invoicing shipped shipments on PostgreSQL: invoices per second through o2c.billing.service.

Seeds N confirmed 3-line orders (bench/common.py) and one shipped shipment per order with every line
shipped (server-side INSERT ... SELECT), then invoices the shipments the way the `shipment.shipped`
subscriber does: one transaction per shipment, making the invoice, its lines, its gap-free number, its
journal entry, its timeline record and its event. Three runs on the same database, each on its own
share of the shipments:

- sequential: one thread;
- threads: --threads threads at once (the number series row is locked from the number until the
  commit, so invoices of one company serialise on it: this run shows what that costs);
- dispatcher: the shipments' `shipment.shipped` events through the outbox dispatcher (o2c worker's
  loop, subscriber bookkeeping included), one process.

Every run checks its invoices afterwards: one per shipment, numbers 1..N without a gap, and the trial
balance balancing. Prints invoices/s per run and the ratios between them.

    .venv/bin/python bench/bench_invoicing.py                    # 10,000 shipments
    .venv/bin/python bench/bench_invoicing.py --shipments 2000 --threads 4
"""
from __future__ import annotations

import argparse
import sys
import threading
import time
from pathlib import Path

from sqlalchemy import create_engine, func, select, text

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import analyze, command_line, log, machine, seed_company, seed_orders, throwaway_db  # noqa: E402

SHIPMENTS_SQL = text("""
WITH s AS (
    INSERT INTO shipments (company_id, order_id, warehouse_id, kind, status, ship_to_name, ship_to_line1,
        ship_to_city, ship_to_region, ship_to_postal_code, ship_to_country, shipped_at, created_at, updated_at,
        version)
    SELECT o.company_id, o.id, :wh, 'order', 'shipped', o.ship_to_name, o.ship_to_line1, o.ship_to_city,
        o.ship_to_region, o.ship_to_postal_code, o.ship_to_country, now(), now(), now(), 1
    FROM orders o WHERE o.company_id = :company ORDER BY o.id
    RETURNING id, order_id
)
INSERT INTO shipment_lines (shipment_id, order_line_id, product_id, sku, quantity, picked_qty, packed_qty,
    shipped_qty, returned_qty)
SELECT s.id, l.id, l.product_id, l.sku, l.quantity, l.quantity, l.quantity, l.quantity, 0
FROM s JOIN order_lines l ON l.order_id = s.order_id
""")


def invoice_all(shipment_ids: list[int], company_id: int, threads: int) -> float:
    """Invoice the shipments with `threads` threads, one transaction per shipment; seconds taken."""
    from o2c.billing import service as billing
    from o2c.core.auth import SYSTEM
    from o2c.core.db import transaction

    chunks = [shipment_ids[i::threads] for i in range(threads)]
    failures: list[BaseException] = []

    def work(ids: list[int]) -> None:
        try:
            for sid in ids:
                transaction(lambda s, sid=sid: billing.invoice_shipment(s, SYSTEM, company_id, sid))
        except BaseException as exc:  # reported after the run
            failures.append(exc)

    t0 = time.perf_counter()
    workers = [threading.Thread(target=work, args=(c,)) for c in chunks]
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    if failures:
        raise failures[0]
    return time.perf_counter() - t0


def dispatch_all(shipment_ids: list[int], company_id: int) -> float:
    """Emit shipment.shipped for each shipment, then time the dispatcher delivering them all to the
    invoicing subscriber (the invoice emails that follow are another step, left out: no mail server here)."""
    from o2c.core.db import transaction
    from o2c.core.events import dispatch_pending, emit
    from o2c.process import invoice_shipment

    only_invoicing = {"shipment.shipped": [invoice_shipment]}

    def events(s):
        for sid in shipment_ids:
            emit(s, "shipment.shipped", {"shipment_id": sid}, company_id=company_id, entity_id=sid)

    transaction(events)
    t0 = time.perf_counter()
    while dispatch_pending(only_invoicing, limit=500):
        pass
    return time.perf_counter() - t0


def check(url: str, company_id: int, expected: int) -> None:
    """One invoice per shipment, numbers 1..N with no gap, and a balanced trial balance."""
    from o2c.billing.models import Invoice
    from o2c.ledger.models import JournalEntry, JournalLine

    eng = create_engine(url)
    with eng.connect() as c:
        n, lo, hi, distinct = c.execute(select(func.count(), func.min(Invoice.seq), func.max(Invoice.seq),
                                               func.count(Invoice.seq.distinct()))
                                        .where(Invoice.company_id == company_id)).one()
        dr, cr = c.execute(select(func.sum(JournalLine.debit), func.sum(JournalLine.credit))
                           .join(JournalEntry, JournalEntry.id == JournalLine.entry_id)
                           .where(JournalEntry.company_id == company_id)).one()
    eng.dispose()
    assert n == expected == distinct and lo == 1 and hi == expected, (n, expected, lo, hi, distinct)
    assert dr == cr, (dr, cr)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--shipments", type=int, default=10_000)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--keep-db", action="store_true")
    args = ap.parse_args()

    with throwaway_db("invoicing", keep=args.keep_db) as url:
        world = seed_company(url, customers=200, products=500)
        seed_orders(url, world, args.shipments, reservations=False)
        eng = create_engine(url)
        with eng.begin() as c:
            c.execute(SHIPMENTS_SQL, {"company": world.company_id, "wh": world.warehouse_id})
            ids = [r[0] for r in c.execute(text("SELECT id FROM shipments WHERE company_id = :c ORDER BY id"),
                                           {"c": world.company_id})]
        eng.dispose()
        analyze(url)
        log(f"{len(ids):,} shipped shipments of 3 lines each")

        third = len(ids) // 3
        runs = [("sequential, 1 thread", ids[:third], lambda part: invoice_all(part, world.company_id, 1)),
                (f"threads, {args.threads} at once", ids[third:2 * third],
                 lambda part: invoice_all(part, world.company_id, args.threads)),
                ("dispatcher (outbox), 1 process", ids[2 * third:], lambda part: dispatch_all(part, world.company_id))]
        results = []
        done = 0
        for name, part, run in runs:
            seconds = run(part)
            done += len(part)
            check(url, world.company_id, done)
            results.append((name, len(part), seconds))
            log(f"{name}: {len(part):,} invoices in {seconds:.1f} s = {len(part) / seconds:,.0f} invoices/s")

        print()
        print(f"Invoicing {len(ids):,} shipments on PostgreSQL ({machine()})")
        print(f"command: {command_line()}")
        base = results[0][1] / results[0][2]
        for name, n, seconds in results:
            rate = n / seconds
            print(f"  {name:34s} {n:6,} invoices  {seconds:7.1f} s  {rate:7,.0f} invoices/s  "
                  f"x{rate / base:.2f} of sequential")
        print("  checked: one invoice per shipment, numbers 1..N without a gap, trial balance balances")


if __name__ == "__main__":
    main()
