"""A 1,000-line order with 1M orders already in the database (PostgreSQL): capture (validate, price,
reserve, confirm) and then edit one of its lines.

The database holds --orders confirmed orders (seeded as in bench_order_lookup, then ANALYZEd). Then, --repeat
times each:
- service: `transaction(lambda s: service.capture(s, actor, company, OrderIn(...)))` with --lines distinct
  SKUs, rendered to the API's OrderOut inside the transaction as the API does; then
  `transaction(... service.edit_line(... line 500, new quantity ...))`;
- HTTP: POST /api/v1/orders (the same kind of order, Idempotency-Key set) and
  PATCH /api/v1/orders/{id}/lines/{line_no} against `o2c serve --workers 1` in its own process.
Times are wall-clock, per call, including the commit (and for HTTP the JSON both ways). Goals: capture
well under 1 s, line edit under 100 ms.

    .venv/bin/python bench/bench_large_order.py                    # 1M orders seeded first (~3-4 min)
    .venv/bin/python bench/bench_large_order.py --orders 100000    # quick
"""
from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import sys
import time
from decimal import Decimal
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import (  # noqa: E402
    command_line, free_port, log, machine, o2c_server, seed_company, seed_orders, throwaway_db,
)

CAPTURE_GOAL_MS = 1000
EDIT_GOAL_MS = 100


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--orders", type=int, default=1_000_000, help="orders in the database first")
    ap.add_argument("--lines", type=int, default=1000, help="lines of the large order")
    ap.add_argument("--repeat", type=int, default=5, help="large orders per way (service, HTTP)")
    ap.add_argument("--no-http", action="store_true")
    ap.add_argument("--profile", action="store_true", help="print a pyinstrument profile of one service capture "
                                                          "and one edit (pip install pyinstrument first)")
    ap.add_argument("--sql", action="store_true", help="print the SQL statements (kind, table, executions, rows) "
                                                      "of the first service capture and edit")
    ap.add_argument("--keep-db", action="store_true")
    args = ap.parse_args()

    import httpx

    from o2c.core.auth import actor_for_user
    from o2c.core.db import read_session, transaction
    from o2c.core.models import User
    from o2c.orders import service
    from o2c.orders.schemas import LinePatch, OrderIn, OrderOut
    from o2c.core.runtime import tune_gc

    tune_gc()  # the service measured as the server process runs it (o2c.web.app.create_app does the same)

    res: dict[str, list[float]] = {"svc_capture": [], "svc_edit": [], "http_capture": [], "http_edit": []}
    statuses: list[str] = []
    profiles = []
    with throwaway_db("large", keep=args.keep_db) as url:
        world = seed_company(url, customers=1000, products=max(2000, args.lines * 2))
        secs = seed_orders(url, world, args.orders)
        log(f"{args.orders:,} orders in the database (seeding took {secs:.1f} s, ANALYZEd)")
        with read_session() as s:
            actor = actor_for_user(s, s.get(User, world.user_id))
        rnd = random.Random(7)
        edit_no = min(500, args.lines)

        def body(n: int, way: str) -> dict:
            return {"customer_id": rnd.choice(world.customer_ids), "channel": "edi",
                    "po_number": f"BIG-{way}-{n}",
                    "lines": [{"sku": sku, "quantity": rnd.randint(1, 20)} for sku in rnd.sample(world.skus, args.lines)]}

        def capture(data: OrderIn) -> dict:
            return transaction(lambda s: OrderOut.model_validate(
                service.order_view(service.capture(s, actor, world.company_id, data))).model_dump(mode="json"))

        def edit(order_id: int, qty: int) -> dict:
            patch = LinePatch(quantity=Decimal(qty), reason="customer changed the quantity")
            return transaction(lambda s: OrderOut.model_validate(service.order_view(
                service.edit_line(s, actor, world.company_id, order_id, edit_no, patch))).model_dump(mode="json"))

        sql_log: dict[str, list] = {}
        if args.sql:
            from sqlalchemy import event

            from o2c.core.db import get_engine

            def count(conn, cursor, statement, params, context, many):
                words = statement.split()
                table = next((words[i + 1] for i, w in enumerate(words[:-1]) if w in ("INTO", "UPDATE", "FROM")), "?")
                e = sql_log.setdefault(f"{words[0]} {table}", [0, 0, 0.0])
                e[0] += 1
                e[1] += len(params) if many and isinstance(params, (list, tuple)) else 1
                conn.info["o2c_bench_t0"] = (e, time.perf_counter())

            def took(conn, cursor, statement, params, context, many):
                e, t0 = conn.info.pop("o2c_bench_t0")
                e[2] += time.perf_counter() - t0

            event.listen(get_engine(), "before_cursor_execute", count)
            event.listen(get_engine(), "after_cursor_execute", took)

        def show_sql(title):
            if args.sql:
                print(f"SQL of {title}: statement, executions, parameter sets, ms in the driver and server")
                for k, (n, rows, t) in sorted(sql_log.items(), key=lambda kv: -kv[1][2]):
                    print(f"  {k:<40} {n:>5} {rows:>6} {t * 1000:8.1f}")
                print(f"  total {sum(v[2] for v in sql_log.values()) * 1000:.1f} ms")
                sql_log.clear()

        # warm-up: one small order through the same code (imports, pools, statement caches)
        capture(OrderIn.model_validate(dict(body(0, "warm"), lines=body(0, "warm")["lines"][:3])))

        for n in range(1, args.repeat + 1):
            data = OrderIn.model_validate(body(n, "svc"))
            prof = None
            if args.profile and n == 2:
                from pyinstrument import Profiler

                prof = Profiler(interval=0.0005)
                prof.start()
            sql_log.clear()
            t0 = time.perf_counter()
            out = capture(data)
            res["svc_capture"].append(time.perf_counter() - t0)
            if n == 1:
                show_sql("capture")
            statuses.append(out["status"])
            assert len(out["lines"]) == args.lines
            t0 = time.perf_counter()
            out2 = edit(out["id"], 21)
            res["svc_edit"].append(time.perf_counter() - t0)
            if n == 1:
                show_sql("edit_line")
            if prof:
                prof.stop()
                profiles.append(prof.output_text(unicode=True, color=False))
            line = next(li for li in out2["lines"] if li["line_no"] == edit_no)
            assert Decimal(line["quantity"]) == 21 and Decimal(line["reserved_qty"]) == 21, line
            statuses.append(out2["status"])
            log(f"service: capture {res['svc_capture'][-1] * 1000:.0f} ms ({out['status']}), "
                f"edit line {edit_no} {res['svc_edit'][-1] * 1000:.0f} ms ({out2['status']})")

        if not args.no_http:
            port = free_port()
            logp = Path(os.environ.get("TMPDIR", "/tmp")) / f"o2c_bench_large_{port}.log"
            with o2c_server(url, port, 1, logp), httpx.Client(
                base_url=f"http://127.0.0.1:{port}", headers={"Authorization": f"Bearer {world.api_key}"}, timeout=60,
            ) as client:
                warm = body(0, "httpwarm")
                warm["lines"] = warm["lines"][:3]
                assert client.post("/api/v1/orders", json=warm).status_code == 201
                for n in range(1, args.repeat + 1):
                    raw = json.dumps(body(n, "http"))
                    t0 = time.perf_counter()
                    r = client.post("/api/v1/orders", content=raw, headers={
                        "Content-Type": "application/json", "Idempotency-Key": f"big-{n}"})
                    res["http_capture"].append(time.perf_counter() - t0)
                    assert r.status_code == 201, r.text[:500]
                    order = r.json()
                    statuses.append(order["status"])
                    t0 = time.perf_counter()
                    r = client.patch(f"/api/v1/orders/{order['id']}/lines/{edit_no}",
                                     json={"quantity": 21, "reason": "customer changed the quantity"})
                    res["http_edit"].append(time.perf_counter() - t0)
                    assert r.status_code == 200, r.text[:500]
                    statuses.append(r.json()["status"])
                    log(f"HTTP: POST {res['http_capture'][-1] * 1000:.0f} ms ({order['status']}), "
                        f"PATCH line {edit_no} {res['http_edit'][-1] * 1000:.0f} ms ({r.json()['status']})")

    print()
    print(f"== A {args.lines:,}-line order with {args.orders:,} orders in the database (PostgreSQL) ==")
    print(f"command: {command_line()}")
    print(f"machine: {machine()}; {args.repeat} orders per way; every order ended: {sorted(set(statuses))}")
    labels = {"svc_capture": "service capture+confirm (commit incl.)", "svc_edit": f"service edit_line {edit_no}",
              "http_capture": "HTTP POST /api/v1/orders", "http_edit": f"HTTP PATCH .../lines/{edit_no}"}
    for k, label in labels.items():
        v = [x * 1000 for x in res[k]]
        if not v:
            continue
        goal = CAPTURE_GOAL_MS if "capture" in k else EDIT_GOAL_MS
        med = statistics.median(v)
        print(f"{label:<40} median {med:7.1f} ms  min {min(v):7.1f}  max {max(v):7.1f}  "
              f"-> {'meets' if med < goal else 'MISSES'} the goal of < {goal} ms")
    for p in profiles:
        print(p)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
