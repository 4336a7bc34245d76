"""The risk grade with its reasons and the recommended credit limit: worked cases, then properties over
random figures (the grade never improves as Z falls or lateness grows; the limit is never negative and
never above its cap)."""
from dataclasses import replace
from datetime import date
from decimal import Decimal as D

import pytest
from hypothesis import given
from hypothesis import strategies as st

from o2c.core.errors import ValidationFailed
from o2c.credit.scoring import (
    GRADE_SHARE, Z, Z_DOUBLE_PRIME, Z_PRIME, Grade, Invoice, PaymentBehaviour, Statements, ZScore,
    analyse_statements, grade, payment_behaviour, recommended_limit, zone,
)

from .test_statements import DISTRESSED, statements

AS_OF = date(2026, 9, 30)
ORDER = "ABCDE"


def behaviour(adbt="0", trend=None, disputes=0, bounced=0) -> PaymentBehaviour:
    adbt = None if adbt is None else D(adbt)
    return PaymentBehaviour(adbt, None if adbt is None else adbt + 30, D(0) if adbt == 0 else D(50),
                            D(0) if adbt == 0 else D(50), None if trend is None else D(trend), disputes, bounced,
                            None if trend is not None else "no invoice due in the 3 months before")


def healthy():
    return analyse_statements(statements(), listed=True, manufacturer=True)


def test_a_sound_firm_that_pays_on_time_is_graded_A_with_every_reason_shown():
    g = grade(healthy(), behaviour("0", trend="0"))
    assert (g.grade, g.points) == ("A", 0)
    texts = {r.factor: r.text for r in g.reasons}
    assert texts["Altman Z"] == "Altman Z (public manufacturer) 3.456 is in the safe zone (safe above 2.99, " \
                                "distress below 1.81)"
    assert texts["current ratio"].startswith("current ratio 1.6:")
    assert texts["interest coverage"] == "EBIT covers interest 6 times (3 or more)"
    assert texts["days beyond terms"].startswith("pays on average 0 days beyond terms")


def test_a_distressed_firm_paying_two_months_late_is_graded_E_and_gets_no_credit():
    fa = analyse_statements(statements(**DISTRESSED), listed=False, manufacturer=True)
    late = [Invoice(date(2026, 6, 5), date(2026, 7, 5), D(800), date(2026, 9, 8)),    # 65 days late
            Invoice(date(2026, 3, 1), date(2026, 3, 31), D(200), date(2026, 4, 10))]  # 10 days late
    pb = payment_behaviour(late, as_of=AS_OF, disputes=3, bounced_payments=2)
    g = grade(fa, pb)
    points = {r.factor: r.points for r in g.reasons}
    # Z' 0.7608 distress 30, current ratio 0.71 -> 10, coverage -0.8 -> 10, ADBT (65x800 + 10x200)/1000 = 54
    # -> 30, trend 65 - 10 = +55 -> 5, 3 disputes 6, 2 bounced 10
    assert pb.average_days_beyond_terms == D(54)
    assert points == {"Altman Z": 30, "current ratio": 10, "interest coverage": 10, "days beyond terms": 30,
                      "trend": 5, "disputes": 6, "bounced payments": 10}
    assert (g.grade, g.points) == ("E", 101)
    limit = recommended_limit(fa, g, expected_monthly_purchases=D(1000), currency="USD")
    assert limit.amount == D("0.00") and limit.capacity == D("0.00")  # working capital is negative


def test_missing_information_is_never_counted_as_good():
    g = grade(None, None)
    assert (g.grade, g.points) == ("C", 15 + 5 + 5 + 10)
    assert [r.text for r in g.reasons][0] == "no financial statements submitted: counted as the grey zone"
    limit = recommended_limit(None, g, expected_monthly_purchases=D("1000"), currency="EUR")
    assert limit.capacity is None and limit.amount == D("500.00")  # half the cap


def test_the_limit_is_the_lower_of_capacity_and_cap_reduced_by_grade_and_rounded_down():
    fa = healthy()  # net worth 500 -> 50; working capital 150 -> 30: capacity 30
    a = Grade("A", 0)
    assert recommended_limit(fa, a, expected_monthly_purchases=D(1000), currency="USD").amount == D("30.00")
    # cap: 10 a month over net 60 is 20, below the capacity
    limit = recommended_limit(fa, a, expected_monthly_purchases=D(10), currency="USD", net_days=60)
    assert (limit.cap, limit.amount) == (D("20.00"), D("20.00"))
    # 10.01 x 45 / 30 = 15.015 -> 15.01; grade B 75 % = 11.2575 -> 11.25 (both down)
    b = recommended_limit(fa, Grade("B", 10), expected_monthly_purchases=D("10.01"), currency="USD", net_days=45)
    assert (b.cap, b.amount) == (D("15.01"), D("11.25"))
    # terms shorter than a month still cover a month of purchases; JPY has no minor units
    yen = recommended_limit(None, Grade("D", 50), expected_monthly_purchases=D(999), currency="JPY", net_days=0)
    assert (yen.cap, yen.amount) == (D(999), D(249))  # 999 x 25 % = 249.75
    assert "grade D allows 25 %" in yen.explanation


def test_a_limit_request_that_cannot_be_served_is_refused_naming_the_field():
    def refused(fa=None, **kw):
        args = dict(expected_monthly_purchases=D(100), currency="USD") | kw
        with pytest.raises(ValidationFailed) as exc:
            recommended_limit(fa, Grade("A", 0), **args)
        return [(e.field, e.code) for e in exc.value.errors]
    assert refused(expected_monthly_purchases=D(-1)) == [("expected_monthly_purchases", "invalid")]
    assert refused(expected_monthly_purchases=100.0) == [("expected_monthly_purchases", "invalid")]
    assert refused(currency="ABC") == [("currency", "unknown")]
    assert refused(net_days=400) == [("net_days", "out_of_range")]
    assert refused(healthy(), currency="EUR") == [("currency", "mismatch")]


scores = st.decimals(min_value=D(-5), max_value=D(10), places=4)
days = st.decimals(min_value=D(0), max_value=D(400), places=1)
models = st.sampled_from([Z, Z_PRIME, Z_DOUBLE_PRIME])


def with_z(model, value):
    return replace(healthy(), z=ZScore(model, value, zone(model, value)))


@given(models, scores, scores, days)
def test_a_lower_z_never_gives_a_better_grade(model, z1, z2, adbt):
    low, high = sorted((z1, z2))
    pb = behaviour(adbt)
    assert ORDER.index(grade(with_z(model, low), pb).grade) >= ORDER.index(grade(with_z(model, high), pb).grade)


@given(days, days, scores)
def test_more_days_beyond_terms_never_give_a_better_grade(d1, d2, z):
    fewer, more = sorted((d1, d2))
    fa = with_z(Z_PRIME, z)
    assert ORDER.index(grade(fa, behaviour(more)).grade) >= ORDER.index(grade(fa, behaviour(fewer)).grade)


amounts = st.decimals(min_value=D(0), max_value=D(10) ** 9, places=2)


@st.composite
def any_statements(draw):
    total_assets = draw(amounts)
    current_assets = draw(st.decimals(min_value=D(0), max_value=total_assets, places=2))
    total_liabilities = draw(amounts)
    return Statements("USD", total_assets, current_assets,
                      draw(st.decimals(min_value=D(0), max_value=total_liabilities, places=2)), total_liabilities,
                      draw(st.decimals(min_value=D(0), max_value=current_assets, places=2)),
                      draw(st.decimals(min_value=-(D(10) ** 9), max_value=D(10) ** 9, places=2)),
                      draw(st.decimals(min_value=-(D(10) ** 8), max_value=D(10) ** 8, places=2)),
                      draw(amounts), draw(amounts), draw(st.none() | amounts))


@given(st.none() | any_statements(), st.booleans(), st.booleans(), st.sampled_from(ORDER), amounts,
       st.integers(0, 365))
def test_the_limit_is_never_negative_nor_above_its_cap_nor_the_capacity(s, listed, manufacturer, letter, monthly,
                                                                          net_days):
    fa = None if s is None else analyse_statements(s, listed=listed, manufacturer=manufacturer)
    limit = recommended_limit(fa, Grade(letter, 0), expected_monthly_purchases=monthly, currency="USD",
                              net_days=net_days)
    assert D(0) <= limit.amount <= limit.cap
    assert limit.cap <= monthly * max(net_days, 30) / 30
    assert limit.amount == limit.amount.quantize(D("0.01"))
    if fa is not None:
        assert limit.amount <= limit.capacity
    assert limit.amount <= limit.cap * GRADE_SHARE[letter]
    grade(fa, None)  # any statements can be graded without failing
