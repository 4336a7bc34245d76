"""The web pages against the JSON API answering the same question, on PostgreSQL, at two sizes of data.

Each page is fetched with a logged-in browser session (POST /login, the cookie kept) and its API
counterpart with an API key, both in-process through fastapi's TestClient over the one application
(create_app: the same middleware, templates and services as `o2c serve`, without the socket), in this
thread. Page and API requests alternate, so each ratio page/API is measured under the same load.

    pair                 page                                API counterpart
    order list           /app/orders                         /api/v1/orders?limit=50
    order page           /app/orders/{id}                    /api/v1/orders/{id} + /api/v1/orders/{id}/timeline
    portal orders        /portal/orders (customer user)      /api/v1/orders?limit=50 (the same customer user)
    invoices             /app/billing/invoices               /api/v1/invoices?limit=50
    dashboard            /app                                /api/v1/ledger/ageing + /api/v1/ledger/dso (the
                                                             receivables figures; the other KPIs have no API)

The data is shaped like a year of business: orders spread over the last 365 days (capture time;
confirmed two minutes later); every order older than 5 days shipped the day after capture and delivered
(90% on time), with its invoice (net 30) of which two thirds are settled; the rest still confirmed and
reserved. So the dashboard's 90-day window holds about a quarter of the orders, most of them delivered.

    .venv/bin/python bench/bench_pages.py [--sizes 10000,100000] [--requests 40]
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import analyze, command_line, log, machine, pct, seed_company, seed_orders, throwaway_db  # noqa: E402
from sqlalchemy import create_engine, text  # noqa: E402

PASSWORD = "bench-pages-password"

# Orders of this size step (ids lo..hi) spread over a year; then their shipments, invoices, settlements.
SHAPE_SQL = [
    """UPDATE orders SET created_at = now() - ((id * 7919) % 365) * interval '1 day' - (id % 1440) * interval '1 minute',
           order_date = (now() - ((id * 7919) % 365) * interval '1 day')::date
       WHERE company_id = :company AND id BETWEEN :lo AND :hi""",
    """UPDATE orders SET confirmed_at = created_at + interval '2 minutes', updated_at = created_at
       WHERE company_id = :company AND id BETWEEN :lo AND :hi""",
    """INSERT INTO shipments (company_id, order_id, warehouse_id, kind, status, promised_date, shipped_at,
           delivered_at, on_time, created_at, updated_at, version)
       SELECT company_id, id, :wh, 'order', 'delivered', (created_at + interval '3 days')::date,
           created_at + interval '1 day', created_at + interval '3 days' + (CASE WHEN id % 10 = 0 THEN interval '2 days' ELSE interval '0' END),
           id % 10 <> 0, created_at + interval '1 day', created_at + interval '3 days', 1
       FROM orders WHERE company_id = :company AND id BETWEEN :lo AND :hi AND created_at < now() - interval '5 days'""",
    """UPDATE orders o SET shipment_state = 'delivered' FROM shipments s
       WHERE s.order_id = o.id AND o.company_id = :company AND o.id BETWEEN :lo AND :hi""",
    """INSERT INTO invoices (company_id, number, series, year, seq, customer_id, issue_date, currency, net_total,
           tax_total, gross_total, journal_entry_id, created_at, order_id, shipment_id, due_date, terms, status)
       SELECT o.company_id, 'INV-P-' || s.id, 'INV', 2026, s.id, o.customer_id, s.shipped_at::date, 'USD', o.subtotal,
           o.tax_total, o.total, NULL, s.shipped_at, o.id, s.id, s.shipped_at::date + 30, 'net 30', 'issued'
       FROM shipments s JOIN orders o ON o.id = s.order_id
       WHERE o.company_id = :company AND o.id BETWEEN :lo AND :hi""",
    """INSERT INTO settlements (company_id, customer_id, invoice_id, payment_id, kind, currency, amount, settled_on,
           reason, journal_entry_id, created_at, created_by)
       SELECT company_id, customer_id, id, NULL, 'payment', currency, gross_total, issue_date + 25, NULL, NULL,
           created_at + interval '25 days', NULL
       FROM invoices WHERE company_id = :company AND order_id BETWEEN :lo AND :hi AND id % 3 <> 0""",
]


def shape(url: str, world, lo: int, hi: int) -> None:
    """Give the orders lo..hi a year's spread of capture times, and the older ones their delivered
    shipment, invoice and (two in three) payment. Foreign keys hold by construction (skipped, as in
    common.seed_orders)."""
    eng = create_engine(url)
    with eng.connect() as c:
        c.execute(text("SET session_replication_role = replica"))
        for sql in SHAPE_SQL:
            c.execute(text(sql), {"company": world.company_id, "lo": lo, "hi": hi, "wh": world.warehouse_id})
        c.commit()
    eng.dispose()
    analyze(url)


def make_users(world) -> dict:
    """A back-office admin and a portal user of the first customer, each with a password and an API key."""
    from o2c.core.auth import create_user, issue_api_key
    from o2c.core.db import transaction

    def work(s):
        admin = create_user(s, "pageadmin", ["admin"], [world.company_id], password=PASSWORD)
        buyer = create_user(s, "pagebuyer", ["customer"], [world.company_id], password=PASSWORD,
                            customer_id=world.customer_ids[0])
        return {"admin": issue_api_key(s, admin, "bench"), "buyer": issue_api_key(s, buyer, "bench")}

    return transaction(work)


def browser(app, username: str):
    from fastapi.testclient import TestClient

    client = TestClient(app, base_url="http://testserver")
    r = client.post("/login", data={"username": username, "password": PASSWORD, "next": "/"}, follow_redirects=False)
    assert r.status_code == 303, (r.status_code, r.text[:300])
    return client


def api_client(app, key: str):
    from fastapi.testclient import TestClient

    return TestClient(app, base_url="http://testserver", headers={"Authorization": f"Bearer {key}"})


def timed(client, paths: list[str]) -> float:
    t0 = time.perf_counter()
    for p in paths:
        r = client.get(p, follow_redirects=False)
        assert r.status_code == 200, (p, r.status_code, r.text[:300])
    return time.perf_counter() - t0


def pairs(admin, buyer, api_admin, api_buyer, order_id: int) -> list[tuple[str, tuple, tuple]]:
    """(name, (client, page paths), (client, API paths))."""
    return [
        ("dashboard", (admin, ["/app"]), (api_admin, ["/api/v1/ledger/ageing", "/api/v1/ledger/dso"])),
        ("order list", (admin, ["/app/orders"]), (api_admin, ["/api/v1/orders?limit=50"])),
        ("order page", (admin, [f"/app/orders/{order_id}"]),
         (api_admin, [f"/api/v1/orders/{order_id}", f"/api/v1/orders/{order_id}/timeline"])),
        ("portal orders", (buyer, ["/portal/orders"]), (api_buyer, ["/api/v1/orders?limit=50"])),
        ("invoices", (admin, ["/app/billing/invoices"]), (api_admin, ["/api/v1/invoices?limit=50"])),
    ]


def measure(app, keys: dict, order_id: int, requests: int) -> dict:
    admin, buyer = browser(app, "pageadmin"), browser(app, "pagebuyer")
    api_admin, api_buyer = api_client(app, keys["admin"]), api_client(app, keys["buyer"])
    out = {}
    for name, (pc, pp), (ac, ap) in pairs(admin, buyer, api_admin, api_buyer, order_id):
        for _ in range(3):  # warm-up: templates compiled, caches filled
            timed(pc, pp)
            timed(ac, ap)
        page, api = [], []
        for i in range(requests):  # alternate which goes first
            first, second = ((pc, pp, page), (ac, ap, api)) if i % 2 == 0 else ((ac, ap, api), (pc, pp, page))
            for c, paths, into in (first, second):
                into.append(timed(c, paths) * 1000)
        out[name] = {"page": (pct(page, 50), pct(page, 95)), "api": (pct(api, 50), pct(api, 95))}
    return out


def profile_dashboard(app, n: int = 5) -> list[tuple[str, float]]:
    """Where the dashboard's time goes: each KPI function timed over n calls (ms, median)."""
    from datetime import timedelta
    from zoneinfo import ZoneInfo

    from o2c.core import clock
    from o2c.core.db import read_session
    from o2c.core.models import Company
    from o2c.orders import service as orders
    from o2c.reports import kpis

    times: dict[str, list[float]] = {}
    with read_session() as s:
        company_id = s.execute(text("SELECT id FROM companies WHERE code = 'BENCH'")).scalar()
        company = s.get(Company, company_id)
        kpis.without_jit(s)  # as kpis.dashboard does
        tz, today = ZoneInfo(company.timezone), clock.today_in(company.timezone)
        since = clock.now() - timedelta(days=kpis.DAYS)
        parts = {
            "todays_orders": lambda: kpis.todays_orders(s, company_id, today, tz),
            "orders_per_day": lambda: kpis.orders_per_day(s, company_id, today, tz),
            "holds_by_kind": lambda: kpis.holds_by_kind(s, company_id),
            "shipments_due": lambda: kpis.shipments_due(s, company_id, today),
            "entry_error_rate": lambda: orders.entry_error_rate(s, company_id),
            "time_to_process": lambda: kpis.time_to_process(s, company_id, since),
            "on_time_delivery": lambda: kpis.on_time_delivery(s, company_id, since),
            "perfect_orders": lambda: kpis.perfect_orders(s, company_id, since),
            "overdue_receivables": lambda: kpis.overdue_receivables(s, company_id, today),
            "dso": lambda: kpis.dso(s, company_id, today),
        }
        for _ in range(n):
            for name, fn in parts.items():
                t0 = time.perf_counter()
                fn()
                times.setdefault(name, []).append((time.perf_counter() - t0) * 1000)
                s.expunge_all()
    return sorted(((k, pct(v, 50)) for k, v in times.items()), key=lambda kv: -kv[1])


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--sizes", default="10000,100000", help="orders in the database at each step, ascending")
    ap.add_argument("--requests", type=int, default=40, help="timed requests per page and per API counterpart")
    ap.add_argument("--keep-db", action="store_true")
    args = ap.parse_args()
    sizes = [int(x) for x in args.sizes.split(",")]
    started = time.perf_counter()

    with throwaway_db("pages", keep=args.keep_db) as url:
        world = seed_company(url)
        keys = make_users(world)
        from o2c.web.app import create_app

        app = create_app()
        results, profiles, counts = {}, {}, {}
        done = 0
        for size in sizes:
            secs = seed_orders(url, world, size)
            shape(url, world, done + 1, size)
            done = size
            eng = create_engine(url)
            with eng.connect() as c:
                counts[size] = c.execute(text("""SELECT (SELECT count(*) FROM orders),
                    (SELECT count(*) FROM orders WHERE created_at >= now() - interval '90 days'),
                    (SELECT count(*) FROM shipments), (SELECT count(*) FROM invoices)""")).one()
                # The order page's order: the newest one delivered and invoiced.
                order_id = c.execute(text("SELECT max(order_id) FROM invoices")).scalar()
            eng.dispose()
            log(f"{size:,} orders seeded and shaped ({secs:.0f} s of seeding); measuring")
            results[size] = measure(app, keys, order_id, args.requests)
            profiles[size] = profile_dashboard(app)

        print()
        print("== Web pages vs the API answering the same question (PostgreSQL, in-process TestClient) ==")
        print(f"command: {command_line()}")
        print(f"machine: {machine()}; shared with other work")
        for size in sizes:
            o, o90, sh, inv = counts[size]
            print(f"data at {size:,}: {o:,} orders ({o90:,} captured in the last 90 days), {sh:,} shipments, "
                  f"{inv:,} invoices")
        print(f"{args.requests} timed requests per page and per API counterpart, alternating, after 3 warm-up each")
        print(f"{'pair':<15}{'orders':>9}  {'page p50':>9} {'p95':>8}  {'API p50':>8} {'p95':>8}  {'page/API p50':>12}")
        for name in results[sizes[0]]:
            for size in sizes:
                r = results[size][name]
                print(f"{name:<15}{size:>9,}  {r['page'][0]:>9.1f} {r['page'][1]:>8.1f}  {r['api'][0]:>8.1f} "
                      f"{r['api'][1]:>8.1f}  {r['page'][0] / r['api'][0]:>11.2f}x")
        lo, hi = sizes[0], sizes[-1]
        print(f"growth {hi:,} / {lo:,} orders, p50:")
        for name in results[lo]:
            print(f"  {name:<15} page {results[hi][name]['page'][0] / results[lo][name]['page'][0]:.2f}x, "
                  f"API {results[hi][name]['api'][0] / results[lo][name]['api'][0]:.2f}x")
        for size in sizes:
            print(f"dashboard KPIs at {size:,} orders (median ms of 5 calls each): "
                  + ", ".join(f"{k} {v:.1f}" for k, v in profiles[size]))
        print(f"run took {time.perf_counter() - started:.0f} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
