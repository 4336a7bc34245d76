"""Invoices and credit notes as PDF (A4), for people: seller, buyer, numbers, dates, terms, the lines,
the totals; a credit note names the invoice it corrects. Long documents run over several pages and the
heading and table header repeat. Same document, same bytes (`invariant=1`, as o2c.shipping.labels).

`invoice_document` and `credit_note_document` read what a page shows; `invoice_pdf` draws it.
`statement_pdf` draws a customer's statement of account (o2c.billing.statement).
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
from o2c.billing.statement import KIND_NAMES, Statement
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
    """The company's legal name (else its name), postal address and VAT id, as far as they are set."""
    company = session.get(Company, company_id)
    town = " ".join(p for p in (company.postal_code, company.city) if p)
    return tuple(p for p in (company.legal_name or company.name, company.street, town, company.country,
                             f"VAT id: {company.vat_id}" if company.vat_id else None) if p)


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


def _money_table(rows: list[list], widths: list[float], *, bold_last: bool = False) -> Table:
    style = list(_GRID)
    if bold_last:
        style += [("FONT", (0, -1), (-1, -1), "Helvetica-Bold", 9), ("LINEABOVE", (0, -1), (-1, -1), 0.8, colors.black)]
    return Table(rows, repeatRows=1, style=TableStyle(style), colWidths=widths)


def statement_pdf(st: Statement, *, compress: bool = True) -> bytes:
    """A statement of account on A4: the movements of the period from the opening to the closing balance,
    the open items with due dates and days overdue, unapplied credit, the ageing and the balance. Long
    statements run over pages with the heading repeated."""
    f = st.figures
    money = lambda d: format(round_money(d, st.currency), "f")  # noqa: E731
    blank = lambda d: money(d) if d else ""  # noqa: E731
    buf = io.BytesIO()
    width = A4[0] - 30 * mm
    pdf = SimpleDocTemplate(buf, pagesize=A4, invariant=1, pageCompression=int(compress), leftMargin=15 * mm,
                            rightMargin=15 * mm, topMargin=38 * mm, bottomMargin=15 * mm,
                            title=f"Statement of account {st.customer_code} {st.as_of.isoformat()}", creator="o2c")
    facts = [f"Customer: {st.customer_code}", f"As of: {st.as_of.isoformat()}",
             f"Period: {st.date_from.isoformat()} to {st.as_of.isoformat()}", f"Currency: {st.currency}"]

    def heading(c: canvas.Canvas, d) -> None:
        top = A4[1] - 15 * mm
        c.saveState()
        c.setFont("Helvetica-Bold", 14)
        c.drawString(15 * mm, top - 4 * mm, st.seller[0])
        c.setFont("Helvetica-Bold", 12)
        c.drawString(15 * mm, top - 11 * mm, "STATEMENT OF ACCOUNT")
        c.setFont("Helvetica", 9)
        for i, fact in enumerate(facts + [f"Page {d.page}"]):
            c.drawRightString(A4[0] - 15 * mm, top - 4 * mm - i * 4.2 * mm, fact)
        c.restoreState()

    def h(text: str) -> Paragraph:
        return Paragraph(f"<b>{xml_escape(text)}</b>", _BODY)

    parties = Table([[_block("From", st.seller), _block("Account of", st.customer)]], colWidths=[width / 2] * 2)
    moves = [["Date", "Document", "Description", "Charges", "Credits", "Balance"],
             [st.date_from.isoformat(), "", "Opening balance", "", "", money(f.opening_balance)]]
    moves += [[m.date.isoformat(), m.document, Paragraph(xml_escape(f"{KIND_NAMES.get(m.kind, m.kind)}: {m.memo}"), _BODY),
               blank(m.charge), blank(m.credit), money(m.balance)] for m in f.movements]
    moves.append([st.as_of.isoformat(), "", "Closing balance", "", "", money(f.closing_balance)])
    items = [["Document", "Kind", "Date", "Due", "Days overdue", "Amount", "Open"]]
    items += [[o.item, KIND_NAMES.get(o.kind, o.kind), o.posted.isoformat(), o.due_date.isoformat(),
               str(o.days_overdue) if o.days_overdue else "", money(o.charged), money(o.open)] for o in f.open_items]
    items.append(["Total open", "", "", "", "", "", money(f.open_total)])
    story = [parties, Spacer(0, 6 * mm), h("Account activity"), Spacer(0, 2 * mm),
             _money_table(moves, [0.13 * width, 0.17 * width, 0.34 * width, 0.12 * width, 0.12 * width, 0.12 * width],
                          bold_last=True),
             Spacer(0, 6 * mm), h(f"Open items as of {st.as_of.isoformat()}"), Spacer(0, 2 * mm),
             _money_table(items, [0.19 * width, 0.14 * width, 0.13 * width, 0.13 * width, 0.11 * width, 0.15 * width,
                                  0.15 * width], bold_last=True)]
    if f.credits:
        credits = [["Credit", "Kind", "Date", "Amount"]]
        credits += [[c.item, KIND_NAMES.get(c.kind, c.kind), c.posted.isoformat(), money(c.amount)] for c in f.credits]
        credits.append(["Unapplied credit", "", "", money(f.credit_total)])
        story += [Spacer(0, 6 * mm), h("Credit on your account, not yet applied"), Spacer(0, 2 * mm),
                  _money_table(credits, [0.3 * width, 0.25 * width, 0.2 * width, 0.25 * width], bold_last=True)]
    buckets = list(f.ageing)
    ageing = [["Current"] + [f"{b} days" for b in buckets[1:]] + ["Total"],
              [money(f.ageing[b]) for b in buckets] + [money(f.open_total)]]
    story += [Spacer(0, 6 * mm), h("Ageing of open items (days past due)"), Spacer(0, 2 * mm),
              _money_table(ageing, [width / (len(buckets) + 1)] * (len(buckets) + 1)),
              Spacer(0, 6 * mm),
              Table([["Open items", money(f.open_total)], ["Less unapplied credit", money(f.credit_total)],
                     [f"Balance due {st.currency}", money(f.closing_balance)], ["Of which overdue", money(f.overdue_total)]],
                    colWidths=[0.3 * width, 0.15 * width], hAlign="RIGHT",
                    style=TableStyle([("ALIGN", (1, 0), (1, -1), "RIGHT"), ("FONT", (0, 0), (-1, -1), "Helvetica", 9),
                                      ("FONT", (0, 2), (-1, 2), "Helvetica-Bold", 10),
                                      ("LINEABOVE", (0, 2), (-1, 2), 0.8, colors.black)]))]
    pdf.build(story, onFirstPage=heading, onLaterPages=heading)
    return buf.getvalue()
