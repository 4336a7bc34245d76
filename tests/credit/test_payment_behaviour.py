"""Payment behaviour from a customer's invoice history: days beyond terms weighted by amount, weighted DSO,
the share paid late, the trend of the last 3 months against the 3 before, and bad history refused."""
from datetime import date, timedelta
from decimal import Decimal as D

import pytest

from o2c.core.errors import ValidationFailed
from o2c.credit.scoring import Invoice, months_before, payment_behaviour

AS_OF = date(2026, 9, 30)


def inv(issued: date, amount, late: int | None, net: int = 30) -> Invoice:
    """An invoice on net terms, paid `late` days after its due date (negative: early), None: open."""
    due = issued + timedelta(days=net)
    return Invoice(issued, due, D(amount), None if late is None else due + timedelta(days=late))


def test_days_beyond_terms_weigh_each_invoice_by_its_amount():
    history = [inv(date(2026, 1, 5), 1000, 0), inv(date(2026, 2, 5), 3000, 20), inv(date(2026, 3, 5), 1000, -4)]
    pb = payment_behaviour(history, as_of=AS_OF)
    # (1000 x 0 + 3000 x 20 + 1000 x 0) / 5000: paying 4 days early does not offset the late one
    assert pb.average_days_beyond_terms == D(0 * 1000 + 20 * 3000 + 0 * 1000) / 5000 == D(12)
    assert pb.late_share_by_amount == D("60.0")                     # 3000 of 5000
    assert pb.late_share_by_count == (D(1) / 3 * 100).quantize(D("0.1"))  # 33.3
    # weighted DSO: days from issue to payment, 30 / 50 / 26, weighted by amount
    assert pb.weighted_dso == D(30 * 1000 + 50 * 3000 + 26 * 1000) / 5000 == D("41.2")


def test_an_open_overdue_invoice_counts_its_days_so_far_and_one_not_yet_due_does_not():
    overdue = Invoice(date(2026, 8, 1), date(2026, 8, 31), D(500))     # 30 days beyond terms on 30 Sep
    not_due = Invoice(date(2026, 9, 20), date(2026, 10, 20), D(9500))  # says nothing about lateness yet
    pb = payment_behaviour([overdue, not_due], as_of=AS_OF)
    assert pb.average_days_beyond_terms == D("30.0")
    assert pb.late_share_by_amount == D("100.0")
    # the DSO counts both for the days they have been outstanding: 60 and 10
    assert pb.weighted_dso == D(60 * 500 + 10 * 9500) / 10000 == D("12.5")


def test_the_trend_compares_the_last_3_months_with_the_3_before():
    before = [inv(date(2026, 3, 10), 1000, 2)]        # due 9 April: in 31 Mar .. 30 Jun
    recent = [inv(date(2026, 7, 10), 1000, 15), inv(date(2026, 8, 1), 1000, 5)]  # due in Jul .. Sep
    pb = payment_behaviour(before + recent, as_of=AS_OF)
    assert pb.trend_days == D(15 + 5) / 2 - 2 == D(8)
    faster = payment_behaviour([inv(date(2026, 3, 10), 1000, 20), inv(date(2026, 7, 10), 1000, 0)], as_of=AS_OF)
    assert faster.trend_days == D(-20)


def test_no_trend_without_invoices_due_in_both_periods():
    pb = payment_behaviour([inv(date(2026, 8, 1), 1000, 3)], as_of=AS_OF)
    assert pb.trend_days is None and pb.trend_reason == "no invoice due in the 3 months before"
    empty = payment_behaviour([], as_of=AS_OF, disputes=2, bounced_payments=1)
    assert (empty.average_days_beyond_terms, empty.weighted_dso, empty.late_share_by_amount) == (None, None, None)
    assert empty.trend_reason == "no invoice due in the last 3 months"
    assert (empty.disputes, empty.bounced_payments) == (2, 1)


@pytest.mark.parametrize("day,months,expected", [
    (date(2026, 9, 30), 3, date(2026, 6, 30)),
    (date(2026, 5, 31), 3, date(2026, 2, 28)),
    (date(2026, 2, 15), 6, date(2025, 8, 15)),
    (date(2028, 5, 31), 3, date(2028, 2, 29)),
])
def test_months_are_calendar_months_ending_on_the_last_day_when_shorter(day, months, expected):
    assert months_before(day, months) == expected


def refused(invoices, **kw) -> list[tuple[str, str]]:
    with pytest.raises(ValidationFailed) as exc:
        payment_behaviour(invoices, as_of=AS_OF, **kw)
    return [(e.field, e.code) for e in exc.value.errors]


def test_history_that_cannot_be_true_is_refused_naming_the_invoice_and_field():
    ok = inv(date(2026, 1, 5), 100, 0)
    assert refused([ok, Invoice(date(2026, 2, 1), date(2026, 1, 1), D(100))]) == [("invoices[1].due", "before_issue")]
    assert refused([Invoice(date(2026, 2, 1), date(2026, 3, 1), D(100), date(2026, 1, 1))]) == [
        ("invoices[0].paid", "before_issue")]
    assert refused([Invoice(date(2026, 9, 1), date(2026, 10, 1), D(100), date(2026, 10, 2))]) == [
        ("invoices[0].paid", "in_future")]
    assert refused([Invoice(date(2026, 10, 1), date(2026, 10, 31), D(100))]) == [("invoices[0].issued", "in_future")]
    assert refused([Invoice(date(2026, 1, 1), date(2026, 1, 31), D(0))]) == [("invoices[0].amount", "not_positive")]
    assert refused([Invoice(date(2026, 1, 1), date(2026, 1, 31), 12.5)]) == [("invoices[0].amount", "not_positive")]
    assert refused([Invoice(None, date(2026, 1, 31), D(5))]) == [("invoices[0].issued", "required")]
    assert refused([ok, (date(2026, 1, 5), date(2026, 2, 4), D(5))]) == [("invoices[1]", "not_an_invoice")]
    assert refused([ok], disputes=-1, bounced_payments="2") == [
        ("disputes", "not_a_count"), ("bounced_payments", "not_a_count")]
