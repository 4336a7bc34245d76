"""Pick path for a batch of pick lines: the distance walked in the lines' own order, in S-shape order and
in S-shape order improved by 2-opt, and the time to plan it (pure Python, no database).

The warehouse is `o2c.fulfillment.picking.Layout` with 3 zones x 20 aisles x 40 bays x 5 levels (aisles
3 m apart centre to centre, 1 m bays, 1.5 m from the last bay to a cross-aisle: 43 m between the front
and back cross-aisles). A catalogue of --skus products each sits in one random bin; a batch is --lines
pick lines for random products of random orders. --rounds batches are drawn, each from its own seed
(--seed, --seed + 1, ...), so the figures do not rest on one lucky draw. Per batch: unsorted = the lines
in the order they came, from the depot and back; S-shape = `s_shape_order`; 2-opt = `walking_order`.
Planning time is `plan_pick_lists(tasks)` end to end (merge lines into stops, order them, measure both
paths), the best of 3 calls.

    .venv/bin/python bench/bench_pick_path.py                  # 200 lines, 10 batches (~3 s)
    .venv/bin/python bench/bench_pick_path.py --lines 500 --rounds 3
"""
from __future__ import annotations

import argparse
import os
import platform
import random
import statistics
import sys
import time
from decimal import Decimal
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import command_line  # noqa: E402

from o2c.fulfillment.picking import (  # noqa: E402
    Bin, Layout, PickTask, plan_pick_lists, route_length, s_shape_order, walking_order,
)

LAYOUT = Layout(zones=("A", "B", "C"), aisles_per_zone=20, bays_per_aisle=40)
LEVELS = 5


def batch(seed: int, skus: int, lines: int) -> list[PickTask]:
    rnd = random.Random(seed)
    places = [Bin(rnd.choice(LAYOUT.zones), rnd.randint(1, LAYOUT.aisles_per_zone),
                  rnd.randint(1, LAYOUT.bays_per_aisle), rnd.randint(1, LEVELS)) for _ in range(skus)]
    tasks = []
    for n in range(lines):
        p = rnd.randrange(skus)
        tasks.append(PickTask(f"order-{rnd.randrange(lines // 3 + 1)}/{n}", f"SKU{p:05d}", "", places[p],
                              Decimal(rnd.randint(1, 6))))
    return tasks


def best_ms(fn, repeat: int = 3) -> float:
    times = []
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        times.append((time.perf_counter() - t) * 1000)
    return min(times)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--lines", type=int, default=200, help="pick lines per batch (default 200)")
    ap.add_argument("--rounds", type=int, default=10, help="batches, each from its own seed (default 10)")
    ap.add_argument("--seed", type=int, default=1, help="seed of the first batch (default 1)")
    ap.add_argument("--skus", type=int, default=5000, help="products in the catalogue (default 5000)")
    args = ap.parse_args()

    print(f"== Pick path for a {args.lines}-line batch ==")
    print(f"command: {command_line()}")
    print(f"machine: {os.cpu_count()} cores, Python {platform.python_version()}")
    print(f"warehouse: {len(LAYOUT.zones)} zones x {LAYOUT.aisles_per_zone} aisles x {LAYOUT.bays_per_aisle} bays"
          f" x {LEVELS} levels; aisles {LAYOUT.aisle_spacing_m} m apart, bays {LAYOUT.bay_width_m} m,"
          f" {LAYOUT.aisle_length_m} m between cross-aisles; {args.skus} products")
    print(f"{'seed':>5} {'stops':>5} {'unsorted m':>10} {'S-shape m':>10} {'2-opt m':>9} "
          f"{'S/unsorted':>10} {'2-opt/unsorted':>14} {'2-opt/S':>8} {'order ms':>9} {'plan ms':>8}")
    rows = []
    for seed in range(args.seed, args.seed + args.rounds):
        tasks = batch(seed, args.skus, args.lines)
        [pick_list] = plan_pick_lists(tasks, layout=LAYOUT)
        stops = [s.bin for s in pick_list.stops]
        unsorted = route_length([t.bin for t in tasks], LAYOUT)
        distinct = list(dict.fromkeys((t.sku, t.bin) for t in tasks))
        s_bins = [distinct[i][1] for i in s_shape_order([b for _, b in distinct], LAYOUT)]
        s_shape = route_length(s_bins, LAYOUT)
        two_opt = route_length(stops, LAYOUT)
        assert pick_list.unsorted_length_m == unsorted.quantize(Decimal("0.1"))
        order_ms = best_ms(lambda: walking_order([b for _, b in distinct], LAYOUT))
        plan_ms = best_ms(lambda: plan_pick_lists(tasks, layout=LAYOUT))
        row = (float(s_shape / unsorted), float(two_opt / unsorted), float(two_opt / s_shape), order_ms, plan_ms)
        rows.append(row)
        print(f"{seed:>5} {len(stops):>5} {unsorted:>10.1f} {s_shape:>10.1f} {two_opt:>9.1f} "
              f"{row[0]:>10.3f} {row[1]:>14.3f} {row[2]:>8.3f} {order_ms:>9.1f} {plan_ms:>8.1f}")
    med = [statistics.median(col) for col in zip(*rows)]
    print(f"median over {args.rounds} batches: S-shape/unsorted {med[0]:.3f}, 2-opt/unsorted {med[1]:.3f},"
          f" 2-opt/S-shape {med[2]:.3f}; walking order {med[3]:.1f} ms, whole plan {med[4]:.1f} ms"
          f" (max {max(r[4] for r in rows):.1f} ms)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
