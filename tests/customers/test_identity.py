"""Rule tests for o2c.customers.identity: tax numbers per country, e-mail, phone, IBAN and BIC.

Worked cases name the rule broken; the number lists of python-stdnum's own tests (tests/fixtures/
master_data) check that every valid VAT number and IBAN is accepted, typed as people type them, and
every invalid one refused."""
from __future__ import annotations

from pathlib import Path

import pytest

from o2c.customers import identity

LISTS = Path(__file__).parent.parent / "fixtures" / "master_data"
PREFIX_COUNTRY = {"EL": "GR", "XI": "GB"}


def _numbers(name: str) -> list[str]:
    return [line.strip() for line in (LISTS / name).read_text().splitlines() if line.strip()]


def _country(number: str) -> str:
    """The address country a number belongs to: its prefix (EL is Greece), DE for a made-up prefix."""
    prefix = identity._compact(number)[:2]
    prefix = PREFIX_COUNTRY.get(prefix, prefix)
    return prefix if identity._tax_module(prefix) is not None else "DE"


@pytest.mark.parametrize("typed, country, stored", [
    ("DE136695976", "DE", "DE136695976"),
    ("136 695 976", "DE", "DE136695976"),          # without the prefix: the address country gives it
    ("fr 40 303 265 045", "FR", "FR40303265045"),
    ("NL004495445B01", "NL", "NL004495445B01"),
    ("BE 0411.905.847", "BE", "BE0411905847"),
    ("U13585627", "AT", "ATU13585627"),
    ("094259216", "GR", "EL094259216"),            # Greece writes EL
    ("GR094259216", "GR", "EL094259216"),
    ("GB 980 7806 84", "GB", "GB980780684"),       # the UK is outside eu.vat: gb.vat, prefix kept
    ("XI 980 7806 84", "GB", "XI980780684"),       # Northern Ireland
    ("CHE-107.787.577 IVA", "CH", "CHE107787577IVA"),
    ("51 824 753 556", "AU", "51824753556"),       # an Australian ABN
    ("12-3456789", "US", "123456789"),             # a US EIN (us.tin)
    ("ZZ-99", "AQ", "ZZ99"),                       # no check known for the country: kept, compacted
])
def test_a_valid_tax_number_is_stored_compact(typed, country, stored):
    assert identity.vat_number(typed, country) == (stored, [])


@pytest.mark.parametrize("typed, country, code, message", [
    ("DE136695977", "DE", "check_digit", "DE VAT number check digit is wrong"),
    ("DE13669597", "DE", "length", "DE VAT number has the wrong length"),
    ("FR4030326504X", "FR", "format", "FR VAT number has the wrong format"),
    ("ATU13585628", "AT", "check_digit", "AT VAT number check digit is wrong"),
    ("DE136695976", "FR", "country_mismatch", "tax number 'DE136695976' is a DE number but the address is in FR"),
    ("GB980780684", "IE", "country_mismatch", "is a GB number but the address is in IE"),
    ("4 5 3", "BR", "length", "BR tax number has the wrong length"),
])
def test_an_invalid_tax_number_is_refused_naming_the_rule(typed, country, code, message):
    stored, [error] = identity.vat_number(typed, country)
    assert stored is None
    assert (error.field, error.code) == ("tax_id", code)
    assert message in error.message


def test_a_tax_number_needs_the_address_country_and_a_blank_one_is_none():
    assert identity.vat_number("DE136695976", None)[1][0].code == "country_required"
    assert identity.vat_number("  ", "DE") == (None, [])
    assert identity.vat_number(None, "DE") == (None, [])


def test_every_number_of_stdnums_lists_is_judged_as_stdnum_judges_it():
    valid = _numbers("stdnum_valid_eu_vat.txt") + _numbers("stdnum_valid_gb_vat.txt")
    invalid = _numbers("stdnum_invalid_eu_vat.txt")
    assert (len(valid), len(invalid)) == (680, 114)
    refused = [n for n in valid if identity.vat_number(n, _country(n))[1]]
    assert refused == []
    # Typed without their prefix, against the address country, they are accepted too.
    bare = [n for n in valid if identity.vat_number(identity._compact(n)[2:], _country(n))[1]]
    assert bare == []
    accepted = [n for n in invalid if not identity.vat_number(n, _country(n))[1]]
    assert accepted == []


@pytest.mark.parametrize("typed, country, number, registration", [
    ("552 100 554", "FR", "552100554", True),
    ("552100553", "FR", None, False),
    ("HRB 123456", "DE", "HRB 123456", True),  # German registers name their court: kept as given
    ("0411.905.847", "BE", "0411905847", True),
])
def test_registration_numbers_are_checked_where_stdnum_knows_the_register(typed, country, number, registration):
    stored, errors = identity.registration_number(typed, country)
    assert stored == number
    assert (not errors) is registration
    if errors:
        assert (errors[0].field, errors[0].code) == ("registration_id", "check_digit")


@pytest.mark.parametrize("typed, stored", [
    ("ap@harbor.example", "ap@harbor.example"),
    ("Ap@HARBOR.Example", "Ap@harbor.example"),   # the domain is case-insensitive: stored in lower case
    ("  buyer@bücher.example ", "buyer@bücher.example"),
])
def test_an_email_is_checked_by_syntax_and_normalised(typed, stored):
    assert identity.email(typed) == (stored, [])


@pytest.mark.parametrize("typed", ["not-an-email", "a@@b.example", "a@b", "a b@c.example", "@c.example"])
def test_a_malformed_email_is_refused(typed):
    stored, [error] = identity.email(typed, "contacts[0].email")
    assert (stored, error.field, error.code) == (None, "contacts[0].email", "email_syntax")
    assert repr(typed) in error.message


@pytest.mark.parametrize("typed, country, stored", [
    ("+49 30 901820", "DE", "+4930901820"),
    ("030 901820", "DE", "+4930901820"),           # national form: the address country is the region
    ("(312) 744-5000", "US", "+13127445000"),
    ("+44 20 7946 0958", "US", "+442079460958"),   # international form wins over the address country
    ("020 7946 0958", "GB", "+442079460958"),
])
def test_a_phone_number_is_stored_as_e164(typed, country, stored):
    assert identity.phone(typed, country) == (stored, [])


@pytest.mark.parametrize("typed, country, code", [
    ("12", "DE", "phone_invalid"),                 # too short for the German plan
    ("+1 312 555 01", "US", "phone_invalid"),
    ("call me", "DE", "phone_format"),
    ("030 901820", None, "phone_country"),         # national form with no country to read it in
])
def test_an_impossible_phone_number_is_refused(typed, country, code):
    stored, [error] = identity.phone(typed, country)
    assert (stored, error.field, error.code) == (None, "phone", code)


@pytest.mark.parametrize("iban, bic, stored", [
    ("DE89 3704 0044 0532 0130 00", "COBADEFFXXX", ("DE89370400440532013000", "COBADEFFXXX")),
    ("de89370400440532013000", None, ("DE89370400440532013000", None)),
    ("GB82 WEST 1234 5698 7654 32", "RBOSGGSX", ("GB82WEST12345698765432", "RBOSGGSX")),  # Guernsey bank
    ("ES91-2100-0418-4502-0005-1332", None, ("ES9121000418450200051332", None)),  # dashes allowed
    ("FR14 2004 1010 0505 0001 3M02 606", "BNPAGPGP", ("FR1420041010050500013M02606", "BNPAGPGP")),
])
def test_a_valid_bank_account_is_stored_in_electronic_form(iban, bic, stored):
    assert identity.bank_account(iban, bic) == (stored, [])


@pytest.mark.parametrize("iban, bic, field, code", [
    ("DE89370400440532013001", None, "bank_account.iban", "check_digit"),
    ("DE8937040044053201300", None, "bank_account.iban", "length"),
    ("XX89370400440532013000", None, "bank_account.iban", "country"),
    ("ES2121000418450200051331", None, "bank_account.iban", "national_check_digit"),  # schwifty misses it
    ("", None, "bank_account.iban", "required"),
    ("DE89370400440532013000", "BNPAFRPP", "bank_account.bic", "country_mismatch"),
    ("GB82WEST12345698765432", "COBADEFFXXX", "bank_account.bic", "country_mismatch"),
    ("DE89370400440532013000", "COBADE", "bank_account.bic", "bic_format"),
])
def test_a_wrong_iban_or_bic_is_refused_naming_the_rule(iban, bic, field, code):
    stored, [error] = identity.bank_account(iban, bic)
    assert (stored, error.field, error.code) == (None, field, code)


def test_a_bic_of_another_country_names_both_countries():
    _, [error] = identity.bank_account("DE89370400440532013000", "BNPAFRPP", "bank_accounts[1]")
    assert error.field == "bank_accounts[1].bic"
    assert error.message == "BIC 'BNPAFRPP' is of a bank in FR but the IBAN is from DE"


def test_every_iban_of_stdnums_lists_is_judged_as_stdnum_judges_it():
    valid, invalid = _numbers("stdnum_valid_iban.txt"), _numbers("stdnum_invalid_iban.txt")
    assert (len(valid), len(invalid)) == (194, 21)
    assert [n for n in valid if identity.bank_account(n, None)[1]] == []
    assert [n for n in invalid if not identity.bank_account(n, None)[1]] == []
