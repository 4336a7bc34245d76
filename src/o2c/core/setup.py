"""Creating a company with its first administrator."""
from __future__ import annotations

from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.orm import Session

from o2c.core import clock
from o2c.core.auth import create_user, issue_api_key
from o2c.core.errors import ErrorList
from o2c.core.models import Company
from o2c.core.money import known_currencies
from o2c.customers.rules import is_country


def create_company(session: Session, code: str, name: str, currency: str, country: str, tz: str,
                   admin: str | None = "admin") -> tuple[Company, str | None]:
    errors = ErrorList()
    if currency not in known_currencies():
        errors.add("currency", "unknown", f"{currency} is not an ISO 4217 currency")
    if not is_country(country):
        errors.add("country", "unknown", f"{country} is not an ISO 3166 country code")
    try:
        ZoneInfo(tz)
    except Exception:
        errors.add("timezone", "unknown", f"{tz} is not an IANA time zone")
    if session.scalar(select(Company.id).where(Company.code == code)):
        errors.add("company", "taken", f"company {code} exists already")
    errors.raise_if_any()
    company = Company(code=code, name=name, currency=currency, country=country.upper(), timezone=tz,
                      created_at=clock.now())
    session.add(company)
    session.flush()
    key = None
    if admin:
        user = create_user(session, admin, ["admin"], [company.id], display_name="Administrator")
        key = issue_api_key(session, user, "bootstrap")
    return company, key
