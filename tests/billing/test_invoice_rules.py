"""Invoice rules: a shipment is invoiced for what shipped, in cumulative shares of the order line, so a
line's invoices add up to the order line exactly however it ships."""
from decimal import Decimal as D

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from o2c.billing import rules as r
from o2c.core.errors import ValidationFailed

WIDGETS = r.OrderedLine(1, D("20"), D("180.00"), D("11.25"))  # 20 at 9.00, 6.25 % tax
GADGETS = r.OrderedLine(2, D("2"), D("45.00"), D("2.81"))
ORDER = {1: WIDGETS, 2: GADGETS}


def test_a_short_shipment_is_invoiced_for_what_shipped_and_the_rest_for_the_remainder():
    first = r.invoice_lines(ORDER, [r.Shipped(1, D("19")), r.Shipped(2, D("2"))], "USD")
    assert [(a.quantity, a.net, a.tax) for a in first] == [(D("19"), D("171.00"), D("10.69")),
                                                           (D("2"), D("45.00"), D("2.81"))]
    # 11.25 x 19/20 = 10.6875 -> 10.69; the last widget takes what is left: 0.56, not a rounded 0.56(25)
    [last] = r.invoice_lines(ORDER, [r.Shipped(1, D("1"), already_invoiced=D("19"))], "USD")
    assert (last.net, last.tax) == (D("9.00"), D("0.56"))
    t = r.totals(first)
    assert (t.net, t.tax, t.gross) == (D("216.00"), D("13.50"), D("229.50"))


def test_a_cent_that_rounding_would_lose_lands_on_a_later_invoice():
    # 0.10 tax on 3 units shipped one by one: 0.03, 0.04, 0.03 (cumulative 0.03, 0.07, 0.10), not 3 x 0.03
    line = {1: r.OrderedLine(1, D("3"), D("1.00"), D("0.10"))}
    taxes = [r.invoice_lines(line, [r.Shipped(1, D("1"), D(k))], "USD")[0].tax for k in range(3)]
    assert taxes == [D("0.03"), D("0.04"), D("0.03")]


def test_more_than_is_left_to_invoice_a_foreign_line_and_no_quantity_are_refused():
    with pytest.raises(ValidationFailed) as exc:
        r.invoice_lines(ORDER, [r.Shipped(1, D("2"), already_invoiced=D("19")), r.Shipped(9, D("1")),
                                r.Shipped(2, D("0"))], "USD")
    assert [(e.field, e.code) for e in exc.value.errors] == [
        ("lines[0].quantity", "over_invoiced"), ("lines[1].order_line_id", "unknown"),
        ("lines[2].quantity", "not_positive")]


def test_numbers_carry_series_year_and_six_digits():
    assert r.invoice_number("INV", 2026, 1) == "INV-2026-000001"


@st.composite
def split_line(draw):
    """An order line (quantity to 3 decimals, net and tax in minor units) and a random split of its
    quantity into shipments."""
    currency, places = draw(st.sampled_from([("USD", 2), ("JPY", 0), ("BHD", 3)]))
    qty_units = draw(st.integers(1, 50_000))  # thousandths
    # up to 20 shipments: cut the quantity at distinct points
    cuts = sorted(set(draw(st.lists(st.integers(1, qty_units - 1), max_size=19)))) if qty_units > 1 else []
    parts = [b - a for a, b in zip([0, *cuts], [*cuts, qty_units])]
    q = D(1).scaleb(-places)
    net = D(draw(st.integers(0, 10**9))) * q
    tax = D(draw(st.integers(0, 10**8))) * q
    return currency, q, r.OrderedLine(1, D(qty_units) / 1000, net, tax), [D(p) / 1000 for p in parts]


@settings(deadline=None)
@given(split_line())
def test_the_invoices_of_a_line_shipped_in_any_parts_add_up_to_the_line_exactly(case):
    currency, quantum, line, parts = case
    nets, taxes, already = [], [], D(0)
    for part in parts:
        [a] = r.invoice_lines({1: line}, [r.Shipped(1, part, already)], currency)
        nets.append(a.net)
        taxes.append(a.tax)
        # each part is within one minor unit of its exact share, and never negative
        assert abs(a.net - line.net * part / line.quantity) <= quantum and a.net >= 0
        assert abs(a.tax - line.tax * part / line.quantity) <= quantum and a.tax >= 0
        already += part
    assert sum(nets) == line.net and sum(taxes) == line.tax
