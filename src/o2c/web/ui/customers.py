"""Customers: applications and KYC, screening hits, credit profiles, hierarchy, pending sensitive changes.

Pages read through the services and show every action; an action the user may not take is shown
disabled with the reason (a missing permission, or the segregation-of-duties rule from o2c.core.sod
when the user did the other half of the work). The services check the same again on the write.
"""
from __future__ import annotations

from collections.abc import Callable, Iterable
from decimal import Decimal, InvalidOperation
from typing import Annotated
from urllib.parse import quote

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import Response
from sqlalchemy.orm import Session
from starlette.datastructures import FormData, UploadFile

from o2c.compliance import service as compliance
from o2c.core import sod
from o2c.core.auth import PERMISSIONS
from o2c.core.db import read_session, transaction
from o2c.core.errors import O2CError
from o2c.credit import exposure
from o2c.credit import service as credit
from o2c.customers import changes, hierarchy, kyc, lifecycle, onboarding, service
from o2c.customers.onboarding_schemas import ApplicationIn
from o2c.web.ui.context import BackOfficeDep, Ui, safe_next
from o2c.web.ui.forms import attempt, errors_of, text, values
from o2c.web.ui.pages import page, redirect

router = APIRouter(include_in_schema=False)

# Who opens the customer screens: the people who keep, check or lend to customers.
VIEW = ("masterdata.write", "masterdata.approve", "kyc.review", "screening.write", "credit.write", "credit.approve")
PAGE = 50
ADDRESS = ("name", "line1", "line2", "city", "region", "postal_code", "country")
STEP_PERMISSION = {"submit": "masterdata.write"}  # the other steps are kyc.review's
REASON_STEPS = ("suspend", "reinstate", "block")
STATUS_NAMES = {"pending_kyc": "Pending KYC"}
DECISIONS = (("false_positive", "False positive"), ("true_match", "True match"))


async def _form(request: Request) -> FormData:
    return await request.form()


FormDep = Annotated[FormData, Depends(_form)]


def _viewer(ui: Ui) -> None:
    ui.require_any(*VIEW)


# ---------------------------------------------------------------------------------------- who may act

def lacks(ui: Ui, permission: str) -> str | None:
    """Why the user cannot act for want of `permission`; None when they hold it."""
    if ui.can(permission):
        return None
    return f"your roles lack {permission} ({PERMISSIONS.get(permission, permission)})"


def conflict(session: Session, ui: Ui, duty: str, other: str, done_by: Iterable[int | None], yours: str) -> str | None:
    """Why segregation of duties keeps the user from `duty` on a record where they did `other` (`yours`
    says what they did); None when no active rule applies."""
    if ui.actor.user_id is None or ui.actor.user_id not in set(done_by):
        return None
    rule = sod.rule_for(session, duty, other)
    return f"{yours}: {rule.description}" if rule else None


# ---------------------------------------------------------------------------------------- list

@router.get("/app/customers")
def customer_list(ui: BackOfficeDep, q: str | None = Query(None, max_length=100),
                  status: str | None = Query(None, max_length=20), after: int = Query(0, ge=0)):
    _viewer(ui)
    status = status if status in lifecycle.STATUSES else None
    with read_session() as s:
        rows = service.search(s, ui.actor, ui.company_id, q=q, status=status, after=after, limit=PAGE + 1)
        for r in rows[:PAGE]:
            r["exposure"] = exposure.figures(s, ui.company_id, [r["id"]], r["currency"]).exposure.total
    next_url = None
    if len(rows) > PAGE:
        rows = rows[:PAGE]
        next_url = f"/app/customers?after={rows[-1]['id']}&q={quote(q or '', safe='')}&status={status or ''}"
    return page(ui, "app/customers/list.html", active="/app/customers", title="Customers", rows=rows,
                values={"q": q or "", "status": status or ""}, errors={},
                statuses=[(x, STATUS_NAMES.get(x, x.capitalize())) for x in lifecycle.STATUSES], next_url=next_url)


# ---------------------------------------------------------------------------------------- applications

@router.get("/app/customers/applications")
def application_list(ui: BackOfficeDep, after: int = Query(0, ge=0)):
    _viewer(ui)
    with read_session() as s:
        rows = onboarding.list_applications(s, ui.actor, ui.company_id, None, after, PAGE + 1)
        next_url = f"/app/customers/applications?after={rows[PAGE - 1]['id']}" if len(rows) > PAGE else None
        return page(ui, "app/customers/applications.html", active="/app/customers", title="Applications",
                    rows=rows[:PAGE], next_url=next_url, may_apply=ui.can("masterdata.write"))


def _application_page(ui: Ui, typed: dict, errors: dict, status: int = 200):
    return page(ui, "app/customers/new.html", status=status, active="/app/customers", title="New application",
                values=typed, errors=errors, why=lacks(ui, "masterdata.write"))


@router.get("/app/customers/applications/new")
def application_form(ui: BackOfficeDep):
    _viewer(ui)
    return _application_page(ui, {"currency": ui.currency}, {})


def _present(d: dict) -> dict:
    return {k: v for k, v in d.items() if v is not None}


def application_data(form: FormData, currency: str) -> dict:
    """The application as the onboarding service takes it, from the form's fields (named as the service
    names them, so its refusals land beside them); a contact or bank account only when one was typed."""
    data = _present({k: text(form, k) for k in ("code", "legal_name", "tax_id", "registration_id", "email", "phone")})
    data["currency"] = (text(form, "currency") or currency).upper()
    trading = text(form, "trading_names[0]")
    data["trading_names"] = [trading] if trading else []
    billing = _present({k: text(form, f"billing_address.{k}") for k in ADDRESS})
    if "country" in billing:
        billing["country"] = billing["country"].upper()
    data["billing_address"] = billing
    contact = _present({k: text(form, f"contacts[0].{k}") for k in ("name", "role", "email", "phone")})
    if contact:
        data["contacts"] = [contact]
    bank = _present({k: text(form, f"bank_accounts[0].{k}") for k in ("iban", "bic", "holder_name")})
    if bank:
        data["bank_accounts"] = [bank]
    return data


@router.post("/app/customers/applications/new")
def application_submit(ui: BackOfficeDep, form: FormDep):
    _viewer(ui)
    data = application_data(form, ui.currency)
    done, errors = attempt(lambda s: onboarding.apply(s, ui.actor, ui.company_id, ApplicationIn(**data)))
    if errors:
        return _application_page(ui, values(form), errors, 422)
    dupes = done["possible_duplicates"]
    note = f"; possible duplicates: {', '.join(d['code'] for d in dupes)}" if dupes else ""
    return redirect(ui, f"/app/customers/{done['id']}",
                    flash=f"Application {done['code']} stored as a prospect{note}")


# ---------------------------------------------------------------------------------------- queues

def _change_rows(s: Session, ui: Ui, items: list) -> list[dict]:
    names = changes.views(s, items)
    labels = service.labels(s, ui.company_id, {c.customer_id for c in items})
    rows = []
    for change, view in zip(items, names, strict=True):
        why = lacks(ui, changes.FIELDS[change.field][1]) or conflict(
            s, ui, "approve_customer_change", "request_customer_change", [change.requested_by],
            "you requested this change")
        rows.append(view | {"customer": labels.get(change.customer_id, ("?", ""))[0], "why": why,
                            "old": shown(change.old_value), "new": shown(change.new_value)})
    return rows


def shown(value: dict | None) -> str:
    """A change's value in words: 'payment terms days 45, early discount pct 2'; '–' for none."""
    if not value:
        return "–"
    return ", ".join(f"{k.replace('_', ' ')} {v}" for k, v in value.items() if v not in (None, ""))


@router.get("/app/customers/changes")
def change_queue(ui: BackOfficeDep):
    _viewer(ui)
    with read_session() as s:
        rows = _change_rows(s, ui, changes.queue(s, ui.company_id, "pending", 0, 200))
        return page(ui, "app/customers/changes.html", active="/app/customers", title="Pending changes", rows=rows,
                    back="/app/customers/changes")


@router.get("/app/customers/screening")
def screening_queue(ui: BackOfficeDep):
    _viewer(ui)
    with read_session() as s:
        hits = compliance.list_hits(s, ui.actor, ui.company_id, compliance.OPEN, None, 0, 200)
        return page(ui, "app/customers/screening.html", active="/app/customers", title="Screening hits", hits=hits,
                    decide_why=lacks(ui, "screening.write"), decisions=DECISIONS, back="/app/customers/screening")


# ---------------------------------------------------------------------------------------- one customer

def _find(node: dict, customer_id: int) -> dict | None:
    if node["id"] == customer_id:
        return node
    return next((f for f in (_find(c, customer_id) for c in node["children"]) if f), None)


def _group(s: Session, ui: Ui, customer_id: int) -> dict:
    h = hierarchy.hierarchy(s, ui.company_id, customer_id)
    me = _find(h["tree"], customer_id)
    parent = _find(h["tree"], h["path"][1]) if len(h["path"]) > 1 else None
    return {"parent": parent, "children": me["children"] if me else [], "root": h["tree"]}


def _steps(s: Session, ui: Ui, app: dict, applicants: list[int | None]) -> list[dict]:
    out = []
    for step in app["allowed_steps"]:
        why = lacks(ui, STEP_PERMISSION.get(step, "kyc.review"))
        if step == "activate" and not why:
            why = conflict(s, ui, "activate_customer", "apply_customer", applicants, "you applied for this customer")
            if not why and app["kyc"]["missing"]:
                titles = [i["title"].lower() for i in app["kyc"]["items"] if i["state"] != "accepted"]
                why = f"the KYC checklist lacks an accepted {'; '.join(titles)}"
            if not why and app["compliance_hold"]:
                why = "a screening hit holds the customer: compliance decides it first"
        out.append({"step": step, "why": why, "reason": step in REASON_STEPS})
    return out


def _documents(s: Session, ui: Ui, customer_id: int) -> list[dict]:
    docs = onboarding.list_documents(s, ui.actor, ui.company_id, customer_id)
    out = []
    for d in docs:
        why = None
        if d.status == "received":
            why = lacks(ui, "kyc.review") or conflict(s, ui, "review_kyc_document", "upload_kyc_document",
                                                       [d.uploaded_by], "you uploaded this document")
        out.append({"doc": d, "why": why})
    return out


def customer_context(s: Session, ui: Ui, customer_id: int) -> dict:
    """Everything the customer page shows, with the actions and why any is not the user's to take."""
    app = onboarding.application_view(s, ui.company_id, customer_id, ui.actor)
    record = service.customer_view(s, ui.company_id, customer_id, ui.actor)
    applicants = [r.actor_id for r in service.timeline(s, ui.actor, ui.company_id, customer_id)
                  if r.action == "applied"]
    pending = [c for c in changes.history(s, ui.company_id, customer_id) if c.status == "pending"]
    statements = credit.statements(s, ui.actor, ui.company_id, customer_id)
    return {
        "c": app, "record": record, "steps": _steps(s, ui, app, applicants),
        "documents": _documents(s, ui, customer_id), "kinds": [(i.kind, i.title) for i in kyc.CHECKLIST],
        "upload_why": lacks(ui, "masterdata.write"),
        "hits": compliance.list_hits(s, ui.actor, ui.company_id, None, customer_id, 0, 100),
        "decide_why": lacks(ui, "screening.write"), "decisions": DECISIONS,
        "credit": credit.profile(s, ui.actor, ui.company_id, customer_id), "credit_why": lacks(ui, "credit.write"),
        "statement": statements[0] if statements else None,
        "group": _group(s, ui, customer_id), "changes": _change_rows(s, ui, pending),
        "back": f"/app/customers/{customer_id}",
    }


def _customer_page(ui: Ui, customer_id: int, status: int = 200, problem: str | None = None):
    with read_session() as s:
        ctx = customer_context(s, ui, customer_id)
        return page(ui, "app/customers/detail.html", status=status, active="/app/customers",
                    title=f"{ctx['c']['code']} · {ctx['c']['legal_name']}", problem=problem, **ctx)


@router.get("/app/customers/{customer_id}")
def customer_page(ui: BackOfficeDep, customer_id: int):
    _viewer(ui)
    return _customer_page(ui, customer_id)


def _act(ui: Ui, customer_id: int, work: Callable[[Session], object], flash: str, back: str | None = None):
    """Run a customer action; refused, the customer page again with the reason (nothing changed)."""
    try:
        transaction(work)
    except O2CError as exc:
        problem = "; ".join(dict.fromkeys(errors_of(exc).values()))
        return _customer_page(ui, customer_id, exc.status, problem)
    return redirect(ui, safe_next(back, f"/app/customers/{customer_id}"), flash=flash)


@router.post("/app/customers/{customer_id}/steps/{step}")
def customer_step(ui: BackOfficeDep, customer_id: int, step: str, form: FormDep):
    _viewer(ui)
    if step not in lifecycle.STEPS:
        return _customer_page(ui, customer_id, 404, f"there is no step {step!r}")
    fn = getattr(onboarding, step)
    reason = text(form, "reason")
    return _act(ui, customer_id, lambda s: fn(s, ui.actor, ui.company_id, customer_id, reason),
                f"Customer: {step} done" + (f" ({reason})" if reason else ""))


@router.get("/app/customers/{customer_id}/documents/{doc_id}/content")
def document_content(ui: BackOfficeDep, customer_id: int, doc_id: int):
    """The document as uploaded, to download and read before deciding."""
    _viewer(ui)
    with read_session() as s:
        doc = onboarding.document_content(s, ui.actor, ui.company_id, customer_id, doc_id)
        return Response(doc.content, media_type=doc.content_type, headers={
            "Content-Disposition": f"attachment; filename*=UTF-8''{quote(doc.filename)}", "Cache-Control": "no-store"})


@router.post("/app/customers/{customer_id}/documents")
def upload_document(ui: BackOfficeDep, customer_id: int, form: FormDep):
    _viewer(ui)
    file = form.get("file")
    kind = text(form, "kind") or ""
    name, ctype, content = (file.filename, file.content_type, file.file.read(kyc.MAX_SIZE + 1)) \
        if isinstance(file, UploadFile) else (None, None, b"")
    return _act(ui, customer_id, lambda s: onboarding.upload_document(s, ui.actor, ui.company_id, customer_id, kind,
                                                                      name, ctype, content),
                f"Document {name} received for review")


@router.post("/app/customers/{customer_id}/documents/{doc_id}/{decision}")
def review_document(ui: BackOfficeDep, customer_id: int, doc_id: int, decision: str, form: FormDep):
    """accept or reject; a rejection's reason is the document's review note."""
    _viewer(ui)
    outcome = {"accept": "accepted", "reject": "rejected"}.get(decision)
    if outcome is None:
        return _customer_page(ui, customer_id, 404, f"a document is accepted or rejected, not {decision!r}")
    note = text(form, "reason")
    return _act(ui, customer_id, lambda s: onboarding.review_document(s, ui.actor, ui.company_id, customer_id, doc_id,
                                                                      outcome, note),
                f"Document {doc_id} {outcome}")


@router.post("/app/customers/{customer_id}/credit/limit")
def request_limit(ui: BackOfficeDep, customer_id: int, form: FormDep):
    """Ask for a new credit limit (blank: no limit); it waits for a second person's approval."""
    _viewer(ui)
    amount, reason = text(form, "credit_limit"), text(form, "reason")
    return _act(ui, customer_id, lambda s: credit.request_limit_change(
        s, ui.actor, ui.company_id, customer_id, values={"credit_limit": amount}, reason=reason),
        f"Credit limit {amount or 'none'} asked for: it waits for approval")


@router.post("/app/customers/{customer_id}/credit/score")
def run_score(ui: BackOfficeDep, customer_id: int, form: FormDep):
    """Score the customer now; the expected monthly purchases stand in for a missing invoice history."""
    _viewer(ui)
    typed = text(form, "expected_monthly_purchases")
    try:
        expected = None if typed is None else Decimal(typed.replace(",", ""))
    except InvalidOperation:
        return _customer_page(ui, customer_id, 422, f"expected monthly purchases: {typed!r} is not an amount")

    def work(s):
        return credit.run_score(s, ui.actor, ui.company_id, customer_id, expected_monthly_purchases=expected)

    return _act(ui, customer_id, work, "Customer scored")


@router.post("/app/customers/hits/{hit_id}/decide")
def decide_hit(ui: BackOfficeDep, hit_id: int, form: FormDep):
    _viewer(ui)
    decision, reason = text(form, "decision") or "", text(form, "reason")
    back = safe_next(text(form, "back"), "/app/customers/screening")
    with read_session() as s:
        customer_id = compliance.get_hit(s, ui.actor, hit_id)["customer_id"]
    return _act(ui, customer_id, lambda s: compliance.decide_hit(s, ui.actor, hit_id, decision, reason),
                f"Screening hit {hit_id} decided: {decision.replace('_', ' ')}", back)


@router.post("/app/customers/changes/{change_id}/{decision}")
def decide_change(ui: BackOfficeDep, change_id: int, decision: str, form: FormDep,
                  back: str | None = Query(None, max_length=200)):
    _viewer(ui)
    fn = {"approve": changes.approve_change, "reject": changes.reject_change}.get(decision)
    with read_session() as s:
        customer_id = changes.get(s, ui.company_id, change_id).customer_id
    if fn is None:
        return _customer_page(ui, customer_id, 404, f"a change is approved or rejected, not {decision!r}")
    reason = text(form, "reason")
    return _act(ui, customer_id, lambda s: fn(s, ui.actor, ui.company_id, change_id, reason),
                f"Change {change_id} {decision}d", back)
