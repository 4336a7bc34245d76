"""Payment rules: what a payment may be, what it settles, when it earns the early-payment discount, what
may be written off, and an invoice's payment status."""
from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal as D

import pytest
from hypothesis import given
from hypothesis import strategies as st

from o2c.billing.rules import payment_status
from o2c.core.errors import ErrorList
from o2c.payments import rules

MARCH_1 = date(2026, 3, 1)


def invoice(id_=1, open_="100.00", *, customer=7, currency="USD", terms="net 30", due=None, net=None, tax=None,
            discounted=False, issued=MARCH_1) -> rules.OpenInvoice:
    due = D(due or open_)
    return rules.OpenInvoice(id_, f"INV-2026-{id_:06d}", customer, currency, issued, terms, D(open_), due,
                             D(net) if net else due, D(tax) if tax else D(0), discounted)


def settle(applications, invoices, *, limit="1000.00", paid_on=MARCH_1, currency="USD"):
    errors = ErrorList()
    out = rules.settle(errors, customer_id=7, currency=currency, limit=D(limit) if limit else None,
                       applications=[(i, D(a) if isinstance(a, str) else a) for i, a in applications],
                       invoices={inv.id: inv for inv in invoices}, paid_on=paid_on)
    return out, [(e.field, e.code) for e in errors.items]


def payment_errors(**kw) -> list[tuple[str, str]]:
    args = dict(method="bank_transfer", source="manual", source_ref=None, currency="USD", account_currency="USD",
                amount=D("10.00"), received_on=MARCH_1, today=MARCH_1) | kw
    errors = ErrorList()
    rules.check_payment(errors, **args)
    return [(e.field, e.code) for e in errors.items]


def test_payment_numbers_run_per_year():
    assert rules.payment_number(2026, 1) == "PAY-2026-000001"
    assert rules.payment_number(2027, 123456) == "PAY-2027-123456"


@pytest.mark.parametrize("method", ["bank_transfer", "direct_debit", "cheque", "cash"])
def test_a_person_records_transfers_debits_cheques_and_cash(method):
    assert payment_errors(method=method) == []


@pytest.mark.parametrize("kw,expected", [
    ({"method": "bitcoin"}, [("method", "unknown")]),
    ({"method": "card"}, [("method", "card_by_capture")]),  # card money comes from a capture, not by hand
    ({"source": "fax"}, [("source", "unknown")]),
    ({"source": "statement"}, [("source_ref", "required")]),
    ({"currency": "EUR"}, [("currency", "not_account_currency")]),
    ({"currency": "XYZ"}, [("currency", "unknown")]),
    ({"amount": D(0)}, [("amount", "not_positive")]),
    ({"amount": D("-5.00")}, [("amount", "not_positive")]),
    ({"amount": D("1.005")}, [("amount", "not_minor_units")]),
    ({"amount": 10.0}, [("amount", "not_decimal")]),
    ({"received_on": MARCH_1 + timedelta(days=1)}, [("received_on", "future")]),
])
def test_a_payment_that_cannot_be_is_refused_naming_the_field(kw, expected):
    assert payment_errors(**kw) == expected


def test_a_card_capture_records_a_card_payment():
    assert payment_errors(method="card", source="card", source_ref="cap_1") == []


def test_applications_settle_what_they_name_and_leave_the_rest():
    out, errors = settle([(1, "60.00"), (2, "25.00")], [invoice(1, "100.00"), invoice(2, "25.00")], limit="90.00")
    assert errors == []
    assert [(s.invoice.number, s.amount, s.discount, s.open_after) for s in out] == [
        ("INV-2026-000001", D("60.00"), D(0), D("40.00")), ("INV-2026-000002", D("25.00"), D(0), D(0))]


@pytest.mark.parametrize("applications,invoices,limit,expected", [
    ([(1, "100.01")], [invoice(1)], "200.00", [("applications[0].amount", "above_open")]),
    ([(1, "0")], [invoice(1)], "200.00", [("applications[0].amount", "not_positive")]),
    ([(1, "-1.00")], [invoice(1)], "200.00", [("applications[0].amount", "not_positive")]),
    ([(1, "1.001")], [invoice(1)], "200.00", [("applications[0].amount", "not_minor_units")]),
    ([(9, "1.00")], [invoice(1)], "200.00", [("applications[0].invoice_id", "unknown")]),
    ([(1, "1.00"), (1, "2.00")], [invoice(1)], "200.00", [("applications[1].invoice_id", "duplicate")]),
    ([(1, "1.00")], [invoice(1, customer=8)], "200.00", [("applications[0].invoice_id", "other_customer")]),
    ([(1, "1.00")], [invoice(1, currency="EUR")], "200.00", [("currency", "not_invoice_currency")]),
    ([(1, "60.00"), (2, "50.00")], [invoice(1), invoice(2)], "100.00", [("applications", "above_amount")]),
])
def test_an_application_that_cannot_be_is_refused_naming_it(applications, invoices, limit, expected):
    assert settle(applications, invoices, limit=limit)[1] == expected


# Early-payment discount: 2/10 net 30 on an invoice of 1 March for 107.00 (100.00 net, 7.00 tax).
TWO_TEN = dict(terms="2/10 net 30", net="100.00", tax="7.00")


@pytest.mark.parametrize("paid_on,amount,discount,tax", [
    (MARCH_1 + timedelta(days=10), "104.86", "2.14", "0.14"),  # the last day of the period, discounted in full
    (MARCH_1, "104.86", "2.14", "0.14"),
    (MARCH_1 + timedelta(days=11), "104.86", "0", "0"),  # a day late: a part payment
    (MARCH_1 + timedelta(days=5), "107.00", "0", "0"),  # paid in full: the discount not taken
    (MARCH_1 + timedelta(days=5), "50.00", "0", "0"),  # a part payment earns nothing
    (MARCH_1 + timedelta(days=5), "104.87", "0", "0"),  # not what is open less the discount exactly
])
def test_the_discount_is_earned_by_paying_the_discounted_remainder_within_the_period(paid_on, amount, discount, tax):
    [s], errors = settle([(1, amount)], [invoice(1, "107.00", **TWO_TEN)], paid_on=paid_on)
    assert errors == [] and (s.discount, s.discount_tax) == (D(discount), D(tax))
    if s.discount:
        assert s.open_after == 0


def test_the_discount_is_reckoned_on_the_amount_due_and_taken_once():
    # 107.00 invoiced, 50.00 paid on day 2: 57.00 open; 2 % of 107.00 is 2.14, so 54.86 settles it on day 9.
    part = invoice(1, "57.00", due="107.00", **{k: v for k, v in TWO_TEN.items()})
    [s], _ = settle([(1, "54.86")], [part], paid_on=MARCH_1 + timedelta(days=9))
    assert (s.discount, s.open_after) == (D("2.14"), D(0))
    taken = invoice(1, "57.00", due="107.00", discounted=True, **TWO_TEN)
    assert settle([(1, "54.86")], [taken], paid_on=MARCH_1 + timedelta(days=9))[0][0].discount == 0


def test_credit_applied_earns_no_discount_and_terms_not_read_give_none():
    [s], _ = settle([(1, "104.86")], [invoice(1, "107.00", **TWO_TEN)], paid_on=None)
    assert s.discount == 0
    [s], _ = settle([(1, "104.86")], [invoice(1, "107.00", terms="cash with order")])
    assert s.discount == 0


@given(gross=st.integers(1, 10**8), tax_pct=st.sampled_from([0, 5, 7, 19, 20, 25]), pct=st.sampled_from(
    ["0.5", "1", "1.5", "2", "3", "5"]), currency=st.sampled_from(["USD", "JPY", "BHD"]))
def test_a_discount_and_the_payment_that_earns_it_settle_the_invoice_to_the_minor_unit(gross, tax_pct, pct, currency):
    from o2c.core.money import minor_units, round_money
    unit = D(1).scaleb(-minor_units(currency))
    gross_amount = gross * unit
    tax = round_money(gross_amount * tax_pct / (100 + tax_pct), currency)
    inv = rules.OpenInvoice(1, "INV-1", 7, currency, MARCH_1, f"{pct}/10 net 30", gross_amount, gross_amount,
                            gross_amount - tax, tax)
    discount = round_money(gross_amount * D(pct) / 100, currency)
    if not 0 < discount < gross_amount:
        return
    errors = ErrorList()
    [s] = rules.settle(errors, customer_id=7, currency=currency, limit=gross_amount,
                       applications=[(1, gross_amount - discount)], invoices={1: inv}, paid_on=MARCH_1)
    assert errors.items == []
    assert s.amount + s.discount == gross_amount and s.open_after == 0
    assert 0 <= s.discount_tax <= s.discount and s.discount_tax <= tax


def write_off_errors(amount="0.50", open_="0.50", tolerance="1.00", reason="bank charges"):
    errors = ErrorList()
    rules.check_write_off(errors, amount=D(amount), open_amount=D(open_), currency="USD",
                          tolerance=D(tolerance) if tolerance else None, reason=reason)
    return [(e.field, e.code) for e in errors.items]


@pytest.mark.parametrize("kw,expected", [
    ({}, []),
    ({"amount": "1.00", "open_": "3.00"}, []),  # part of what is open, at the tolerance
    ({"amount": "1.01", "open_": "3.00"}, [("amount", "above_tolerance")]),
    ({"amount": "0.60"}, [("amount", "above_open")]),
    ({"tolerance": None}, [("amount", "no_tolerance")]),  # a company that set none writes nothing off
    ({"reason": "  "}, [("reason", "required")]),
    ({"amount": "0"}, [("amount", "not_positive")]),
])
def test_a_write_off_is_within_what_is_open_and_the_tolerance_with_a_reason(kw, expected):
    assert write_off_errors(**kw) == expected


@pytest.mark.parametrize("gross,open_,credited,status", [
    ("100.00", "100.00", "0", "open"),
    ("100.00", "80.00", "20.00", "open"),  # a credit note is not a payment
    ("100.00", "40.00", "0", "partially_paid"),
    ("100.00", "0", "0", "paid"),
    ("100.00", "0", "30.00", "paid"),
    ("100.00", "0", "100.00", "credited"),
    ("0", "0", "0", "paid"),  # free goods: nothing to pay
])
def test_an_invoices_payment_status_is_derived_from_what_is_open(gross, open_, credited, status):
    assert payment_status(D(gross), D(open_), D(credited)) == status


def test_unapplied_credit_lists_what_each_item_holds_oldest_first():
    items, total = rules.unapplied({"PAY-2026-000003": D("7.50"), "CN-2026-000001": D("19.13"),
                                    "PAY-2026-000001": D(0)})
    assert items == [("CN-2026-000001", D("19.13")), ("PAY-2026-000003", D("7.50"))] and total == D("26.63")
