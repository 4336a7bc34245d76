"""Credit approval routing and queues: the company's routes (data), the request a credit hold opens,
and the approvers' decisions. docs/credit.md.

A credit hold opens one ApprovalRequest, routed by the order's total and the customer's latest grade to
a role and a number of approvers (o2c.credit.rules.choose_route). Approvers need credit.approve and the
route's role (a credit manager covers an analyst); the user who entered the order never decides it
(rule "enter_order_vs_approve_credit"), nobody approves twice, and nothing is decided on a cancelled
order or a decided request. Enough approvals release the hold (orders.service.release_gate_hold); one
rejection cancels the order (orders.service.reject_gate_hold). Every refusal is raised before anything
is written.

Locking: a decision locks the order first, then the request, the order in which cancelling an order
reaches its requests (cancel -> gate closed -> cancel_requests), so the two never deadlock, and two
approvers giving the last approval at once are served one after the other: the second finds the request
approved already.
"""
from __future__ import annotations

from sqlalchemy import delete, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from o2c.core import audit, clock, sod
from o2c.core.auth import Actor, require
from o2c.core.errors import Conflict, Forbidden, NotFound, ValidationFailed
from o2c.core.events import emit
from o2c.core.models import User
from o2c.core.money import round_money
from o2c.credit import rules
from o2c.credit.models import ApprovalDecision, ApprovalRequest, ApprovalRoute
from o2c.customers.models import Customer
from o2c.orders.models import Order

KIND = "credit"
STATUSES = ("pending", "approved", "rejected", "cancelled")


def _staff_only(actor: Actor) -> None:
    if actor.customer_id is not None:
        raise Forbidden("credit decisions are for the company's staff", permission="credit.approve")


# ---------------------------------------------------------------- routes

def _as_rule(r: ApprovalRoute) -> rules.Route:
    return rules.Route(r.position, r.min_amount, r.max_amount, r.max_grade, r.role, r.approvals, r.description, r.id)


def _stored(session: Session, company_id: int) -> list[ApprovalRoute]:
    return list(session.scalars(select(ApprovalRoute).where(ApprovalRoute.company_id == company_id,
                                                            ApprovalRoute.kind == KIND)
                                .order_by(ApprovalRoute.position)))


def routes_for(session: Session, company_id: int, cache: dict | None = None) -> list[rules.Route]:
    """The company's routes, or the defaults while it has none stored (read only: the gate calls this)."""
    if cache is not None and "routes" in cache:
        return cache["routes"]
    found = [_as_rule(r) for r in _stored(session, company_id)] or list(rules.DEFAULT_ROUTES)
    if cache is not None:
        cache["routes"] = found
    return found


def _seed(session: Session, company_id: int) -> list[ApprovalRoute]:
    """The company's stored routes, the defaults written first if it has none (first use). Two first uses
    at once: one inserts, the other's insert fails on the unique position and it reads the winner's."""
    stored = _stored(session, company_id)
    if stored:
        return stored
    try:
        with session.begin_nested():
            session.add_all([ApprovalRoute(company_id=company_id, kind=KIND, position=r.position,
                                           min_amount=r.min_amount, max_amount=r.max_amount, max_grade=r.max_grade,
                                           role=r.role, approvals=r.approvals, description=r.description)
                             for r in rules.DEFAULT_ROUTES])
    except IntegrityError:
        pass
    return _stored(session, company_id)


def routes_view(session: Session, actor: Actor, company_id: int) -> dict:
    stored = _stored(session, company_id)
    items = [_as_rule(r) for r in stored] or list(rules.DEFAULT_ROUTES)
    return {"defaults": not stored, "routes": [_route_dict(r) for r in items]}


def _route_dict(r: rules.Route) -> dict:
    return {"position": r.position, "min_amount": r.min_amount, "max_amount": r.max_amount,
            "max_grade": r.max_grade, "role": r.role, "approvals": r.approvals, "description": r.description}


def set_routes(session: Session, actor: Actor, company_id: int, routes: list[dict]) -> dict:
    """Replace the company's credit routes (company.write). Routes are kept by position: a position
    kept is updated in place; a request routed by a route now removed keeps its role and approvals
    (copied onto it) and loses only the link."""
    require(actor, "company.write")
    _staff_only(actor)
    wanted = rules.check_routes(routes)
    before = {r.position: r for r in _stored(session, company_id)}
    old = [_route_dict(_as_rule(r)) for r in before.values()]
    keep = {r.position for r in wanted}
    gone = [r.id for p, r in before.items() if p not in keep]
    if gone:
        session.execute(update(ApprovalRequest).where(ApprovalRequest.route_id.in_(gone)).values(route_id=None))
        session.execute(delete(ApprovalRoute).where(ApprovalRoute.id.in_(gone)))
    for w in wanted:
        row = before.get(w.position) or ApprovalRoute(company_id=company_id, kind=KIND, position=w.position)
        row.min_amount, row.max_amount, row.max_grade = w.min_amount, w.max_amount, w.max_grade
        row.role, row.approvals, row.description = w.role, w.approvals, w.description
        session.add(row)
    session.flush()
    audit.record(session, actor, "approval_routes", company_id, "routes_changed", company_id=company_id,
                 data={"before": [_plain(r) for r in old], "after": [_plain(_route_dict(r)) for r in wanted]})
    return routes_view(session, actor, company_id)


def _plain(d: dict) -> dict:
    return {k: (str(v) if v is not None and k.endswith("amount") else v) for k, v in d.items()}


# ---------------------------------------------------------------- requests opened and closed by the gate

def _pending(session: Session, order_id: int, *, lock: bool = False) -> list[ApprovalRequest]:
    stmt = select(ApprovalRequest).where(ApprovalRequest.order_id == order_id, ApprovalRequest.kind == KIND,
                                         ApprovalRequest.status == "pending").order_by(ApprovalRequest.id)
    if lock:
        stmt = stmt.with_for_update().execution_options(populate_existing=True)
    return list(session.scalars(stmt))


def open_request(session: Session, actor: Actor, company_id: int, order_id: int, reasons: list[dict]) -> ApprovalRequest:
    """A credit hold was placed on the order: route it to the people who decide it."""
    from o2c.credit.exposure import latest_grade

    order = session.get(Order, order_id)
    grade = latest_grade(session, company_id, order.customer_id)
    route = rules.choose_route([_as_rule(r) for r in _seed(session, company_id)], order.total, grade)
    approvals = max(route.approvals, 1)  # a hold is opened only when its route needs a person
    now = clock.now()
    for old in _pending(session, order_id):  # a hold opens one request: an older one is superseded
        old.status, old.decided_at = "cancelled", now
    req = ApprovalRequest(company_id=company_id, kind=KIND, order_id=order_id, customer_id=order.customer_id,
                          route_id=route.id, role=route.role or rules.MANAGER, approvals_required=approvals,
                          amount=order.total, currency=order.currency, reasons=reasons, status="pending",
                          requested_at=now)
    session.add(req)
    session.flush()
    data = {"approval_id": req.id, "amount": str(order.total), "currency": order.currency, "role": req.role,
            "approvals_required": approvals, "grade": grade or f"unscored (routed as {rules.UNSCORED_GRADE})",
            "route": route.description}
    _record(session, actor, req, order, "credit_approval_requested", None, data)
    emit(session, "credit.approval_requested", {"approval_id": req.id, "order_id": order_id, "role": req.role},
         company_id=company_id, entity_id=req.id)
    return req


def cancel_requests(session: Session, actor: Actor, company_id: int, order_id: int, why: str) -> None:
    """The order was cancelled or its credit hold cleared without a decision: nothing left to decide."""
    order = session.get(Order, order_id)
    now = clock.now()
    for req in _pending(session, order_id):
        req.status, req.decided_at = "cancelled", now
        _record(session, actor, req, order, "credit_approval_cancelled", why, {"approval_id": req.id})


def _record(session: Session, actor: Actor, req: ApprovalRequest, order: Order, action: str, reason: str | None,
            data: dict) -> None:
    """On the order's timeline and on the customer's."""
    audit.record(session, actor, "order", order.id, action, company_id=req.company_id, reason=reason,
                 from_status=order.status, to_status=order.status, data=data)
    audit.record(session, actor, "customer", req.customer_id, action, company_id=req.company_id, reason=reason,
                 data={"order_id": order.id, "order_number": order.number, **data})


# ---------------------------------------------------------------- reading

def _roles_seen(actor: Actor, role: str | None) -> set[str]:
    if role is not None:
        if role not in rules.APPROVER_ROLES:
            raise ValidationFailed.one("role", "unknown", f"role must be one of {', '.join(rules.APPROVER_ROLES)}")
        return set(rules.COVERS[role])
    covered = set().union(*(rules.COVERS.get(r, set()) for r in actor.roles))
    return covered or set(rules.APPROVER_ROLES)  # an administrator or auditor sees every queue


def queue(session: Session, actor: Actor, company_id: int, *, role: str | None = None, status: str = "pending",
          after_id: int | None = None, limit: int = 50) -> list[dict]:
    """A role's queue, oldest first (a credit manager's includes the analysts' items). Without a role: the
    queues of the user's own credit roles."""
    _staff_only(actor)
    if status not in (*STATUSES, "all"):
        raise ValidationFailed.one("status", "unknown", f"status must be one of {', '.join(STATUSES)} or all")
    stmt = (select(ApprovalRequest).where(ApprovalRequest.company_id == company_id, ApprovalRequest.kind == KIND,
                                          ApprovalRequest.role.in_(sorted(_roles_seen(actor, role))))
            .order_by(ApprovalRequest.id).limit(limit))
    if status != "all":
        stmt = stmt.where(ApprovalRequest.status == status)
    if after_id is not None:
        stmt = stmt.where(ApprovalRequest.id > after_id)
    return views(session, list(session.scalars(stmt)))


def get_request(session: Session, actor: Actor, company_id: int, request_id: int) -> ApprovalRequest:
    _staff_only(actor)
    req = session.scalar(select(ApprovalRequest).where(ApprovalRequest.id == request_id,
                                                       ApprovalRequest.company_id == company_id))
    if req is None:
        raise NotFound(f"approval {request_id} not found")
    return req


def views(session: Session, reqs: list[ApprovalRequest]) -> list[dict]:
    """Requests as the API shows them, with their decisions (three queries for the page)."""
    if not reqs:
        return []
    ids = [r.id for r in reqs]
    decisions: dict[int, list] = {}
    for d, username in session.execute(select(ApprovalDecision, User.username).join(User, User.id == ApprovalDecision.user_id)
                                       .where(ApprovalDecision.request_id.in_(ids)).order_by(ApprovalDecision.id)):
        decisions.setdefault(d.request_id, []).append(
            {"user": username, "decision": d.decision, "reason": d.reason, "decided_at": d.decided_at})
    codes = dict(session.execute(select(Customer.id, Customer.code)
                                 .where(Customer.id.in_({r.customer_id for r in reqs}))).all())
    entered = dict(session.execute(select(Order.id, Order.entered_by)
                                   .where(Order.id.in_({r.order_id for r in reqs if r.order_id}))).all())
    out = []
    for r in reqs:
        ds = decisions.get(r.id, [])
        out.append({
            "id": r.id, "kind": r.kind, "order_id": r.order_id,
            "order_number": f"SO{r.order_id:08d}" if r.order_id else None, "order_entered_by": entered.get(r.order_id),
            "customer_id": r.customer_id, "customer_code": codes.get(r.customer_id),
            "amount": round_money(r.amount, r.currency),
            "currency": r.currency, "reasons": r.reasons, "role": r.role, "approvals_required": r.approvals_required,
            "approvals_given": sum(1 for d in ds if d["decision"] == "approve"), "status": r.status,
            "requested_at": r.requested_at, "decided_at": r.decided_at, "decisions": ds,
        })
    return out


def pending_for_order(session: Session, actor: Actor, company_id: int, order_id: int) -> dict:
    """The order's request waiting for a decision, as `views` shows it (NotFound when none)."""
    _staff_only(actor)
    req = session.scalar(select(ApprovalRequest).where(
        ApprovalRequest.company_id == company_id, ApprovalRequest.kind == KIND, ApprovalRequest.order_id == order_id,
        ApprovalRequest.status == "pending").order_by(ApprovalRequest.id.desc()).limit(1))
    if req is None:
        raise NotFound(f"order {order_id} has no credit approval waiting")
    return views(session, [req])[0]


def refusals(session: Session, actor: Actor, items: list[dict]) -> dict[int, dict[str, str | None]]:
    """Per request id (items as `views` shows them), why `actor` may not "approve" or "reject" it now, or
    None: the checks `approve` and `reject` make, read-only, so a page shows the action disabled with its
    reason instead of a button that is refused."""
    ids = [v["id"] for v in items]
    decided: dict[int, list[tuple[int, str, set[str]]]] = {}
    if ids:
        for request_id, user_id, decision, roles in session.execute(
                select(ApprovalDecision.request_id, ApprovalDecision.user_id, ApprovalDecision.decision, User.roles)
                .join(User, User.id == ApprovalDecision.user_id).where(ApprovalDecision.request_id.in_(ids))):
            decided.setdefault(request_id, []).append((user_id, decision, set(roles.split())))
    out = {}
    for v in items:
        why = _refusal(session, actor, v, decided.get(v["id"], []))
        if why:
            out[v["id"]] = {"approve": why, "reject": why}
            continue
        given = [roles for _, d, roles in decided.get(v["id"], []) if d == "approve"]
        with_role = sum(1 for roles in given if rules.may_act(roles, v["role"]))
        out[v["id"]] = {
            "approve": _role_refusal(v, rules.approval_refusal(
                roles=actor.roles, route_role=v["role"], required=v["approvals_required"],
                approvers_with_role=with_role, given=len(given))),
            "reject": _role_refusal(v, rules.approval_refusal(
                roles=actor.roles, route_role=v["role"], required=v["approvals_required"],
                approvers_with_role=1, given=0)),
        }
    return out


def _refusal(session: Session, actor: Actor, v: dict, decided: list[tuple[int, str, set[str]]]) -> str | None:
    """What refuses both decisions, in the order `_load_for_decision` checks it."""
    if not actor.can("credit.approve") or actor.customer_id is not None:
        return "needs the credit.approve permission (a credit analyst or credit manager)"
    if v["status"] != "pending":
        return f"this approval is {v['status']} already"
    rule = sod.conflict(session, actor, "approve_credit", "enter_order", [v["order_entered_by"]])
    if rule is not None:
        return f"You entered this order: segregation of duties — {rule.title}"
    mine = next((d for user_id, d, _ in decided if user_id == actor.user_id), None)
    if mine is not None:
        return f"you already {'approved' if mine == 'approve' else 'rejected'}; another approver is needed"
    return None


def _role_refusal(v: dict, refusal: str | None) -> str | None:
    if refusal is None or v["approvals_required"] > 1 or not v["role"]:
        return refusal
    return f"needs the {v['role']} role for {rules.money(v['amount'], v['currency'])}"


# ---------------------------------------------------------------- deciding

def _reason(reason: str | None) -> str:
    if reason is None or not reason.strip():
        raise ValidationFailed.one("reason", "required", "give the reason for the decision")
    return reason.strip()


def _load_for_decision(session: Session, actor: Actor, company_id: int, request_id: int, reason: str | None):
    """Every check a decision needs, before anything is written: returns (request, order, decisions)."""
    from o2c.orders import service as orders  # orders run the credit gate: import at use, not at load

    require(actor, "credit.approve")
    _staff_only(actor)
    why = _reason(reason)
    req = get_request(session, actor, company_id, request_id)
    order = orders.get_order(session, actor, company_id, req.order_id, lock=True, holds=False)
    req = session.scalar(select(ApprovalRequest).where(ApprovalRequest.id == request_id).with_for_update()
                         .execution_options(populate_existing=True))
    if order.status == "cancelled":
        raise Conflict(f"order {order.number} was cancelled; there is nothing left to decide",
                       approval_id=req.id, current_status=order.status)
    if req.status != "pending":
        raise Conflict(f"approval {req.id} is {req.status} already", approval_id=req.id, current_status=req.status)
    sod.check(session, actor, "approve_credit", "enter_order", [order.entered_by])
    decisions = list(session.scalars(select(ApprovalDecision).where(ApprovalDecision.request_id == req.id)))
    if any(d.user_id == actor.user_id for d in decisions):
        raise Conflict(f"user {actor.username!r} has decided approval {req.id} already; another approver is needed",
                       approval_id=req.id)
    return req, order, decisions, why


def _approver_roles(session: Session, user_ids: list[int]) -> list[set[str]]:
    if not user_ids:
        return []
    return [set(roles.split()) for roles in session.scalars(select(User.roles).where(User.id.in_(user_ids)))]


def approve(session: Session, actor: Actor, company_id: int, request_id: int, reason: str | None) -> dict:
    """One approval; the last one needed releases the credit hold (the order moves on)."""
    from o2c.orders import service as orders

    req, order, decisions, why = _load_for_decision(session, actor, company_id, request_id, reason)
    given = [d for d in decisions if d.decision == "approve"]
    with_role = sum(1 for roles in _approver_roles(session, [d.user_id for d in given])
                    if rules.may_act(roles, req.role))
    refusal = rules.approval_refusal(roles=actor.roles, route_role=req.role, required=req.approvals_required,
                                     approvers_with_role=with_role, given=len(given))
    if refusal:
        raise Forbidden(f"user {actor.username!r} may not approve approval {req.id}: {refusal}",
                        approval_id=req.id, role=req.role)
    now = clock.now()
    session.add(ApprovalDecision(request_id=req.id, user_id=actor.user_id, decision="approve", reason=why,
                                 decided_at=now))
    count = len(given) + 1
    data = {"approval_id": req.id, "approvals_given": count, "approvals_required": req.approvals_required}
    _record(session, actor, req, order, "credit_approval_given", why, data)
    if count >= req.approvals_required:
        req.status, req.decided_at = "approved", now
        session.flush()  # the gate reads the approved amount when the order is checked again
        emit(session, "credit.approval_decided", {"approval_id": req.id, "order_id": order.id, "decision": "approved"},
             company_id=company_id, entity_id=req.id)
        orders.release_gate_hold(session, actor, company_id, order.id, KIND, why,
                                 data={"approval_id": req.id, "amount": str(req.amount)})
    session.flush()
    return views(session, [req])[0]


def reject(session: Session, actor: Actor, company_id: int, request_id: int, reason: str | None) -> dict:
    """A rejection decides the request: the order is cancelled with the reason."""
    from o2c.orders import service as orders

    req, order, decisions, why = _load_for_decision(session, actor, company_id, request_id, reason)
    # Any approver who could take part in the decision may reject it.
    refusal = rules.approval_refusal(roles=actor.roles, route_role=req.role, required=req.approvals_required,
                                     approvers_with_role=1, given=0)
    if refusal:
        raise Forbidden(f"user {actor.username!r} may not reject approval {req.id}: {refusal}",
                        approval_id=req.id, role=req.role)
    now = clock.now()
    session.add(ApprovalDecision(request_id=req.id, user_id=actor.user_id, decision="reject", reason=why,
                                 decided_at=now))
    req.status, req.decided_at = "rejected", now
    _record(session, actor, req, order, "credit_approval_rejected", why, {"approval_id": req.id})
    emit(session, "credit.approval_decided", {"approval_id": req.id, "order_id": order.id, "decision": "rejected"},
         company_id=company_id, entity_id=req.id)
    session.flush()
    orders.reject_gate_hold(session, actor, company_id, order.id, KIND, why, data={"approval_id": req.id})
    session.flush()
    return views(session, [req])[0]
