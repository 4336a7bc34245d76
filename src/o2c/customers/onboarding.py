"""Customer onboarding: an application becomes a prospect customer, its KYC documents are uploaded and
reviewed, and compliance activates it; later it may be suspended, reinstated or blocked.

    apply (masterdata.write)              -> prospect, with this company's account, addresses, contacts,
                                             bank accounts; every number checked first (identity.py)
    update_application (masterdata.write) while prospect
    upload_document (masterdata.write)    a checklist kind (kyc.py), PDF or image, at most 10 MiB
    review_document (kyc.review)          accept or reject; never one's own upload (SoD)
    submit (masterdata.write)             prospect -> pending_kyc
    activate (kyc.review)                 pending_kyc -> active: checklist complete, no compliance hold,
                                          not by the user who applied (SoD)
    suspend / reinstate / block (kyc.review, with a reason)

Each step is an audit record of entity "customer" (the customer's timeline); status changes also emit
customer.status_changed and check the customer's live orders again, so held orders move on when the
customer becomes active and live ones are held when it is suspended or blocked.
"""
from __future__ import annotations

import hashlib

from sqlalchemy import select
from sqlalchemy.orm import Session

from o2c.core import audit, clock, events, masterdata, sod
from o2c.core.auth import Actor, require
from o2c.core.errors import Conflict, ErrorList, FieldError, Forbidden, NotFound, ValidationFailed
from o2c.core.models import AuditRecord
from o2c.core.money import known_currencies
from o2c.customers import identity, kyc, lifecycle
from o2c.customers.models import (
    Customer, CustomerAccount, CustomerAddress, CustomerBankAccount, CustomerContact, KycDocument,
)
from o2c.customers.onboarding_schemas import (
    ApplicationIn, ApplicationPatch, BankAccountIn, ContactIn, ContactPatch,
)
from o2c.customers.rules import Address, address_errors, terms_errors
from o2c.customers.schemas import AddressIn


# ---------------------------------------------------------------------------------------- checks

def _add(errors: ErrorList, found: list[FieldError]) -> None:
    for e in found:
        errors.add(e.field, e.code, e.message)


def _address(errors: ErrorList, a: AddressIn, prefix: str) -> None:
    _add(errors, list(address_errors(Address(**a.model_dump()), prefix)))


def check_identity(errors: ErrorList, country: str | None, *, tax_id=None, registration_id=None, email=None,
                   phone=None) -> dict:
    """Check the customer's own numbers against the billing address country; returns the stored forms
    of those given (None for a blank one). Used by applications and by the direct create."""
    out = {}
    if tax_id is not None:
        out["tax_id"], found = identity.vat_number(tax_id, country)
        _add(errors, found)
    if registration_id is not None:
        out["registration_id"], found = identity.registration_number(registration_id, country)
        _add(errors, found)
    if email is not None:
        out["email"], found = identity.email(email)
        _add(errors, found)
    if phone is not None:
        out["phone"], found = identity.phone(phone, country)
        _add(errors, found)
    return out


def _contact_fields(errors: ErrorList, c: ContactIn | ContactPatch, country: str | None, prefix: str) -> dict:
    """The contact's fields (of a patch: those given), e-mail and phone checked and normalised."""
    fields = c.model_dump(exclude_unset=isinstance(c, ContactPatch))
    if "email" in fields and fields["email"] is not None:
        fields["email"], found = identity.email(fields["email"], f"{prefix}email")
        _add(errors, found)
    if "phone" in fields and fields["phone"] is not None:
        fields["phone"], found = identity.phone(fields["phone"], country, f"{prefix}phone")
        _add(errors, found)
    if "name" in fields and fields["name"] is None:
        errors.add(f"{prefix}name", "required", "a contact has a name")
    return fields


def _bank_accounts(errors: ErrorList, accounts: list[BankAccountIn]) -> list[dict]:
    out, seen = [], set()
    for i, b in enumerate(accounts):
        checked, found = identity.bank_account(b.iban, b.bic, f"bank_accounts[{i}]")
        _add(errors, found)
        if checked is None:
            continue
        if checked[0] in seen:
            errors.add(f"bank_accounts[{i}].iban", "duplicate", f"IBAN {checked[0]} is given twice")
        seen.add(checked[0])
        out.append({"iban": checked[0], "bic": checked[1], "holder_name": b.holder_name})
    return out


def _trading_names(errors: ErrorList, names: list[str]) -> list[str]:
    out = []
    for i, n in enumerate(names):
        n = n.strip()
        if not n or len(n) > 200:
            errors.add(f"trading_names[{i}]", "invalid", "a trading name has 1 to 200 characters")
        elif n not in out:
            out.append(n)
    return out


def _no_portal(actor: Actor) -> None:
    if actor.customer_id is not None:
        raise Forbidden("portal users cannot change customer master data")


# ---------------------------------------------------------------------------------------- reading

def _load(session: Session, company_id: int, customer_id: int, actor: Actor | None = None,
          lock: bool = False) -> tuple[Customer, CustomerAccount]:
    from o2c.customers import service

    c, acc = service.load(session, company_id, customer_id, actor)
    if lock:  # one status step at a time per customer
        c = session.scalars(select(Customer).where(Customer.id == c.id).with_for_update()
                            .execution_options(populate_existing=True)).one()
    return c, acc


def _docs(session: Session, customer_id: int) -> list[KycDocument]:
    return list(session.scalars(select(KycDocument).where(KycDocument.customer_id == customer_id)
                                .order_by(KycDocument.id)))


def _kyc_view(c: Customer, docs: list[KycDocument]) -> dict:
    plain = [kyc.Doc(d.id, d.kind, d.status) for d in docs]
    items = kyc.checklist_state(plain)
    missing = [i["kind"] for i in items if i["state"] != "accepted"]
    return {"customer_id": c.id, "status": c.status, "complete": not missing, "missing": missing, "items": items,
            "allowed_content_types": list(kyc.CONTENT_TYPES), "max_size": kyc.MAX_SIZE}


def application_view(session: Session, company_id: int, customer_id: int, actor: Actor | None = None,
                     duplicates: list[dict] | None = None) -> dict:
    c, acc = _load(session, company_id, customer_id, actor)
    addrs = list(session.scalars(select(CustomerAddress).where(CustomerAddress.customer_id == c.id)
                                 .order_by(CustomerAddress.id)))
    return {
        "id": c.id, "code": c.code, "legal_name": c.legal_name, "trading_names": list(c.trading_names or []),
        "registration_id": c.registration_id, "tax_id": c.tax_id, "email": c.email, "phone": c.phone,
        "status": c.status, "compliance_hold": c.compliance_hold, "allowed_steps": lifecycle.allowed_steps(c.status),
        "currency": acc.currency, "payment_terms_days": acc.payment_terms_days,
        "billing_address": next((a for a in addrs if a.kind == "billing"), None),
        "shipping_addresses": [a for a in addrs if a.kind == "shipping"],
        "contacts": _contacts(session, c.id),
        "bank_accounts": list(session.scalars(select(CustomerBankAccount)
                                              .where(CustomerBankAccount.customer_id == c.id)
                                              .order_by(CustomerBankAccount.id))),
        "kyc": _kyc_view(c, _docs(session, c.id)),
        "possible_duplicates": duplicates or [],
        "created_at": c.created_at,
    }


def list_applications(session: Session, actor: Actor, company_id: int, status: str | None, after: int,
                      limit: int) -> list[dict]:
    """The company's customers in onboarding, oldest first: prospects and pending KYC by default, or
    those of one status."""
    if status is not None and status not in lifecycle.STATUSES:
        raise ValidationFailed.one("status", "unknown", f"status is one of {', '.join(lifecycle.STATUSES)}")
    statuses = [status] if status else ["prospect", "pending_kyc"]
    stmt = (select(Customer.id).join(CustomerAccount, CustomerAccount.customer_id == Customer.id)
            .where(CustomerAccount.company_id == company_id, Customer.status.in_(statuses), Customer.id > after)
            .order_by(Customer.id).limit(limit))
    if actor.customer_id is not None:
        stmt = stmt.where(Customer.id == actor.customer_id)
    return [application_view(session, company_id, cid) for cid in session.scalars(stmt)]


def kyc_state(session: Session, actor: Actor, company_id: int, customer_id: int) -> dict:
    c, _ = _load(session, company_id, customer_id, actor)
    return _kyc_view(c, _docs(session, c.id))


# ---------------------------------------------------------------------------------------- application

def screen(session: Session, actor: Actor, customer_id: int) -> None:
    """Sanctions screening of a new customer (applied or created directly), once the compliance area
    provides it."""
    try:
        from o2c.compliance import service as compliance
    except ModuleNotFoundError as exc:
        if exc.name != "o2c.compliance.service":
            raise
        return
    if hasattr(compliance, "screen_customer"):
        compliance.screen_customer(session, actor, customer_id)


def _duplicates(session: Session, company_id: int, c: Customer, billing: AddressIn) -> list[dict]:
    from o2c.customers.duplicates import find_duplicates

    return find_duplicates(session, company_id, legal_name=c.legal_name, tax_id=c.tax_id,
                           address={"line1": billing.line1, "postal_code": billing.postal_code,
                                    "country": billing.country}, exclude_id=c.id)


def apply(session: Session, actor: Actor, company_id: int, data: ApplicationIn) -> dict:
    """A new customer applies: stored as a prospect with everything given, all checked before anything is
    written. Returns the application with possible duplicates among the company's customers."""
    require(actor, "masterdata.write")
    _no_portal(actor)
    errors = ErrorList()
    country = data.billing_address.country
    if data.currency not in known_currencies():
        errors.add("currency", "unknown", f"{data.currency} is not an ISO 4217 currency")
    _address(errors, data.billing_address, "billing_address")
    for i, a in enumerate(data.shipping_addresses):
        _address(errors, a, f"shipping_addresses[{i}]")
    _add(errors, list(terms_errors(data.payment_terms_days, data.early_discount_pct, data.early_discount_days)))
    ident = check_identity(errors, country, tax_id=data.tax_id, registration_id=data.registration_id,
                           email=data.email, phone=data.phone)
    trading = _trading_names(errors, data.trading_names)
    contacts = [_contact_fields(errors, c, country, f"contacts[{i}].") for i, c in enumerate(data.contacts)]
    banks = _bank_accounts(errors, data.bank_accounts)
    errors.raise_if_any()
    if session.scalar(select(Customer.id).where(Customer.code == data.code)) is not None:
        raise Conflict(f"a customer with code {data.code!r} exists already", field="code")
    now = clock.now()
    c = Customer(code=data.code, legal_name=data.legal_name, trading_names=trading, status="prospect",
                 created_at=now, **ident)
    session.add(c)
    session.flush()
    session.add(CustomerAddress(customer_id=c.id, kind="billing", is_default=True, **data.billing_address.model_dump()))
    for i, a in enumerate(data.shipping_addresses):
        session.add(CustomerAddress(customer_id=c.id, kind="shipping", is_default=i == 0, **a.model_dump()))
    session.add(CustomerAccount(
        company_id=company_id, customer_id=c.id, currency=data.currency, payment_terms_days=data.payment_terms_days,
        early_discount_pct=data.early_discount_pct, early_discount_days=data.early_discount_days,
        dunning_opt_out=data.dunning_opt_out, tax_exempt=data.tax_exempt, tax_exemption_ref=data.tax_exemption_ref,
        ship_complete=data.ship_preference == "ship_complete", discount_pct=data.discount_pct, active=True,
        created_at=now))
    for contact in contacts:
        session.add(CustomerContact(customer_id=c.id, created_at=now, **contact))
    for b in banks:
        session.add(CustomerBankAccount(customer_id=c.id, created_at=now, **b))
    session.flush()
    audit.record(session, actor, "customer", c.id, "applied", company_id=company_id, to_status="prospect",
                 data={"code": c.code, "tax_id": c.tax_id, "contacts": len(contacts), "bank_accounts": len(banks)})
    events.emit(session, "customer.applied", {"customer_id": c.id, "code": c.code, "company_id": company_id},
                company_id=company_id, entity_id=c.id)
    masterdata.bump(session, company_id)
    screen(session, actor, c.id)
    return application_view(session, company_id, c.id,
                            duplicates=_duplicates(session, company_id, c, data.billing_address))


def update_application(session: Session, actor: Actor, company_id: int, customer_id: int,
                       patch: ApplicationPatch) -> dict:
    """Correct an application while it is a prospect (before it goes to KYC)."""
    require(actor, "masterdata.write")
    _no_portal(actor)
    c, _ = _load(session, company_id, customer_id, lock=True)
    if c.status != "prospect":
        raise Conflict(f"customer {c.code} is {c.status}: an application is changed only while it is a prospect",
                       customer_status=c.status)
    changes = patch.model_dump(exclude_unset=True)
    errors = ErrorList()
    for k in ("legal_name", "trading_names", "billing_address", "bank_accounts"):
        if k in changes and changes[k] is None:
            errors.add(k, "required", f"{k} cannot be cleared: give a value")
    billing = session.scalar(select(CustomerAddress).where(CustomerAddress.customer_id == c.id,
                                                           CustomerAddress.kind == "billing")
                             .order_by(CustomerAddress.is_default.desc(), CustomerAddress.id).limit(1))
    if patch.billing_address is not None:
        _address(errors, patch.billing_address, "billing_address")
    country = patch.billing_address.country if patch.billing_address is not None else billing and billing.country
    # The numbers are checked against the country the application will have; a new country re-checks them.
    recheck = {k: (changes[k] if k in changes else getattr(c, k)) for k in ("tax_id", "registration_id", "phone")
               if k in changes or (patch.billing_address is not None and getattr(c, k))}
    ident = check_identity(errors, country, email=changes.get("email"), **recheck)
    ident = {k: v for k, v in ident.items() if k in changes}
    trading = _trading_names(errors, patch.trading_names) if patch.trading_names is not None else None
    banks = _bank_accounts(errors, patch.bank_accounts) if patch.bank_accounts is not None else None
    errors.raise_if_any()
    before = {}
    for k in ("legal_name", "email", "phone", "tax_id", "registration_id"):
        if k in changes:
            before[k] = getattr(c, k)
            setattr(c, k, ident.get(k, changes[k]) if k != "legal_name" else changes[k])
    if trading is not None:
        before["trading_names"] = c.trading_names
        c.trading_names = trading
    if patch.billing_address is not None:
        fields = patch.billing_address.model_dump()
        before["billing_address"] = {k: getattr(billing, k) for k in fields} if billing else None
        if billing is None:
            session.add(CustomerAddress(customer_id=c.id, kind="billing", is_default=True, **fields))
        else:
            for k, v in fields.items():
                setattr(billing, k, v)
    if banks is not None:
        old = list(session.scalars(select(CustomerBankAccount).where(CustomerBankAccount.customer_id == c.id)))
        before["bank_accounts"] = [b.iban for b in old]
        for b in old:
            session.delete(b)
        session.flush()
        for b in banks:
            session.add(CustomerBankAccount(customer_id=c.id, created_at=clock.now(), **b))
    session.flush()
    audit.record(session, actor, "customer", c.id, "application_updated", company_id=company_id,
                 data={"changes": sorted(changes), "before": {k: str(v) for k, v in before.items()}})
    masterdata.bump(session, company_id)
    if {"legal_name", "trading_names", "billing_address"} & set(changes):
        screen(session, actor, c.id)  # screened by name and country: a new one is screened again
    return application_view(session, company_id, c.id)


# ---------------------------------------------------------------------------------------- documents

def upload_document(session: Session, actor: Actor, company_id: int, customer_id: int, kind: str,
                    filename: str | None, content_type: str | None, content: bytes) -> KycDocument:
    """Store a KYC document of a checklist kind for review. A blocked customer takes no more documents."""
    require(actor, "masterdata.write")
    _no_portal(actor)
    c, _ = _load(session, company_id, customer_id)
    found = kyc.document_errors(kind, filename, content_type, content)
    if found:
        raise ValidationFailed(found[0].message if len(found) == 1 else "the document is not accepted", found)
    if c.status == "blocked":
        raise Conflict(f"customer {c.code} is blocked: no more KYC documents are taken", customer_status=c.status)
    doc = KycDocument(customer_id=c.id, kind=kind, filename=filename.strip()[:200],
                      content_type=kyc.content_type_of(content_type, content), size=len(content),
                      sha256=hashlib.sha256(content).hexdigest(), content=content, status="received",
                      uploaded_by=actor.user_id, uploaded_at=clock.now())
    session.add(doc)
    session.flush()
    audit.record(session, actor, "customer", c.id, "kyc_document_uploaded", company_id=company_id,
                 data={"document_id": doc.id, "kind": kind, "filename": doc.filename, "size": doc.size,
                       "sha256": doc.sha256})
    return doc


def list_documents(session: Session, actor: Actor, company_id: int, customer_id: int) -> list[KycDocument]:
    c, _ = _load(session, company_id, customer_id, actor)
    return _docs(session, c.id)


def _doc(session: Session, customer_id: int, doc_id: int, lock: bool = False) -> KycDocument:
    stmt = select(KycDocument).where(KycDocument.id == doc_id, KycDocument.customer_id == customer_id)
    doc = session.scalar(stmt.with_for_update() if lock else stmt)
    if doc is None:
        raise NotFound(f"KYC document {doc_id} of customer {customer_id} not found")
    return doc


def document_content(session: Session, actor: Actor, company_id: int, customer_id: int, doc_id: int) -> KycDocument:
    """A document with its content: identity papers are personal data, so only those who upload or
    review KYC documents may open them."""
    if not (actor.can("kyc.review") or actor.can("masterdata.write")) or actor.customer_id is not None:
        raise Forbidden(f"user {actor.username!r} may not open KYC documents (needs kyc.review or masterdata.write)")
    c, _ = _load(session, company_id, customer_id)
    return _doc(session, c.id, doc_id)


def review_document(session: Session, actor: Actor, company_id: int, customer_id: int, doc_id: int,
                    decision: str, note: str | None) -> KycDocument:
    """Accept or reject a received document; a rejection says why. The uploader cannot review it."""
    require(actor, "kyc.review")
    c, _ = _load(session, company_id, customer_id)
    if decision not in kyc.REVIEW_DECISIONS:
        raise ValidationFailed.one("decision", "invalid", f"decision is one of {', '.join(kyc.REVIEW_DECISIONS)}")
    if decision == "rejected" and not (note or "").strip():
        raise ValidationFailed.one("note", "required", "a rejected document needs a note saying why")
    doc = _doc(session, c.id, doc_id, lock=True)
    if doc.status != "received":
        raise Conflict(f"KYC document {doc.id} was {doc.status} already", document_status=doc.status)
    sod.check(session, actor, "review_kyc_document", "upload_kyc_document", [doc.uploaded_by])
    doc.status, doc.reviewed_by, doc.reviewed_at, doc.review_note = decision, actor.user_id, clock.now(), note
    session.flush()
    audit.record(session, actor, "customer", c.id, f"kyc_document_{decision}", company_id=company_id, reason=note,
                 data={"document_id": doc.id, "kind": doc.kind})
    return doc


# ---------------------------------------------------------------------------------------- status

def _applicants(session: Session, customer_id: int) -> list[int | None]:
    return list(session.scalars(select(AuditRecord.actor_id).where(
        AuditRecord.entity == "customer", AuditRecord.entity_id == customer_id, AuditRecord.action == "applied")))


def _step(session: Session, actor: Actor, company_id: int, customer_id: int, step: str, reason: str | None) -> dict:
    require(actor, "masterdata.write" if step == "submit" else "kyc.review")
    _no_portal(actor)
    reason = (reason or "").strip() or None
    if step in ("suspend", "reinstate", "block") and reason is None:
        raise ValidationFailed.one("reason", "required", f"to {step} a customer, give the reason")
    c, _ = _load(session, company_id, customer_id, lock=True)
    before = c.status
    after = lifecycle.next_status(before, step)
    if step == "activate":
        missing = kyc.missing([kyc.Doc(d.id, d.kind, d.status) for d in _docs(session, c.id)])
        if missing:
            raise Conflict(f"customer {c.code} cannot be activated: the KYC checklist lacks accepted "
                           f"{', '.join(missing)}", missing=missing)
        sod.check(session, actor, "activate_customer", "apply_customer", _applicants(session, c.id))
    if after == "active" and c.compliance_hold:
        raise Conflict(f"customer {c.code} has a compliance hold (a sanctions screening hit): it cannot be "
                       f"made active until compliance decides the hit", compliance_hold=True)
    c.status = after
    session.flush()
    audit.record(session, actor, "customer", c.id, "status_changed", company_id=company_id, from_status=before,
                 to_status=after, reason=reason, data={"step": step})
    events.emit(session, "customer.status_changed",
                {"customer_id": c.id, "code": c.code, "from": before, "to": after, "step": step, "reason": reason},
                company_id=company_id, entity_id=c.id)
    for cid in session.scalars(select(CustomerAccount.company_id).where(CustomerAccount.customer_id == c.id)):
        masterdata.bump(session, cid)  # order capture caches customers per company
    from o2c.orders import service as orders  # orders build on customers, not the reverse

    orders.recheck_customer(session, actor, c.id, f"customer {c.code} {after}" + (f": {reason}" if reason else ""))
    return application_view(session, company_id, c.id)


def submit(session, actor, company_id, customer_id, reason=None) -> dict:
    """prospect -> pending_kyc: the application is complete and goes to compliance."""
    return _step(session, actor, company_id, customer_id, "submit", reason)


def activate(session, actor, company_id, customer_id, reason=None) -> dict:
    """pending_kyc -> active: every checklist item accepted, no compliance hold, not by the applicant."""
    return _step(session, actor, company_id, customer_id, "activate", reason)


def suspend(session, actor, company_id, customer_id, reason) -> dict:
    return _step(session, actor, company_id, customer_id, "suspend", reason)


def reinstate(session, actor, company_id, customer_id, reason) -> dict:
    return _step(session, actor, company_id, customer_id, "reinstate", reason)


def block(session, actor, company_id, customer_id, reason) -> dict:
    return _step(session, actor, company_id, customer_id, "block", reason)


# ---------------------------------------------------------------------------------------- contacts

def _country(session: Session, customer_id: int) -> str | None:
    return session.scalar(select(CustomerAddress.country).where(CustomerAddress.customer_id == customer_id,
                                                                CustomerAddress.kind == "billing")
                          .order_by(CustomerAddress.is_default.desc(), CustomerAddress.id).limit(1))


def _contacts(session: Session, customer_id: int) -> list[CustomerContact]:
    return list(session.scalars(select(CustomerContact).where(CustomerContact.customer_id == customer_id)
                                .order_by(CustomerContact.id)))


def list_contacts(session: Session, actor: Actor, company_id: int, customer_id: int) -> list[CustomerContact]:
    c, _ = _load(session, company_id, customer_id, actor)
    return _contacts(session, c.id)


def add_contact(session: Session, actor: Actor, company_id: int, customer_id: int, data: ContactIn) -> CustomerContact:
    require(actor, "masterdata.write")
    _no_portal(actor)
    c, _ = _load(session, company_id, customer_id)
    errors = ErrorList()
    fields = _contact_fields(errors, data, _country(session, c.id), "")
    errors.raise_if_any()
    contact = CustomerContact(customer_id=c.id, created_at=clock.now(), **fields)
    session.add(contact)
    session.flush()
    audit.record(session, actor, "customer", c.id, "contact_added", company_id=company_id,
                 data={"contact_id": contact.id, "name": contact.name, "role": contact.role})
    return contact


def update_contact(session: Session, actor: Actor, company_id: int, customer_id: int, contact_id: int,
                   patch: ContactPatch) -> CustomerContact:
    require(actor, "masterdata.write")
    _no_portal(actor)
    c, _ = _load(session, company_id, customer_id)
    contact = session.scalar(select(CustomerContact).where(CustomerContact.id == contact_id,
                                                           CustomerContact.customer_id == c.id))
    if contact is None:
        raise NotFound(f"contact {contact_id} of customer {customer_id} not found")
    if contact.erased_at is not None:
        raise Conflict(f"contact {contact_id} was erased on request: it is not changed any more")
    errors = ErrorList()
    fields = _contact_fields(errors, patch, _country(session, c.id), "")
    errors.raise_if_any()
    before = {k: getattr(contact, k) for k in fields}
    for k, v in fields.items():
        setattr(contact, k, v)
    session.flush()
    audit.record(session, actor, "customer", c.id, "contact_updated", company_id=company_id,
                 data={"contact_id": contact.id, "changes": sorted(fields), "before": before})
    return contact
