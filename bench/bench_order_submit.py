"""POST /api/v1/orders on PostgreSQL against the bare ceiling, in one run.

Both servers run in their own processes (2 workers each, one at a time so they never share the CPU):
- o2c: `o2c serve --workers 2` on a throwaway database seeded with a company, customers, a priced
  catalogue with plenty of stock (so every order is validated, priced, confirmed and reserved) and
  --preseed orders (then ANALYZE);
- bare: bench/bare_app.py under `uvicorn --workers 2`: FastAPI + psycopg pool, one INSERT per request.
The load generator (wrk if installed, else httpx threads; its own process) keeps --connections requests
in flight for --seconds after a --warmup, each a random 3-line order with its own Idempotency-Key.
Reported: orders/s (201s per second), p50/p99 latency, the ratio o2c/bare (goal >= 40%), and a check in
the database that every 201 is a confirmed order with its stock reserved.

    .venv/bin/python bench/bench_order_submit.py                 # default: 16 connections, 15 s each
    .venv/bin/python bench/bench_order_submit.py --seconds 5 --warmup 2   # quick
"""
from __future__ import annotations

import argparse
import os
import sys
import time
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import (  # noqa: E402
    BENCH, ROOT, VENV_BIN, Server, command_line, free_port, log, machine, o2c_server, psycopg_url, seed_company,
    seed_orders, throwaway_db,
)
from loadgen import have_wrk, run_load  # noqa: E402
from sqlalchemy import create_engine, text  # noqa: E402

GOAL = 0.40


def bare_server(url: str, port: int, workers: int, log_path: Path, launch: str) -> Server:
    env = dict(os.environ, BARE_DATABASE_URL=psycopg_url(url))
    if launch == "nodelay":
        argv = [sys.executable, str(BENCH / "serve_nodelay.py"), "bare_app:app", "--app-dir", str(BENCH),
                "--port", str(port), "--workers", str(workers)]
    else:
        argv = [str(VENV_BIN / "uvicorn"), "bare_app:app", "--app-dir", str(BENCH), "--host", "127.0.0.1",
                "--port", str(port), "--workers", str(workers), "--log-level", "warning", "--no-access-log"]
    return Server(argv, env, port, "bare", log_path)


def o2c(url: str, port: int, workers: int, log_path: Path, launch: str) -> Server:
    if launch == "shipped":
        return o2c_server(url, port, workers, log_path)
    env = dict(os.environ, O2C_DATABASE_URL=url, O2C_DISPATCHER_IN_PROCESS="false")
    return Server([sys.executable, str(BENCH / "serve_nodelay.py"), "o2c.web.app:create_app", "--factory",
                   "--port", str(port), "--workers", str(workers)], env, port, "o2c", log_path)


def measure(server: Server, spec: dict, args) -> object:
    spec = dict(spec, base_url=f"http://127.0.0.1:{server.port}")
    with server:
        if args.warmup > 0:
            run_load(dict(spec, prefix=spec["prefix"] + "-warm"), connections=args.connections, seconds=args.warmup,
                     engine=args.engine)
        return run_load(spec, connections=args.connections, seconds=args.seconds, max_requests=args.max_requests,
                        engine=args.engine)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--connections", type=int, default=16, help="requests in flight")
    ap.add_argument("--seconds", type=float, default=15, help="measured seconds per server and round")
    ap.add_argument("--warmup", type=float, default=3, help="unmeasured seconds before each measurement")
    ap.add_argument("--rounds", type=int, default=1, help="bare then o2c, this many times")
    ap.add_argument("--max-requests", type=int, default=0, help="stop after this many requests (httpx engine)")
    ap.add_argument("--workers", type=int, default=2, help="server worker processes (both servers)")
    ap.add_argument("--customers", type=int, default=200)
    ap.add_argument("--products", type=int, default=2000)
    ap.add_argument("--lines", type=int, default=3)
    ap.add_argument("--preseed", type=int, default=10_000, help="orders in the database before the run")
    ap.add_argument("--engine", choices=["auto", "wrk", "httpx"], default="auto", help="load generator")
    ap.add_argument("--only", choices=["both", "o2c", "bare"], default="both")
    ap.add_argument("--bare-endpoint", choices=["sync", "async"], default="sync",
                    help="bare app endpoint: sync def + pool in the thread pool (as o2c runs), or async def + "
                         "async pool (measured no faster here)")
    ap.add_argument("--launch", choices=["both", "nodelay", "shipped"], default="both",
                    help="nodelay: both servers via bench/serve_nodelay.py (uvicorn's h11/asyncio stack with "
                         "TCP_NODELAY on each connection); shipped: `o2c serve` (httptools, uvloop, TCP_NODELAY) "
                         "and the uvicorn CLI (which picks httptools and uvloop up too)")
    ap.add_argument("--keep-db", action="store_true", help="do not drop the database at the end")
    args = ap.parse_args()

    engine = args.engine if args.engine != "auto" else ("wrk" if have_wrk() else "httpx")
    log(f"machine: {machine()}; load generator: {engine}"
        + ("" if engine == "wrk" else " (wrk not installed: `apt-get install wrk` gives truer ceilings)"))
    logs = Path(os.environ.get("TMPDIR", "/tmp"))
    launches = ["nodelay", "shipped"] if args.launch == "both" else [args.launch]
    results: dict[tuple, list] = {(n, la): [] for la in launches for n in ("bare", "o2c")}
    with throwaway_db("submit", keep=args.keep_db) as url:
        world = seed_company(url, customers=args.customers, products=args.products)
        if args.preseed:
            secs = seed_orders(url, world, args.preseed)
            log(f"preseeded {args.preseed:,} orders in {secs:.1f} s")
        spec = {"path": "/api/v1/orders", "api_key": world.api_key, "customers": world.customer_ids,
                "skus": world.skus, "lines": args.lines}
        for rnd in range(1, args.rounds + 1):
            for launch in launches:
                tag = uuid.uuid4().hex[:6]
                if args.only in ("both", "bare"):
                    port = free_port()
                    r = measure(bare_server(url, port, args.workers, logs / f"o2c_bench_bare_{port}.log", launch),
                                dict(spec, path="/rows" if args.bare_endpoint == "sync" else "/rows-async", prefix=f"B{tag}"), args)
                    results[("bare", launch)].append(r)
                    log(f"round {rnd} bare ({launch}): {r.rps:,.0f} rows/s, p50 {r.p50_ms:.1f} ms, "
                        f"p99 {r.p99_ms:.1f} ms (statuses {r.statuses}, errors {r.errors})")
                if args.only in ("both", "o2c"):
                    port = free_port()
                    r = measure(o2c(url, port, args.workers, logs / f"o2c_bench_o2c_{port}.log", launch),
                                dict(spec, prefix=f"O{tag}"), args)
                    results[("o2c", launch)].append(r)
                    log(f"round {rnd} o2c ({launch}):  {r.rps:,.0f} orders/s, p50 {r.p50_ms:.1f} ms, "
                        f"p99 {r.p99_ms:.1f} ms (statuses {r.statuses}, errors {r.errors})")

        # every 201 is an order that was confirmed and reserved
        eng = create_engine(url)
        with eng.connect() as c:
            by_status = dict(c.execute(text(
                "SELECT status, count(*) FROM orders WHERE po_number NOT LIKE 'PO-%' GROUP BY status")).all())
            lines_short = c.execute(text(
                "SELECT count(*) FROM order_lines l JOIN orders o ON o.id = l.order_id "
                "WHERE o.po_number NOT LIKE 'PO-%' AND l.reserved_qty <> l.quantity")).scalar()
            oversold = c.execute(text("SELECT count(*) FROM stock WHERE reserved > on_hand OR reserved < 0")).scalar()
            keys = c.execute(text("SELECT count(*) FROM idempotency_keys")).scalar()
        eng.dispose()

    print()
    print("== POST /api/v1/orders vs bare one-INSERT endpoint (PostgreSQL) ==")
    print(f"command: {command_line()}")
    print(f"machine: {machine()}; load generator: {engine}, {args.connections} connections, "
          f"{args.seconds:g} s measured after {args.warmup:g} s warm-up; {args.workers} workers each; "
          f"{args.preseed:,} orders preseeded; {args.lines} lines per order")
    print(f"{'server':<6} {'launch':<8} {'round':>5} {'req/s':>9} {'p50 ms':>8} {'p99 ms':>8} {'mean ms':>8}  "
          "non-201/errors")
    for launch in launches:
        for name in ("bare", "o2c"):
            for i, r in enumerate(results[(name, launch)], 1):
                bad = {k: v for k, v in r.statuses.items() if k != "201"}
                errs = {k: v for k, v in r.errors.items() if v}
                print(f"{name:<6} {launch:<8} {i:>5} {r.rps:>9,.0f} {r.p50_ms:>8.1f} {r.p99_ms:>8.1f} {r.mean_ms:>8.1f}  "
                      f"{bad or ''} {errs or ''}")
    print(f"orders in the database from the run (incl. warm-up): {by_status}; lines not fully reserved: "
          f"{lines_short}; stock rows oversold: {oversold}; idempotency keys stored: {keys}")
    for launch in launches:
        if results[("bare", launch)] and results[("o2c", launch)]:
            best_bare = max(r.rps for r in results[("bare", launch)])
            best_o2c = max(r.rps for r in results[("o2c", launch)])
            ratio = best_o2c / best_bare if best_bare else 0
            verdict = "meets" if ratio >= GOAL else "MISSES"
            print(f"ratio o2c/bare ({launch}, best rounds): {best_o2c:,.0f} / {best_bare:,.0f} = {ratio:.0%} "
                  f"-> {verdict} the goal of >= {GOAL:.0%}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
