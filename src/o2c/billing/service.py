"""Billing use cases: invoicing a shipment (its lines, its number, its due date, its ledger entry, in one
transaction), and reading invoices.

An invoice is made from what a shipment shipped, never from the order (o2c.billing.rules). It is made
once per shipment: the `shipment.shipped` subscriber and the manual re-trigger both come here, and a
second call returns the first invoice. Rows are locked in the order shipping locks them (the shipment,
then its order), then the number series, then the journal counter.
"""
from __future__ import annotations

from collections import defaultdict
from datetime import date
from decimal import Decimal

from sqlalchemy import case, func, select
from sqlalchemy.orm import Session, selectinload

from o2c.billing import rules
from o2c.billing.models import CreditNote, CreditNoteLine, DocumentSeries, Invoice, InvoiceLine
from o2c.billing.terms import Terms, due_date
from o2c.core import audit, clock, sod
from o2c.core.auth import Actor, require
from o2c.core.errors import Conflict, ErrorList
from o2c.core.events import emit
from o2c.core.listing import newest_first, own_one
from o2c.core.models import Company
from o2c.core.money import ZERO, round_money
from o2c.customers import service as customers
from o2c.fulfillment import service as fulfillment
from o2c.ledger import rules as ledger_rules
from o2c.ledger import service as ledger
from o2c.orders import service as orders
from o2c.payments.models import Payment, Settlement

INVOICE_SERIES = "INV"


def take_number(session: Session, company_id: int, series: str, year: int) -> int:
    """The next number of the series in the year. The counter row is created on first use (once, also
    under concurrency) and stays locked until the transaction ends: gap-free and never twice."""
    return ledger.take_counter(session, DocumentSeries, {"company_id": company_id, "series": series, "year": year})


def _for_shipment(session: Session, shipment_id: int) -> Invoice | None:
    return session.scalar(select(Invoice).where(Invoice.shipment_id == shipment_id)
                          .options(selectinload(Invoice.lines)))


def find_for_shipment(session: Session, company_id: int, shipment_id: int) -> Invoice | None:
    inv = _for_shipment(session, shipment_id)
    return inv if inv is not None and inv.company_id == company_id else None


def _already_invoiced(session: Session, order_line_ids: list[int]) -> dict[int, object]:
    return dict(session.execute(select(InvoiceLine.order_line_id, func.sum(InvoiceLine.quantity))
                                .where(InvoiceLine.order_line_id.in_(order_line_ids))
                                .group_by(InvoiceLine.order_line_id)).all())


def invoice_shipment(session: Session, actor: Actor, company_id: int, shipment_id: int) -> Invoice | None:
    """The invoice of a shipped shipment, made now or found (one per shipment). None for a shipment with
    nothing to invoice: an exchange (its goods were invoiced with the order) or nothing shipped. A
    shipment that has not shipped yet is a conflict."""
    require(actor, "billing.write")
    sh = fulfillment.get_shipment(session, actor, company_id, shipment_id, lock=True, packages=False)
    found = _for_shipment(session, sh.id)
    if found is not None:
        return found
    if sh.shipped_at is None:
        raise Conflict(f"shipment {sh.number} is {sh.status}: it is invoiced when it ships", current_status=sh.status)
    shipped = [sl for sl in sh.lines if sl.shipped_qty > 0]
    if sh.kind != "order" or not shipped:
        return None
    order = orders.get_order(session, actor, company_id, sh.order_id, lock=True, holds=False)
    company = session.get(Company, company_id)
    _, account = customers.load(session, company_id, order.customer_id)
    by_id = {li.id: li for li in order.lines}
    already = _already_invoiced(session, [sl.order_line_id for sl in shipped])
    amounts = rules.invoice_lines(
        {li.id: rules.OrderedLine(li.id, li.quantity, li.net_amount, li.tax_amount) for li in order.lines},
        [rules.Shipped(sl.order_line_id, sl.shipped_qty, already.get(sl.order_line_id, ZERO)) for sl in shipped],
        order.currency)
    total = rules.totals(amounts)
    chart = ledger.chart(session, company_id)

    issued = clock.today_in(company.timezone)
    terms = Terms(account.payment_terms_days, account.early_discount_pct, account.early_discount_days)
    seq = take_number(session, company_id, INVOICE_SERIES, issued.year)
    inv = Invoice(company_id=company_id, number=rules.invoice_number(INVOICE_SERIES, issued.year, seq),
                  series=INVOICE_SERIES, year=issued.year, seq=seq, customer_id=order.customer_id, order_id=order.id,
                  shipment_id=sh.id, issue_date=issued, due_date=due_date(issued, terms), terms=str(terms),
                  currency=order.currency, net_total=total.net, tax_total=total.tax, gross_total=total.gross,
                  status="issued", created_at=clock.now())
    for sl, amt in zip(shipped, amounts):
        li = by_id[sl.order_line_id]
        inv.lines.append(InvoiceLine(order_line_id=li.id, shipment_line_id=sl.id, sku=li.sku,
                                     description=li.description, quantity=amt.quantity, uom=li.uom,
                                     unit_price=li.unit_price, net_amount=amt.net, tax_rate_pct=li.tax_rate_pct,
                                     tax_amount=amt.tax))
    if total.gross > 0:  # an invoice of free goods only has nothing to post
        entry = ledger_rules.invoice_issued(chart, ledger_rules.Document(
            inv.number, str(order.customer_id), issued, order.currency,
            tuple(ledger_rules.DocLine(a.net, a.tax) for a in amounts)))
        inv.journal_entry_id = ledger.post(session, actor, company_id, entry).id
    session.add(inv)
    session.flush()
    gross = str(round_money(inv.gross_total, inv.currency))
    audit.record(session, actor, "order", order.id, "invoiced", company_id=company_id, data={
        "invoice": inv.number, "shipment": sh.number, "gross": gross, "currency": inv.currency,
        "due_date": inv.due_date.isoformat()})
    emit(session, "invoice.issued", {
        "invoice_id": inv.id, "number": inv.number, "order_id": order.id, "shipment_id": sh.id,
        "customer_id": order.customer_id, "currency": inv.currency, "gross": gross,
        "due_date": inv.due_date.isoformat()}, company_id=company_id, entity_id=inv.id)
    return inv


def get_invoice(session: Session, actor: Actor, company_id: int, invoice_id: int) -> Invoice:
    """A portal user sees the invoices of their own customer only; anyone else's is not found."""
    return own_one(session, Invoice, actor, company_id, invoice_id, "invoice", selectinload(Invoice.lines))


def list_invoices(session: Session, actor: Actor, company_id: int, *, customer_id: int | None = None,
                  order_id: int | None = None, status: str | None = None, before_id: int | None = None,
                  limit: int = 50) -> list[Invoice]:
    """Newest first; `before_id` is the cursor. A portal user sees their own invoices only."""
    stmt = newest_first(Invoice, actor, company_id, before_id=before_id, limit=limit, customer_id=customer_id,
                        order_id=order_id, status=status or None)
    return list(session.scalars(stmt.options(selectinload(Invoice.lines))))


INVOICE_STATES = ("open", "overdue", "paid")


def find_invoices(session: Session, actor: Actor, company_id: int, *, customer_id: int | None = None,
                  state: str | None = None, today: date | None = None, issued_from: date | None = None,
                  issued_to: date | None = None, before_id: int | None = None, limit: int = 50) -> list[Invoice]:
    """list_invoices narrowed by what is open on them now and by issue date: `state` 'open' (something
    open), 'overdue' (something open and due before `today`, default the company's today) or 'paid' (nothing
    open: paid, or credited). Newest first; `before_id` is the cursor. A portal user sees their own only."""
    if state is not None and state not in INVOICE_STATES:
        raise ValueError(f"state {state!r} is not one of {INVOICE_STATES}")
    stmt = newest_first(Invoice, actor, company_id, before_id=before_id, limit=limit, customer_id=customer_id)
    open_ = _open_expr()
    if state in ("open", "overdue"):
        stmt = stmt.where(open_ > 0)
    if state == "overdue":
        stmt = stmt.where(Invoice.due_date < (today or clock.today_in(session.get(Company, company_id).timezone)))
    if state == "paid":
        stmt = stmt.where(open_ <= 0)
    if issued_from is not None:
        stmt = stmt.where(Invoice.issue_date >= issued_from)
    if issued_to is not None:
        stmt = stmt.where(Invoice.issue_date <= issued_to)
    return list(session.scalars(stmt.options(selectinload(Invoice.lines))))


def invoice_views(session: Session, invoices: list[Invoice]) -> list[dict]:
    """Invoices as the API shows them, with what is open on each and its payment status (two queries)."""
    ids = [inv.id for inv in invoices]
    opens, credited = open_amounts(session, ids), credited_totals(session, ids)
    return [invoice_view(inv, opens[inv.id], credited.get(inv.id, (ZERO, ZERO, ZERO))[2]) for inv in invoices]


def invoice_view(inv: Invoice, open_amount: Decimal, credited: Decimal = ZERO) -> dict:
    """An invoice as the API shows it: amounts in the currency's minor units (20.00, not 20.0000). The
    invoice is never edited: its open amount and payment status are derived from its credit notes and
    settlements (open_amounts)."""
    money = lambda amount: round_money(amount, inv.currency)  # noqa: E731 (exact: stored in minor units)
    return {
        "open_amount": money(open_amount), "payment_status": rules.payment_status(inv.gross_total, open_amount, credited),
        "id": inv.id, "number": inv.number, "status": inv.status, "customer_id": inv.customer_id,
        "order_id": inv.order_id, "order_number": f"SO{inv.order_id:08d}", "shipment_id": inv.shipment_id,
        "shipment_number": f"SH{inv.shipment_id:08d}", "issue_date": inv.issue_date, "due_date": inv.due_date,
        "terms": inv.terms, "currency": inv.currency, "net_total": money(inv.net_total), "tax_total": money(inv.tax_total),
        "gross_total": money(inv.gross_total), "journal_entry_id": inv.journal_entry_id,
        "lines": [{"order_line_id": li.order_line_id, "sku": li.sku, "description": li.description,
                   "quantity": li.quantity, "uom": li.uom, "unit_price": li.unit_price, "net_amount": money(li.net_amount),
                   "tax_rate_pct": li.tax_rate_pct, "tax_amount": money(li.tax_amount)} for li in inv.lines],
    }


# --------------------------------------------------------------------------------------------------
# Credit notes


def credited(session: Session, invoice_ids: list[int]) -> dict[int, tuple[Decimal, Decimal, Decimal]]:
    """Per invoice line: the quantity, net and tax earlier credit notes took back of it."""
    rows = session.execute(
        select(CreditNoteLine.invoice_line_id, func.sum(CreditNoteLine.quantity), func.sum(CreditNoteLine.net_amount),
               func.sum(CreditNoteLine.tax_amount))
        .join(CreditNote, CreditNote.id == CreditNoteLine.credit_note_id)
        .where(CreditNote.invoice_id.in_(invoice_ids)).group_by(CreditNoteLine.invoice_line_id)).all()
    return {line_id: (Decimal(q), Decimal(n), Decimal(t)) for line_id, q, n, t in rows}


def credited_totals(session: Session, invoice_ids: list[int]) -> dict[int, tuple[Decimal, Decimal, Decimal]]:
    """Per invoice with credit notes: the net, tax and gross they took back (one query)."""
    if not invoice_ids:
        return {}
    rows = session.execute(
        select(CreditNote.invoice_id, func.sum(CreditNote.net_total), func.sum(CreditNote.tax_total),
               func.sum(CreditNote.gross_total))
        .where(CreditNote.invoice_id.in_(set(invoice_ids))).group_by(CreditNote.invoice_id)).all()
    return {iid: (Decimal(n), Decimal(t), Decimal(g)) for iid, n, t, g in rows}


def credited_gross(session: Session, invoice_id: int) -> Decimal:
    return Decimal(session.scalar(select(func.coalesce(func.sum(CreditNote.gross_total), 0))
                                  .where(CreditNote.invoice_id == invoice_id)))


def _open_expr(notes=None, settled=None):
    """What is open on an invoice, as SQL: its gross less its credit notes less its settlements (payments,
    credit applied, discounts, write-offs), never below zero. A credit note on an invoice already paid
    takes only what was open off it; the ledger sends the rest to unapplied credits
    (o2c.ledger.rules.credit_note_issued), so zero here is what the invoice's open item holds.
    By default the sums are subqueries per invoice (cheap for a few invoices); `notes` and `settled`
    may instead be columns of aggregates joined in (cheap for many)."""
    if notes is None:
        notes = (select(func.sum(CreditNote.gross_total)).where(CreditNote.invoice_id == Invoice.id)
                 .correlate(Invoice).scalar_subquery())
    if settled is None:
        settled = (select(func.sum(Settlement.amount)).where(Settlement.invoice_id == Invoice.id)
                   .correlate(Invoice).scalar_subquery())
    rest = Invoice.gross_total - func.coalesce(notes, 0) - func.coalesce(settled, 0)
    return case((rest > 0, rest), else_=0)


def _exact(amount, currency: str) -> Decimal:
    """A sum read back from SQL, as a Decimal in the currency's minor units (exact: every part is)."""
    return round_money(Decimal(amount), currency)


def open_amounts(session: Session, invoice_ids: list[int]) -> dict[int, Decimal]:
    """The open amount of each invoice named (one query; ids of no invoice are left out)."""
    if not invoice_ids:
        return {}
    rows = session.execute(select(Invoice.id, Invoice.currency, _open_expr().label("open"))
                           .where(Invoice.id.in_(set(invoice_ids))))
    return {iid: _exact(amount, currency) for iid, currency, amount in rows}


def open_invoices(session: Session, company_id: int, customer_id: int | None = None,
                  limit: int | None = None) -> list[tuple[Invoice, Decimal]]:
    """The invoices with something open, oldest due first, each with its open amount (one query: the
    company's credit notes and settlements summed per invoice once, and joined)."""
    def per_invoice(col, amount):
        stmt = select(col.label("invoice_id"), func.sum(amount).label("amount")).where(
            col.table.c.company_id == company_id)
        if customer_id is not None:
            stmt = stmt.where(col.table.c.customer_id == customer_id)
        return stmt.group_by(col).subquery()

    notes = per_invoice(CreditNote.invoice_id, CreditNote.gross_total)
    settled = per_invoice(Settlement.invoice_id, Settlement.amount)
    open_ = _open_expr(notes.c.amount, settled.c.amount).label("open")
    stmt = (select(Invoice, open_)
            .outerjoin(notes, notes.c.invoice_id == Invoice.id).outerjoin(settled, settled.c.invoice_id == Invoice.id)
            .where(Invoice.company_id == company_id, open_ > 0).order_by(Invoice.due_date, Invoice.id))
    if customer_id is not None:
        stmt = stmt.where(Invoice.customer_id == customer_id)
    if limit is not None:
        stmt = stmt.limit(limit)
    return [(inv, _exact(amount, inv.currency)) for inv, amount in session.execute(stmt)]


def invoice_open(session: Session, inv: Invoice) -> Decimal:
    """What the customer still owes on the invoice: its gross less its credit notes and settlements."""
    return open_amounts(session, [inv.id])[inv.id]


def lock_open(session: Session, company_id: int, invoice_ids: list[int]
              ) -> list[tuple[Invoice, Decimal, tuple[Decimal, Decimal, Decimal]]]:
    """The company's invoices named, locked as lock_invoices does, each with its open amount and the net,
    tax and gross its credit notes took back: what a payment needs to settle them. Two queries: the
    figures are read after the lock is held, by a statement of their own, because on PostgreSQL a locking
    SELECT that waited re-reads the locked row only; its subqueries would still see the settlements as
    they were before the wait."""
    invoices = lock_invoices(session, company_id, invoice_ids)
    if not invoices:
        return []
    def notes(col):
        return (select(func.coalesce(func.sum(col), 0)).where(CreditNote.invoice_id == Invoice.id)
                .correlate(Invoice).scalar_subquery())
    figures = {iid: row for iid, *row in session.execute(
        select(Invoice.id, _open_expr(), notes(CreditNote.net_total), notes(CreditNote.tax_total),
               notes(CreditNote.gross_total)).where(Invoice.id.in_([inv.id for inv in invoices])))}
    out = []
    for inv in invoices:
        open_, *credited = (_exact(x, inv.currency) for x in figures[inv.id])
        out.append((inv, open_, tuple(credited)))
    return out


def lock_invoices(session: Session, company_id: int, invoice_ids: list[int]) -> list[Invoice]:
    """The company's invoices named, locked until the transaction ends, in id order (so two payments
    settling the same invoices never deadlock and never both take what is open)."""
    if not invoice_ids:
        return []
    return list(session.scalars(select(Invoice).where(Invoice.company_id == company_id,
                                                      Invoice.id.in_(set(invoice_ids)))
                                .order_by(Invoice.id).with_for_update()))


def _creditable(session: Session, invoices: list[Invoice]) -> list[rules.Creditable]:
    done = credited(session, [inv.id for inv in invoices])
    return [rules.Creditable(li.id, inv.id, li.order_line_id, li.quantity, li.net_amount, li.tax_amount,
                             *done.get(li.id, (ZERO, ZERO, ZERO)))
            for inv in invoices for li in inv.lines]


def _issue_credit_note(session: Session, actor: Actor, inv: Invoice, credits: list[rules.Credit], *,
                       reason: str, return_id: int | None) -> CreditNote:
    """Number, store and post one credit note of `inv`; its timeline record and event."""
    company = session.get(Company, inv.company_id)
    issued = clock.today_in(company.timezone)
    lock_invoices(session, inv.company_id, [inv.id])  # a payment settling it meanwhile waits, or is seen
    open_before = invoice_open(session, inv)
    seq = take_number(session, inv.company_id, rules.CREDIT_NOTE_SERIES, issued.year)
    lines = {li.id: li for li in inv.lines}
    net = sum((c.net for c in credits), ZERO)
    tax = sum((c.tax for c in credits), ZERO)
    note = CreditNote(company_id=inv.company_id, number=rules.invoice_number(rules.CREDIT_NOTE_SERIES, issued.year, seq),
                      series=rules.CREDIT_NOTE_SERIES, year=issued.year, seq=seq, invoice_id=inv.id,
                      customer_id=inv.customer_id, order_id=inv.order_id, return_id=return_id, reason=reason,
                      issue_date=issued, currency=inv.currency, net_total=net, tax_total=tax, gross_total=net + tax,
                      created_at=clock.now())
    for c in credits:
        note.lines.append(CreditNoteLine(invoice_line_id=c.invoice_line_id, order_line_id=c.order_line_id,
                                         sku=lines[c.invoice_line_id].sku, quantity=c.quantity, net_amount=c.net,
                                         tax_amount=c.tax))
    if note.gross_total > 0:
        entry = ledger_rules.credit_note_issued(
            ledger.chart(session, inv.company_id),
            ledger_rules.Document(note.number, str(inv.customer_id), issued, inv.currency,
                                  tuple(ledger_rules.DocLine(c.net, c.tax) for c in credits)),
            invoice_id=inv.number, invoice_open=open_before)
        note.journal_entry_id = ledger.post(session, actor, inv.company_id, entry).id
    session.add(note)
    session.flush()
    gross = str(round_money(note.gross_total, note.currency))
    audit.record(session, actor, "order", inv.order_id, "credited", company_id=inv.company_id, data={
        "credit_note": note.number, "invoice": inv.number, "gross": gross, "currency": note.currency,
        "reason": reason})
    emit(session, "credit_note.issued", {
        "credit_note_id": note.id, "number": note.number, "invoice_id": inv.id, "invoice": inv.number,
        "order_id": inv.order_id, "return_id": return_id, "customer_id": inv.customer_id, "currency": note.currency,
        "gross": gross}, company_id=inv.company_id, entity_id=note.id)
    return note


def _notes_of_return(session: Session, company_id: int, return_id: int) -> list[CreditNote]:
    return list(session.scalars(select(CreditNote).where(CreditNote.company_id == company_id,
                                                         CreditNote.return_id == return_id)
                                .order_by(CreditNote.id).options(selectinload(CreditNote.lines))))


def credit_return(session: Session, actor: Actor, company_id: int, return_id: int, payload: dict) -> list[CreditNote]:
    """The credit notes of a return's refund (`return.refund_due`): one per invoice it touches, for the
    refund's own net and tax per line, earliest invoice first. Made once per return: a redelivery gets
    the notes that exist."""
    require(actor, "billing.write")
    orders.get_order(session, actor, company_id, payload["order_id"], lock=True)  # credits of an order one at a time
    found = _notes_of_return(session, company_id, return_id)
    if found:
        return found
    invoices = list(session.scalars(select(Invoice).where(Invoice.company_id == company_id,
                                                          Invoice.order_id == payload["order_id"])
                                    .order_by(Invoice.id).options(selectinload(Invoice.lines))))
    refunded = [rules.Refunded(li["order_line_id"], Decimal(li["quantity"]), Decimal(li["net"]), Decimal(li["tax"]))
                for li in payload["lines"]]
    credits = rules.credit_refund(refunded, _creditable(session, invoices), payload["currency"])
    by_invoice: dict[int, list[rules.Credit]] = defaultdict(list)
    for c in credits:
        by_invoice[c.invoice_id].append(c)
    reason = f"return {payload.get('rma', return_id)}"
    return [_issue_credit_note(session, actor, inv, by_invoice[inv.id], reason=reason, return_id=return_id)
            for inv in invoices if by_invoice.get(inv.id)]


def _payment_recorders(session: Session, invoice_id: int) -> set[int | None]:
    """Who recorded a payment of the invoice: the payments settled against it and the settlements themselves."""
    rows = session.execute(select(Settlement.created_by, Payment.created_by)
                           .outerjoin(Payment, Payment.id == Settlement.payment_id)
                           .where(Settlement.invoice_id == invoice_id)).all()
    return {u for row in rows for u in row if u is not None}


def credit_invoice(session: Session, actor: Actor, company_id: int, invoice_id: int, data) -> CreditNote:
    """A person's correction of an issued invoice: `data.lines` [{line_no, quantity | amount}] and
    `data.reason`. Refused, naming the field, above what a line or the invoice has left to credit; a
    refusal stores nothing."""
    require(actor, "billing.write")
    inv = get_invoice(session, actor, company_id, invoice_id)
    orders.get_order(session, actor, company_id, inv.order_id, lock=True)
    errors = ErrorList()
    if not (data.reason or "").strip():
        errors.add("reason", "required", "a credit note states its reason")
    errors.raise_if_any()
    sod.check(session, actor, "issue_credit_note", "record_payment", _payment_recorders(session, inv.id))
    credits = rules.credit_lines(
        _creditable(session, [inv]),
        [rules.ManualCredit(li.line_no, li.quantity, li.amount) for li in data.lines],
        inv.gross_total - credited_gross(session, inv.id), inv.currency)
    return _issue_credit_note(session, actor, inv, credits, reason=data.reason.strip(), return_id=None)


def get_credit_note(session: Session, actor: Actor, company_id: int, note_id: int) -> CreditNote:
    """A portal user sees the credit notes of their own customer only; anyone else's is not found."""
    return own_one(session, CreditNote, actor, company_id, note_id, "credit note", selectinload(CreditNote.lines))


def list_credit_notes(session: Session, actor: Actor, company_id: int, *, customer_id: int | None = None,
                      invoice_id: int | None = None, order_id: int | None = None, before_id: int | None = None,
                      limit: int = 50) -> list[CreditNote]:
    """Newest first; `before_id` is the cursor. A portal user sees their own credit notes only."""
    stmt = newest_first(CreditNote, actor, company_id, before_id=before_id, limit=limit, customer_id=customer_id,
                        invoice_id=invoice_id, order_id=order_id)
    return list(session.scalars(stmt.options(selectinload(CreditNote.lines))))


def credit_note_view(session: Session, note: CreditNote) -> dict:
    """A credit note as the API shows it, with the number of the invoice it corrects."""
    money = lambda amount: round_money(amount, note.currency)  # noqa: E731
    inv = session.get(Invoice, note.invoice_id)
    return {
        "id": note.id, "number": note.number, "invoice_id": note.invoice_id, "invoice_number": inv.number,
        "customer_id": note.customer_id, "order_id": note.order_id, "return_id": note.return_id,
        "reason": note.reason, "issue_date": note.issue_date, "currency": note.currency,
        "net_total": money(note.net_total), "tax_total": money(note.tax_total), "gross_total": money(note.gross_total),
        "journal_entry_id": note.journal_entry_id,
        "lines": [{"invoice_line_id": li.invoice_line_id, "order_line_id": li.order_line_id, "sku": li.sku,
                   "quantity": li.quantity, "net_amount": money(li.net_amount), "tax_amount": money(li.tax_amount)}
                  for li in note.lines],
    }

