"""Rate shopping for one parcel across 5 carriers x 4 services: latency per call, and the parse time of a table.

Pure Python, no database, no network. Builds 5 carriers' rate tables in the JSON format of
docs/shipping-rates.md (3 origin warehouses with 10 ZIP3 bands each over 000-999, 4 services, 20 weight
breaks up to 70 kg, fuel/residential/remote-area/oversize surcharges), parses them once, then for N random
parcels (weight, box, destination ZIP, origin warehouse, ship date, promise date, residential or not)
times one call of `quotes` + `shop`, as the ship step makes it, with time.perf_counter_ns (and the
thread's CPU time, which excludes time the OS gave other processes). Prints p50, p99 and max in
microseconds, and the time to parse one table (with and without json.loads).

    .venv/bin/python bench/bench_rate_shopping.py                  # 20,000 parcels, a few seconds
    .venv/bin/python bench/bench_rate_shopping.py --parcels 100000 --seed 7
"""
from __future__ import annotations

import argparse
import gc
import json
import os
import platform
import random
import statistics
import sys
import time
from datetime import date, timedelta
from decimal import Decimal
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import command_line, pct  # noqa: E402

from o2c.shipping.rates import Parcel, Place, add_business_days, parse_rate_table, quotes, shop  # noqa: E402

CARRIERS = ("ACME", "BOLT", "CRUX", "DART", "EMBR")
# Warehouses: Chicago, Newark, Los Angeles (ZIP3 606, 071, 900).
ORIGINS = (Place("US", "60614"), Place("US", "07102"), Place("US", "90021"))
# code, name, transit days in zone 2 and extra days per zone, price factor, fuel %
SERVICES = (("GND", "Ground", 1, Decimal("0.6"), Decimal(1), "12.5"),
            ("3DS", "Three day select", 3, Decimal(0), Decimal("1.6"), "15.0"),
            ("2DA", "Second day air", 2, Decimal(0), Decimal("2.2"), "15.0"),
            ("NDA", "Next day air", 1, Decimal(0), Decimal("3.5"), "15.0"))
BREAKS_KG = ("0.5", "1", "1.5", "2", "3", "4", "5", "6", "7", "8", "10", "12", "15", "20", "25", "30", "40", "50",
             "60", "70")
HOLIDAYS = frozenset({date(2026, 11, 26), date(2026, 12, 25), date(2027, 1, 1), date(2027, 1, 18),
                      date(2027, 2, 15), date(2027, 5, 31)})


def rate_table(carrier: str, rng: random.Random) -> dict:
    """A realistic table: the zone grows with the distance between origin and destination ZIP3."""
    zones = []
    for origin in ORIGINS:
        o3 = int(origin.postal_code[:3])
        cuts = sorted(rng.sample(range(1, 1000), 9))
        for lo, hi in zip([0, *cuts], [*cuts, 1000]):
            mid = (lo + hi - 1) // 2
            zone = 2 + min(6, abs(mid - o3) // 120)
            zones.append({"origin": origin.postal_code[:3], "country": "US", "from": f"{lo:03}",
                          "to": f"{hi - 1:03}", "zone": zone})
    services = []
    for code, name, days2, per_zone, factor, fuel in SERVICES:
        rates = []
        for zone in range(2, 9):
            start = Decimal(rng.randint(700, 950)) / 100 + zone
            per_kg = Decimal(rng.randint(80, 140)) / 100 + Decimal(zone) / 10
            breaks = [{"max_kg": kg, "price": str(((start + per_kg * Decimal(kg)) * factor).quantize(Decimal("0.01")))}
                      for kg in BREAKS_KG]
            rates.append({"zone": zone, "breaks": breaks, "per_kg_over_last": str(per_kg * factor)})
        transit = {str(z): int(days2 + per_zone * (z - 2)) for z in range(2, 9)}
        services.append({"code": code, "name": name, "transit_days": transit, "rates": rates,
                         "surcharges": {"fuel_pct": fuel}})
    remote = rng.randint(100, 899) * 100  # one extended delivery area of 100 ZIP codes
    return {
        "carrier": carrier, "currency": "USD", "origin_country": "US", "dim_divisor": rng.choice([5000, 6000]),
        "zones": zones,
        "surcharges": {
            "fuel_pct": "12.5", "residential": "5.15",
            "remote_areas": [{"country": "US", "from": "96700", "to": "96899", "fee": "38.00"},
                             {"country": "US", "from": "99500", "to": "99999", "fee": "38.00"},
                             {"country": "US", "from": f"{remote:05}", "to": f"{remote + 99:05}", "fee": "4.45"}],
            "oversize": {"longest_side_cm": 122, "fee": "32.00"},
        },
        "services": services,
    }


def shipments(n: int, rng: random.Random):
    first = date(2026, 11, 2)
    for _ in range(n):
        kg = Decimal(str(round(min(68.0, rng.lognormvariate(0.8, 0.9)), 2))) + Decimal("0.01")
        sides = sorted((Decimal(rng.randint(10, 130)) for _ in range(3)), reverse=True)
        ship = first + timedelta(days=rng.randint(0, 90))
        yield (rng.choice(ORIGINS), Place("US", f"{rng.randint(0, 99999):05}"), Parcel(kg, *sides), ship,
               add_business_days(ship, rng.randint(0, 5), HOLIDAYS), rng.random() < 0.4)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--parcels", type=int, default=20_000)
    ap.add_argument("--seed", type=int, default=1)
    args = ap.parse_args()
    rng = random.Random(args.seed)

    docs = [rate_table(c, rng) for c in CARRIERS]
    text = [json.dumps(d) for d in docs]
    parse_us, load_parse_us = [], []
    for _ in range(40):
        for d, t in zip(docs, text):
            t0 = time.perf_counter_ns()
            parse_rate_table(d)
            t1 = time.perf_counter_ns()
            parse_rate_table(json.loads(t))
            t2 = time.perf_counter_ns()
            parse_us.append((t1 - t0) / 1000)
            load_parse_us.append((t2 - t1) / 1000)
    tables = [parse_rate_table(d) for d in docs]
    history = {(c, s[0]): (lambda total: (int(total * rng.uniform(0.75, 0.99)), total))(rng.randint(0, 3000))
               for c in CARRIERS for s in SERVICES}
    late_cost = Decimal("15.00")

    work = list(shipments(args.parcels, rng))
    for origin, dest, parcel, ship, promise, residential in work[:500]:  # warm-up
        shop(quotes(tables, origin, dest, [parcel], ship, residential, holidays=HOLIDAYS), promise, history, late_cost)
    samples, cpu = [], []
    n_quotes = at_risk = no_quote = 0
    gc.collect()
    for origin, dest, parcel, ship, promise, residential in work:
        c0 = time.thread_time_ns()
        t0 = time.perf_counter_ns()
        found = quotes(tables, origin, dest, [parcel], ship, residential, holidays=HOLIDAYS)
        choice = shop(found, promise, history, late_cost)
        t1 = time.perf_counter_ns()
        samples.append((t1 - t0) / 1000)
        cpu.append((time.thread_time_ns() - c0) / 1000)
        n_quotes += len(found)
        at_risk += choice.promise_at_risk
        no_quote += choice.chosen is None

    print("== Rate shopping: one parcel, 5 carriers x 4 services (quotes + shop), pure Python ==")
    print(f"command: {command_line()}")
    print(f"machine: {os.cpu_count()} cores, Python {platform.python_version()}; "
          f"load average before: {os.getloadavg()[0]:.2f}")
    print(f"tables: {len(tables)} carriers x {len(SERVICES)} services, {len(ORIGINS)} origins x 10 ZIP3 bands, "
          f"{len(BREAKS_KG)} weight breaks up to 70 kg; {len(json.dumps(docs[0])):,} bytes of JSON each")
    print(f"parse one table:             p50 {statistics.median(parse_us):8.0f} us   max {max(parse_us):8.0f} us")
    print(f"json.loads + parse one table: p50 {statistics.median(load_parse_us):8.0f} us   max {max(load_parse_us):8.0f} us")
    print(f"{len(samples):,} calls, {n_quotes / len(samples):.1f} quotes per call, "
          f"promise at risk {at_risk:,}, no quote {no_quote:,}")
    print(f"quotes + shop per call:      p50 {pct(samples, 50):8.1f} us   p99 {pct(samples, 99):8.1f} us   "
          f"max {max(samples):8.1f} us   mean {statistics.fmean(samples):.1f} us")
    # CPU time of this thread per call: the wall-clock tail above also holds time the OS gave to other
    # processes (a busy machine); this one does not.
    print(f"  CPU time of the call:        p50 {pct(cpu, 50):8.1f} us   p99 {pct(cpu, 99):8.1f} us   "
          f"max {max(cpu):8.1f} us")
    print(f"load average after: {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
