"""Who a customer is, checked offline and pure: VAT / tax numbers and company registration numbers
(python-stdnum), e-mail addresses (email-validator, syntax only: no DNS), phone numbers (phonenumbers)
and bank accounts (schwifty for the IBAN and BIC, stdnum for the national check digits schwifty skips).

Each check takes the value and what it depends on (the address country, the IBAN) and returns the
value in its stored form with the problems found: `(normalised, errors)`. An error is a FieldError
whose code names the rule broken (`check_digit`, `length`, `format`, `country_mismatch`...) and whose
message says it in words, e.g. "DE VAT number check digit is wrong".
"""
from __future__ import annotations

import re
from functools import lru_cache

import phonenumbers
from email_validator import EmailNotValidError, validate_email
from schwifty import BIC, IBAN
from schwifty import exceptions as sx
from stdnum import exceptions as sn
from stdnum import iban as stdnum_iban
from stdnum.eu import vat as eu_vat
from stdnum.util import get_cc_module

from o2c.core.errors import FieldError

# stdnum's error classes, as rule codes and the words for them.
_STDNUM_RULES = (
    (sn.InvalidChecksum, "check_digit", "check digit is wrong"),
    (sn.InvalidLength, "length", "has the wrong length"),
    (sn.InvalidFormat, "format", "has the wrong format"),
    (sn.InvalidComponent, "component", "has a part that is not valid (e.g. an unknown region or office code)"),
)

# VAT prefixes that are not the ISO country code: Greece writes EL, Northern Ireland XI (a GB address).
_VAT_PREFIX_COUNTRY = {"EL": "GR", "XI": "GB"}
_COUNTRY_VAT_PREFIX = {"GR": "EL"}

# Company registration numbers stdnum can check, by country (others are kept as given).
_REGISTRATION_MODULES = {
    "BE": "be.vat",  # the Belgian enterprise number is the VAT number's digits
    "CH": "ch.uid", "DK": "dk.cvr", "EE": "ee.registrikood", "FI": "fi.ytunnus", "FR": "fr.siren",
    "NO": "no.orgnr", "PL": "pl.regon", "SE": "se.orgnr",
}


def _stdnum_error(exc: Exception, field: str, what: str) -> FieldError:
    for cls, code, words in _STDNUM_RULES:
        if isinstance(exc, cls):
            return FieldError(field, code, f"{what} {words}")
    return FieldError(field, "invalid", f"{what} is not valid")


def _compact(value: str) -> str:
    return re.sub(r"[\s.\-/]", "", value).upper()


@lru_cache(maxsize=256)
def _tax_module(country: str):
    """The stdnum module checking this country's VAT (or, lacking one, its tax id) numbers; None if none."""
    cc = country.lower()
    if cc in eu_vat.MEMBER_STATES or cc == "gr":
        return eu_vat
    return get_cc_module(cc, "vat") or get_cc_module(cc, "tin")


def _as_tax_number(number: str, country: str):
    """`number` checked as a tax number of `country`: (stored form, None) or (None, the stdnum error);
    (number, None) when stdnum has no check for the country."""
    module = _tax_module(country)
    if module is None:
        return number, None
    if module is eu_vat:  # EU numbers carry their prefix (DE136695976), as invoices print them
        vat_prefix = _COUNTRY_VAT_PREFIX.get(country, country)
        if country == "GR" and number.startswith("GR"):  # Greek numbers are written EL, typed GR too
            number = "EL" + number[2:]
        candidates = [number if number.startswith(vat_prefix) else vat_prefix + number]
    else:  # a national module: the number as typed, then without a country prefix it may not expect
        candidates = [number] + ([number[2:]] if number.startswith(country) and len(number) > 2 else [])
    first_error = None
    for candidate in candidates:
        try:
            stored = module.compact(module.validate(candidate))
        except sn.ValidationError as exc:
            first_error = first_error or exc
            continue
        if country == "GB" and stored.isdigit():  # gb.vat drops the prefix; keep it (XI: Northern Ireland)
            stored = ("XI" if number.startswith("XI") else "GB") + stored
        return stored, None
    return None, first_error


def vat_number(value: str | None, country: str | None, field: str = "tax_id") -> tuple[str | None, list[FieldError]]:
    """A VAT or tax number of a customer with an address in `country`: with or without the country
    prefix, spaces, dots and dashes allowed. Stored compact: EU and UK numbers with their prefix
    (DE136695976, GB980780684), others in stdnum's compact form. A country stdnum has no check for
    keeps the number as given (compacted): nothing to check it against, so it is not refused. A number
    that is not valid here but is valid for the country its prefix names is refused as a mismatch."""
    if value is None or not value.strip():
        return None, []
    if not country:
        return None, [FieldError(field, "country_required", "a tax number is checked against the address "
                                                            "country: give the billing address country")]
    country = country.upper()
    number = _compact(value)
    stored, error = _as_tax_number(number, country)
    if error is None:
        return stored, []
    named = _VAT_PREFIX_COUNTRY.get(number[:2], number[:2])
    if named != country and number[:2].isalpha() and _tax_module(named) is not None \
            and _as_tax_number(number, named)[1] is None:
        return None, [FieldError(field, "country_mismatch",
                                 f"tax number {value!r} is a {named} number but the address is in {country}")]
    module = _tax_module(country)
    kind = "VAT number" if module is eu_vat or module.__name__.endswith(".vat") else "tax number"
    return None, [_stdnum_error(error, field, f"{country} {kind}")]


def registration_number(value: str | None, country: str | None, field: str = "registration_id"
                        ) -> tuple[str | None, list[FieldError]]:
    """A company registration number, checked where stdnum knows the country's register; kept as given
    (trimmed) elsewhere, since registers differ too much (a German HRB number names its court)."""
    if value is None or not value.strip():
        return None, []
    name = _REGISTRATION_MODULES.get((country or "").upper())
    if name is None:
        return value.strip(), []
    module = __import__(f"stdnum.{name}", fromlist=["validate"])
    try:
        return module.compact(module.validate(value)), []
    except sn.ValidationError as exc:
        return None, [_stdnum_error(exc, field, f"{country.upper()} registration number")]


def email(value: str | None, field: str = "email") -> tuple[str | None, list[FieldError]]:
    """An e-mail address, by syntax only (no DNS lookup: offline and deterministic); stored normalised
    (the domain in lower case)."""
    if value is None or not value.strip():
        return None, []
    try:
        return validate_email(value.strip(), check_deliverability=False).normalized, []
    except EmailNotValidError as exc:
        return None, [FieldError(field, "email_syntax", f"e-mail address {value!r} is not valid: {exc}")]


def phone(value: str | None, country: str | None, field: str = "phone") -> tuple[str | None, list[FieldError]]:
    """A phone number, in international form (+49 30 ...) or national form for the address country;
    it must be a number that can exist (valid for its region's numbering plan). Stored as E.164."""
    if value is None or not value.strip():
        return None, []
    region = (country or "").upper() or None
    try:
        parsed = phonenumbers.parse(value, region)
    except phonenumbers.NumberParseException as exc:
        if exc.error_type == phonenumbers.NumberParseException.INVALID_COUNTRY_CODE:
            return None, [FieldError(field, "phone_country", f"phone number {value!r} has no country: write it "
                                                             "as +<country code> or give the address country")]
        return None, [FieldError(field, "phone_format", f"phone number {value!r} cannot be read as a phone number")]
    if not phonenumbers.is_valid_number(parsed):
        where = phonenumbers.region_code_for_number(parsed) or f"+{parsed.country_code}"
        return None, [FieldError(field, "phone_invalid",
                                 f"phone number {value!r} is not a valid number in {where}'s numbering plan")]
    return phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164), []


_IBAN_RULES = (
    (sx.InvalidCountryCode, "country", "has an unknown country code"),
    (sx.InvalidLength, "length", "has the wrong length for its country"),
    (sx.InvalidChecksumDigits, "check_digit", "check digits are wrong"),
    (sx.InvalidBBANChecksum, "national_check_digit", "national check digit is wrong"),
    (sx.InvalidBankCode, "bank_code", "bank code is not valid"),
    (sx.InvalidBranchCode, "branch_code", "branch code is not valid"),
    (sx.InvalidAccountCode, "account_code", "account number is not valid"),
    (sx.InvalidStructure, "format", "does not have its country's format"),
)

# BIC countries that go with an IBAN country: Crown dependencies bank with GB IBANs, French overseas
# territories and Monaco with FR/MC ones.
_BIC_COUNTRIES = {
    "GB": {"GB", "JE", "GG", "IM"},
    "FR": {"FR", "GF", "GP", "MQ", "RE", "YT", "PM", "BL", "MF", "NC", "PF", "WF", "MC"},
    "MC": {"MC", "FR"},
}


def bank_account(iban: str | None, bic: str | None, field: str = "bank_account"
                 ) -> tuple[tuple[str, str | None] | None, list[FieldError]]:
    """An IBAN (spaces, dashes and dots allowed) and optional BIC: returns (IBAN electronic form, BIC)
    or the errors, each naming `{field}.iban` or `{field}.bic`. The BIC's country must be the IBAN's."""
    f_iban, f_bic = f"{field}.iban", f"{field}.bic"
    if iban is None or not iban.strip():
        return None, [FieldError(f_iban, "required", "an IBAN is required")]
    compact = _compact(iban)
    try:
        parsed = IBAN(compact)
    except sx.SchwiftyException as exc:
        code, words = next(((c, w) for cls, c, w in _IBAN_RULES if isinstance(exc, cls)), ("invalid", "is not valid"))
        return None, [FieldError(f_iban, code, f"IBAN {iban!r} {words}")]
    try:  # schwifty does not verify every country's national check digits (e.g. Spain's); stdnum does
        stdnum_iban.validate(compact)
    except sn.ValidationError:
        return None, [FieldError(f_iban, "national_check_digit", f"IBAN {iban!r} national check digit is wrong")]
    if bic is None or not bic.strip():
        return (parsed.compact, None), []
    try:
        parsed_bic = BIC(_compact(bic))
    except sx.SchwiftyException as exc:
        return None, [FieldError(f_bic, "bic_format", f"BIC {bic!r} is not valid: {exc}")]
    allowed = _BIC_COUNTRIES.get(parsed.country_code, {parsed.country_code})
    if parsed_bic.country_code not in allowed:
        return None, [FieldError(f_bic, "country_mismatch",
                                 f"BIC {bic!r} is of a bank in {parsed_bic.country_code} but the IBAN is "
                                 f"from {parsed.country_code}")]
    return (parsed.compact, parsed_bic.compact), []
