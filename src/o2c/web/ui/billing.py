"""Billing and receivables: invoices, credit notes, payments, bank reconciliation, reminders, ageing.

Every page reads through the same services as the API, and every write goes through the service that
checks the permission; a page only decides what to show and which actions to offer (a missing permission
shows the action disabled, with the reason).
"""
from __future__ import annotations

import json
import re
import secrets
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from urllib.parse import urlencode

from fastapi import APIRouter, Request
from fastapi.responses import Response
from pydantic import ValidationError
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import UploadFile

from o2c.billing import documents, einvoice
from o2c.billing import service as billing
from o2c.billing.statement import invoice_due_dates
from o2c.core import clock, idempotency
from o2c.core.db import read_session, transaction
from o2c.core.errors import Conflict, Forbidden, O2CError
from o2c.core.models import Company
from o2c.core.money import ZERO, round_money
from o2c.customers import service as customers
from o2c.dunning import disputes
from o2c.dunning import service as dunning
from o2c.ledger import receivables
from o2c.ledger import rules as ledger_rules
from o2c.ledger import service as ledger
from o2c.ledger.rules import BUCKETS, METHODS
from o2c.payments import service as payments
from o2c.receivables import service as reconciliation
from o2c.receivables.service import QUEUE
from o2c.web.ui.context import BackOfficeDep, Ui
from o2c.web.ui.forms import Errors, errors_of, values
from o2c.web.ui.pages import download, page, redirect

router = APIRouter(include_in_schema=False)

# Who works in billing: the menu shows the section to these, and its pages read for them.
BILLING = ("billing.write", "payments.write", "reconciliation.write", "dunning.write", "ledger.read")
PAGE_SIZE = 50
QUEUE_SHOWN = 1000
WHY = {
    "payments.write": "needs the payments.write permission (receivables role)",
    "reconciliation.write": "needs the reconciliation.write permission (receivables role)",
    "dunning.write": "needs the dunning.write permission (billing or receivables role)",
}
PAYMENT_METHODS = [m for m in METHODS if m != "card"]  # card payments come from captures, not by hand
SETTLE = re.compile(r"^settle-(\d{1,18})$")  # the payment form's field of what it settles on an invoice
AMOUNT = re.compile(r"^(\d{1,3}(,\d{3}){1,3}|\d{1,12})(\.\d{1,4})?$")  # up to 10**12, as the API takes


def _reader(ui: Ui) -> None:
    ui.require_any(*BILLING)


def _today(s, ui: Ui) -> date:
    return clock.today_in(s.get(Company, ui.company_id).timezone)


def _labels(s, ui: Ui, ids) -> dict[int, tuple[str, str]]:
    return customers.labels(s, ui.company_id, {i for i in ids if i is not None})


def _url(path: str, **params) -> str:
    kept = {k: v for k, v in params.items() if v not in (None, "")}
    return f"{path}?{urlencode(kept)}" if kept else path


def _next(path: str, rows, limit: int, **params) -> str | None:
    """The link to the next (older) page when this one is full (call it while the rows' session is open:
    its rollback at the end expires them)."""
    return _url(path, **params, before=rows[-1].id) if len(rows) == limit else None


def _amount(text: str | None) -> Decimal | None:
    """A typed amount: '1234.5' or '1,234.50'; None when it is not one."""
    text = (text or "").strip()
    return Decimal(text.replace(",", "")) if AMOUNT.match(text) else None


def _day(text: str | None) -> date | None:
    try:
        return date.fromisoformat((text or "").strip())
    except ValueError:
        return None


def _customer(s, ui: Ui, code: str | None):
    """The customer of a typed code (as typed, or in capitals), or None."""
    code = (code or "").strip()
    if not code:
        return None
    found = customers.find(s, ui.company_id, code=code) or customers.find(s, ui.company_id, code=code.upper())
    return found[0] if found else None


def _waiting(s, ui: Ui) -> str:
    """How many statement lines wait for a person, counted up to QUEUE_SHOWN ('1000+' beyond)."""
    n = len(reconciliation.queue(s, ui.actor, ui.company_id, limit=QUEUE_SHOWN + 1))
    return f"{QUEUE_SHOWN}+" if n > QUEUE_SHOWN else str(n)


# --- overview -----------------------------------------------------------------------------------------------


def _credit_by_currency(s, ui: Ui) -> dict[str, Decimal]:
    held = ledger.open_item_balances(s, ui.company_id, ledger_rules.UNAPPLIED_CREDITS)
    out: dict[str, Decimal] = defaultdict(lambda: ZERO)
    for (_, cur, _), balance in held.items():
        out[cur] -= balance
    return dict(out)


def _open_by_currency(s, ui: Ui, today: date) -> dict[str, dict]:
    """Per currency: the count and sum of open invoices, and of those past due."""
    out: dict[str, dict] = {}
    for inv, amount in billing.open_invoices(s, ui.company_id):
        row = out.setdefault(inv.currency, {"count": 0, "open": ZERO, "overdue_count": 0, "overdue": ZERO})
        row["count"] += 1
        row["open"] += amount
        if inv.due_date < today:
            row["overdue_count"] += 1
            row["overdue"] += amount
    return out


@router.get("/app/billing")
def overview(ui: BackOfficeDep):
    _reader(ui)
    with read_session() as s:
        today = _today(s, ui)
        opens = _open_by_currency(s, ui, today)
        credit = _credit_by_currency(s, ui)
        currencies = sorted(set(opens) | {c for c, v in credit.items() if v})
        figures = [{"currency": c, **opens.get(c, {"count": 0, "open": ZERO, "overdue_count": 0, "overdue": ZERO}),
                    "credit": round_money(credit.get(c, ZERO), c)} for c in currencies]
        statements = reconciliation.statement_views(s, reconciliation.list_statements(s, ui.actor, ui.company_id,
                                                                                      limit=5))
        waiting = _waiting(s, ui)
    return page(ui, "app/billing/overview.html", active="/app/billing", title="Billing", today=today,
                figures=figures, statements=statements, waiting=waiting)


# --- invoices -----------------------------------------------------------------------------------------------


def _invoice_filters(s, ui: Ui, request: Request) -> tuple[dict, dict, Errors]:
    """The list's filters as typed, as the service takes them, and what was refused."""
    q = request.query_params
    typed = {k: q.get(k, "") for k in ("customer", "state", "from", "to")}
    errors: Errors = {}
    args: dict = {"state": typed["state"] if typed["state"] in billing.INVOICE_STATES else None}
    if typed["customer"]:
        found = _customer(s, ui, typed["customer"])
        if found is None:
            errors["customer"] = f"there is no customer {typed['customer']!r}"
        args["customer_id"] = found.id if found else -1
    for key, arg in (("from", "issued_from"), ("to", "issued_to")):
        if typed[key]:
            args[arg] = _day(typed[key])
            if args[arg] is None:
                errors[key] = "a date like 2026-12-31"
    return typed, args, errors


@router.get("/app/billing/invoices")
def invoices(ui: BackOfficeDep, request: Request, before: int | None = None):
    _reader(ui)
    with read_session() as s:
        today = _today(s, ui)
        typed, args, errors = _invoice_filters(s, ui, request)
        rows = billing.find_invoices(s, ui.actor, ui.company_id, before_id=before, limit=PAGE_SIZE, today=today,
                                     **args)
        views = billing.invoice_views(s, rows)
        names = _labels(s, ui, [v["customer_id"] for v in views])
        more = _next("/app/billing/invoices", rows, PAGE_SIZE, **typed)
    return page(ui, "app/billing/invoices.html", status=422 if errors else 200, active="/app/billing",
                title="Invoices", invoices=views, names=names, values=typed, errors=errors, today=today,
                states=billing.INVOICE_STATES, next_url=more)


@router.get("/app/billing/invoices/{invoice_id}.pdf")
def invoice_pdf(invoice_id: int, ui: BackOfficeDep):
    _reader(ui)
    with read_session() as s:
        inv = billing.get_invoice(s, ui.actor, ui.company_id, invoice_id)
        pdf = documents.invoice_pdf(documents.invoice_document(s, inv))
        name = inv.number
    return download(pdf, "application/pdf", f"{name}.pdf")


@router.get("/app/billing/invoices/{invoice_id}.xml")
def invoice_xml(invoice_id: int, ui: BackOfficeDep):
    _reader(ui)
    with read_session() as s:
        xml = einvoice.invoice_xml(s, ui.actor, ui.company_id, invoice_id)
        name = billing.get_invoice(s, ui.actor, ui.company_id, invoice_id).number
    return download(xml, "application/xml", f"{name}.xml")


@router.get("/app/billing/invoices/{invoice_id}")
def invoice(invoice_id: int, ui: BackOfficeDep):
    _reader(ui)
    with read_session() as s:
        inv = billing.get_invoice(s, ui.actor, ui.company_id, invoice_id)
        [view] = billing.invoice_views(s, [inv])
        notes = [billing.credit_note_view(s, n)
                 for n in billing.list_credit_notes(s, ui.actor, ui.company_id, invoice_id=inv.id, limit=500)]
        settled = payments.invoice_settlements(s, ui.actor, ui.company_id, inv.id)
        argued = [disputes.dispute_view(s, d) for d in disputes.list_disputes(s, ui.actor, ui.company_id, inv.id)]
        code, name = _labels(s, ui, [inv.customer_id])[inv.customer_id]
        overdue = view["open_amount"] > 0 and inv.due_date < _today(s, ui)
    return page(ui, "app/billing/invoice.html", active="/app/billing", title=f"Invoice {view['number']}",
                inv=view, notes=notes, settlements=settled, disputes=argued, code=code, customer_name=name,
                overdue=overdue, may_pay=ui.can("payments.write"), why_pay=WHY["payments.write"])


# --- credit notes -------------------------------------------------------------------------------------------


@router.get("/app/billing/credit-notes")
def credit_notes(ui: BackOfficeDep, before: int | None = None):
    _reader(ui)
    with read_session() as s:
        rows = billing.list_credit_notes(s, ui.actor, ui.company_id, before_id=before, limit=PAGE_SIZE)
        notes = [billing.credit_note_view(s, n) for n in rows]
        names = _labels(s, ui, [n["customer_id"] for n in notes])
        more = _next("/app/billing/credit-notes", rows, PAGE_SIZE)
    return page(ui, "app/billing/credit_notes.html", active="/app/billing", title="Credit notes", notes=notes,
                names=names, next_url=more)


@router.get("/app/billing/credit-notes/{note_id}.pdf")
def credit_note_pdf(note_id: int, ui: BackOfficeDep):
    _reader(ui)
    with read_session() as s:
        note = billing.get_credit_note(s, ui.actor, ui.company_id, note_id)
        pdf = documents.invoice_pdf(documents.credit_note_document(s, note))
        name = note.number
    return download(pdf, "application/pdf", f"{name}.pdf")


@router.get("/app/billing/credit-notes/{note_id}.xml")
def credit_note_xml(note_id: int, ui: BackOfficeDep):
    _reader(ui)
    with read_session() as s:
        xml = einvoice.credit_note_xml(s, ui.actor, ui.company_id, note_id)
        name = billing.get_credit_note(s, ui.actor, ui.company_id, note_id).number
    return download(xml, "application/xml", f"{name}.xml")


@router.get("/app/billing/credit-notes/{note_id}")
def credit_note(note_id: int, ui: BackOfficeDep):
    _reader(ui)
    with read_session() as s:
        note = billing.credit_note_view(s, billing.get_credit_note(s, ui.actor, ui.company_id, note_id))
        code, name = _labels(s, ui, [note["customer_id"]])[note["customer_id"]]
    return page(ui, "app/billing/credit_note.html", active="/app/billing", title=f"Credit note {note['number']}",
                note=note, code=code, customer_name=name)


# --- payments -----------------------------------------------------------------------------------------------


@router.get("/app/billing/payments")
def payments_list(ui: BackOfficeDep, before: int | None = None):
    _reader(ui)
    with read_session() as s:
        rows = payments.list_payments(s, ui.actor, ui.company_id, before_id=before, limit=PAGE_SIZE)
        views = payments.payment_views(s, ui.company_id, rows)
        names = _labels(s, ui, [p["customer_id"] for p in views])
        more = _next("/app/billing/payments", rows, PAGE_SIZE)
    return page(ui, "app/billing/payments.html", active="/app/billing", title="Payments", payments=views,
                names=names, next_url=more,
                may_pay=ui.can("payments.write"), why_pay=WHY["payments.write"])


def _payment_form(ui: Ui, typed: dict, errors: Errors, status: int = 200) -> Response:
    """The form with the chosen customer's open invoices, each with a field for what this payment settles."""
    with read_session() as s:
        found = _customer(s, ui, typed.get("customer"))
        customer = {"id": found.id, "code": found.code, "legal_name": found.legal_name} if found else None
        open_ = [{"id": inv.id, "number": inv.number, "due_date": inv.due_date, "currency": inv.currency,
                  "open": amount} for inv, amount in billing.open_invoices(s, ui.company_id, found.id)] if found else []
        today = _today(s, ui)
    if typed.get("customer") and found is None:
        errors = {"customer": f"there is no customer {typed['customer']!r}", **errors}
    return page(ui, "app/billing/payment_new.html", status=status, active="/app/billing", title="Record a payment",
                values=typed, errors=errors, customer=customer, open_invoices=open_, today=today,
                methods=[(m, m.replace("_", " ").capitalize()) for m in PAYMENT_METHODS],
                may_pay=ui.can("payments.write"), why_pay=WHY["payments.write"])


@router.get("/app/billing/payments/new")
def payment_new(ui: BackOfficeDep, customer: str = "", invoice: int | None = None):
    _reader(ui)
    typed = {"customer": customer, "method": "bank_transfer", "form_key": secrets.token_urlsafe(16)}
    with read_session() as s:
        found = _customer(s, ui, customer)
        typed["received_on"] = _today(s, ui).isoformat()
        if found is not None:
            typed["customer"] = found.code
            typed["currency"] = customers.load(s, ui.company_id, found.id)[1].currency
            for inv, amount in billing.open_invoices(s, ui.company_id, found.id):
                if inv.id == invoice:  # from an invoice's page: pay what is open on it
                    typed[f"settle-{inv.id}"] = typed["amount"] = str(amount)
    return _payment_form(ui, typed, {})


def _parse_payment(typed: dict) -> tuple[dict, Errors]:
    """The payment's fields as the service takes them, and what cannot be read (next to its field)."""
    errors: Errors = {}
    amount = _amount(typed.get("amount"))
    if amount is None:
        errors["amount"] = (f"{typed.get('amount')!r} is not an amount: write it like 1234.50"
                            if typed.get("amount", "").strip() else "enter the amount received")
    received = _day(typed.get("received_on")) if typed.get("received_on", "").strip() else None
    if typed.get("received_on", "").strip() and received is None:
        errors["received_on"] = "a date like 2026-12-31"
    applications = []
    for key in sorted((k for k in typed if SETTLE.match(k)), key=lambda k: int(SETTLE.match(k).group(1))):
        if not typed[key].strip():
            continue
        settle = _amount(typed[key])
        if settle is None:
            errors[key] = f"{typed[key]!r} is not an amount: write it like 1234.50"
        else:
            applications.append((int(SETTLE.match(key).group(1)), settle))
    return {"method": (typed.get("method") or "").strip(), "currency": (typed.get("currency") or "").strip().upper(),
            "amount": amount, "received_on": received, "reference": (typed.get("reference") or "").strip() or None,
            "applications": applications}, errors


def _errors_on_form(errors: Errors, applications: list[tuple[int, Decimal]]) -> Errors:
    """The service's field names as the form's: customer_id -> customer, applications[i] -> settle-<invoice>."""
    out: Errors = {}
    for key, message in errors.items():
        m = re.match(r"^applications\[(\d+)\]", key)
        if m and int(m.group(1)) < len(applications):
            key = f"settle-{applications[int(m.group(1))][0]}"
        elif key == "customer_id":
            key = "customer"
        elif key in ("applications", "source", "source_ref"):
            key = "_form"
        out.setdefault(key, message)
    return out


def _record(ui: Ui, customer_id: int, fields: dict, form_key: str) -> tuple[dict | None, Errors]:
    """Record the payment once per form (its key): a double-clicked submit gets the first payment back."""
    body = json.dumps({"customer_id": customer_id, **fields}, default=str, sort_keys=True).encode()
    req_hash = idempotency.request_hash("POST", f"{ui.company_id}:/app/billing/payments/new", body)

    def work(s):
        pay = payments.record_payment(s, ui.actor, ui.company_id, customer_id=customer_id, **fields)
        [view] = payments.payment_views(s, ui.company_id, [pay])
        return 201, json.loads(json.dumps(view, default=str))

    try:
        _, view, _ = idempotency.run(ui.actor, f"web-payment:{form_key}" if form_key else None, req_hash, work)
        return view, {}
    except Forbidden:
        raise  # not a refusal of what was typed: the error page says who may
    except (O2CError, ValidationError) as exc:
        return None, _errors_on_form(errors_of(exc), fields["applications"])


@router.post("/app/billing/payments/new")
async def payment_record(ui: BackOfficeDep, request: Request):
    _reader(ui)
    typed = values(await request.form())
    fields, errors = _parse_payment(typed)
    with read_session() as s:
        found = _customer(s, ui, typed.get("customer"))
        who = (found.id, found.code) if found else None
    if not (typed.get("customer") or "").strip():
        errors["customer"] = "enter the customer's code"
    if errors or who is None:  # an unknown code: the form says so beside the field
        return _payment_form(ui, typed, errors, 422)
    view, errors = await run_in_threadpool(_record, ui, who[0], fields, typed.get("form_key", ""))
    if errors:
        return _payment_form(ui, typed, errors, 422)
    settled = ", ".join(st["invoice_number"] for st in view["settlements"] if st["kind"] == "payment")
    return redirect(ui, "/app/billing/payments", flash=f"Payment {view['number']} recorded: {view['amount']} "
                    f"{view['currency']} from {who[1]}" + (f", applied to {settled}" if settled else
                                                          ", all of it unapplied credit"))


# --- reconciliation -----------------------------------------------------------------------------------------


def _statements_page(ui: Ui, errors: Errors | None = None, status: int = 200, before: int | None = None) -> Response:
    with read_session() as s:
        rows = reconciliation.list_statements(s, ui.actor, ui.company_id, before_id=before, limit=PAGE_SIZE)
        views = reconciliation.statement_views(s, rows)
        waiting = _waiting(s, ui)
        more = _next("/app/billing/statements", rows, PAGE_SIZE)
    return page(ui, "app/billing/statements.html", status=status, active="/app/billing", title="Bank statements",
                statements=views, errors=errors or {}, waiting=waiting,
                next_url=more,
                may_import=ui.can("reconciliation.write"), why_import=WHY["reconciliation.write"])


@router.get("/app/billing/statements")
def statements(ui: BackOfficeDep, before: int | None = None):
    _reader(ui)
    return _statements_page(ui, before=before)


def _file_error(exc: O2CError) -> str:
    where = next((e.field for e in exc.errors if e.field), None)
    return f"{exc.detail} (at {where})" if where and where not in exc.detail else exc.detail


@router.post("/app/billing/statements")
async def statement_upload(ui: BackOfficeDep, request: Request):
    _reader(ui)
    form = await request.form()
    upload = form.get("file")
    if not isinstance(upload, UploadFile) or not upload.filename:
        return _statements_page(ui, {"file": "choose the statement file (camt.053, MT940 or CSV)"}, 422)
    data, name = await upload.read(), upload.filename
    try:
        result = await run_in_threadpool(transaction, lambda s: [st.id for st in reconciliation.import_statement(
            s, ui.actor, ui.company_id, data, name).statements])
    except Forbidden:
        raise
    except O2CError as exc:
        return _statements_page(ui, {"file": _file_error(exc)}, 409 if isinstance(exc, Conflict) else 422)
    # The auto lines beyond the import's first batch, as the API books them.
    await run_in_threadpool(reconciliation.book_pending, ui.actor, ui.company_id, result)
    target = f"/app/billing/statements/{result[0]}" if len(result) == 1 else "/app/billing/statements"
    return redirect(ui, target, flash=f"Imported {name}: {len(result)} statement(s)")


def _open_choices(s, ui: Ui, currencies: set[str]) -> dict[str, list[tuple[int, str]]]:
    """Per currency, the open invoices a person may match a line to (oldest due first)."""
    rows = [(inv, amount) for inv, amount in billing.open_invoices(s, ui.company_id, limit=500)
            if inv.currency in currencies]
    names = _labels(s, ui, [inv.customer_id for inv, _ in rows])
    out: dict[str, list[tuple[int, str]]] = defaultdict(list)
    for inv, amount in rows:
        out[inv.currency].append((inv.id, f"{inv.number} · {names[inv.customer_id][0]} · {amount} open · "
                                          f"due {inv.due_date.isoformat()}"))
    return out


@dataclass(frozen=True)
class Refusal:
    """A decision on a statement line that was refused: why, by field, and what was typed for it."""

    line_id: int
    errors: Errors
    typed: dict[str, str] = field(default_factory=dict)


def _lines_page(ui: Ui, template: str, title: str, rows_of, next_of, refusal: Refusal | None = None,
                status: int = 200, **extra) -> Response:
    """Statement lines, each beside the matcher's suggestion, with the open invoices to match by hand."""
    with read_session() as s:
        rows = rows_of(s)
        lines = reconciliation.line_views(s, rows)
        names = _labels(s, ui, [ln["customer_id"] for ln in lines]
                        + [a["customer_id"] for ln in lines for a in ln["allocations"]])
        choices = _open_choices(s, ui, {ln["currency"] for ln in lines if ln["status"] in QUEUE})
        more = next_of(rows)
    return page(ui, template, status=status, active="/app/billing", title=title, lines=lines, names=names,
                choices=choices, refusal=refusal, next_url=more,
                may_decide=ui.can("reconciliation.write"), why_decide=WHY["reconciliation.write"], **extra)


LINES_PER_PAGE = 200


def _statement_page(ui: Ui, statement_id: int, refusal: Refusal | None = None, status: int = 200,
                    after: int | None = None) -> Response:
    with read_session() as s:
        st = reconciliation.statement_views(s, [reconciliation.get_statement(s, ui.actor, ui.company_id,
                                                                             statement_id)])[0]
    path = f"/app/billing/statements/{statement_id}"
    return _lines_page(
        ui, "app/billing/statement.html", f"Statement {st['statement_ref'] or st['id']}",
        lambda s: reconciliation.lines(s, ui.company_id, statement_id=statement_id, after_id=after,
                                       limit=LINES_PER_PAGE),
        lambda rows: _url(path, after=rows[-1].id) if len(rows) == LINES_PER_PAGE else None,
        refusal, status, st=st)


@router.get("/app/billing/statements/{statement_id}")
def statement(statement_id: int, ui: BackOfficeDep, after: int | None = None):
    _reader(ui)
    return _statement_page(ui, statement_id, after=after)


def _queue_page(ui: Ui, status: str | None = None, after: int | None = None, refusal: Refusal | None = None,
                code: int = 200) -> Response:
    wanted = status if status in QUEUE else None
    return _lines_page(
        ui, "app/billing/queue.html", "Waiting to be matched",
        lambda s: reconciliation.queue(s, ui.actor, ui.company_id, status=wanted, after_id=after,
                                       limit=LINES_PER_PAGE),
        lambda rows: (_url("/app/billing/reconciliation", status=wanted, after=rows[-1].id)
                      if len(rows) == LINES_PER_PAGE else None),
        refusal, code, status_filter=wanted or "")


@router.get("/app/billing/reconciliation")
def reconciliation_queue(ui: BackOfficeDep, status: str | None = None, after: int | None = None):
    _reader(ui)
    return _queue_page(ui, status, after)


def _refused(ui: Ui, statement_id: int, back: str | None, refusal: Refusal, status: int) -> Response:
    """The page the decision was taken on, with the reason beside the line."""
    if back == "queue":
        return _queue_page(ui, refusal=refusal, code=status)
    return _statement_page(ui, statement_id, refusal, status)


def _decide(ui: Ui, line_id: int, back: str | None, fn, typed: dict[str, str] | None = None,
            refused: Errors | None = None) -> Response:
    """Take a decision on a line (`fn`, once: the service locks the line and checks it is undecided) and
    go back to where it was taken; refused (`refused`: already by the page): that page with the reason
    beside the line and what was typed kept, 409 when the line was decided already."""
    with read_session() as s:
        statement_id = reconciliation.get_line(s, ui.actor, ui.company_id, line_id).statement_id
    if refused:
        return _refused(ui, statement_id, back, Refusal(line_id, refused, typed or {}), 422)
    try:
        transaction(fn)
    except Forbidden:
        raise
    except (O2CError, ValidationError) as exc:
        return _refused(ui, statement_id, back, Refusal(line_id, errors_of(exc), typed or {}),
                        409 if isinstance(exc, Conflict) else 422)
    target = "/app/billing/reconciliation" if back == "queue" else f"/app/billing/statements/{statement_id}"
    return redirect(ui, f"{target}#line-{line_id}", flash=f"Statement line {line_id}: done")


@router.post("/app/billing/statement-lines/{line_id}/confirm")
def line_confirm(line_id: int, ui: BackOfficeDep, back: str | None = None, alternative: int = 0):
    """Apply the suggestion (`alternative` 0) or one of its alternatives."""
    _reader(ui)
    return _decide(ui, line_id, back, lambda s: reconciliation.confirm(s, ui.actor, ui.company_id, line_id,
                                                                       alternative))


@router.post("/app/billing/statement-lines/{line_id}/match")
async def line_match(line_id: int, ui: BackOfficeDep, request: Request, back: str | None = None):
    """Re-match: apply the line to another open invoice a person chose (all that fits, or the amount typed)."""
    _reader(ui)
    typed = values(await request.form())
    invoice_id, amount_text = typed.get("invoice_id", ""), typed.get("amount", "").strip()
    amount = _amount(amount_text) if amount_text else None
    refused: Errors = {}
    if not invoice_id.isdigit():
        refused["invoice_id"] = "choose the invoice the line pays"
    if amount_text and amount is None:
        refused["amount"] = f"{amount_text!r} is not an amount: write it like 1234.50"
    picks = [reconciliation.Pick(int(invoice_id), amount)] if not refused else []
    return await run_in_threadpool(_decide, ui, line_id, back, lambda s: reconciliation.match(
        s, ui.actor, ui.company_id, line_id, picks), typed, refused)


@router.post("/app/billing/statement-lines/{line_id}/ignore")
async def line_ignore(line_id: int, ui: BackOfficeDep, request: Request, back: str | None = None):
    """Not a customer's payment: out of the queue, with the reason."""
    _reader(ui)
    typed = values(await request.form())
    return await run_in_threadpool(_decide, ui, line_id, back, lambda s: reconciliation.ignore(
        s, ui.actor, ui.company_id, line_id, typed.get("reason", "")), typed)


# --- reminders ----------------------------------------------------------------------------------------------


@router.get("/app/billing/reminders")
def reminders(ui: BackOfficeDep, before: int | None = None):
    _reader(ui)
    with read_session() as s:
        rows = dunning.list_reminders(s, ui.actor, ui.company_id, before_id=before, limit=PAGE_SIZE)
        views = [dunning.reminder_view(s, r) for r in rows]
        names = _labels(s, ui, [v["customer_id"] for v in views])
        today = _today(s, ui)
        more = _next("/app/billing/reminders", rows, PAGE_SIZE)
    return page(ui, "app/billing/reminders.html", active="/app/billing", title="Reminders", reminders=views,
                names=names, today=today, next_url=more,
                may_run=ui.can("dunning.write"), why_run=WHY["dunning.write"])


@router.post("/app/billing/reminders/run")
def reminders_run(ui: BackOfficeDep):
    _reader(ui)
    done = transaction(lambda s: dunning.run(s, ui.actor, ui.company_id))
    sent = done["reminders"]
    if not sent:
        text = f"Reminders for {done['as_of'].isoformat()}: nothing new to send"
    else:
        text = (f"Reminders for {done['as_of'].isoformat()}: sent {len(sent)} "
                f"({', '.join(r['number'] for r in sent)})")
    return redirect(ui, "/app/billing/reminders", flash=text)


# --- ageing -------------------------------------------------------------------------------------------------


@router.get("/app/billing/ageing")
def ageing(ui: BackOfficeDep, as_of: str | None = None):
    ui.require_any("ledger.read")
    errors: Errors = {}
    with read_session() as s:
        day = _day(as_of) if as_of else _today(s, ui)
        if day is None:
            errors["as_of"], day = "a date like 2026-12-31", _today(s, ui)
        due = invoice_due_dates(s, ui.company_id)
        books = receivables.ageing(s, ui.company_id, day, due)
        dso = {r["currency"]: r for r in receivables.dso(s, ui.company_id, day, 90, due)}
    return page(ui, "app/billing/ageing.html", status=422 if errors else 200, active="/app/billing",
                title="Receivables ageing", books=books, dso=dso, buckets=BUCKETS, as_of=day,
                values={"as_of": as_of or day.isoformat()}, errors=errors)
