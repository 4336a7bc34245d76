"""Imports over HTTP: `POST /api/v1/imports/orders` takes an order CSV (docs/csv-import.md).

The file comes as the request body (Content-Type: text/csv) or as the form field `file` of a
multipart upload; it is spooled to a temporary file while its hash is computed, so a large file never
sits in memory. The import runs in batches, one transaction each, like `o2c import orders`.

Idempotency-Key: the key is claimed (with a hash of the file) before the first batch and, in the
transaction of every batch, updated with how far the import got; at the end it holds the answer. The
same key with the same file returns that answer again; with another file it is refused (422); while
the first request is still running, or if it stopped half-way (a crash), a retry gets 409 naming the
last row that was imported, so nothing is ever imported twice.
"""
from __future__ import annotations

import hashlib
import tempfile
from typing import BinaryIO

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import UploadFile

from o2c.core import clock
from o2c.core.auth import Actor, require
from o2c.core.db import read_session, transaction
from o2c.core.errors import Conflict, IdempotencyMismatch, TooLarge, UnsupportedMediaType, ValidationFailed
from o2c.core.models import IdempotencyKey
from o2c.core.schemas import OutModel
from o2c.integrations.csv_format import ImportFileError, scan
from o2c.integrations.csv_orders import import_orders as run_import
from o2c.web.deps import CtxDep, IdemKey

router = APIRouter(prefix="/imports", tags=["imports"])

CSV_TYPES = frozenset({"text/csv", "application/csv", "text/plain", "application/octet-stream",
                       "application/vnd.ms-excel"})
MAX_BYTES = 256 * 1024 * 1024
LISTED = 1000  # errors and orders listed in the answer; the counts are always complete
_CHUNK = 1 << 20


class ImportRefused(ValidationFailed):
    type = "/problems/import-file"
    title = "The file cannot be imported"


class RowErrorOut(OutModel):
    row: int
    field: str
    code: str
    message: str


class ImportedOrderOut(OutModel):
    order_ref: str
    id: int
    number: str
    status: str


class ImportOut(OutModel):
    rows_read: int
    orders_imported: int
    orders_held: int
    orders_rejected: int
    rows_rejected: int
    errors: list[RowErrorOut]
    errors_omitted: int
    order_ids: list[int]
    orders: list[ImportedOrderOut]
    orders_omitted: int


_BODY = {
    "required": True,
    "content": {
        "text/csv": {"schema": {"type": "string", "format": "binary"}},
        "multipart/form-data": {"schema": {
            "type": "object", "properties": {"file": {"type": "string", "format": "binary"}}, "required": ["file"]}},
    },
}


@router.post(
    "/orders", status_code=201, response_model=ImportOut, openapi_extra={"requestBody": _BODY},
    responses={200: {"model": ImportOut, "description": "Read; no order was imported (every row is in errors)"},
               413: {"description": "File too large"}, 415: {"description": "Not a CSV upload"},
               422: {"description": "The file cannot be imported: encoding, header or CSV syntax"}},
)
async def import_orders(request: Request, ctx: CtxDep, idempotency_key: IdemKey = None):
    """Import an order CSV: every good order is captured as `POST /orders` would capture it (held with
    its reasons when it breaks a business rule), an order with a bad row is not imported, and each of
    its rows is listed in `errors` with its row number, field and reason. 201 when at least one order
    was imported, 200 when none was; a file that cannot be read at all is refused with 422."""
    require(ctx.actor, "orders.write")
    file, digest, closer = await _receive(request)
    try:
        status, body, replayed = await run_in_threadpool(_run, ctx.actor, ctx.company_id, idempotency_key, file, digest)
    finally:
        await closer()
    return JSONResponse(body, status_code=status, headers={"Idempotent-Replayed": "true"} if replayed else None)


async def _receive(request: Request):
    media, _, params = request.headers.get("content-type", "").partition(";")
    media = media.strip().lower()
    for p in params.split(";"):
        name, _, value = p.strip().partition("=")
        if name.lower() == "charset" and value.strip('"').lower().replace("-", "") not in ("utf8", ""):
            raise UnsupportedMediaType(f"the CSV must be UTF-8, not {value}", field="Content-Type")
    if media == "multipart/form-data":
        form = await request.form()
        extra = sorted(k for k in form.keys() if k != "file")
        upload = form.get("file")
        if not isinstance(upload, UploadFile) or extra:
            await form.close()
            if extra:
                raise ValidationFailed.one(extra[0], "extra_forbidden",
                                           f"unknown form field(s): {', '.join(extra)}; send only 'file'")
            raise ValidationFailed.one("file", "missing", "send the CSV as the form field 'file'")
        h = hashlib.sha256()
        size = 0
        while chunk := await upload.read(_CHUNK):
            size += len(chunk)
            if size > MAX_BYTES:
                await form.close()
                raise TooLarge(f"the file is larger than {MAX_BYTES // (1 << 20)} MiB; split it")
            h.update(chunk)
        await upload.seek(0)
        return upload.file, h.hexdigest(), form.close
    if media not in CSV_TYPES:
        raise UnsupportedMediaType(
            f"send the CSV as the body with Content-Type text/csv, or as the field 'file' of a "
            f"multipart/form-data upload (got {media or 'no Content-Type'})", field="Content-Type")
    spool = tempfile.SpooledTemporaryFile(max_size=8 * _CHUNK)
    h = hashlib.sha256()
    size = 0
    try:
        async for chunk in request.stream():
            size += len(chunk)
            if size > MAX_BYTES:
                raise TooLarge(f"the file is larger than {MAX_BYTES // (1 << 20)} MiB; split it")
            h.update(chunk)
            spool.write(chunk)
    except BaseException:
        spool.close()
        raise
    spool.seek(0)

    async def close():
        spool.close()

    return spool, h.hexdigest(), close


def _run(actor: Actor, company_id: int, key: str | None, file: BinaryIO, digest: str) -> tuple[int, dict, bool]:
    try:
        info = scan(file)
    except ImportFileError as exc:
        raise ImportRefused(exc.message, exc.errors) from None  # type: ignore[arg-type]
    if key is None:
        result = run_import(file, actor, company_id, info=info, keep_errors=LISTED, keep_orders=LISTED)
        body = result.body(LISTED)
        return (201 if result.orders_imported else 200), body, False
    if actor.user_id is None:
        raise ValidationFailed.one("Idempotency-Key", "no_user", "Idempotency-Key needs an authenticated user")
    req_hash = hashlib.sha256(f"POST {company_id}:/imports/orders\n{digest}".encode()).hexdigest()
    replay = _claim(actor.user_id, key, req_hash)
    if replay is not None:
        return replay
    where = (IdempotencyKey.user_id == actor.user_id, IdempotencyKey.key == key)

    def progress(session, result, batch) -> None:
        session.execute(update(IdempotencyKey).where(*where).values(response=_state(
            "running", max(result.last_row, batch.last_row), result.orders_imported + len(batch.imported))))

    try:
        result = run_import(file, actor, company_id, info=info, on_batch=progress, keep_errors=LISTED,
                            keep_orders=LISTED)
    except BaseException:
        transaction(lambda s: s.execute(update(IdempotencyKey).where(*where).values(
            response=_state("interrupted", None, None, keep=s.scalar(select(IdempotencyKey.response).where(*where))))))
        raise
    body = result.body(LISTED)
    status = 201 if result.orders_imported else 200
    transaction(lambda s: s.execute(update(IdempotencyKey).where(*where).values(status_code=status, response=body)))
    return status, body, False


def _state(state: str, last_row: int | None, imported: int | None, keep: dict | None = None) -> dict:
    if keep:
        last_row = keep.get("last_row") if last_row is None else last_row
        imported = keep.get("orders_imported") if imported is None else imported
    return {"import_state": state, "last_row": last_row or 1, "orders_imported": imported or 0,
            "at": clock.now().isoformat()}


def _claim(user_id: int, key: str, req_hash: str) -> tuple[int, dict, bool] | None:
    """Take the key for this import; or the answer a request with this key already got."""

    def once(session):
        row = session.scalar(select(IdempotencyKey).where(IdempotencyKey.user_id == user_id, IdempotencyKey.key == key))
        if row is not None:
            return _replay(row, req_hash)
        session.add(IdempotencyKey(user_id=user_id, key=key, request_hash=req_hash, status_code=202,
                                   response=_state("running", 1, 0), created_at=clock.now()))
        session.flush()
        return None

    try:
        return transaction(once)
    except IntegrityError:  # a concurrent request with this key took it first
        with read_session() as session:
            row = session.scalar(
                select(IdempotencyKey).where(IdempotencyKey.user_id == user_id, IdempotencyKey.key == key))
            if row is None:
                raise
            return _replay(row, req_hash)


def _replay(row: IdempotencyKey, req_hash: str) -> tuple[int, dict, bool]:
    if row.request_hash != req_hash:
        raise IdempotencyMismatch(
            "this Idempotency-Key was used for a different request; use a new key for a new request",
            field="Idempotency-Key",
        )
    state = row.response.get("import_state") if isinstance(row.response, dict) else None
    if state is not None:
        last, n = row.response.get("last_row", 1), row.response.get("orders_imported", 0)
        done = f"rows up to {last} are imported ({n} orders)" if last > 1 else "no order is imported yet"
        what = "is still running" if state == "running" else "stopped before the end"
        raise Conflict(
            f"the import with this Idempotency-Key {what}: {done}. Wait for it, or import the rows after "
            f"row {last} with a new key.", import_state=state, last_row=last, orders_imported=n,
        )
    return row.status_code, row.response, True
