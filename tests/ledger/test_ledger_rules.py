"""Ledger rules: the chart, each event's posting, the balances, ageing, DSO and the journal CSV."""
from dataclasses import replace
from datetime import date
from decimal import Decimal as D

import pytest

from o2c.core.errors import ValidationFailed
from o2c.ledger import rules as r
from o2c.ledger.rules import DEFAULT_CHART as CHART
from o2c.ledger.rules import Account, DocLine, Document, Entry, EntryLine

DAY = date(2026, 3, 2)
INVOICE = Document("INV-1", "ACME", DAY, "USD", (
    DocLine(D("100.00"), D("19.00")),  # goods, 19 % tax
    DocLine(D("50.00"), D("3.50"), revenue_account="4010"),  # services, 7 % tax
))  # gross 172.50


def postings(entry: Entry) -> list[tuple]:
    """An entry as (account, debit, credit, customer, open item) rows, amounts as strings."""
    return [(ln.account_code, str(ln.debit), str(ln.credit), ln.customer_id, ln.open_item) for ln in entry.lines]


def refused(call) -> list[tuple[str, str]]:
    with pytest.raises(ValidationFailed) as exc:
        call()
    return [(e.field, e.code) for e in exc.value.errors]


def pay(amount, applications, open_amounts, method="bank_transfer", currency="USD", payment_id="PAY-1"):
    return r.payment_received(CHART, payment_id=payment_id, customer_id="ACME", on=DAY, currency=currency,
                              amount=amount, method=method, applications=applications, open_amounts=open_amounts)


# ---- chart of accounts

def test_the_default_chart_gives_every_role_an_account():
    assert {a.role for a in CHART if a.role} == set(r.ROLES)
    assert CHART.code(r.RECEIVABLES) == "1100"
    assert CHART.customer_codes() == ("1100", "2200")


def test_a_chart_missing_a_role_or_repeating_a_code_is_refused_naming_both():
    accounts = [a for a in r.DEFAULT_ACCOUNTS if a.role != r.TAX_PAYABLE]
    accounts.append(Account("1000", "Second bank", r.ASSET))
    assert refused(lambda: r.check_chart(accounts)) == [
        (f"accounts[{len(accounts) - 1}].code", "duplicate"),
        ("roles.tax_payable", "missing"),
    ]


def test_a_chart_with_a_role_twice_or_on_the_wrong_kind_of_account_is_refused():
    accounts = list(r.DEFAULT_ACCOUNTS)
    accounts[0] = replace(accounts[0], kind=r.LIABILITY)  # the bank as a liability
    accounts.append(Account("1200", "Other receivables", r.ASSET, r.RECEIVABLES))
    accounts.append(Account("9999", "", "cost"))
    assert refused(lambda: r.check_chart(accounts)) == [
        ("accounts[0].kind", "wrong_kind_for_role"),
        (f"accounts[{len(accounts) - 2}].role", "duplicate"),
        (f"accounts[{len(accounts) - 1}].name", "required"),
        (f"accounts[{len(accounts) - 1}].kind", "invalid"),
    ]


def test_a_company_chart_with_its_own_codes_is_posted_to():
    own = r.check_chart(replace(a, code="AR" if a.role == r.RECEIVABLES else f"X{a.code}")
                        for a in r.DEFAULT_ACCOUNTS)
    entry = r.invoice_issued(own, replace(INVOICE, lines=(DocLine(D("10.00"), D("1.00")),)))
    assert postings(entry) == [
        ("AR", "11.00", "0", "ACME", "INV-1"), ("X4000", "0", "10.00", None, None), ("X2100", "0", "1.00", None, None),
    ]


# ---- entries

def entry(*lines, currency="USD"):
    return Entry(DAY, "test", ("manual", "M-1"), tuple(lines), currency)


def test_an_entry_whose_debits_and_credits_differ_is_refused():
    unbalanced = entry(EntryLine("1000", debit=D("10.00")), EntryLine("4000", credit=D("9.99")))
    assert refused(lambda: r.validate_entry(unbalanced)) == [("lines", "unbalanced")]


@pytest.mark.parametrize("line,expected", [
    (EntryLine("1000", debit=D("-5.00")), ("lines[0].debit", "negative")),
    (EntryLine("1000", debit=5.0), ("lines[0].debit", "not_decimal")),  # a float is never money
    (EntryLine("1000", debit=D("5.001")), ("lines[0].debit", "not_minor_units")),
    (EntryLine("1000", debit=D("5.00"), credit=D("5.00")), ("lines[0]", "one_side")),
    (EntryLine("1000"), ("lines[0]", "one_side")),
])
def test_an_entry_line_must_be_one_positive_amount_in_minor_units(line, expected):
    assert expected in refused(lambda: r.validate_entry(entry(line, EntryLine("4000", credit=D("5.00")))))


def test_yen_have_no_minor_units():
    bad = entry(EntryLine("1000", debit=D("100.5")), EntryLine("4000", credit=D("100.5")), currency="JPY")
    assert ("lines[0].debit", "not_minor_units") in refused(lambda: r.validate_entry(bad))
    r.validate_entry(entry(EntryLine("1000", debit=D("100")), EntryLine("4000", credit=D("100")), currency="JPY"))


def test_with_a_chart_an_unknown_account_or_a_receivable_without_its_customer_is_refused():
    bad = entry(EntryLine("1100", debit=D("5.00")), EntryLine("4999", credit=D("5.00")))
    assert refused(lambda: r.validate_entry(bad, CHART)) == [
        ("lines[0].customer_id", "required"), ("lines[0].open_item", "required"), ("lines[1].account_code", "unknown"),
    ]
    r.validate_entry(bad)  # without a chart only the arithmetic is checked


# ---- invoices and credit notes

def test_an_invoice_debits_receivables_gross_and_credits_revenue_per_account_and_tax():
    assert postings(r.invoice_issued(CHART, INVOICE)) == [
        ("1100", "172.50", "0", "ACME", "INV-1"),
        ("4000", "0", "100.00", None, None),
        ("4010", "0", "50.00", None, None),
        ("2100", "0", "22.50", None, None),
    ]


def test_an_invoice_with_a_negative_line_an_unknown_account_or_nothing_to_post_is_refused():
    bad = replace(INVOICE, lines=(DocLine(D("-1.00")), DocLine(D("5.00"), revenue_account="1000")))
    assert refused(lambda: r.invoice_issued(CHART, bad)) == [
        ("lines[0].net", "negative"), ("lines[1].revenue_account", "invalid"),
    ]
    assert refused(lambda: r.invoice_issued(CHART, replace(INVOICE, lines=(DocLine(D(0)),)))) == [("lines", "zero")]


def test_a_proportional_credit_note_splits_its_amount_over_the_invoice_lines_to_the_cent():
    note = r.proportional_credit(INVOICE, D("69.00"), note_id="CN-1", on=DAY)  # 40 % of 172.50
    assert [(str(ln.net), str(ln.tax), ln.revenue_account) for ln in note.lines] == [
        ("40.00", "7.60", None), ("20.00", "1.40", "4010"),
    ]
    odd = r.proportional_credit(INVOICE, D("10.00"), note_id="CN-2", on=DAY)
    assert odd.gross == D("10.00")  # 5.797.. + 1.101.. + 2.898.. + 0.202.. rounded by largest remainder
    assert [(str(ln.net), str(ln.tax)) for ln in odd.lines] == [("5.80", "1.10"), ("2.90", "0.20")]


def test_a_credit_note_above_what_is_left_to_credit_on_the_invoice_is_refused():
    assert refused(lambda: r.proportional_credit(INVOICE, D("100.00"), note_id="CN-3", on=DAY,
                                                 already_credited=D("80.00"))) == [("gross", "above_invoice")]


def test_a_credit_note_reverses_revenue_and_tax_and_credits_the_invoice():
    note = r.proportional_credit(INVOICE, D("69.00"), note_id="CN-1", on=DAY)
    assert postings(r.credit_note_issued(CHART, note, invoice_id="INV-1", invoice_open=D("172.50"))) == [
        ("4000", "40.00", "0", None, None),
        ("4010", "20.00", "0", None, None),
        ("2100", "9.00", "0", None, None),
        ("1100", "0", "69.00", "ACME", "INV-1"),
    ]


def test_a_credit_note_on_a_paid_invoice_becomes_customer_credit():
    note = r.proportional_credit(INVOICE, D("69.00"), note_id="CN-1", on=DAY)
    lines = postings(r.credit_note_issued(CHART, note, invoice_id="INV-1", invoice_open=D("20.00")))
    assert lines[-2:] == [("1100", "0", "20.00", "ACME", "INV-1"), ("2200", "0", "49.00", "ACME", "CN-1")]


# ---- payments and what follows them

def test_a_partial_payment_credits_the_invoice_with_what_was_paid():
    assert postings(pay(D("100.00"), {"INV-1": D("100.00")}, {"INV-1": D("172.50")})) == [
        ("1000", "100.00", "0", None, None), ("1100", "0", "100.00", "ACME", "INV-1"),
    ]


def test_an_overpayment_is_kept_as_unapplied_credit_under_the_payment():
    entry_ = pay(D("200.00"), {"INV-1": D("172.50")}, {"INV-1": D("172.50")}, method="cash")
    assert postings(entry_) == [
        ("1010", "200.00", "0", None, None),
        ("1100", "0", "172.50", "ACME", "INV-1"),
        ("2200", "0", "27.50", "ACME", "PAY-1"),
    ]


def test_a_payment_applied_beyond_what_is_open_or_beyond_itself_is_refused_naming_the_item():
    assert refused(lambda: pay(D("50.00"), {"INV-1": D("60.00")}, {"INV-1": D("172.50")})) == [
        ("applications", "over_applied"),
    ]
    assert refused(lambda: pay(D("500.00"), {"INV-1": D("200.00"), "INV-9": D("1.00")}, {"INV-1": D("172.50")})) == [
        ("applications.INV-1", "above_open"), ("applications.INV-9", "not_open"),
    ]
    assert refused(lambda: pay(D("5.00"), {}, {}, method="bitcoin")) == [("method", "unknown")]
    assert refused(lambda: pay(D("5.00"), {}, {}, currency="XXY")) == [("currency", "unknown")]


def test_earlier_credit_applied_to_invoices_moves_it_from_unapplied_to_the_invoices():
    entry_ = r.credit_applied(CHART, ref="APP-1", customer_id="ACME", on=DAY, currency="USD", credit_item="PAY-1",
                              available=D("27.50"), applications={"INV-2": D("20.00"), "FEE-1": D("5.00")},
                              open_amounts={"INV-2": D("80.00"), "FEE-1": D("5.00")})
    assert postings(entry_) == [
        ("2200", "25.00", "0", "ACME", "PAY-1"),
        ("1100", "0", "20.00", "ACME", "INV-2"),
        ("1100", "0", "5.00", "ACME", "FEE-1"),
    ]
    assert refused(lambda: r.credit_applied(
        CHART, ref="APP-2", customer_id="ACME", on=DAY, currency="USD", credit_item="PAY-1", available=D("10.00"),
        applications={"INV-2": D("20.00")}, open_amounts={"INV-2": D("80.00")})) == [("applications", "over_applied")]


def test_an_early_payment_discount_with_its_tax_share_reduces_tax_payable():
    entry_ = r.discount_taken(CHART, ref="PAY-1", customer_id="ACME", on=DAY, currency="USD", invoice_id="INV-1",
                              amount=D("3.45"), open_amount=D("3.45"), tax_share=D("0.45"))
    assert postings(entry_) == [
        ("4110", "3.00", "0", None, None), ("2100", "0.45", "0", None, None), ("1100", "0", "3.45", "ACME", "INV-1"),
    ]


def test_a_short_payment_is_written_off_within_the_tolerance_with_a_reason():
    def write_off(amount, reason="short paid", **kw):
        return r.written_off(CHART, ref="WO-1", customer_id="ACME", on=DAY, currency="USD", invoice_id="INV-1",
                             amount=amount, open_amount=D("2.50"), reason=reason, tolerance=D("5.00"), **kw)

    assert postings(write_off(D("2.50"))) == [("6200", "2.50", "0", None, None), ("1100", "0", "2.50", "ACME", "INV-1")]
    assert postings(write_off(D("0.01"), role=r.ROUNDING))[0] == ("6210", "0.01", "0", None, None)
    assert refused(lambda: write_off(D("3.00"), reason=" ")) == [("amount", "above_open"), ("reason", "required")]
    assert refused(lambda: r.written_off(
        CHART, ref="WO-2", customer_id="ACME", on=DAY, currency="USD", invoice_id="INV-1", amount=D("6.00"),
        open_amount=D("100.00"), reason="short paid", tolerance=D("5.00"))) == [("amount", "above_tolerance")]


@pytest.mark.parametrize("kind,income", [(r.FEE, "4800"), (r.INTEREST, "4810")])
def test_a_reminder_fee_or_interest_is_a_new_receivable_item(kind, income):
    entry_ = r.fee_charged(CHART, ref="FEE-1", customer_id="ACME", on=DAY, currency="USD", amount=D("7.50"),
                           kind=kind, invoice_id="INV-1")
    assert postings(entry_) == [("1100", "7.50", "0", "ACME", "FEE-1"), (income, "0", "7.50", None, None)]
    assert "INV-1" in entry_.memo


def test_a_refund_from_customer_credit_and_one_ahead_of_its_credit_note():
    from_credit = r.refund_paid(CHART, ref="RF-1", customer_id="ACME", on=DAY, currency="USD", amount=D("27.50"),
                                method="bank_transfer", from_credit="PAY-1", available=D("27.50"))
    assert postings(from_credit) == [("2200", "27.50", "0", "ACME", "PAY-1"), ("1000", "0", "27.50", None, None)]
    ahead = r.refund_paid(CHART, ref="RF-2", customer_id="ACME", on=DAY, currency="USD", amount=D("10.00"),
                          method="card")
    assert postings(ahead) == [("1100", "10.00", "0", "ACME", "RF-2"), ("1020", "0", "10.00", None, None)]
    assert refused(lambda: r.refund_paid(
        CHART, ref="RF-3", customer_id="ACME", on=DAY, currency="USD", amount=D("30.00"), method="cash",
        from_credit="PAY-1", available=D("27.50"))) == [("amount", "above_available")]


def test_an_approved_refund_waits_in_refunds_payable_until_paid_out():
    approved = r.refund_approved(CHART, ref="RF-1", customer_id="ACME", on=DAY, currency="USD", amount=D("5.00"),
                                 from_credit="CN-1", available=D("5.00"))
    paid = r.refund_payout(CHART, ref="RF-1", on=DAY, currency="USD", amount=D("5.00"), method="cheque")
    assert postings(approved) == [("2200", "5.00", "0", "ACME", "CN-1"), ("2210", "0", "5.00", None, None)]
    assert postings(paid) == [("2210", "5.00", "0", None, None), ("1000", "0", "5.00", None, None)]
    assert r.trial_balance([approved, paid])["2210"].balance == 0


def test_a_card_capture_pays_the_invoice_through_card_clearing_and_the_payout_clears_it():
    capture = r.card_captured(CHART, capture_id="CAP-1", customer_id="ACME", on=DAY, currency="USD",
                              amount=D("172.50"), invoice_id="INV-1", invoice_open=D("172.50"))
    payout = r.card_settled(CHART, settlement_id="PO-1", on=DAY, currency="USD", gross=D("172.50"), fee=D("5.30"))
    assert capture.source == ("card_capture", "CAP-1")
    assert postings(capture) == [("1020", "172.50", "0", None, None), ("1100", "0", "172.50", "ACME", "INV-1")]
    assert postings(payout) == [
        ("1000", "167.20", "0", None, None), ("6100", "5.30", "0", None, None), ("1020", "0", "172.50", None, None),
    ]
    before_invoice = r.card_captured(CHART, capture_id="CAP-2", customer_id="ACME", on=DAY, currency="USD",
                                     amount=D("9.00"), invoice_id=None)
    assert postings(before_invoice)[1] == ("2200", "0", "9.00", "ACME", "CAP-2")
    assert refused(lambda: r.card_settled(CHART, settlement_id="PO-2", on=DAY, currency="USD", gross=D("1.00"),
                                          fee=D("2.00"))) == [("fee", "above_gross")]


def test_a_rebate_reduces_revenue_when_accrued_and_the_settlement_trues_it_up():
    accrual = r.rebate_accrued(CHART, agreement_id="RB-2026", customer_id="ACME", on=DAY, currency="USD",
                               amount=D("120.00"))
    assert postings(accrual) == [("4100", "120.00", "0", None, None), ("2300", "0", "120.00", "ACME", None)]

    def settle(amount, method=None):
        return r.rebate_settled(CHART, ref="RBS-1", agreement_id="RB-2026", customer_id="ACME", on=DAY,
                                currency="USD", amount=amount, accrued=D("120.00"), method=method)

    assert postings(settle(D("100.00"))) == [
        ("2300", "120.00", "0", "ACME", None), ("4100", "0", "20.00", None, None),
        ("2200", "0", "100.00", "ACME", "RBS-1"),
    ]
    assert postings(settle(D("125.00"), method="bank_transfer")) == [
        ("2300", "120.00", "0", "ACME", None), ("4100", "5.00", "0", None, None), ("1000", "0", "125.00", None, None),
    ]


# ---- balances: a customer's story, figures checked at each step

def test_a_customers_story_keeps_the_books_and_the_subledger_in_step():
    books = [r.invoice_issued(CHART, INVOICE)]
    books.append(r.fee_charged(CHART, ref="FEE-1", customer_id="ACME", on=DAY, currency="USD", amount=D("5.00")))
    assert r.ar_subledger(books) == {"ACME": D("177.50")}

    # pays 180.00 for both items: 2.50 too much, kept as credit
    books.append(pay(D("180.00"), {"INV-1": D("172.50"), "FEE-1": D("5.00")},
                     {"INV-1": D("172.50"), "FEE-1": D("5.00")}))
    assert r.ar_subledger(books) == {"ACME": D("-2.50")}
    assert r.open_items(books, "1100") == {}
    assert r.open_items(books, "2200") == {("ACME", "PAY-1"): D("-2.50")}

    # returns the services: 53.50 credited on a paid invoice, then refunded with the 2.50
    note = Document("CN-1", "ACME", DAY, "USD", (INVOICE.lines[1],))
    books.append(r.credit_note_issued(CHART, note, invoice_id="INV-1", invoice_open=D(0)))
    books.append(r.refund_paid(CHART, ref="RF-1", customer_id="ACME", on=DAY, currency="USD", amount=D("53.50"),
                               method="bank_transfer", from_credit="CN-1", available=D("53.50")))
    books.append(r.refund_paid(CHART, ref="RF-2", customer_id="ACME", on=DAY, currency="USD", amount=D("2.50"),
                               method="bank_transfer", from_credit="PAY-1", available=D("2.50")))

    tb = r.trial_balance(books)
    assert sum(b.debit for b in tb.values()) == sum(b.credit for b in tb.values()) == D("467.00")
    assert {code: str(b.balance) for code, b in tb.items()} == {
        "1000": "124.00", "1100": "0.00", "2100": "-19.00", "2200": "0.00",
        "4000": "-100.00", "4010": "0.00", "4800": "-5.00",
    }
    assert r.ar_subledger(books) == {"ACME": D(0)} and r.ar_control(books) == 0


def test_entries_in_two_currencies_are_not_summed():
    usd = r.fee_charged(CHART, ref="F1", customer_id="ACME", on=DAY, currency="USD", amount=D("1.00"))
    eur = r.fee_charged(CHART, ref="F2", customer_id="ACME", on=DAY, currency="EUR", amount=D("1.00"))
    assert refused(lambda: r.trial_balance([usd, eur])) == [("currency", "mixed")]


# ---- ageing and KPIs

def test_ageing_puts_each_item_in_its_bucket_by_days_past_due():
    as_of = date(2026, 6, 30)
    items = [
        r.OpenItem("A", "I1", date(2026, 7, 15), D("100.00")),  # not due yet
        r.OpenItem("A", "I2", date(2026, 6, 30), D("10.00")),  # due today: current
        r.OpenItem("A", "I3", date(2026, 6, 29), D("1.00")),  # 1 day
        r.OpenItem("B", "I4", date(2026, 5, 31), D("2.00")),  # 30 days
        r.OpenItem("B", "I5", date(2026, 5, 30), D("3.00")),  # 31 days
        r.OpenItem("B", "I6", date(2026, 5, 1), D("4.00")),  # 60 days
        r.OpenItem("B", "I7", date(2026, 4, 30), D("5.00")),  # 61 days
        r.OpenItem("C", "I8", date(2026, 4, 1), D("6.00")),  # 90 days
        r.OpenItem("C", "I9", date(2026, 3, 31), D("7.00")),  # 91 days
        r.OpenItem("C", "P1", date(2026, 6, 1), D("-8.00")),  # an unapplied payment, 29 days old
    ]
    assert r.ageing(items, as_of) == {
        "current": D("110.00"), "1-30": D("-5.00"), "31-60": D("7.00"), "61-90": D("11.00"), "90+": D("7.00"),
    }
    assert list(r.ageing([], as_of)) == list(r.BUCKETS)


def test_receivables_kpis_on_the_worked_example_of_standards_section_7():
    # AR 1,200,000; credit sales 3,000,000 over 90 days; current AR 900,000; AR at the start 1,000,000
    assert r.dso(D(1_200_000), D(3_000_000), 90) == D("36.00")
    assert r.best_possible_dso(D(900_000), D(3_000_000), 90) == D("27.00")
    assert r.average_days_delinquent(D(1_200_000), D(900_000), D(3_000_000), 90) == D("9.00")
    assert r.cei(D(1_000_000), D(3_000_000), D(1_200_000), D(900_000)) == D("90.32")
    months = [(D(1_100_000), 31), (D(950_000), 30), (D(950_000), 31)]  # latest first
    assert r.countback_dso(D(1_200_000), months) == D("34.16")  # 31 + 100,000 / 950,000 x 30


def test_a_small_dso_by_hand_and_the_refusals():
    assert r.dso(D("45000.00"), D("270000.00"), 30) == D("5.00")
    assert r.dso(D("1000"), D("3000"), 31) == D("10.33")
    assert refused(lambda: r.dso(D(1), D(0), 30)) == [("revenue", "not_positive")]
    assert refused(lambda: r.dso(D(1), D(1), 0)) == [("days", "not_positive")]
    assert refused(lambda: r.countback_dso(D(10), [(D(3), 30), (D(3), 31)])) == [("months", "too_few")]


# ---- journal export

def test_the_journal_csv_has_one_row_per_line_with_plain_amounts():
    invoice = r.invoice_issued(CHART, replace(INVOICE, lines=(DocLine(D("1200"), D("0")),), currency="JPY"))
    fee = replace(r.fee_charged(CHART, ref="FEE-1", customer_id="=cmd|' /C calc'!A0", on=DAY, currency="USD",
                                amount=D("1234.50")), number="J-000002")
    assert r.journal_csv([invoice, fee]).splitlines() == [
        "date,entry,account,account_name,debit,credit,currency,customer,open_item,memo,source",
        "2026-03-02,1,1100,Trade receivables,1200,0,JPY,ACME,INV-1,Invoice INV-1,invoice:INV-1",
        "2026-03-02,1,4000,Sales revenue: goods,0,1200,JPY,,,Invoice INV-1,invoice:INV-1",
        # a customer id that a spreadsheet would run as a formula is quoted as text
        "2026-03-02,J-000002,1100,Trade receivables,1234.50,0.00,USD,'=cmd|' /C calc'!A0,FEE-1,"
        "Reminder fee FEE-1,fee:FEE-1",
        "2026-03-02,J-000002,4800,Reminder fees,0.00,1234.50,USD,,,Reminder fee FEE-1,fee:FEE-1",
    ]
