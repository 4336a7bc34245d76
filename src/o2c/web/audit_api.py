"""Routes for auditors: the audit log, filtered, and the check of its hash chain."""
from __future__ import annotations

from datetime import datetime

from fastapi import APIRouter, Query
from pydantic import BaseModel

from o2c.core import audit
from o2c.core.db import read_session
from o2c.core.schemas import Page
from o2c.web.deps import CtxDep, cursor_to_id

router = APIRouter(prefix="/audit", tags=["audit"])


class AuditOut(BaseModel):
    id: int
    seq: int | None
    at: datetime
    actor: str
    actor_id: int | None
    company_id: int | None
    entity: str
    entity_id: int
    action: str
    from_status: str | None
    to_status: str | None
    reason: str | None
    data: dict | None
    hash: str | None
    redacted_at: datetime | None


class ProblemOut(BaseModel):
    kind: str
    message: str
    seq: int | None
    id: int | None


class VerifyOut(BaseModel):
    ok: bool
    records: int
    head_seq: int
    head_hash: str
    redacted: int
    problems: list[ProblemOut]


@router.get("", response_model=Page[AuditOut])
def list_audit(ctx: CtxDep, entity: str | None = Query(None, max_length=40), entity_id: int | None = None,
               actor: str | None = Query(None, max_length=80), since: datetime | None = None,
               cursor: str | None = None, limit: int = Query(100, ge=1, le=1000)):
    """Audit records of the company, newest first (auditors: audit.read). Filter by entity (and its id),
    by the user who acted, and from a time on (`since`, ISO 8601); page with `cursor`."""
    with read_session() as s:
        items = audit.search(s, ctx.actor, ctx.company_id, entity=entity, entity_id=entity_id, actor_name=actor,
                             since=since, before_id=cursor_to_id(cursor), limit=limit)
        return Page[AuditOut](items=[AuditOut.model_validate(i) for i in items],
                              next_cursor=str(items[-1]["id"]) if len(items) == limit else None)


@router.get("/verify", response_model=VerifyOut)
def verify(ctx: CtxDep):
    """Walk the hash chain: `ok` is false when a record was changed, deleted or inserted around the chain;
    each problem names the record. `head_hash` can be written down elsewhere to compare later."""
    with read_session() as s:
        return VerifyOut.model_validate(audit.verify_as(s, ctx.actor).as_dict())
