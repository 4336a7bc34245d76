"""Credit note rules and documents: a refund is credited against the invoices of its order line, earliest
first, never above what a line has left; a manual correction above a line or its invoice is refused
naming the field; the PDF shows what a person needs and runs over pages."""
from datetime import date
from decimal import Decimal as D

import pytest

from o2c.billing import documents
from o2c.billing import rules as r
from o2c.core.errors import ValidationFailed

# 20 widgets (180.00 net, 11.25 tax) invoiced 19 on invoice 1 and 1 on invoice 2.
FIRST = r.Creditable(11, 1, 7, D("19"), D("171.00"), D("10.69"))
SECOND = r.Creditable(21, 2, 7, D("1"), D("9.00"), D("0.56"))


def test_a_refund_takes_the_earliest_invoice_first_and_spills_onto_the_next():
    # 18 credited already on invoice 1: a return of 2 (18.00 and 1.13) takes 1 from each invoice.
    first = r.Creditable(11, 1, 7, D("19"), D("171.00"), D("10.69"), D("18"), D("162.00"), D("10.12"))
    credits = r.credit_refund([r.Refunded(7, D("2"), D("18.00"), D("1.13"))], [first, SECOND], "USD")
    assert [(c.invoice_id, c.quantity, c.net, c.tax) for c in credits] == [
        (1, D("1"), D("9.00"), D("0.57")), (2, D("1"), D("9.00"), D("0.56"))]
    assert sum(c.net for c in credits) == D("18.00") and sum(c.tax for c in credits) == D("1.13")


def test_a_refund_never_credits_more_than_a_line_has_left():
    spent = r.Creditable(11, 1, 7, D("19"), D("171.00"), D("10.69"), D("18"), D("170.50"), D("10.69"))
    [c] = r.credit_refund([r.Refunded(7, D("1"), D("9.00"), D("0.56"))], [spent], "USD")
    assert (c.quantity, c.net, c.tax) == (D("1"), D("0.50"), D("0"))
    assert r.credit_refund([r.Refunded(9, D("1"), D("9.00"), D("0.56"))], [spent], "USD") == []  # never invoiced


def test_a_manual_credit_by_quantity_or_amount():
    by_qty, by_amount = r.credit_lines([FIRST, SECOND], [r.ManualCredit(1, quantity=D("2")),
                                                         r.ManualCredit(2, amount=D("4.50"))], D("239.06"), "USD")
    assert (by_qty.quantity, by_qty.net, by_qty.tax) == (D("2"), D("18.00"), D("1.13"))
    assert (by_amount.quantity, by_amount.net, by_amount.tax) == (D("0"), D("4.50"), D("0.28"))


def test_manual_credits_above_what_is_left_are_refused_naming_the_field():
    with pytest.raises(ValidationFailed) as exc:
        r.credit_lines([FIRST, SECOND], [r.ManualCredit(1, quantity=D("20")), r.ManualCredit(2, amount=D("9.01")),
                                         r.ManualCredit(3, quantity=D("1")), r.ManualCredit(1),
                                         r.ManualCredit(1, amount=D("0.001")), r.ManualCredit(1, quantity=D("0"))],
                       D("239.06"), "USD")
    assert [(e.field, e.code) for e in exc.value.errors] == [
        ("lines[0].quantity", "above_invoiced"), ("lines[1].amount", "above_invoiced"), ("lines[2].line_no", "unknown"),
        ("lines[3]", "quantity_or_amount"), ("lines[4].amount", "above_invoiced"), ("lines[5].quantity", "not_positive")]
    with pytest.raises(ValidationFailed) as exc:  # each line fits, the note does not: above its invoice
        r.credit_lines([FIRST], [r.ManualCredit(1, amount=D("100.00"))], D("50.00"), "USD")
    assert [(e.field, e.code) for e in exc.value.errors] == [("lines", "above_invoice")]


def test_a_long_credit_note_runs_over_pages_and_names_its_invoice():
    line = documents.PrintedLine("WIDGET", "Widget, steel", D("1"), D("9.00"), D("9.00"), D("6.25"), D("0.56"))
    doc = documents.PrintedDocument(
        "CREDIT NOTE", "CN-2026-000007", date(2026, 12, 7), "USD", ("Acme Supply Inc.", "US"),
        ("BIGBUY Corp", "1 Main St", "Chicago IL 60601", "US"), (line,) * 120, D("1080.00"), D("67.20"),
        D("1147.20"), corrects="INV-2026-000001", reason="return RMA00000001")
    pdf = documents.invoice_pdf(doc, compress=False)
    assert pdf.startswith(b"%PDF") and pdf == documents.invoice_pdf(doc, compress=False)  # same bytes
    assert b"Corrects invoice: INV-2026-000001" in pdf and b"(1147.20)" in pdf and b"BIGBUY Corp" in pdf
    assert b"Page 3" in pdf
