"""Shared helpers for the benchmarks: a throwaway PostgreSQL database, a seeded trading company,
fast seeding of many orders, ANALYZE, servers as subprocesses, and small statistics.

Everything talks to 127.0.0.1 only. Every benchmark creates its own database (o2c_bench_<name>_<pid>)
and drops it at the end, also when it fails or is interrupted (Ctrl-C).
"""
from __future__ import annotations

import os
import shlex
import signal
import socket
import statistics
import subprocess
import sys
import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from pathlib import Path

from sqlalchemy import create_engine, insert, select, text

ROOT = Path(__file__).resolve().parent.parent
BENCH = ROOT / "bench"
VENV_BIN = Path(sys.executable).parent
# The server that holds the throwaway databases; the admin database is only used to create/drop them.
PG_ADMIN = os.environ.get("O2C_BENCH_PG", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres")

CHICAGO = {"name": "Receiving", "line1": "100 W Randolph St", "city": "Chicago", "region": "IL",
           "postal_code": "60601", "country": "US"}


def log(msg: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", flush=True)


def command_line() -> str:
    """The exact command that reproduces this run (printed with the figures)."""
    return ".venv/bin/python " + " ".join(shlex.quote(a) for a in [os.path.relpath(sys.argv[0], ROOT), *sys.argv[1:]])


def machine() -> str:
    import platform

    with create_engine(PG_ADMIN).connect() as c:
        pg = c.execute(text("show server_version")).scalar()
    return f"{os.cpu_count()} cores, Python {platform.python_version()}, PostgreSQL {pg}"


# ---------------------------------------------------------------- the throwaway database

@contextmanager
def throwaway_db(name: str, keep: bool = False):
    """Create database o2c_bench_<name>_<pid>, migrate it with the real migrations, yield its URL, drop it."""
    db = f"o2c_bench_{name}_{os.getpid()}"
    admin = create_engine(PG_ADMIN, isolation_level="AUTOCOMMIT")
    with admin.connect() as c:
        c.execute(text(f'DROP DATABASE IF EXISTS "{db}" WITH (FORCE)'))
        c.execute(text(f'CREATE DATABASE "{db}"'))
    url = PG_ADMIN.rsplit("/", 1)[0] + "/" + db
    os.environ["O2C_DATABASE_URL"] = url
    from o2c.core.settings import get_settings

    get_settings.cache_clear()
    try:
        from o2c.core.migrate import upgrade

        upgrade(url)
        yield url
    finally:
        from o2c.core.db import dispose_engines

        dispose_engines()
        if keep:
            log(f"kept database {db} (drop it with: psql -h 127.0.0.1 -U postgres -c 'DROP DATABASE \"{db}\"')")
        else:
            with admin.connect() as c:
                c.execute(text(f'DROP DATABASE IF EXISTS "{db}" WITH (FORCE)'))
            log(f"dropped database {db}")
        admin.dispose()


def psycopg_url(url: str) -> str:
    """The SQLAlchemy URL as a libpq URL (for psycopg directly)."""
    return url.replace("postgresql+psycopg://", "postgresql://", 1)


def analyze(url: str) -> None:
    eng = create_engine(url, isolation_level="AUTOCOMMIT")
    with eng.connect() as c:
        c.execute(text("ANALYZE"))
    eng.dispose()


# ---------------------------------------------------------------- the seeded company

@dataclass
class World:
    company_id: int
    company_code: str
    user_id: int
    api_key: str
    customer_ids: list[int]
    skus: list[str]
    product_ids: list[int]
    warehouse_id: int
    extra: dict = field(default_factory=dict)


def seed_company(url: str, *, customers: int = 200, products: int = 2000, on_hand: int = 100_000_000) -> World:
    """A company (USD, US), a user with the order-desk role and an API key, `customers` customers in
    Chicago (through the customer service), `products` products with a USD list price with two quantity
    breaks, an Illinois tax rate, one warehouse holding `on_hand` of every product (Core inserts for the
    bulk), then ANALYZE."""
    from o2c.catalog import service as catalog
    from o2c.catalog.models import PriceListItem, Product
    from o2c.catalog.schemas import PriceListIn, TaxRateIn
    from o2c.core import clock
    from o2c.core.auth import SYSTEM, create_user, issue_api_key
    from o2c.core.db import get_engine, transaction
    from o2c.core.setup import create_company
    from o2c.customers import service as customer_service
    from o2c.customers.schemas import CustomerIn
    from o2c.inventory import service as inventory
    from o2c.inventory.models import Stock
    from o2c.inventory.schemas import WarehouseIn

    t0 = time.perf_counter()

    def base(session):
        company, _ = create_company(session, "BENCH", "Bench Supply Inc.", "USD", "US", "America/Chicago", admin=None)
        user = create_user(session, "bench", ["order_desk"], [company.id])
        key = issue_api_key(session, user, "bench")
        catalog.create_tax_rate(session, SYSTEM, company.id, TaxRateIn(
            country="US", region="IL", tax_class="standard", rate_pct=Decimal("6.25"), name="IL standard",
            valid_from=date(2000, 1, 1)))
        wh = inventory.create_warehouse(session, SYSTEM, company.id, WarehouseIn(code="MAIN", address=CHICAGO))
        return company.id, user.id, key, wh.id

    company_id, user_id, key, wh_id = transaction(base)

    def make_customers(session):
        ids = []
        for i in range(customers):
            data = CustomerIn(code=f"C{i:05d}", legal_name=f"Customer {i} LLC", email=f"buyer{i}@c{i}.example",
                              currency="USD", billing_address=CHICAGO, shipping_addresses=[CHICAGO],
                              ship_preference="ship_partial")
            ids.append(customer_service.create_customer(session, SYSTEM, company_id, data)["id"])
        return ids

    customer_ids = transaction(make_customers)

    skus = [f"SKU-{i:06d}" for i in range(products)]
    now = clock.now()
    eng = get_engine(url)
    with eng.begin() as c:
        c.execute(insert(Product), [
            {"company_id": company_id, "sku": s, "name": f"Product {s}", "uom": "EA", "uom_decimals": 0,
             "order_multiple": Decimal(1), "weight_kg": Decimal("0.5"), "tax_class": "standard", "active": True,
             "created_at": now} for s in skus
        ])
        rows = c.execute(select(Product.id, Product.sku).where(Product.company_id == company_id)).all()
    by_sku = {s: i for i, s in rows}
    product_ids = [by_sku[s] for s in skus]

    def price_list(session):
        return catalog.create_price_list(session, SYSTEM, company_id, PriceListIn(
            name="USD list", currency="USD", items=[])).id

    pl_id = transaction(price_list)
    with eng.begin() as c:
        items = []
        for n, pid in enumerate(product_ids):
            price = Decimal(10 + n % 90) + Decimal("0.99")
            items.append({"price_list_id": pl_id, "product_id": pid, "min_qty": Decimal(1), "unit_price": price})
            items.append({"price_list_id": pl_id, "product_id": pid, "min_qty": Decimal(100),
                          "unit_price": price - Decimal(1)})
        c.execute(insert(PriceListItem), items)
        c.execute(insert(Stock), [
            {"company_id": company_id, "product_id": pid, "warehouse_id": wh_id, "on_hand": Decimal(on_hand),
             "reserved": Decimal(0), "updated_at": now} for pid in product_ids
        ])
    analyze(url)
    log(f"seeded company BENCH: {customers} customers, {products} products, stock {on_hand:,} each "
        f"({time.perf_counter() - t0:.1f} s)")
    return World(company_id, "BENCH", user_id, key, customer_ids, skus, product_ids, wh_id)


def seed_orders(url: str, world: World, upto: int, *, lines: int = 3, batch: int = 100_000,
                reservations: bool = True) -> float:
    """Grow the orders table to `upto` orders with server-side multi-row INSERT ... SELECT (one statement
    per batch writes the orders, their lines and their reservations). The orders are confirmed, their
    lines priced and reserved from the one warehouse, PO numbers 'PO-<n>' unique; stock.reserved is then
    set to the sum of the reservations, so the data obeys every rule the application keeps. Returns the
    seconds taken; runs ANALYZE at the end."""
    eng = create_engine(url)
    with eng.connect() as c:
        have = c.execute(text("SELECT count(*) FROM orders WHERE company_id = :c"), {"c": world.company_id}).scalar()
    if have >= upto:
        return 0.0
    t0 = time.perf_counter()
    sql = text("""
    WITH o AS (
        INSERT INTO orders (company_id, customer_id, channel, po_number, currency, status,
            ship_to_name, ship_to_line1, ship_to_line2, ship_to_city, ship_to_region, ship_to_postal_code,
            ship_to_country, requested_date, expected_date, order_date, notes, subtotal, discount_total,
            tax_total, total, needed_correction, auto_confirm, order_discount, order_discount_reason,
            entered_by, created_at, updated_at, confirmed_at, version)
        SELECT :company, (CAST(:customers AS bigint[]))[1 + (g * 7919) % cardinality(CAST(:customers AS bigint[]))], 'web', 'PO-' || g, 'USD',
            'confirmed', 'Receiving', '100 W Randolph St', NULL, 'Chicago', 'IL', '60601', 'US',
            NULL, DATE '2024-01-04', DATE '2024-01-01', NULL,
            :lines * 10.99, 0, round(:lines * 10.99 * 0.0625, 2), :lines * 10.99 + round(:lines * 10.99 * 0.0625, 2),
            false, true, 0, NULL, :user, now(), now(), now(), 1
        FROM generate_series(CAST(:lo AS bigint), CAST(:hi AS bigint)) g
        RETURNING id
    ), l AS (
        INSERT INTO order_lines (order_id, line_no, product_id, sku, description, quantity, uom, list_price,
            unit_price, price_overridden, override_reason, discount_pct, gross_amount, discount_amount,
            net_amount, tax_class, tax_rate_pct, tax_amount, reserved_qty, backordered_qty)
        SELECT o.id, n, (CAST(:products AS bigint[]))[k], (CAST(:skus AS text[]))[k], 'Product ' || (CAST(:skus AS text[]))[k],
            1, 'EA', 10.99, 10.99, false, NULL, 0, 10.99, 0, 10.99, 'standard', 6.25, 0.69, 1, 0
        FROM o CROSS JOIN generate_series(1, CAST(:lines AS int)) n
        CROSS JOIN LATERAL (SELECT 1 + (o.id * 31 + n * 977) % cardinality(CAST(:products AS bigint[])) AS k) kk
        RETURNING id, order_id, product_id
    )
    INSERT INTO reservations (company_id, order_id, order_line_id, product_id, warehouse_id, quantity, created_at)
    SELECT :company, l.order_id, l.id, l.product_id, :wh, 1, now() FROM l WHERE CAST(:with_res AS boolean)
    """)
    done = have
    with eng.connect() as c:
        c.execute(text("SET synchronous_commit = off"))
        # The rows are made consistent by construction (every id they point at exists), so the
        # foreign-key triggers are skipped while seeding (needs a superuser, as the local postgres is).
        c.execute(text("SET session_replication_role = replica"))
        while done < upto:
            hi = min(upto, done + batch)
            c.execute(sql, {"company": world.company_id, "customers": world.customer_ids, "user": world.user_id,
                            "products": world.product_ids, "skus": world.skus, "lines": lines, "lo": done + 1, "hi": hi,
                            "wh": world.warehouse_id, "with_res": reservations})
            c.commit()
            done = hi
            rate = (done - have) / (time.perf_counter() - t0)
            log(f"  orders seeded: {done:,} / {upto:,} ({rate:,.0f} orders/s)")
        c.execute(text("SET session_replication_role = DEFAULT"))
        c.execute(text("""UPDATE stock s SET reserved = coalesce(r.q, 0)
                          FROM (SELECT product_id, warehouse_id, sum(quantity) q FROM reservations
                                GROUP BY product_id, warehouse_id) r
                          WHERE r.product_id = s.product_id AND r.warehouse_id = s.warehouse_id"""))
        c.commit()
    eng.dispose()
    analyze(url)
    return time.perf_counter() - t0


# ---------------------------------------------------------------- servers as subprocesses

def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Server:
    """A server in its own process group; stopped (SIGTERM, then SIGKILL) by its pid only."""

    def __init__(self, argv: list[str], env: dict, port: int, name: str, log_path: Path):
        self.argv, self.env, self.port, self.name, self.log_path = argv, env, port, name, log_path
        self.proc: subprocess.Popen | None = None

    def __enter__(self):
        self.logf = open(self.log_path, "w")
        self.proc = subprocess.Popen(self.argv, env=self.env, stdout=self.logf, stderr=subprocess.STDOUT,
                                     cwd=ROOT, start_new_session=True)
        wait_http(f"http://127.0.0.1:{self.port}/health", self.proc, self.log_path)
        return self

    def __exit__(self, *exc):
        if self.proc and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait()
        self.logf.close()


def wait_http(url: str, proc: subprocess.Popen, log_path: Path, timeout: float = 60) -> None:
    import httpx

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"server exited with {proc.returncode}; see {log_path}:\n{log_path.read_text()[-2000:]}")
        try:
            if httpx.get(url, timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise RuntimeError(f"server did not answer {url} within {timeout} s; see {log_path}")


def o2c_server(url: str, port: int, workers: int, log_path: Path) -> Server:
    env = dict(os.environ, O2C_DATABASE_URL=url, O2C_DISPATCHER_IN_PROCESS="false")
    return Server([str(VENV_BIN / "o2c"), "serve", "--host", "127.0.0.1", "--port", str(port),
                   "--workers", str(workers)], env, port, "o2c", log_path)


# ---------------------------------------------------------------- statistics

def pct(values: list[float], p: float) -> float:
    """The p-th percentile (nearest rank) of values."""
    if not values:
        return float("nan")
    s = sorted(values)
    k = max(0, min(len(s) - 1, int(round(p / 100 * len(s) + 0.5)) - 1))
    return s[k]


def summary_ms(samples: list[float]) -> dict:
    ms = [x * 1000 for x in samples]
    return {"n": len(ms), "p50": pct(ms, 50), "p99": pct(ms, 99), "mean": statistics.fmean(ms) if ms else float("nan"),
            "min": min(ms) if ms else float("nan")}
