"""What sealing the audit hash chain at commit costs: order captures per second with the chain on and off.

In-process, on a throwaway PostgreSQL database (seeded as bench/common.py does): --threads threads each
capture 3-line orders through the API's create_order (validated, priced, gated, reserved; audit records
and outbox events written) for --seconds. The run alternates "sealed" (the before_commit hook chains the
transaction's records under the head-row lock) and "unsealed" (o2c.core.audit.sealing_enabled off: records
stay unsealed), --rounds times, and reports orders/s of each and their ratio; then the same for bare transactions that write one audit
record each (the lock's cost without the order's work around it). At the end the records left
unsealed are sealed in one go and the whole chain is verified (timed too).

    .venv/bin/python bench/bench_audit_chain.py                      # 1 and 4 threads, 10 s, 2 rounds
    .venv/bin/python bench/bench_audit_chain.py --threads 4 --seconds 5 --rounds 1   # quick
"""
from __future__ import annotations

import argparse
import json
import random
import sys
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import command_line, log, machine, seed_company, throwaway_db  # noqa: E402


def run(world, threads: int, seconds: float, prefix: str) -> float:
    from o2c.orders.api import create_order
    from o2c.orders.schemas import OrderIn
    from o2c.web.deps import context, current_actor

    ctx = context(current_actor(authorization=f"Bearer {world.api_key}"), None)
    stop = time.perf_counter() + seconds
    done = [0] * threads
    errors: list[str] = []

    def worker(t: int):
        rnd = random.Random(t)
        n = 0
        while time.perf_counter() < stop:
            body = {"customer_id": rnd.choice(world.customer_ids), "channel": "web", "po_number": f"{prefix}-{t}-{n}",
                    "lines": [{"sku": s, "quantity": rnd.randint(1, 5)} for s in rnd.sample(world.skus, 3)]}
            resp = create_order(OrderIn.model_validate_json(json.dumps(body)), ctx, f"{prefix}-{t}-{n}")
            if resp.status_code != 201:
                errors.append(resp.body.decode()[:200])
                return
            n += 1
            done[t] = n

    ts = [threading.Thread(target=worker, args=(t,)) for t in range(threads)]
    t0 = time.perf_counter()
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    elapsed = time.perf_counter() - t0
    if errors:
        raise SystemExit(f"a capture failed: {errors[0]}")
    return sum(done) / elapsed


def run_records(world, threads: int, seconds: float, prefix: str) -> float:
    """The bare cost: transactions that write one audit record each and commit."""
    from o2c.core import audit
    from o2c.core.auth import SYSTEM
    from o2c.core.db import transaction

    stop = time.perf_counter() + seconds
    done = [0] * threads

    def worker(t: int):
        n = 0
        while time.perf_counter() < stop:
            transaction(lambda s: audit.record(s, SYSTEM, "bench", n, prefix, company_id=world.company_id,
                                               data={"thread": t, "n": n}))
            n += 1
            done[t] = n

    ts = [threading.Thread(target=worker, args=(t,)) for t in range(threads)]
    t0 = time.perf_counter()
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    return sum(done) / (time.perf_counter() - t0)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--threads", type=int, nargs="+", default=[1, 4])
    ap.add_argument("--seconds", type=float, default=10)
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--keep-db", action="store_true")
    args = ap.parse_args()
    log(f"machine: {machine()}")
    with throwaway_db("audit_chain", keep=args.keep_db) as url:
        import os

        from o2c.core import audit
        from o2c.core.db import read_session, transaction
        from o2c.core.settings import get_settings

        os.environ["O2C_POOL_SIZE"] = str(max(args.threads) + 2)
        get_settings.cache_clear()
        world = seed_company(url, customers=50, products=500)
        run(world, 1, 2, "WARM")  # caches filled, first plans made
        results: dict[tuple[str, int, str], list[float]] = {}
        catch_up: list[tuple[int, float]] = []
        for what, fn in (("orders", run), ("records", run_records)):
            for threads in args.threads:
                for r in range(args.rounds):
                    for mode in ("sealed", "unsealed"):
                        audit.sealing_enabled = mode == "sealed"
                        rate = fn(world, threads, args.seconds, f"{mode}-{threads}-{r}")
                        audit.sealing_enabled = True
                        t0 = time.perf_counter()
                        n = transaction(audit.seal)  # leftovers sealed now, not by the next measured run
                        if n:
                            catch_up.append((n, time.perf_counter() - t0))
                        results.setdefault((what, threads, mode), []).append(rate)
                        log(f"{what}: {threads} thread(s), round {r + 1}, {mode}: {rate:,.0f}/s")
        t0 = time.perf_counter()
        with read_session() as s:
            report = audit.verify(s)
        verify_s = time.perf_counter() - t0
        print()
        print(f"command: {command_line()}")
        print(f"{'what':<8} {'threads':>7} {'sealed/s':>9} {'unsealed/s':>10} {'ratio':>6}")
        for what in ("orders", "records"):
            for threads in args.threads:
                s, u = (sum(results[(what, threads, m)]) / len(results[(what, threads, m)])
                        for m in ("sealed", "unsealed"))
                print(f"{what:<8} {threads:>7} {s:>9,.0f} {u:>10,.0f} {s / u:>6.2f}")
        n, secs = max(catch_up)
        print(f"records an unsealed run left, sealed afterwards in one transaction: up to {n:,} in {secs:.2f} s")
        print(f"verify: {report.records:,} records in {verify_s:.2f} s ({report.records / verify_s:,.0f}/s), "
              f"ok={report.ok}")
        if not report.ok:
            print(report.problems[:5])
            return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
