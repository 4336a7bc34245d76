"""Invoices and credit notes as PDF (A4), for people: seller, buyer, numbers, dates, terms, the lines,
the totals; a credit note names the invoice it corrects. Long documents run over several pages and the
heading and table header repeat. Same document, same bytes (`invariant=1`, as o2c.shipping.labels).

`invoice_document` and `credit_note_document` read what a page shows; `invoice_pdf` draws it.
"""
from __future__ import annotations

import io
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from xml.sax.saxutils import escape as xml_escape

from reportlab.lib import colors
from reportlab.lib.pagesizes import A4
from reportlab.lib.styles import ParagraphStyle
from reportlab.lib.units import mm
from reportlab.pdfgen import canvas
from reportlab.platypus import Paragraph, SimpleDocTemplate, Spacer, Table, TableStyle
from sqlalchemy import select
from sqlalchemy.orm import Session

from o2c.billing.models import CreditNote, Invoice
from o2c.core.models import Company
from o2c.core.money import plain, round_money
from o2c.customers.models import Customer, CustomerAddress


@dataclass(frozen=True)
class PrintedLine:
    sku: str
    description: str
    quantity: Decimal
    unit_price: Decimal
    net: Decimal
    tax_rate_pct: Decimal
    tax: Decimal


@dataclass(frozen=True)
class PrintedDocument:
    """What an invoice or credit note page shows. `corrects` is the invoice number a credit note corrects."""

    title: str  # "INVOICE" or "CREDIT NOTE"
    number: str
    issue_date: date
    currency: str
    seller: tuple[str, ...]
    buyer: tuple[str, ...]
    lines: tuple[PrintedLine, ...]
    net: Decimal
    tax: Decimal
    gross: Decimal
    due_date: date | None = None
    terms: str | None = None
    order_number: str | None = None
    corrects: str | None = None
    reason: str | None = None


def _seller(session: Session, company_id: int) -> tuple[str, ...]:
    # o2c records no postal address or VAT id for a company yet: its name and country.
    company = session.get(Company, company_id)
    return (company.name, company.country)


def _buyer(session: Session, customer_id: int) -> tuple[str, ...]:
    """The customer's name and billing address (the default one first)."""
    customer = session.get(Customer, customer_id)
    a = session.scalar(select(CustomerAddress).where(CustomerAddress.customer_id == customer_id,
                                                     CustomerAddress.kind == "billing")
                       .order_by(CustomerAddress.is_default.desc(), CustomerAddress.id))
    lines = [customer.legal_name]
    if a is not None:
        city = " ".join(p for p in (a.city, a.region, a.postal_code) if p)
        lines += [p for p in (a.name if a.name != customer.legal_name else None, a.line1, a.line2, city, a.country) if p]
    if customer.tax_id:
        lines.append(f"Tax id: {customer.tax_id}")
    return tuple(lines)


def invoice_document(session: Session, inv: Invoice) -> PrintedDocument:
    return PrintedDocument(
        "INVOICE", inv.number, inv.issue_date, inv.currency, _seller(session, inv.company_id),
        _buyer(session, inv.customer_id),
        tuple(PrintedLine(li.sku, li.description, li.quantity, li.unit_price, li.net_amount, li.tax_rate_pct,
                          li.tax_amount) for li in inv.lines),
        inv.net_total, inv.tax_total, inv.gross_total, due_date=inv.due_date, terms=inv.terms,
        order_number=f"SO{inv.order_id:08d}")


def credit_note_document(session: Session, note: CreditNote) -> PrintedDocument:
    inv = session.get(Invoice, note.invoice_id)
    by_id = {li.id: li for li in inv.lines}
    lines = []
    for cl in note.lines:
        li = by_id[cl.invoice_line_id]
        lines.append(PrintedLine(cl.sku, li.description, cl.quantity, li.unit_price, cl.net_amount,
                                 li.tax_rate_pct, cl.tax_amount))
    return PrintedDocument(
        "CREDIT NOTE", note.number, note.issue_date, note.currency, _seller(session, note.company_id),
        _buyer(session, note.customer_id), tuple(lines), note.net_total, note.tax_total, note.gross_total,
        order_number=f"SO{note.order_id:08d}", corrects=inv.number, reason=note.reason)


_BODY = ParagraphStyle("body", fontName="Helvetica", fontSize=9, leading=11)
_GRID = [
    ("FONT", (0, 0), (-1, 0), "Helvetica-Bold", 9),
    ("FONT", (0, 1), (-1, -1), "Helvetica", 9),
    ("LINEBELOW", (0, 0), (-1, 0), 0.8, colors.black),
    ("LINEBELOW", (0, 1), (-1, -1), 0.25, colors.grey),
    ("VALIGN", (0, 0), (-1, -1), "TOP"),
    ("ALIGN", (2, 0), (-1, -1), "RIGHT"),
]


def _block(title: str, lines: tuple[str, ...]) -> Paragraph:
    return Paragraph("<br/>".join([f"<b>{xml_escape(title)}</b>"] + [xml_escape(x) for x in lines]), _BODY)


def invoice_pdf(doc: PrintedDocument, *, compress: bool = True) -> bytes:
    """The document on A4. compress=False keeps the page content readable (tests search its text)."""
    money = lambda d: format(round_money(d, doc.currency), "f")  # noqa: E731
    buf = io.BytesIO()
    width = A4[0] - 30 * mm
    title = f"{doc.title.title()} {doc.number}" + (f" correcting invoice {doc.corrects}" if doc.corrects else "")
    pdf = SimpleDocTemplate(buf, pagesize=A4, invariant=1, pageCompression=int(compress), leftMargin=15 * mm,
                            rightMargin=15 * mm, topMargin=42 * mm, bottomMargin=15 * mm, title=title, creator="o2c")
    facts = [f"Number: {doc.number}", f"Date: {doc.issue_date.isoformat()}"]
    if doc.due_date:
        facts.append(f"Due: {doc.due_date.isoformat()} ({doc.terms})")
    if doc.corrects:
        facts.append(f"Corrects invoice: {doc.corrects}")
    if doc.order_number:
        facts.append(f"Order: {doc.order_number}")

    def heading(c: canvas.Canvas, d) -> None:
        top = A4[1] - 15 * mm
        c.saveState()
        c.setFont("Helvetica-Bold", 14)
        c.drawString(15 * mm, top - 4 * mm, doc.seller[0])
        c.setFont("Helvetica-Bold", 12)
        c.drawString(15 * mm, top - 11 * mm, doc.title)
        c.setFont("Helvetica", 9)
        for i, fact in enumerate(facts + [f"Page {d.page}"]):
            c.drawRightString(A4[0] - 15 * mm, top - 4 * mm - i * 4.2 * mm, fact)
        c.restoreState()

    parties = Table([[_block("Seller", doc.seller), _block("Bill to", doc.buyer)]], colWidths=[width / 2] * 2)
    rows = [["SKU", "Description", "Qty", "Unit price", "Net", "Tax %", "Tax"]] + [
        [ln.sku, Paragraph(xml_escape(ln.description), _BODY), plain(ln.quantity), plain(ln.unit_price),
         money(ln.net), plain(ln.tax_rate_pct), money(ln.tax)] for ln in doc.lines]
    lines = Table(rows, repeatRows=1, style=TableStyle(_GRID), colWidths=[
        0.14 * width, 0.34 * width, 0.08 * width, 0.12 * width, 0.12 * width, 0.08 * width, 0.12 * width])
    totals = Table([["Net", money(doc.net)], ["Tax", money(doc.tax)], [f"Total {doc.currency}", money(doc.gross)]],
                   colWidths=[0.2 * width, 0.15 * width], hAlign="RIGHT",
                   style=TableStyle([("ALIGN", (1, 0), (1, -1), "RIGHT"), ("FONT", (0, 0), (-1, -1), "Helvetica", 9),
                                     ("FONT", (0, -1), (-1, -1), "Helvetica-Bold", 10),
                                     ("LINEABOVE", (0, -1), (-1, -1), 0.8, colors.black)]))
    story = [parties, Spacer(0, 6 * mm), lines, Spacer(0, 4 * mm), totals]
    if doc.reason:
        story += [Spacer(0, 6 * mm), Paragraph(f"<b>Reason:</b> {xml_escape(doc.reason)}", _BODY)]
    if doc.terms:
        story += [Spacer(0, 6 * mm), Paragraph(f"Payment terms: {xml_escape(doc.terms)}, due "
                                               f"{doc.due_date.isoformat()}. Please quote {doc.number}.", _BODY)]
    pdf.build(story, onFirstPage=heading, onLaterPages=heading)
    return buf.getvalue()
