"""The reminder run on PostgreSQL: how long one run takes for many open invoices.

Seeds a company with --customers customers and --invoices one-line orders, each shipped and invoiced
(server-side INSERT ... SELECT; the invoices are rows as billing writes them, due on 30 December 2026,
without their ledger entries, which the run does not read). Then, through o2c.dunning.service.run in one
transaction each:

- a dry run on 6 January 2027 (every invoice due the first level): letters planned per second;
- the real run that day: letters and items stored, timeline records and events written;
- the same run again (nothing new to send): the cost of an idle daily run;
- the run on 20 January (the second level, fee 5.00 per letter posted to the ledger).

Prints each time with letters/s and invoices/s and checks the counts and the trial balance.

    .venv/bin/python bench/bench_reminders.py                         # 20,000 invoices, 2,000 customers
    .venv/bin/python bench/bench_reminders.py --invoices 5000 --customers 500
"""
from __future__ import annotations

import argparse
import sys
import time
from datetime import date, datetime, timezone
from pathlib import Path

from sqlalchemy import create_engine, func, select, text

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_invoicing import SHIPMENTS_SQL  # noqa: E402
from common import analyze, command_line, log, machine, seed_company, seed_orders, throwaway_db  # noqa: E402

INVOICES_SQL = text("""
INSERT INTO invoices (company_id, number, series, year, seq, customer_id, issue_date, currency, net_total,
    tax_total, gross_total, journal_entry_id, created_at, order_id, shipment_id, due_date, terms, status)
SELECT o.company_id, 'INV-2026-' || lpad(CAST(row_number() OVER (ORDER BY s.id) AS text), 6, '0'), 'INV', 2026,
    row_number() OVER (ORDER BY s.id), o.customer_id, DATE '2026-11-30', o.currency, o.subtotal, o.tax_total,
    o.total, NULL, now(), o.id, s.id, DATE '2026-12-30', 'net 30', 'issued'
FROM shipments s JOIN orders o ON o.id = s.order_id WHERE o.company_id = :company
""")


def at(d: date) -> None:
    from o2c.core import clock

    clock.freeze(datetime(d.year, d.month, d.day, 15, 0, tzinfo=timezone.utc))  # 09:00 in Chicago


def timed_run(company_id: int, on: date, dry_run: bool) -> tuple[float, dict]:
    from o2c.core.auth import SYSTEM
    from o2c.core.db import transaction
    from o2c.dunning import service

    at(on)
    t0 = time.perf_counter()
    result = transaction(lambda s: service.run(s, SYSTEM, company_id, None, dry_run))
    return time.perf_counter() - t0, result


def report(label: str, seconds: float, result: dict) -> None:
    letters = result["reminders"]
    items = sum(len(r["items"]) for r in letters)
    rate = f"{len(letters) / seconds:,.0f} letters/s, {items / seconds:,.0f} invoices/s" if letters else "nothing due"
    log(f"{label:<32} {seconds:7.2f} s  {len(letters):>6,} letters  {items:>7,} invoices  ({rate})")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--invoices", type=int, default=20_000)
    ap.add_argument("--customers", type=int, default=2_000)
    ap.add_argument("--keep", action="store_true", help="keep the database afterwards")
    args = ap.parse_args()
    log(f"{command_line()}  ({machine()})")
    with throwaway_db("reminders", keep=args.keep) as url:
        at(date(2026, 11, 30))
        world = seed_company(url, customers=args.customers, products=200)
        seed_orders(url, world, args.invoices, lines=1, reservations=False)
        eng = create_engine(url)
        with eng.begin() as c:
            c.execute(SHIPMENTS_SQL, {"company": world.company_id, "wh": world.warehouse_id})
            n = c.execute(INVOICES_SQL, {"company": world.company_id}).rowcount
        analyze(url)
        log(f"seeded {n:,} open invoices of {args.customers:,} customers, all due 2026-12-30")

        first_day, second_day = date(2027, 1, 6), date(2027, 1, 20)
        report("dry run, first level", *timed_run(world.company_id, first_day, True))
        seconds, first = timed_run(world.company_id, first_day, False)
        report("run, first level", seconds, first)
        report("same day again", *timed_run(world.company_id, first_day, False))
        seconds, second = timed_run(world.company_id, second_day, False)
        report("run, second level (fee posted)", seconds, second)

        from o2c.core.db import read_session
        from o2c.dunning.models import Reminder, ReminderItem
        from o2c.ledger import service as ledger

        with read_session() as s:
            reminders = s.scalar(select(func.count()).select_from(Reminder))
            items = s.scalar(select(func.count()).select_from(ReminderItem))
            tb = ledger.trial_balance(s, world.company_id)
        customers_with = len({r["customer_id"] for r in first["reminders"]})
        assert len(first["reminders"]) == customers_with and len(second["reminders"]) == customers_with
        assert reminders == 2 * customers_with and items == 2 * n, (reminders, items)
        assert all(t["balanced"] for t in tb)
        log(f"checked: {reminders:,} reminders, {items:,} items (each invoice once per level), trial balance balanced")
        eng.dispose()


if __name__ == "__main__":
    main()
