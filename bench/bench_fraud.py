"""Fraud screening on PostgreSQL: a realistic order history with planted fraud, the model trained on
it (o2c.fraud.service.train), its precision and recall on held-out labelled orders, and the time to
score one order as the order gate does (o2c.fraud.service.assess).

The history (Core inserts, then ANALYZE): N orders of C regular customers over D days. Each customer
has its own rate (log-normal, about N / C orders over the period), 2-6 favourite products with their
own usual quantity, a preferred channel, and ships to its billing address (Chicago) or, for one in
ten, sometimes to a second site in Los Angeles. About 1% of the orders are planted fraud, in five
patterns: a quantity spike (15-40x the usual), a burst (6-10 orders within an hour; its first five orders look like any other and are neither
labelled nor counted), a high-risk
destination abroad, a foreign ship-to with a 3-6x quantity (subtle: the rules alone stay under the
threshold), and a new account whose first order is large and ships abroad.

Labels, as months of reviews would leave them: 60% of the planted frauds were rejected (label fraud,
order cancelled) and a random 2% of the ordinary orders were approved (label legit); the rest is
unlabelled. Training holds out 30% of the orders (labelled ones included) and reports precision and
recall at the company's threshold (0.7) on the held-out labelled orders, and on planted anomalies
(synthetic copies of held-out orders, see o2c.fraud.service._planted).

    .venv/bin/python bench/bench_fraud.py                       # 20,000 orders, 500 customers
    .venv/bin/python bench/bench_fraud.py --orders 5000 --customers 150
"""
from __future__ import annotations

import argparse
import math
import os
import random
import sys
import time
from datetime import datetime, timedelta, timezone
from decimal import Decimal
from pathlib import Path

from sqlalchemy import insert, select, update

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import analyze, command_line, log, machine, pct, seed_company, throwaway_db  # noqa: E402

END = datetime(2026, 11, 1, 12, 0, tzinfo=timezone.utc)
LA = ("Dock 4", "200 N Spring St", "Los Angeles", "CA", "90012", "US")
CHICAGO = ("Receiving", "100 W Randolph St", "Chicago", "IL", "60601", "US")
ABROAD = [("Lager", "Hauptstr. 5", "Berlin", None, "10115", "DE"), ("Entrepot", "5 rue de Rivoli", "Paris", None, "75001", "FR"),
          ("Almacen", "Av. Paulista 100", "Sao Paulo", "SP", "01310-100", "BR")]
HIGH_RISK = [("Receiver", "12 Valiasr St", "Tehran", None, "1193653471", "IR"),
             ("Receiver", "12 Pansodan Rd", "Yangon", None, "11181", "MM")]
CHANNELS = ["edi", "b2b_portal", "sales_rep", "email", "phone", "web"]
PATTERNS = ["quantity_spike", "burst", "high_risk_destination", "abroad_quantity", "new_account_abroad"]


class Gen:
    """The synthetic history: order dicts (customer index, time, channel, ship-to, lines, fraud pattern)."""

    def __init__(self, rng: random.Random, customers: int, products: int, days: int):
        self.rng, self.days = rng, days
        self.profiles = []
        for _ in range(customers):
            favs = rng.sample(range(products), rng.randint(2, 6))
            self.profiles.append({
                "rate": rng.lognormvariate(0, 0.8), "favs": favs,
                "qty": {p: max(1, round(rng.lognormvariate(math.log(8), 1.0))) for p in favs},
                "channel": rng.choice(CHANNELS), "second_site": rng.random() < 0.1,
                "start": 0 if rng.random() < 0.9 else rng.randint(10, days // 2),
            })

    def at(self, day: float) -> datetime:
        return END - timedelta(days=self.days - day)

    def ordinary(self, c: int, t: datetime) -> dict:
        p, rng = self.profiles[c], self.rng
        lines = [(f, max(1, round(p["qty"][f] * rng.lognormvariate(0, 0.3))))
                 for f in rng.sample(p["favs"], rng.randint(1, min(3, len(p["favs"]))))]
        ship = LA if p["second_site"] and rng.random() < 0.3 else CHICAGO
        channel = p["channel"] if rng.random() < 0.85 else rng.choice(CHANNELS)
        return {"customer": c, "at": t, "channel": channel, "ship": ship, "lines": lines, "pattern": None}

    def history(self, n: int) -> list[dict]:
        rng = self.rng
        weights = [p["rate"] * (self.days - p["start"]) / self.days for p in self.profiles]
        out = []
        for c in rng.choices(range(len(self.profiles)), weights=weights, k=n):
            day = rng.uniform(self.profiles[c]["start"], self.days)
            out.append(self.ordinary(c, self.at(day).replace(hour=rng.randint(13, 23), minute=rng.randint(0, 59))))
        return out

    def fraud(self, pattern: str, c: int, new_customer: int) -> list[dict]:
        rng = self.rng
        t = self.at(rng.uniform(self.days * 0.2, self.days)).replace(hour=rng.randint(0, 23))
        o = self.ordinary(c, t)
        o["pattern"] = pattern
        if pattern == "quantity_spike":
            o["lines"] = [(f, q * rng.randint(15, 40)) for f, q in o["lines"][:1]]
            o["channel"] = rng.choice(["web", o["channel"]])
        elif pattern == "burst":
            k = rng.randint(6, 10)
            # the first five look like any order of the customer: fraud, but unlabelled and not counted
            return [{**self.ordinary(c, t + timedelta(minutes=5 * i)), "channel": "web",
                     "pattern": pattern if i >= 5 else "burst_lead"} for i in range(k)]
        elif pattern == "high_risk_destination":
            o["ship"], o["channel"] = rng.choice(HIGH_RISK), "web"
        elif pattern == "abroad_quantity":
            o["ship"] = rng.choice(ABROAD)
            o["lines"] = [(f, q * rng.randint(3, 6)) for f, q in o["lines"]]
        else:  # new_account_abroad: a customer never seen before
            o["customer"], o["ship"], o["channel"] = new_customer, rng.choice(ABROAD), "web"
            o["lines"] = [(f, q * rng.randint(8, 20)) for f, q in o["lines"]]
        return [o]


def price(n: int) -> Decimal:
    return Decimal(10 + n % 90) + Decimal("0.99")


def write(world, orders: list[dict]) -> list[int]:
    from o2c.core.db import transaction
    from o2c.orders.models import Order, OrderLine

    def work(s):
        rows = []
        for i, o in enumerate(orders):
            net = sum(price(p) * q for p, q in o["lines"])
            tax = (net * Decimal("0.0625")).quantize(Decimal("0.01"))
            name, line1, city, region, postal, country = o["ship"]
            rows.append({
                "company_id": world.company_id, "customer_id": world.customer_ids[o["customer"]], "channel": o["channel"],
                "po_number": f"PO-{i}", "currency": "USD", "status": o.get("status", "delivered"),
                "ship_to_name": name, "ship_to_line1": line1, "ship_to_city": city, "ship_to_region": region,
                "ship_to_postal_code": postal, "ship_to_country": country, "order_date": o["at"].date(),
                "subtotal": net, "discount_total": Decimal(0), "tax_total": tax, "total": net + tax,
                "needed_correction": False, "auto_confirm": True, "order_discount": Decimal(0),
                "priority": 0, "shipment_state": "delivered", "entered_by": world.user_id, "created_at": o["at"],
                "updated_at": o["at"], "confirmed_at": o["at"], "version": 1})
        ids = s.scalars(insert(Order).returning(Order.id, sort_by_parameter_order=True), rows).all()
        lines = []
        for oid, o in zip(ids, orders):
            for n, (p, q) in enumerate(o["lines"], start=1):
                amount = price(p) * q
                lines.append({"order_id": oid, "line_no": n, "product_id": world.product_ids[p], "sku": world.skus[p],
                              "description": world.skus[p], "quantity": Decimal(q), "uom": "EA",
                              "list_price": price(p), "unit_price": price(p), "price_overridden": False,
                              "discount_pct": Decimal(0), "gross_amount": amount, "discount_amount": Decimal(0),
                              "net_amount": amount, "tax_class": "standard", "tax_rate_pct": Decimal("6.25"),
                              "tax_amount": (amount * Decimal("0.0625")).quantize(Decimal("0.01")),
                              "reserved_qty": Decimal(0), "backordered_qty": Decimal(0),
                              "shipped_qty": Decimal(q), "returned_qty": Decimal(0)})
        for k in range(0, len(lines), 20_000):
            s.execute(insert(OrderLine), lines[k:k + 20_000])
        return list(ids)
    return transaction(work)


def label(world, analyst_id: int, order_ids: list[int], orders: list[dict], rng: random.Random) -> tuple[int, int]:
    from o2c.core.db import transaction
    from o2c.fraud.models import FraudReview
    from o2c.orders.models import Order

    chosen = []
    for oid, o in zip(order_ids, orders):
        if o["pattern"] == "burst_lead":
            continue
        if o["pattern"] and rng.random() < 0.6:
            chosen.append((oid, o, "fraud"))
        elif not o["pattern"] and rng.random() < 0.02:
            chosen.append((oid, o, "legit"))

    def work(s):
        s.execute(insert(FraudReview), [
            {"company_id": world.company_id, "order_id": oid, "customer_id": world.customer_ids[o["customer"]], "score": Decimal("0.8"),
             "reasons": [], "model_id": None, "status": "rejected" if lab == "fraud" else "approved", "label": lab,
             "created_at": o["at"], "decided_by": analyst_id, "decided_at": o["at"] + timedelta(hours=2),
             "decision_reason": "bench: past decision"} for oid, o, lab in chosen])
        # rejected orders cancelled, as the review flow leaves them
        s.execute(update(Order).where(Order.id.in_([oid for oid, _, lab in chosen if lab == "fraud"]))
                  .values(status="cancelled"))
    transaction(work)
    return sum(1 for c in chosen if c[2] == "fraud"), sum(1 for c in chosen if c[2] == "legit")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--orders", type=int, default=20_000)
    ap.add_argument("--customers", type=int, default=500)
    ap.add_argument("--products", type=int, default=300)
    ap.add_argument("--days", type=int, default=180)
    ap.add_argument("--fraud-share", type=float, default=0.01)
    ap.add_argument("--score", type=int, default=1000, help="orders scored one by one, as the gate does")
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--keep-db", action="store_true")
    args = ap.parse_args()
    rng = random.Random(args.seed)
    print(f"command: {command_line()}\nmachine: {machine()}; load average before: {os.getloadavg()[0]:.2f}")

    with throwaway_db("fraud", keep=args.keep_db) as url:
        from o2c.core.auth import actor_for_user, create_user
        from o2c.core.db import read_session, transaction
        from o2c.core.models import Company, User
        from o2c.fraud import service
        from o2c.orders.models import Order
        from sqlalchemy.orm import selectinload

        new_accounts = max(5, int(args.orders * args.fraud_share / len(PATTERNS)) + 5)
        world = seed_company(url, customers=args.customers + new_accounts, products=args.products)
        analyst_id = transaction(lambda s: create_user(s, "analyst", ["fraud_analyst"], [world.company_id]).id)
        gen = Gen(rng, args.customers, args.products, args.days)
        frauds: list[dict] = []
        target = int(args.orders * args.fraud_share)
        k = 0
        while sum(1 for o in frauds if o["pattern"] in PATTERNS) < target:
            pattern = PATTERNS[k % len(PATTERNS)]
            frauds += gen.fraud(pattern, rng.randrange(args.customers), args.customers + k % new_accounts)
            k += 1
        orders = sorted(gen.history(args.orders - len(frauds)) + frauds, key=lambda o: o["at"])
        t0 = time.perf_counter()
        ids = write(world, orders)
        n_fraud, n_legit = label(world, analyst_id, ids, orders, rng)
        analyze(url)
        by_pattern = {p: sum(1 for o in frauds if o["pattern"] == p) for p in PATTERNS}
        log(f"history: {len(orders):,} orders of {args.customers} customers over {args.days} days, "
            f"{sum(by_pattern.values())} planted fraud ({', '.join(f'{p} {n}' for p, n in by_pattern.items())}); "
            f"labels: {n_fraud} fraud, {n_legit} legit ({time.perf_counter() - t0:.1f} s)")

        with read_session() as s:
            analyst = actor_for_user(s, s.get(User, analyst_id))
        stages: dict[str, float] = {}

        def progress(stage: str, done: int, total: int) -> None:
            stages.setdefault(stage, time.perf_counter())
            if done == total:
                log(f"  {stage}: {done:,}/{total:,} ({time.perf_counter() - stages[stage]:.1f} s)")

        t0 = time.perf_counter()
        model = transaction(lambda s: service.model_view(service.train(s, analyst, world.company_id, progress,
                                                                       seed=args.seed)))
        train_s = time.perf_counter() - t0
        m = model["metrics"]
        print(f"\ntrained on {model['trained_on']:,} orders in {train_s:.1f} s; held out {m['held_out_orders']:,}; "
              f"threshold {m['threshold']}")
        for name in ("labelled", "planted"):
            for how in ("model_and_rules", "rules_only"):
                r = m[name][how]
                print(f"  {name:9s} {how:16s} cases {r['cases']:6,}  fraud {r['fraud']:5,}  flagged {r['flagged']:5,}  "
                      f"precision {r['precision']}  recall {r['recall']}")

        # Recall per pattern on the held-out planted orders (labelled or not), model and rules vs rules alone.
        from o2c.fraud import model as forest
        from o2c.fraud.models import FraudModel
        with read_session() as s:
            bulk = service.bulk_features(s, world.company_id)
            fitted = forest.loads(s.scalar(select(FraudModel.blob).where(FraudModel.id == model["id"])))
        held = service.held_out(bulk.ids, random.Random(args.seed))
        pattern_of = {oid: o["pattern"] for oid, o in zip(ids, orders)}
        feats = {oid: x for oid, x in zip(bulk.ids, bulk.features)}
        thr = m["threshold"]
        print("\nheld-out planted orders caught, per pattern (model and rules / rules alone):")
        for p in PATTERNS:
            xs = [feats[oid] for oid in held if pattern_of.get(oid) == p]
            both, alone = service.score_features(fitted, xs), service.score_features(None, xs)
            print(f"  {p:22s} {len(xs):4d}  {sum(v >= thr for v in both):4d}  /  {sum(v >= thr for v in alone):4d}")
        normal = [feats[oid] for oid in held if pattern_of.get(oid) is None]
        flagged = sum(v >= thr for v in service.score_features(fitted, normal))
        print(f"  ordinary orders flagged: {flagged} of {len(normal):,} ({flagged / len(normal):.2%}); "
              f"rules alone {sum(v >= thr for v in service.score_features(None, normal))}")

        # Scoring as the gate does: one order at a time, its history read from the database.
        with read_session() as s:
            company = s.get(Company, world.company_id)
            sample = rng.sample(ids, min(args.score, len(ids)))
            loaded = s.scalars(select(Order).where(Order.id.in_(sample)).options(selectinload(Order.lines))).all()
            service.assess(s, company, loaded[0])  # the model is unpickled once per process
            times = []
            for o in loaded:
                t = time.perf_counter()
                service.assess(s, company, o)
                times.append((time.perf_counter() - t) * 1000)
        print(f"load average after: {os.getloadavg()[0]:.2f}")
        print(f"\nscoring one order (rules + model, history read from PostgreSQL), {len(times)} orders: "
              f"p50 {pct(times, 50):.2f} ms, p95 {pct(times, 95):.2f} ms, mean {sum(times) / len(times):.2f} ms")


if __name__ == "__main__":
    main()
