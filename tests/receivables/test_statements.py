"""Reading bank statements: every real camt and MT940 sample imports or is refused with a clear reason,
the figures read from a few of them match the files, broken files name where they break, and the same
statement read twice is recognised."""
from __future__ import annotations

import re
from datetime import date
from decimal import Decimal as D
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from o2c.receivables.statements import (
    StatementError,
    StatementLine,
    parse,
    parse_camt053,
    parse_csv,
    parse_mt940,
    write_csv,
)

FIXTURES = Path(__file__).parents[1] / "fixtures" / "03-bank-statements"
SAMPLES = sorted(p.relative_to(FIXTURES).as_posix() for p in FIXTURES.rglob("*")
                 if p.suffix in (".xml", ".sta") or p.name.endswith(".940.txt"))


def read(name: str) -> bytes:
    return (FIXTURES / name).read_bytes()


def refusal(data: bytes, **kw) -> StatementError:
    with pytest.raises(StatementError) as caught:
        parse(data, **kw)
    return caught.value


# What each sample gives. ("imports", statements, lines); ("refused", location, reason) for a refusal
# whatever the balances say; ("unbalanced", location, reason, statements, lines) for a file refused
# only because a statement does not add up (opening + lines != closing): read with the check off,
# it gives that many statements and lines, so the rest of it is understood.
NO_START = "a statement must start with :20:"
ADD_UP = "does not add up"
EXPECTED = {
    "camt/oca_test-camt053.xml": (
        "unbalanced", "Document/BkToCstmrStmt/Stmt[1]",
        "statement '1234Test/1' does not add up: opening balance 15568.27 + 4 lines -12.99 = 15555.28, "
        "but the closing balance is 15121.12", 1, 4),
    "camt/oca_test-camt054.xml": (
        "refused", "Document",
        "this is a debit/credit notification (camt.054); only end-of-day statements (camt.053) are imported"),
    "camt/ofxstatement-iso20022_camt052.xml": (
        "refused", "Document",
        "this is an intraday account report (camt.052); only end-of-day statements (camt.053) are imported"),
    "camt/ofxstatement-iso20022_camt053.xml": ("imports", 1, 1),
    "camt/ofxstatement-iso20022_davider80.xml": ("imports", 1, 16),
    "camt/ofxstatement-iso20022_gcamp6.xml": (
        "unbalanced", "Document/BkToCstmrStmt/Stmt[1]",
        "opening balance 0 + 5 lines 13010 = 13010, but the closing balance is 10000", 1, 5),
    "mt940/ASNB/0708271685_09022020_164516.940.txt": ("imports", 31, 8),
    "mt940/betterplace/amount_formats.sta": ("refused", "line 1 (:60F:)", NO_START),
    "mt940/betterplace/currency_in_25.sta": ("refused", "line 1 (:25:)", NO_START),
    "mt940/betterplace/empty_86.sta": ("refused", "line 1 (:86:)", NO_START),
    "mt940/betterplace/empty_entry_date.sta": ("refused", "line 1 (:61:)", NO_START),
    "mt940/betterplace/empty_line.sta": (
        "refused", "line 2 (:20:)", "statement 'TELEREPORTING' has no account (:25:)"),
    "mt940/betterplace/missing_crlf_at_end.sta": ("refused", "line 1 (:62F:)", NO_START),
    "mt940/betterplace/sepa_mt9401.sta": ("imports", 26, 97),
    "mt940/betterplace/sepa_snippet.sta": (
        "unbalanced", "line 25 (:20:)",
        "statement 'T089414096000001' does not add up: opening balance -1970431.87 + 7 lines -2501917.3 "
        "= -4472349.17, but the closing balance is -4472049.09", 2, 11),
    "mt940/betterplace/sepa_snippet_broken.sta": (
        "refused", "line 6 (:25:)", "the account (:25:) must come once, before the opening balance"),
    "mt940/betterplace/with_binary_character.sta": ("imports", 2, 4),
    "mt940/cmxl/account_balance_credit.sta": ("refused", "line 1 (:60F:)", NO_START),
    "mt940/cmxl/account_balance_debit.sta": ("refused", "line 1 (:60F:)", NO_START),
    "mt940/cmxl/account_identification_iban.sta": ("refused", "line 1 (:25:)", NO_START),
    "mt940/cmxl/account_identification_legacy.sta": ("refused", "line 1 (:25:)", NO_START),
    "mt940/cmxl/available_balance.sta": ("refused", "line 1 (:64:)", NO_START),
    "mt940/cmxl/closing_balance.sta": ("refused", "line 1 (:62F:)", NO_START),
    "mt940/cmxl/mt940.sta": ("imports", 3, 16),
    "mt940/cmxl/reference.sta": ("refused", "line 1 (:20:)", "statement 'D140902049' has no account (:25:)"),
    "mt940/cmxl/statement_details.sta": ("refused", "line 1 (:61:)", NO_START),
    "mt940/cmxl/statement_line.sta": ("refused", "line 1 (:61:)", NO_START),
    "mt940/cmxl/statement_number.sta": ("refused", "line 1 (:28C:)", NO_START),
    "mt940/jejik/abnamro.sta": (
        "unbalanced", "line 4 (:20:)",
        "statement 'ABN AMRO BANK NV' does not add up: opening balance 3236.28 + 8 lines -321.44 = 2914.84, "
        "but the closing balance is 876.84", 2, 10),
    "mt940/jejik/generic.sta": ("imports", 2, 2),
    "mt940/jejik/ing.sta": (
        "unbalanced", "line 4 (:20:)", "opening balance 0 + 7 lines -45.59 = -45.59, but the closing "
        "balance is 3.47", 1, 7),
    "mt940/jejik/knab.sta": (
        "unbalanced", "line 10 (:20:)", "statement 'B4G30MS9D00A003D' does not add up", 2, 3),
    "mt940/jejik/postfinance.sta": (
        "unbalanced", "line 15 (:20:)", "statement '2014040708285928' does not add up", 2, 4),
    "mt940/jejik/rabobank-iban.sta": ("imports", 2, 4),
    "mt940/jejik/rabobank.sta": ("unbalanced", "line 2 (:20:)", "statement '940A110615' does not add up", 4, 5),
    "mt940/jejik/sns.sta": ("imports", 2, 2),
    "mt940/jejik/triodos.sta": (
        "unbalanced", "line 1 (:20:)", "statement '1308728725026/1' does not add up", 1, 2),
    "mt940/mBank/mt940.sta": ("imports", 1, 3),
    "mt940/mBank/mt942.sta": (
        "refused", "line 2 (:20:)",
        "this is an MT942 interim transaction report: only end-of-day statements (MT940) are imported"),
    "mt940/mBank/with_newline_in_tnr.sta": (
        "unbalanced", "line 2 (:20:)", "statement 'ST170201CYC/1' does not add up", 1, 2),
    "mt940/sberbank/171011_01234945.sta": ("imports", 1, 3),
    "mt940/self-provided/details_60-63.sta": ("unbalanced", "line 1 (:20:)", ADD_UP, 1, 1),
    "mt940/self-provided/empty_non_swift.sta": ("refused", "line 1 (:NS:)", NO_START),
    "mt940/self-provided/february_30.sta": ("imports", 1, 1),
    "mt940/self-provided/gv_codes.sta": (
        "refused", "line 1 (:20:)",
        "statement 'STARTUMS' has no closing balance (:62F: or :62M:): the file is cut off or incomplete"),
    "mt940/self-provided/invalid_statement.sta": (
        "refused", "mt940/self-provided/invalid_statement.sta",
        "not a bank statement this system reads: expected camt.053 XML, MT940"),
    "mt940/self-provided/long_statement_number.sta": ("imports", 1, 0),
    "mt940/self-provided/malformed_details.sta": ("unbalanced", "line 1 (:20:)", ADD_UP, 1, 1),
    "mt940/self-provided/mt942.sta": (
        "refused", "line 1 (:20:)", "this is an MT942 interim transaction report"),
    "mt940/self-provided/overly_long_details.sta": ("unbalanced", "line 1 (:20:)", ADD_UP, 1, 1),
    "mt940/self-provided/raiffeisen-cmi.sta": (
        "unbalanced", "line 1 (:20:)", "opening balance 25170637.1 + 7 lines -1012213.5 = 24158423.6, "
        "but the closing balance is 25281687.6", 1, 7),
    "mt940/self-provided/raphaelm.sta": ("refused", "line 27 (:62M:)", "currency '105' is not an ISO 4217 code"),
    "mt940/self-provided/sparkassen.sta": ("refused", "line 1 (:61:)", NO_START),
    "mt940/self-provided/transaction_details_wrapped.sta": ("imports", 1, 1),
    "mt940/self-provided/whitespace.sta": ("unbalanced", "line 1 (:20:)", ADD_UP, 1, 1),
    "mt940/self-provided/wrapped_timestamp.sta": ("imports", 1, 1),
}


def test_every_sample_has_an_expected_outcome():
    assert len(SAMPLES) == 56  # 6 camt, 49 .sta and the ASN Bank .940.txt
    assert set(SAMPLES) == set(EXPECTED)


@pytest.mark.parametrize("name", SAMPLES)
def test_sample_imports_or_is_refused_with_its_reason(name):
    outcome, *expect = EXPECTED[name]
    data = read(name)
    if outcome == "imports":
        statements_count, lines_count = expect
        statements = parse(data, name)
        assert len(statements) == statements_count
        assert sum(len(s.lines) for s in statements) == lines_count
        for s in statements:
            assert s.opening_balance + s.total == s.closing_balance
        return
    location, reason = expect[:2]
    err = refusal(data, filename=name)
    assert err.location == location
    assert reason in err.message
    if outcome == "unbalanced":
        assert err.code == "balance"
        statements = parse(data, name, check_balances=False)
        assert (len(statements), sum(len(s.lines) for s in statements)) == tuple(expect[2:])
    else:
        assert err.code != "balance"


# --- figures read from the files, checked by hand against them -------------------------------------

def test_camt053_v04_lines_and_balances():
    [s] = parse(read("camt/ofxstatement-iso20022_davider80.xml"))
    assert (s.format, s.statement_id, s.sequence) == ("camt.053", "STM-C053-170412091216-01", "2")
    assert (s.account_id, s.account_iban, s.currency) == ("CHxxxxxxxxxxxxxxxxxxx", None, "CHF")
    assert (s.opening_balance, s.opening_date) == (D("9433.31"), date(2017, 4, 1))
    assert (s.closing_balance, s.closing_date) == (D("5753.46"), date(2017, 4, 11))
    first, credit = s.lines[0], s.lines[12]
    assert (first.amount, first.booking_date, first.value_date) == (D("-905.3"), date(2017, 4, 1), date(2017, 4, 3))
    assert first.remittance == "Sistema di addebitamento diretto xxxxxxxxxxxxxxxxxxxxxx AG"
    assert first.bank_reference == "210564431020000000024556150000"
    assert first.bank_transaction_code == "PMNT-RDDT-PMDD"
    assert (credit.amount, credit.booking_date, credit.remittance) == (D("368"), date(2017, 4, 11),
                                                                      "Accredito xxxxxxxxxxxxxx")
    # A line break in AddtlNtryInf is read as a space.
    assert s.lines[1].remittance == "Acquisto MIGROS M ARBEDO-CAST 31.03.2017/13:30 / N. carta Maestro xxxxxxxx"


def test_camt053_v08_payer_and_references():
    [s] = parse(read("camt/ofxstatement-iso20022_camt053.xml"))
    assert (s.statement_id, s.sequence, s.account_id) == ("bc8b8e304a825671937ffa86f49ab6f1", "12",
                                                         "0035-2915203-10-000")
    [line] = s.lines
    assert (line.amount, line.currency, line.booking_date) == (D("1284.30"), "CHF", date(2023, 1, 25))
    assert line.counterparty_name == "PAYEE"  # v08: RltdPties/Dbtr/Pty/Nm
    assert (line.remittance, line.end_to_end_id) == ("PAYMENT INFO", "9502830971")
    assert line.structured_reference == "9502830971"
    assert line.bank_reference == "A032-J30K20-03-JF021"
    assert line.line_no == 99


def test_camt053_batch_booking_gives_one_line_per_transaction_and_notes_the_reversal():
    [s] = parse(read("camt/oca_test-camt053.xml"), check_balances=False)
    assert [line.amount for line in s.lines] == [D("-754.25"), D("-564.05"), D("-100.00"), D("1405.31")]
    debit, batch1, batch2, credit = s.lines
    assert (debit.counterparty_name, debit.counterparty_iban) == ("INSURANCE COMPANY TESTX", "NL46ABNA0499998748")
    assert debit.remittance == "Insurance policy 857239PERIOD 01.01.2014 - 31.12.2014"
    assert not debit.reversal
    assert (batch1.end_to_end_id, batch2.end_to_end_id) == ("TESTBANK/NL/20141229/01206408",
                                                            "TESTBANK/NL/20141229/01206407")
    assert batch1.reversal and batch2.reversal
    assert (batch2.counterparty_name, batch2.counterparty_bic) == ("Test Customer", "ABNANL2A")
    # Money in: the debtor is the counterparty; no RmtInf, so the additional information is the text.
    assert (credit.counterparty_name, credit.counterparty_iban) == ("3rd party Media", "NL69ABNA0522123643")
    assert credit.remittance == "#RD PARTY MEDIA CUSNO 90782 4210773"
    assert s.account_iban == "NL77ABNA0574908765"


def test_mt940_german_structured_details():
    s = parse(read("mt940/betterplace/sepa_mt9401.sta"))[1]
    assert (s.statement_id, s.account_id, s.sequence) == ("T089413956000001", "50880050/0194777100888", "00004/00001")
    assert (s.opening_balance, s.closing_balance) == (D("-970499.9"), D("-1455749.85"))
    line = s.lines[0]
    assert (line.amount, line.value_date, line.booking_date) == (D("15000.05"), date(2007, 9, 4), date(2007, 9, 4))
    assert line.counterparty_name == "Richter Renate 70 Zeichen Beginn Fuellzeichen xxxxxxxx"  # ?32 + ?33
    assert (line.counterparty_iban, line.counterparty_bic) == ("DE42100100100043921105", "PBNKDEFF100")
    assert line.end_to_end_id == "EndToEndIdTFNR2000400001"  # EREF+ across ?20 and ?21
    assert line.remittance.startswith("TO 13 TFNr 20004 Eingangskanal Mint")  # SVWZ+
    assert (line.bank_reference, line.line_no) == ("0724710290621954", 30)


def test_mt940_utf8_text_and_german_name():
    first, second = parse(read("mt940/betterplace/with_binary_character.sta"))
    assert first.statement_id == "STAR1ÜTßUMS"
    line = first.lines[1]
    assert (line.amount, line.counterparty_name) == (D("13068.30"), "WIRECARD BANK AG")
    assert line.remittance == "BETTERPLACE WDB E08.03.10-14.03.10"
    assert second.lines[0].remittance.startswith("Belegloser ZahlungsauftragÜberweisung:19.03.2010")


def test_mt940_rabobank_structured_fields():
    first, _ = parse(read("mt940/jejik/rabobank-iban.sta"))
    eref, remi = first.lines
    assert (eref.amount, eref.counterparty_name) == (D("-25.00"), "CONTRA ACCOUNT HOLDER")  # wrapped mid-word
    assert eref.counterparty_iban == "NL70ABNA0987654321"  # the :61: supplementary details
    assert eref.end_to_end_id == "01-01-2013 12:00 0030000987654321"
    assert (remi.amount, remi.booking_date) == (D("-10.00"), date(2013, 1, 2))
    assert (remi.counterparty_name, remi.remittance) == ("JOHN DOE", "Reference 201301234")
    assert first.account_iban == "NL71RABO0123456789"


def test_mt940_dutch_account_and_name_in_the_statement_line():
    first, _ = parse(read("mt940/jejik/sns.sta"))
    line = first.lines[0]
    assert (line.amount, line.value_date, line.booking_date) == (D("-20.00"), date(2012, 6, 7), date(2012, 6, 8))
    assert (line.counterparty_name, line.remittance) == ("marechal s", "dit is een test")


def test_mt940_asn_bank_dialect():
    statements = parse(read("mt940/ASNB/0708271685_09022020_164516.940.txt"))
    fifth = statements[4]
    assert (fifth.sequence, fifth.opening_balance, fifth.closing_balance) == ("5/1", D("379.29"), D("577.74"))
    credit = fifth.lines[0]
    assert (credit.amount, credit.counterparty_iban) == (D("1000.00"), "NL56ASNB9999999999")
    assert (credit.counterparty_name, credit.remittance) == ("paulissen g j l m", "INTERNE OVERBOEKING VIA MOBIEL")


def test_mt940_knab_names_the_payer_after_rek_and_naam():
    _, second = parse(read("mt940/jejik/knab.sta"), check_balances=False)
    paid = second.lines[0]
    assert (paid.amount, paid.counterparty_iban, paid.counterparty_name) == (D("-7260"), "NL65INGB0123456789", "PICQER")
    assert paid.remittance == "FACTUUR 201403110, 201403113"


def test_mt940_triodos_uses_greater_than_for_its_subfields():
    [s] = parse(read("mt940/jejik/triodos.sta"), check_balances=False)
    assert s.lines[1].remittance == "HUUR KANTOOR - FEB 2010"


def test_mt940_mbank_payer_account_and_title():
    [s] = parse(read("mt940/mBank/mt940.sta"))
    line = s.lines[0]
    assert (line.amount, line.currency) == (D("0.01"), "PLN")
    assert (line.counterparty_name, line.counterparty_iban) == ("JAN NOWAK", "PL56114010810000267002001001")
    assert (line.remittance, line.bank_reference) == ("PRZELEW SRODKOW", "MB170119012058")


def test_mt940_thirtieth_of_february_is_the_end_of_february():
    [s] = parse(read("mt940/self-provided/february_30.sta"))
    [line] = s.lines
    assert (line.value_date, line.booking_date, line.amount) == (date(2016, 2, 29), date(2016, 3, 1), D("-6.00"))


def test_entry_date_in_the_next_year():
    data = (":20:REF\n:25:NL91ABNA0417164300\n:28C:1/1\n:60F:C241231EUR100,00\n"
            ":61:2412310102C5,00NTRFNONREF\n:86:late booking\n:62F:C250102EUR105,00\n-\n")
    [s] = parse_mt940(data)
    assert (s.lines[0].value_date, s.lines[0].booking_date) == (date(2024, 12, 31), date(2025, 1, 2))


def test_entry_date_on_a_leap_day():
    data = (":20:REF\n:25:NL91ABNA0417164300\n:28C:1/1\n:60F:C240228EUR100,00\n"
            ":61:2402280229C5,00NTRFNONREF\n:62F:C240229EUR105,00\n")
    [s] = parse_mt940(data)
    assert s.lines[0].booking_date == date(2024, 2, 29)


def test_reversal_of_a_credit_takes_money_out():
    data = (":20:REF\n:25:NL91ABNA0417164300\n:28C:1/1\n:60F:C240110EUR100,00\n"
            ":61:240110RC30,00NTRFNONREF\n:62F:C240110EUR70,00\n")
    [s] = parse_mt940(data)
    assert (s.lines[0].amount, s.lines[0].reversal) == (D("-30.00"), True)


# --- broken files: the error names where, nothing is returned ---------------------------------------

def test_camt_cut_in_the_middle_names_the_open_entry():
    data = read("camt/ofxstatement-iso20022_davider80.xml")
    err = refusal(data[:len(data) // 2])
    assert err.location == "Document/BkToCstmrStmt/Stmt[1]/Ntry[7]"
    assert "cut off" in err.message and err.code == "syntax"


def test_camt_without_an_entry_amount_names_it():
    data = read("camt/ofxstatement-iso20022_davider80.xml").replace(b'<Amt Ccy="CHF">38</Amt>', b"", 1)
    err = refusal(data)
    assert (err.location, err.message) == ("Document/BkToCstmrStmt/Stmt[1]/Ntry[3]/Amt", "missing")
    assert str(err) == "Document/BkToCstmrStmt/Stmt[1]/Ntry[3]/Amt: missing"


def test_camt_bad_amount_and_bad_indicator():
    data = read("camt/ofxstatement-iso20022_davider80.xml")
    err = refusal(data.replace(b'<Amt Ccy="CHF">38</Amt>', b'<Amt Ccy="CHF">3,8</Amt>', 1))
    assert (err.location, err.message) == ("Document/BkToCstmrStmt/Stmt[1]/Ntry[3]/Amt", "'3,8' is not an amount")
    err = refusal(data.replace(b"<CdtDbtInd>DBIT</CdtDbtInd>", b"<CdtDbtInd>DEBIT</CdtDbtInd>", 1))
    assert err.location == "Document/BkToCstmrStmt/Stmt[1]/Ntry[1]/CdtDbtInd"


def test_camt_broken_tag_names_the_element_and_line():
    data = read("camt/ofxstatement-iso20022_davider80.xml").replace(b"</CdtDbtInd>", b"</CdtDbtIn>", 1)
    err = refusal(data)
    assert err.location == "Document/BkToCstmrStmt/Stmt[1]/Bal[1]/CdtDbtInd"
    assert err.message.startswith("the XML is broken at line 37")


def test_camt_transaction_summary_must_match_the_entries():
    data = read("camt/ofxstatement-iso20022_camt053.xml")
    err = refusal(data.replace(b"<NbOfNtries>1</NbOfNtries>", b"<NbOfNtries>2</NbOfNtries>", 1))
    assert err.location == "Document/BkToCstmrStmt/Stmt[1]/TxsSummry/TtlNtries/NbOfNtries"
    assert err.message == "says 2 entries, the statement has 1"


def test_camt_pending_entries_are_left_out():
    data = read("camt/ofxstatement-iso20022_camt053.xml")
    data = re.sub(rb"<TxsSummry>.*</TxsSummry>", b"", data, flags=re.S)
    data = data.replace(b"<Cd>BOOK</Cd>", b"<Cd>PDNG</Cd>")
    [s] = parse(data, check_balances=False)
    assert (s.lines, s.skipped_entries) == ([], 1)


def test_mt940_broken_amount_names_the_line_and_tag():
    data = read("mt940/jejik/sns.sta").replace(b"D20,00N", b"D12,3xN")
    err = refusal(data)
    assert str(err) == "line 5 (:61:): amount '12,3x' is not a number"


def test_mt940_without_closing_balance_is_refused_whole():
    # The first statement is complete; the second has lost its :62F:, so nothing is imported.
    data = read("mt940/jejik/sns.sta").replace(b":62F:C120609EUR1209,56", b"")
    err = refusal(data)
    assert err.location == "line 21 (:20:)"
    assert "has no closing balance (:62F: or :62M:)" in err.message


def test_mt940_bad_dates_and_marks():
    sns = read("mt940/jejik/sns.sta")
    assert str(refusal(sns.replace(b":61:1206070608", b":61:1213070608"))) == \
        "line 5 (:61:): value date '121307' is not a real date (YYMMDD)"
    assert str(refusal(sns.replace(b"0608D20,00", b"0608X20,00"))) == \
        "line 5 (:61:): debit/credit mark must be C, D, RC or RD, not 'X'"
    assert str(refusal(sns.replace(b":60F:C120608", b":60F:C121308"))) == \
        "line 4 (:60F:): date '121308' is not a real date (YYMMDD)"


def test_not_a_statement():
    assert refusal(b"").message == "the file is empty"
    assert refusal(b"hello\nworld\n", filename="notes.txt").location == "notes.txt"
    assert "not an ISO 20022 camt.053" in refusal(b"<html><body/></html>").message


# --- the same statement imported twice --------------------------------------------------------------

def test_fingerprint_is_the_same_for_the_same_statement_and_differs_for_another():
    data = read("mt940/jejik/sns.sta")
    first, second = parse(data)
    again_first, again_second = parse(data)
    assert (first.fingerprint, second.fingerprint) == (again_first.fingerprint, again_second.fingerprint)
    assert first.fingerprint != second.fingerprint
    # Re-sent with other line ends, it is still the same statement.
    assert parse(data.replace(b"\r\n", b"\n").replace(b"\n", b"\r\n"))[0].fingerprint == first.fingerprint
    other = parse(read("mt940/jejik/generic.sta"))
    assert {s.fingerprint for s in other}.isdisjoint({first.fingerprint, second.fingerprint})
    [camt] = parse(read("camt/ofxstatement-iso20022_davider80.xml"))
    assert camt.fingerprint == parse(read("camt/ofxstatement-iso20022_davider80.xml"))[0].fingerprint


def test_fingerprint_changes_with_the_closing_balance():
    data = read("mt940/jejik/generic.sta")
    changed = data.replace(b":61:110101D10,00", b":61:110101D11,00").replace(b":62F:C110201EUR90,00",
                                                                            b":62F:C110201EUR89,00")
    assert parse(data)[0].fingerprint != parse(changed)[0].fingerprint


# --- CSV --------------------------------------------------------------------------------------------

CSV = (b"date,amount,currency,counterparty_name,counterparty_iban,remittance,reference\n"
       b"2024-03-01,1250.00,EUR,Big Buyer GmbH,DE89 3704 0044 0532 0130 00,Invoice INV-2024-0042,RF18539007547034\n"
       b"2024-03-02,-15.50,EUR,Bank,,\"fees, March\",\n")


def test_csv_reads_lines_with_their_line_numbers():
    [s] = parse(CSV, "march.csv")
    assert (s.format, s.currency, s.opening_date, s.closing_date) == ("csv", "EUR", date(2024, 3, 1), date(2024, 3, 2))
    paid, fee = s.lines
    assert (paid.amount, paid.counterparty_iban, paid.line_no) == (D("1250.00"), "DE89370400440532013000", 2)
    assert (paid.remittance, paid.structured_reference) == ("Invoice INV-2024-0042", "RF18539007547034")
    assert (fee.amount, fee.remittance, fee.counterparty_iban) == (D("-15.50"), "fees, March", None)


def test_csv_semicolons_and_a_quoted_line_break():
    data = b"Date;Amount;Currency;Remittance\n2024-03-01;5;EUR;\"two\nlines\"\n2024-03-02;x;EUR;\n"
    err = refusal(data)
    assert str(err).startswith("line 4, column 'amount': 'x' is not an amount")


@pytest.mark.parametrize("row, where, reason", [
    (b"2024-02-30,1.00,EUR,,,,", "line 2, column 'date'", "'2024-02-30' is not a real date"),
    (b"01.03.2024,1.00,EUR,,,,", "line 2, column 'date'", "is not a date (YYYY-MM-DD)"),
    (b"2024-03-01,1.005,EUR,,,,", "line 2, column 'amount'", "has more decimals than EUR has (2)"),
    (b"2024-03-01,\"1,00\",EUR,,,,", "line 2, column 'amount'", "'1,00' is not an amount"),
    (b"2024-03-01,1.00,EUX,,,,", "line 2, column 'currency'", "'EUX' is not an ISO 4217 code"),
    (b"2024-03-01,1.00,EUR,,DE00 0000,,", "line 2, column 'counterparty_iban'", "is not a valid IBAN"),
    (b"2024-03-01,,EUR,,,,", "line 2, column 'amount'", "empty"),
    (b"2024-03-01,1.00,EUR,,,", "line 2", "6 cells, the header has 7"),
])
def test_csv_bad_cells_name_line_and_column(row, where, reason):
    err = refusal(CSV.split(b"\n")[0] + b"\n" + row + b"\n")
    assert err.location == where and reason in err.message


def test_csv_header_and_currency_rules():
    assert refusal(b"date,amount,curency\n2024-03-01,1,EUR\n", filename="x.csv").location == "line 1, column 'curency'"
    assert str(refusal(b"date,currency\n", filename="x.csv")) == "line 1, column 'amount': missing from the header"
    err = refusal(b"date,amount,currency\n2024-03-01,1,EUR\n2024-03-02,1,USD\n")
    assert err.location == "line 3, column 'currency'"
    assert refusal(b"date,amount,currency\n").message == "the file has a header but no lines"
    assert refusal(b"date,amount,currency\n2024-03-01,1,EUR\n\xff\n").message == "the file is not UTF-8 text"


def test_csv_fingerprint_ignores_how_the_file_is_written():
    semicolons = CSV.replace(b",", b";").replace(b"\"fees; March\"", b"\"fees, March\"")
    assert parse(CSV)[0].fingerprint == parse(semicolons)[0].fingerprint
    assert parse(CSV)[0].fingerprint != parse(CSV.replace(b"1250.00", b"1250.01"))[0].fingerprint


text = st.text(st.characters(blacklist_categories=("Cs", "Cc"), blacklist_characters="\ufeff")
               | st.sampled_from(",;\"\n"), max_size=30).map(str.strip).filter(bool)
ibans = st.sampled_from(["DE89370400440532013000", "NL91ABNA0417164300", "GB29NWBK60161331926819"])
lines = st.builds(
    lambda day, cents, name, iban, remittance, ref: StatementLine(
        booking_date=day, value_date=day, amount=D(cents).scaleb(-2), currency="EUR", counterparty_name=name,
        counterparty_iban=iban, remittance=remittance, structured_reference=ref),
    st.dates(date(2000, 1, 1), date(2099, 12, 31)), st.integers(-10**9, 10**9),
    st.none() | text, st.none() | ibans, st.none() | text, st.none() | text)


@settings(max_examples=60)
@given(st.lists(lines, min_size=1, max_size=8))
def test_csv_round_trip(written):
    [s] = parse_csv(write_csv(written).encode())
    assert [(ln.booking_date, ln.amount, ln.counterparty_name, ln.counterparty_iban, ln.remittance,
             ln.structured_reference) for ln in s.lines] == \
        [(ln.booking_date, ln.amount, ln.counterparty_name, ln.counterparty_iban, ln.remittance,
          ln.structured_reference) for ln in written]


def test_parse_camt053_refuses_mt940_and_parse_mt940_refuses_fragments():
    with pytest.raises(StatementError, match="not an ISO 20022 camt.053 statement"):
        parse_camt053(b"<Document/>")
    with pytest.raises(StatementError, match="no MT940 fields"):
        parse_mt940(b"just text\n")
