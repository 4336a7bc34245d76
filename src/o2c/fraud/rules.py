"""Fraud rules (pure, no I/O): an order's features from its customer's history, the rule hits with
points and a reason a person can read, and how rules and the anomaly model make one 0..1 score.

The flow is facts -> `features` -> `hits` (and the model's vector, see o2c.fraud.model). Hits are
computed from the features alone, so a planted anomaly (features changed on purpose, for the
model's evaluation) is scored exactly like a real order.

Each rule gives points 0..100, read as "how sure this rule alone is"; the rules' score is
1 - prod(1 - points/100) (a noisy-OR: independent signals add up, no single weak one holds an
order). With a model the order's score is 1 - (1 - rules)(1 - model). The default threshold (0.7,
Company.fraud_review_threshold) is set so that one strong signal (a burst of orders, a quantity ten
times the usual) or two medium ones (a foreign ship-to in a high-risk country) hold an order, and an
ordinary order of a customer without history does not.
"""
from __future__ import annotations

import math
from bisect import bisect_left, bisect_right
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal
from statistics import median

# High-risk destinations: a configurable default, not an authority. The starting list is the FATF
# "high-risk jurisdictions subject to a call for action" (DPRK, Iran, Myanmar). A company replaces it
# with its own list through the O2C_FRAUD_HIGH_RISK_COUNTRIES setting (comma-separated ISO codes),
# read by o2c.fraud.service.
HIGH_RISK_COUNTRIES: frozenset[str] = frozenset({"KP", "IR", "MM"})

# Channels where the buyer is not known in person (card-not-present) add a little.
CHANNEL_POINTS: dict[str, int] = {"web": 10}

# Rule points (0..100); see the module docstring for how they combine.
BURST_1H_POINTS = 75  # more orders in an hour than six of the customer's usual days
BURST_24H_POINTS = 45  # more orders in a day than five of the customer's usual days
BURST_NEW_POINTS = 30  # ten orders in an hour from a customer with little history
FAR_COUNTRY_POINTS = 35  # ship-to in another country than the billing address
FAR_REGION_POINTS = 15  # same country, another postal region
HIGH_RISK_POINTS = 60
QTY_HUGE_POINTS = 70  # a line 10x the customer's median quantity of the product
QTY_HIGH_POINTS = 40  # 4x
TOTAL_HUGE_POINTS = 50  # the order total 10x the customer's median total
TOTAL_HIGH_POINTS = 25  # 4x
NEW_LARGE_POINTS = 40  # a new customer's first order 5x the company's typical order

MIN_HISTORY = 5  # past orders (or past lines of a product) needed before "usual" means anything
MIN_COMPANY_ORDERS = 20  # the company's typical order needs this many orders
USUAL_WINDOW_DAYS = 90  # the customer's usual rate is counted over this many days before the last 24h


@dataclass
class History:
    """A customer's earlier orders in one company, enough for the rules: order times (ascending,
    every status: a burst counts cancelled orders too), and the totals and line quantities per
    product, with their times, of the orders not cancelled (the baseline of what is usual)."""

    times: list[datetime] = field(default_factory=list)
    totals: list[tuple[datetime, Decimal]] = field(default_factory=list)
    qty_by_product: dict[int, list[tuple[datetime, Decimal]]] = field(default_factory=dict)

    def add(self, at: datetime, total: Decimal, lines, cancelled: bool = False) -> None:
        """Add an order (bulk feature computation walks a customer's orders in time order)."""
        self.times.insert(bisect_right(self.times, at), at)
        if not cancelled:
            self.totals.append((at, total))
            for product_id, qty in lines:
                self.qty_by_product.setdefault(product_id, []).append((at, qty))


@dataclass(frozen=True)
class Facts:
    """An order as the rules see it. `lines` are (product_id, sku, quantity); `batch_times` the times
    of this customer's earlier orders in the same bulk import (not written yet);
    `company_typical_total` the median order total of the company (None when it has too few)."""

    at: datetime
    channel: str
    total: Decimal
    lines: tuple[tuple[int, str, Decimal], ...]
    ship_country: str | None
    ship_postal: str | None
    bill_country: str | None
    bill_postal: str | None
    history: History
    batch_times: tuple[datetime, ...] = ()
    company_typical_total: Decimal | None = None
    high_risk: frozenset[str] = HIGH_RISK_COUNTRIES


@dataclass(frozen=True)
class Features:
    """The numbers every rule and the model read, with what a reason needs to name."""

    orders_1h: int  # including this order
    orders_24h: int
    usual_per_day: float | None  # None: fewer than MIN_HISTORY orders before the last 24h
    history_orders: int
    total: float
    total_ratio: float | None  # total / the customer's median total; None without enough history
    qty_ratio: float | None  # the largest line quantity / that product's median for this customer
    qty_z: float | None  # its robust z-score (median and MAD)
    qty_sku: str | None
    qty_value: float | None
    qty_usual: float | None
    ship_distance: int  # 0 same region, 1 same country other postal region, 2 other country
    ship_country: str | None
    bill_country: str | None
    high_risk_destination: bool
    new_customer_ratio: float | None  # a first order's total / the company's typical total
    channel: str


@dataclass(frozen=True)
class Hit:
    code: str
    points: int
    reason: str


def postal_region(country: str | None, postal: str | None) -> str | None:
    """The coarse area of a postal code, without geocoding data: the first character for the US (its
    ten national ZIP areas), the first two elsewhere (German and French areas, UK postcode areas...).
    Good enough to tell "same town" from "other end of the country"; not a distance."""
    if not postal:
        return None
    p = "".join(ch for ch in postal.upper() if ch.isalnum())
    if not p:
        return None
    return p[:1] if (country or "").upper() == "US" else p[:2]


def ship_distance(ship_country, ship_postal, bill_country, bill_postal) -> int:
    """0 near (or unknown), 1 same country but another postal region, 2 another country."""
    if not ship_country or not bill_country:
        return 0
    if ship_country.upper() != bill_country.upper():
        return 2
    a, b = postal_region(ship_country, ship_postal), postal_region(bill_country, bill_postal)
    return 1 if a and b and a != b else 0


def _robust_z(value: float, sample: list[float]) -> float:
    """How far `value` is above the sample's median in robust standard deviations (1.4826 MAD);
    a sample without spread gives infinity for anything above its median."""
    med = median(sample)
    mad = median(abs(x - med) for x in sample) * 1.4826
    if mad == 0:
        return math.inf if value > med else 0.0
    return (value - med) / mad


def features(f: Facts) -> Features:
    h = f.history
    extra = sorted(f.batch_times)
    times = h.times

    def count_since(start: datetime) -> int:
        n = len(times) - bisect_right(times, start) if times else 0
        n -= len(times) - bisect_right(times, f.at)  # later orders (a recheck) do not count
        return n + sum(1 for t in extra if start < t <= f.at)

    orders_1h = 1 + count_since(f.at - timedelta(hours=1))
    orders_24h = 1 + count_since(f.at - timedelta(hours=24))
    window_end = f.at - timedelta(hours=24)
    window_start = window_end - timedelta(days=USUAL_WINDOW_DAYS)
    before = times[bisect_left(times, window_start):bisect_right(times, window_end)]
    usual = None
    if len(before) >= MIN_HISTORY:
        span = (window_end - before[0]).total_seconds() / 86400 + 1  # the days the orders cover, both ends
        usual = len(before) / min(max(span, 7.0), float(USUAL_WINDOW_DAYS))
    history_orders = bisect_right(times, f.at) + len(extra)

    # What is usual is what the customer ordered before the last 24 hours: today's orders may be
    # the attack itself (small test orders before a large one).
    total = float(f.total)
    total_ratio = None
    totals = [t for at, t in h.totals if at <= window_end]
    if len(totals) >= MIN_HISTORY:
        med = float(median(totals))
        total_ratio = total / med if med > 0 else None

    qty_ratio = qty_z = qty_value = qty_usual = None
    qty_sku = None
    for product_id, sku, qty in f.lines:
        sample = [float(q) for at, q in h.qty_by_product.get(product_id, ()) if at <= window_end]
        if len(sample) < MIN_HISTORY:
            continue
        med = median(sample)
        ratio = float(qty) / med if med > 0 else math.inf
        if qty_ratio is None or ratio > qty_ratio:
            qty_ratio, qty_z = ratio, _robust_z(float(qty), sample)
            qty_sku, qty_value, qty_usual = sku, float(qty), med

    new_ratio = None
    if history_orders == 0 and f.company_typical_total and f.company_typical_total > 0:
        new_ratio = total / float(f.company_typical_total)

    return Features(
        orders_1h=orders_1h, orders_24h=orders_24h, usual_per_day=usual, history_orders=history_orders,
        total=total, total_ratio=total_ratio, qty_ratio=qty_ratio, qty_z=qty_z, qty_sku=qty_sku,
        qty_value=qty_value, qty_usual=qty_usual,
        ship_distance=ship_distance(f.ship_country, f.ship_postal, f.bill_country, f.bill_postal),
        ship_country=f.ship_country, bill_country=f.bill_country,
        high_risk_destination=bool(f.ship_country) and f.ship_country.upper() in f.high_risk,
        new_customer_ratio=new_ratio, channel=f.channel,
    )


def _n(x: float) -> str:
    return f"{x:,.0f}" if abs(x) >= 10 or x == int(x) else f"{x:,.1f}"


def hits(x: Features) -> list[Hit]:
    """The rules that fire on an order, strongest first."""
    out: list[Hit] = []
    if x.usual_per_day is not None:
        usual = max(x.usual_per_day, 0.5)  # a quiet customer's usual day counts as half an order
        if x.orders_1h >= 6 and x.orders_1h >= 6 * usual:
            out.append(Hit("velocity_burst", BURST_1H_POINTS,
                           f"{x.orders_1h} orders in the last hour ({x.orders_24h} in 24 h); "
                           f"this customer usually places {_n(x.usual_per_day)} a day"))
        elif x.orders_24h >= 5 and x.orders_24h >= 5 * usual:
            out.append(Hit("velocity_high", BURST_24H_POINTS,
                           f"{x.orders_24h} orders in the last 24 h; this customer usually places "
                           f"{_n(x.usual_per_day)} a day"))
    elif x.orders_1h >= 10:
        out.append(Hit("velocity_new", BURST_NEW_POINTS,
                       f"{x.orders_1h} orders in the last hour from a customer with little history"))
    if x.qty_ratio is not None and x.qty_z is not None:
        what = (f"{_n(x.qty_value)} × {x.qty_sku} is {_n(x.qty_ratio)}× this customer's usual "
                f"{_n(x.qty_usual)}")
        if x.qty_ratio >= 10 and x.qty_z >= 5:
            out.append(Hit("quantity_huge", QTY_HUGE_POINTS, what))
        elif x.qty_ratio >= 4 and x.qty_z >= 3.5:
            out.append(Hit("quantity_high", QTY_HIGH_POINTS, what))
    if x.total_ratio is not None:
        if x.total_ratio >= 10:
            out.append(Hit("total_huge", TOTAL_HUGE_POINTS,
                           f"order total {_n(x.total_ratio)}× this customer's usual order"))
        elif x.total_ratio >= 4:
            out.append(Hit("total_high", TOTAL_HIGH_POINTS,
                           f"order total {_n(x.total_ratio)}× this customer's usual order"))
    if x.high_risk_destination:
        out.append(Hit("high_risk_destination", HIGH_RISK_POINTS,
                       f"ships to {x.ship_country}, on the high-risk destination list"))
    if x.ship_distance == 2:
        out.append(Hit("ship_to_other_country", FAR_COUNTRY_POINTS,
                       f"ships to {x.ship_country}, billed in {x.bill_country}"))
    elif x.ship_distance == 1:
        out.append(Hit("ship_to_other_region", FAR_REGION_POINTS,
                       f"ships to another postal region of {x.ship_country} than the billing address"))
    if x.new_customer_ratio is not None and x.new_customer_ratio >= 5:
        out.append(Hit("new_customer_large_order", NEW_LARGE_POINTS,
                       f"a new customer's first order, {_n(x.new_customer_ratio)}× the company's typical order"))
    if CHANNEL_POINTS.get(x.channel):
        out.append(Hit("channel", CHANNEL_POINTS[x.channel], f"placed through the {x.channel} channel"))
    return sorted(out, key=lambda h: -h.points)


def rule_score(found: list[Hit]) -> float:
    """Noisy-OR of the hits' points: 1 - prod(1 - points/100)."""
    keep = 1.0
    for h in found:
        keep *= 1 - min(max(h.points, 0), 100) / 100
    return 1 - keep


def combine(rules: float, model: float | None) -> float:
    """The order's score: the rules, and the model's when there is one, as independent signals."""
    if model is None:
        return rules
    return 1 - (1 - rules) * (1 - min(max(model, 0.0), 1.0))


def vector(x: Features) -> list[float]:
    """The model's numeric view of an order (names in FEATURES). Ratios are taken as logarithms so
    10x and 1/10x are equally far; a missing baseline counts as usual (0)."""
    usual = max(x.usual_per_day or 0.0, 0.5)
    return [
        math.log1p(max(x.total, 0.0)),
        math.log(x.total_ratio) if x.total_ratio and x.total_ratio > 0 else 0.0,
        math.log(min(x.qty_ratio, 1e6)) if x.qty_ratio and x.qty_ratio > 0 else 0.0,
        float(x.orders_1h),
        x.orders_24h / usual,
        float(x.ship_distance),
        1.0 if x.high_risk_destination else 0.0,
        math.log1p(x.history_orders),
        CHANNEL_POINTS.get(x.channel, 0) / 100,
    ]


# The model's features, in `vector` order, with words for a reason.
FEATURES: tuple[tuple[str, str], ...] = (
    ("log_total", "order total"),
    ("log_total_ratio", "total against the customer's usual order"),
    ("log_quantity_ratio", "largest line quantity against the customer's usual"),
    ("orders_1h", "orders in the last hour"),
    ("orders_24h_vs_usual", "orders in 24 h against the customer's usual day"),
    ("ship_distance", "ship-to distance from the billing address"),
    ("high_risk_destination", "high-risk destination"),
    ("log_history_orders", "number of earlier orders"),
    ("channel_risk", "channel"),
)
