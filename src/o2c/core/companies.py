"""The company's own settings: name, time zone, the price-override threshold, the promised lead time, and
the seller's details an e-invoice carries (EN 16931 BG-4: legal name, VAT identifier, registration,
electronic address, postal address, and the account customers pay into)."""
from __future__ import annotations

import re
from decimal import Decimal
from typing import Annotated
from zoneinfo import ZoneInfo

import pycountry
from pydantic import Field, model_validator
from schwifty import BIC, IBAN
from schwifty.exceptions import SchwiftyException
from sqlalchemy.orm import Session
from stdnum import get_cc_module

from o2c.core import audit
from o2c.core.auth import Actor, require
from o2c.core.errors import ErrorList, NotFound
from o2c.core.models import Company
from o2c.core.money import round_money
from o2c.core.schemas import DecimalStr, OutModel, PctStr, StrictModel


class CompanyOut(OutModel):
    id: int
    code: str
    name: str
    currency: str
    country: str
    timezone: str
    price_override_threshold_pct: PctStr
    default_lead_days: int
    legal_name: str | None = None
    vat_id: str | None = None
    registration_id: str | None = None
    endpoint_id: str | None = None
    endpoint_scheme: str | None = None
    street: str | None = None
    city: str | None = None
    postal_code: str | None = None
    iban: str | None = None
    bic: str | None = None
    write_off_tolerance: DecimalStr | None = None
    credit_overdue_days: int | None = None

    @model_validator(mode="after")
    def _in_minor_units(self):  # stored with 4 decimals; shown as money, in the currency's minor units
        if self.write_off_tolerance is not None:
            self.write_off_tolerance = round_money(self.write_off_tolerance, self.currency)
        return self


class CompanyPatch(StrictModel):
    name: str | None = Field(None, min_length=1, max_length=200)
    timezone: str | None = Field(None, max_length=64)
    price_override_threshold_pct: Annotated[Decimal, Field(ge=0, le=100, decimal_places=4)] | None = None
    default_lead_days: int | None = Field(None, ge=0, le=365)
    # The seller on e-invoices; null clears a field.
    legal_name: str | None = Field(None, min_length=1, max_length=200)
    vat_id: str | None = Field(None, min_length=3, max_length=40)
    registration_id: str | None = Field(None, min_length=1, max_length=40)
    endpoint_id: str | None = Field(None, min_length=1, max_length=80)
    endpoint_scheme: str | None = Field(None, min_length=4, max_length=4)
    street: str | None = Field(None, min_length=1, max_length=200)
    city: str | None = Field(None, min_length=1, max_length=100)
    postal_code: str | None = Field(None, min_length=1, max_length=20)
    iban: str | None = Field(None, min_length=5, max_length=42)
    bic: str | None = Field(None, min_length=8, max_length=11)
    # Short payments up to this are written off with a reason (o2c.payments); null: none are.
    write_off_tolerance: Annotated[Decimal, Field(ge=0, le=10**9, max_digits=15, decimal_places=4)] | None = None
    # Credit: an order from a customer with an invoice overdue by more than this many days is held; null: off.
    credit_overdue_days: int | None = Field(None, ge=0, le=3650)


def get(session: Session, company_id: int) -> Company:
    company = session.get(Company, company_id)
    if company is None:
        raise NotFound(f"company {company_id} not found")
    return company


# VAT prefixes that are not the ISO code of their country (EN 16931 BR-CO-09 allows EL for Greece;
# XI is Northern Ireland under the Windsor Framework).
_VAT_PREFIX_COUNTRY = {"EL": "gr", "XI": "gb"}
# Countries without VAT whose business tax number stdnum names otherwise (a US company has an EIN).
_BUSINESS_TAX_NUMBER = {"us": "ein"}


def vat_id_error(value: str) -> tuple[str | None, str | None]:
    """(the VAT identifier in its electronic form, None) or (None, why it is not one). It starts with its
    country prefix (BR-CO-09) and the number is checked with python-stdnum's VAT module of that
    country, or its business tax number module where the country has no VAT (US: an EIN). A country
    stdnum has neither for is checked for the prefix only."""
    compact = re.sub(r"[\s.\-/]", "", value).upper()
    prefix, number = compact[:2], compact[2:]
    country = _VAT_PREFIX_COUNTRY.get(prefix, prefix.lower())
    if not (re.fullmatch(r"[A-Z]{2}", prefix) and (prefix in _VAT_PREFIX_COUNTRY
                                                  or pycountry.countries.get(alpha_2=prefix))):
        return None, f"{value!r} must start with its two-letter country prefix, e.g. DE136695976 (BR-CO-09)"
    if not re.fullmatch(r"[0-9A-Z+*]{2,}", number):
        return None, f"{value!r} has no number after its country prefix {prefix}"
    module = get_cc_module(country, "vat") or get_cc_module(country, _BUSINESS_TAX_NUMBER.get(country, "tin"))
    if module is not None and not (module.is_valid(number) or module.is_valid(compact)):
        return None, f"{value!r} is not a valid {prefix} VAT identifier ({module.__name__.removeprefix('stdnum.')})"
    return compact, None


def _seller_fields(errors: ErrorList, company: Company, changes: dict) -> None:
    """Check and normalise the e-invoicing fields being set; errors name the field."""
    from o2c.billing.ubl import EAS, SCHEME_CHECKS  # the PEPPOL lists live with the UBL writer

    if changes.get("vat_id") is not None:
        changes["vat_id"], problem = vat_id_error(changes["vat_id"])
        if problem:
            errors.add("vat_id", "invalid", problem)
    if changes.get("iban") is not None:
        try:
            changes["iban"] = IBAN(changes["iban"]).compact
        except SchwiftyException as exc:
            errors.add("iban", "invalid", f"{changes['iban']!r} is not a valid IBAN: {exc}")
    if changes.get("bic") is not None:
        try:
            changes["bic"] = BIC(changes["bic"]).compact
        except SchwiftyException as exc:
            errors.add("bic", "invalid", f"{changes['bic']!r} is not a valid BIC: {exc}")
    scheme = changes.get("endpoint_scheme", company.endpoint_scheme)
    endpoint = changes.get("endpoint_id", company.endpoint_id)
    if "endpoint_scheme" in changes and scheme is not None and scheme not in EAS:
        errors.add("endpoint_scheme", "invalid",
                   f"{scheme!r} is not a PEPPOL electronic address scheme (EAS code list), e.g. 0088 for a GLN")
    elif ("endpoint_id" in changes or "endpoint_scheme" in changes) and (endpoint is None) != (scheme is None):
        missing = "endpoint_scheme" if scheme is None else "endpoint_id"
        errors.add(missing, "required", "an electronic address needs both its id and its scheme (EAS code)")
    elif endpoint is not None and scheme in SCHEME_CHECKS and not SCHEME_CHECKS[scheme][1](endpoint.strip()):
        errors.add("endpoint_id", "invalid", f"{endpoint!r} is not {SCHEME_CHECKS[scheme][0]} (scheme {scheme})")


def update(session: Session, actor: Actor, company_id: int, patch: CompanyPatch) -> Company:
    require(actor, "company.write")
    company = get(session, company_id)
    changes = patch.model_dump(exclude_unset=True)
    errors = ErrorList()
    if "timezone" in changes:
        try:
            ZoneInfo(changes["timezone"])
        except Exception:
            errors.add("timezone", "unknown", f"{changes['timezone']} is not an IANA time zone")
    for name in ("name", "timezone", "price_override_threshold_pct", "default_lead_days"):
        if name in changes and changes[name] is None:
            errors.add(name, "required", f"{name} cannot be cleared")
    _seller_fields(errors, company, changes)
    tolerance = changes.get("write_off_tolerance")
    if tolerance is not None and round_money(tolerance, company.currency) != tolerance:
        errors.add("write_off_tolerance", "not_minor_units",
                   f"write_off_tolerance {tolerance} has more decimals than {company.currency} allows")
    errors.raise_if_any("The company settings are not valid")
    before = {k: str(getattr(company, k)) for k in changes}
    for k, v in changes.items():
        setattr(company, k, v)
    audit.record(session, actor, "company", company.id, "settings_changed", company_id=company.id,
                 data={"before": before, "after": {k: str(v) for k, v in changes.items()}})
    return company
