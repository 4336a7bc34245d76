"""CSV bulk import of orders: orders/s and lines/s on PostgreSQL (goal >= 5,000 orders/s, 3 lines each).

Generates a CSV of --orders orders x --lines lines (random customers and SKUs, one order in 50 with its
own ship-to address, one in 100 with a price override, one in 200 repeating a PO number, so some are
held), sets up a throwaway database (migrated with the real migrations, seeded with a company,
customers, a priced catalogue and plenty of stock, then ANALYZE), and imports the file as
`o2c import orders` does (same code, without the progress bar), timing it. Reports orders/s and
lines/s overall and for the first and last tenth of the file (the orders table grows during the run:
the rate must not sink), and checks in the database that every order is there with its stock reserved.

    .venv/bin/python bench/bench_csv_import.py                          # 100,000 orders on PostgreSQL
    .venv/bin/python bench/bench_csv_import.py --orders 20000
    .venv/bin/python bench/bench_csv_import.py --orders 20000 --database-url sqlite:////tmp/o2c_bench_csv.db
"""
from __future__ import annotations

import argparse
import os
import random
import sys
import tempfile
import time
from contextlib import contextmanager
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import CHICAGO, command_line, log, machine, seed_company, throwaway_db  # noqa: E402
from sqlalchemy import create_engine, text  # noqa: E402

GOAL = 5_000
HEADER = ("order_ref,customer_code,po_number,channel,sku,quantity,unit_price,override_reason,"
          "ship_to_name,ship_to_line1,ship_to_city,ship_to_region,ship_to_postal_code,ship_to_country")


def write_csv(path: Path, orders: int, lines: int, customers: int, skus: list[str], seed: int = 7) -> tuple[int, int]:
    """The file to import; returns (rows, bytes). Order-level cells on each order's first row only."""
    rnd = random.Random(seed)
    channels = ("web", "edi", "email", "phone", "b2b_portal", "csv")
    ship = [CHICAGO[k] for k in ("name", "line1", "city", "region", "postal_code", "country")]
    no_ship = [""] * len(ship)
    n_rows = 0
    customer = po = ""
    with open(path, "w", encoding="utf-8", newline="") as f:
        f.write(HEADER + "\n")
        for n in range(1, orders + 1):
            if n % 200:  # one order in 200 repeats the previous order's customer and PO: a duplicate
                customer, po = f"C{rnd.randrange(customers):05d}", f"B-{n}"
            for i, sku in enumerate(rnd.sample(skus, lines)):
                first = i == 0
                price = ["9.99", "matches the customer's last order"] if first and n % 100 == 0 else ["", ""]
                address = ship if first and n % 50 == 0 else no_ship
                f.write(",".join([str(n), customer if first else "", po if first else "",
                                  channels[n % len(channels)] if first else "", sku, str(rnd.randint(1, 20)),
                                  *price, *address]) + "\n")
                n_rows += 1
    return n_rows, path.stat().st_size


class _Cpu:
    """CPU seconds of this process (every thread) and of the PostgreSQL backends serving it (read from
    /proc: the server runs on this machine): a cost per order that other load on the machine does not
    inflate the way it inflates wall time."""

    def __init__(self, url: str):
        self.pg = url.startswith("postgresql")
        self.pids: set[int] = set()
        if self.pg:
            from sqlalchemy import event

            from o2c.core.db import get_engine

            engine = get_engine()
            engine.dispose()  # new connections from here on, each noted with its backend pid

            @event.listens_for(engine, "connect")
            def _noted(dbapi_conn, _record):
                with dbapi_conn.cursor() as cur:
                    cur.execute("SELECT pg_backend_pid()")
                    self.pids.add(cur.fetchone()[0])

    @staticmethod
    def _proc(pid: int) -> float:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            return 0.0
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def start(self) -> None:
        self.py0 = time.process_time()

    def stop(self) -> tuple[float, float | None]:
        py = time.process_time() - self.py0
        if not self.pg or not self.pids:
            return py, None
        return py, sum(self._proc(pid) for pid in self.pids)


@contextmanager
def sqlite_db(url: str, keep: bool):
    path = Path(url.split("///", 1)[1])
    for suffix in ("", "-wal", "-shm"):
        Path(str(path) + suffix).unlink(missing_ok=True)
    os.environ["O2C_DATABASE_URL"] = url
    from o2c.core.migrate import upgrade
    from o2c.core.settings import get_settings

    get_settings.cache_clear()
    upgrade(url)
    try:
        yield url
    finally:
        from o2c.core.db import dispose_engines

        dispose_engines()
        if not keep:
            for suffix in ("", "-wal", "-shm"):
                Path(str(path) + suffix).unlink(missing_ok=True)
            log(f"removed {path}")


def run(url: str, args) -> dict:
    from sqlalchemy import select

    from o2c.core.auth import actor_for_user
    from o2c.core.db import read_session
    from o2c.core.models import User
    from o2c.integrations.csv_orders import import_orders, scan, without_cycle_collector

    world = seed_company(url, customers=args.customers, products=args.products)
    load = os.getloadavg()[0]
    with tempfile.TemporaryDirectory(prefix="o2c_bench_csv_") as tmp:
        path = Path(tmp) / "orders.csv"
        t0 = time.perf_counter()
        n_rows, size = write_csv(path, args.orders, args.lines, args.customers, world.skus)
        log(f"wrote {path.name}: {args.orders:,} orders, {n_rows:,} rows, {size / 1e6:.1f} MB "
            f"({time.perf_counter() - t0:.1f} s)")
        with read_session() as s:
            actor = actor_for_user(s, s.scalar(select(User).where(User.username == "bench")))
        marks: list[tuple[float, int, int]] = []  # (seconds, rows done, orders imported) after each batch
        next_log = [0.0]

        def progress(r) -> None:
            marks.append((time.perf_counter() - started, r.rows_done, r.orders_imported))
            if marks[-1][0] >= next_log[0]:
                next_log[0] += 5
                log(f"  {r.rows_done:,} / {r.rows_total:,} rows, {r.orders_imported:,} orders "
                    f"({r.orders_imported / marks[-1][0]:,.0f} orders/s)")

        cpu = _Cpu(url)
        with open(path, "rb") as f:
            cpu.start()
            started = time.perf_counter()
            info = scan(f)
            scanned = time.perf_counter() - started
            with without_cycle_collector():  # as `o2c import orders` runs it
                result = import_orders(f, actor, world.company_id, info=info, batch_size=args.batch_size,
                                       progress=progress, keep_orders=0)
            seconds = time.perf_counter() - started
            py_cpu, pg_cpu = cpu.stop()
    # the first and the last tenth of the file
    tenth = max(1, len(marks) // 10)
    first = marks[tenth - 1]
    last_a, last_b = marks[-tenth - 1] if len(marks) > tenth else (0.0, 0, 0), marks[-1]
    rate_first = first[2] / first[0]
    rate_last = (last_b[2] - last_a[2]) / (last_b[0] - last_a[0])
    eng = create_engine(url)
    with eng.connect() as c:
        n_orders = c.execute(text("SELECT count(*) FROM orders")).scalar()
        n_lines = c.execute(text("SELECT count(*) FROM order_lines")).scalar()
        by_status = dict(c.execute(text("SELECT status, count(*) FROM orders GROUP BY status")).all())
        reserved = c.execute(text("SELECT coalesce(sum(reserved), 0) FROM stock")).scalar()
        res_sum = c.execute(text("SELECT coalesce(sum(quantity), 0) FROM reservations")).scalar()
        events = c.execute(text("SELECT count(*) FROM outbox")).scalar()
    eng.dispose()
    assert n_orders == result.orders_imported == args.orders, (n_orders, result.orders_imported)
    assert n_lines == n_rows and result.rows_rejected == 0
    assert reserved == res_sum, (reserved, res_sum)
    return {
        "seconds": seconds, "scan": scanned, "orders": result.orders_imported, "lines": n_lines,
        "held": result.orders_held,
        "by_status": by_status, "events": events, "rate_first": rate_first, "rate_last": rate_last,
        "size": size, "py_cpu": py_cpu, "pg_cpu": pg_cpu, "load": load,
    }


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--orders", type=int, default=100_000)
    ap.add_argument("--lines", type=int, default=3, help="lines per order")
    ap.add_argument("--batch-size", type=int, default=None, help="orders per transaction (default: the import's)")
    ap.add_argument("--customers", type=int, default=1000)
    ap.add_argument("--products", type=int, default=5000)
    ap.add_argument("--database-url", default=None,
                    help="sqlite:///PATH (created and removed) or leave out for a throwaway PostgreSQL database")
    ap.add_argument("--keep-db", action="store_true", help="do not drop the database at the end")
    args = ap.parse_args()

    from o2c.integrations.csv_orders import BATCH_SIZE

    args.batch_size = args.batch_size or BATCH_SIZE
    if args.database_url and args.database_url.startswith("sqlite"):
        db, backend = sqlite_db(args.database_url, args.keep_db), "SQLite"
    else:
        db, backend = throwaway_db("csv", keep=args.keep_db), "PostgreSQL"
    with db as url:
        r = run(url, args)
    orders_s, lines_s = r["orders"] / r["seconds"], r["lines"] / r["seconds"]
    print()
    print(f"CSV import on {backend}: {r['orders']:,} orders x {args.lines} lines ({r['size'] / 1e6:.1f} MB), "
          f"batches of {args.batch_size}")
    print(f"  {r['seconds']:.1f} s (of which {r['scan']:.1f} s checking the file first): "
          f"{orders_s:,.0f} orders/s, {lines_s:,.0f} lines/s")
    print(f"  first tenth {r['rate_first']:,.0f} orders/s, last tenth {r['rate_last']:,.0f} orders/s")
    print(f"  statuses: {', '.join(f'{k} {v:,}' for k, v in sorted(r['by_status'].items()))}; "
          f"{r['events']:,} outbox events")
    per = 1e6 / r["orders"]
    pg = f", PostgreSQL backends {r['pg_cpu'] * per:,.0f} us" if r["pg_cpu"] is not None else ""
    print(f"  CPU per order: Python {r['py_cpu'] * per:,.0f} us (all threads){pg}; load average before the run "
          f"{r['load']:.1f} on {os.cpu_count()} cores")
    if backend == "PostgreSQL":
        print(f"  goal >= {GOAL:,} orders/s: {'met' if orders_s >= GOAL else 'NOT met'}")
    print(f"  machine: {machine()}")
    print(f"  reproduce: {command_line()}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
