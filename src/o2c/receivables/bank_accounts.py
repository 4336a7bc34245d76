"""The bank accounts a customer pays from: how reconciliation knows who paid a statement line.

An IBAN is kept in its electronic form (no spaces, capitals) after schwifty has checked its country,
length, structure and check digits; a BIC is checked the same way and must be of the IBAN's country.
A person asks to add one here (a change a second user approves: o2c.customers.changes) and removes
them here, and confirming a statement line adds the payer's IBAN when the
customer did not have it (o2c.receivables.service): the next statement from that account matches by
itself. One IBAN may sit on several customers (a parent paying for its subsidiaries); the matcher
then takes it as evidence for none of them.
"""
from __future__ import annotations

import re

from schwifty import BIC, IBAN
from schwifty.exceptions import SchwiftyException
from sqlalchemy import select
from sqlalchemy.orm import Session

from o2c.core import audit, clock
from o2c.core.auth import Actor, require
from o2c.core.errors import Conflict, ErrorList, NotFound, ValidationFailed
from o2c.customers import changes
from o2c.customers import service as customers
from o2c.customers.models import Customer, CustomerAccount, CustomerBankAccount, CustomerChange

_SEPARATORS = re.compile(r"[\s\-.]")


def iban_error(text: str) -> str | None:
    """Why `text` is not an IBAN (schwifty's reason), or None when it is one."""
    try:
        IBAN(_SEPARATORS.sub("", text))
    except SchwiftyException as exc:
        return str(exc)
    return None


def compact_iban(text: str) -> str:
    """The electronic form: separators removed, capitals (schwifty rejects some typed with '-' or '.')."""
    return _SEPARATORS.sub("", text).upper()


def _check(iban: str | None, bic: str | None) -> tuple[str, str | None]:
    errors = ErrorList()
    compact = compact_iban(iban or "")
    if not compact:
        errors.add("iban", "required", "iban is required")
    elif (why := iban_error(compact)) is not None:
        errors.add("iban", "invalid", f"'{iban}' is not a valid IBAN: {why}")
    bic_compact = None
    if bic:
        bic_compact = re.sub(r"\s", "", bic).upper()
        try:
            code = BIC(bic_compact)
        except SchwiftyException as exc:
            errors.add("bic", "invalid", f"'{bic}' is not a valid BIC: {exc}")
        else:
            if compact and not errors.items and code.country_code != compact[:2]:
                errors.add("bic", "other_country", f"BIC {bic_compact} is of country {code.country_code}, "
                           f"the IBAN of {compact[:2]}")
    errors.raise_if_any("The bank account is not valid")
    return compact, bic_compact


def list_accounts(session: Session, actor: Actor, company_id: int, customer_id: int) -> list[CustomerBankAccount]:
    customers.load(session, company_id, customer_id, actor)
    return list(session.scalars(select(CustomerBankAccount).where(CustomerBankAccount.customer_id == customer_id)
                                .order_by(CustomerBankAccount.id)))


def find(session: Session, customer_id: int, iban: str) -> CustomerBankAccount | None:
    return session.scalar(select(CustomerBankAccount).where(CustomerBankAccount.customer_id == customer_id,
                                                            CustomerBankAccount.iban == iban))


def add_account(session: Session, actor: Actor, company_id: int, customer_id: int, iban: str | None,
                bic: str | None = None, holder_name: str | None = None) -> CustomerChange:
    """Ask to put an account on file for the customer (reconciliation.write): a bank account is a
    sensitive field, so this is a change a second user approves (o2c.customers.changes). 422 naming `iban`
    or `bic` when either is not valid; 409 when the customer has that IBAN already."""
    require(actor, "reconciliation.write")
    customers.load(session, company_id, customer_id, actor)
    compact, bic_compact = _check(iban, bic)
    if find(session, customer_id, compact) is not None:
        raise Conflict(f"customer {customer_id} has the IBAN {compact} on file already", field="iban")
    return changes.request_change(session, actor, company_id, customer_id, "bank_account",
                                  {"action": "add", "iban": compact, "bic": bic_compact, "holder_name": holder_name},
                                  "bank account added by receivables")


def _store(session: Session, actor: Actor, company_id: int, customer_id: int, iban: str, bic: str | None,
           holder_name: str | None, why: str) -> CustomerBankAccount:
    account = CustomerBankAccount(customer_id=customer_id, iban=iban, bic=bic,
                                  holder_name=(holder_name or None) and holder_name[:200], created_at=clock.now())
    session.add(account)
    session.flush()
    audit.record(session, actor, "customer", customer_id, "bank_account_" + why, company_id=company_id,
                 data={"iban": iban, "bic": bic, "holder_name": account.holder_name})
    return account


def remember(session: Session, actor: Actor, company_id: int, customer_id: int, iban: str | None,
             bic: str | None, holder_name: str | None) -> CustomerBankAccount | None:
    """After a person applied a payment from `iban` to the customer: put the IBAN on file when it is a
    valid IBAN the customer does not have yet; None when nothing was added. The caller holds the
    statement line's lock, so the same line never adds it twice."""
    if not iban or iban_error(iban) is not None:
        return None
    compact = compact_iban(iban)
    if find(session, customer_id, compact) is not None:
        return None
    try:
        bic_compact = _check(compact, bic)[1]
    except ValidationFailed:  # a BIC the bank wrote badly is no reason to forget the IBAN
        bic_compact = None
    return _store(session, actor, company_id, customer_id, compact, bic_compact, holder_name, "remembered")


def remove_account(session: Session, actor: Actor, company_id: int, customer_id: int, account_id: int) -> None:
    require(actor, "reconciliation.write")
    customers.load(session, company_id, customer_id, actor)
    account = session.get(CustomerBankAccount, account_id)
    if account is None or account.customer_id != customer_id:
        raise NotFound(f"bank account {account_id} of customer {customer_id} not found")
    audit.record(session, actor, "customer", customer_id, "bank_account_removed", company_id=company_id,
                 data={"iban": account.iban})
    session.delete(account)
    session.flush()


def _company_customers(company_id: int):
    return select(CustomerAccount.customer_id).where(CustomerAccount.company_id == company_id)


def known_accounts(session: Session, company_id: int) -> dict[str, int]:
    """IBAN -> customer for the matcher: the IBANs on file for exactly one of the company's customers."""
    owners: dict[str, set[int]] = {}
    for iban, customer_id in session.execute(
            select(CustomerBankAccount.iban, CustomerBankAccount.customer_id)
            .where(CustomerBankAccount.customer_id.in_(_company_customers(company_id)))):
        owners.setdefault(iban, set()).add(customer_id)
    return {iban: next(iter(ids)) for iban, ids in owners.items() if len(ids) == 1}


def customer_names(session: Session, company_id: int, customer_ids: set[int]) -> dict[int, str]:
    """The legal names of the company's customers named (what the payer's name is compared with)."""
    if not customer_ids:
        return {}
    rows = session.execute(select(Customer.id, Customer.legal_name)
                           .where(Customer.id.in_(_company_customers(company_id))))
    return {cid: name for cid, name in rows if cid in customer_ids}
