"""Queues: orders held for validation, pricing, credit, compliance and fraud, each decided with a reason.

Each queue lists its held orders with the reasons and their figures; each row offers the decisions of its
area (the same services as the API). An action the user may not take shows disabled with the reason, asked
of the same rules the services enforce (o2c.web.ui.queue_rules, o2c.credit.approvals.refusals); a decision
the service refuses anyway is shown beside the row's reason field and changes nothing.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Form, Query
from fastapi.responses import Response
from pydantic import ValidationError
from sqlalchemy.orm import Session

from o2c.compliance import service as compliance
from o2c.core.db import read_session, transaction
from o2c.core.errors import Conflict, NotFound, O2CError
from o2c.core.schemas import IdPath
from o2c.core.users import usernames
from o2c.credit import approvals
from o2c.credit.rules import APPROVER_ROLES
from o2c.customers import service as customers
from o2c.fraud import service as fraud
from o2c.orders import service as orders
from o2c.orders.models import Order
from o2c.orders.schemas import ReasonIn
from o2c.web.ui.context import BackOfficeDep, Ui
from o2c.web.ui.forms import errors_of
from o2c.web.ui.pages import fragment, page, redirect
from o2c.web.ui.queue_rules import lacks, refusal

router = APIRouter(include_in_schema=False)

LIMIT = 200  # rows per queue (and per hold kind read); the overview shows "200+" beyond it


@dataclass(frozen=True)
class Queue:
    kind: str
    title: str
    any_of: tuple[str, ...]  # shown to a user holding any of these permissions
    about: str


QUEUES = {q.kind: q for q in (
    Queue("validation", "Validation", ("holds.release",),
          "Orders that break a business rule (corrected on the order) or repeat a live order's PO number."),
    Queue("pricing", "Pricing", ("holds.release_pricing",),
          "Price overrides and discounts beyond the company's threshold, released by a pricing approver."),
    Queue("credit", "Credit", ("credit.approve",),
          "Orders beyond the customer's credit, routed by amount and grade to a credit analyst or manager."),
    Queue("compliance", "Compliance", ("screening.write",),
          "Orders of customers with a sanctions screening hit: decide the hit, true match or false positive."),
    Queue("fraud", "Fraud", ("fraud.review",),
          "Orders whose fraud score reached the review threshold."),
)}


@dataclass
class Act:
    verb: str  # approve, reject or release: the last part of the POST path
    label: str
    url: str
    why: str | None = None  # None: allowed


@dataclass
class Row:
    order_id: int
    number: str
    customer: str
    customer_name: str
    total: object
    currency: str
    since: datetime | None
    entered_by: str | None
    reasons: list[str]
    details: list[str] = field(default_factory=list)
    actions: list[Act] = field(default_factory=list)

    @property
    def allowed(self) -> list[Act]:
        return [a for a in self.actions if a.why is None]

    @property
    def refused(self) -> list[Act]:
        return [a for a in self.actions if a.why is not None]


def _queue(ui: Ui, kind: str) -> Queue:
    q = QUEUES.get(kind)
    if q is None:
        raise NotFound(f"there is no {kind!r} queue (queues: {', '.join(QUEUES)})")
    ui.require_any(*q.any_of)
    return q


def _url(kind: str, order_id: int, verb: str, **query) -> str:
    q = "&".join(f"{k}={v}" for k, v in query.items())
    return f"/app/queues/{kind}/{order_id}/{verb}" + (f"?{q}" if q else "")


# ---------------------------------------------------------------- reading the queues

def _held(s: Session, ui: Ui, kinds: tuple[str, ...]) -> list[tuple[Order, list]]:
    """Held orders with an active hold of `kinds`, with those holds, longest waiting first."""
    found: dict[int, Order] = {}
    for kind in kinds:
        for o in orders.list_orders(s, ui.actor, ui.company_id, status="held", hold_kind=kind, limit=LIMIT):
            found[o.id] = o
    out = [(o, [h for h in o.holds if h.active and h.kind in kinds]) for o in found.values()]
    return sorted(out, key=lambda x: (min(h.created_at for h in x[1]), x[0].id))[:LIMIT]


def _order_rows(s: Session, ui: Ui, kinds: tuple[str, ...]) -> list[tuple[Row, Order, list]]:
    held = _held(s, ui, kinds)
    names = customers.labels(s, ui.company_id, {o.customer_id for o, _ in held})
    users = usernames(s, {o.entered_by for o, _ in held})
    rows = []
    for o, holds in held:
        code, name = names.get(o.customer_id, (str(o.customer_id), ""))
        reasons = [_hold_reason(h, r, len(kinds) > 1) for h in holds for r in h.reasons]
        rows.append((Row(o.id, o.number, code, name, o.total, o.currency, min(h.created_at for h in holds),
                         users.get(o.entered_by), reasons), o, holds))
    return rows


def _hold_reason(hold, reason: dict, name_kind: bool) -> str:
    return f"{hold.kind}: {reason['message']}" if name_kind else reason["message"]


def _cancel(ui: Ui, kind: str, o: Order, label: str = "Cancel order") -> Act:
    return Act("reject", label, _url(kind, o.id, "reject"), lacks(ui.actor, "orders.write"))


def validation_rows(s: Session, ui: Ui, role: str | None) -> list[Row]:
    out = []
    for row, o, holds in _order_rows(s, ui, ("validation", "duplicate")):
        if any(h.kind == "duplicate" for h in holds):
            why = lacks(ui.actor, "holds.release")
            release = Act("release", "Not a duplicate: release", _url("validation", o.id, "release"), why)
        else:
            found = "; ".join(r["message"] for h in holds for r in h.reasons)
            release = Act("release", "Release", _url("validation", o.id, "release"), f"correct the order: {found}")
        row.actions = [release, _cancel(ui, "validation", o)]
        out.append(row)
    return out


def pricing_rows(s: Session, ui: Ui, role: str | None) -> list[Row]:
    out = []
    for row, o, _ in _order_rows(s, ui, ("pricing",)):
        why = refusal(s, ui.actor, "holds.release_pricing", "approve_price", o.entered_by)
        row.actions = [Act("release", "Approve prices", _url("pricing", o.id, "release"), why),
                       _cancel(ui, "pricing", o, "Reject: cancel order")]
        out.append(row)
    return out


def compliance_rows(s: Session, ui: Ui, role: str | None) -> list[Row]:
    out = []
    for row, o, _ in _order_rows(s, ui, ("compliance",)):
        hits = compliance.list_hits(s, ui.actor, ui.company_id, compliance.OPEN, customer_id=o.customer_id)
        why = lacks(ui.actor, "screening.write")
        for h in hits:
            row.details.append(
                f"Hit {h['id']}: {h['matched_name']!r} ~ {h['listed_name']!r}, score {h['score']}, "
                f"programs {', '.join(h['programs']) or '–'}" + "".join(f"; {r}" for r in h["reasons"]))
            row.actions += [Act("approve", f"Hit {h['id']}: false positive",
                                _url("compliance", o.id, "approve", hit=h["id"]), why),
                            Act("reject", f"Hit {h['id']}: true match", _url("compliance", o.id, "reject", hit=h["id"]),
                                why)]
        if not hits:
            row.details.append("No open hit: the customer's match was confirmed; the order waits to be cancelled.")
            row.actions.append(_cancel(ui, "compliance", o))
        out.append(row)
    return out


def credit_rows(s: Session, ui: Ui, role: str | None) -> list[Row]:
    items = approvals.queue(s, ui.actor, ui.company_id, role=role, limit=LIMIT)
    names = customers.labels(s, ui.company_id, {v["customer_id"] for v in items})
    users = usernames(s, {v["order_entered_by"] for v in items})
    refused = approvals.refusals(s, ui.actor, items)
    out = []
    for v in items:
        code, name = names.get(v["customer_id"], (v["customer_code"], ""))
        row = Row(v["order_id"], v["order_number"], code, name, v["amount"], v["currency"], v["requested_at"],
                  users.get(v["order_entered_by"]), [r["message"] for r in v["reasons"]])
        row.details.append(f"Routed to {v['role']}: {v['approvals_given']} of {v['approvals_required']} "
                           "approval(s) given")
        row.details += [f"{d['decision']}d by {d['user']}: {d['reason']}" for d in v["decisions"]]
        row.actions = [Act(verb, label, _url("credit", v["order_id"], verb), refused[v["id"]][verb])
                       for verb, label in (("approve", "Approve credit"), ("reject", "Reject: cancel order"))]
        out.append(row)
    return out


def fraud_rows(s: Session, ui: Ui, role: str | None) -> list[Row]:
    items = sorted(fraud.list_reviews(s, ui.actor, ui.company_id, "pending", limit=LIMIT), key=lambda v: v["id"])
    names = customers.labels(s, ui.company_id, {v["customer_id"] for v in items})
    users = usernames(s, {v["entered_by"] for v in items})
    out = []
    for v in items:
        code, name = names.get(v["customer_id"], (v["customer_code"], ""))
        reasons = [f"fraud score {v['score']}"] + [_fraud_reason(r) for r in v["reasons"]]
        row = Row(v["order_id"], v["order_number"], code, name, v["order_total"], v["currency"], v["created_at"],
                  users.get(v["entered_by"]), reasons)
        why = refusal(s, ui.actor, "fraud.review", "review_fraud", v["entered_by"])
        row.actions = [Act("approve", "Approve: legitimate", _url("fraud", v["order_id"], "approve"), why),
                       Act("reject", "Reject: fraud, cancel order", _url("fraud", v["order_id"], "reject"), why)]
        out.append(row)
    return out


def _fraud_reason(r: dict) -> str:
    if r.get("source") == "model":
        return f"model: {r['message']} (deviation {r.get('deviation')})"
    return f"{r['message']} (+{r.get('points')} points)"


ROWS: dict[str, Callable[[Session, Ui, str | None], list[Row]]] = {
    "validation": validation_rows, "pricing": pricing_rows, "credit": credit_rows,
    "compliance": compliance_rows, "fraud": fraud_rows,
}


# ---------------------------------------------------------------- deciding

def _reason(reason: str | None) -> str:
    """The reason an order decision needs, checked as the API checks it (ReasonIn)."""
    return ReasonIn.model_validate({"reason": reason} if reason else {}).reason


def _active_hold(s: Session, ui: Ui, order_id: int, kinds: tuple[str, ...]):
    o = orders.get_order(s, ui.actor, ui.company_id, order_id)
    for kind in kinds:  # in the order given: a duplicate hold is released before a validation one is tried
        hold = next((h for h in o.holds if h.active and h.kind == kind), None)
        if hold is not None:
            return hold
    raise Conflict(f"order {o.number} has no {' or '.join(kinds)} hold waiting", current_status=o.status)


def _release(kinds: tuple[str, ...]):
    def run(s: Session, ui: Ui, order_id: int, reason: str | None, hit: int | None) -> str:
        why = _reason(reason)
        hold = _active_hold(s, ui, order_id, kinds)
        o = orders.release_hold(s, ui.actor, ui.company_id, order_id, hold.id, why)
        return f"{o.number}: {hold.kind} hold released; the order is {o.status} now"
    return run


def _cancel_order(s: Session, ui: Ui, order_id: int, reason: str | None, hit: int | None) -> str:
    why = _reason(reason)
    o = orders.cancel(s, ui.actor, ui.company_id, order_id, why)
    return f"{o.number} cancelled: {why}"


def _credit(verb: str):
    def run(s: Session, ui: Ui, order_id: int, reason: str | None, hit: int | None) -> str:
        req = approvals.pending_for_order(s, ui.actor, ui.company_id, order_id)
        decide = approvals.approve if verb == "approve" else approvals.reject
        v = decide(s, ui.actor, ui.company_id, req["id"], reason)
        if v["status"] == "pending":
            return (f"{v['order_number']}: your approval is recorded ({v['approvals_given']} of "
                    f"{v['approvals_required']}); another approver is needed")
        return f"{v['order_number']}: credit {v['status']}" + ("; the order is cancelled" if verb == "reject" else "")
    return run


def _fraud(approve: bool):
    def run(s: Session, ui: Ui, order_id: int, reason: str | None, hit: int | None) -> str:
        review = fraud.pending_review(s, ui.actor, ui.company_id, order_id)
        v = fraud.decide(s, ui.actor, ui.company_id, review["id"], approve, reason or "")
        return f"{v['order_number']}: fraud review {v['status']}; the order is {v['order_status']} now"
    return run


def _screening(decision: str):
    def run(s: Session, ui: Ui, order_id: int, reason: str | None, hit: int | None) -> str:
        if hit is None:
            if decision == compliance.TRUE_MATCH:  # no hit left to decide: rejecting cancels the order
                return _cancel_order(s, ui, order_id, reason, hit)
            raise NotFound("name the screening hit to decide (hit=...)")
        o = orders.get_order(s, ui.actor, ui.company_id, order_id, holds=False)
        found = compliance.get_hit(s, ui.actor, hit)
        if found["customer_id"] != o.customer_id:
            raise NotFound(f"screening hit {hit} is not about the customer of order {o.number}")
        h = compliance.decide_hit(s, ui.actor, hit, decision, reason)
        return f"{o.number}: screening hit {h.id} decided a {decision.replace('_', ' ')}"
    return run


DECISIONS: dict[tuple[str, str], Callable[[Session, Ui, int, str | None, int | None], str]] = {
    ("validation", "release"): _release(("duplicate", "validation")),
    ("validation", "reject"): _cancel_order,
    ("pricing", "release"): _release(("pricing",)),
    ("pricing", "reject"): _cancel_order,
    ("credit", "approve"): _credit("approve"),
    ("credit", "reject"): _credit("reject"),
    ("compliance", "approve"): _screening(compliance.FALSE_POSITIVE),
    ("compliance", "reject"): _screening(compliance.TRUE_MATCH),
    ("fraud", "approve"): _fraud(True),
    ("fraud", "reject"): _fraud(False),
}


# ---------------------------------------------------------------- pages

def _page(ui: Ui, q: Queue, *, role: str | None = None, status: int = 200, failed: dict | None = None) -> Response:
    with read_session() as s:
        rows = ROWS[q.kind](s, ui, role)
    lost = failed if failed and not any(r.order_id == failed["order_id"] for r in rows) else None
    return page(ui, "app/queues/queue.html", status=status, active="/app/queues", title=f"{q.title} queue",
                q=q, rows=rows, role=role, failed=failed, lost=lost, roles=APPROVER_ROLES)


@router.get("/app/queues")
def overview(ui: BackOfficeDep):
    ui.require_any(*{p for q in QUEUES.values() for p in q.any_of})
    visible = [q for q in QUEUES.values() if ui.can(*q.any_of)]
    with read_session() as s:
        counts = [(q, len(ROWS[q.kind](s, ui, None))) for q in visible]
    return page(ui, "app/queues/index.html", active="/app/queues", title="Queues", counts=counts, limit=LIMIT,
                chart=[(q.title, n) for q, n in counts])


@router.get("/app/queues/{kind}")
def queue_page(kind: str, ui: BackOfficeDep, role: str | None = Query(None, max_length=40)):
    return _page(ui, _queue(ui, kind), role=role or None)


@router.post("/app/queues/{kind}/{order_id}/{verb}")
def decide(kind: str, order_id: IdPath, verb: str, ui: BackOfficeDep, hit: int | None = Query(None, ge=1),
           reason: Annotated[str, Form()] = ""):
    q = _queue(ui, kind)
    run = DECISIONS.get((kind, verb))
    if run is None:
        raise NotFound(f"the {kind} queue has no action {verb!r}")
    why = reason.strip() or None
    try:
        flash = transaction(lambda s: run(s, ui, order_id, why, hit))
    except (O2CError, ValidationError) as exc:
        status = exc.status if isinstance(exc, O2CError) and exc.status in (403, 404, 409) else 422
        failed = {"order_id": order_id, "errors": errors_of(exc), "values": {"reason": reason}}
        return _refused(ui, q, status, failed)
    return redirect(ui, f"/app/queues/{kind}", flash=flash)


def _refused(ui: Ui, q: Queue, status: int, failed: dict) -> Response:
    """The page again with the refusal beside the row's reason field; for htmx only that row (200, so htmx
    swaps it in place), or the message in #messages when the order has left the queue."""
    if not ui.request.headers.get("HX-Request"):
        return _page(ui, q, status=status, failed=failed)
    with read_session() as s:
        row = next((r for r in ROWS[q.kind](s, ui, None) if r.order_id == failed["order_id"]), None)
    if row is None:
        response = fragment(ui, "app/queues/_lost.html", failed=failed)
        response.headers.update({"HX-Retarget": "#messages", "HX-Reswap": "innerHTML"})
        return response
    return fragment(ui, "app/queues/_row.html", q=q, row=row, failed=failed)
