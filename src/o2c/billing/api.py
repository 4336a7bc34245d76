"""Routes of billing: invoices (list, one, UBL) and the manual re-trigger of a shipment's invoice.
Invoices are made by the `shipment.shipped` subscriber (o2c.process); the POST is for a person to make
one now, and is idempotent by nature: a shipment has one invoice."""
from __future__ import annotations

from datetime import date
from typing import Annotated, Literal

from fastapi import APIRouter, Query
from fastapi.responses import JSONResponse, Response

from o2c.billing import service
from o2c.core.db import read_session, transaction
from o2c.core.errors import Conflict
from o2c.core.schemas import MAX_ID, DecimalStr, IdPath, OutModel, Page, PctStr, PriceStr, QtyStr
from o2c.web.deps import CtxDep, ReaderDep, cursor_to_id

router = APIRouter(prefix="/invoices", tags=["billing"])


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
    journal_entry_id: int | None
    lines: list[InvoiceLineOut]


def _out(inv) -> dict:
    return InvoiceOut.model_validate(service.invoice_view(inv)).model_dump(mode="json")


@router.get("", response_model=Page[InvoiceOut])
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
        return {"items": [_out(i) for i in rows], "next_cursor": str(rows[-1].id) if len(rows) == limit else None}


@router.get("/{invoice_id}.xml", response_class=Response)
def invoice_ubl(invoice_id: IdPath, ctx: ReaderDep):
    """The invoice as UBL 2.1 (PEPPOL BIS Billing 3.0). 409 naming what is missing while the company's
    and the customer's electronic addresses are not recorded (docs/billing.md)."""
    with read_session() as s:
        xml = service.ubl(s, ctx.actor, ctx.company_id, invoice_id)
    return Response(xml, media_type="application/xml")


@router.get("/{invoice_id}", response_model=InvoiceOut)
def get_invoice(invoice_id: IdPath, ctx: ReaderDep):
    with read_session() as s:
        return _out(service.get_invoice(s, ctx.actor, ctx.company_id, invoice_id))


@router.post("/from-shipment/{shipment_id}", response_model=InvoiceOut, status_code=201,
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
        return (200 if existed else 201), _out(inv)

    status, body = transaction(work)
    return JSONResponse(body, status_code=status)
