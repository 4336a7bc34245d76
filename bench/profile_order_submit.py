"""Where the time of one POST /api/v1/orders goes: N sequential requests in-process (Starlette
TestClient, no network), timed per request, with the statement count per request, optionally under
pyinstrument (`pip install pyinstrument` into your venv; it is not a project dependency).

    .venv/bin/python bench/profile_order_submit.py --requests 300 [--profile] [--lines 3]
"""
from __future__ import annotations

import argparse
import os
import json
import random
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import command_line, log, seed_company, seed_orders, summary_ms, throwaway_db  # noqa: E402
from sqlalchemy import event  # noqa: E402


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--requests", type=int, default=300)
    ap.add_argument("--lines", type=int, default=3)
    ap.add_argument("--preseed", type=int, default=10_000)
    ap.add_argument("--profile", action="store_true", help="run the measured requests under pyinstrument")
    ap.add_argument("--cprofile", type=int, default=0, help="print the top N functions by own time (cProfile)")
    ap.add_argument("--html", default="", help="write pyinstrument's HTML report here")
    ap.add_argument("--direct", action="store_true",
                    help="call the endpoint's code in this thread (no ASGI/TestClient), so the profile sees it")
    args = ap.parse_args()

    with throwaway_db("profile") as url:
        world = seed_company(url)
        seed_orders(url, world, args.preseed)
        from fastapi.testclient import TestClient

        from o2c.core.db import get_engine
        from o2c.web.app import create_app

        statements = [0]
        per_sql: dict[str, list] = {}
        started: list[float] = []

        def before(conn, cursor, statement, params, context, many):
            statements[0] += 1
            started.append(time.perf_counter())

        def after(conn, cursor, statement, params, context, many):
            k = " ".join(statement.split())[:90]
            e = per_sql.setdefault(k, [0, 0.0])
            e[0] += 1
            e[1] += time.perf_counter() - started.pop()

        event.listen(get_engine(), "before_cursor_execute", before)
        event.listen(get_engine(), "after_cursor_execute", after)
        rnd = random.Random(1)
        client = TestClient(create_app())
        headers = {"Authorization": f"Bearer {world.api_key}"}
        from o2c.orders.api import create_order
        from o2c.orders.schemas import OrderIn
        from o2c.web.deps import context, current_actor

        ctx = context(current_actor(authorization=f"Bearer {world.api_key}"), None)

        def one(n: int, prefix: str):
            body = {"customer_id": rnd.choice(world.customer_ids), "channel": "web", "po_number": f"{prefix}{n}",
                    "lines": [{"sku": s, "quantity": rnd.randint(1, 5)} for s in rnd.sample(world.skus, args.lines)]}
            if args.direct:
                data = OrderIn.model_validate_json(json.dumps(body))
                resp = create_order(data, ctx, f"{prefix}{n}")
                assert resp.status_code == 201 and json.loads(resp.body)["status"] == "confirmed", resp.body
                return
            r = client.post("/api/v1/orders", json=body, headers=headers | {"Idempotency-Key": f"{prefix}{n}"})
            assert r.status_code == 201 and r.json()["status"] == "confirmed", r.text

        for n in range(30):
            one(n, "WARM")
        statements[0] = 0
        per_sql.clear()
        profiler = None
        if args.profile:
            from pyinstrument import Profiler

            profiler = Profiler(interval=0.0005)
            profiler.start()
        cprof = None
        if args.cprofile:
            import cProfile

            cprof = cProfile.Profile()
            cprof.enable()
        times = []
        cpu0 = time.process_time()
        for n in range(args.requests):
            t0 = time.perf_counter()
            one(n, "RUN")
            times.append(time.perf_counter() - t0)
        cpu = (time.process_time() - cpu0) / args.requests
        if cprof:
            import pstats

            cprof.disable()
            st = pstats.Stats(cprof)
            st.sort_stats("tottime").print_stats(args.cprofile)
            st.sort_stats("cumulative").print_stats(args.cprofile * 2)
        if profiler:
            profiler.stop()
        s = summary_ms(times)
        print(f"command: {command_line()}")
        print(f"in-process POST /api/v1/orders ({args.lines} lines), {s['n']} sequential: p50 {s['p50']:.2f} ms, "
              f"p99 {s['p99']:.2f} ms, mean {s['mean']:.2f} ms -> {1000 / s['mean']:.0f} orders/s on one core; "
              f"{statements[0] / args.requests:.1f} SQL statements per order; "
              f"{cpu * 1000:.2f} ms CPU of this process per order")
        print("per order, by statement (calls, ms incl. driver and round trip):")
        for k, (n, t) in sorted(per_sql.items(), key=lambda kv: -kv[1][1]):
            print(f"  {n / args.requests:5.1f} x {t / args.requests * 1000:6.2f} ms  {k}")
        if profiler:
            print(profiler.output_text(unicode=True, color=False, show_all=bool(os.environ.get("PROFILE_ALL"))))
            if args.html:
                Path(args.html).write_text(profiler.output_html())
                log(f"wrote {args.html}")
        client.close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
