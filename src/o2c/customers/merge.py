"""Merge a duplicate customer into its golden record (the survivor), field by field under stated rules.

Survivorship (SURVIVORSHIP below, the same table in docs/master-data.md):
- legal_name and tax_id come from the record whose tax number python-stdnum validates for its billing
  country ("trusted": a registered number was checked); when both or neither validate, non-empty beats
  empty and the survivor wins the tie;
- email, phone, registration_id, the e-invoice address (endpoint id and scheme as one pair) and the
  parent: non-empty beats empty, the survivor wins ties;
- trading_names: the union of both, plus the legal name not kept (a name the customer was known by);
- compliance_hold: either one held keeps the golden record held (a sanctions question is never lost);
- the account's terms, limits and billing address stay the survivor's: they are sensitive fields and
  change only through an approved change (o2c.customers.changes), never as a side effect of a merge.
`choices` overrides a rule per field ("survivor" or "merged"), except the sensitive ones.

Master data moves to the survivor: addresses (as non-default), contacts, KYC documents, bank accounts
(an IBAN the survivor has already stays behind), subsidiaries (their parent becomes the survivor), and
the merged record's accounts with companies the survivor has no account with. Transactional rows
(orders, invoices, payments, ledger entries) stay on their customer id: posted documents are never
edited. The merged record keeps its status and gets merged_into_id: it leaves lists and duplicate
checks, new orders naming it are refused naming the golden record. Its pending sensitive changes are
withdrawn. A CustomerMerge row keeps each field's decision, a snapshot of the merged record and the rows
moved; both customers' timelines say what happened.

Refused (nothing changes): merging a record into itself, into or from a merged record, when the two
accounts in this company are in different currencies (open items in another currency cannot sit on
the golden record's account), and when the survivor sits below the merged record in a group.
"""
from __future__ import annotations

from sqlalchemy import select, update
from sqlalchemy.orm import Session
from stdnum import get_cc_module

from o2c.core import audit, clock, events, masterdata
from o2c.core.auth import Actor, require
from o2c.core.errors import Conflict, FieldError, ValidationFailed
from o2c.customers import hierarchy, service
from o2c.customers.models import (
    Customer, CustomerAccount, CustomerAddress, CustomerBankAccount, CustomerChange, CustomerContact,
    CustomerMerge, KycDocument,
)

def _conflict(message: str, field: str, code: str = "state", **extra) -> Conflict:
    """A 409 whose errors name the field, like a 422 does."""
    return Conflict(message, [FieldError(field, code, message)], **extra)


# field -> rule; the rules are explained in the module docstring and docs/master-data.md
SURVIVORSHIP = {
    "legal_name": "trusted_tax_id",
    "tax_id": "trusted_tax_id",
    "email": "non_empty_survivor_first",
    "phone": "non_empty_survivor_first",
    "registration_id": "non_empty_survivor_first",
    "endpoint": "non_empty_survivor_first",  # endpoint_id with endpoint_scheme, as one pair
    "parent_id": "non_empty_survivor_first",
    "trading_names": "union",
    "compliance_hold": "any_held",
}
# Sensitive fields: a merge never changes them (they change only through approved changes).
KEPT_FROM_SURVIVOR = ("billing_address", "payment_terms", "credit_limit", "group_credit_limit", "bank_account")
MOVED_TABLES = ("customer_addresses", "customer_contacts", "kyc_documents", "customer_bank_accounts",
                "customer_accounts", "subsidiaries")


def tax_id_valid(tax_id: str | None, country: str | None) -> bool:
    """True when python-stdnum knows a tax number format of the country (VAT, EIN, TIN) and the number
    passes it (length, check digits)."""
    if not tax_id or not country:
        return False
    for kind in ("vat", "ein", "tin"):
        module = get_cc_module(country.lower(), kind)
        if module is not None and module.is_valid(tax_id):
            return True
    return False


def _billing_country(session: Session, customer_id: int) -> str | None:
    return session.scalar(select(CustomerAddress.country).where(CustomerAddress.customer_id == customer_id,
                                                                CustomerAddress.kind == "billing")
                          .order_by(CustomerAddress.is_default.desc(), CustomerAddress.id).limit(1))


def _pick(rule: str, field: str, s_value, m_value, trusted: str | None) -> tuple[object, str]:
    """The value kept and where it came from ("survivor" or "merged")."""
    if rule == "trusted_tax_id" and trusted is not None:
        chosen = s_value if trusted == "survivor" else m_value
        if chosen not in (None, "", []):
            return chosen, trusted
    if s_value in (None, "", []) and m_value not in (None, "", []):
        return m_value, "merged"
    return s_value, "survivor"


def decide(survivor: dict, merged: dict, s_trusted: bool, m_trusted: bool, choices: dict | None = None) -> dict:
    """Pure: field -> {"value", "from", "rule"} for the golden record. `survivor` and `merged` hold the
    fields of SURVIVORSHIP (endpoint as a pair [id, scheme] or None); *_trusted: tax number validated."""
    choices = choices or {}
    bad = sorted(set(choices) - set(SURVIVORSHIP))
    if bad:
        raise ValidationFailed.one(f"choices.{bad[0]}", "invalid",
                                   f"{bad[0]} cannot be chosen: one of {', '.join(SURVIVORSHIP)}")
    trusted = "survivor" if s_trusted and not m_trusted else "merged" if m_trusted and not s_trusted else None
    out = {}
    for field, rule in SURVIVORSHIP.items():
        s_value, m_value = survivor.get(field), merged.get(field)
        if field in choices:
            value, source, rule = (s_value if choices[field] == "survivor" else m_value), choices[field], "chosen"
        elif rule == "union":  # both lists and the legal name that was not kept (legal_name is decided first)
            names: list[str] = []
            for n in list(s_value or []) + list(m_value or []) + [survivor.get("legal_name"), merged.get("legal_name")]:
                if n and n not in names and n != out["legal_name"]["value"]:
                    names.append(n)
            value, source = names or None, "both"
        elif rule == "any_held":
            value, source = bool(s_value or m_value), "merged" if m_value and not s_value else "survivor"
        else:
            value, source = _pick(rule, field, s_value, m_value, trusted)
        out[field] = {"value": value, "from": source, "rule": rule}
    return out


def _fields(c: Customer) -> dict:
    return {"legal_name": c.legal_name, "tax_id": c.tax_id, "email": c.email, "phone": c.phone,
            "registration_id": c.registration_id,
            "endpoint": [c.endpoint_id, c.endpoint_scheme] if c.endpoint_id else None,
            "parent_id": c.parent_id, "trading_names": c.trading_names, "compliance_hold": c.compliance_hold}


def _snapshot(c: Customer) -> dict:
    cols = [k.name for k in Customer.__table__.columns]
    return {k: (v.isoformat() if hasattr(v, "isoformat") else v) for k in cols if (v := getattr(c, k)) is not None}


def merge(session: Session, actor: Actor, company_id: int, survivor_id: int, merged_id: int, reason: str,
          choices: dict | None = None) -> CustomerMerge:
    """Merge `merged_id` into `survivor_id` (both this company's customers); see the module docstring."""
    require(actor, "masterdata.write")
    if not (reason or "").strip():
        raise ValidationFailed.one("reason", "required", "say why the records are one customer")
    if survivor_id == merged_id:
        raise ValidationFailed.one("merged_id", "same", "a customer cannot be merged into itself")
    # Lock both accounts in a fixed order (lower id first) so two merges of the pair never deadlock.
    accounts = {cid: service.lock_account(session, company_id, cid) for cid in sorted((survivor_id, merged_id))}
    s, s_acc = session.get(Customer, survivor_id), accounts[survivor_id]
    m, m_acc = session.get(Customer, merged_id), accounts[merged_id]
    session.refresh(s)
    session.refresh(m)
    if s.merged_into_id is not None:
        raise _conflict(f"customer {s.code} was merged into customer {s.merged_into_id}: merge into the golden "
                       "record", field="survivor_id")
    if m.merged_into_id is not None:
        raise _conflict(f"customer {m.code} was merged already (into customer {m.merged_into_id})", field="merged_id")
    if s_acc.currency != m_acc.currency:
        raise _conflict(f"customer {s.code} buys in {s_acc.currency}, {m.code} in {m_acc.currency}: their open "
                       "items cannot share one account", field="merged_id", code="currency")
    if m.id in hierarchy.ancestors(session, s.id):
        raise _conflict(f"customer {s.code} belongs to {m.code}'s group below it: move it out of the group first",
                       field="merged_id")
    s_trusted = tax_id_valid(s.tax_id, _billing_country(session, s.id))
    m_trusted = tax_id_valid(m.tax_id, _billing_country(session, m.id))
    decisions = decide(_fields(s), _fields(m), s_trusted, m_trusted, choices)
    if decisions["parent_id"]["value"] is not None and s.id in (
            [decisions["parent_id"]["value"]] + hierarchy.ancestors(session, decisions["parent_id"]["value"])):
        decisions["parent_id"] = {"value": s.parent_id, "from": "survivor", "rule": "no_cycle"}
    snapshot = _snapshot(m)

    # the golden record's fields
    for field, d in decisions.items():
        if field == "endpoint":
            s.endpoint_id, s.endpoint_scheme = d["value"] if d["value"] else (None, None)
        else:
            setattr(s, field, d["value"])
    m.merged_into_id = s.id
    m.parent_id = None
    session.flush()
    moved = _move(session, s, m)
    withdrawn = _withdraw_pending(session, actor, m.id)
    for field in KEPT_FROM_SURVIVOR:
        decisions[field] = {"value": None, "from": "survivor", "rule": "sensitive_kept"}
    record = CustomerMerge(company_id=company_id, survivor_id=s.id, merged_id=m.id, survivorship=decisions,
                           merged_snapshot=snapshot, moved=moved, merged_by=actor.user_id, merged_at=clock.now(),
                           reason=reason)
    session.add(record)
    session.flush()
    data = {"merge_id": record.id, "survivor_id": s.id, "merged_id": m.id, "moved": moved,
            "withdrawn_changes": withdrawn}
    audit.record(session, actor, "customer", s.id, "merged_in", company_id=company_id, reason=reason,
                 data=data | {"kept": {k: v["from"] for k, v in decisions.items()}})
    audit.record(session, actor, "customer", m.id, "merged_into", company_id=company_id, reason=reason, data=data)
    events.emit(session, "customer.merged", data, company_id=company_id, entity_id=s.id)
    masterdata.bump(session, company_id)
    return record


def _move(session: Session, s: Customer, m: Customer) -> dict:
    """Master data rows of the merged record moved to the survivor, counted per table."""
    moved = dict.fromkeys(MOVED_TABLES, 0)
    for a in session.scalars(select(CustomerAddress).where(CustomerAddress.customer_id == m.id)):
        a.customer_id, a.is_default = s.id, False
        moved["customer_addresses"] += 1
    for model, table in ((CustomerContact, "customer_contacts"), (KycDocument, "kyc_documents")):
        moved[table] = session.execute(update(model).where(model.customer_id == m.id)
                                       .values(customer_id=s.id)).rowcount or 0
    on_file = set(session.scalars(select(CustomerBankAccount.iban).where(CustomerBankAccount.customer_id == s.id)))
    for b in session.scalars(select(CustomerBankAccount).where(CustomerBankAccount.customer_id == m.id)):
        if b.iban not in on_file:
            b.customer_id = s.id
            moved["customer_bank_accounts"] += 1
    s_companies = set(session.scalars(select(CustomerAccount.company_id).where(CustomerAccount.customer_id == s.id)))
    for acc in session.scalars(select(CustomerAccount).where(CustomerAccount.customer_id == m.id)):
        if acc.company_id not in s_companies:
            acc.customer_id = s.id
            moved["customer_accounts"] += 1
    moved["subsidiaries"] = session.execute(update(Customer).where(Customer.parent_id == m.id)
                                            .values(parent_id=s.id)).rowcount or 0
    session.flush()
    return moved


def _withdraw_pending(session: Session, actor: Actor, customer_id: int) -> list[int]:
    ids = []
    for ch in session.scalars(select(CustomerChange).where(CustomerChange.customer_id == customer_id,
                                                           CustomerChange.status == "pending")):
        ch.status, ch.decided_by, ch.decided_at = "withdrawn", actor.user_id, clock.now()
        ch.decision_reason = "the customer was merged into its golden record"
        ids.append(ch.id)
    session.flush()
    return ids


def view(record: CustomerMerge) -> dict:
    return {"id": record.id, "survivor_id": record.survivor_id, "merged_id": record.merged_id,
            "survivorship": record.survivorship, "merged_snapshot": record.merged_snapshot, "moved": record.moved,
            "merged_by": record.merged_by, "merged_at": record.merged_at, "reason": record.reason}


def merges_of(session: Session, company_id: int, customer_id: int) -> list[CustomerMerge]:
    """Merges the customer took part in (as survivor or merged), oldest first."""
    service.load(session, company_id, customer_id)
    return list(session.scalars(select(CustomerMerge).where(
        CustomerMerge.company_id == company_id,
        (CustomerMerge.survivor_id == customer_id) | (CustomerMerge.merged_id == customer_id))
        .order_by(CustomerMerge.id)))
