"""Routes of billing: invoices (list, one, UBL, PDF) and the manual re-trigger of a shipment's invoice;
credit notes (list, one, UBL, PDF) and a manual correction of an invoice; a customer's statement of
account (JSON, PDF).
Invoices are made by the `shipment.shipped` subscriber (o2c.process); the POST is for a person to make
one now, and is idempotent by nature: a shipment has one invoice. A return's credit notes are made by
the `return.refund_due` subscriber."""
from __future__ import annotations

from datetime import date
from typing import Annotated, Literal

from fastapi import APIRouter, Query
from fastapi.responses import JSONResponse, Response

from o2c.billing import documents, einvoice, service, statement
from o2c.billing.schemas import CreditNoteIn, CreditNoteOut, StatementOut
from o2c.core.db import read_session, transaction
from o2c.core.errors import Conflict
from o2c.core.schemas import MAX_ID, DecimalStr, IdPath, OutModel, Page, PctStr, PriceStr, QtyStr
from o2c.web.deps import CtxDep, IdemKey, ReaderDep, cursor_to_id
from o2c.web.responses import create

router = APIRouter(tags=["billing"])


class InvoiceLineOut(OutModel):
    order_line_id: int
    sku: str
    description: str
    quantity: QtyStr
    uom: str
    unit_price: PriceStr
    net_amount: DecimalStr
    tax_rate_pct: PctStr
    tax_amount: DecimalStr


class InvoiceOut(OutModel):
    id: int
    number: str
    status: str
    customer_id: int
    order_id: int
    order_number: str
    shipment_id: int
    shipment_number: str
    issue_date: date
    due_date: date
    terms: str
    currency: str
    net_total: DecimalStr
    tax_total: DecimalStr
    gross_total: DecimalStr
    open_amount: DecimalStr
    payment_status: Literal["open", "partially_paid", "paid", "credited"]
    journal_entry_id: int | None
    lines: list[InvoiceLineOut]


def _outs(s, invoices) -> list[dict]:
    return [InvoiceOut.model_validate(v).model_dump(mode="json") for v in service.invoice_views(s, invoices)]


def _out(s, inv) -> dict:
    return _outs(s, [inv])[0]


@router.get("/invoices", response_model=Page[InvoiceOut])
def list_invoices(
    ctx: ReaderDep,
    customer_id: Annotated[int, Query(ge=1, le=MAX_ID)] | None = None,
    order_id: Annotated[int, Query(ge=1, le=MAX_ID)] | None = None,
    status: Literal["issued"] | None = None,
    cursor: str | None = None,
    limit: int = Query(50, ge=1, le=500),
):
    """Newest first; a portal user sees their own invoices only."""
    with read_session() as s:
        rows = service.list_invoices(s, ctx.actor, ctx.company_id, customer_id=customer_id, order_id=order_id,
                                     status=status, before_id=cursor_to_id(cursor), limit=limit)
        return {"items": _outs(s, rows), "next_cursor": str(rows[-1].id) if len(rows) == limit else None}


@router.get("/invoices/{invoice_id}.xml", response_class=Response)
def invoice_ubl(invoice_id: IdPath, ctx: ReaderDep):
    """The invoice as UBL 2.1 (PEPPOL BIS Billing 3.0, EN 16931). 409 naming each field EN 16931 or
    PEPPOL needs that is not set yet (the company's VAT id and electronic address, the customer's
    electronic address...) and where to set it (docs/e-invoicing.md)."""
    with read_session() as s:
        xml = einvoice.invoice_xml(s, ctx.actor, ctx.company_id, invoice_id)
    return Response(xml, media_type="application/xml")


@router.get("/invoices/{invoice_id}.pdf", response_class=Response)
def invoice_pdf(invoice_id: IdPath, ctx: ReaderDep):
    """The invoice as a PDF (A4): seller, buyer, lines, totals, terms."""
    with read_session() as s:
        pdf = documents.invoice_pdf(documents.invoice_document(s, service.get_invoice(s, ctx.actor, ctx.company_id, invoice_id)))
    return Response(pdf, media_type="application/pdf")


@router.get("/invoices/{invoice_id}", response_model=InvoiceOut)
def get_invoice(invoice_id: IdPath, ctx: ReaderDep):
    with read_session() as s:
        return _out(s, service.get_invoice(s, ctx.actor, ctx.company_id, invoice_id))


@router.post("/invoices/from-shipment/{shipment_id}", response_model=InvoiceOut, status_code=201,
             responses={200: {"model": InvoiceOut, "description": "the shipment's invoice existed already"}})
def invoice_shipment(shipment_id: IdPath, ctx: CtxDep):
    """Invoice a shipped shipment now (billing.write). Idempotent: a shipment has one invoice, and asking
    again returns it (200). 409 for a shipment not shipped yet, or one with nothing to invoice."""
    def work(s):
        existed = service.find_for_shipment(s, ctx.company_id, shipment_id) is not None
        inv = service.invoice_shipment(s, ctx.actor, ctx.company_id, shipment_id)
        if inv is None:
            raise Conflict(f"shipment {shipment_id} has nothing to invoice: an exchange shipment, "
                           "or nothing shipped on it")
        return (200 if existed else 201), _out(s, inv)

    status, body = transaction(work)
    return JSONResponse(body, status_code=status)


def _note(s, note) -> dict:
    return service.credit_note_view(s, note)


@router.post("/invoices/{invoice_id}/credit-notes", status_code=201, response_model=CreditNoteOut)
def credit_invoice(invoice_id: IdPath, data: CreditNoteIn, ctx: CtxDep, idempotency_key: IdemKey = None):
    """Correct an issued invoice with a credit note (billing.write): per invoice line a quantity taken
    back or a net amount off. Above what a line or the invoice has left to credit: 422 naming the field,
    nothing stored. A repeat with the same Idempotency-Key returns the first note."""
    return create(ctx, idempotency_key, f"/invoices/{invoice_id}/credit-notes", data, CreditNoteOut,
                  lambda s: _note(s, service.credit_invoice(s, ctx.actor, ctx.company_id, invoice_id, data)))


@router.get("/credit-notes", response_model=Page[CreditNoteOut])
def list_credit_notes(
    ctx: ReaderDep,
    customer_id: Annotated[int, Query(ge=1, le=MAX_ID)] | None = None,
    invoice_id: Annotated[int, Query(ge=1, le=MAX_ID)] | None = None,
    order_id: Annotated[int, Query(ge=1, le=MAX_ID)] | None = None,
    cursor: str | None = None,
    limit: int = Query(50, ge=1, le=500),
):
    """Newest first; a portal user sees their own credit notes only."""
    with read_session() as s:
        rows = service.list_credit_notes(s, ctx.actor, ctx.company_id, customer_id=customer_id, invoice_id=invoice_id,
                                         order_id=order_id, before_id=cursor_to_id(cursor), limit=limit)
        return {"items": [_note(s, n) for n in rows], "next_cursor": str(rows[-1].id) if len(rows) == limit else None}


@router.get("/credit-notes/{note_id}.pdf", response_class=Response)
def credit_note_pdf(note_id: IdPath, ctx: ReaderDep):
    """The credit note as a PDF (A4), naming the invoice it corrects."""
    with read_session() as s:
        pdf = documents.invoice_pdf(documents.credit_note_document(
            s, service.get_credit_note(s, ctx.actor, ctx.company_id, note_id)))
    return Response(pdf, media_type="application/pdf")


@router.get("/credit-notes/{note_id}.xml", response_class=Response)
def credit_note_ubl(note_id: IdPath, ctx: ReaderDep):
    """The credit note as UBL 2.1 (PEPPOL BIS Billing 3.0), naming the invoice it corrects; 409 as for
    an invoice."""
    with read_session() as s:
        xml = einvoice.credit_note_xml(s, ctx.actor, ctx.company_id, note_id)
    return Response(xml, media_type="application/xml")


@router.get("/credit-notes/{note_id}", response_model=CreditNoteOut)
def get_credit_note(note_id: IdPath, ctx: ReaderDep):
    with read_session() as s:
        return _note(s, service.get_credit_note(s, ctx.actor, ctx.company_id, note_id))


def _statement(s, ctx, customer_id: int, as_of: date | None, date_from: date | None, currency: str | None):
    return statement.statement(s, ctx.actor, ctx.company_id, customer_id, as_of=as_of, date_from=date_from,
                               currency=currency)


StatementFrom = Annotated[date | None, Query(alias="from", description="first day of the period; default: "
                                                                      "the first of the as_of month")]
StatementCurrency = Annotated[str | None, Query(pattern=r"^[A-Z]{3}$", description="default: the account's")]


@router.get("/customers/{customer_id}/statement", response_model=StatementOut)
def customer_statement(customer_id: IdPath, ctx: ReaderDep, as_of: date | None = None,
                       date_from: StatementFrom = None, currency: StatementCurrency = None):
    """The customer's statement of account as of a date (default today): the movements of the period
    from its opening to its closing balance, the open items with due dates and days overdue, unapplied
    credit, the balance and its ageing, all read from the ledger. A portal user sees their own only."""
    with read_session() as s:
        st = _statement(s, ctx, customer_id, as_of, date_from, currency)
        return StatementOut.model_validate(statement.statement_view(st)).model_dump(mode="json", by_alias=True)


@router.get("/customers/{customer_id}/statement.pdf", response_class=Response)
def customer_statement_pdf(customer_id: IdPath, ctx: ReaderDep, as_of: date | None = None,
                           date_from: StatementFrom = None, currency: StatementCurrency = None):
    """The statement of account as a PDF (A4), the same figures as the JSON."""
    with read_session() as s:
        pdf = documents.statement_pdf(_statement(s, ctx, customer_id, as_of, date_from, currency))
    return Response(pdf, media_type="application/pdf")
