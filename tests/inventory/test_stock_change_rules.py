"""Which stock changes may be booked: reason codes and their direction, never below zero or below what
is reserved, no finer quantities than the product's unit."""
from __future__ import annotations

from decimal import Decimal as D

import pytest
from hypothesis import given
from hypothesis import strategies as st

from o2c.inventory import rules


@pytest.mark.parametrize("code, quantity, field, error", [
    ("damaged", D(-2), None, None),
    ("damaged", D(2), "quantity", "wrong_direction"),  # a broken unit never adds stock
    ("expired", D(1), "quantity", "wrong_direction"),
    ("lost", D(-1), None, None),
    ("sample", D("-0.5"), None, None),
    ("found", D(3), None, None),
    ("found", D(-3), "quantity", "wrong_direction"),
    ("correction", D(-4), None, None),
    ("correction", D(4), None, None),
    ("shrinkage", D(-1), "reason", "unknown_reason"),
    ("Damaged", D(-1), "reason", "unknown_reason"),  # codes are exact: reports group by them
])
def test_reason_codes_and_their_direction(code, quantity, field, error):
    problem = rules.adjustment_reason_problem(code, quantity)
    if error is None:
        assert problem is None
    else:
        assert (problem.field, problem.code) == (field, error)


def test_an_unknown_reason_lists_the_codes_there_are():
    problem = rules.adjustment_reason_problem("theft", D(-1))
    assert all(code in problem.message for code in rules.ADJUSTMENT_REASONS)


@pytest.mark.parametrize("on_hand, reserved, change, code", [
    (D(5), D(3), D(-2), None),          # down to exactly what is reserved
    (D(5), D(3), D(-3), "below_reserved"),
    (D(5), D(0), D(-5), None),          # down to zero
    (D(5), D(0), D(-6), "below_zero"),
    (D(0), D(0), D(-1), "below_zero"),
    (D(2), D(2), D(1), None),
])
def test_a_change_keeps_on_hand_at_or_above_what_is_reserved(on_hand, reserved, change, code):
    problem = rules.change_problem(on_hand, reserved, change, "quantity")
    assert (problem.code if problem else None) == code


def test_the_refusal_names_the_figures():
    problem = rules.change_problem(D(5), D(3), D(-3), "lines[0].quantity")
    assert problem.field == "lines[0].quantity"
    assert "5 on hand - 3 = 2, but 3 are reserved" in problem.message


@given(on_hand=st.integers(0, 1000), reserved=st.integers(0, 1000), change=st.integers(-2000, 2000))
def test_every_allowed_change_leaves_stock_for_the_reservations(on_hand, reserved, change):
    if reserved > on_hand:
        on_hand, reserved = reserved, on_hand
    allowed = rules.change_problem(D(on_hand), D(reserved), D(change), "quantity") is None
    assert allowed == (on_hand + change >= reserved)


@pytest.mark.parametrize("counted, reserved, refused", [(D(3), D(3), False), (D(2), D(3), True), (D(0), D(0), False)])
def test_a_count_below_what_is_reserved_is_refused(counted, reserved, refused):
    problem = rules.count_problem(counted, reserved, "lines[1].counted")
    assert (problem is not None) == refused
    if refused:
        assert problem.field == "lines[1].counted" and "counted 2, but 3 are reserved" in problem.message


@pytest.mark.parametrize("quantity, decimals, ok", [
    (D("5"), 0, True), (D("5.000"), 0, True), (D("0.5"), 0, False), (D("12.345"), 3, True), (D("1.5"), 1, True),
])
def test_quantities_are_no_finer_than_the_unit(quantity, decimals, ok):
    assert (rules.unit_problem(quantity, decimals, "EA") is None) == ok
