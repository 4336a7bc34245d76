"""Financial statement analysis: ratios and the three Altman Z-scores against hand-worked examples, their
zones at the limits, and statements that cannot be true refused naming the field."""
from decimal import Decimal as D

import pytest

from o2c.core.errors import ValidationFailed
from o2c.credit.scoring import (
    DISTRESS, GREY, SAFE, Z, Z_DOUBLE_PRIME, Z_DOUBLE_PRIME_EM, Z_PRIME, Statements, altman, analyse_statements,
    current_ratio, debt_to_equity, interest_coverage, quick_ratio, zone,
)


def statements(**changes) -> Statements:
    # The healthy firm of STANDARDS.md §7: TA 1,000; CA 400; CL 250; RE 300; EBIT 120; MVE 800; TL 500;
    # sales 1,500 (book equity 1,000 - 500 = 500); plus inventory 100 and interest 20.
    figures = dict(currency="USD", total_assets=D(1000), current_assets=D(400), current_liabilities=D(250),
                   total_liabilities=D(500), inventory=D(100), retained_earnings=D(300), ebit=D(120),
                   interest_expense=D(20), sales=D(1500), market_value_of_equity=D(800))
    figures.update(changes)
    return Statements(**figures)


DISTRESSED = dict(total_assets=D(2000), current_assets=D(500), current_liabilities=D(700),
                  total_liabilities=D(1750), inventory=D(200), retained_earnings=D(-150), ebit=D(-40),
                  interest_expense=D(50), sales=D(1800), market_value_of_equity=D(300))


def q(x) -> D:
    return D(x).quantize(D("0.0001"))


def test_liquidity_leverage_and_coverage_ratios_of_the_healthy_firm():
    s = statements()
    assert current_ratio(s).value == q(D(400) / D(250))            # 1.6
    assert quick_ratio(s).value == q((D(400) - D(100)) / D(250))   # 1.2
    assert debt_to_equity(s).value == q(D(500) / D(500))           # 1.0
    assert interest_coverage(s).value == q(D(120) / D(20))         # 6.0
    assert s.book_equity == D(500) and s.working_capital == D(150)


def test_altman_scores_of_the_healthy_firm_match_the_published_formulas():
    x1, x2, x3, x5 = D(150) / 1000, D(300) / 1000, D(120) / 1000, D(1500) / 1000
    market_x4, book_x4 = D(800) / 500, D(500) / 500
    z = D("1.2") * x1 + D("1.4") * x2 + D("3.3") * x3 + D("0.6") * market_x4 + D("1.0") * x5
    z_prime = D("0.717") * x1 + D("0.847") * x2 + D("3.107") * x3 + D("0.420") * book_x4 + D("0.998") * x5
    z_2 = D("6.56") * x1 + D("3.26") * x2 + D("6.72") * x3 + D("1.05") * book_x4
    s = statements()
    assert (altman(s, Z).value, altman(s, Z).zone) == (q(z), SAFE) == (D("3.4560"), SAFE)
    assert (altman(s, Z_PRIME).value, altman(s, Z_PRIME).zone) == (q(z_prime), GREY) == (D("2.6515"), GREY)
    assert (altman(s, Z_DOUBLE_PRIME).value, altman(s, Z_DOUBLE_PRIME).zone) == (q(z_2), SAFE)
    assert altman(s, Z_DOUBLE_PRIME).value == D("3.8184")
    assert altman(s, Z_DOUBLE_PRIME_EM).value == q(z_2 + D("3.25")) == D("7.0684")


def test_altman_scores_of_the_distressed_firm_are_all_in_distress():
    s = statements(**DISTRESSED)
    # the figures of STANDARDS.md §7: Z 0.7119, Z' 0.7608, Z'' -0.8849
    assert [(altman(s, m).value, altman(s, m).zone) for m in (Z, Z_PRIME, Z_DOUBLE_PRIME)] == [
        (D("0.7119"), DISTRESS), (D("0.7608"), DISTRESS), (D("-0.8849"), DISTRESS)]
    assert current_ratio(s).value == q(D(500) / 700)
    assert interest_coverage(s).value == q(D(-40) / 50)


@pytest.mark.parametrize("model,low,high", [
    (Z, "1.81", "2.99"), (Z_PRIME, "1.23", "2.90"), (Z_DOUBLE_PRIME, "1.10", "2.60"),
    (Z_DOUBLE_PRIME_EM, "4.35", "5.85"),
])
def test_zone_limits_belong_to_the_grey_zone(model, low, high):
    low, high, step = D(low), D(high), D("0.0001")
    assert zone(model, low - step) == DISTRESS
    assert zone(model, low) == GREY
    assert zone(model, high) == GREY
    assert zone(model, high + step) == SAFE


def test_the_model_follows_the_firm_and_the_others_are_shown_beside_it():
    listed = analyse_statements(statements(), listed=True, manufacturer=True)
    assert listed.z.model is Z and {z.model.name for z in listed.other_models} == {"Z'", "Z''"}
    assert analyse_statements(statements(), listed=False, manufacturer=True).z.model is Z_PRIME
    assert analyse_statements(statements(), listed=True, manufacturer=False).z.model is Z_DOUBLE_PRIME
    assert analyse_statements(statements(), listed=False, manufacturer=False,
                              emerging_market=True).z.model is Z_DOUBLE_PRIME_EM
    # a listed manufacturer without a share price falls back on book equity, and Z says why it is not there
    no_price = analyse_statements(statements(market_value_of_equity=None), listed=True, manufacturer=True)
    assert no_price.z.model is Z_PRIME
    z = next(z for z in no_price.other_models if z.model is Z)
    assert z.value is None and "market value of equity" in z.reason


def test_ratios_that_cannot_be_computed_say_why_instead_of_failing():
    no_short_debt = statements(current_liabilities=D(0))
    assert current_ratio(no_short_debt).value is None
    assert current_ratio(no_short_debt).reason == "no current liabilities"
    assert quick_ratio(no_short_debt).reason == "no current liabilities"
    assert interest_coverage(statements(interest_expense=D(0))).reason == "no interest expense"
    insolvent = statements(total_liabilities=D(1200))
    assert "negative" in debt_to_equity(insolvent).reason
    assert "zero" in debt_to_equity(statements(total_liabilities=D(1000))).reason
    empty = statements(total_assets=D(0), current_assets=D(0), inventory=D(0), current_liabilities=D(0),
                       total_liabilities=D(0))
    assert [altman(empty, m).reason for m in (Z, Z_PRIME)] == ["total assets are zero"] * 2
    no_debt = statements(current_liabilities=D(0), total_liabilities=D(0))
    assert "no liabilities" in altman(no_debt, Z_PRIME).reason
    assert str(current_ratio(no_short_debt)) == "current ratio: not computed (no current liabilities)"


def refused(**changes) -> list[tuple[str, str]]:
    with pytest.raises(ValidationFailed) as exc:
        statements(**changes)
    return [(e.field, e.code) for e in exc.value.errors]


@pytest.mark.parametrize("changes,expected", [
    ({"total_assets": None}, [("total_assets", "required")]),
    ({"sales": None, "ebit": None}, [("ebit", "required"), ("sales", "required")]),
    ({"total_assets": D(-1)}, [("total_assets", "negative")]),
    ({"interest_expense": D(-5)}, [("interest_expense", "negative")]),
    ({"market_value_of_equity": D(-5)}, [("market_value_of_equity", "negative")]),
    ({"sales": 1500.0}, [("sales", "not_a_decimal")]),
    ({"sales": D("NaN")}, [("sales", "not_a_decimal")]),
    ({"currency": "XXY"}, [("currency", "unknown")]),
    ({"current_assets": D(1001)}, [("current_assets", "above_total")]),
    ({"inventory": D(401)}, [("inventory", "above_total")]),
    ({"current_liabilities": D(501)}, [("current_liabilities", "above_total")]),
])
def test_statements_that_cannot_be_true_are_refused_naming_the_field(changes, expected):
    assert refused(**changes) == expected


def test_losses_may_be_negative_and_whole_numbers_are_accepted():
    s = statements(retained_earnings=D(-300), ebit=-20, market_value_of_equity=None)
    assert s.ebit == D(-20) and isinstance(s.ebit, D)
