"""The company's own settings: name, time zone, the price-override threshold, the promised lead time."""
from __future__ import annotations

from decimal import Decimal
from typing import Annotated
from zoneinfo import ZoneInfo

from pydantic import Field
from sqlalchemy.orm import Session

from o2c.core import audit
from o2c.core.auth import Actor, require
from o2c.core.errors import NotFound, ValidationFailed
from o2c.core.models import Company
from o2c.core.schemas import OutModel, PctStr, StrictModel


class CompanyOut(OutModel):
    id: int
    code: str
    name: str
    currency: str
    country: str
    timezone: str
    price_override_threshold_pct: PctStr
    default_lead_days: int


class CompanyPatch(StrictModel):
    name: str | None = Field(None, min_length=1, max_length=200)
    timezone: str | None = Field(None, max_length=64)
    price_override_threshold_pct: Annotated[Decimal, Field(ge=0, le=100, decimal_places=4)] | None = None
    default_lead_days: int | None = Field(None, ge=0, le=365)


def get(session: Session, company_id: int) -> Company:
    company = session.get(Company, company_id)
    if company is None:
        raise NotFound(f"company {company_id} not found")
    return company


def update(session: Session, actor: Actor, company_id: int, patch: CompanyPatch) -> Company:
    require(actor, "company.write")
    company = get(session, company_id)
    changes = patch.model_dump(exclude_unset=True)
    if "timezone" in changes:
        try:
            ZoneInfo(changes["timezone"])
        except Exception:
            raise ValidationFailed.one("timezone", "unknown", f"{changes['timezone']} is not an IANA time zone") from None
    before = {k: str(getattr(company, k)) for k in changes}
    for k, v in changes.items():
        setattr(company, k, v)
    audit.record(session, actor, "company", company.id, "settings_changed", company_id=company.id,
                 data={"before": before, "after": {k: str(v) for k, v in changes.items()}})
    return company
