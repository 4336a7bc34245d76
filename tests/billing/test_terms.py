"""Payment terms: reading them, the due date, the discount deadline and the discount."""
from datetime import date, timedelta
from decimal import Decimal as D

import pytest
from hypothesis import given
from hypothesis import strategies as st

from o2c.billing.terms import (
    DUE_ON_RECEIPT, Terms, discount_amount, discount_deadline, discount_tax_share, due_date, parse_terms,
)
from o2c.core.errors import ValidationFailed

MARCH_1 = date(2026, 3, 1)


def refused(call) -> list[tuple[str, str]]:
    with pytest.raises(ValidationFailed) as exc:
        call()
    return [(e.field, e.code) for e in exc.value.errors]


@pytest.mark.parametrize("text,terms", [
    ("net 30", Terms(30)),
    ("Net30", Terms(30)),
    ("NET 45 days", Terms(45)),
    ("n/60", Terms(60)),
    ("2/10 net 30", Terms(30, D(2), 10)),
    ("2/10, n/30", Terms(30, D(2), 10)),
    ("  1.5% / 15   net 45 ", Terms(45, D("1.5"), 15)),
    ("due on receipt", DUE_ON_RECEIPT),
    ("Due upon receipt", DUE_ON_RECEIPT),
    ("net 0", DUE_ON_RECEIPT),
])
def test_terms_are_read_as_people_write_them(text, terms):
    assert parse_terms(text) == terms


@pytest.mark.parametrize("terms,text", [
    (Terms(30), "net 30"), (Terms(30, D("2.0"), 10), "2/10 net 30"), (Terms(45, D("1.5"), 15), "1.5/15 net 45"),
    (DUE_ON_RECEIPT, "due on receipt"),
])
def test_terms_print_the_way_they_are_read(terms, text):
    assert str(terms) == text
    assert parse_terms(str(terms)) == terms


@pytest.mark.parametrize("text,expected", [
    ("net thirty", ("payment_terms", "unreadable")),
    ("2/10", ("payment_terms", "unreadable")),
    ("net -5", ("payment_terms", "unreadable")),
    ("net 400", ("payment_terms.net_days", "out_of_range")),
    ("2/45 net 30", ("payment_terms.discount_days", "after_net")),
    ("0/10 net 30", ("payment_terms.discount_pct", "out_of_range")),
    ("100/10 net 30", ("payment_terms.discount_pct", "out_of_range")),
    ("2/0 net 30", ("payment_terms.discount_days", "out_of_range")),
    ("2/10 due on receipt", ("payment_terms", "unreadable")),
])
def test_nonsense_terms_are_refused_naming_the_part_at_fault(text, expected):
    assert refused(lambda: parse_terms(text, field="payment_terms")) == [expected]


def test_terms_built_in_code_are_checked_too():
    assert refused(lambda: Terms(30, D(2))) == [("discount_days", "required")]
    assert refused(lambda: Terms(30, None, 10)) == [("discount_pct", "required")]
    assert refused(lambda: Terms(30, 2.0, 10)) == [("discount_pct", "out_of_range")]  # a float is refused
    assert refused(lambda: Terms(-1)) == [("net_days", "out_of_range")]
    assert refused(lambda: Terms(D(30))) == [("net_days", "not_whole_days")]
    assert Terms(30, 2, 10).discount_pct == D(2)  # a whole percentage may be given as an int


def test_due_date_and_discount_deadline_count_days_from_the_invoice_date():
    terms = parse_terms("2/10 net 30")
    assert due_date(MARCH_1, terms) == date(2026, 3, 31)
    assert discount_deadline(MARCH_1, terms) == date(2026, 3, 11)
    assert due_date(MARCH_1, DUE_ON_RECEIPT) == MARCH_1
    assert discount_deadline(MARCH_1, parse_terms("net 30")) is None
    assert due_date(date(2026, 12, 15), parse_terms("net 30")) == date(2027, 1, 14)


def test_the_discount_is_on_the_gross_rounded_half_up_and_only_until_the_deadline_inclusive():
    terms = parse_terms("2/10 net 30")

    def discount(gross, paid_on, currency="USD", t=terms):
        return discount_amount(gross, t, invoice_date=MARCH_1, paid_on=paid_on, currency=currency)

    assert discount(D("1190.00"), date(2026, 3, 11)) == D("23.80")  # 1,000 net + 19 % tax: 2 % of the gross
    assert discount(D("1190.00"), date(2026, 3, 12)) == D(0)  # a day late
    assert discount(D("100.25"), date(2026, 3, 5)) == D("2.01")  # 2.005 rounds half-up
    assert discount(D("1999"), MARCH_1, currency="JPY") == D("40")  # 39.98 yen
    assert discount(D("1000.00"), MARCH_1, t=parse_terms("net 30")) == D(0)
    assert refused(lambda: discount(D("-1.00"), MARCH_1)) == [("amount", "invalid")]


def test_the_tax_share_of_a_discount_follows_the_net_and_tax_of_the_gross():
    assert discount_tax_share(D("23.80"), D("1000.00"), D("190.00"), "USD") == D("3.80")
    assert discount_tax_share(D("0.03"), D("0.10"), D("0.05"), "USD") == D("0.01")
    assert discount_tax_share(D("2.00"), D("100.00"), D("0"), "USD") == D(0)


@given(gross=st.decimals(min_value=D(0), max_value=D("1e9"), places=2),
       pct=st.decimals(min_value=D("0.01"), max_value=D("99.99"), places=2),
       days=st.integers(1, 60), late=st.integers(-5, 5))
def test_a_discount_is_never_more_than_the_gross_and_is_given_exactly_up_to_the_deadline(gross, pct, days, late):
    terms = Terms(days + 30, pct, days)
    paid_on = discount_deadline(MARCH_1, terms) + timedelta(days=late)
    got = discount_amount(gross, terms, invoice_date=MARCH_1, paid_on=paid_on, currency="USD")
    assert D(0) <= got <= gross
    assert (got == 0) == (late > 0 or gross * pct / 100 < D("0.005"))  # below half a cent rounds to 0
