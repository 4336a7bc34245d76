"""Warehouse allocation, pure: which warehouse ships which line, for one order or for a whole wave.

Inputs are plain values: each order's `Demand` (lines with Decimal quantities and unit weights, a
priority and an order date), `available` stock per (product, warehouse), and a `Shipping` model the
caller supplies (the product builds it from carrier rate tables: `cost` of one parcel of a given weight
from a warehouse to the order's ship-to, `days` in transit; zones stand for distance, so the nearest
warehouse is the cheapest and fastest). A warehouse can ship an order only when the model gives both
a cost and a transit time; a `None` means it cannot ship there, and it is never used for that order.

Policies (configurable per channel by the caller):
- `cost`: one warehouse that can ship every line, the cheapest; split across warehouses only when no
  single one can, and then the cheapest split. Order of preference: (split or not, cost).
- `fewest_parcels`: as few warehouses as possible, then the lowest cost: (parcels, cost).
- `speed`: each line ships from the fastest warehouse that has it, splits allowed; one parcel when it
  is as fast as any split. Order of preference: (days, cost), where "days" sums over the order's
  lines the transit days of each line's units averaged (a line split 3 units at 1 day and 1 at 3
  days counts 1.5).

Stock comes first, for every policy: an order gets as much of each line as there is in the
warehouses that can ship to it. In a wave, scarce stock goes to orders by rank: higher priority
first, then the older order date (none counts as newest), then the lower order id.

One order (`choose_for_order`): the warehouse sets are enumerated (singles first; splits only where
the policy allows, up to `MAX_SPLITS` sets tried); each set is filled line by line from its cheapest
(for `speed`: fastest, smallest lines first) warehouse first and also from the other end, each plan
is priced with the real cost model, and the best by the policy's order of preference wins.

A wave, greedily (`greedy_wave`): the orders one at a time by rank, each taking `choose_for_order`
against what the earlier ones left. This is the baseline.

A wave, optimised (`optimise_wave`), in two stages:
1. Service (who gets scarce stock). Per product, the most each line can get, giving stock to lines
   by rank. With every warehouse able to ship to every order wanting a product this is a walk in rank
   order; otherwise one linear programme (HiGHS) maximises the rank-weighted quantity served. The
   served quantities of a product form a polymatroid (a flow from lines to warehouses), so weights
   that merely decrease with rank already give the rank-by-rank best ("lexicographic") answer: an
   older order is never shorted to serve a younger one more.
2. Routing (which warehouse ships those quantities). Every order is first planned alone against the
   full stock (its "own best"; greedy's plan for it where that is better). A product is contended
   when some warehouse holds less of it than the own-best plans ask there. Orders without a contended
   product keep their own best; the others (7,833 of the benchmark's 10,000) go into one
   mixed-integer programme (HiGHS) with the stock that remains. The model chooses one plan per order
   from a few offered: every single warehouse that can ship the order's quantities, its best splits
   (`SPLITS_PER_ORDER`: the policy's best of the warehouse sets, each filled from either end), its
   own best, the plan it gets when the orders are taken one at a time by rank, and its plan in a
   transport LP that routes every unit at once (parcels not counted). The last two each fit the stock
   as a whole, so the model always has an answer, and the solver starts from the better of them.
     z[order, plan] binary;  sum of an order's z = 1;
     per (product, warehouse): sum of z x units the plan takes there <= stock.
   Plans are priced with the real cost model (rate steps and all, nothing linearised). Two solves,
   lexicographic: first the units short of the stage-1 quantities (a safety valve, weighing more than
   everything else and more for better-ranked orders) plus the policy's criterion (split orders for
   `cost`, parcels for `fewest_parcels`, line-days for `speed`); then, holding that, the cost.
   Quantities enter the model as whole units of each product's finest decimal, so takes come back
   exact.

   Why plans and not a flow model (integer units per line and warehouse, a binary per order and
   warehouse, cost linearised as fixed + per kg), the first version: its LP relaxation was weak (40%
   under the optimum with a split penalty) and 558 contended orders of 1,000 took 20 s, where 10,000
   orders must fit in a minute. The plan model does the 1,000 in about 2 s with the same number of
   split orders at 0.3% more cost, and the 10,000 in 27-57 s (bench/README.md). Its limits: it only
   picks among the plans offered, and orders kept at their own best stay there, even where one of
   them holds the stock a contended order needs to ship in one parcel. Then the answer can come out
   worse than greedy's and greedy's is returned (about one random wave of 1-6 orders in 10,000, as
   the tests draw them). Letting those orders move to another single warehouse cured it but cost 40%
   more time on the benchmark for no saving there.

The reported costs are always the real cost model's, per parcel. The optimised answer is compared
with greedy's by (service by rank, then the policy's order of preference); when it is not at least
as good (or the solver ran out of time without an answer) the result is greedy's, and `method` says
so.

Money: costs are the model's Decimals, summed exactly (no rounding needed); only the saving
percentage is rounded, to 0.01.
"""
from __future__ import annotations

import time
from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from decimal import ROUND_FLOOR, ROUND_HALF_UP, Decimal
from fractions import Fraction
from itertools import combinations
from typing import Protocol

import highspy

from o2c.core.errors import ErrorList, ValidationFailed
from o2c.core.money import ZERO, plain
from o2c.inventory.rules import Take

__all__ = [
    "COST", "SPEED", "FEWEST_PARCELS", "POLICIES", "Allocation", "Demand", "DemandLine", "Shipping", "Take",
    "WaveResult", "choose_for_order", "compare", "greedy_wave", "optimise_wave",
]

COST, SPEED, FEWEST_PARCELS = "cost", "speed", "fewest_parcels"
POLICIES = (COST, SPEED, FEWEST_PARCELS)
PROBE_KG = Decimal("0.5")  # a small parcel: asks the cost model whether a warehouse ships to an order at all
MAX_DECIMALS = 6  # a quantity's decimals; beyond that, whole units of the quantum overflow a float's precision
MAX_SPLITS = 64  # warehouse sets of two or more tried for one order (all of them up to 7 warehouses)
SPLITS_PER_ORDER = 20  # split plans the wave model may choose from per order (the policy's best)
MIP_GAP = 1e-4  # relative: the solver stops when its answer is provably within 0.01% of the best
_INF = highspy.kHighsInf


# --- inputs and results -------------------------------------------------------------------------


@dataclass(frozen=True)
class DemandLine:
    line_id: int
    product_id: int
    quantity: Decimal
    unit_weight_kg: Decimal


@dataclass(frozen=True)
class Demand:
    order_id: int
    lines: tuple[DemandLine, ...]
    priority: int = 0  # higher is served first
    order_date: date | None = None  # older is served first among equal priorities


class Shipping(Protocol):
    def cost(self, order_id: int, warehouse_id: int, weight_kg: Decimal) -> Decimal | None:
        """Estimated cost of one parcel of that weight to the order's ship-to; None: cannot ship there."""

    def days(self, order_id: int, warehouse_id: int) -> int | None:
        """Transit days to the order's ship-to; None: cannot ship there."""


@dataclass(frozen=True)
class Allocation:
    order_id: int
    takes: tuple[Take, ...]
    short: Mapping[int, Decimal]  # line id -> quantity not allocated (0 for a line served in full)
    parcels: int  # warehouses shipping (one parcel each)
    est_cost: Decimal
    est_days: int | None  # until the last parcel arrives; None when nothing ships
    reason: str

    @property
    def complete(self) -> bool:
        return not any(self.short.values())

    @property
    def warehouses(self) -> tuple[int, ...]:
        return tuple(sorted({t.warehouse_id for t in self.takes}))


@dataclass
class WaveResult:
    allocations: dict[int, Allocation]  # by order id, in rank order
    total_cost: Decimal
    short_lines: int
    method: str  # "greedy", "optimised", or "greedy (...)" when the optimiser's answer was not used
    solver_status: str
    seconds: float

    @property
    def parcels(self) -> int:
        return sum(a.parcels for a in self.allocations.values())

    @property
    def split_orders(self) -> int:
        return sum(1 for a in self.allocations.values() if a.parcels > 1)


# --- checks -------------------------------------------------------------------------------------


def _is_decimal(v: object) -> bool:
    return isinstance(v, Decimal) and v.is_finite()


def _decimals(q: Decimal) -> int:
    exp = q.normalize().as_tuple().exponent
    return max(0, -exp) if isinstance(exp, int) else 0


def _check(demands: Sequence[Demand], available: Mapping[tuple[int, int], Decimal], policy: str,
           prefix: str | None) -> None:
    """Refuse bad input, naming each field. `prefix` None: one order, fields named from its lines."""
    errors = ErrorList()
    if policy not in POLICIES:
        errors.add("policy", "unknown_policy", f"policy must be one of {', '.join(POLICIES)}, not {policy!r}")
    orders: set[int] = set()
    lines: set[int] = set()
    for i, d in enumerate(demands):
        at = "" if prefix is None else f"{prefix}[{i}]."
        if d.order_id in orders:
            errors.add(f"{at}order_id", "duplicate", f"order {d.order_id} appears twice in the wave")
        orders.add(d.order_id)
        if not d.lines:
            errors.add(f"{at}lines", "empty", f"order {d.order_id} has no lines to allocate")
        if not isinstance(d.priority, int) or isinstance(d.priority, bool):
            errors.add(f"{at}priority", "invalid", f"priority of order {d.order_id} must be a whole number")
        if d.order_date is not None and not isinstance(d.order_date, date):
            errors.add(f"{at}order_date", "invalid", f"order date of order {d.order_id} must be a date or None")
        for j, ln in enumerate(d.lines):
            la = f"{at}lines[{j}]"
            if ln.line_id in lines:
                errors.add(f"{la}.line_id", "duplicate", f"line {ln.line_id} appears twice")
            lines.add(ln.line_id)
            if not _is_decimal(ln.quantity) or ln.quantity <= 0:
                errors.add(f"{la}.quantity", "invalid",
                           f"quantity of line {ln.line_id} must be a Decimal above 0, not {ln.quantity!r}")
            elif _decimals(ln.quantity) > MAX_DECIMALS:
                errors.add(f"{la}.quantity", "too_precise",
                           f"quantity of line {ln.line_id} has more than {MAX_DECIMALS} decimals")
            if not _is_decimal(ln.unit_weight_kg) or ln.unit_weight_kg < 0:
                errors.add(f"{la}.unit_weight_kg", "invalid",
                           f"unit weight of line {ln.line_id} must be a Decimal of 0 kg or more, "
                           f"not {ln.unit_weight_kg!r}")
    for (p, w), v in available.items():
        if not _is_decimal(v) or v < 0:
            errors.add(f"available[{p}, {w}]", "invalid",
                       f"available quantity of product {p} in warehouse {w} must be a Decimal of 0 or more, "
                       f"not {v!r}")
    errors.raise_if_any("the allocation request is not valid")


# --- shared context: stock in whole quanta, the cost model memoised -------------------------------


def _floor_to(v: Decimal, quantum: Decimal) -> Decimal:
    return (v / quantum).to_integral_value(rounding=ROUND_FLOOR) * quantum


class _Context:
    def __init__(self, demands: Sequence[Demand], available: Mapping[tuple[int, int], Decimal],
                 shipping: Shipping, policy: str, names: Mapping[int, str] | None):
        self.policy = policy
        self.names = names or {}
        self.shipping = shipping
        # Each product's quantum: its lines' finest decimal (whole units for products sold by the piece).
        # Stock is floored to it: a take is always a whole number of quanta.
        exps: dict[int, int] = {}
        for d in demands:
            for ln in d.lines:
                e = min(0, -_decimals(ln.quantity))
                exps[ln.product_id] = min(exps.get(ln.product_id, 0), e)
        self.quantum = {p: Decimal(1).scaleb(e) for p, e in exps.items()}
        self.stock: dict[tuple[int, int], Decimal] = {}
        for (p, w), v in available.items():
            if p in self.quantum and v > 0:
                q = _floor_to(v, self.quantum[p])
                if q > 0:
                    self.stock[(p, w)] = q
        self.warehouses = sorted({w for (_, w) in self.stock})
        self._costs: dict[tuple[int, int, Decimal], Decimal | None] = {}
        self._days: dict[tuple[int, int], int | None] = {}

    def name(self, w: int) -> str:
        return self.names.get(w, f"warehouse {w}")

    def cost(self, o: int, w: int, kg: Decimal) -> Decimal | None:
        key = (o, w, kg)
        if key not in self._costs:
            c = self.shipping.cost(o, w, kg)
            if c is not None and (not _is_decimal(c) or c < 0):
                raise ValidationFailed.one(
                    "shipping", "invalid_cost",
                    f"the shipping model gave {c!r} for order {o} from warehouse {w}: a cost must be a Decimal "
                    f"of 0 or more, or None")
            self._costs[key] = c
        return self._costs[key]

    def days(self, o: int, w: int) -> int | None:
        key = (o, w)
        if key not in self._days:
            d = self.shipping.days(o, w)
            if d is not None and (not isinstance(d, int) or isinstance(d, bool) or d < 0):
                raise ValidationFailed.one(
                    "shipping", "invalid_days",
                    f"the shipping model gave {d!r} transit days for order {o} from warehouse {w}: "
                    f"days must be a whole number of 0 or more, or None")
            self._days[key] = d
        return self._days[key]

    def usable(self, o: int, w: int) -> bool:
        return self.days(o, w) is not None and self.cost(o, w, PROBE_KG) is not None


def _rank_key(d: Demand) -> tuple:
    return (-d.priority, d.order_date is None, d.order_date or date.min, d.order_id)


def _ranked(demands: Sequence[Demand]) -> list[Demand]:
    return sorted(demands, key=_rank_key)


# --- one order ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Plan:
    takes: tuple[Take, ...]
    weights: Mapping[int, Decimal]  # warehouse -> parcel weight
    cost: Decimal
    line_days: Fraction  # sum over lines of their units' mean transit days (worked out for `speed` only)
    days: Mapping[int, int]  # warehouse -> transit days

    @property
    def parcels(self) -> int:
        return len(self.weights)

    @property
    def warehouses(self) -> tuple[int, ...]:
        return tuple(sorted(self.weights))

    @property
    def max_days(self) -> int | None:
        return max(self.days.values()) if self.days else None


_NOTHING = _Plan((), {}, ZERO, Fraction(0), {})


def _preference(policy: str, plan: _Plan) -> tuple:
    """The policy's order of preference between two plans that serve the same quantities."""
    if policy == SPEED:
        return (plan.line_days, plan.cost, plan.parcels)
    if policy == FEWEST_PARCELS:
        return (plan.parcels, plan.cost)
    return (plan.parcels > 1, plan.cost, plan.parcels)


def _primary(policy: str, plan: _Plan) -> Fraction:
    """The part of the preference that comes before cost, as one number (the wave weighs it heavily)."""
    if policy == SPEED:
        return plan.line_days
    if policy == FEWEST_PARCELS:
        return Fraction(plan.parcels)
    return Fraction(int(plan.parcels > 1))


def _evaluate(d: Demand, takes: Sequence[Take], targets: Mapping[int, Decimal], ctx: _Context) -> _Plan | None:
    """Price a set of takes with the real model (None if a parcel is too heavy for a warehouse)."""
    unit_kg = {ln.line_id: ln.unit_weight_kg for ln in d.lines}
    weights: dict[int, Decimal] = defaultdict(lambda: ZERO)
    for t in takes:
        weights[t.warehouse_id] += t.quantity * unit_kg[t.line_id]
    cost = ZERO
    for w, kg in weights.items():
        c = ctx.cost(d.order_id, w, kg)
        if c is None:
            return None
        cost += c
    days = {w: ctx.days(d.order_id, w) for w in weights}
    line_days = Fraction(0)
    if ctx.policy == SPEED:  # exact fractions, only where they decide
        unit_days: dict[int, Fraction] = defaultdict(Fraction)
        for t in takes:
            unit_days[t.line_id] += Fraction(t.quantity) * days[t.warehouse_id]
        line_days = sum((v / Fraction(targets[lid]) for lid, v in unit_days.items()), Fraction(0))
    return _Plan(tuple(takes), dict(weights), cost, line_days, days)


def _fill(d: Demand, targets: Mapping[int, Decimal], order: Sequence[int],
          stock: Mapping[tuple[int, int], Decimal], ctx: _Context) -> _Plan | None:
    """Each line from the warehouses in `order`, first one first; None if they cannot cover the targets."""
    left: dict[tuple[int, int], Decimal] = {}
    takes: list[Take] = []
    lines = d.lines
    if ctx.policy == SPEED:  # the fastest units to the smallest lines: each unit saves them the most line-days
        lines = sorted(lines, key=lambda ln: targets.get(ln.line_id, ZERO))
    for ln in lines:
        want = targets.get(ln.line_id, ZERO)
        for w in order:
            if want <= 0:
                break
            key = (ln.product_id, w)
            have = left.get(key, stock.get(key, ZERO))
            if have <= 0:
                continue
            q = min(have, want)
            takes.append(Take(ln.line_id, ln.product_id, w, q))
            left[key] = have - q
            want -= q
        if want > 0:
            return None
    return _evaluate(d, takes, targets, ctx)


def _order_weight(d: Demand, targets: Mapping[int, Decimal]) -> Decimal:
    return sum((targets.get(ln.line_id, ZERO) * ln.unit_weight_kg for ln in d.lines), ZERO)


@dataclass
class _Options:
    """Ways to ship one order's targets from some stock."""

    singles: list[_Plan]  # one parcel each, policy's best first
    fastest: _Plan | None  # every line from the fastest warehouses that have it (speed order)
    cheapest: _Plan | None  # every line from the cheapest warehouses that have it
    cands: list[int]  # warehouses that can ship to the order and hold some of it, cheapest first
    speed_order: list[int]

    def splits(self, d: Demand, targets: Mapping[int, Decimal], stock: Mapping[tuple[int, int], Decimal],
               ctx: _Context, *, largest: int | None = None) -> list[_Plan]:
        """Plans from sets of two or more warehouses (at most MAX_SPLITS sets, fewest warehouses first)."""
        plans = [p for p in (self.fastest, self.cheapest) if p is not None and p.parcels > 1]
        tried = 0
        for k in range(2, min(len(self.cands), largest or len(self.cands)) + 1):
            found = False
            for subset in combinations(self.cands, k):
                if tried >= MAX_SPLITS:
                    return plans
                tried += 1
                order = sorted(subset, key=self.speed_order.index) if ctx.policy == SPEED else list(subset)
                # Filling from either end gives the two extreme splits of the set.
                for o in (order, order[::-1]):
                    plan = _fill(d, targets, o, stock, ctx)
                    if plan is not None and plan.parcels > 1:
                        plans.append(plan)
                        found = True
            if found and ctx.policy == FEWEST_PARCELS:
                break  # more warehouses only mean more parcels
        return plans


def _options(d: Demand, targets: Mapping[int, Decimal], stock: Mapping[tuple[int, int], Decimal],
             ctx: _Context) -> _Options:
    need: dict[int, Decimal] = defaultdict(lambda: ZERO)
    for ln in d.lines:
        if targets.get(ln.line_id, ZERO) > 0:
            need[ln.product_id] += targets[ln.line_id]
    o = d.order_id
    cands = [w for w in ctx.warehouses
             if need and ctx.usable(o, w) and any(stock.get((p, w), ZERO) > 0 for p in need)]
    whole = _order_weight(d, targets)

    def price(w: int) -> tuple:  # the whole order's price from there, then days
        c = ctx.cost(o, w, whole)
        return (c is None, c or ZERO, ctx.days(o, w), w)

    cands.sort(key=price)
    speed_order = sorted(cands, key=lambda w: (ctx.days(o, w), price(w)))
    singles = [p for w in cands
               if all(stock.get((pid, w), ZERO) >= q for pid, q in need.items())
               and (p := _fill(d, targets, [w], stock, ctx)) is not None]
    singles.sort(key=lambda p: _preference(ctx.policy, p))
    return _Options(singles, _fill(d, targets, speed_order, stock, ctx), _fill(d, targets, cands, stock, ctx),
                    cands, speed_order)


@dataclass(frozen=True)
class _Choice:
    plan: _Plan
    best_single: _Plan | None  # the best one-parcel plan, when one exists


def _best_plan(d: Demand, targets: Mapping[int, Decimal], stock: Mapping[tuple[int, int], Decimal],
               ctx: _Context) -> _Choice:
    """The policy's best way to ship exactly `targets` for one order from `stock`."""
    if not any(targets.get(ln.line_id, ZERO) > 0 for ln in d.lines):
        return _Choice(_NOTHING, None)
    opts = _options(d, targets, stock, ctx)
    best_single = opts.singles[0] if opts.singles else None
    if best_single is not None and ctx.policy != SPEED:
        return _Choice(best_single, best_single)
    if best_single is not None and (opts.fastest is None or best_single.line_days <= opts.fastest.line_days):
        return _Choice(best_single, best_single)  # one parcel is as fast as any split
    plans = opts.singles + opts.splits(d, targets, stock, ctx)
    if not plans:  # the targets fit the stock but no warehouse set can ship the weight
        return _Choice(_NOTHING, None)
    return _Choice(min(plans, key=lambda p: _preference(ctx.policy, p)), best_single)


def _targets_alone(d: Demand, stock: Mapping[tuple[int, int], Decimal], ctx: _Context) -> dict[int, Decimal]:
    """As much of each line as the warehouses able to ship to the order hold (lines in order)."""
    reach = [w for w in ctx.warehouses if ctx.usable(d.order_id, w)]
    left: dict[int, Decimal] = {}
    out: dict[int, Decimal] = {}
    for ln in d.lines:
        p = ln.product_id
        if p not in left:
            left[p] = sum((stock.get((p, w), ZERO) for w in reach), ZERO)
        out[ln.line_id] = min(ln.quantity, left[p])
        left[p] -= out[ln.line_id]
    return out


# --- reasons --------------------------------------------------------------------------------------


def _money(v: Decimal) -> str:
    return format(v, "f")


def _days_text(n: int | None) -> str:
    return "unknown days" if n is None else f"{n} day" if n == 1 else f"{n} days"


def _describe(plan: _Plan, ctx: _Context) -> str:
    if ctx.policy == SPEED:
        where = "+".join(f"{ctx.name(w)} ({_days_text(plan.days[w])})" for w in plan.warehouses)
    else:
        where = "+".join(ctx.name(w) for w in plan.warehouses)
    return f"{where} at {_money(plan.cost)}"


def _short_text(d: Demand, plan: _Plan) -> str:
    got: dict[int, Decimal] = defaultdict(lambda: ZERO)
    for t in plan.takes:
        got[t.line_id] += t.quantity
    short = [(ln.line_id, ln.quantity - got[ln.line_id]) for ln in d.lines if got[ln.line_id] < ln.quantity]
    if not short:
        return ""
    parts = ", ".join(f"line {lid} by {plain(q)}" for lid, q in short)
    return f"; short: {parts} (not in stock where it can ship from)"


def _reason_alone(d: Demand, choice: _Choice, ctx: _Context) -> str:
    plan = choice.plan
    if not plan.takes:
        return "nothing ships: no warehouse that can ship to this address has stock for any line" + \
            _short_text(d, plan)
    complete = not _short_text(d, plan)
    what = "every line" if complete else "what it has"
    if plan.parcels == 1:
        w = plan.warehouses[0]
        if ctx.policy == SPEED:
            text = f"{ctx.name(w)} ships {what} fastest ({_days_text(plan.days[w])}) at {_money(plan.cost)}"
        else:
            text = f"{ctx.name(w)} ships {what} at the lowest cost {_money(plan.cost)}"
    elif ctx.policy == SPEED and choice.best_single is not None:
        text = (f"speed beats one parcel: split {_describe(plan, ctx)} instead of "
                f"{_describe(choice.best_single, ctx)}")
    elif ctx.policy == SPEED:
        text = f"no warehouse has the whole order: fastest split {_describe(plan, ctx)}"
    elif ctx.policy == FEWEST_PARCELS:
        text = f"no warehouse has the whole order: fewest parcels, split {_describe(plan, ctx)}"
    else:
        text = f"no warehouse has the whole order: split {_describe(plan, ctx)}"
    return text + _short_text(d, plan)


def _allocation(d: Demand, plan: _Plan, reason: str) -> Allocation:
    got: dict[int, Decimal] = defaultdict(lambda: ZERO)
    for t in plan.takes:
        got[t.line_id] += t.quantity
    short = {ln.line_id: ln.quantity - got[ln.line_id] for ln in d.lines}
    return Allocation(d.order_id, plan.takes, short, plan.parcels, plan.cost, plan.max_days, reason)


def _result(allocs: dict[int, Allocation], method: str, status: str, started: float) -> WaveResult:
    return WaveResult(
        allocations=allocs,
        total_cost=sum((a.est_cost for a in allocs.values()), ZERO),
        short_lines=sum(1 for a in allocs.values() for s in a.short.values() if s > 0),
        method=method,
        solver_status=status,
        seconds=time.perf_counter() - started,
    )


# --- public: one order, greedy wave ---------------------------------------------------------------


def choose_for_order(demand: Demand, available: Mapping[tuple[int, int], Decimal], shipping: Shipping,
                     policy: str = COST, *, names: Mapping[int, str] | None = None) -> Allocation:
    """Where one order ships from, on its own against `available` ((product, warehouse) -> free)."""
    _check([demand], available, policy, None)
    ctx = _Context([demand], available, shipping, policy, names)
    choice = _best_plan(demand, _targets_alone(demand, ctx.stock, ctx), ctx.stock, ctx)
    return _allocation(demand, choice.plan, _reason_alone(demand, choice, ctx))


def _greedy(ranked: Sequence[Demand], stock: Mapping[tuple[int, int], Decimal], ctx: _Context,
            targets: Mapping[int, Decimal] | None = None) -> dict[int, _Choice]:
    """Orders one at a time by rank, each taking its best from what is left (capped at `targets`)."""
    left = dict(stock)
    out: dict[int, _Choice] = {}
    for d in ranked:
        want = _targets_alone(d, left, ctx)
        if targets is not None:
            want = {lid: min(q, targets[lid]) for lid, q in want.items()}
        choice = _best_plan(d, want, left, ctx)
        for t in choice.plan.takes:
            left[(t.product_id, t.warehouse_id)] -= t.quantity
        out[d.order_id] = choice
    return out


def greedy_wave(demands: Sequence[Demand], available: Mapping[tuple[int, int], Decimal], shipping: Shipping,
                policy: str = COST, *, names: Mapping[int, str] | None = None) -> WaveResult:
    """The baseline: orders one at a time (priority, then order date, then id), each `choose_for_order`
    against what the earlier ones left."""
    started = time.perf_counter()
    _check(demands, available, policy, "demands")
    ctx = _Context(demands, available, shipping, policy, names)
    ranked = _ranked(demands)
    choices = _greedy(ranked, ctx.stock, ctx)
    allocs = {d.order_id: _allocation(d, choices[d.order_id].plan, _reason_alone(d, choices[d.order_id], ctx))
              for d in ranked}
    return _result(allocs, "greedy", "not run", started)


# --- stage 1: who gets scarce stock ---------------------------------------------------------------


def _units(q: Decimal, quantum: Decimal) -> int:
    return int(q / quantum)


def _service_targets(ranked: Sequence[Demand], ctx: _Context, deadline: float) -> tuple[dict[int, Decimal], str]:
    """Per line, how much it gets: the most for the best-ranked lines first, product by product."""
    by_product: dict[int, list[tuple[int, int, Demand, DemandLine]]] = defaultdict(list)
    for rank, d in enumerate(ranked):
        for pos, ln in enumerate(d.lines):
            by_product[ln.product_id].append((rank, pos, d, ln))
    targets: dict[int, Decimal] = {}
    for_lp: list[int] = []
    for p, entries in by_product.items():
        holders = [w for w in ctx.warehouses if (p, w) in ctx.stock]
        everyone = [w for w in holders if all(ctx.usable(d.order_id, w) for _, _, d, _ in entries)]
        total = sum((ln.quantity for _, _, _, ln in entries), ZERO)
        if len(everyone) == len(holders) or sum((ctx.stock[(p, w)] for w in everyone), ZERO) >= total:
            left = sum((ctx.stock[(p, w)] for w in everyone), ZERO)
            for _, _, _, ln in sorted(entries, key=lambda e: (e[0], e[1])):
                targets[ln.line_id] = min(ln.quantity, left)
                left -= targets[ln.line_id]
        else:
            for_lp.append(p)
    if not for_lp:
        return targets, "by rank"
    served, status = _service_lp([(p, by_product[p]) for p in for_lp], len(ranked), ctx, deadline)
    targets.update(served)
    return targets, status


def _service_lp(products, n_orders: int, ctx: _Context, deadline: float) -> tuple[dict[int, Decimal], str]:
    """Max sum of rank weight x units served over the products whose warehouses not every order reaches."""
    width = 1 + max(len(e[2].lines) for _, lines in products for e in lines)
    cols: list[tuple[DemandLine, int]] = []  # (line, warehouse)
    cost: list[float] = []
    upper: list[float] = []
    rows: dict[tuple, int] = {}
    row_upper: list[float] = []
    entries: list[tuple[int, int, float]] = []
    for p, lines in products:
        qp = ctx.quantum[p]
        for rank, pos, d, ln in lines:
            weight = (n_orders - rank) * width + (width - pos)  # distinct per line, higher for better rank
            n = _units(ln.quantity, qp)
            rows[("line", ln.line_id)] = len(row_upper)
            row_upper.append(float(n))
            for w in ctx.warehouses:
                cap = ctx.stock.get((p, w))
                if cap is None or not ctx.usable(d.order_id, w):
                    continue
                key = ("stock", p, w)
                if key not in rows:
                    rows[key] = len(row_upper)
                    row_upper.append(float(_units(cap, qp)))
                c = len(cols)
                cols.append((ln, w))
                cost.append(-float(weight))
                upper.append(float(min(n, _units(cap, qp))))
                entries += [(rows[("line", ln.line_id)], c, 1.0), (rows[key], c, 1.0)]
    h = _highs(deadline)
    _pass(h, cost, [0.0] * len(cols), upper, [-_INF] * len(row_upper), row_upper, entries, None, 0.0)
    h.run()
    status = h.modelStatusToString(h.getModelStatus())
    served: dict[int, Decimal] = {ln.line_id: ZERO for _, lines in products for _, _, _, ln in lines}
    if h.getInfo().primal_solution_status != highspy.kSolutionStatusFeasible:
        return served, f"service LP: {status}, nothing served on those products"
    values = h.getSolution().col_value
    used: dict[tuple[int, int], int] = defaultdict(int)
    for (ln, w), v in zip(cols, values):
        n = round(v)  # a flow LP's vertex is whole (network matrix); rounding only removes float noise
        cap = _units(ctx.stock[(ln.product_id, w)], ctx.quantum[ln.product_id])
        n = max(0, min(n, cap - used[(ln.product_id, w)]))
        used[(ln.product_id, w)] += n
        served[ln.line_id] = min(ln.quantity, served[ln.line_id] + n * ctx.quantum[ln.product_id])
    return served, f"service LP: {status}"


# --- stage 2: which warehouse ships it ------------------------------------------------------------


def _highs(deadline: float) -> highspy.Highs:
    h = highspy.Highs()
    h.silent()
    h.setOptionValue("time_limit", max(0.5, deadline - time.perf_counter()))
    return h


def _pass(h: highspy.Highs, cost: list[float], lower: list[float], upper: list[float], row_lower: list[float],
          row_upper: list[float], entries: list[tuple[int, int, float]], integer: list[bool] | None,
          offset: float) -> None:
    """Hand a model to HiGHS: columns, rows and (row, col) -> coefficient entries, row-wise."""
    lp = highspy.HighsLp()
    lp.num_col_ = len(cost)
    lp.num_row_ = len(row_upper)
    lp.offset_ = offset
    lp.col_cost_ = cost
    lp.col_lower_ = lower
    lp.col_upper_ = upper
    lp.row_lower_ = row_lower
    lp.row_upper_ = row_upper
    entries = sorted(entries)
    start = [0] * (len(row_upper) + 1)
    for r, _, _ in entries:
        start[r + 1] += 1
    for i in range(len(row_upper)):
        start[i + 1] += start[i]
    lp.a_matrix_.format_ = highspy.MatrixFormat.kRowwise
    lp.a_matrix_.num_col_ = len(cost)
    lp.a_matrix_.num_row_ = len(row_upper)
    lp.a_matrix_.start_ = start
    lp.a_matrix_.index_ = [c for _, c, _ in entries]
    lp.a_matrix_.value_ = [v for _, _, v in entries]
    if integer is not None:
        lp.integrality_ = [highspy.HighsVarType.kInteger if i else highspy.HighsVarType.kContinuous
                           for i in integer]
    status = h.passModel(lp)
    if status == highspy.HighsStatus.kError:
        raise RuntimeError("HiGHS refused the allocation model")


def _units_short(d: Demand, plan: _Plan, targets: Mapping[int, Decimal], ctx: _Context) -> int:
    got: dict[int, Decimal] = defaultdict(lambda: ZERO)
    for t in plan.takes:
        got[t.line_id] += t.quantity
    return sum(_units(targets[ln.line_id] - got[ln.line_id], ctx.quantum[ln.product_id]) for ln in d.lines)


@dataclass
class _Offer:
    """The model's columns: plans offered per order, each order's plans side by side."""

    orders: Sequence[Demand]
    plans: list[tuple[Demand, _Plan, int]]  # (order, plan, units short of the order's targets)
    spans: dict[int, range]  # order id -> its columns

    def values(self, choice: Mapping[int, _Plan]) -> list[float]:
        """Column values that pick, for each order, the column holding its plan in `choice`."""
        out = [0.0] * len(self.plans)
        for d in self.orders:
            mine = choice[d.order_id].takes
            out[next(c for c in self.spans[d.order_id] if self.plans[c][1].takes == mine)] = 1.0
        return out


def _offer(orders: Sequence[Demand], targets: Mapping[int, Decimal], stock: Mapping[tuple[int, int], Decimal],
           ctx: _Context, extra: Sequence[Mapping[int, _Plan]]) -> _Offer:
    """Per order: every single warehouse that can ship it all, the policy's best few splits (pairs only
    when a single warehouse exists), and its plan in each of `extra` (start plans, own bests...)."""
    plans: list[tuple[Demand, _Plan, int]] = []
    spans: dict[int, range] = {}
    for d in orders:
        offered = [plan for more in extra if (plan := more.get(d.order_id)) is not None]
        if any(targets.get(ln.line_id, ZERO) > 0 for ln in d.lines):
            opts = _options(d, targets, stock, ctx)
            units = sum(_units(targets[ln.line_id], ctx.quantum[ln.product_id]) for ln in d.lines)
            splits = [] if units < 2 else opts.splits(d, targets, stock, ctx, largest=2 if opts.singles else None)
            splits.sort(key=lambda p: _preference(ctx.policy, p))
            offered = [*opts.singles, *splits[:SPLITS_PER_ORDER], *offered]
        begin = len(plans)
        seen: set[tuple[Take, ...]] = set()
        for plan in offered:
            if plan.takes not in seen:
                seen.add(plan.takes)
                plans.append((d, plan, _units_short(d, plan, targets, ctx)))
        spans[d.order_id] = range(begin, len(plans))
    return _Offer(orders, plans, spans)


def _stock_rows(offer: _Offer, stock: Mapping[tuple[int, int], Decimal], ctx: _Context):
    """Rows: each order takes exactly one of its plans; no (product, warehouse) gives more than it has."""
    row_lower: list[float] = []
    row_upper: list[float] = []
    entries: list[tuple[int, int, float]] = []
    for d in offer.orders:
        r = len(row_upper)
        row_lower.append(1.0)
        row_upper.append(1.0)
        entries += [(r, c, 1.0) for c in offer.spans[d.order_id]]
    on_pair: dict[tuple[int, int], dict[int, int]] = defaultdict(dict)
    for c, (_, plan, _) in enumerate(offer.plans):
        for t in plan.takes:
            k = (t.product_id, t.warehouse_id)
            on_pair[k][c] = on_pair[k].get(c, 0) + _units(t.quantity, ctx.quantum[t.product_id])
    for (p, w), uses in on_pair.items():
        cap = _units(stock[(p, w)], ctx.quantum[p])
        if sum(uses.values()) > cap:  # otherwise every choice fits
            r = len(row_upper)
            row_lower.append(-_INF)
            row_upper.append(float(cap))
            entries += [(r, c, float(n)) for c, n in uses.items()]
    return row_lower, row_upper, entries


def _first_goal(offer: _Offer, ctx: _Context, ranks: Mapping[int, int]) -> tuple[list[float], float]:
    """Per column: units short (a safety valve, stage 1 made the targets fit), weighing more than every
    order's policy criterion together and more for better-ranked orders (by tenth of the wave, so that
    the goal stays a whole number where the criterion is one), plus that criterion. And the
    offset (minus each order's least criterion) that leaves only what can be improved, so the solver's
    gap means something."""
    primary = [float(_primary(ctx.policy, plan)) for _, plan, _ in offer.plans]
    least: dict[int, float] = {}
    most: dict[int, float] = {}
    for (d, _, _), v in zip(offer.plans, primary):
        least[d.order_id] = min(least.get(d.order_id, v), v)
        most[d.order_id] = max(most.get(d.order_id, v), v)
    per_unit = 1 + sum(most.values())
    n = len(ranks)
    goal = [v + short * per_unit * (1 + 10 * (n - ranks[d.order_id]) // n)  # whole numbers, by tenths of rank
            for (d, _, short), v in zip(offer.plans, primary)]
    return goal, -sum(least.values())


def _route(orders: Sequence[Demand], targets: Mapping[int, Decimal], stock: Mapping[tuple[int, int], Decimal],
           ctx: _Context, deadline: float, ranks: Mapping[int, int],
           own: Mapping[int, _Choice]) -> tuple[dict[int, _Plan] | None, str, bool]:
    """One plan per order, chosen together so that the stock suffices: (plans, solver status, shortfall?).
    Lexicographic in two solves: the first objective (shortfall, then the policy's criterion), then the
    lowest cost among the answers as good on it."""
    one_by_one = {o: choice.plan for o, choice in _greedy(orders, stock, ctx, targets).items()}
    flows = _flow_plans(orders, targets, stock, ctx, deadline)
    offer = _offer(orders, targets, stock, ctx, [one_by_one, {o: c.plan for o, c in own.items()}, flows])
    cost = [float(plan.cost) for _, plan, _ in offer.plans]
    goal, offset = _first_goal(offer, ctx, ranks)
    row_lower, row_upper, entries = _stock_rows(offer, stock, ctx)
    # Start from the better of two answers that fit the stock: the orders one at a time, or the transport plans.
    starts = [offer.values(one_by_one)] + ([offer.values(flows)] if len(flows) == len(orders) else [])
    start = min(starts, key=lambda vs: sum(g * v for g, v in zip(goal, vs)))
    h = _highs(deadline)
    h.setOptionValue("time_limit", max(0.5, 0.75 * (deadline - time.perf_counter())))  # a quarter left for cost
    h.setOptionValue("mip_rel_gap", MIP_GAP)
    h.setOptionValue("mip_detect_symmetry", False)  # measured: a quarter to a half of the time, nothing found
    tie = 0.0
    if ctx.policy != SPEED:
        # The criterion counts whole splits or parcels: cost breaks its ties at no risk to it (all the
        # cost together weighs under 0.4 of one), so the second solve starts from a cheap answer, and
        # a gap under 0.5 already proves the count the least there is.
        dearest: dict[int, float] = defaultdict(float)
        for (d, _, _), c in zip(offer.plans, cost):
            dearest[d.order_id] = max(dearest[d.order_id], c)
        tie = 0.4 / (1 + sum(dearest.values()))
        h.setOptionValue("mip_abs_gap", 0.5)
    _pass(h, [g + tie * c for g, c in zip(goal, cost)], [0.0] * len(cost), [1.0] * len(cost), row_lower,
          row_upper, entries, [True] * len(cost), offset)
    values, status = _solve(h, start, "first")
    if values is None:
        return None, status, False
    reached = sum(g * v for g, v in zip(goal, values))
    cols = [c for c, g in enumerate(goal) if g]
    h.addRow(-_INF, reached + 1e-6 * max(1.0, reached), len(cols), cols, [goal[c] for c in cols])
    h.changeColsCost(len(cost), list(range(len(cost))), cost)
    h.changeObjectiveOffset(0.0)
    h.setOptionValue("mip_abs_gap", 1e-6)
    h.setOptionValue("time_limit", max(0.5, deadline - time.perf_counter()))
    better, then = _solve(h, values, "then cost")
    status = f"{status}; {then}; {len(cost):,} plans"
    return _chosen(offer, better if better is not None else values, stock, status)


def _chosen(offer: _Offer, values: Sequence[float], stock: Mapping[tuple[int, int], Decimal],
            status: str) -> tuple[dict[int, _Plan] | None, str, bool]:
    """The plans the solver picked, checked against the stock in Decimal: (plans, status, shortfall?)."""
    chosen: dict[int, tuple[_Plan, int]] = {}
    for c, (d, plan, short) in enumerate(offer.plans):
        if values[c] > 0.5:
            chosen[d.order_id] = (plan, short)
    used: dict[tuple[int, int], Decimal] = defaultdict(lambda: ZERO)
    for plan, _ in chosen.values():
        for t in plan.takes:
            used[(t.product_id, t.warehouse_id)] += t.quantity
    if len(chosen) != len(offer.orders) or any(q > stock.get(k, ZERO) for k, q in used.items()):
        return None, status + ", the answer did not check out", False
    return {o: p for o, (p, _) in chosen.items()}, status, any(s > 0 for _, s in chosen.values())


def _solve(h: highspy.Highs, start: list[float], what: str) -> tuple[list[float] | None, str]:
    """Run from a feasible start; the solution (None if there is none) and a status line."""
    sol = highspy.HighsSolution()
    sol.col_value = start
    h.setSolution(sol)
    h.run()
    info = h.getInfo()
    status = f"{what}: {h.modelStatusToString(h.getModelStatus())}"
    if info.primal_solution_status != highspy.kSolutionStatusFeasible:
        return None, status
    return list(h.getSolution().col_value), f"{status} (gap {info.mip_gap:.2%})"


def _flow_plans(orders: Sequence[Demand], targets: Mapping[int, Decimal], stock: Mapping[tuple[int, int], Decimal],
                ctx: _Context, deadline: float) -> dict[int, _Plan]:
    """Every order's targets routed at once as a transport problem (a linear programme: each unit at
    its share of the order's whole-parcel price from that warehouse, parcels not counted; for `speed`,
    days first). Its plans fit the stock together, so the model has an answer without shortfall
    whenever there is one, and often a good one for orders that must split."""
    cols: list[tuple[Demand, DemandLine, int | None]] = []  # warehouse None: the line's shortfall
    price: list[float] = []
    days: list[float] = []
    upper: list[float] = []
    row_lower: list[float] = []
    row_upper: list[float] = []
    entries: list[tuple[int, int, float]] = []
    pair_row: dict[tuple[int, int], int] = {}
    for d in orders:
        whole = _order_weight(d, targets)
        units = sum(_units(targets[ln.line_id], ctx.quantum[ln.product_id]) for ln in d.lines)
        for ln in d.lines:
            qp = ctx.quantum[ln.product_id]
            n = _units(targets[ln.line_id], qp)
            if n <= 0:
                continue
            r = len(row_upper)
            row_lower.append(float(n))
            row_upper.append(float(n))
            share = ln.unit_weight_kg * qp / whole if whole > 0 else Decimal(1) / units
            for w in [None, *ctx.warehouses]:
                if w is None:
                    cap, whole_price = n, ZERO
                else:
                    cap = _units(stock.get((ln.product_id, w), ZERO), qp)
                    whole_price = ctx.cost(d.order_id, w, whole) if cap > 0 and ctx.usable(d.order_id, w) else None
                    if whole_price is None:
                        continue
                    if (ln.product_id, w) not in pair_row:
                        pair_row[(ln.product_id, w)] = len(row_upper)
                        row_lower.append(-_INF)
                        row_upper.append(float(cap))
                    entries.append((pair_row[(ln.product_id, w)], len(cols), 1.0))
                entries.append((r, len(cols), 1.0))
                cols.append((d, ln, w))
                price.append(float(whole_price * share))
                days.append(0.0 if w is None else float(ctx.days(d.order_id, w)))
                upper.append(float(min(n, cap)))
    top = 1 + max(price, default=0.0)
    day_weight = top if ctx.policy == SPEED else 0.0
    shortfall = 1000 * (top + 10 * day_weight)  # a unit short costs more than any unit shipped
    cost = [shortfall if w is None else p + day_weight * dy for (_, _, w), p, dy in zip(cols, price, days)]
    h = _highs(deadline)
    _pass(h, cost, [0.0] * len(cost), upper, row_lower, row_upper, entries, None, 0.0)
    h.run()
    if h.getInfo().primal_solution_status != highspy.kSolutionStatusFeasible:
        return {}
    left = {k: _units(q, ctx.quantum[k[0]]) for k, q in stock.items()}
    takes: dict[int, list[Take]] = defaultdict(list)
    for (d, ln, w), v in zip(cols, h.getSolution().col_value):
        n = 0 if w is None else min(round(v), left[(ln.product_id, w)])  # a vertex: whole units
        if n > 0:
            left[(ln.product_id, w)] -= n
            takes[d.order_id].append(Take(ln.line_id, ln.product_id, w, n * ctx.quantum[ln.product_id]))
    plans = {}
    for d in orders:
        plan = _evaluate(d, takes[d.order_id], targets, ctx) if takes[d.order_id] else _NOTHING
        if plan is not None:
            plans[d.order_id] = plan
    return plans


# --- public: optimised wave -----------------------------------------------------------------------


def _served(result: WaveResult, ranked: Sequence[Demand]) -> tuple[Decimal, ...]:
    """Quantity served per line, best-ranked first: compared lexicographically, larger is better."""
    out = []
    for d in ranked:
        a = result.allocations[d.order_id]
        out += [ln.quantity - a.short[ln.line_id] for ln in d.lines]
    return tuple(out)


def _line_days(result: WaveResult, ranked: Sequence[Demand], ctx: _Context) -> Fraction:
    total = Fraction(0)
    for d in ranked:
        a = result.allocations[d.order_id]
        got: dict[int, Fraction] = defaultdict(Fraction)
        unit_days: dict[int, Fraction] = defaultdict(Fraction)
        for t in a.takes:
            got[t.line_id] += Fraction(t.quantity)
            unit_days[t.line_id] += Fraction(t.quantity) * ctx.days(d.order_id, t.warehouse_id)
        total += sum((unit_days[k] / got[k] for k in got), Fraction(0))
    return total


def _not_worse(a: WaveResult, b: WaveResult, ranked: Sequence[Demand], ctx: _Context) -> bool:
    """Is `a` at least as good as `b`: service by rank first, then the policy's order of preference."""
    sa, sb = _served(a, ranked), _served(b, ranked)
    if sa != sb:
        return sa > sb
    if ctx.policy == SPEED:
        return (_line_days(a, ranked, ctx), a.total_cost) <= (_line_days(b, ranked, ctx), b.total_cost)
    if ctx.policy == FEWEST_PARCELS:
        return (a.parcels, a.total_cost) <= (b.parcels, b.total_cost)
    return (a.split_orders, a.total_cost) <= (b.split_orders, b.total_cost)


def optimise_wave(demands: Sequence[Demand], available: Mapping[tuple[int, int], Decimal], shipping: Shipping,
                  policy: str = COST, *, time_limit_s: float = 60, names: Mapping[int, str] | None = None,
                  baseline: WaveResult | None = None) -> WaveResult:
    """The wave as one optimisation (see the module notes); never worse than `greedy_wave`.

    `baseline` is greedy's result for these same inputs, if the caller has it already (else computed).
    `time_limit_s` bounds the solver time in all (the greedy baseline and model building come on top).
    """
    started = time.perf_counter()
    _check(demands, available, policy, "demands")
    if not isinstance(time_limit_s, (int, float)) or isinstance(time_limit_s, bool) or not time_limit_s > 0:
        raise ValidationFailed.one("time_limit_s", "invalid", f"time_limit_s must be above 0, not {time_limit_s!r}")
    greedy = baseline if baseline is not None else greedy_wave(demands, available, shipping, policy, names=names)
    deadline = time.perf_counter() + time_limit_s
    ctx = _Context(demands, available, shipping, policy, names)
    ranked = _ranked(demands)
    ranks = {d.order_id: i for i, d in enumerate(ranked)}
    targets, service_status = _service_targets(ranked, ctx, deadline)

    own = {d.order_id: _own_best(d, targets, ctx, greedy.allocations.get(d.order_id)) for d in ranked}
    asked: dict[tuple[int, int], Decimal] = defaultdict(lambda: ZERO)
    for choice in own.values():
        for t in choice.plan.takes:
            asked[(t.product_id, t.warehouse_id)] += t.quantity
    contended_pairs = {k for k, q in asked.items() if q > ctx.stock.get(k, ZERO)}
    contended_products = {p for p, _ in contended_pairs}
    contended = {d.order_id for d in ranked if any(ln.product_id in contended_products for ln in d.lines)}

    plans, status = _solve_contended(ranked, own, contended, targets, ctx, deadline, ranks)
    if contended and not plans:
        return _fallback(greedy, f"no usable answer from the solver ({status})", started)
    allocs: dict[int, Allocation] = {}
    for d in ranked:
        o = d.order_id
        if o in plans:
            allocs[o] = _allocation(d, plans[o], _reason_routed(d, plans[o], own[o], ctx))
        else:
            allocs[o] = _allocation(d, own[o].plan, _reason_alone(d, own[o], ctx))
    solver_status = f"{service_status}; routing: {status}"
    optimised = _result(allocs, "optimised", solver_status, started)
    if not _not_worse(optimised, greedy, ranked, ctx):
        return _fallback(greedy, f"the optimiser's answer was worse ({solver_status})", started)
    return optimised


def _as_plan(d: Demand, alloc: Allocation | None, targets: Mapping[int, Decimal], ctx: _Context) -> _Plan | None:
    """Greedy's plan for the order, if it ships exactly the targets (then the optimiser may use it too)."""
    if alloc is None or not alloc.takes:
        return None
    got: dict[int, Decimal] = defaultdict(lambda: ZERO)
    for t in alloc.takes:
        got[t.line_id] += t.quantity
    if any(got[ln.line_id] != targets[ln.line_id] for ln in d.lines):
        return None
    return _evaluate(d, alloc.takes, targets, ctx)


def _own_best(d: Demand, targets: Mapping[int, Decimal], ctx: _Context, greedy: Allocation | None) -> _Choice:
    """The order's best plan against the full stock; greedy's plan where that is better (the plan
    search fills warehouses in a fixed order, and less stock can make it spill into a better split)."""
    choice = _best_plan(d, targets, ctx.stock, ctx)
    theirs = _as_plan(d, greedy, targets, ctx)
    if theirs is not None and _preference(ctx.policy, theirs) < _preference(ctx.policy, choice.plan):
        return _Choice(theirs, choice.best_single)
    return choice


def _solve_contended(ranked: Sequence[Demand], own: Mapping[int, _Choice], contended: set[int],
                     targets: Mapping[int, Decimal], ctx: _Context, deadline: float,
                     ranks: Mapping[int, int]) -> tuple[dict[int, _Plan], str]:
    """Plans for the contended orders, with the stock the others leave, and the solver's status."""
    if not contended:
        return {}, "not needed: no stock is contended, every order has its own best"
    left = dict(ctx.stock)
    for o, choice in own.items():
        if o not in contended:
            for t in choice.plan.takes:
                left[(t.product_id, t.warehouse_id)] -= t.quantity
    group = [d for d in ranked if d.order_id in contended]
    routed, status, shortfall = _route(group, targets, left, ctx, deadline, ranks, own)
    if routed is None:
        return {}, status
    short = "; some lines short of the stage-1 quantities" if shortfall else ""
    return routed, f"{status}, {len(group):,} of {len(ranked):,} orders in the model{short}"


def _reason_routed(d: Demand, plan: _Plan, own: _Choice, ctx: _Context) -> str:
    if not plan.takes:
        return "wave optimiser: nothing ships, the stock it could have went to better-ranked orders" + \
            _short_text(d, plan)
    if plan.takes == own.plan.takes:
        return "wave optimiser kept its own best: " + _reason_alone(d, own, ctx)
    return (f"wave optimiser: {_describe(plan, ctx)} instead of its own best {_describe(own.plan, ctx)}, "
            f"whose stock serves the wave better elsewhere" + _short_text(d, plan))


def _fallback(greedy: WaveResult, why: str, started: float) -> WaveResult:
    return WaveResult(greedy.allocations, greedy.total_cost, greedy.short_lines, f"greedy ({why})", why,
                      time.perf_counter() - started)


def compare(greedy: WaveResult, optimal: WaveResult) -> dict:
    """Figures of two results for the same wave: costs, the saving (amount and %), parcels, shortfalls."""
    saving = greedy.total_cost - optimal.total_cost
    pct = (saving * 100 / greedy.total_cost).quantize(Decimal("0.01"), ROUND_HALF_UP) if greedy.total_cost else ZERO
    return {
        "greedy_cost": greedy.total_cost,
        "optimised_cost": optimal.total_cost,
        "saving": saving,
        "saving_pct": pct,
        "greedy_parcels": greedy.parcels,
        "optimised_parcels": optimal.parcels,
        "greedy_split_orders": greedy.split_orders,
        "optimised_split_orders": optimal.split_orders,
        "greedy_short_lines": greedy.short_lines,
        "optimised_short_lines": optimal.short_lines,
        "greedy_seconds": greedy.seconds,
        "optimised_seconds": optimal.seconds,
        "method": optimal.method,
        "solver_status": optimal.solver_status,
    }
