"""Customer use cases: create the golden record with this company's account, read, change."""
from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from o2c.core import audit, clock, masterdata
from o2c.core.auth import Actor, require
from o2c.core.errors import Conflict, ErrorList, Forbidden, NotFound
from o2c.core.money import known_currencies
from o2c.customers.models import Customer, CustomerAccount, CustomerAddress
from o2c.billing.terms import Terms
from o2c.customers.rules import Address, address_errors, endpoint_errors, terms_errors
from o2c.customers.schemas import AddressIn, CustomerIn, CustomerPatch


def _addr_fields(a: AddressIn) -> dict:
    return a.model_dump()


def _check_address(errors: ErrorList, a: AddressIn, prefix: str) -> None:
    for e in address_errors(Address(**a.model_dump()), prefix):
        errors.add(e.field, e.code, e.message)


def _check_terms_and_endpoint(errors: ErrorList, net_days, discount_pct, discount_days, endpoint_id,
                              endpoint_scheme) -> None:
    for e in terms_errors(net_days, discount_pct, discount_days) + endpoint_errors(endpoint_id, endpoint_scheme):
        errors.add(e.field, e.code, e.message)


def create_customer(session: Session, actor: Actor, company_id: int, data: CustomerIn) -> dict:
    require(actor, "masterdata.write")
    errors = ErrorList()
    if data.currency not in known_currencies():
        errors.add("currency", "unknown", f"{data.currency} is not an ISO 4217 currency")
    _check_address(errors, data.billing_address, "billing_address")
    for i, a in enumerate(data.shipping_addresses):
        _check_address(errors, a, f"shipping_addresses[{i}]")
    _check_terms_and_endpoint(errors, data.payment_terms_days, data.early_discount_pct, data.early_discount_days,
                              data.endpoint_id, data.endpoint_scheme)
    # VAT number, e-mail and phone are checked (and stored normalised) as on an application.
    from o2c.customers.onboarding import check_identity

    ident = check_identity(errors, data.billing_address.country, tax_id=data.tax_id, email=data.email,
                           phone=data.phone)
    errors.raise_if_any()
    if session.scalar(select(Customer.id).where(Customer.code == data.code)) is not None:
        raise Conflict(f"a customer with code {data.code!r} exists already", field="code")
    now = clock.now()
    c = Customer(
        code=data.code, legal_name=data.legal_name, email=ident.get("email"), phone=ident.get("phone"),
        tax_id=ident.get("tax_id"), endpoint_id=data.endpoint_id, endpoint_scheme=data.endpoint_scheme, created_at=now,
    )
    session.add(c)
    session.flush()
    session.add(CustomerAddress(customer_id=c.id, kind="billing", is_default=True, **_addr_fields(data.billing_address)))
    for i, a in enumerate(data.shipping_addresses):
        session.add(CustomerAddress(customer_id=c.id, kind="shipping", is_default=i == 0, **_addr_fields(a)))
    session.add(
        CustomerAccount(
            company_id=company_id, customer_id=c.id, currency=data.currency,
            payment_terms_days=data.payment_terms_days, early_discount_pct=data.early_discount_pct,
            early_discount_days=data.early_discount_days, dunning_opt_out=data.dunning_opt_out,
            tax_exempt=data.tax_exempt,
            tax_exemption_ref=data.tax_exemption_ref,
            ship_complete=data.ship_preference == "ship_complete",
            discount_pct=data.discount_pct, active=True, created_at=now,
        )
    )
    session.flush()
    audit.record(session, actor, "customer", c.id, "created", company_id=company_id, data={"code": c.code})
    masterdata.bump(session, company_id)
    from o2c.customers.onboarding import screen

    screen(session, actor, c.id)
    return customer_view(session, company_id, c.id)


def load(session: Session, company_id: int, customer_id: int, actor: Actor | None = None) -> tuple[Customer, CustomerAccount]:
    """The customer and this company's account with it; a portal user may load only their own."""
    if actor is not None and actor.customer_id is not None and actor.customer_id != customer_id:
        raise NotFound(f"customer {customer_id} not found")
    found = find(session, company_id, customer_id=customer_id)
    if found is None:
        raise NotFound(f"customer {customer_id} not found")
    return found


def timeline(session: Session, actor: Actor, company_id: int, customer_id: int) -> list:
    """What happened with the customer in this company, oldest first: changes to their record, reminders,
    disputes, payments (audit records of entity "customer")."""
    load(session, company_id, customer_id, actor)
    return [r for r in audit.history(session, "customer", customer_id) if r.company_id in (None, company_id)]


def find(session: Session, company_id: int, *, customer_id: int | None = None, code: str | None = None
         ) -> tuple[Customer, CustomerAccount] | None:
    """A customer (by id or code) with this company's account, in one query; None if there is none."""
    stmt = (
        select(Customer, CustomerAccount)
        .join(CustomerAccount, CustomerAccount.customer_id == Customer.id)
        .where(CustomerAccount.company_id == company_id)
    )
    stmt = stmt.where(Customer.id == customer_id) if customer_id is not None else stmt.where(Customer.code == code)
    row = session.execute(stmt).first()
    return (row[0], row[1]) if row else None


def labels(session: Session, company_id: int, customer_ids) -> dict[int, tuple[str, str]]:
    """Code and legal name of the company's customers named, for reports."""
    rows = session.execute(select(Customer.id, Customer.code, Customer.legal_name)
                           .join(CustomerAccount, CustomerAccount.customer_id == Customer.id)
                           .where(CustomerAccount.company_id == company_id, Customer.id.in_(list(customer_ids))))
    return {cid: (code, name) for cid, code, name in rows}


def lock_account(session: Session, company_id: int, customer_id: int) -> CustomerAccount:
    """This company's account with the customer, locked until the transaction ends: what uses the
    customer's unapplied credit takes it first, so two uses never both spend the same credit."""
    acc = session.scalar(select(CustomerAccount).where(CustomerAccount.company_id == company_id,
                                                       CustomerAccount.customer_id == customer_id)
                         .with_for_update())
    if acc is None:
        raise NotFound(f"customer {customer_id} not found")
    return acc


def default_ship_to(session: Session, customer_id: int) -> dict:
    """The customer's default shipping address (the billing address if it has none), as a dict."""
    addr = session.scalar(
        select(CustomerAddress)
        .where(CustomerAddress.customer_id == customer_id)
        .order_by((CustomerAddress.kind == "shipping").desc(), CustomerAddress.is_default.desc(), CustomerAddress.id)
        .limit(1)
    )
    fields = ("name", "line1", "line2", "city", "region", "postal_code", "country")
    return {k: getattr(addr, k) for k in fields} if addr else {}


def customer_view(session: Session, company_id: int, customer_id: int, actor: Actor | None = None) -> dict:
    c, acc = load(session, company_id, customer_id, actor)
    addrs = list(session.scalars(select(CustomerAddress).where(CustomerAddress.customer_id == c.id).order_by(CustomerAddress.id)))
    billing = next((a for a in addrs if a.kind == "billing"), None)
    return {
        "id": c.id, "code": c.code, "legal_name": c.legal_name, "status": c.status, "email": c.email,
        "phone": c.phone,
        "tax_id": c.tax_id, "endpoint_id": c.endpoint_id, "endpoint_scheme": c.endpoint_scheme,
        "currency": acc.currency, "payment_terms_days": acc.payment_terms_days,
        "early_discount_pct": acc.early_discount_pct, "early_discount_days": acc.early_discount_days,
        "payment_terms": str(Terms(acc.payment_terms_days, acc.early_discount_pct, acc.early_discount_days)),
        "dunning_opt_out": acc.dunning_opt_out,
        "tax_exempt": acc.tax_exempt, "tax_exemption_ref": acc.tax_exemption_ref,
        "ship_preference": "ship_complete" if acc.ship_complete else "ship_partial",
        "discount_pct": acc.discount_pct, "active": acc.active,
        "billing_address": billing,
        "shipping_addresses": [a for a in addrs if a.kind == "shipping"],
        "created_at": c.created_at,
    }


def list_customers(session: Session, actor: Actor, company_id: int, after: int, limit: int, q: str | None) -> list[dict]:
    stmt = (
        select(Customer.id)
        .join(CustomerAccount, CustomerAccount.customer_id == Customer.id)
        .where(CustomerAccount.company_id == company_id, Customer.id > after,
               Customer.merged_into_id.is_(None))  # merged duplicates leave lists (o2c.customers.merge)
        .order_by(Customer.id)
        .limit(limit)
    )
    if actor.customer_id is not None:
        stmt = stmt.where(Customer.id == actor.customer_id)
    if q:
        stmt = stmt.where(Customer.legal_name.ilike(f"%{q}%") | (Customer.code == q))
    return [customer_view(session, company_id, cid) for cid in session.scalars(stmt)]


def text_match(q: str):
    """The condition 'code, legal name or VAT number contains q' (any case; the VAT number also without
    its spaces), for this search and for other stages' searches by customer (a subquery of ids)."""
    vat = "".join(q.split()).upper()
    return (Customer.code.icontains(q, autoescape=True) | Customer.legal_name.icontains(q, autoescape=True)
            | Customer.tax_id.icontains(vat, autoescape=True))


def ids_matching(q: str):
    """A subquery of the ids of the customers `text_match` finds."""
    return select(Customer.id).where(text_match(q))


def search(session: Session, actor: Actor, company_id: int, *, q: str | None = None, status: str | None = None,
           after: int = 0, limit: int = 50) -> list[dict]:
    """The back office's customer list, by id: those whose code, legal name or VAT number contains `q`
    (any case; the VAT number also without its spaces), of one status when given; each with this company's
    credit limit. Merged duplicates are left out, as in list_customers."""
    require(actor, "read")
    if actor.customer_id is not None:
        raise Forbidden("portal users see only their own customer record")
    stmt = (select(Customer, CustomerAccount)
            .join(CustomerAccount, CustomerAccount.customer_id == Customer.id)
            .where(CustomerAccount.company_id == company_id, Customer.id > after, Customer.merged_into_id.is_(None))
            .order_by(Customer.id).limit(limit))
    if status:
        stmt = stmt.where(Customer.status == status)
    q = (q or "").strip()
    if q:
        stmt = stmt.where(text_match(q))
    return [{"id": c.id, "code": c.code, "legal_name": c.legal_name, "tax_id": c.tax_id, "status": c.status,
             "compliance_hold": c.compliance_hold, "currency": acc.currency, "credit_limit": acc.credit_limit}
            for c, acc in session.execute(stmt)]


def update_customer(session: Session, actor: Actor, company_id: int, customer_id: int, patch: CustomerPatch) -> dict:
    """Change the customer or this company's account with them. A change of the reminder opt-out alone
    needs dunning.write (receivables set it); anything else masterdata.write. The early-payment discount's
    percentage and days, and the electronic address with its scheme, are set (or cleared) together."""
    changes = patch.model_dump(exclude_unset=True)
    require(actor, "dunning.write" if changes and set(changes) == {"dunning_opt_out"} else "masterdata.write")
    if actor.customer_id is not None:
        raise Forbidden("portal users cannot change customer master data")
    c, acc = load(session, company_id, customer_id)
    errors = ErrorList()
    for k in ("legal_name", "payment_terms_days", "dunning_opt_out", "tax_exempt", "ship_preference",
              "discount_pct", "active"):
        if k in changes and changes[k] is None:
            errors.add(k, "required", f"{k} cannot be cleared: give a value")
    after = lambda k, obj: changes[k] if k in changes else getattr(obj, k)  # noqa: E731
    if {"payment_terms_days", "early_discount_pct", "early_discount_days"} & set(changes):
        for e in terms_errors(after("payment_terms_days", acc) if changes.get("payment_terms_days") is not None
                              else acc.payment_terms_days,
                              after("early_discount_pct", acc), after("early_discount_days", acc)):
            errors.add(e.field, e.code, e.message)
    if {"endpoint_id", "endpoint_scheme"} & set(changes):
        for e in endpoint_errors(after("endpoint_id", c), after("endpoint_scheme", c)):
            errors.add(e.field, e.code, e.message)
    given = {k: changes[k] for k in ("tax_id", "email", "phone") if changes.get(k) is not None}
    if given:  # checked and stored normalised, as on create
        from o2c.customers.onboarding import check_identity

        billing = session.scalar(select(CustomerAddress.country).where(CustomerAddress.customer_id == c.id,
                                                                       CustomerAddress.kind == "billing"))
        changes.update(check_identity(errors, billing, **given))
    errors.raise_if_any()
    pending = []
    if {"payment_terms_days", "early_discount_pct", "early_discount_days"} & set(changes):
        # Payment terms are sensitive: they wait for a second user's approval (o2c.customers.changes).
        from o2c.customers import changes as sensitive

        terms = {k: changes.pop(k) if k in changes else getattr(acc, k)
                 for k in ("payment_terms_days", "early_discount_pct", "early_discount_days")}
        if terms != {k: getattr(acc, k) for k in terms}:  # the same terms again change nothing
            if terms["early_discount_pct"] is not None:
                terms["early_discount_pct"] = str(terms["early_discount_pct"])
            pending.append(sensitive.request_change(session, actor, company_id, c.id, "payment_terms", terms,
                                                    "asked by a change of the customer"))
    before = {}
    for k, v in changes.items():
        if k in ("legal_name", "email", "phone", "tax_id", "endpoint_id", "endpoint_scheme"):
            before[k] = getattr(c, k)
            setattr(c, k, v)
        elif k == "ship_preference":
            before[k] = "ship_complete" if acc.ship_complete else "ship_partial"
            acc.ship_complete = v == "ship_complete"
        else:
            before[k] = getattr(acc, k)
            setattr(acc, k, v)
    if changes:
        audit.record(
            session, actor, "customer", c.id, "updated", company_id=company_id,
            data={"changes": {k: str(v) for k, v in changes.items()}, "before": {k: str(v) for k, v in before.items()}},
        )
        masterdata.bump(session, company_id)
    session.flush()
    if "legal_name" in changes and changes["legal_name"] != before.get("legal_name"):
        from o2c.compliance.service import screen_customer  # a new name is screened again

        screen_customer(session, actor, c.id)
    view = customer_view(session, company_id, customer_id)
    if pending:
        view["pending_changes"] = sensitive.views(session, pending)
    return view
