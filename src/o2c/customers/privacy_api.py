"""Routes for privacy requests about a customer's contact: export what is held, erase it (privacy.write)."""
from __future__ import annotations

from datetime import datetime

from fastapi import APIRouter, Query
from pydantic import BaseModel, Field

from o2c.core.db import read_session, transaction
from o2c.core.schemas import IdPath
from o2c.customers import privacy
from o2c.web.deps import CtxDep

router = APIRouter(prefix="/privacy", tags=["privacy"])


class EraseIn(BaseModel):
    reason: str = Field(max_length=500, description="the request answered, e.g. 'erasure request of 2026-11-20'")


class ErasedOut(BaseModel):
    contact_id: int
    erased_at: datetime
    pseudonym: str
    changed: dict[str, int]
    kept: str


class ContactRef(BaseModel):
    id: int
    customer_id: int
    name: str
    role: str | None


@router.get("/contacts", response_model=list[ContactRef])
def find_contacts(ctx: CtxDep, email: str = Query(..., max_length=254)):
    """The contacts whose email a request came from (privacy.write): export or erase each by its id."""
    with read_session() as s:
        return [ContactRef(id=c.id, customer_id=c.customer_id, name=c.name, role=c.role)
                for c in privacy.find(s, ctx.actor, ctx.company_id, email)]


@router.get("/contacts/{contact_id}/export")
def export_contact(contact_id: IdPath, ctx: CtxDep) -> dict:
    """Everything held on the contact: the contact, customers and users with its email or phone, orders
    shipped to its name, reminders and messages sent to it, audit records naming it; and what is kept for
    legal retention. The export itself is recorded in the audit log."""
    return transaction(lambda s: privacy.export(s, ctx.actor, ctx.company_id, contact_id))


@router.post("/contacts/{contact_id}/erase", response_model=ErasedOut)
def erase_contact(contact_id: IdPath, data: EraseIn, ctx: CtxDep):
    """Pseudonymise the contact everywhere it appears (name -> erased-<id>, email and phone removed; audit
    records redacted, their hashes kept); invoices, credit notes, payments and the ledger are kept. 409 if
    it was erased already; 422 without a reason."""
    return transaction(lambda s: ErasedOut.model_validate(
        privacy.erase(s, ctx.actor, ctx.company_id, contact_id, data.reason)).model_dump(mode="json"))
