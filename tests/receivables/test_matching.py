"""Matching statement lines to open invoices: what is applied automatically, what is put to a person
with its confidence and reasons, what lands in the unmatched queue, and that no invoice ever receives
more than is open on it."""
from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal as D

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from stdnum import iso11649

from o2c.core.errors import ValidationFailed
from o2c.receivables.matching import (
    AUTO, NOT_INCOMING, SUGGESTED, UNMATCHED, OpenInvoice, creditor_reference, match, match_rate,
    name_similarity, parse_invoice_number, reference_body,
)
from o2c.receivables.statements import StatementLine

MARCH_15 = date(2026, 3, 15)
ACME, BUILDER, ZETA = 1, 2, 3
NAMES = {ACME: "ACME Industries GmbH", BUILDER: "Müller Bau GmbH", ZETA: "Zeta Trading Ltd"}
ACME_IBAN = "DE89370400440532013000"
BUILDER_IBAN = "NL91ABNA0417164300"
ACCOUNTS = {ACME_IBAN: ACME, "NL91 ABNA 0417 1643 00": BUILDER}


def invoice(counter: int, customer: int, amount: str, currency: str = "EUR", *, due: int = 0,
            discount: str = "0", discount_until: date | None = None) -> OpenInvoice:
    issued = date(2026, 2, 1) + timedelta(days=due)
    return OpenInvoice(counter, f"INV-2026-{counter:06d}", customer, currency, D(amount),
                       issued + timedelta(days=30), issued, D(amount), D(discount), discount_until)


def line(amount: str, currency: str = "EUR", **kw) -> StatementLine:
    return StatementLine(MARCH_15, MARCH_15, D(amount), currency, **kw)


BOOK = [
    invoice(123, ACME, "1190.00", due=0),
    invoice(124, ACME, "250.00", due=1),
    invoice(125, ACME, "75.50", due=2),
    invoice(126, BUILDER, "480.00"),
    invoice(127, BUILDER, "480.00", due=3),
    invoice(128, ZETA, "999.99"),
    invoice(129, ZETA, "310.00", "USD"),
]


def one(ln: StatementLine, invoices=BOOK, **kw):
    [proposal] = match([ln], invoices, ACCOUNTS, NAMES, **kw)
    return proposal


def reasons(proposal) -> str:
    return " | ".join(proposal.reasons)


def refused(call) -> list[tuple[str, str]]:
    with pytest.raises(ValidationFailed) as caught:
        call()
    return [(e.field, e.code) for e in caught.value.errors]


# --- references ----------------------------------------------------------------------------------------


def test_invoice_number_and_exact_amount_are_applied_automatically():
    p = one(line("1190.00", remittance="Invoice INV-2026-000123, thank you"))
    assert (p.status, p.confidence, p.allocations, p.leftover, p.customer_id) == (
        AUTO, D("1.00"), ((123, D("1190.00")),), D(0), ACME)
    assert "INV-2026-000123" in reasons(p) and "amount equals" in reasons(p)


@pytest.mark.parametrize("field,text", [
    ("remittance", "inv 2026 123"),
    ("remittance", "INV2026000123"),
    ("remittance", "Rechnung INV-2026-000123 vom 01.02.2026"),
    ("remittance", "RE: inv/2026/123."),
    ("remittance", "Invoice 2026-000123"),  # no series prefix, but the counter in full
    ("structured_reference", "INV2026000123"),
    ("end_to_end_id", "INV-2026-123"),
])
def test_an_invoice_number_written_loosely_is_still_recognised(field, text):
    p = one(line("1190.00", **{field: text}))
    assert (p.status, p.allocations) == (AUTO, ((123, D("1190.00")),))


def test_a_number_of_another_shape_is_found_as_written_with_or_without_separators():
    odd = OpenInvoice(500, "INV-B-2026-000017", ZETA, "EUR", D("42.00"), MARCH_15, MARCH_15, D("42.00"))
    for text in ("Rechnung INV-B-2026-000017", "invb2026000017"):
        assert one(line("42.00", remittance=text), BOOK + [odd]).allocations == ((500, D("42.00")),)


@pytest.mark.parametrize("text", ["2026-03-15", "Invoice 2026-12", "order 20260315"])
def test_a_date_or_a_short_bare_number_is_not_taken_for_an_invoice_number(text):
    # Without its series prefix, only a counter of at least five digits counts.
    invoices = BOOK + [invoice(15, ZETA, "42.00"), invoice(12, ZETA, "42.00"), invoice(315, ZETA, "42.00")]
    p = one(line("42.00", remittance=text), invoices)
    assert p.status != AUTO
    assert "names" not in reasons(p)


def test_creditor_reference_round_trip():
    ref = creditor_reference("INV-2026-000123")
    assert ref.startswith("RF") and ref.endswith("INV2026000123") and iso11649.is_valid(ref)
    assert reference_body(iso11649.format(ref).lower()) == "INV2026000123"
    assert parse_invoice_number(reference_body(ref)) == parse_invoice_number("INV-2026-000123")
    wrong = ref[:2] + f"{(int(ref[2:4]) + 1) % 100:02d}" + ref[4:]
    assert reference_body(wrong) is None


def test_a_number_too_long_for_a_creditor_reference_is_refused():
    assert refused(lambda: creditor_reference("INVOICE-2026-0000000000123")) == [
        ("invoice_number", "not_referenceable")]


@pytest.mark.parametrize("where", ["structured_reference", "remittance"])
def test_creditor_reference_with_the_amount_is_applied_automatically(where):
    ref = creditor_reference("INV-2026-000124")
    text = ref if where == "structured_reference" else f"Payment {iso11649.format(ref)} thanks"
    p = one(line("250.00", **{where: text}))
    assert (p.status, p.allocations) == (AUTO, ((124, D("250.00")),))
    assert "creditor reference" in reasons(p)


def test_a_creditor_reference_with_wrong_check_digits_names_nothing():
    ref = creditor_reference("INV-2026-000124")
    wrong = ref[:2] + f"{(int(ref[2:4]) + 1) % 100:02d}" + ref[4:]
    p = one(line("1.00", structured_reference=wrong))
    assert p.status == UNMATCHED and p.allocations == ()


def test_one_payment_for_three_invoices_is_split_over_them():
    p = one(line("1515.50", remittance="INV-2026-000125 INV-2026-000123 / INV 2026 124",
                 counterparty_iban=ACME_IBAN))
    assert p.status == AUTO
    # Oldest due first.
    assert p.allocations == ((123, D("1190.00")), (124, D("250.00")), (125, D("75.50")))
    assert p.leftover == 0


def test_naming_two_invoices_but_paying_one_applies_it_to_the_one_that_fits():
    p = one(line("250.00", remittance="INV-2026-000124 and INV-2026-000123"))
    assert (p.status, p.allocations) == (AUTO, ((124, D("250.00")),))
    assert "also names INV-2026-000123" in reasons(p)


def test_a_number_one_keystroke_off_is_suggested_with_the_invoice_it_nearly_names():
    # 000132 is no invoice; 000123 has exactly this amount.
    p = one(line("1190.00", remittance="INV-2026-000132"))
    assert (p.status, p.allocations) == (SUGGESTED, ((123, D("1190.00")),))
    assert "one keystroke from INV-2026-000123" in reasons(p)
    assert "INV-2026-000132 is not an open invoice" in reasons(p)
    # With the payer's account known as well, there is no doubt left.
    p = one(line("1190.00", remittance="INV-2026-000132", counterparty_iban=ACME_IBAN))
    assert (p.status, p.allocations) == (AUTO, ((123, D("1190.00")),))


# --- amount, account, name ----------------------------------------------------------------------------


def test_amount_and_known_account_are_applied_when_only_one_invoice_fits():
    p = one(line("75.50", remittance="payment", counterparty_iban=ACME_IBAN))
    assert (p.status, p.confidence, p.allocations, p.customer_id) == (AUTO, D("0.90"), ((125, D("75.50")),), ACME)


def test_amount_and_known_account_are_only_suggested_when_several_invoices_fit():
    # Builder has two invoices of 480.00; the account is written with spaces in the master data.
    p = one(line("480.00", counterparty_iban=BUILDER_IBAN))
    assert p.status == SUGGESTED and p.customer_id == BUILDER
    picked = {p.allocations[0][0]} | {a.allocations[0][0] for a in p.alternatives}
    assert picked == {126, 127}
    assert "2 open invoices have this amount" in reasons(p)


def test_amount_equal_to_all_of_a_customers_open_invoices_pays_them_all():
    p = one(line("1515.50", counterparty_iban=ACME_IBAN))
    assert p.status == AUTO
    assert [i for i, _ in p.allocations] == [123, 124, 125]
    assert "open total (3 invoices)" in reasons(p)


def test_the_payers_name_alone_gives_a_low_confidence_suggestion():
    p = one(line("100.00", counterparty_name="MUELLER BAU"))
    assert p.status == SUGGESTED and p.customer_id == BUILDER
    assert D("0.20") <= p.confidence < D("0.50")
    assert p.allocations == ((126, D("100.00")),)  # the oldest, as far as the money goes
    assert "Müller Bau GmbH" in reasons(p)


def test_the_amount_alone_is_suggested_at_best():
    p = one(line("999.99", remittance="thanks"))
    assert (p.status, p.allocations, p.confidence) == (SUGGESTED, ((128, D("999.99")),), D("0.40"))
    assert one(line("999.99", counterparty_name="Zeta Trading")).status == SUGGESTED


def test_nothing_found_goes_to_the_unmatched_queue():
    p = one(line("12.34", counterparty_name="Unknown Person", remittance="birthday"))
    assert (p.status, p.allocations, p.leftover, p.customer_id) == (UNMATCHED, (), D("12.34"), None)


def test_a_payment_that_names_one_invoice_from_another_customers_account_is_put_to_a_person():
    # The text names Zeta's 999.99 and the amount fits; Acme's account paid it (one company paying for
    # another). Acme owes nothing of that amount, so Zeta's invoice is paid, and the payer is noted.
    p = one(line("999.99", remittance="INV-2026-000128", counterparty_iban=ACME_IBAN))
    assert (p.status, p.allocations) == (AUTO, ((128, D("999.99")),))
    assert "on file for customer 1, not 3" in reasons(p)
    # If the payer's own customer has an invoice of that amount too, the two are close: a person picks.
    invoices = BOOK + [invoice(130, ACME, "999.99")]
    p = one(line("999.99", remittance="INV-2026-000128", counterparty_iban=ACME_IBAN), invoices)
    assert p.status == SUGGESTED
    assert {p.allocations[0][0], p.alternatives[0].allocations[0][0]} == {128, 130}


def test_a_payer_clearly_not_the_customer_is_put_to_a_person():
    # The number and amount fit, but the money comes from an unknown account in someone else's name.
    p = one(line("1190.00", remittance="INV-2026-000123", counterparty_name="Zeta Trading"))
    assert (p.status, p.allocations, p.confidence) == (SUGGESTED, ((123, D("1190.00")),), D("0.80"))
    assert "is not the customer's 'ACME Industries GmbH'" in reasons(p)
    # The customer's own name, or none at all, leaves it automatic.
    assert one(line("1190.00", remittance="INV-2026-000123", counterparty_name="ACME INDUSTRIES")).status == AUTO
    assert one(line("1190.00", remittance="INV-2026-000123")).status == AUTO


def test_an_invoice_held_by_one_suggestion_still_counts_as_a_possibility_for_the_next_line():
    # Two payments of 480.00 from Builder, who has two invoices of 480.00: which is which is for a
    # person to say, for both lines, although the first suggestion already took one invoice.
    p1, p2 = match([line("480.00", counterparty_iban=BUILDER_IBAN), line("480.00", counterparty_iban=BUILDER_IBAN)],
                   BOOK, ACCOUNTS, NAMES)
    assert (p1.status, p2.status) == (SUGGESTED, SUGGESTED)
    assert {p1.allocations[0][0], p2.allocations[0][0]} == {126, 127}


def test_money_from_a_known_customer_with_nothing_open_is_unapplied_credit_on_their_account():
    p = one(line("50.00", "USD", counterparty_iban=ACME_IBAN))  # Acme owes nothing in USD
    assert (p.status, p.customer_id, p.leftover) == (UNMATCHED, ACME, D("50.00"))
    assert "unapplied credit" in reasons(p)


# --- short, discount, overpayment -------------------------------------------------------------------


def test_a_short_payment_within_the_tolerance_is_suggested_not_applied():
    p = one(line("1188.50", remittance="INV-2026-000123", counterparty_iban=ACME_IBAN), tolerance=D("2.00"))
    assert (p.status, p.allocations, p.leftover) == (SUGGESTED, ((123, D("1188.50")),), D(0))
    assert "short by 1.50" in reasons(p)


def test_a_short_payment_beyond_the_tolerance_is_a_partial_payment_to_confirm():
    p = one(line("1000.00", remittance="INV-2026-000123", counterparty_iban=ACME_IBAN), tolerance=D("2.00"))
    assert (p.status, p.allocations) == (SUGGESTED, ((123, D("1000.00")),))
    assert "partial payment: short by 190.00" in reasons(p)


def test_an_early_payment_discount_taken_in_time_is_suggested():
    disc = [invoice(140, ACME, "500.00", discount="10.00", discount_until=date(2026, 3, 20))]
    p = one(line("490.00", remittance="INV-2026-000140"), disc)
    assert (p.status, p.allocations) == (SUGGESTED, ((140, D("490.00")),))
    assert "early-payment discount of 10.00 taken" in reasons(p)
    late = [invoice(140, ACME, "500.00", discount="10.00", discount_until=date(2026, 3, 10))]
    assert "early-payment discount" not in reasons(one(line("490.00", remittance="INV-2026-000140"), late))


def test_an_overpayment_is_applied_with_the_rest_left_as_unapplied_credit():
    p = one(line("300.00", remittance="INV-2026-000124", counterparty_iban=ACME_IBAN))
    assert (p.status, p.allocations, p.leftover) == (AUTO, ((124, D("250.00")),), D("50.00"))
    assert "overpaid by 50.00" in reasons(p)


# --- currency, several lines, debits ----------------------------------------------------------------


def test_an_invoice_in_another_currency_is_never_matched():
    p = one(line("310.00", "EUR", remittance="INV-2026-000129"))
    assert all(i != 129 for i, _ in p.allocations)
    assert all(i != 129 for a in p.alternatives for i, _ in a.allocations)
    assert "INV-2026-000129 is in USD; the payment is in EUR" in reasons(p)
    assert one(line("310.00", "USD", remittance="INV-2026-000129")).status == AUTO


def test_two_lines_paying_one_invoice_never_apply_more_than_is_open():
    first = line("250.00", remittance="INV-2026-000124", counterparty_iban=ACME_IBAN)
    again = line("250.00", remittance="INV-2026-000124", counterparty_iban=ACME_IBAN)
    p1, p2 = match([first, again], BOOK, ACCOUNTS, NAMES)
    assert (p1.status, p1.allocations) == (AUTO, ((124, D("250.00")),))
    assert p2.status == SUGGESTED
    assert sum((a for i, a in p2.allocations if i == 124), D(0)) == 0
    assert p2.leftover == D("250.00")
    assert "already applied from entry 1" in reasons(p2)


def test_the_second_part_payment_gets_what_is_left():
    first = line("1000.00", remittance="INV-2026-000123")
    rest = line("500.00", remittance="INV-2026-000123")
    p1, p2 = match([first, rest], BOOK, ACCOUNTS, NAMES)
    assert p1.allocations == ((123, D("1000.00")),)
    assert (p2.status, p2.allocations, p2.leftover) == (SUGGESTED, ((123, D("190.00")),), D("310.00"))


def test_a_weak_guess_does_not_take_the_invoice_a_later_line_names():
    guess = line("999.99", remittance="thanks")  # the amount alone points at INV-2026-000128
    clear = line("999.99", remittance="INV-2026-000128")
    p1, p2 = match([guess, clear], BOOK, ACCOUNTS, NAMES)
    assert (p2.status, p2.allocations) == (AUTO, ((128, D("999.99")),))
    assert p1.status == UNMATCHED and p1.leftover == D("999.99")


def test_money_going_out_is_skipped_and_a_reversal_is_left_for_a_person():
    out, back = match([line("-1190.00", remittance="INV-2026-000123"),
                       StatementLine(MARCH_15, None, D("1190.00"), "EUR", remittance="INV-2026-000123",
                                     reversal=True)], BOOK, ACCOUNTS, NAMES)
    assert (out.status, out.allocations, out.leftover) == (NOT_INCOMING, (), D(0))
    assert (back.status, back.allocations) == (UNMATCHED, ())


def test_match_rate_counts_incoming_lines_only():
    proposals = match([line("1190.00", remittance="INV-2026-000123"), line("480.00", counterparty_iban=BUILDER_IBAN),
                       line("5.00"), line("-3.00")], BOOK, ACCOUNTS, NAMES)
    assert [p.status for p in proposals] == [AUTO, SUGGESTED, UNMATCHED, NOT_INCOMING]
    rate = match_rate(proposals)
    assert (rate["incoming"], rate["auto"], rate["suggested"], rate["unmatched"], rate["not_incoming"]) == (3, 1, 1, 1, 1)
    assert rate["auto_rate"] == D("0.3333")
    assert match_rate([])["auto_rate"] == 0


def test_the_auto_threshold_can_be_raised():
    ln = line("75.50", counterparty_iban=ACME_IBAN)  # 0.90: amount and account
    assert one(ln).status == AUTO
    assert one(ln, auto_threshold=D("0.95")).status == SUGGESTED


# --- names -----------------------------------------------------------------------------------------------


@pytest.mark.parametrize("a,b,alike", [
    ("Müller Bau GmbH", "MUELLER BAU", True),
    ("ACME Industries GmbH", "Acme Industries", True),
    ("Industries ACME", "ACME Industries Ltd.", True),
    ("ACME Industries GmbH", "Zeta Trading Ltd", False),
    ("ACME Industries GmbH", "ACME", False),  # one word of two is not enough
    ("GmbH", "GmbH", False),  # legal forms say nothing
])
def test_name_similarity(a, b, alike):
    assert (name_similarity(a, b) >= 0.8) is alike


# --- bad input ---------------------------------------------------------------------------------------------


def test_bad_input_is_refused_naming_the_field():
    dup = BOOK + [invoice(123, ZETA, "1.00")]
    assert ("invoices[7].invoice_id", "duplicate") in refused(lambda: match([], dup, ACCOUNTS, NAMES))
    zero = [invoice(1, ZETA, "0.00")]
    assert refused(lambda: match([], zero, ACCOUNTS, NAMES)) == [("invoices[0].open_amount", "invalid")]
    same_number = [invoice(1, ZETA, "1.00"), OpenInvoice(2, "INV2026000001", ZETA, "EUR", D(1), MARCH_15,
                                                         MARCH_15, D(1))]
    assert refused(lambda: match([], same_number, ACCOUNTS, NAMES)) == [("invoices[1].number", "duplicate")]
    assert refused(lambda: match([], BOOK, ACCOUNTS, NAMES, tolerance=D("-1"))) == [("tolerance", "invalid")]
    assert refused(lambda: match([], BOOK, ACCOUNTS, NAMES, auto_threshold=D("1.5"))) == [
        ("auto_threshold", "out_of_range")]
    assert refused(lambda: match([line("1.00", "XXY")], BOOK, ACCOUNTS, NAMES)) == [("lines[0].currency", "invalid")]


# --- property ---------------------------------------------------------------------------------------------

CUSTOMERS = [ACME, BUILDER, ZETA]
IBAN_OF = {ACME: ACME_IBAN, BUILDER: BUILDER_IBAN, ZETA: "GB29NWBK60161331926819"}
cents = st.integers(min_value=1, max_value=50_000).map(lambda c: D(c).scaleb(-2))


@st.composite
def statements(draw):
    n = draw(st.integers(1, 12))
    invoices = [invoice(i + 1, draw(st.sampled_from(CUSTOMERS)), str(draw(cents)), due=draw(st.integers(0, 20)))
                for i in range(n)]
    lines = []
    for _ in range(draw(st.integers(1, 10))):
        named = draw(st.lists(st.sampled_from(invoices), max_size=3))
        text = " ".join(i.number for i in named)
        amount = draw(st.one_of(cents, st.just(sum((i.open_amount for i in named), D(0))),
                                st.sampled_from([i.open_amount for i in invoices])))
        payer = draw(st.sampled_from([None] + CUSTOMERS))
        lines.append(line(str(amount or D("0.01")), remittance=text or None,
                          counterparty_iban=IBAN_OF[payer] if payer else None,
                          counterparty_name=NAMES[payer] if payer else None))
    return lines, invoices


@settings(max_examples=200, deadline=None)
@given(statements(), st.sampled_from([D(0), D("2.00")]))
def test_no_invoice_receives_more_than_is_open_and_every_line_adds_up(statement, tolerance):
    lines, invoices = statement
    proposals = match(lines, invoices, ACCOUNTS, NAMES, tolerance=tolerance)
    applied: dict[int, D] = {}
    for ln, p in zip(lines, proposals):
        assert p.status in (AUTO, SUGGESTED, UNMATCHED)
        assert sum((a for _, a in p.allocations), D(0)) + p.leftover == ln.amount
        assert all(a > 0 for _, a in p.allocations) and p.leftover >= 0
        assert D(0) <= p.confidence <= D(1)
        assert len(p.alternatives) <= 3
        for invoice_id, amount in p.allocations:
            applied[invoice_id] = applied.get(invoice_id, D(0)) + amount
    open_amount = {i.invoice_id: i.open_amount for i in invoices}
    assert all(applied[i] <= open_amount[i] for i in applied)
