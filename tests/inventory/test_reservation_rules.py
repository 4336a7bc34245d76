"""Where stock is reserved from, and what waits, for ship-complete and ship-partial customers."""
from decimal import Decimal as D

from hypothesis import given
from hypothesis import strategies as st

from o2c.inventory.rules import Need, plan_reservation

A, B = 1, 2  # products
CHI, LAX = 10, 20  # warehouses


def test_one_warehouse_that_can_ship_everything_is_preferred():
    plan = plan_reservation([Need(1, A, D(5)), Need(2, B, D(2))],
                            {(A, CHI): D(10), (B, CHI): D(1), (A, LAX): D(5), (B, LAX): D(2)}, ship_complete=False)
    assert {(t.line_id, t.warehouse_id, t.quantity) for t in plan.takes} == {(1, LAX, D(5)), (2, LAX, D(2))}
    assert plan.complete


def test_a_line_splits_across_warehouses_when_no_single_one_can():
    plan = plan_reservation([Need(1, A, D(12))], {(A, CHI): D(8), (A, LAX): D(5)}, ship_complete=False)
    assert [(t.warehouse_id, t.quantity) for t in plan.takes] == [(CHI, D(8)), (LAX, D(4))]


def test_ship_partial_reserves_what_there_is_and_backorders_the_rest():
    plan = plan_reservation([Need(1, A, D(12)), Need(2, B, D(3))], {(A, CHI): D(7)}, ship_complete=False)
    assert [(t.line_id, t.quantity) for t in plan.takes] == [(1, D(7))]
    assert plan.backordered == {1: D(5), 2: D(3)}


def test_ship_complete_reserves_nothing_unless_everything_can_go():
    plan = plan_reservation([Need(1, A, D(12)), Need(2, B, D(3))], {(A, CHI): D(20)}, ship_complete=True)
    assert plan.takes == () and plan.backordered == {1: D(12), 2: D(3)}


def test_two_lines_of_one_product_share_its_stock():
    plan = plan_reservation([Need(1, A, D(6)), Need(2, A, D(6))], {(A, CHI): D(10)}, ship_complete=False)
    assert sum(t.quantity for t in plan.takes) == D(10)
    assert plan.backordered == {1: D(0), 2: D(2)}


qty = st.integers(min_value=0, max_value=30).map(D)


@given(needs=st.lists(st.tuples(st.sampled_from([A, B]), st.integers(1, 20).map(D)), min_size=1, max_size=6),
       stock=st.dictionaries(st.tuples(st.sampled_from([A, B]), st.sampled_from([CHI, LAX])), qty),
       ship_complete=st.booleans())
def test_never_reserves_more_than_is_available_nor_more_than_asked(needs, stock, ship_complete):
    ns = [Need(i, p, q) for i, (p, q) in enumerate(needs)]
    plan = plan_reservation(ns, stock, ship_complete)
    used: dict = {}
    for t in plan.takes:
        used[(t.product_id, t.warehouse_id)] = used.get((t.product_id, t.warehouse_id), 0) + t.quantity
        assert t.quantity > 0
    assert all(u <= stock.get(k, 0) for k, u in used.items())
    for n in ns:
        got = sum((t.quantity for t in plan.takes if t.line_id == n.line_id), D(0))
        assert got + plan.backordered[n.line_id] == n.quantity
    if ship_complete:
        assert plan.complete or not plan.takes
