"""Routes for the company's own settings."""
from __future__ import annotations

from fastapi import APIRouter

from o2c.core.companies import CompanyOut, CompanyPatch, get, update
from o2c.core.db import read_session
from o2c.web.deps import CtxDep, ReaderDep
from o2c.web.responses import change

router = APIRouter(prefix="/company", tags=["company"])


@router.get("", response_model=CompanyOut)
def read_company(ctx: ReaderDep):
    with read_session() as s:
        return CompanyOut.model_validate(get(s, ctx.company_id))


@router.patch("", response_model=CompanyOut)
def change_company(patch: CompanyPatch, ctx: CtxDep):
    """Change the company's settings (administrators): e.g. how far a desk may move a price, or the
    seller's details on e-invoices (legal name, VAT id, registration, electronic address and scheme,
    postal address, IBAN and BIC). 422 naming each field that is not valid; nothing is changed then."""
    return change(CompanyOut, lambda s: update(s, ctx.actor, ctx.company_id, patch))
