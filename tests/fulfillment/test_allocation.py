"""Which warehouse ships which line: one order on its own, a wave greedily, a wave optimised (HiGHS)."""
from collections import defaultdict
from datetime import date
from decimal import Decimal as D

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from o2c.core.errors import ValidationFailed
from o2c.core.money import round_money
from o2c.fulfillment import allocation
from o2c.fulfillment.allocation import (
    Demand, DemandLine, choose_for_order, compare, greedy_wave, optimise_wave,
)

A, B, C = 1, 2, 3  # products
CHI, LAX, DAL, ATL = 10, 20, 30, 40  # warehouses
NAMES = {CHI: "CHI", LAX: "LAX", DAL: "DAL", ATL: "ATL"}


class Rates:
    """A parcel costs fixed + per kg from each warehouse, to the cent; None where the warehouse cannot ship."""

    def __init__(self, rates: dict, days: dict | None = None):
        self.rates = rates  # (order, warehouse) -> (fixed, per kg) or None; order None: any order
        self.transit = days or {}  # (order, warehouse) or warehouse -> days

    def _rate(self, order_id, warehouse_id):
        return self.rates.get((order_id, warehouse_id), self.rates.get((None, warehouse_id)))

    def cost(self, order_id, warehouse_id, weight_kg):
        rate = self._rate(order_id, warehouse_id)
        return None if rate is None else round_money(D(rate[0]) + D(rate[1]) * weight_kg, "USD")

    def days(self, order_id, warehouse_id):
        if self._rate(order_id, warehouse_id) is None:
            return None
        return self.transit.get((order_id, warehouse_id), self.transit.get(warehouse_id, 2))


def order(order_id, *lines, priority=0, on=None):
    """lines: (line_id, product, quantity[, unit kg]); 1 kg a unit unless given."""
    return Demand(order_id, tuple(DemandLine(ln[0], ln[1], D(ln[2]), D(ln[3]) if len(ln) > 3 else D(1))
                                  for ln in lines), priority, on)


def taken(alloc):
    return {(t.line_id, t.warehouse_id, t.quantity) for t in alloc.takes}


# --- one order -----------------------------------------------------------------------------------


def test_the_one_warehouse_that_ships_every_line_at_the_lowest_cost_is_chosen():
    stock = {(A, CHI): D(5), (B, CHI): D(5), (A, LAX): D(5), (B, LAX): D(5), (A, DAL): D(5)}
    rates = Rates({(None, CHI): ("6.00", "0.50"), (None, LAX): ("7.00", "0.50"), (None, DAL): ("4.00", "0.10")})
    alloc = choose_for_order(order(1, (11, A, 2), (12, B, 1)), stock, rates, "cost", names=NAMES)
    assert taken(alloc) == {(11, CHI, D(2)), (12, CHI, D(1))}
    assert alloc.parcels == 1 and alloc.est_cost == D("7.50") and alloc.complete
    assert alloc.reason == "CHI ships every line at the lowest cost 7.50"


def test_one_parcel_is_kept_even_where_a_split_would_be_cheaper():
    # DAL ships the heavy line at a tenth of CHI's rate, but only CHI has both lines.
    stock = {(A, CHI): D(1), (B, CHI): D(1), (A, DAL): D(1)}
    rates = Rates({(None, CHI): ("5", "1.0"), (None, DAL): ("5", "0.1")})
    alloc = choose_for_order(order(1, (11, A, 1, 20), (12, B, 1, 1)), stock, rates, "cost")
    assert alloc.warehouses == (CHI,) and alloc.est_cost == D(26)


def test_an_order_splits_only_when_no_single_warehouse_can_ship_it():
    stock = {(A, CHI): D(5), (B, LAX): D(5), (A, LAX): D(1)}
    rates = Rates({(None, CHI): ("6", "0.5"), (None, LAX): ("7", "0.5")})
    alloc = choose_for_order(order(1, (11, A, 2), (12, B, 1)), stock, rates, "cost", names=NAMES)
    assert taken(alloc) == {(11, CHI, D(2)), (12, LAX, D(1))}
    assert alloc.parcels == 2 and alloc.est_cost == D("14.50")
    assert alloc.reason.startswith("no warehouse has the whole order: split CHI+LAX")


def test_speed_splits_to_ship_faster_where_cost_and_fewest_parcels_keep_one_slower_parcel():
    stock = {(A, CHI): D(1), (B, CHI): D(1), (A, LAX): D(1), (B, DAL): D(1)}
    rates = Rates({(None, CHI): ("6", "0.5"), (None, LAX): ("8", "0.5"), (None, DAL): ("8", "0.5")},
                  days={CHI: 4, LAX: 1, DAL: 2})
    demand = order(1, (11, A, 1), (12, B, 1))
    fast = choose_for_order(demand, stock, rates, "speed", names=NAMES)
    assert taken(fast) == {(11, LAX, D(1)), (12, DAL, D(1))}
    assert fast.est_days == 2 and fast.est_cost == D(17)
    assert fast.reason.startswith("speed beats one parcel: split LAX (1 day)+DAL (2 days) at 17.00 instead of CHI (4 days) at 7.00")
    for policy in ("cost", "fewest_parcels"):
        one = choose_for_order(demand, stock, rates, policy)
        assert one.warehouses == (CHI,) and one.est_days == 4 and one.est_cost == D(7)


def test_speed_keeps_one_parcel_when_it_is_as_fast():
    stock = {(A, CHI): D(1), (B, CHI): D(1), (A, LAX): D(1), (B, DAL): D(1)}
    rates = Rates({(None, CHI): ("9", "0.5"), (None, LAX): ("6", "0.5"), (None, DAL): ("6", "0.5")},
                  days={CHI: 1, LAX: 1, DAL: 1})
    alloc = choose_for_order(order(1, (11, A, 1), (12, B, 1)), stock, rates, "speed")
    assert alloc.warehouses == (CHI,)


def test_fewest_parcels_pays_more_for_fewer_parcels():
    # No warehouse has all three lines. Three cheap parcels (ATL, LAX, DAL) cost 6; two (CHI + DAL) cost 63.
    stock = {(A, CHI): D(1), (B, CHI): D(1), (C, DAL): D(1), (A, ATL): D(1), (B, LAX): D(1)}
    rates = Rates({(None, CHI): ("1", "3"), (None, DAL): ("1", "0.1"), (None, ATL): ("1", "0.1"),
                   (None, LAX): ("1", "0.1")})
    demand = order(1, (11, A, 1, 10), (12, B, 1, 10), (13, C, 1, 10))
    cheap = choose_for_order(demand, stock, rates, "cost")
    assert cheap.warehouses == (LAX, DAL, ATL) and cheap.est_cost == D(6)
    few = choose_for_order(demand, stock, rates, "fewest_parcels", names=NAMES)
    assert few.warehouses == (CHI, DAL) and few.parcels == 2 and few.est_cost == D(63)
    assert few.reason.startswith("no warehouse has the whole order: fewest parcels, split CHI+DAL")


def test_a_warehouse_that_cannot_ship_to_the_address_is_never_used():
    stock = {(A, DAL): D(9), (A, CHI): D(1)}
    rates = Rates({(1, DAL): None, (None, DAL): ("1", "0"), (None, CHI): ("9", "1")})
    alloc = choose_for_order(order(1, (11, A, 3)), stock, rates, "cost")
    assert taken(alloc) == {(11, CHI, D(1))}
    assert alloc.short == {11: D(2)}
    assert "short: line 11 by 2" in alloc.reason
    only_dal = choose_for_order(order(1, (11, A, 3)), {(A, DAL): D(9)}, rates, "speed")
    assert only_dal.takes == () and only_dal.short == {11: D(3)} and only_dal.est_days is None
    assert only_dal.reason.startswith("nothing ships")


def test_quantities_in_decimals_are_allocated_exactly():
    stock = {(A, CHI): D("3.75"), (A, LAX): D("1.2")}
    rates = Rates({(None, CHI): ("5", "1"), (None, LAX): ("6", "1")})
    alloc = choose_for_order(order(1, (11, A, "4.5", "0.25")), stock, rates, "cost")
    # 3.75 floors to 3.7 (the line counts tenths); the rest from LAX.
    assert taken(alloc) == {(11, CHI, D("3.7")), (11, LAX, D("0.8"))}
    assert alloc.short == {11: D(0)}


# --- waves ---------------------------------------------------------------------------------------


def test_the_optimiser_finds_what_greedy_misses_and_reports_the_saving():
    # Both orders want the last unit in CHI and LAX. CHI is a little cheaper for order 1 (10 vs 11)
    # and much cheaper for order 2 (10 vs 30); greedy serves order 1 first and takes CHI.
    stock = {(A, CHI): D(1), (A, LAX): D(1)}
    rates = Rates({(1, CHI): ("10", "0"), (1, LAX): ("11", "0"), (2, CHI): ("10", "0"), (2, LAX): ("30", "0")})
    wave = [order(1, (11, A, 1), on=date(2026, 11, 1)), order(2, (21, A, 1), on=date(2026, 11, 2))]
    greedy = greedy_wave(wave, stock, rates, "cost", names=NAMES)
    assert greedy.allocations[1].warehouses == (CHI,) and greedy.allocations[2].warehouses == (LAX,)
    assert greedy.total_cost == D(40)
    best = optimise_wave(wave, stock, rates, "cost", names=NAMES)
    assert best.method == "optimised"
    assert best.allocations[1].warehouses == (LAX,) and best.allocations[2].warehouses == (CHI,)
    assert best.total_cost == D(21)
    assert "instead of its own best CHI at 10.00" in best.allocations[1].reason
    figures = compare(greedy, best)
    assert figures["saving"] == D(19) and figures["saving_pct"] == D("47.50")
    assert figures["greedy_parcels"] == figures["optimised_parcels"] == 2
    assert figures["greedy_short_lines"] == figures["optimised_short_lines"] == 0


@pytest.mark.parametrize("how", [greedy_wave, optimise_wave])
def test_scarce_stock_goes_to_the_higher_priority_order_then_the_older_one(how):
    stock = {(A, CHI): D(1)}
    rates = Rates({(None, CHI): ("5", "1")})
    urgent = order(3, (31, A, 1), priority=1, on=date(2026, 11, 20))
    old = order(1, (11, A, 1), on=date(2026, 11, 1))
    new = order(2, (21, A, 1), on=date(2026, 11, 10))
    result = how([old, new, urgent], stock, rates, "cost")
    assert result.allocations[3].complete
    assert result.allocations[1].short == {11: D(1)} and result.allocations[2].short == {21: D(1)}
    result = how([new, old], stock, rates, "cost")
    assert result.allocations[1].complete and result.allocations[2].short == {21: D(1)}
    assert result.short_lines == 1


def test_the_optimiser_serves_an_order_greedy_leaves_short():
    # Order 2 can only be shipped from CHI; order 1 (first in line) prefers CHI but LAX can ship it too.
    stock = {(A, CHI): D(1), (A, LAX): D(1)}
    rates = Rates({(1, CHI): ("5", "0"), (1, LAX): ("6", "0"), (2, CHI): ("5", "0"), (2, LAX): None})
    wave = [order(1, (11, A, 1)), order(2, (21, A, 1))]
    greedy = greedy_wave(wave, stock, rates, "cost")
    assert greedy.short_lines == 1
    best = optimise_wave(wave, stock, rates, "cost")
    assert best.short_lines == 0 and best.total_cost == D(11)
    assert best.allocations[1].warehouses == (LAX,) and best.allocations[2].warehouses == (CHI,)


def test_no_model_when_no_stock_is_contended():
    stock = {(A, CHI): D(10), (B, LAX): D(10)}
    rates = Rates({(None, CHI): ("5", "1"), (None, LAX): ("6", "1")})
    wave = [order(1, (11, A, 1)), order(2, (21, B, 2), (22, A, 1))]
    best = optimise_wave(wave, stock, rates, "cost")
    assert best.method == "optimised" and "not needed" in best.solver_status
    assert best.total_cost == greedy_wave(wave, stock, rates, "cost").total_cost == D(6 + 8 + 6)


def test_without_an_answer_from_the_solver_the_result_is_greedys_and_says_so(monkeypatch):
    monkeypatch.setattr(allocation, "_route", lambda *a, **k: (None, "Time limit reached", False))
    stock = {(A, CHI): D(1), (A, LAX): D(1)}
    rates = Rates({(1, CHI): ("10", "0"), (1, LAX): ("11", "0"), (2, CHI): ("10", "0"), (2, LAX): ("30", "0")})
    wave = [order(1, (11, A, 1)), order(2, (21, A, 1))]
    best = optimise_wave(wave, stock, rates, "cost")
    assert best.method.startswith("greedy (no usable answer from the solver (Time limit reached")
    assert best.total_cost == D(40)


# --- never over-allocated, never worse than greedy (random small waves) ---------------------------

WAREHOUSES = (CHI, LAX, DAL)


@st.composite
def waves(draw):
    n_orders = draw(st.integers(1, 6))
    line_id = 0
    demands = []
    for o in range(1, n_orders + 1):
        lines = []
        for p in draw(st.lists(st.sampled_from([A, B, C]), min_size=1, max_size=3)):
            line_id += 1
            lines.append((line_id, p, draw(st.integers(1, 5)), draw(st.sampled_from(["0.2", "1", "4.5"]))))
        demands.append(order(o, *lines, priority=draw(st.integers(0, 1)),
                             on=date(2026, 11, draw(st.integers(1, 3)))))
    stock = {(p, w): D(draw(st.integers(0, 6))) for p in (A, B, C) for w in WAREHOUSES}
    rate = st.none() | st.tuples(st.sampled_from(["3", "5", "8"]), st.sampled_from(["0", "0.5", "2"]))
    rates = {(o, w): draw(rate) for o in range(1, n_orders + 1) for w in WAREHOUSES}
    days = {(o, w): draw(st.integers(1, 4)) for o in range(1, n_orders + 1) for w in WAREHOUSES}
    return demands, stock, Rates(rates, days), draw(st.sampled_from(["cost", "speed", "fewest_parcels"]))


def check_stock_and_lines(result, demands, stock):
    used = defaultdict(D)
    for alloc in result.allocations.values():
        for t in alloc.takes:
            assert t.quantity > 0
            used[(t.product_id, t.warehouse_id)] += t.quantity
    assert all(q <= stock.get(k, D(0)) for k, q in used.items())
    for d in demands:
        alloc = result.allocations[d.order_id]
        for ln in d.lines:
            got = sum((t.quantity for t in alloc.takes if t.line_id == ln.line_id), D(0))
            assert got + alloc.short[ln.line_id] == ln.quantity


def served_by_rank(result, demands):
    ranked = sorted(demands, key=lambda d: (-d.priority, d.order_date, d.order_id))
    return [ln.quantity - result.allocations[d.order_id].short[ln.line_id] for d in ranked for ln in d.lines]


def line_days(result, rates):
    total = 0
    for alloc in result.allocations.values():
        per_line = defaultdict(lambda: [0, 0])
        for t in alloc.takes:
            per_line[t.line_id][0] += t.quantity * rates.days(alloc.order_id, t.warehouse_id)
            per_line[t.line_id][1] += t.quantity
        total += sum(u / q for u, q in per_line.values())
    return total


@settings(max_examples=150, deadline=None)
@given(waves())
def test_a_wave_never_over_allocates_and_the_optimiser_is_never_worse_than_greedy(case):
    demands, stock, rates, policy = case
    greedy = greedy_wave(demands, stock, rates, policy)
    best = optimise_wave(demands, stock, rates, policy, time_limit_s=10, baseline=greedy)
    for result in (greedy, best):
        check_stock_and_lines(result, demands, stock)
        for alloc in result.allocations.values():
            for t in alloc.takes:  # never from a warehouse that cannot ship there
                assert rates.cost(alloc.order_id, t.warehouse_id, D(1)) is not None
    # Stock first, best-ranked orders first; then the policy's own order: for cost, split orders then cost.
    mine, theirs = served_by_rank(best, demands), served_by_rank(greedy, demands)
    assert mine >= theirs
    if mine == theirs:
        if policy == "cost":
            assert (best.split_orders, best.total_cost) <= (greedy.split_orders, greedy.total_cost)
        elif policy == "fewest_parcels":
            assert (best.parcels, best.total_cost) <= (greedy.parcels, greedy.total_cost)
        else:
            assert (line_days(best, rates), best.total_cost) <= (line_days(greedy, rates), greedy.total_cost)


# --- bad input -----------------------------------------------------------------------------------


def test_bad_input_is_refused_naming_each_field():
    rates = Rates({(None, CHI): ("5", "1")})
    wave = [order(1, (11, A, 1)), Demand(1, (DemandLine(11, A, 2.0, D(1)), DemandLine(12, B, D(-1), D("-2"))))]
    with pytest.raises(ValidationFailed) as e:
        greedy_wave(wave, {(A, CHI): D(-3)}, rates, "cheapest")
    fields = {err.field for err in e.value.errors}
    assert fields == {"policy", "demands[1].order_id", "demands[1].lines[0].line_id", "demands[1].lines[0].quantity",
                      "demands[1].lines[1].quantity", "demands[1].lines[1].unit_weight_kg", "available[1, 10]"}
    with pytest.raises(ValidationFailed) as e:
        choose_for_order(Demand(1, ()), {}, rates, "cost")
    assert [err.field for err in e.value.errors] == ["lines"]
    with pytest.raises(ValidationFailed) as e:
        optimise_wave([order(1, (11, A, 1))], {(A, CHI): D(1)}, rates, "cost", time_limit_s=0)
    assert [err.field for err in e.value.errors] == ["time_limit_s"]


def test_a_shipping_model_that_answers_nonsense_is_refused():
    class Broken(Rates):
        def cost(self, order_id, warehouse_id, weight_kg):
            return D(-1)

    with pytest.raises(ValidationFailed) as e:
        choose_for_order(order(1, (11, A, 1)), {(A, CHI): D(1)}, Broken({(None, CHI): ("1", "1")}), "cost")
    assert e.value.errors[0].field == "shipping" and "order 1 from warehouse 10" in e.value.detail
