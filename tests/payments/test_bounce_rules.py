"""Bounced payments, the pure parts: the ledger's postings for a bounce, a reversal and a bounce fee;
the request's checks; which write-offs a payment brought about."""
from datetime import date, datetime, timezone
from decimal import Decimal as D

import pytest

from o2c.core.errors import ErrorList, ValidationFailed
from o2c.ledger import rules as r
from o2c.ledger.rules import DEFAULT_CHART as CHART
from o2c.payments.bounces import _taken_with, check_bounce
from o2c.payments.models import Settlement

DAY = date(2026, 12, 7)


def postings(entry: r.Entry) -> list[tuple]:
    return [(ln.account_code, str(ln.debit), str(ln.credit), ln.customer_id, ln.open_item) for ln in entry.lines]


def refused(call) -> list[tuple[str, str]]:
    with pytest.raises(ValidationFailed) as exc:
        call()
    return [(e.field, e.code) for e in exc.value.errors]


def bounced(amount="70.00", applications=None, credit="6.25", method="direct_debit"):
    apps = {"INV-1": D("21.25"), "INV-2": D("42.50")} if applications is None else applications
    return r.payment_bounced(CHART, payment_id="PAY-1", customer_id="7", on=DAY, currency="USD", amount=D(amount),
                             method=method, applications=apps, credit=D(credit))


def test_a_bounce_owes_each_invoice_again_takes_the_credit_back_and_takes_the_money_out_of_the_bank():
    e = bounced()
    assert (e.source, e.memo, e.debits, e.credits) == (("payment_bounce", "PAY-1"), "Payment PAY-1 bounced",
                                                       D("70.00"), D("70.00"))
    assert postings(e) == [("1100", "21.25", "0", "7", "INV-1"), ("1100", "42.50", "0", "7", "INV-2"),
                           ("2200", "6.25", "0", "7", "PAY-1"), ("1000", "0", "70.00", None, None)]
    # It is the mirror of the payment it undoes: together they leave nothing on any account.
    paid = r.payment_received(CHART, payment_id="PAY-1", customer_id="7", on=DAY, currency="USD", amount=D("70.00"),
                              method="direct_debit", applications={"INV-1": D("21.25"), "INV-2": D("42.50")},
                              open_amounts={"INV-1": D("21.25"), "INV-2": D("42.50")})
    assert all(b.balance == 0 for b in r.trial_balance([paid, e]).values())
    assert r.ar_subledger([paid, e]) == {"7": D("0.00")}
    # Cash comes out of cash; a payment all on account has no receivables line; no credit, no credit line.
    assert postings(bounced("5.00", {}, "5.00", "cash"))[-1] == ("1010", "0", "5.00", None, None)
    assert [p[0] for p in postings(bounced("5.00", {}, "5.00"))] == ["2200", "1000"]
    assert [p[0] for p in postings(bounced("63.75", credit="0"))] == ["1100", "1100", "1000"]


def test_a_bounce_that_does_not_account_for_the_whole_payment_or_is_a_card_payment_is_refused():
    assert refused(lambda: bounced(credit="6.00")) == [("applications", "not_whole")]
    assert refused(lambda: bounced("5.00", {}, "5.00", method="card")) == [("method", "card")]
    assert refused(lambda: bounced("5.00", {}, "5.00", method="wire")) == [("method", "unknown")]
    assert refused(lambda: bounced("0", {}, "0")) == [("amount", "zero")]
    assert refused(lambda: bounced(applications={"INV-1": D("-1.00")}, credit="71.00")) == [
        ("applications.INV-1", "negative")]


def test_a_reversal_mirrors_an_entry_line_by_line_and_a_bounce_fee_is_an_open_item_of_its_own():
    discount = r.discount_taken(CHART, ref="PAY-1/INV-1", customer_id="7", on=date(2026, 12, 1), currency="USD",
                                invoice_id="INV-1", amount=D("1.93"), open_amount=D("1.93"), tax_share=D("0.13"))
    back = r.entry_reversed(CHART, discount, ref="PAY-1/INV-1", on=DAY, memo="discount on INV-1 taken back")
    assert (back.source, back.date, back.memo) == (("reversal", "PAY-1/INV-1"), DAY, "discount on INV-1 taken back")
    assert postings(back) == [("4110", "0", "1.80", None, None), ("2100", "0", "0.13", None, None),
                              ("1100", "1.93", "0", "7", "INV-1")]
    assert all(b.balance == 0 for b in r.trial_balance([discount, back]).values())
    assert refused(lambda: r.entry_reversed(CHART, discount, ref=" ", on=DAY, memo="")) == [
        ("ref", "required"), ("memo", "required")]

    fee = r.bounce_fee_charged(CHART, ref="PAY-1-FEE", customer_id="7", on=DAY, currency="USD", amount=D("15.00"),
                               payment_id="PAY-1")
    assert (fee.source, fee.memo) == (("bounce_fee", "PAY-1-FEE"), "Bounce fee PAY-1-FEE for payment PAY-1")
    assert postings(fee) == [("1100", "15.00", "0", "7", "PAY-1-FEE"), ("4800", "0", "15.00", None, None)]
    assert refused(lambda: r.bounce_fee_charged(CHART, ref="PAY-1-FEE", customer_id="7", on=DAY, currency="JPY",
                                                amount=D("1.5"), payment_id="PAY-1")) == [("fee", "not_minor_units")]


@pytest.mark.parametrize(("reason", "fee", "expected"), [
    ("cheque returned", None, []),
    ("cheque returned", D("15.00"), []),
    (None, None, [("reason", "required")]),
    ("  ", None, [("reason", "required")]),
    (17, None, [("reason", "required")]),
    ("x" * 501, None, [("reason", "too_long")]),
    ("returned", D("0"), [("fee", "not_positive")]),
    ("returned", D("1.005"), [("fee", "not_minor_units")]),
    ("returned", "15", [("fee", "not_decimal")]),
    ("", D("-2"), [("reason", "required"), ("fee", "not_positive")]),
])
def test_a_bounce_states_its_reason_and_a_fee_is_money(reason, fee, expected):
    errors = ErrorList()
    check_bounce(errors, reason=reason, fee=fee, currency="USD")
    assert [(e.field, e.code) for e in errors.items] == expected


def st(id_, invoice, kind, amount, payment=None) -> Settlement:
    return Settlement(id=id_, invoice_id=invoice, kind=kind, amount=D(amount), payment_id=payment,
                      created_at=datetime(2026, 12, 1, tzinfo=timezone.utc))


def test_a_write_off_belongs_to_the_payment_just_before_it_on_its_invoice():
    rows = [
        st(1, 10, "payment", "20.00", payment=1),  # payment 1 leaves 0.50 on invoice 10...
        st(2, 11, "payment", "5.00", payment=1),
        st(3, 10, "write_off", "0.50"),  # ...written off: payment 1's
        st(4, 11, "payment", "4.00", payment=2),  # payment 2 pays on invoice 11 after payment 1
        st(5, 11, "write_off", "0.30"),  # payment 2's
        st(6, 12, "write_off", "0.20"),  # nobody's (no payment before it)
        st(7, 13, "credit", "9.00", payment=1),  # payment 1's credit applied on invoice 13...
        st(8, 13, "write_off", "0.10"),  # ...a write-off after a credit is not the payment's
    ]
    assert [s.id for s in _taken_with(rows, 1)] == [3]
    assert [s.id for s in _taken_with(rows, 2)] == [5]
    assert _taken_with(rows, 3) == []
    # A write-off already taken back (its opposite) is not taken back again.
    assert [s.id for s in _taken_with(rows + [st(9, 10, "write_off", "-0.50", payment=1)], 1)] == [3]
