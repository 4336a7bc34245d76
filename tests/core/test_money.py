"""Money rounding: half-up to each currency's minor units, and splits that lose no cent."""
from decimal import Decimal as D

import pytest
from hypothesis import given
from hypothesis import strategies as st

from o2c.core.money import UnknownCurrency, allocate, minor_units, round_money


def test_minor_units_follow_iso_4217():
    assert (minor_units("USD"), minor_units("JPY"), minor_units("BHD")) == (2, 0, 3)
    with pytest.raises(UnknownCurrency):
        minor_units("XYZ")


@pytest.mark.parametrize("amount,currency,expected", [
    ("2.345", "USD", "2.35"), ("2.344", "USD", "2.34"), ("-2.345", "USD", "-2.35"),
    ("0.5", "JPY", "1"), ("1.0005", "BHD", "1.001"), ("10", "EUR", "10.00"),
])
def test_round_half_up(amount, currency, expected):
    assert str(round_money(D(amount), currency)) == expected


def test_allocate_gives_leftover_cents_to_largest_remainders():
    assert allocate(D("10.00"), [D(1), D(1), D(1)], "USD") == [D("3.34"), D("3.33"), D("3.33")]
    assert allocate(D("0.05"), [D(70), D(20), D(10)], "USD") == [D("0.04"), D("0.01"), D("0.00")]


def test_allocate_refuses_an_amount_finer_than_the_currency():
    with pytest.raises(ValueError):
        allocate(D("1.005"), [D(1)], "USD")


currencies = st.sampled_from(["USD", "JPY", "BHD", "EUR"])


@given(
    cents=st.integers(min_value=-10**9, max_value=10**9),
    weights=st.lists(st.decimals(min_value=0, max_value=10**6, places=2, allow_nan=False), min_size=1, max_size=40),
    currency=currencies,
)
def test_allocate_never_creates_or_loses_a_minor_unit(cents, weights, currency):
    total = D(cents).scaleb(-minor_units(currency))
    parts = allocate(total, weights, currency)
    assert sum(parts, D(0)) == total
    assert all(round_money(p, currency) == p for p in parts)
    if any(weights):
        # no part receives a share of another's weight: zero weight, zero part
        assert all(p == 0 for p, w in zip(parts, weights) if w == 0)
