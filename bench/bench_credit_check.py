"""The credit check's share of order submit: POST /api/v1/orders in-process (the endpoint's code called
in this thread, as profile_order_submit.py --direct), first with the credit gate idle (no customer has a
limit, the company does not check overdue invoices: the gate reads nothing), then active (every
customer has a limit its orders fit under, and invoices overdue by more than 60 days hold orders), on
the same database in the same run.

Every customer has open orders (the preseeded confirmed orders) and open receivables (invoices, some
part paid, some paid in full), so the exposure query has real rows to sum. The share is measured two
ways: the time inside o2c.credit.gate.check over the submit time of the active run, and the difference
of the two runs' mean submit times over the active run's mean.

    .venv/bin/python bench/bench_credit_check.py [--requests 400] [--preseed 10000] [--invoices 20]
"""
from __future__ import annotations

import argparse
import json
import random
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import analyze, command_line, log, machine, seed_company, seed_orders, summary_ms, throwaway_db  # noqa: E402
from sqlalchemy import create_engine, event, text  # noqa: E402

INVOICES_SQL = text("""
INSERT INTO invoices (company_id, number, series, year, seq, customer_id, issue_date, currency, net_total,
    tax_total, gross_total, journal_entry_id, created_at, order_id, shipment_id, due_date, terms, status)
SELECT :company, 'INV-B-' || g, 'INV', 2026, g, (CAST(:customers AS bigint[]))[1 + g % cardinality(CAST(:customers AS bigint[]))],
    DATE '2026-11-01' - (g % 50), 'USD', 100 + g % 400, round((100 + g % 400) * 0.0625, 2),
    100 + g % 400 + round((100 + g % 400) * 0.0625, 2), NULL, now(), 1 + g % :orders, 1000000 + g,
    DATE '2026-12-01' - (g % 50), 'net 30', 'issued'
FROM generate_series(1, CAST(:n AS int)) g
""")
# A third of the invoices paid in full, a third half paid, a third open.
SETTLEMENTS_SQL = text("""
INSERT INTO settlements (company_id, customer_id, invoice_id, payment_id, kind, currency, amount, settled_on,
    reason, journal_entry_id, created_at, created_by)
SELECT company_id, customer_id, id, NULL, 'payment', currency,
    CASE WHEN id % 3 = 0 THEN gross_total ELSE round(gross_total / 2, 2) END, issue_date + 20, NULL, NULL, now(), NULL
FROM invoices WHERE company_id = :company AND id % 3 <> 2
""")


def seed_receivables(url: str, world, per_customer: int, orders: int) -> None:
    eng = create_engine(url)
    with eng.connect() as c:
        c.execute(text("SET session_replication_role = replica"))  # invoices point at made-up shipments
        c.execute(INVOICES_SQL, {"company": world.company_id, "customers": world.customer_ids,
                                 "n": per_customer * len(world.customer_ids), "orders": max(orders, 1)})
        c.execute(SETTLEMENTS_SQL, {"company": world.company_id})
        c.commit()
    eng.dispose()
    analyze(url)


def set_credit(url: str, world, active: bool) -> None:
    """Limits on every account and the overdue age on the company (or none), and master data bumped so
    cached accounts are read again."""
    from o2c.core.db import transaction
    from o2c.core.masterdata import bump

    def work(s):
        s.execute(text("UPDATE customer_accounts SET credit_limit = :l WHERE company_id = :c"),
                  {"l": 10_000_000 if active else None, "c": world.company_id})
        s.execute(text("UPDATE companies SET credit_overdue_days = :d WHERE id = :c"),
                  {"d": 60 if active else None, "c": world.company_id})
        bump(s, world.company_id)

    transaction(work)


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--requests", type=int, default=400)
    ap.add_argument("--preseed", type=int, default=10_000)
    ap.add_argument("--invoices", type=int, default=20, help="invoices per customer")
    ap.add_argument("--lines", type=int, default=3)
    ap.add_argument("--rounds", type=int, default=4, help="idle/active block pairs, alternating")
    ap.add_argument("--keep-db", action="store_true")
    args = ap.parse_args()

    with throwaway_db("credit", keep=args.keep_db) as url:
        world = seed_company(url)
        seed_orders(url, world, args.preseed)
        seed_receivables(url, world, args.invoices, args.preseed)
        log(f"seeded {args.invoices * len(world.customer_ids):,} invoices, {args.preseed:,} open orders")

        from o2c.core.db import get_engine
        from o2c.credit import gate
        from o2c.orders.api import create_order
        from o2c.orders.schemas import OrderIn
        from o2c.web.deps import context, current_actor

        statements = [0]
        event.listen(get_engine(), "before_cursor_execute", lambda *a: statements.__setitem__(0, statements[0] + 1))
        in_check = [0.0, 0]
        real_check = gate.check

        def timed_check(ctx):
            t0 = time.perf_counter()
            try:
                return real_check(ctx)
            finally:
                in_check[0] += time.perf_counter() - t0
                in_check[1] += 1

        gate.check = timed_check  # o2c.orders.gates calls the module's check at each order
        ctx = context(current_actor(authorization=f"Bearer {world.api_key}"), None)
        rnd = random.Random(5)

        def one(n: int, prefix: str) -> None:
            body = {"customer_id": rnd.choice(world.customer_ids), "channel": "web", "po_number": f"{prefix}{n}",
                    "lines": [{"sku": s, "quantity": rnd.randint(1, 5)} for s in rnd.sample(world.skus, args.lines)]}
            resp = create_order(OrderIn.model_validate_json(json.dumps(body)), ctx, f"{prefix}{n}")
            assert resp.status_code == 201 and json.loads(resp.body)["status"] == "confirmed", resp.body

        results = {False: {"times": [], "statements": 0, "check": 0.0, "checks": 0},
                   True: {"times": [], "statements": 0, "check": 0.0, "checks": 0}}

        def block(active: bool, n: int, tag: str) -> None:
            """Switch the gate, warm up (master data is read again after the switch), time `n` orders."""
            set_credit(url, world, active=active)
            for i in range(10):
                one(i, f"WARM-{tag}-")
            statements[0], in_check[0], in_check[1] = 0, 0.0, 0
            r = results[active]
            for i in range(n):
                t0 = time.perf_counter()
                one(i, f"RUN-{tag}-")
                r["times"].append(time.perf_counter() - t0)
            r["statements"] += statements[0]
            r["check"] += in_check[0]
            r["checks"] += in_check[1]

        # Idle and active blocks alternate (idle-active, then active-idle, ...) so both see the same load.
        per_block = max(1, args.requests // args.rounds)
        for k in range(args.rounds):
            for active in ((False, True) if k % 2 == 0 else (True, False)):
                block(active, per_block, f"{k}-{int(active)}")
        gate.check = real_check

        def summarise(r: dict) -> dict:
            n = len(r["times"])
            return {"summary": summary_ms(r["times"]), "total": sum(r["times"]), "statements": r["statements"] / n,
                    "check": r["check"], "checks": r["checks"], "n": n}

        idle, active = summarise(results[False]), summarise(results[True])
        a, b = idle["summary"], active["summary"]
        share = active["check"] / active["total"]
        diff = (b["mean"] - a["mean"]) / b["mean"]
        print(f"command: {command_line()}")
        print(f"machine: {machine()}")
        print(f"data: {len(world.customer_ids)} customers, {args.preseed:,} open orders, "
              f"{args.invoices * len(world.customer_ids):,} invoices (a third paid, a third half paid); "
              f"{idle['n']} orders of {args.lines} lines per mode, in {args.rounds} alternating block pairs")
        for label, r in (("gate idle  ", idle), ("gate active", active)):
            s = r["summary"]
            print(f"{label}: p50 {s['p50']:.2f} ms, p99 {s['p99']:.2f} ms, mean {s['mean']:.2f} ms, "
                  f"{r['statements']:.1f} SQL statements per order; credit check {r['check'] / r['n'] * 1000:.3f} "
                  f"ms per order ({r['checks']} checks)")
        print(f"credit check share of order submit (time in the check / submit time, active run): {share:.3f}")
        print(f"difference of the mean submit times, (active - idle) / active: {diff:.3f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
