"""The customer portal's money side: invoices and credit notes, statement of account, card payment, returns.

Every record is read through the services with the portal user as the actor, so another customer's
invoice, credit note, order or return is not found (404), never refused as forbidden (which would say it
exists).
"""
from __future__ import annotations

import re
import secrets
from datetime import date
from decimal import Decimal, InvalidOperation
from typing import Annotated

from fastapi import APIRouter, Depends, Request
from pydantic import ValidationError
from starlette.datastructures import FormData

from o2c.billing import documents, statement
from o2c.billing import service as billing
from o2c.core import clock
from o2c.core.db import read_session
from o2c.core.errors import Conflict, FieldError, NotFound, O2CError, ValidationFailed
from o2c.orders import service as orders
from o2c.payments import gateways, invoice_cards
from o2c.returns import rules as return_rules
from o2c.returns import service as returns
from o2c.returns.schemas import ReturnIn
from o2c.web.ui.context import PortalDep, Ui
from o2c.web.ui.forms import attempt, errors_of, text, values
from o2c.web.ui.pages import download, money, page, redirect

router = APIRouter(include_in_schema=False)
PAGE = 50
PDF = "application/pdf"


async def _form(request: Request) -> FormData:
    """The posted form, read before the page runs: the page itself is plain `def`, so its database work and
    the card gateway's call run in a worker thread, never blocking the server's event loop."""
    return await request.form()


FormDep = Annotated[FormData, Depends(_form)]


def _today(ui: Ui) -> date:
    return clock.today_in(ui.tz.key)


def _state(view: dict, today: date) -> str:
    """open, overdue (open and past its due date), or how it was closed: paid or credited."""
    if view["open_amount"] > 0:
        return "overdue" if view["due_date"] < today else "open"
    return view["payment_status"]


# --- invoices and credit notes ----------------------------------------------------------------------

@router.get("/portal/invoices")
def invoices(ui: PortalDep, before: int | None = None):
    today = _today(ui)
    with read_session() as s:
        rows = billing.list_invoices(s, ui.actor, ui.company_id, before_id=before, limit=PAGE)
        views = billing.invoice_views(s, rows)
        notes = [billing.credit_note_view(s, n) for n in billing.list_credit_notes(s, ui.actor, ui.company_id, limit=PAGE)]
        next_url = f"/portal/invoices?before={rows[-1].id}" if len(rows) == PAGE else None  # rows expire after
    for v in views:
        v["state"] = _state(v, today)
    return page(ui, "portal/account/invoices.html", active="/portal/invoices", title="Invoices", invoices=views,
                notes=notes, next_url=next_url)


@router.get("/portal/invoices/{invoice_id:int}.pdf")
def invoice_pdf(ui: PortalDep, invoice_id: int):
    with read_session() as s:
        inv = billing.get_invoice(s, ui.actor, ui.company_id, invoice_id)
        content = documents.invoice_pdf(documents.invoice_document(s, inv))
        return download(content, PDF, f"{inv.number}.pdf")


@router.get("/portal/credit-notes/{note_id:int}.pdf")
def credit_note_pdf(ui: PortalDep, note_id: int):
    with read_session() as s:
        note = billing.get_credit_note(s, ui.actor, ui.company_id, note_id)
        content = documents.invoice_pdf(documents.credit_note_document(s, note))
        return download(content, PDF, f"{note.number}.pdf")


def _invoice(ui: Ui, invoice_id: int) -> tuple[dict, list[dict]]:
    """The invoice as shown (404 for another customer's) with its state, and its credit notes."""
    with read_session() as s:
        inv = billing.get_invoice(s, ui.actor, ui.company_id, invoice_id)
        [view] = billing.invoice_views(s, [inv])
        notes = [billing.credit_note_view(s, n)
                 for n in billing.list_credit_notes(s, ui.actor, ui.company_id, invoice_id=inv.id, limit=PAGE)]
    view["state"] = _state(view, _today(ui))
    return view, notes


@router.get("/portal/invoices/{invoice_id:int}")
def invoice(ui: PortalDep, invoice_id: int):
    view, notes = _invoice(ui, invoice_id)
    return page(ui, "portal/account/invoice.html", active="/portal/invoices", title=f"Invoice {view['number']}",
                inv=view, notes=notes)


# --- paying an invoice by card ------------------------------------------------------------------------

def _cards_ready(ui: Ui) -> bool:
    try:
        gateways.gateway_name(ui.company_id)
    except Conflict:
        return False
    return True


def _pay_page(ui: Ui, inv: dict, form: dict[str, str], errors: dict[str, str], status: int = 200):
    return page(ui, "portal/account/pay.html", status=status, active="/portal/invoices",
                title=f"Pay invoice {inv['number']}", inv=inv, cards=_cards_ready(ui), values=form, errors=errors)


def _new_key() -> str:
    """The key of one payment attempt, carried by the form: a double click sends it twice, one charge."""
    return secrets.token_urlsafe(18)


@router.get("/portal/invoices/{invoice_id:int}/pay")
def pay_form(ui: PortalDep, invoice_id: int):
    inv, _ = _invoice(ui, invoice_id)
    return _pay_page(ui, inv, {"amount": str(inv["open_amount"]), "idempotency_key": _new_key()}, {})


@router.post("/portal/invoices/{invoice_id:int}/pay")
def pay(ui: PortalDep, invoice_id: int, form: FormDep):
    inv, _ = _invoice(ui, invoice_id)
    typed = values(form)
    try:
        payment = invoice_cards.pay_invoice(ui.actor, ui.company_id, invoice_id, text(form, "payment_method_token"),
                                            text(form, "amount"), idempotency_key=text(form, "idempotency_key"))
    except NotFound:
        raise
    except (O2CError, ValidationError) as exc:
        errors = errors_of(exc)
        if getattr(exc, "status", None) == 402:  # declines are final for their key: another card is a new attempt
            typed["idempotency_key"] = _new_key()
        typed.pop("payment_method_token", None)
        return _pay_page(ui, inv, typed, errors, 422)
    return redirect(ui, f"/portal/invoices/{invoice_id}", flash=f"Thank you: {money(payment.amount, payment.currency)} "
                                                             f"paid by card (payment {payment.number}).")


# --- statement of account -----------------------------------------------------------------------------

def _date(raw: str | None, name: str, errors: dict[str, str]) -> date | None:
    if not raw:
        return None
    try:
        return date.fromisoformat(raw.strip())
    except ValueError:
        errors[name] = f"{raw!r} is not a date (YYYY-MM-DD)"
        return None


def _period(request: Request) -> tuple[date | None, date | None, dict[str, str], dict[str, str]]:
    q = request.query_params
    typed = {"from": q.get("from", ""), "as_of": q.get("as_of", "")}
    errors: dict[str, str] = {}
    return _date(typed["from"], "from", errors), _date(typed["as_of"], "as_of", errors), typed, errors


def _statement(ui: Ui, date_from: date | None, as_of: date | None):
    with read_session() as s:
        return statement.statement(s, ui.actor, ui.company_id, ui.actor.customer_id, as_of=as_of, date_from=date_from)


@router.get("/portal/statement")
def statement_page(ui: PortalDep, request: Request):
    date_from, as_of, typed, errors = _period(request)
    st = None
    if not errors:
        try:
            st = _statement(ui, date_from, as_of)
        except O2CError as exc:
            errors = errors_of(exc)
    if st is not None and not typed["from"]:
        typed = {"from": st.date_from.isoformat(), "as_of": st.as_of.isoformat()}
    return page(ui, "portal/account/statement.html", status=422 if errors else 200, active="/portal/statement",
                title="Statement of account", st=st, f=st.figures if st else None, kinds=statement.KIND_NAMES,
                values=typed, errors=errors, query=request.url.query)


@router.get("/portal/statement.pdf")
def statement_pdf(ui: PortalDep, request: Request):
    date_from, as_of, _, errors = _period(request)
    if errors:
        raise ValidationFailed("the statement's dates are not valid",
                               [FieldError(name, "invalid", message) for name, message in errors.items()])
    st = _statement(ui, date_from, as_of)
    return download(documents.statement_pdf(st), PDF, f"statement-{st.customer_code}-{st.as_of.isoformat()}.pdf")


# --- returns ----------------------------------------------------------------------------------------------

@router.get("/portal/returns")
def returns_list(ui: PortalDep, before: int | None = None):
    with read_session() as s:
        rows = returns.list_returns(s, ui.actor, ui.company_id, before_id=before, limit=PAGE)
        views = returns.views(s, rows)
        recent = [(o.id, o.number) for o in orders.list_orders(s, ui.actor, ui.company_id, limit=PAGE)]
        next_url = f"/portal/returns?before={rows[-1].id}" if len(rows) == PAGE else None  # rows expire after
    return page(ui, "portal/account/returns.html", active="/portal/returns", title="Returns", returns=views,
                orders=recent, next_url=next_url)


def _return_page(ui: Ui, order_id: int, typed: dict[str, str], errors: dict[str, str], status: int = 200):
    with read_session() as s:
        order = orders.get_order(s, ui.actor, ui.company_id, order_id, holds=False)
        lines = returns.returnable_lines(s, ui.actor, ui.company_id, order.id)
        number = order.number
    return page(ui, "portal/account/return_new.html", status=status, active="/portal/returns",
                title=f"Return goods of order {number}", order_id=order_id, number=number, lines=lines,
                reasons=list(return_rules.REASONS.items()), outcomes=return_rules.OUTCOMES, values=typed,
                errors=errors)


@router.get("/portal/returns/new")
def return_form(ui: PortalDep, order_id: int | None = None):
    if order_id is None:  # the order is chosen on the returns page
        return redirect(ui, "/portal/returns")
    return _return_page(ui, order_id, {"outcome": "refund"}, {})


_LINE_FIELD = re.compile(r"lines\[(\d+)\]\.(\w+)")
_FORM_FIELD = {"quantity": "qty", "line_no": "qty", "reason": "reason", "reason_text": "text"}


def _by_line(errors: dict[str, str], asked: list[int]) -> dict[str, str]:
    """The service names a request line by its place in the request (lines[1].quantity); the form names it
    by the order line's number (qty_3)."""
    out: dict[str, str] = {}
    for name, message in errors.items():
        m = _LINE_FIELD.fullmatch(name)
        if m and int(m[1]) < len(asked):
            out.setdefault(f"{_FORM_FIELD.get(m[2], 'qty')}_{asked[int(m[1])]}", message)
        elif name in ("order_id", "lines"):
            out.setdefault("_form", message)
        else:
            out.setdefault(name, message)
    return out


def _asked_lines(form, errors: dict[str, str]) -> list[dict]:
    """The lines with a quantity typed, as the request names them; a quantity that is no number is refused
    beside its field."""
    asked = []
    for key in form.keys():
        m = re.fullmatch(r"qty_(\d+)", key)
        raw = text(form, key)
        if not m or raw is None:
            continue
        try:
            quantity = Decimal(raw)
        except InvalidOperation:
            errors[key] = f"{raw!r} is not a quantity"
            continue
        if quantity == 0:
            continue
        no = int(m[1])
        asked.append({"line_no": no, "quantity": quantity, "reason": text(form, f"reason_{no}") or "",
                      "reason_text": text(form, f"text_{no}")})
    return asked


@router.post("/portal/returns/new")
def request_return(ui: PortalDep, order_id: int, form: FormDep):
    typed = values(form)
    errors: dict[str, str] = {}
    asked = _asked_lines(form, errors)
    if not asked and not errors:
        errors["_form"] = "enter the quantity to return on at least one line"
    if errors:
        return _return_page(ui, order_id, typed, errors, 422)

    def work(s):
        data = ReturnIn(order_id=order_id, outcome=text(form, "outcome") or "", notes=text(form, "notes"), lines=asked)
        return returns.request(s, ui.actor, ui.company_id, data).rma_number

    rma, refused = attempt(work)
    if refused:
        return _return_page(ui, order_id, typed, _by_line(refused, [a["line_no"] for a in asked]), 422)
    return redirect(ui, "/portal/returns", flash=f"Return {rma} requested: we will send you a return label.")
