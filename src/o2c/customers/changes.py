"""Changes to a customer's sensitive fields, under four eyes: one user asks, a second user approves.

The sensitive fields (FIELDS) are the ones a fraudster or a mistake turns into money: where the customer
pays from (bank_account), where invoices go (billing_address), when they must pay (payment_terms) and
how much they may owe (credit_limit, group_credit_limit; in the account's currency). A request stores the
field's current value next to the new one; nothing changes until approval. Approval

- needs masterdata.approve (credit.approve for the two limits) and a user other than the requester
  (segregation of duties, rule "request_vs_approve_customer_change": who changes a bank account does not approve
  that change);
- needs the change still pending and its old value still current: a field changed since the request
  makes it stale (409) - ask again on top of the new value;
- applies the value, gives the change the field's next version number (1, 2, ... per customer and field),
  writes the customer's timeline and emits customer.changed.

Approvals of one customer queue on its account row (locked), so two approvers pressing at once apply the
change once: the second finds it approved already. A refusal (permissions, self-approval, stale, bad
value) changes nothing. The requester may withdraw a pending change; an approver may reject it.
"""
from __future__ import annotations

import re
from decimal import Decimal, InvalidOperation

from schwifty import BIC, IBAN
from schwifty.exceptions import SchwiftyException
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from o2c.core import audit, clock, events, masterdata, sod
from o2c.core.auth import Actor, require
from o2c.core.errors import Conflict, FieldError, ErrorList, Forbidden, NotFound, ValidationFailed
from o2c.core.models import User
from o2c.customers import service
from o2c.customers.models import Customer, CustomerAccount, CustomerAddress, CustomerBankAccount, CustomerChange
from o2c.customers.rules import Address, address_errors, terms_errors



def _conflict(message: str, field: str, code: str = "state", **extra) -> Conflict:
    """A 409 whose errors name the field, like a 422 does."""
    return Conflict(message, [FieldError(field, code, message)], **extra)
ADDRESS_FIELDS = ("name", "line1", "line2", "city", "region", "postal_code", "country")
TERMS_FIELDS = ("payment_terms_days", "early_discount_pct", "early_discount_days")
# field -> (permission to ask, permission to approve)
FIELDS = {
    "bank_account": ("masterdata.write", "masterdata.approve"),
    "billing_address": ("masterdata.write", "masterdata.approve"),
    "payment_terms": ("masterdata.write", "masterdata.approve"),
    "credit_limit": ("credit.write", "credit.approve"),
    "group_credit_limit": ("credit.write", "credit.approve"),
}
# Receivables put the accounts customers pay from on file as part of reconciliation: they may ask too.
ALSO_MAY_ASK = {"bank_account": "reconciliation.write"}


def _may_ask(actor: Actor, field: str) -> None:
    if field in ALSO_MAY_ASK and actor.can(ALSO_MAY_ASK[field]):
        return
    require(actor, FIELDS[field][0])


# --- values: checked and brought to one JSON form ----------------------------------------------------

def _compact(text: str | None) -> str:
    return re.sub(r"[\s\-.]", "", text or "").upper()


def _bank_value(value: dict) -> dict:
    errors = ErrorList()
    action = value.get("action", "add")
    if action not in ("add", "remove"):
        errors.add("value.action", "invalid", "action is 'add' or 'remove'")
    iban = _compact(value.get("iban"))
    if not iban:
        errors.add("value.iban", "required", "iban is required")
    else:
        try:
            IBAN(iban)
        except SchwiftyException as exc:
            errors.add("value.iban", "invalid", f"'{value.get('iban')}' is not a valid IBAN: {exc}")
    bic = _compact(value.get("bic")) or None
    if bic and action == "add":
        try:
            code = BIC(bic)
        except SchwiftyException as exc:
            errors.add("value.bic", "invalid", f"'{value.get('bic')}' is not a valid BIC: {exc}")
        else:
            if iban and not errors.items and code.country_code != iban[:2]:
                errors.add("value.bic", "other_country",
                           f"BIC {bic} is of country {code.country_code}, the IBAN of {iban[:2]}")
    errors.raise_if_any("The bank account is not valid")
    holder = (value.get("holder_name") or "").strip()[:200] or None
    return {"action": action, "iban": iban} | ({"bic": bic, "holder_name": holder} if action == "add" else {})


def _address_value(value: dict) -> dict:
    unknown = set(value) - set(ADDRESS_FIELDS)
    if unknown:
        first = sorted(unknown)[0]
        raise ValidationFailed.one(f"value.{first}", "unknown", f"{first} is not an address field")
    addr = {k: (value.get(k) or None) for k in ADDRESS_FIELDS}
    if addr["country"]:
        addr["country"] = addr["country"].upper()
    errors = ErrorList()
    for e in address_errors(Address(**addr), "value"):
        errors.add(e.field, e.code, e.message)
    errors.raise_if_any("The billing address is not valid")
    return addr


def _int(value, field: str) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, str)) or not str(value).strip().lstrip("-").isdigit():
        raise ValidationFailed.one(f"value.{field}", "invalid", f"{field} must be a whole number of days")
    return int(value)


def _decimal(value, field: str) -> Decimal | None:
    if value is None:
        return None
    try:
        d = Decimal(str(value))
    except InvalidOperation:
        raise ValidationFailed.one(f"value.{field}", "invalid", f"{value!r} is not a number") from None
    if not d.is_finite():
        raise ValidationFailed.one(f"value.{field}", "invalid", f"{value!r} is not a number")
    return d


def _terms_value(value: dict) -> dict:
    unknown = set(value) - set(TERMS_FIELDS)
    if unknown:
        first = sorted(unknown)[0]
        raise ValidationFailed.one(f"value.{first}", "unknown", f"{first} is not a payment term")
    net = _int(value.get("payment_terms_days"), "payment_terms_days")
    pct = _decimal(value.get("early_discount_pct"), "early_discount_pct")
    days = _int(value.get("early_discount_days"), "early_discount_days")
    errors = ErrorList()
    if net is None:
        errors.add("value.payment_terms_days", "required", "payment_terms_days is required")
    elif not 0 <= net <= 365:
        errors.add("value.payment_terms_days", "out_of_range", "payment_terms_days is 0 to 365")
    else:
        for e in terms_errors(net, pct, days):
            errors.add(f"value.{e.field}", e.code, e.message)
    errors.raise_if_any("The payment terms are not valid")
    return {"payment_terms_days": net, "early_discount_pct": None if pct is None else _plain(pct),
            "early_discount_days": days}


def _plain(d: Decimal) -> str:
    """A decimal as text without trailing zeros ("2.5000" -> "2.5"), so equal amounts compare equal."""
    return format(d.normalize(), "f")


def _limit_value(value: dict, field: str) -> dict:
    if set(value) - {field}:
        raise ValidationFailed.one("value", "unknown", f"give {{'{field}': amount or null}}")
    amount = _decimal(value.get(field), field)
    if amount is not None and amount < 0:
        raise ValidationFailed.one(f"value.{field}", "negative", f"{field} cannot be negative")
    if amount is not None and amount.as_tuple().exponent < -4:
        raise ValidationFailed.one(f"value.{field}", "too_precise", f"{field} has at most 4 decimals")
    return {field: None if amount is None else _plain(amount)}


def normalise(field: str, value) -> dict:
    """The new value in its stored form; 422 naming the part that is wrong."""
    if field not in FIELDS:
        raise ValidationFailed.one("field", "invalid",
                                   f"{field!r} is not a sensitive field: one of {', '.join(FIELDS)}")
    if not isinstance(value, dict):
        raise ValidationFailed.one("value", "invalid", "value is an object")
    if field == "bank_account":
        return _bank_value(value)
    if field == "billing_address":
        return _address_value(value)
    if field == "payment_terms":
        return _terms_value(value)
    return _limit_value(value, field)


# --- the current value of a field ----------------------------------------------------------------------

def _billing(session: Session, customer_id: int) -> CustomerAddress | None:
    return session.scalar(select(CustomerAddress).where(CustomerAddress.customer_id == customer_id,
                                                        CustomerAddress.kind == "billing")
                          .order_by(CustomerAddress.is_default.desc(), CustomerAddress.id).limit(1))


def _bank_row(session: Session, customer_id: int, iban: str) -> CustomerBankAccount | None:
    return session.scalar(select(CustomerBankAccount).where(CustomerBankAccount.customer_id == customer_id,
                                                            CustomerBankAccount.iban == iban))


def current(session: Session, customer: Customer, acc: CustomerAccount, field: str, new: dict) -> dict | None:
    """The field's value now, in the stored form (for a bank account: that IBAN's entry, or None)."""
    if field == "bank_account":
        row = _bank_row(session, customer.id, new["iban"])
        return None if row is None else {"iban": row.iban, "bic": row.bic, "holder_name": row.holder_name}
    if field == "billing_address":
        a = _billing(session, customer.id)
        return None if a is None else {k: getattr(a, k) for k in ADDRESS_FIELDS}
    if field == "payment_terms":
        return {"payment_terms_days": acc.payment_terms_days,
                "early_discount_pct": None if acc.early_discount_pct is None else _plain(acc.early_discount_pct),
                "early_discount_days": acc.early_discount_days}
    amount = getattr(acc, field)
    return {field: None if amount is None else _plain(amount)}


def _no_change(field: str, old: dict | None, new: dict) -> bool:
    if field == "bank_account":
        return (new["action"] == "add") == (old is not None) and (
            new["action"] == "remove" or (old["bic"], old["holder_name"]) == (new["bic"], new["holder_name"]))
    return old == new


# --- the use cases -------------------------------------------------------------------------------------

def request_change(session: Session, actor: Actor, company_id: int, customer_id: int, field: str, value,
                   reason: str | None = None) -> CustomerChange:
    """Ask for a change of a sensitive field; it waits for a second user's approval."""
    if field in FIELDS:
        _may_ask(actor, field)
    new = normalise(field, value)
    c, acc = service.load(session, company_id, customer_id)
    if actor.customer_id is not None:
        raise Forbidden("portal users cannot change customer master data")
    if c.merged_into_id is not None:
        raise _conflict(f"customer {c.code} was merged into customer {c.merged_into_id}: change the golden record",
                       field="customer_id")
    old = current(session, c, acc, field, new)
    if field == "bank_account" and new["action"] == "add" and old is not None:
        raise _conflict(f"customer {c.code} has the IBAN {new['iban']} on file already", field="iban", code="exists")
    if field == "bank_account" and new["action"] == "remove" and old is None:
        raise _conflict(f"customer {c.code} has no IBAN {new['iban']} on file", field="iban", code="not_on_file")
    if _no_change(field, old, new):
        raise ValidationFailed.one("value", "unchanged", f"{field} is that value already")
    if field == "group_credit_limit" and c.parent_id is not None:
        raise ValidationFailed.one("field", "not_group_root", f"customer {c.code} belongs to a group: set the "
                                   "group credit limit on the group's top customer")
    for pending in _pending(session, company_id, customer_id, field):
        if field != "bank_account" or pending.new_value.get("iban") == new["iban"]:
            raise _conflict(f"change {pending.id} of {field} awaits a decision: withdraw or decide it first",
                           field="field", code="pending", change_id=pending.id)
    change = CustomerChange(company_id=company_id, customer_id=c.id, field=field, old_value=old, new_value=new,
                            status="pending", reason=reason, requested_by=actor.user_id, requested_at=clock.now())
    session.add(change)
    session.flush()
    audit.record(session, actor, "customer", c.id, "change_requested", company_id=company_id, reason=reason,
                 data={"change_id": change.id, "field": field, "old": old, "new": new})
    events.emit(session, "customer.change_requested", {"change_id": change.id, "customer_id": c.id, "field": field},
                company_id=company_id, entity_id=c.id)
    return change


def _pending(session: Session, company_id: int, customer_id: int, field: str) -> list[CustomerChange]:
    return list(session.scalars(select(CustomerChange).where(
        CustomerChange.company_id == company_id, CustomerChange.customer_id == customer_id,
        CustomerChange.field == field, CustomerChange.status == "pending")))


def _locked(session: Session, company_id: int, change_id: int) -> tuple[CustomerChange, Customer, CustomerAccount]:
    """The change and its customer's account, locked in that order (account, then change) so approvals of
    one customer run one after the other; the change is read again after the wait."""
    customer_id = session.scalar(select(CustomerChange.customer_id).where(CustomerChange.id == change_id,
                                                                          CustomerChange.company_id == company_id))
    if customer_id is None:
        raise NotFound(f"change {change_id} not found")
    acc = service.lock_account(session, company_id, customer_id)
    change = session.scalar(select(CustomerChange).where(CustomerChange.id == change_id)
                            .with_for_update().execution_options(populate_existing=True))
    customer = session.get(Customer, customer_id)
    return change, customer, acc


def _decide_check(session: Session, change: CustomerChange, actor: Actor) -> None:
    if change.status != "pending":
        raise _conflict(f"change {change.id} is {change.status} already", field="status", code="decided")
    sod.check(session, actor, "approve_customer_change", "request_customer_change", [change.requested_by])
    require(actor, FIELDS[change.field][1])


def approve_change(session: Session, actor: Actor, company_id: int, change_id: int, reason: str | None = None
                   ) -> CustomerChange:
    change, c, acc = _locked(session, company_id, change_id)
    _decide_check(session, change, actor)
    now_value = current(session, c, acc, change.field, change.new_value)
    if now_value != change.old_value:
        raise _conflict(f"{change.field} of customer {c.code} changed since change {change.id} was asked for: it is "
                       "stale, ask again", field="old_value", code="stale", current=now_value)
    _apply(session, c, acc, change.field, change.new_value)
    last = session.scalar(select(func.max(CustomerChange.version)).where(
        CustomerChange.customer_id == c.id, CustomerChange.field == change.field, CustomerChange.status == "approved"))
    change.version = (last or 0) + 1
    change.status, change.decided_by, change.decided_at = "approved", actor.user_id, clock.now()
    change.decision_reason = reason
    session.flush()
    audit.record(session, actor, "customer", c.id, "change_approved", company_id=company_id, reason=reason,
                 data={"change_id": change.id, "field": change.field, "version": change.version,
                       "old": change.old_value, "new": change.new_value, "requested_by": change.requested_by})
    events.emit(session, "customer.changed", {"change_id": change.id, "customer_id": c.id, "field": change.field,
                                              "version": change.version}, company_id=company_id, entity_id=c.id)
    masterdata.bump(session, company_id)
    if change.field in ("credit_limit", "group_credit_limit"):
        _recheck_credit_holds(session, actor, company_id, c.id, change.field)
    return change


def _recheck_credit_holds(session: Session, actor: Actor, company_id: int, customer_id: int, field: str) -> None:
    """A new limit: orders waiting on a credit hold (the customer's, or the whole group's for a group
    limit) are checked again, and those the limit now covers move on without a credit decision. Orders
    already confirmed keep their stock: a lower limit holds the next order, not the last."""
    from o2c.customers.hierarchy import group_members
    from o2c.orders import service as orders

    members = group_members(session, customer_id) if field == "group_credit_limit" else [customer_id]
    for member in members:
        for order_id in orders.held_order_ids(session, company_id, member, {"credit"}):
            orders.recheck(session, actor, company_id, order_id, f"{field.replace('_', ' ')} changed")


def _apply(session: Session, c: Customer, acc: CustomerAccount, field: str, new: dict) -> None:
    if field == "bank_account":
        row = _bank_row(session, c.id, new["iban"])
        if new["action"] == "remove":
            session.delete(row)
        else:
            session.add(CustomerBankAccount(customer_id=c.id, iban=new["iban"], bic=new["bic"],
                                            holder_name=new["holder_name"], created_at=clock.now()))
    elif field == "billing_address":
        a = _billing(session, c.id)
        if a is None:
            a = CustomerAddress(customer_id=c.id, kind="billing", is_default=True)
            session.add(a)
        for k in ADDRESS_FIELDS:
            setattr(a, k, new[k])
    elif field == "payment_terms":
        acc.payment_terms_days = new["payment_terms_days"]
        acc.early_discount_pct = None if new["early_discount_pct"] is None else Decimal(new["early_discount_pct"])
        acc.early_discount_days = new["early_discount_days"]
    else:
        setattr(acc, field, None if new[field] is None else Decimal(new[field]))
    session.flush()


def reject_change(session: Session, actor: Actor, company_id: int, change_id: int, reason: str | None = None
                  ) -> CustomerChange:
    """An approver turns the change down; nothing is applied."""
    if not (reason or "").strip():
        raise ValidationFailed.one("reason", "required", "say why the change is rejected")
    change, c, _ = _locked(session, company_id, change_id)
    _decide_check(session, change, actor)
    return _close(session, actor, company_id, change, "rejected", reason)


def withdraw_change(session: Session, actor: Actor, company_id: int, change_id: int, reason: str | None = None
                    ) -> CustomerChange:
    """The requester takes the change back."""
    change, c, _ = _locked(session, company_id, change_id)
    if change.status != "pending":
        raise _conflict(f"change {change.id} is {change.status} already", field="status", code="decided")
    if actor.user_id != change.requested_by:
        raise Forbidden(f"only the user who asked for change {change.id} may withdraw it")
    return _close(session, actor, company_id, change, "withdrawn", reason)


def _close(session: Session, actor: Actor, company_id: int, change: CustomerChange, status: str,
           reason: str | None) -> CustomerChange:
    change.status, change.decided_by, change.decided_at = status, actor.user_id, clock.now()
    change.decision_reason = reason
    session.flush()
    audit.record(session, actor, "customer", change.customer_id, f"change_{status}", company_id=company_id,
                 reason=reason, data={"change_id": change.id, "field": change.field})
    return change


# --- reading -------------------------------------------------------------------------------------------

def view(session: Session, change: CustomerChange, names: dict[int, str] | None = None) -> dict:
    if names is None:
        names = _usernames(session, [change])
    return {"id": change.id, "customer_id": change.customer_id, "field": change.field,
            "old_value": change.old_value, "new_value": change.new_value, "status": change.status,
            "version": change.version, "reason": change.reason,
            "requested_by": names.get(change.requested_by), "requested_at": change.requested_at,
            "decided_by": names.get(change.decided_by), "decided_at": change.decided_at,
            "decision_reason": change.decision_reason}


def _usernames(session: Session, changes: list[CustomerChange]) -> dict[int, str]:
    ids = {x for ch in changes for x in (ch.requested_by, ch.decided_by) if x is not None}
    if not ids:
        return {}
    return dict(session.execute(select(User.id, User.username).where(User.id.in_(ids))).all())


def views(session: Session, changes: list[CustomerChange]) -> list[dict]:
    names = _usernames(session, changes)
    return [view(session, ch, names) for ch in changes]


def history(session: Session, company_id: int, customer_id: int, field: str | None = None) -> list[CustomerChange]:
    """Every change asked for the customer in this company, oldest first; approved ones carry their version."""
    service.load(session, company_id, customer_id)
    stmt = select(CustomerChange).where(CustomerChange.company_id == company_id,
                                        CustomerChange.customer_id == customer_id)
    if field is not None:
        stmt = stmt.where(CustomerChange.field == field)
    return list(session.scalars(stmt.order_by(CustomerChange.id)))


def queue(session: Session, company_id: int, status: str | None = "pending", after: int = 0, limit: int = 100
          ) -> list[CustomerChange]:
    """The company's changes in `status` (all when None), oldest first: the approvers' work list."""
    stmt = select(CustomerChange).where(CustomerChange.company_id == company_id, CustomerChange.id > after)
    if status is not None:
        stmt = stmt.where(CustomerChange.status == status)
    return list(session.scalars(stmt.order_by(CustomerChange.id).limit(limit)))


def get(session: Session, company_id: int, change_id: int) -> CustomerChange:
    change = session.get(CustomerChange, change_id)
    if change is None or change.company_id != company_id:
        raise NotFound(f"change {change_id} not found")
    return change
