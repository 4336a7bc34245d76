"""Segregation of duties: the conflict matrix as data, its check on a record, and the report of users
whose roles conflict.

A rule pairs two duties that one person may not both perform on the same record (enter an order and
approve its credit; record a payment and issue a credit note for the invoice it paid). The matrix is the
`sod_rules` table; until an administrator changes it (`configure`) the defaults below apply, so a fresh
database is protected without a seeding step.

Services call `check(session, actor, duty, other_duty, done_by)` before they write, with the users who
performed the other duty on that record; a conflict raises Forbidden naming the rule's code. The check
holds for administrators too: the point of the rule is that no single person does both.
"""
from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from o2c.core import audit, clock
from o2c.core.auth import ROLES, Actor, require
from o2c.core.errors import ErrorList, Forbidden
from o2c.core.models import SodRule, User, UserCompany

# duty -> the permission that lets a user perform it (for the user-level conflict report)
DUTIES: dict[str, str] = {
    "enter_order": "orders.write",
    "approve_price": "holds.release_pricing",
    "approve_credit": "credit.approve",
    "request_customer_change": "masterdata.write",
    "approve_customer_change": "masterdata.approve",
    "record_payment": "payments.write",
    "issue_credit_note": "billing.write",
    "upload_kyc_document": "masterdata.write",
    "review_kyc_document": "kyc.review",
    "apply_customer": "masterdata.write",
    "activate_customer": "kyc.review",
    "review_fraud": "fraud.review",
}


@dataclass(frozen=True)
class Rule:
    code: str
    duty_a: str
    duty_b: str
    description: str
    active: bool = True

    def pairs(self, duty: str, other: str) -> bool:
        return {self.duty_a, self.duty_b} == {duty, other}

    @property
    def title(self) -> str:
        """The two duties in words: 'enter order vs approve credit'."""
        return f"{self.duty_a.replace('_', ' ')} vs {self.duty_b.replace('_', ' ')}"


DEFAULTS: tuple[Rule, ...] = (
    Rule("enter_order_vs_approve_credit", "enter_order", "approve_credit",
         "the user who entered an order cannot approve its credit hold"),
    Rule("enter_order_vs_approve_price", "enter_order", "approve_price",
         "the user who entered an order cannot approve its prices"),
    Rule("request_vs_approve_customer_change", "request_customer_change", "approve_customer_change",
         "the user who asked to change a customer's sensitive fields cannot approve that change"),
    Rule("record_payment_vs_issue_credit_note", "record_payment", "issue_credit_note",
         "the user who recorded a payment of an invoice cannot issue a credit note for it"),
    Rule("upload_vs_review_kyc_document", "upload_kyc_document", "review_kyc_document",
         "the user who uploaded a KYC document cannot review it"),
    Rule("apply_vs_activate_customer", "apply_customer", "activate_customer",
         "the user who applied for a customer cannot activate it"),
    Rule("enter_order_vs_fraud_review", "enter_order", "review_fraud",
         "the user who entered an order cannot decide its fraud review"),
)


def rules(session: Session) -> list[Rule]:
    """The matrix: the stored rules, or the defaults while none are stored."""
    rows = session.scalars(select(SodRule).order_by(SodRule.id)).all()
    if not rows:
        return list(DEFAULTS)
    return [Rule(r.code, r.duty_a, r.duty_b, r.description, r.active) for r in rows]


def rule_for(session: Session, duty: str, other: str) -> Rule | None:
    """The active rule that keeps `duty` and `other` apart, if any."""
    return next((r for r in rules(session) if r.active and r.pairs(duty, other)), None)


def conflict(session: Session, actor: Actor, duty: str, other: str, done_by: Iterable[int | None]) -> Rule | None:
    """The active rule `actor` would break by performing `duty` on a record on which they performed
    `other` (`done_by`: the users who did `other`), or None. Raises nothing: a page asks it to show an
    action disabled with its reason; `check` refuses with the same answer."""
    if duty not in DUTIES or other not in DUTIES:
        raise ValueError(f"unknown duty: {duty if duty not in DUTIES else other}")
    if actor.user_id is None or actor.user_id not in set(done_by):
        return None
    return rule_for(session, duty, other)


def check(session: Session, actor: Actor, duty: str, other: str, done_by: Iterable[int | None]) -> None:
    """Refuse `actor` performing `duty` on a record on which they performed `other` (`done_by`: the
    users who did `other` on that record). Raises Forbidden with the rule's code; changes nothing."""
    rule = conflict(session, actor, duty, other, done_by)
    if rule is not None:
        raise Forbidden(f"segregation of duties: {rule.description}", rule=rule.code)


# ---------------------------------------------------------------- the matrix, changed by an administrator

def configure(session: Session, actor: Actor, items: list[dict]) -> list[Rule]:
    """Replace the matrix: `items` [{code, duty_a, duty_b, description, active}]. Stored rules missing
    from `items` are deactivated (kept, so past decisions still name a known rule). Audited per rule."""
    require(actor, "sod.configure")
    errors = ErrorList()
    seen: set[str] = set()
    for i, item in enumerate(items):
        code = (item.get("code") or "").strip()
        if not code:
            errors.add(f"rules[{i}].code", "required", "a rule has a code")
        elif code in seen:
            errors.add(f"rules[{i}].code", "duplicate", f"rule {code!r} is given twice")
        seen.add(code)
        for side in ("duty_a", "duty_b"):
            if item.get(side) not in DUTIES:
                errors.add(f"rules[{i}].{side}", "unknown_duty",
                           f"unknown duty {item.get(side)!r}; known: {', '.join(sorted(DUTIES))}")
        if item.get("duty_a") == item.get("duty_b") and item.get("duty_a") in DUTIES:
            errors.add(f"rules[{i}].duty_b", "same_duty", "a rule keeps two different duties apart")
    errors.raise_if_any()
    stored = {r.code: r for r in session.scalars(select(SodRule).with_for_update())}
    if not stored:  # the first change: the defaults become rows, so what was in force is on record
        for d in DEFAULTS:
            stored[d.code] = SodRule(code=d.code, duty_a=d.duty_a, duty_b=d.duty_b, description=d.description,
                                     active=d.active, created_at=clock.now())
            session.add(stored[d.code])
        session.flush()
    wanted = {item["code"].strip(): item for item in items}
    for code, row in stored.items():
        item = wanted.get(code)
        new = (item["duty_a"], item["duty_b"], (item.get("description") or row.description),
               bool(item.get("active", True))) if item else (row.duty_a, row.duty_b, row.description, False)
        old = (row.duty_a, row.duty_b, row.description, row.active)
        if new != old:
            row.duty_a, row.duty_b, row.description, row.active = new
            audit.record(session, actor, "sod_rule", row.id, "changed", reason="conflict matrix changed",
                         data={"code": code, "before": _plain(old), "after": _plain(new)})
    for code, item in wanted.items():
        if code in stored:
            continue
        row = SodRule(code=code, duty_a=item["duty_a"], duty_b=item["duty_b"],
                      description=item.get("description") or f"{item['duty_a']} vs {item['duty_b']}",
                      active=bool(item.get("active", True)), created_at=clock.now())
        session.add(row)
        session.flush()
        audit.record(session, actor, "sod_rule", row.id, "added", reason="conflict matrix changed",
                     data={"code": code, "after": _plain((row.duty_a, row.duty_b, row.description, row.active))})
    session.flush()
    return rules(session)


def _plain(t: tuple) -> dict:
    return dict(zip(("duty_a", "duty_b", "description", "active"), t, strict=True))


# ---------------------------------------------------------------- users whose roles conflict

def role_conflicts(roles: Iterable[str], matrix: list[Rule]) -> list[Rule]:
    """The active rules whose two duties the roles together allow (pure)."""
    perms: set[str] = set()
    for r in roles:
        perms |= ROLES.get(r, frozenset())
    return [r for r in matrix if r.active and DUTIES[r.duty_a] in perms and DUTIES[r.duty_b] in perms]


def conflicts(session: Session, actor: Actor, company_id: int) -> list[dict]:
    """Users of the company whose roles hold both sides of an active rule; administrators are listed
    too, flagged, since their role holds every permission."""
    require(actor, "audit.read")
    matrix = rules(session)
    users = session.scalars(
        select(User).join(UserCompany, UserCompany.user_id == User.id)
        .where(UserCompany.company_id == company_id, User.active.is_(True), User.customer_id.is_(None))
        .order_by(User.username))
    out = []
    for u in users:
        roles = u.roles.split()
        found = role_conflicts(roles, matrix)
        if found:
            out.append({"user_id": u.id, "username": u.username, "roles": sorted(roles), "admin": "admin" in roles,
                        "conflicts": [{"rule": r.code, "duty_a": r.duty_a, "duty_b": r.duty_b,
                                       "description": r.description} for r in found]})
    return out
