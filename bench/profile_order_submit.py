"""Where the time of one POST /api/v1/orders goes: N sequential requests in-process (Starlette
TestClient, no network), timed per request, with the statement count per request, optionally under
pyinstrument (`pip install pyinstrument` into your venv; it is not a project dependency).

    .venv/bin/python bench/profile_order_submit.py --requests 300 [--profile] [--lines 3]
"""
from __future__ import annotations

import argparse
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
    ap.add_argument("--html", default="", help="write pyinstrument's HTML report here")
    args = ap.parse_args()

    with throwaway_db("profile") as url:
        world = seed_company(url)
        seed_orders(url, world, args.preseed)
        from fastapi.testclient import TestClient

        from o2c.core.db import get_engine
        from o2c.web.app import create_app

        statements = [0]
        event.listen(get_engine(), "before_cursor_execute", lambda *a: statements.__setitem__(0, statements[0] + 1))
        rnd = random.Random(1)
        client = TestClient(create_app())
        headers = {"Authorization": f"Bearer {world.api_key}"}

        def one(n: int, prefix: str):
            body = {"customer_id": rnd.choice(world.customer_ids), "channel": "web", "po_number": f"{prefix}{n}",
                    "lines": [{"sku": s, "quantity": rnd.randint(1, 5)} for s in rnd.sample(world.skus, args.lines)]}
            r = client.post("/api/v1/orders", json=body, headers=headers | {"Idempotency-Key": f"{prefix}{n}"})
            assert r.status_code == 201 and r.json()["status"] == "confirmed", r.text

        for n in range(30):
            one(n, "WARM")
        statements[0] = 0
        profiler = None
        if args.profile:
            from pyinstrument import Profiler

            profiler = Profiler(interval=0.0005)
            profiler.start()
        times = []
        for n in range(args.requests):
            t0 = time.perf_counter()
            one(n, "RUN")
            times.append(time.perf_counter() - t0)
        if profiler:
            profiler.stop()
        s = summary_ms(times)
        print(f"command: {command_line()}")
        print(f"in-process POST /api/v1/orders ({args.lines} lines), {s['n']} sequential: p50 {s['p50']:.2f} ms, "
              f"p99 {s['p99']:.2f} ms, mean {s['mean']:.2f} ms -> {1000 / s['mean']:.0f} orders/s on one core; "
              f"{statements[0] / args.requests:.1f} SQL statements per order")
        if profiler:
            print(profiler.output_text(unicode=True, color=False, show_all=False))
            if args.html:
                Path(args.html).write_text(profiler.output_html())
                log(f"wrote {args.html}")
        client.close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
