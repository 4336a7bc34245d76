"""Sanctions screening over HTTP: load a list, the compliance queue, decisions, screen a customer now."""
from __future__ import annotations

import hashlib
from pathlib import PurePath
from typing import Literal

from fastapi import APIRouter, Query, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse
from starlette.datastructures import UploadFile

from o2c.compliance import service
from o2c.compliance.schemas import DecisionIn, HitOut, ListLoadOut, ScreenedOut
from o2c.core import idempotency
from o2c.core.db import read_session
from o2c.core.errors import TooLarge, UnsupportedMediaType, ValidationFailed
from o2c.core.schemas import IdPath, Page
from o2c.web.deps import CtxDep, IdemKey, ReaderDep, cursor_to_id
from o2c.web.responses import change

router = APIRouter(prefix="/screening", tags=["screening"])

MAX_BYTES = 32 << 20  # per file; the full SDN list is about 1.5 MiB

_BODY = {
    "required": True,
    "content": {"multipart/form-data": {"schema": {
        "type": "object",
        "properties": {"files": {"type": "array", "items": {"type": "string", "format": "binary"},
                                 "description": "sdn.csv (required), alt.csv, add.csv, sdn_comments.csv, "
                                                "each named by its file name"}},
        "required": ["files"]}}},
}


async def _files(request: Request) -> dict[str, bytes]:
    """The uploaded files by file name (sdn.csv, alt.csv, ...), whatever form fields carry them."""
    media = request.headers.get("content-type", "").partition(";")[0].strip().lower()
    if media != "multipart/form-data":
        raise UnsupportedMediaType("send the list files as multipart/form-data (e.g. curl -F files=@sdn.csv)")
    form = await request.form(max_part_size=MAX_BYTES)
    try:
        out: dict[str, bytes] = {}
        for field, value in form.multi_items():
            if not isinstance(value, UploadFile):
                raise ValidationFailed.one(field, "not_a_file", f"form field {field!r} must be a file")
            name = PurePath(value.filename or field).name.lower()
            if name in out:
                raise ValidationFailed.one(name, "repeated", f"{name} is sent twice")
            data = await value.read(MAX_BYTES + 1)
            if len(data) > MAX_BYTES:
                raise TooLarge(f"{name} is larger than {MAX_BYTES >> 20} MiB")
            out[name] = data
    finally:
        await form.close()
    return out


@router.post("/lists", status_code=201, response_model=ListLoadOut, openapi_extra={"requestBody": _BODY},
             responses={409: {"description": "These files are the active list already"},
                        422: {"description": "A broken row: the error names the file and line; nothing is stored"}})
async def load_list(request: Request, ctx: CtxDep, idempotency_key: IdemKey = None):
    """Load a sanctions list (screening.write) from the OFAC SDN files and screen every customer again
    against it. Answers the load with the customers screened and the hits opened."""
    files = await _files(request)
    digest = service.fingerprint(files)
    req_hash = hashlib.sha256(f"POST /screening/lists\n{digest}".encode()).hexdigest()

    def work(s):
        load = service.load_list(s, ctx.actor, files)
        return 201, ListLoadOut.model_validate(service.load_view(load)).model_dump(mode="json")

    status, body, replayed = await run_in_threadpool(idempotency.run, ctx.actor, idempotency_key, req_hash, work)
    return JSONResponse(body, status_code=status, headers={"Idempotent-Replayed": "true"} if replayed else None)


@router.get("/lists", response_model=list[ListLoadOut])
def list_loads(ctx: ReaderDep):
    """The lists loaded, newest first; the active one is screened against."""
    with read_session() as s:
        return [ListLoadOut.model_validate(v) for v in service.lists(s, ctx.actor)]


@router.get("/hits", response_model=Page[HitOut])
def list_hits(ctx: ReaderDep, status: Literal["open", "true_match", "false_positive", "all"] = "open",
              customer_id: int | None = Query(None, ge=1, le=2**62), cursor: str | None = None,
              limit: int = Query(100, ge=1, le=500)):
    """The compliance queue: hits of this company's customers, oldest first (open ones unless `status`)."""
    with read_session() as s:
        items = service.list_hits(s, ctx.actor, ctx.company_id, None if status == "all" else status, customer_id, cursor_to_id(cursor) or 0, limit)
        return {"items": items, "next_cursor": str(items[-1]["id"]) if len(items) == limit else None}


@router.get("/hits/{hit_id}", response_model=HitOut)
def get_hit(hit_id: IdPath, ctx: ReaderDep):
    with read_session() as s:
        return HitOut.model_validate(service.get_hit(s, ctx.actor, hit_id))


@router.post("/hits/{hit_id}/decision", response_model=HitOut,
             responses={409: {"description": "The hit was decided already"}})
def decide(hit_id: IdPath, data: DecisionIn, ctx: CtxDep):
    """Decide a hit once (screening.write): true_match blocks the customer; false_positive lifts the
    compliance hold when no other hit keeps it, and the customer's held orders move on."""
    return change(HitOut, lambda s: service.hit_view(
        s, service.decide_hit(s, ctx.actor, hit_id, data.decision, data.reason)))


@router.post("/customers/{customer_id}", response_model=ScreenedOut)
def screen_customer(customer_id: IdPath, ctx: CtxDep):
    """Screen a customer now against the active list (screening.write)."""
    return change(ScreenedOut, lambda s: service.screen_now(s, ctx.actor, customer_id))
