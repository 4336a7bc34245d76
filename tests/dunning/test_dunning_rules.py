"""Dunning rules, pure: the default levels, which level an invoice is due for on a date, grouping into
letters, fees, late interest (simple, ACT/365, half-up to minor units), and levels refused naming the
field."""
from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal as D

import pytest
from hypothesis import given
from hypothesis import strategies as st

from o2c.core.errors import ValidationFailed
from o2c.dunning import rules
from o2c.dunning.rules import DEFAULT_LEVELS, Level, OpenInvoice

DUE = date(2026, 12, 30)


def day(n: int) -> date:
    """The date `n` days after the due date (before it when negative)."""
    return DUE + timedelta(days=n)


def level_on(n: int, received=()) -> str | None:
    lv = rules.due_level(DEFAULT_LEVELS, DUE, day(n), received)
    return lv.code if lv else None


def test_the_default_levels_are_a_friendly_note_3_days_before_then_7_21_and_35_days_after():
    assert [(lv.rank, lv.code, lv.days_overdue, lv.fee, lv.interest_pct_year) for lv in DEFAULT_LEVELS] == [
        (0, "friendly", -3, D(0), D(0)), (1, "first", 7, D(0), D(0)), (2, "second", 21, D("5.00"), D(0)),
        (3, "final", 35, D("10.00"), D(0))]
    assert rules.check_levels(DEFAULT_LEVELS, "USD") == DEFAULT_LEVELS


@pytest.mark.parametrize("n, received, expected", [
    (-4, (), None),             # too early for anything
    (-3, (), "friendly"),       # three days before the due date
    (0, (0,), None),            # the friendly note was sent; nothing new on the due date
    (6, (0,), None),
    (7, (0,), "first"),
    (20, (0, 1), None),
    (21, (0, 1), "second"),
    (35, (0, 1, 2), "final"),
    (400, (0, 1, 2, 3), None),  # past the last level: nothing, however late
    (5, (), "friendly"),        # never reminded and not yet at the first level: the friendly note, late
])
def test_each_level_comes_on_its_day_and_once(n, received, expected):
    assert level_on(n, received) == expected


def test_an_invoice_that_jumped_past_levels_gets_only_the_highest_due():
    assert level_on(40) == "final"            # never reminded (the run did not happen): straight to final
    assert level_on(22, received=(0,)) == "second"  # the first is skipped, not sent late


def test_an_invoice_never_goes_back_to_a_lower_level():
    assert level_on(8, received=(2,)) is None  # reminded at the second level (levels were changed since)
    assert level_on(21, received=(2,)) is None


def test_interest_is_simple_act_365_on_the_open_amount_rounded_half_up_to_minor_units():
    # 1,000.00 at 8 % for 30 days: 1000 x 0.08 x 30 / 365 = 6.5753... -> 6.58
    assert rules.interest(D("1000.00"), D("8"), 30, "USD") == D("6.58")
    # A whole year is the rate: 365 days of 10 % on 250.00 = 25.00
    assert rules.interest(D("250.00"), D("10"), 365, "USD") == D("25.00")
    # Half a minor unit rounds up: 182.50 x 1 % x 1/365 = 0.005 -> 0.01
    assert rules.interest(D("182.50"), D("1"), 1, "USD") == D("0.01")
    # Minor units by currency: yen have none, dinars three.
    assert rules.interest(D("100000"), D("5"), 73, "JPY") == D("1000")
    assert rules.interest(D("100.000"), D("7"), 10, "BHD") == D("0.192")
    # Nothing for no days, no rate or nothing open.
    for args in ((D("100"), D("8"), 0), (D("100"), D("8"), -5), (D("100"), D("0"), 30), (D("0"), D("8"), 30)):
        assert rules.interest(*args, "USD") == D("0.00")


@given(st.integers(1, 10**8), st.integers(0, 10000), st.integers(1, 3 * 365))
def test_interest_is_exact_to_half_a_minor_unit(cents, basis_points, days):
    amount, pct = D(cents) / 100, D(basis_points) / 100
    got = rules.interest(amount, pct, days, "USD")
    exact = amount * pct / 100 * days / 365
    assert got == got.quantize(D("0.01")) and abs(got - exact) <= D("0.005")


def invoice(invoice_id, customer_id=1, currency="USD", open_amount="100.00", due=DUE, received=(), charged_to=None):
    return OpenInvoice(invoice_id, customer_id, currency, due, D(open_amount), frozenset(received), charged_to)


def test_one_letter_per_customer_and_currency_at_the_highest_level_of_its_invoices_with_its_fee_once():
    letters = rules.plan(DEFAULT_LEVELS, [
        invoice(3, customer_id=2),
        invoice(1, open_amount="114.75", received=(0, 1)),        # due the second (fee 5.00)
        invoice(2, open_amount="47.81", due=day(-14)),            # 35 days overdue: final (fee 10.00)
        invoice(4, open_amount="20.00", received=(0, 1, 2, 3)),   # done
        invoice(5, currency="EUR", open_amount="9.50"),
        invoice(6, open_amount="0.00"),                           # paid: left out
        invoice(7, customer_id=2, open_amount="-3.00"),           # credited beyond: left out
    ], day(21), "USD")
    assert [(lt.customer_id, lt.currency, lt.level.code, [(it.invoice_id, it.rank, it.days_overdue) for it in lt.items],
             lt.open_total, lt.fee, lt.total) for lt in letters] == [
        (1, "EUR", "second", [(5, 2, 21)], D("9.50"), D("0.00"), D("9.50")),  # a fee is a company-currency figure
        (1, "USD", "final", [(1, 2, 21), (2, 3, 35)], D("162.56"), D("10.00"), D("172.56")),
        (2, "USD", "second", [(3, 2, 21)], D("100.00"), D("5.00"), D("105.00"))]


def test_interest_is_charged_per_invoice_at_its_level_for_the_days_not_charged_before():
    levels = (Level(0, "first", 7, interest_pct_year=D("5")), Level(1, "final", 30, D("10.00"), D("8")))
    # The first reminder charged 5 % for 7 days; the final charges 8 % from then (day 7) to day 30: 23 days.
    [lt] = rules.plan(levels, [invoice(1, open_amount="1000.00", received=(0,), charged_to=day(7))], day(30), "USD")
    assert [(it.rank, it.interest) for it in lt.items] == [(1, D("5.04"))]  # 1000 x 8 % x 23/365 = 5.041
    assert (lt.fee, lt.interest, lt.total) == (D("10.00"), D("5.04"), D("1015.04"))
    # Never charged before: from the due date.
    [lt] = rules.plan(levels, [invoice(1, open_amount="1000.00")], day(30), "USD")
    assert lt.interest == D("6.58")  # 30 days
    # Interest in a foreign currency: a rate applies in any currency; the fee does not.
    [lt] = rules.plan(levels, [invoice(1, currency="EUR", open_amount="1000.00")], day(30), "USD")
    assert (lt.fee, lt.interest) == (D("0.00"), D("6.58"))


def test_a_friendly_note_charges_no_interest_before_the_due_date():
    levels = (Level(0, "friendly", -3, interest_pct_year=D("8")),)
    [lt] = rules.plan(levels, [invoice(1)], day(-3), "USD")
    assert lt.items[0].days_overdue == -3 and lt.interest == D("0.00")


def test_the_reminder_number_and_its_interest_item():
    assert rules.reminder_number(12) == "REM00000012"
    assert rules.interest_item("REM00000012") == "REM00000012-INT"


def fields(levels, currency="USD") -> list[str]:
    with pytest.raises(ValidationFailed) as exc:
        rules.check_levels(levels, currency)
    return [e.field for e in exc.value.errors]


def test_levels_are_refused_naming_the_field():
    ok = list(DEFAULT_LEVELS)
    assert fields([]) == ["levels"]
    assert fields([Level(0, "a", 0)] * 11)[0] == "levels"
    assert fields([ok[0], Level(0, "first", 7)]) == ["levels[1].rank"]                  # ranks ascend
    assert fields([ok[0], Level(1, "first", -3)]) == ["levels[1].days_overdue"]         # days ascend with them
    assert fields([ok[0], Level(1, "friendly", 7)]) == ["levels[1].code"]               # codes unique
    assert fields([Level(0, "First Level", 7)]) == ["levels[0].code"]
    assert fields([Level(0, "first", 7, fee=D("-1"))]) == ["levels[0].fee"]
    assert fields([Level(0, "first", 7, fee=D("1.005"))]) == ["levels[0].fee"]          # not in cents
    assert fields([Level(0, "first", 7, fee=D("5.5"))], "JPY") == ["levels[0].fee"]     # yen have no cents
    assert fields([Level(0, "first", 7, interest_pct_year=D("100.01"))]) == ["levels[0].interest_pct_year"]
    assert fields([Level(0, "first", 7, interest_pct_year=D("-1"))]) == ["levels[0].interest_pct_year"]
    assert fields([Level(0, "first", 7, interest_pct_year=D("NaN"))]) == ["levels[0].interest_pct_year"]
    assert fields([Level(0, "first", -32)]) == ["levels[0].days_overdue"]
    assert fields([Level(-1, "first", 7)]) == ["levels[0].rank"]
    # Every bad field of every level at once.
    assert fields([Level(0, "first", 7, fee=D("-1")), Level(0, "first", 3, interest_pct_year=D("200"))]) == [
        "levels[0].fee", "levels[1].rank", "levels[1].code", "levels[1].days_overdue", "levels[1].interest_pct_year"]
    # Ranks need not be contiguous, and 0 % / 100 % are allowed.
    assert rules.check_levels([Level(1, "first", 10), Level(5, "last", 60, D("0"), D("100"))], "USD")
