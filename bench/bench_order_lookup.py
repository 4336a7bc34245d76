"""Order lookup by id and by customer PO as the orders table grows from 10k to 1M orders (PostgreSQL).

The orders (3 lines each, confirmed, reserved) are seeded with server-side multi-row INSERT ... SELECT
(bench/common.py seed_orders), the database is ANALYZEd at every size, and at each size random orders
are looked up two ways:
- in-process: the service calls the API makes (o2c.orders.service.get_order / list_orders in a
  read_session) plus rendering to the API's OrderOut, timed per call in this process;
- HTTP: GET /api/v1/orders/{id} and GET /api/v1/orders?po_number=... against `o2c serve --workers 1`
  in its own process, one request at a time (latency, not throughput), with a keep-alive httpx client.
Reported per size: p50/p99 in ms of each, the plan PostgreSQL picks (index or not), and the ratio of the
largest size to 10k (goal: flat, i.e. <= 1.5x).

    .venv/bin/python bench/bench_order_lookup.py                       # 10k, 100k, 1M (about 5-8 min on 2 cores)
    .venv/bin/python bench/bench_order_lookup.py --max-orders 100000   # quick: 10k and 100k
"""
from __future__ import annotations

import argparse
import os
import random
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import (  # noqa: E402
    command_line, free_port, log, machine, o2c_server, seed_company, seed_orders, summary_ms, throwaway_db,
)
from sqlalchemy import create_engine, text  # noqa: E402

FLAT = 1.5


def plan(url: str, sql: str, params: dict) -> str:
    eng = create_engine(url)
    with eng.connect() as c:
        rows = [r[0] for r in c.execute(text("EXPLAIN " + sql), params)]
    eng.dispose()
    scans = [ln.strip().split("  (")[0].lstrip("-> ") for ln in rows if "Scan" in ln]
    return "; ".join(scans)


def server_ms(url: str, company_id: int, ids: list[int], pos: list[str]) -> dict:
    """Median execution time inside PostgreSQL (EXPLAIN ANALYZE) of the statements a lookup makes:
    the order (by id, or by PO newest first), then its lines and its holds."""
    eng = create_engine(url)
    out = {}
    with eng.connect() as c:
        def ex(sql, params) -> float:
            doc = c.execute(text("EXPLAIN (ANALYZE, FORMAT JSON) " + sql), params).scalar()
            return doc[0]["Execution Time"]

        for name, keys in (("id", ids), ("po", pos)):
            times = []
            for k in keys:
                if name == "id":
                    t = ex("SELECT * FROM orders WHERE id = :k AND company_id = :c", {"k": k, "c": company_id})
                    oid = k
                else:
                    t = ex("SELECT * FROM orders WHERE company_id = :c AND po_number = :k ORDER BY id DESC LIMIT 50",
                           {"k": k, "c": company_id})
                    oid = c.execute(text("SELECT id FROM orders WHERE company_id = :c AND po_number = :k"),
                                    {"k": k, "c": company_id}).scalar()
                t += ex("SELECT * FROM order_lines WHERE order_id IN (:o) ORDER BY order_id, line_no", {"o": oid})
                t += ex("SELECT * FROM order_holds WHERE order_id IN (:o) ORDER BY order_id, id", {"o": oid})
                times.append(t)
            times.sort()
            out[name] = times[len(times) // 2]
    eng.dispose()
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", default="10000,100000,1000000", help="order counts to measure at")
    ap.add_argument("--max-orders", type=int, default=0, help="stop at this size (quick run)")
    ap.add_argument("--lookups", type=int, default=500, help="lookups per kind, size and way")
    ap.add_argument("--no-http", action="store_true", help="only the in-process service calls")
    ap.add_argument("--keep-db", action="store_true")
    args = ap.parse_args()
    sizes = [int(s) for s in args.sizes.split(",")]
    if args.max_orders:
        sizes = [s for s in sizes if s <= args.max_orders] or [args.max_orders]

    import httpx

    from o2c.core.auth import actor_for_user
    from o2c.core.db import read_session
    from o2c.core.models import User
    from o2c.orders import service
    from o2c.orders.schemas import OrderOut

    rows = []
    with throwaway_db("lookup", keep=args.keep_db) as url:
        world = seed_company(url, customers=1000, products=2000)
        with read_session() as s:
            actor = actor_for_user(s, s.get(User, world.user_id))
        for size in sizes:
            secs = seed_orders(url, world, size)
            log(f"{size:,} orders in the database (seeding took {secs:.1f} s, ANALYZEd)")
            eng = create_engine(url)
            with eng.connect() as c:
                lo, hi = c.execute(text("SELECT min(id), max(id) FROM orders")).one()
            eng.dispose()
            rnd = random.Random(size)
            ids = [rnd.randint(lo, hi) for _ in range(args.lookups)]
            pos = [f"PO-{rnd.randint(1, size)}" for _ in range(args.lookups)]

            def by_id(oid):
                with read_session() as s:
                    o = OrderOut.model_validate(service.order_view(service.get_order(s, actor, world.company_id, oid)))
                assert o.id == oid and len(o.lines) == 3

            def by_po(po):
                with read_session() as s:
                    found = service.list_orders(s, actor, world.company_id, po_number=po, limit=50)
                    out = [OrderOut.model_validate(service.order_view(o)) for o in found]
                assert len(out) == 1 and out[0].po_number == po, (po, len(out))

            result = {"size": size}
            # Each random lookup is paired with a lookup of one fixed ("hot") order made right before it:
            # both suffer the same noise from whatever else runs on the machine, so random/hot shows what
            # the size of the table adds, independent of that noise.
            hot_id, hot_po = lo, "PO-1"
            for name, fn, keys, hot in (("id", by_id, ids, hot_id), ("po", by_po, pos, hot_po)):
                for k in keys[: min(100, len(keys))]:  # warm the pool and the caches
                    fn(k)
                times, hots = [], []
                cpu0 = time.process_time()
                for k in keys:
                    t0 = time.perf_counter()
                    fn(hot)
                    t1 = time.perf_counter()
                    fn(k)
                    times.append(time.perf_counter() - t1)
                    hots.append(t1 - t0)
                result[f"svc_{name}"] = summary_ms(times)
                result[f"svc_{name}"]["cpu"] = (time.process_time() - cpu0) / len(keys) / 2 * 1000
                result[f"svc_{name}"]["hot"] = summary_ms(hots)["p50"]
            result["db"] = server_ms(url, world.company_id, ids[:200], pos[:200])
            result["plan_id"] = plan(url, "SELECT * FROM orders WHERE id = :i AND company_id = :c",
                                     {"i": ids[0], "c": world.company_id})
            result["plan_po"] = plan(url, "SELECT * FROM orders WHERE company_id = :c AND po_number = :p "
                                          "ORDER BY id DESC LIMIT 50", {"c": world.company_id, "p": pos[0]})
            if not args.no_http:
                port = free_port()
                logp = Path(os.environ.get("TMPDIR", "/tmp")) / f"o2c_bench_lookup_{port}.log"
                with o2c_server(url, port, 1, logp), httpx.Client(
                    base_url=f"http://127.0.0.1:{port}", headers={"Authorization": f"Bearer {world.api_key}"},
                    timeout=30,
                ) as client:
                    for name, path, keys in (("id", lambda k: f"/api/v1/orders/{k}", ids),
                                             ("po", lambda k: f"/api/v1/orders?po_number={k}", pos)):
                        times, hots = [], []
                        hot = hot_id if name == "id" else hot_po
                        for i, k in enumerate(keys):
                            t0 = time.perf_counter()
                            assert client.get(path(hot)).status_code == 200
                            t1 = time.perf_counter()
                            r = client.get(path(k))
                            dt = time.perf_counter() - t1
                            assert r.status_code == 200, r.text
                            body = r.json()
                            assert (body["id"] == k) if name == "id" else (len(body["items"]) == 1), body
                            if i >= 50:  # the first ones warm the server
                                times.append(dt)
                                hots.append(t1 - t0)
                        result[f"http_{name}"] = summary_ms(times)
                        result[f"http_{name}"]["hot"] = summary_ms(hots)["p50"]
            rows.append(result)
            log(f"  {size:,}: by id {result['svc_id']['p50']:.2f} ms, by PO {result['svc_po']['p50']:.2f} ms "
                f"(in-process p50); in PostgreSQL by id {result['db']['id']:.3f} ms, by PO {result['db']['po']:.3f} ms"
                + ("" if args.no_http else
                   f"; HTTP by id {result['http_id']['p50']:.2f} ms, by PO {result['http_po']['p50']:.2f} ms"))

    print()
    print("== Order lookup by id and by customer PO as orders grow (PostgreSQL) ==")
    print(f"command: {command_line()}")
    print(f"machine: {machine()}; {args.lookups} random lookups per kind, size and way; 3 lines per order")
    kinds = [("svc_id", "in-process by id"), ("svc_po", "in-process by PO")]
    if not args.no_http:
        kinds += [("http_id", "HTTP GET /orders/{id}"), ("http_po", "HTTP GET /orders?po_number=")]
    print(f"{'orders':>10}  " + "  ".join(f"{label:>27}" for _, label in kinds))
    for r in rows:
        print(f"{r['size']:>10,}  " + "  ".join(
            f"{'p50 %6.2f / p99 %6.2f ms' % (r[k]['p50'], r[k]['p99']):>27}" for k, _ in kinds))
    print("random lookup p50 / lookup of one hot order p50, measured interleaved (noise cancels out):")
    for r in rows:
        print(f"{r['size']:>10,}  " + "  ".join(f"{label}: {r[k]['p50'] / r[k]['hot']:.2f}" for k, label in kinds))
    print("min latency (ms) and CPU of this process per lookup (ms), in-process:")
    for r in rows:
        print(f"{r['size']:>10,}  by id min {r['svc_id']['min']:.2f}, cpu {r['svc_id']['cpu']:.2f}; "
              f"by PO min {r['svc_po']['min']:.2f}, cpu {r['svc_po']['cpu']:.2f}"
              + ("" if args.no_http else f"; HTTP min by id {r['http_id']['min']:.2f}, by PO {r['http_po']['min']:.2f}"))
    print("time inside PostgreSQL per lookup (median EXPLAIN ANALYZE execution time of its 3 statements):")
    for r in rows:
        print(f"{r['size']:>10,}  by id {r['db']['id']:.3f} ms, by PO {r['db']['po']:.3f} ms")
    for r in rows:
        print(f"plans at {r['size']:,}: by id: {r['plan_id']} | by PO: {r['plan_po']}")
    if len(rows) > 1:
        first, last = rows[0], rows[-1]
        verdicts = []
        for k, label in kinds:
            verdicts.append(f"{label} p50 {last[k]['p50'] / first[k]['p50']:.2f}x, min {last[k]['min'] / first[k]['min']:.2f}x")
        for k, label in kinds:
            verdicts.append(f"{label} random/hot {(last[k]['p50'] / last[k]['hot']) / (first[k]['p50'] / first[k]['hot']):.2f}x")
        for k in ("id", "po"):
            verdicts.append(f"inside PostgreSQL by {k} {last['db'][k] / first['db'][k]:.2f}x")
        ok = all(last[k]["p50"] / first[k]["p50"] <= FLAT for k, _ in kinds)
        ok_rel = all((last[k]["p50"] / last[k]["hot"]) / (first[k]["p50"] / first[k]["hot"]) <= FLAT for k, _ in kinds)
        print(f"ratio {last['size']:,} / {first['size']:,}: " + "; ".join(verdicts))
        print(f"-> p50 latency {'flat (meets' if ok else 'NOT flat (misses'} the goal of <= {FLAT}x); "
              f"noise-cancelled (random/hot) {'flat (meets' if ok_rel else 'NOT flat (misses'} it)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
