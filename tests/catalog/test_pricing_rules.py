"""Pricing and tax rules: quantity breaks, tax by jurisdiction and date, and line rounding."""
from datetime import date
from decimal import Decimal as D

from hypothesis import given
from hypothesis import strategies as st

from o2c.catalog.rules import (
    LineInput, TaxRateRow, deviation_pct, price_lines, tax_rate_for, totals, unit_price_for,
)
from o2c.core.money import minor_units, round_money

BREAKS = [(D(1), D("10.00")), (D(10), D("9.00")), (D(100), D("8.00"))]


def test_quantity_breaks_take_the_highest_break_reached():
    assert unit_price_for(BREAKS, D(1)) == D("10.00")
    assert unit_price_for(BREAKS, D("9.999")) == D("10.00")
    assert unit_price_for(BREAKS, D(10)) == D("9.00")
    assert unit_price_for(BREAKS, D(5000)) == D("8.00")
    assert unit_price_for([(D(5), D(1))], D(2)) is None


RATES = [
    TaxRateRow("US", None, "standard", D("5"), date(2020, 1, 1)),
    TaxRateRow("US", "IL", "standard", D("6.25"), date(2020, 1, 1)),
    TaxRateRow("US", "IL", "standard", D("6.5"), date(2027, 1, 1)),
    TaxRateRow("US", "IL", "reduced", D("1"), date(2020, 1, 1)),
]


def test_tax_rate_prefers_the_region_and_the_latest_rate_in_force():
    assert tax_rate_for(RATES, "US", "IL", "standard", date(2026, 6, 1)).rate_pct == D("6.25")
    assert tax_rate_for(RATES, "US", "il", "standard", date(2027, 1, 1)).rate_pct == D("6.5")
    assert tax_rate_for(RATES, "US", "TX", "standard", date(2026, 6, 1)).rate_pct == D("5")
    assert tax_rate_for(RATES, "US", "IL", "reduced", date(2026, 6, 1)).rate_pct == D("1")
    assert tax_rate_for(RATES, "US", "IL", "standard", date(2019, 12, 31)) is None
    assert tax_rate_for(RATES, "CA", None, "standard", date(2026, 6, 1)) is None


def test_deviation_is_measured_against_the_list_price():
    assert deviation_pct(D("10"), D("7")) == D(30)
    assert deviation_pct(D("10"), D("11")) == D(10)
    assert deviation_pct(D("0"), D("1")) == D(100)


def test_a_line_is_rounded_once_per_amount():
    [a] = price_lines([LineInput(D(3), D("0.3333"), D("0"), D("6.25"))], "USD")
    assert (a.gross, a.discount, a.net, a.tax) == (D("1.00"), D("0.00"), D("1.00"), D("0.06"))
    [b] = price_lines([LineInput(D(20), D("8.50"), D("5"), D("6.25"))], "USD")
    assert (b.gross, b.discount, b.net, b.tax, b.total) == (D("170.00"), D("8.50"), D("161.50"), D("10.09"), D("171.59"))


def test_an_order_discount_is_spread_over_lines_before_tax():
    lines = [LineInput(D(1), D("100"), D(0), D("10")), LineInput(D(1), D("50"), D(0), D("0"))]
    a, b = price_lines(lines, "USD", order_discount=D("15.00"))
    assert (a.discount, b.discount) == (D("10.00"), D("5.00"))
    assert (a.tax, b.tax) == (D("9.00"), D("0.00"))
    assert totals([a, b]).total == D("144.00")


line = st.builds(
    LineInput,
    quantity=st.decimals(min_value=D("0.001"), max_value=D(100000), places=3, allow_nan=False),
    unit_price=st.decimals(min_value=0, max_value=D(100000), places=4, allow_nan=False),
    discount_pct=st.decimals(min_value=0, max_value=100, places=2, allow_nan=False),
    tax_rate_pct=st.sampled_from([D(0), D("6.25"), D("7.25"), D(19), D("20"), D("8.875")]),
)


@given(lines=st.lists(line, min_size=1, max_size=30), currency=st.sampled_from(["USD", "JPY", "BHD"]),
       discount_share=st.decimals(min_value=0, max_value=1, places=2, allow_nan=False))
def test_no_cent_appears_or_disappears(lines, currency, discount_share):
    base = price_lines(lines, currency)
    net_before = sum((a.net for a in base), D(0))
    order_discount = round_money(net_before * discount_share, currency)
    amounts = price_lines(lines, currency, order_discount)
    t = totals(amounts)
    # every stored amount is in the currency's minor units
    for a in amounts:
        for v in (a.gross, a.discount, a.net, a.tax):
            assert v == round_money(v, currency)
        assert a.net == a.gross - a.discount
    # the order is exactly the sum of its lines
    assert t.total == t.subtotal - t.discount + t.tax
    assert t.total == sum((a.total for a in amounts), D(0))
    # the order discount is spent to the last minor unit, never more, never less
    assert net_before - sum((a.net for a in amounts), D(0)) == order_discount
    # each line's tax is its own net times its rate, rounded once
    for a, li in zip(amounts, lines):
        assert a.tax == round_money(a.net * li.tax_rate_pct / 100, currency)
    assert minor_units(currency) >= 0
