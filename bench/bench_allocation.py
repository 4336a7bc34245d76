"""Warehouse allocation for a wave: greedy (one order at a time) against the HiGHS optimisation
(`o2c.fulfillment.allocation`): time of each, total estimated shipping cost, saving, parcels, shortfalls.
Pure Python, no database.

The wave (seeded, reproducible): --orders orders of 1-5 lines (40/25/17/10/8%) over 200 products with
Zipf popularity (weight 1/rank), quantity 1 (70%), 2 (20%) or 3-6, unit weights log-normal around 0.8 kg
(0.05-25 kg); one order in ten has priority 1; order dates over three days. Five warehouses on a
3,000 x 1,500 km map (CHI, LAX, DAL, ATL, EWR); ship-to addresses in 60 metro areas. Stock: each product
sits in 2-5 random warehouses with random shares; 15% of the products are scarce (0.6-0.9 of the wave's
demand in all), the rest have 1.1-2.5 times it, so the cheap warehouse for a busy area often runs out.

Printed: the time of each (the optimiser is handed greedy's result as its baseline, so its time is its
own work: stage 1, planning every order, building and solving the model), total estimated shipping cost,
the saving, parcels, split orders, lines short, and transit days per shipped line (the speed policy's
measure); both answers are checked for over-allocated stock and for takes + shortfall = quantity.

Cost model (a stand-in for carrier rate tables): the distance from warehouse to ship-to gives a zone
(< 300, 800, 1,400, 2,200 km, beyond: zones 1-5); a parcel costs the zone's base rate plus its rate
per kg of billed weight (the weight rounded up to the next 0.5 kg, at least 0.5 kg), rounded to the cent;
transit takes as many days as the zone. DAL is a regional warehouse: it ships to zones 1-3 only.

    .venv/bin/python bench/bench_allocation.py                     # 10,000 orders, policy cost
    .venv/bin/python bench/bench_allocation.py --policy speed
    .venv/bin/python bench/bench_allocation.py --seed 4              # another wave
    .venv/bin/python bench/bench_allocation.py --orders 2000 --time-limit 20
"""
from __future__ import annotations

import argparse
import math
import os
import platform
import random
import sys
import time
from collections import defaultdict
from datetime import date, timedelta
from decimal import ROUND_CEILING, Decimal
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import command_line  # noqa: E402

from o2c.core.money import round_money  # noqa: E402
from o2c.fulfillment.allocation import (  # noqa: E402
    POLICIES, Demand, DemandLine, WaveResult, compare, greedy_wave, optimise_wave,
)

WAREHOUSES = {1: ("CHI", 1700, 1000), 2: ("LAX", 200, 500), 3: ("DAL", 1200, 400), 4: ("ATL", 2200, 500),
              5: ("EWR", 2800, 1000)}
REGIONAL = {3: 3}  # warehouse -> farthest zone it ships to
BANDS_KM = (300, 800, 1400, 2200)
BASE = [Decimal(v) for v in ("5.50", "6.20", "7.10", "8.30", "9.60")]  # per zone 1-5
PER_KG = [Decimal(v) for v in ("0.45", "0.70", "1.05", "1.45", "1.90")]
HALF = Decimal("0.5")


class Rates:
    """Zone-based parcel rates from each warehouse to each order's ship-to."""

    def __init__(self, ship_to: dict[int, tuple[float, float]]):
        self.zone: dict[tuple[int, int], int | None] = {}
        for o, (x, y) in ship_to.items():
            for w, (_, wx, wy) in WAREHOUSES.items():
                km = math.hypot(x - wx, y - wy)
                zone = 1 + sum(km >= b for b in BANDS_KM)
                self.zone[(o, w)] = None if zone > REGIONAL.get(w, 5) else zone

    def cost(self, order_id: int, warehouse_id: int, weight_kg: Decimal) -> Decimal | None:
        zone = self.zone[(order_id, warehouse_id)]
        if zone is None:
            return None
        billed = max(HALF, (weight_kg / HALF).to_integral_value(rounding=ROUND_CEILING) * HALF)
        return round_money(BASE[zone - 1] + PER_KG[zone - 1] * billed, "USD")

    def days(self, order_id: int, warehouse_id: int) -> int | None:
        return self.zone[(order_id, warehouse_id)]


def wave(orders: int, seed: int) -> tuple[list[Demand], dict[tuple[int, int], Decimal], Rates]:
    rnd = random.Random(seed)
    products = list(range(1, 201))
    popularity = [1 / r for r in range(1, len(products) + 1)]
    unit_kg = {p: Decimal(str(round(min(25.0, max(0.05, 0.8 * rnd.lognormvariate(0, 1))), 2))) for p in products}
    metros = [(rnd.uniform(0, 3000), rnd.uniform(0, 1500)) for _ in range(60)]
    today = date(2026, 11, 26)
    demands, ship_to = [], {}
    line_id = 0
    for o in range(1, orders + 1):
        mx, my = rnd.choice(metros)
        ship_to[o] = (mx + rnd.gauss(0, 40), my + rnd.gauss(0, 40))
        n = rnd.choices([1, 2, 3, 4, 5], weights=[40, 25, 17, 10, 8])[0]
        chosen: list[int] = []
        while len(chosen) < n:
            p = rnd.choices(products, weights=popularity)[0]
            if p not in chosen:
                chosen.append(p)
        lines = []
        for p in chosen:
            line_id += 1
            q = rnd.choices([1, 2, rnd.randint(3, 6)], weights=[70, 20, 10])[0]
            lines.append(DemandLine(line_id, p, Decimal(q), unit_kg[p]))
        demands.append(Demand(o, tuple(lines), priority=1 if rnd.random() < 0.1 else 0,
                              order_date=today - timedelta(days=rnd.randint(0, 2))))
    wanted: dict[int, Decimal] = defaultdict(Decimal)
    for d in demands:
        for ln in d.lines:
            wanted[ln.product_id] += ln.quantity
    scarce = set(rnd.sample(products, len(products) * 15 // 100))
    available: dict[tuple[int, int], Decimal] = {}
    for p in products:
        factor = rnd.uniform(0.6, 0.9) if p in scarce else rnd.uniform(1.1, 2.5)
        total = int(float(wanted[p]) * factor)
        where = rnd.sample(sorted(WAREHOUSES), rnd.randint(2, 5))
        shares = [rnd.random() + 0.2 for _ in where]
        for w, s in zip(where, shares):
            available[(p, w)] = Decimal(int(total * s / sum(shares)))
    return demands, available, Rates(ship_to)


def check(result: WaveResult, demands: list[Demand], available: dict[tuple[int, int], Decimal]) -> str:
    """No stock over-allocated; every line's takes plus its shortfall make its quantity."""
    used: dict[tuple[int, int], Decimal] = defaultdict(Decimal)
    lines = {ln.line_id: ln for d in demands for ln in d.lines}
    got: dict[int, Decimal] = defaultdict(Decimal)
    for a in result.allocations.values():
        for t in a.takes:
            used[(t.product_id, t.warehouse_id)] += t.quantity
            got[t.line_id] += t.quantity
        for lid, s in a.short.items():
            assert got[lid] + s == lines[lid].quantity, f"line {lid}: takes + short != quantity"
    over = sum(1 for k, q in used.items() if q > available.get(k, Decimal(0)))
    assert over == 0, f"{over} stock rows over-allocated"
    return "no stock over-allocated; every line's takes + shortfall = its quantity"


def mean_line_days(result: WaveResult, rates: Rates) -> float:
    """Transit days per shipped line, each line's units averaged (the speed policy's measure)."""
    total, lines = 0.0, 0
    for a in result.allocations.values():
        per_line: dict[int, list[float]] = defaultdict(lambda: [0.0, 0.0])
        for t in a.takes:
            per_line[t.line_id][0] += float(t.quantity) * rates.days(a.order_id, t.warehouse_id)
            per_line[t.line_id][1] += float(t.quantity)
        total += sum(u / q for u, q in per_line.values())
        lines += len(per_line)
    return total / lines if lines else 0.0


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--orders", type=int, default=10_000)
    ap.add_argument("--policy", choices=POLICIES, default="cost")
    ap.add_argument("--time-limit", type=float, default=60.0, help="seconds for the solver (default 60)")
    ap.add_argument("--seed", type=int, default=3)
    args = ap.parse_args()

    demands, available, rates = wave(args.orders, args.seed)
    names = {w: n for w, (n, _, _) in WAREHOUSES.items()}
    n_lines = sum(len(d.lines) for d in demands)
    print("== Warehouse allocation for a wave: greedy vs optimised (HiGHS) ==")
    print(f"command: {command_line()}")
    print(f"machine: {os.cpu_count()} cores, Python {platform.python_version()}, load before "
          f"{os.getloadavg()[0]:.2f}")
    print(f"wave: {len(demands):,} orders, {n_lines:,} lines, 200 products, {len(WAREHOUSES)} warehouses, "
          f"policy {args.policy}, seed {args.seed}, solver time limit {args.time_limit:g} s")

    greedy = greedy_wave(demands, available, rates, args.policy, names=names)
    print(f"greedy:    {greedy.seconds:7.2f} s  {check(greedy, demands, available)}")
    started = time.perf_counter()
    best = optimise_wave(demands, available, rates, args.policy, time_limit_s=args.time_limit, names=names,
                         baseline=greedy)
    wall = time.perf_counter() - started
    print(f"optimised: {wall:7.2f} s  {check(best, demands, available)}")
    print(f"  method: {best.method}")
    print(f"  solver: {best.solver_status}")
    c = compare(greedy, best)
    print(f"{'':22}{'greedy':>14}{'optimised':>14}")
    print(f"{'total shipping cost':22}{c['greedy_cost']:>14,}{c['optimised_cost']:>14,}")
    print(f"{'parcels':22}{c['greedy_parcels']:>14,}{c['optimised_parcels']:>14,}")
    print(f"{'split orders':22}{c['greedy_split_orders']:>14,}{c['optimised_split_orders']:>14,}")
    print(f"{'lines short':22}{c['greedy_short_lines']:>14,}{c['optimised_short_lines']:>14,}")
    print(f"{'days per line (mean)':22}{mean_line_days(greedy, rates):>14.3f}{mean_line_days(best, rates):>14.3f}")
    print(f"{'seconds':22}{greedy.seconds:>14.2f}{wall:>14.2f}")
    print(f"saving against greedy: {c['saving']:,} ({c['saving_pct']}%)")


if __name__ == "__main__":
    main()
