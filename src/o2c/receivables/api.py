"""Routes of reconciliation: bank statements in (a camt.053, MT940 or CSV file as the body or as the
form field `file`), the queue of lines waiting for a person and their decisions, and the bank accounts
customers pay from (docs/reconciliation.md)."""
from __future__ import annotations

import hashlib
from datetime import date, datetime
from decimal import Decimal
from typing import Annotated, Literal

from fastapi import APIRouter, Query, Request
from fastapi.responses import JSONResponse, Response
from pydantic import Field
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import UploadFile

from o2c.core import idempotency
from o2c.core.db import read_session, transaction
from o2c.core.errors import TooLarge, ValidationFailed
from o2c.core.schemas import MAX_ID, CurrencyCode, DecimalStr, IdPath, OutModel, Page, RecordId, StrictModel
from o2c.customers import changes
from o2c.customers.governance_schemas import ChangeOut
from o2c.customers.onboarding_schemas import BankAccountIn
from o2c.receivables import bank_accounts, service
from o2c.web.deps import CtxDep, IdemKey, ReaderDep, cursor_to_id
from o2c.web.responses import create

router = APIRouter(tags=["reconciliation"])

MAX_BYTES = 256 * 1024 * 1024
Format = Literal["camt.053", "mt940", "csv"]


class StatementOut(OutModel):
    id: int
    format: str
    filename: str | None
    statement_ref: str | None
    account: str | None
    currency: str
    opening_balance: DecimalStr | None
    closing_balance: DecimalStr | None
    period_from: date | None
    period_to: date | None
    line_count: int
    imported_at: datetime
    imported_by: str
    counts: dict[str, int]
    auto_rate: DecimalStr  # auto lines / lines with money coming in, e.g. "0.8750"


class ImportOut(OutModel):
    statements: list[StatementOut]
    counts: dict[str, int]
    auto_rate: DecimalStr


class AllocationOut(OutModel):
    invoice_id: int
    number: str
    customer_id: int
    due_date: date
    amount: str
    open_now: str


class AlternativeOut(OutModel):
    customer_id: int | None
    confidence: str
    allocations: list[AllocationOut]
    leftover: str
    reasons: list[str]


class LineOut(OutModel):
    id: int
    statement_id: int
    seq: int
    booking_date: date | None
    value_date: date | None
    amount: DecimalStr
    currency: str
    counterparty_name: str | None
    counterparty_account: str | None
    remittance: str | None
    reference: str | None
    end_to_end_id: str | None
    bank_ref: str | None
    status: str
    confidence: str | None
    customer_id: int | None
    allocations: list[AllocationOut]
    leftover: str | None
    reasons: list[str]
    alternatives: list[AlternativeOut]
    payment_id: int | None
    decided_by: str | None
    decided_at: datetime | None
    decision: dict | None


class StatementDetailOut(StatementOut):
    lines: list[LineOut]
    next_cursor: str | None = None


class ConfirmIn(StrictModel):
    alternative: int = Field(0, ge=0, le=3, description="0: the proposal; 1 to 3: one of its alternatives")


class PickIn(StrictModel):
    invoice_id: RecordId
    amount: Decimal | None = Field(None, gt=0, max_digits=18, decimal_places=4,
                                   description="left out: as much as is open and left of the line")


class MatchIn(StrictModel):
    invoices: list[PickIn] = Field(default_factory=list, max_length=500)
    customer_id: RecordId | None = None


class IgnoreIn(StrictModel):
    reason: str = Field(min_length=1, max_length=200)


class BankAccountOut(OutModel):
    id: int
    customer_id: int
    iban: str
    bic: str | None
    holder_name: str | None
    created_at: datetime


def _line(s, line) -> dict:
    return LineOut.model_validate(service.line_views(s, [line])[0]).model_dump(mode="json")


# --- statements ---------------------------------------------------------------------------------------------

_BODY = {
    "required": True,
    "content": {
        "application/xml": {"schema": {"type": "string", "format": "binary"}},
        "text/plain": {"schema": {"type": "string", "format": "binary"}},
        "text/csv": {"schema": {"type": "string", "format": "binary"}},
        "multipart/form-data": {"schema": {
            "type": "object", "properties": {"file": {"type": "string", "format": "binary"}}, "required": ["file"]}},
    },
}


async def _receive(request: Request) -> tuple[bytes, str | None]:
    """The file and its name: the body as it is, or the form field `file` of a multipart upload."""
    media = request.headers.get("content-type", "").partition(";")[0].strip().lower()
    if media == "multipart/form-data":
        form = await request.form(max_part_size=MAX_BYTES)
        try:
            extra = sorted(k for k in form.keys() if k != "file")
            upload = form.get("file")
            if extra:
                raise ValidationFailed.one(extra[0], "extra_forbidden",
                                           f"unknown form field(s): {', '.join(extra)}; send only 'file'")
            if not isinstance(upload, UploadFile):
                raise ValidationFailed.one("file", "missing", "send the statement as the form field 'file'")
            data = await upload.read(MAX_BYTES + 1)
            name = upload.filename
        finally:
            await form.close()
    else:
        chunks, size = [], 0
        async for chunk in request.stream():
            size += len(chunk)
            if size > MAX_BYTES:
                raise TooLarge(f"the file is larger than {MAX_BYTES // (1 << 20)} MiB; ask the bank for daily statements")
            chunks.append(chunk)
        data, name = b"".join(chunks), None
    if len(data) > MAX_BYTES:
        raise TooLarge(f"the file is larger than {MAX_BYTES // (1 << 20)} MiB; ask the bank for daily statements")
    return data, name


def _imported(s, result: service.Imported) -> dict:
    views = service.statement_views(s, result.statements)
    totals = {status: sum(v["counts"][status] for v in views) for status in service.LINE_STATUSES}
    return ImportOut.model_validate({"statements": views, "counts": totals,
                                     "auto_rate": service.auto_rate(totals)}).model_dump(mode="json")


@router.post(
    "/bank-statements", status_code=201, response_model=ImportOut, openapi_extra={"requestBody": _BODY},
    responses={409: {"description": "A statement of the file was imported before (named in `earlier`)"},
               413: {"description": "File too large"},
               422: {"description": "The file cannot be imported: the error names the element or line"}})
async def import_statement(request: Request, ctx: CtxDep, idempotency_key: IdemKey = None,
                           format: Format | None = None, filename: Annotated[str | None, Query(max_length=255)] = None):
    """Import a bank statement file (reconciliation.write): camt.053, MT940 or CSV, told from its content
    unless `format` names it. Its lines are matched to open invoices; the sure ones are booked as
    payments at once, the others wait in GET /reconciliation. All or nothing: a malformed, cut-off or
    unbalanced file is refused (422) naming where, a statement imported before is refused (409) naming
    that import; either way nothing is stored. Answers the counts per status and the auto-match rate."""
    data, name = await _receive(request)
    name = filename or name
    digest = hashlib.sha256(data).hexdigest()
    req_hash = hashlib.sha256(f"POST {ctx.company_id}:/bank-statements?format={format}\n{digest}".encode()).hexdigest()

    def work(s):
        result = service.import_statement(s, ctx.actor, ctx.company_id, data, name, format)
        return 201, _imported(s, result)

    status, body, replayed = await run_in_threadpool(idempotency.run, ctx.actor, idempotency_key, req_hash, work)
    # The auto lines beyond the import's first batch, a batch per transaction (also what a retry finds unbooked)
    await run_in_threadpool(service.book_pending, ctx.actor, ctx.company_id, [st["id"] for st in body["statements"]])
    return JSONResponse(body, status_code=status, headers={"Idempotent-Replayed": "true"} if replayed else None)


@router.get("/bank-statements", response_model=Page[StatementOut])
def list_statements(ctx: ReaderDep, cursor: str | None = None, limit: int = Query(50, ge=1, le=500)):
    """Newest first, with the count of lines per status and the auto-match rate of each."""
    with read_session() as s:
        rows = service.list_statements(s, ctx.actor, ctx.company_id, before_id=cursor_to_id(cursor), limit=limit)
        return {"items": service.statement_views(s, rows),
                "next_cursor": str(rows[-1].id) if len(rows) == limit else None}


@router.get("/bank-statements/{statement_id}", response_model=StatementDetailOut)
def get_statement(statement_id: IdPath, ctx: ReaderDep,
                  status: Literal[service.LINE_STATUSES] | None = None,  # type: ignore[valid-type]
                  cursor: str | None = None, limit: int = Query(500, ge=1, le=1000)):
    """The statement and its lines (in statement order, `limit` at a time), each with its status, the
    matcher's proposal and the payment it became."""
    with read_session() as s:
        st = service.get_statement(s, ctx.actor, ctx.company_id, statement_id)
        rows = service.lines(s, ctx.company_id, statement_id=st.id, statuses=[status] if status else None,
                             after_id=cursor_to_id(cursor), limit=limit)
        return {**service.statement_views(s, [st])[0], "lines": service.line_views(s, rows),
                "next_cursor": str(rows[-1].id) if len(rows) == limit else None}


@router.post("/bank-statements/{statement_id}/book", response_model=StatementOut)
def book_statement(statement_id: IdPath, ctx: CtxDep):
    """Book the statement's auto lines not booked yet: what an import left when it stopped half way (the
    import books them itself). Each line is booked once; nothing left answers the statement as it is."""
    with read_session() as s:
        service.get_statement(s, ctx.actor, ctx.company_id, statement_id)
    service.book_pending(ctx.actor, ctx.company_id, [statement_id])
    with read_session() as s:
        return service.statement_views(s, [service.get_statement(s, ctx.actor, ctx.company_id, statement_id)])[0]


# --- the queue and a person's decisions -----------------------------------------------------------------------

@router.get("/reconciliation", response_model=Page[LineOut])
def reconciliation_queue(
    ctx: ReaderDep,
    status: Literal["suggested", "unmatched"] | None = None,
    statement_id: Annotated[int, Query(ge=1, le=MAX_ID)] | None = None,
    customer_id: Annotated[int, Query(ge=1, le=MAX_ID)] | None = None,
    currency: CurrencyCode | None = None,
    min_amount: Annotated[Decimal, Query(max_digits=18, decimal_places=4)] | None = None,
    max_amount: Annotated[Decimal, Query(max_digits=18, decimal_places=4)] | None = None,
    q: Annotated[str | None, Query(max_length=100, description="in the payer's name or the payment text")] = None,
    cursor: str | None = None,
    limit: int = Query(100, ge=1, le=1000),
):
    """The lines waiting for a person, oldest first: suggested ones with the proposal, its confidence and
    reasons and up to three alternatives, each invoice with what is open on it now; unmatched ones with
    why. `customer_id` is the customer the matcher proposes."""
    with read_session() as s:
        rows = service.queue(s, ctx.actor, ctx.company_id, status=status, statement_id=statement_id,
                             customer_id=customer_id, currency=currency, min_amount=min_amount,
                             max_amount=max_amount, q=q, after_id=cursor_to_id(cursor), limit=limit)
        return {"items": service.line_views(s, rows), "next_cursor": str(rows[-1].id) if len(rows) == limit else None}


@router.get("/reconciliation/lines/{line_id}", response_model=LineOut)
def get_line(line_id: IdPath, ctx: ReaderDep):
    with read_session() as s:
        return _line(s, service.get_line(s, ctx.actor, ctx.company_id, line_id))


@router.post("/reconciliation/lines/{line_id}/confirm", response_model=LineOut)
def confirm_line(line_id: IdPath, ctx: CtxDep, data: ConfirmIn | None = None):
    """Apply a suggested line as proposed, or as one of its alternatives (reconciliation.write): the
    payment is recorded, the rest of the line is the customer's unapplied credit, and the payer's IBAN is
    put on file for the customer. 409 once the line is decided (by anyone)."""
    alternative = data.alternative if data else 0
    return transaction(lambda s: _line(s, service.confirm(s, ctx.actor, ctx.company_id, line_id, alternative)))


@router.post("/reconciliation/lines/{line_id}/match", response_model=LineOut)
def match_line(line_id: IdPath, data: MatchIn, ctx: CtxDep):
    """Apply a line to invoices a person names (in order; `amount` for a part, else as much as is open and
    left), the rest as unapplied credit; or with `customer_id` alone, all of it as that customer's credit.
    422 naming the field for an invoice not open, of another customer or currency, or more than the
    line; 409 once the line is decided."""
    picks = [service.Pick(p.invoice_id, p.amount) for p in data.invoices]
    return transaction(lambda s: _line(s, service.match(s, ctx.actor, ctx.company_id, line_id, picks, data.customer_id)))


@router.post("/reconciliation/lines/{line_id}/ignore", response_model=LineOut)
def ignore_line(line_id: IdPath, data: IgnoreIn, ctx: CtxDep):
    """Take a line out of the queue with the reason (it is not a customer's payment); 409 once decided."""
    return transaction(lambda s: _line(s, service.ignore(s, ctx.actor, ctx.company_id, line_id, data.reason)))


# --- the customers' bank accounts -----------------------------------------------------------------------------

@router.get("/customers/{customer_id}/bank-accounts", response_model=list[BankAccountOut])
def list_bank_accounts(customer_id: IdPath, ctx: ReaderDep):
    with read_session() as s:
        return [BankAccountOut.model_validate(a).model_dump(mode="json")
                for a in bank_accounts.list_accounts(s, ctx.actor, ctx.company_id, customer_id)]


@router.post("/customers/{customer_id}/bank-accounts", status_code=202, response_model=ChangeOut)
def add_bank_account(customer_id: IdPath, data: BankAccountIn, ctx: CtxDep, idempotency_key: IdemKey = None):
    """Ask to put an account the customer pays from on file (reconciliation.write): the IBAN and BIC are
    checked (422 naming `iban` or `bic`); 409 when the customer has the IBAN already. A bank account is a
    sensitive field: 202 with the change, applied when a second user approves it (o2c.customers.changes)."""
    return create(ctx, idempotency_key, f"/customers/{customer_id}/bank-accounts", data, ChangeOut,
                  lambda s: changes.view(s, bank_accounts.add_account(s, ctx.actor, ctx.company_id, customer_id,
                                                                      data.iban, data.bic, data.holder_name)),
                  status_code=202)


@router.delete("/customers/{customer_id}/bank-accounts/{account_id}", status_code=204)
def remove_bank_account(customer_id: IdPath, account_id: IdPath, ctx: CtxDep):
    transaction(lambda s: bank_accounts.remove_account(s, ctx.actor, ctx.company_id, customer_id, account_id))
    return Response(status_code=204)

