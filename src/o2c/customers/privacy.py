"""Privacy requests about a person at a customer (a contact): export everything held on them, or erase it.

Where a contact's data can sit: the contact row; a customer whose own email or phone is the contact's;
users with that email; orders shipped to the contact's name; reminder letters sent to the email; outbox
events (emails and webhooks, sent or waiting) whose payload carries the email, phone or name; audit
records whose data carries them.

Erasure pseudonymises rather than deletes, so every reference stays valid: the contact becomes
"erased-<id>" with no email or phone; the same values elsewhere become that pseudonym (names) or null
(email, phone); audit records are redacted keeping their hashes (o2c.core.audit.redact), so the chain
still verifies. Kept as they are, because the law requires them for years (EU VAT directive 2006/112/EC
art. 244-246 and national bookkeeping rules, e.g. 10 years in Germany, HGB §257 / AO §147; 6 in France
and the UK): invoices, credit notes, payments (payer name and IBAN as the bank reported them),
settlements and ledger entries. They carry the customer's legal name and addresses, not the contact's.
"""
from __future__ import annotations

from sqlalchemy import Text, cast, func, or_, select
from sqlalchemy.orm import Session

from o2c.core import audit, clock
from o2c.core.auth import Actor, require
from o2c.core.errors import Conflict, NotFound, ValidationFailed
from o2c.core.models import AuditRecord, OutboxEvent, User
from o2c.customers import service as customers
from o2c.customers.models import Customer, CustomerContact
from o2c.dunning.models import Reminder
from o2c.orders.models import Order

ERASED = "erased-{id}"


# ---------------------------------------------------------------- pure: finding and replacing values

def mentions(value, needles: set[str]) -> bool:
    """Whether a JSON value holds one of the strings (emails compared without case)."""
    if isinstance(value, str):
        return value.strip().lower() in needles
    if isinstance(value, dict):
        return any(mentions(v, needles) for v in value.values())
    if isinstance(value, list):
        return any(mentions(v, needles) for v in value)
    return False


def replaced(value, swap: dict[str, str | None]):
    """A copy of a JSON value with every string found in `swap` (lower-cased key) replaced."""
    if isinstance(value, str):
        key = value.strip().lower()
        return swap[key] if key in swap else value
    if isinstance(value, dict):
        return {k: replaced(v, swap) for k, v in value.items()}
    if isinstance(value, list):
        return [replaced(v, swap) for v in value]
    return value


# ---------------------------------------------------------------- loading the subject

def _contact(session: Session, actor: Actor, company_id: int, contact_id: int, lock: bool = False) -> CustomerContact:
    stmt = select(CustomerContact).where(CustomerContact.id == contact_id)
    if lock:
        stmt = stmt.with_for_update()
    contact = session.scalar(stmt)
    if contact is None:
        raise NotFound(f"contact {contact_id} not found")
    customers.load(session, company_id, contact.customer_id, actor)  # the company deals with that customer
    return contact


_PERSONAL = {"name": "name", "email": "email", "phone": "phone"}


def personal_values(value, found: dict[str, set[str]]) -> None:
    """Collect the strings held under the keys name, email and phone, at any depth (pure)."""
    if isinstance(value, dict):
        for k, v in value.items():
            if k in _PERSONAL and isinstance(v, str) and v.strip():
                found[_PERSONAL[k]].add(v.strip())
            else:
                personal_values(v, found)
    elif isinstance(value, list):
        for v in value:
            personal_values(v, found)


def _values(session: Session, contact: CustomerContact) -> dict[str, set[str]]:
    """The contact's values now, and those it had before: master data's records of the contact (on the
    customer's timeline, naming `contact_id`) keep earlier names, emails and phones."""
    found: dict[str, set[str]] = {"name": set(), "email": set(), "phone": set()}
    for kind, v in (("name", contact.name), ("email", contact.email), ("phone", contact.phone)):
        if v and v.strip():
            found[kind].add(v.strip())
    t = AuditRecord.__table__
    for data in session.connection().execute(select(t.c.data).where(t.c.entity == "customer",
                                                                    t.c.entity_id == contact.customer_id)).scalars():
        if isinstance(data, dict) and data.get("contact_id") == contact.id:
            personal_values(data, found)
    found["name"].discard(ERASED.format(id=contact.id))
    return found


def _swap(values: dict[str, set[str]], contact_id: int) -> dict[str, str | None]:
    """What each of the contact's values becomes: a name its pseudonym, an email or phone nothing."""
    out: dict[str, str | None] = {v.lower(): None for kind in ("email", "phone") for v in values[kind]}
    out.update({v.lower(): ERASED.format(id=contact_id) for v in values["name"]})
    return out


def _json_like(col, needles: set[str]):
    """A cheap SQL pre-filter (the JSON's text contains one of the strings); `mentions` then decides."""
    text = func.lower(cast(col, Text))
    return or_(*(text.contains(n, autoescape=True) for n in needles))


def _found(session: Session, company_id: int, contact: CustomerContact, values: dict[str, set[str]]) -> dict:
    email = (contact.email or "").strip().lower() or None
    phone = contact.phone or None
    name = contact.name
    needles = set(_swap(values, contact.id))
    cid = contact.customer_id
    found: dict = {
        "customers": list(session.scalars(select(Customer).where(
            or_(func.lower(Customer.email) == email if email else False,
                Customer.phone == phone if phone else False)).order_by(Customer.id))) if (email or phone) else [],
        "users": list(session.scalars(select(User).where(func.lower(User.email) == email).order_by(User.id)))
        if email else [],
        "orders": list(session.scalars(select(Order).where(Order.company_id == company_id, Order.customer_id == cid,
                                                           Order.ship_to_name == name).order_by(Order.id))),
        "reminders": list(session.scalars(select(Reminder).where(Reminder.company_id == company_id,
                                                                 func.lower(Reminder.email) == email)
                                          .order_by(Reminder.id))) if email else [],
        "outbox": [], "audit": [],
    }
    if needles:
        own = or_(OutboxEvent.company_id == company_id, OutboxEvent.company_id.is_(None))
        found["outbox"] = [e for e in session.scalars(select(OutboxEvent).where(own, _json_like(OutboxEvent.payload,
                                                                                                   needles))
                                                      .order_by(OutboxEvent.id)) if mentions(e.payload, needles)]
        t = AuditRecord.__table__
        rows = session.connection().execute(
            select(t).where(or_(t.c.company_id == company_id, t.c.company_id.is_(None)),
                            _json_like(t.c.data, needles)).order_by(t.c.id)).mappings()
        found["audit"] = [dict(r) for r in rows if mentions(r["data"], needles)]
    return found


# ---------------------------------------------------------------- finding the contact of a request

def find(session: Session, actor: Actor, company_id: int, email: str) -> list[CustomerContact]:
    """The contacts, at customers this company deals with, whose email is the one a request came from."""
    require(actor, "privacy.write")
    wanted = (email or "").strip().lower()
    if not wanted:
        raise ValidationFailed.one("email", "required", "the email address the request came from")
    found = []
    for c in session.scalars(select(CustomerContact).where(func.lower(CustomerContact.email) == wanted)
                             .order_by(CustomerContact.id)):
        try:
            customers.load(session, company_id, c.customer_id, actor)
        except NotFound:
            continue
        found.append(c)
    return found


# ---------------------------------------------------------------- export

def export(session: Session, actor: Actor, company_id: int, contact_id: int) -> dict:
    """All personal data held on the contact, in one document (the export is itself audited)."""
    require(actor, "privacy.write")
    contact = _contact(session, actor, company_id, contact_id)
    f = _found(session, company_id, contact, _values(session, contact))
    out = {
        "contact": {"id": contact.id, "customer_id": contact.customer_id, "name": contact.name, "role": contact.role,
                    "email": contact.email, "phone": contact.phone, "created_at": contact.created_at,
                    "erased_at": contact.erased_at},
        "customers": [{"id": c.id, "code": c.code, "legal_name": c.legal_name, "email": c.email, "phone": c.phone}
                      for c in f["customers"]],
        "users": [{"id": u.id, "username": u.username, "display_name": u.display_name, "email": u.email}
                  for u in f["users"]],
        "orders": [{"id": o.id, "po_number": o.po_number, "order_date": o.order_date, "ship_to": o.ship_to()}
                   for o in f["orders"]],
        "reminders": [{"id": r.id, "level": r.level, "sent_on": r.sent_on, "email": r.email} for r in f["reminders"]],
        "messages": [{"id": e.id, "topic": e.topic, "created_at": e.created_at, "payload": e.payload}
                     for e in f["outbox"]],
        "audit": [{"id": r["id"], "at": r["at"], "actor": r["actor"], "entity": r["entity"],
                   "entity_id": r["entity_id"], "action": r["action"], "data": r["data"]} for r in f["audit"]],
        "kept_for_legal_retention": KEPT,
    }
    audit.record(session, actor, "contact", contact.id, "exported", company_id=company_id,
                 reason="data subject access request",
                 data={"counts": {k: len(v) for k, v in out.items() if isinstance(v, list)}})
    return out


KEPT = ("invoices, credit notes, payments, settlements and ledger entries are kept unchanged: tax and "
        "bookkeeping law requires them for years (EU VAT directive 2006/112/EC art. 244-246; national rules "
        "such as HGB §257 / AO §147). They name the customer (its legal name and addresses), not the contact.")


# ---------------------------------------------------------------- erasure

def erase(session: Session, actor: Actor, company_id: int, contact_id: int, reason: str) -> dict:
    """Pseudonymise the contact and every copy of its data, keeping what the law requires. Returns what
    was changed, by kind. Erasing twice is refused (409): the values to look for are gone."""
    require(actor, "privacy.write")
    reason = (reason or "").strip()
    if not reason:
        raise ValidationFailed.one("reason", "required", "an erasure states the request it answers")
    contact = _contact(session, actor, company_id, contact_id, lock=True)
    if contact.erased_at is not None:
        raise Conflict(f"contact {contact_id} was erased already", erased_at=contact.erased_at.isoformat())
    values = _values(session, contact)
    swap = _swap(values, contact.id)
    f = _found(session, company_id, contact, values)
    email = (contact.email or "").strip().lower()
    pseudonym = ERASED.format(id=contact.id)
    now = clock.now()

    for c in f["customers"]:
        if email and (c.email or "").strip().lower() == email:
            c.email = None
        if contact.phone and c.phone == contact.phone:
            c.phone = None
    for u in f["users"]:
        u.email = None
    for o in f["orders"]:
        o.ship_to_name = pseudonym
    for r in f["reminders"]:
        r.email = None
    for e in f["outbox"]:
        e.payload = replaced(e.payload, swap)
    contact.name, contact.email, contact.phone, contact.erased_at = pseudonym, None, None, now
    session.flush()
    changed = {"contact": 1, "customers": len(f["customers"]), "users": len(f["users"]), "orders": len(f["orders"]),
               "reminders": len(f["reminders"]), "messages": len(f["outbox"])}
    # The erasure's own record names ids and counts only, never the erased values.
    audit.record(session, actor, "contact", contact.id, "erased", company_id=company_id, reason=reason,
                 data={"customer_id": contact.customer_id, "changed": changed,
                       "customer_ids": [c.id for c in f["customers"]], "user_ids": [u.id for u in f["users"]],
                       "order_ids": [o.id for o in f["orders"]]})
    audit.record(session, actor, "customer", contact.customer_id, "contact_erased", company_id=company_id,
                 reason=reason, data={"contact_id": contact.id})
    redacted = audit.redact(session, actor, {r["id"]: replaced(r["data"], swap) for r in f["audit"]},
                            entity="contact", entity_id=contact.id, company_id=company_id, reason=reason)
    changed["audit_records"] = len(redacted)
    return {"contact_id": contact.id, "erased_at": now, "pseudonym": pseudonym, "changed": changed, "kept": KEPT}

