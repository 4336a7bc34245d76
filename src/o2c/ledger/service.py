"""Ledger use cases: each company's chart of accounts, posting entries to the journal, and the figures
read from it (trial balance, receivables subledger against its control accounts, journal CSV).

The templates of o2c.ledger.rules decide what an entry holds; `post` checks it against the company's
chart and stores it with the next journal number. Posting runs in the caller's transaction (an invoice
and its entry commit together) and is authorised by the caller's use case.
"""
from __future__ import annotations

from collections import defaultdict
from datetime import date
from decimal import Decimal

from sqlalchemy import func, insert, select, update
from sqlalchemy.orm import Session, selectinload

from o2c.core import audit, clock
from o2c.core.auth import Actor, require
from o2c.core.errors import ErrorList, ValidationFailed
from o2c.core.money import ZERO, round_money
from o2c.ledger import rules
from o2c.ledger.models import JournalCounter, JournalEntry, JournalLine, LedgerAccount


def insert_missing(session: Session, model, rows: list[dict], keys: list[str]) -> None:
    """Insert the rows whose keys are not there yet. Two transactions doing this at once never both
    insert: the second waits on the unique key until the first ends, then skips what it wrote."""
    if session.get_bind().dialect.name == "postgresql":
        from sqlalchemy.dialects.postgresql import insert
    else:
        from sqlalchemy.dialects.sqlite import insert
    session.execute(insert(model).values(rows).on_conflict_do_nothing(index_elements=keys))


def _stored_accounts(session: Session, company_id: int) -> list[rules.Account]:
    rows = session.scalars(select(LedgerAccount).where(LedgerAccount.company_id == company_id)
                           .order_by(LedgerAccount.code))
    return [rules.Account(a.code, a.name, a.kind, a.role) for a in rows]


def chart(session: Session, company_id: int) -> rules.Chart:
    """The company's chart of accounts; on first use, the default chart is stored for it (once, also when
    two transactions use it first at the same moment). Read once per transaction: a posting use case
    asks for it several times (its template, then `post`)."""
    cached = session.info.setdefault("ledger.charts", {})
    if company_id in cached:
        return cached[company_id]
    accounts = _stored_accounts(session, company_id)
    if not accounts:  # not cached: a savepoint rolled back could take the stored chart with it
        insert_missing(session, LedgerAccount, [
            {"company_id": company_id, "code": a.code, "name": a.name, "kind": a.kind, "role": a.role}
            for a in rules.DEFAULT_ACCOUNTS], ["company_id", "code"])
        return rules.check_chart(_stored_accounts(session, company_id))
    cached[company_id] = rules.check_chart(accounts)
    return cached[company_id]


def configure_chart(session: Session, actor: Actor, company_id: int, wanted: list[rules.Account]) -> rules.Chart:
    """Replace the company's chart with `wanted` (the whole chart): add accounts, rename them, give roles
    to other accounts. What the journal already uses stays as it was: an account with postings keeps its
    kind and cannot be removed, and the customer accounts (receivables, unapplied credits) cannot move
    once posted to, or the subledger would no longer sum to its control account. Refused as a whole,
    naming the account, when any of that is broken or the new chart is not valid (rules.check_chart)."""
    require(actor, "ledger.configure")
    new = rules.check_chart(wanted)
    old = chart(session, company_id)
    used = set(session.scalars(select(JournalLine.account_code).distinct()
                               .join(JournalEntry, JournalEntry.id == JournalLine.entry_id)
                               .where(JournalEntry.company_id == company_id)))
    errors = ErrorList()
    at = {a.code: i for i, a in enumerate(new)}
    for a in old:
        if a.code not in used:
            continue
        now = new.account(a.code)
        if now is None:
            errors.add("accounts", "in_use", f"account {a.code} ({a.name}) has postings: it cannot be removed")
        elif now.kind != a.kind:
            errors.add(f"accounts[{at[a.code]}].kind", "in_use",
                       f"account {a.code} has postings as {a.kind}: its kind cannot become {now.kind}")
    for role in rules.CUSTOMER_ROLES:
        if old.code(role) in used and new.code(role) != old.code(role):
            errors.add(f"accounts[{at[new.code(role)]}].role", "in_use",
                       f"role {role} stays with account {old.code(role)}, which has postings: the customer "
                       "subledger is read from it")
    errors.raise_if_any("The chart of accounts cannot be changed so")
    rows = {r.code: r for r in session.scalars(select(LedgerAccount).where(LedgerAccount.company_id == company_id)
                                               .with_for_update())}
    for code, row in rows.items():
        if new.account(code) is None:
            session.delete(row)
    session.flush()  # roles freed before other accounts take them
    for a in new:
        row = rows.get(a.code)
        if row is None:
            session.add(LedgerAccount(company_id=company_id, code=a.code, name=a.name, kind=a.kind, role=a.role))
        else:
            row.name, row.kind, row.role = a.name, a.kind, a.role
    session.flush()
    session.info.setdefault("ledger.charts", {})[company_id] = new
    audit.record(session, actor, "company", company_id, "chart_changed", company_id=company_id, data={
        "accounts": [[a.code, a.name, a.kind, a.role] for a in new]})
    return new


def accounts(session: Session, company_id: int) -> list[rules.Account]:
    """The chart as it is, or as it will be stored on first posting (read-only)."""
    return _stored_accounts(session, company_id) or list(rules.DEFAULT_ACCOUNTS)


def _take_number(session: Session, company_id: int) -> int:
    """The next entry number: the counter row is locked until the transaction ends, so numbers are taken
    one transaction at a time and a rolled-back posting gives its number back."""
    return take_counter(session, JournalCounter, {"company_id": company_id})


def take_counter(session: Session, model, key: dict, n: int = 1) -> int:
    """Take the next `n` numbers of a counter row (`next_number`) and leave the row locked until the
    transaction ends; the first is returned, the others follow it. The row is created on first use, once
    also under concurrency; after that it is a single UPDATE ... RETURNING, whatever `n`."""
    stmt = (update(model).where(*(getattr(model, k) == v for k, v in key.items()))
            .values(next_number=model.next_number + n).returning(model.next_number))
    taken = session.execute(stmt).scalar_one_or_none()
    if taken is None:
        insert_missing(session, model, [{**key, "next_number": 1}], list(key))
        taken = session.execute(stmt).scalar_one()
    return taken - n


def _customer(value: str | None, at: str) -> int | None:
    if value is None:
        return None
    if not (isinstance(value, str) and value.isascii() and value.isdigit()):
        raise ValidationFailed.one(f"{at}.customer_id", "invalid", f"{at}.customer_id must be a customer id, not {value!r}")
    return int(value)


def post(session: Session, actor: Actor, company_id: int, entry: rules.Entry) -> JournalEntry:
    """Store a balanced entry under the next journal number. An entry that is not sound double entry, or
    that the company's chart does not fit, is refused with the fields named and nothing is stored."""
    c = chart(session, company_id)
    rules.validate_entry(entry, c)
    customers = [_customer(ln.customer_id, f"lines[{i}]") for i, ln in enumerate(entry.lines)]
    je = JournalEntry(company_id=company_id, number=_take_number(session, company_id), date=entry.date,
                      memo=entry.memo[:400], source_kind=entry.source[0], source_id=entry.source[1],
                      currency=entry.currency, created_at=clock.now(), created_by=actor.user_id)
    session.add(je)
    session.flush()
    session.add_all(JournalLine(entry_id=je.id, account_code=ln.account_code, debit=ln.debit, credit=ln.credit,
                                customer_id=cust, open_item=ln.open_item)
                    for ln, cust in zip(entry.lines, customers))
    session.flush()
    return je


def post_many(session: Session, actor: Actor, company_id: int, entries: list[rules.Entry]) -> list[int]:
    """Store balanced entries under the next journal numbers, in their order, as `post` stores each: the
    numbers taken with one counter update, the entries and their lines written with two multi-row
    inserts. Any entry refused refuses them all, nothing stored. The entries' ids, in order."""
    if not entries:
        return []
    c = chart(session, company_id)
    for entry in entries:
        rules.validate_entry(entry, c)
    customers = [[_customer(ln.customer_id, f"lines[{i}]") for i, ln in enumerate(e.lines)] for e in entries]
    first = take_counter(session, JournalCounter, {"company_id": company_id}, len(entries))
    now = clock.now()
    ids = session.scalars(insert(JournalEntry).returning(JournalEntry.id, sort_by_parameter_order=True), [
        {"company_id": company_id, "number": first + k, "date": e.date, "memo": e.memo[:400],
         "source_kind": e.source[0], "source_id": e.source[1], "currency": e.currency, "created_at": now,
         "created_by": actor.user_id} for k, e in enumerate(entries)]).all()
    session.execute(insert(JournalLine), [
        {"entry_id": je_id, "account_code": ln.account_code, "debit": ln.debit, "credit": ln.credit,
         "customer_id": cust, "open_item": ln.open_item}
        for je_id, e, custs in zip(ids, entries, customers) for ln, cust in zip(e.lines, custs)])
    return list(ids)


def as_entry(je: JournalEntry) -> rules.Entry:
    return rules.Entry(je.date, je.memo, (je.source_kind, je.source_id), tuple(
        rules.EntryLine(ln.account_code, ln.debit, ln.credit, str(ln.customer_id) if ln.customer_id else None,
                        ln.open_item) for ln in je.lines), je.currency, str(je.number))


def list_entries(session: Session, company_id: int, *, before_number: int | None = None, limit: int = 50,
                 source_kind: str | None = None, source_id: str | None = None) -> list[JournalEntry]:
    """Newest first; `before_number` is the cursor (the number of the last entry of the previous page)."""
    stmt = (select(JournalEntry).where(JournalEntry.company_id == company_id)
            .order_by(JournalEntry.number.desc()).limit(limit).options(selectinload(JournalEntry.lines)))
    if before_number is not None:
        stmt = stmt.where(JournalEntry.number < before_number)
    if source_kind:
        stmt = stmt.where(JournalEntry.source_kind == source_kind)
    if source_id:
        stmt = stmt.where(JournalEntry.source_id == source_id)
    return list(session.scalars(stmt))


def entry_view(je: JournalEntry) -> dict:
    """An entry as the API shows it: amounts in the currency's minor units."""
    money = lambda amount: round_money(amount, je.currency)  # noqa: E731 (exact: stored in minor units)
    return {"id": je.id, "number": je.number, "date": je.date, "memo": je.memo, "source_kind": je.source_kind,
            "source_id": je.source_id, "currency": je.currency, "created_at": je.created_at,
            "lines": [{"account_code": ln.account_code, "debit": money(ln.debit), "credit": money(ln.credit),
                       "customer_id": ln.customer_id, "open_item": ln.open_item} for ln in je.lines]}


def trial_balance(session: Session, company_id: int) -> list[dict]:
    """Per currency of the journal: debits, credits and balance per account, and whether it balances.
    Summed in the database (exact on both: see o2c.core.db.ExactDecimal)."""
    names = {a.code: a for a in accounts(session, company_id)}
    rows = session.execute(
        select(JournalEntry.currency, JournalLine.account_code, func.sum(JournalLine.debit),
               func.sum(JournalLine.credit))
        .join(JournalEntry, JournalEntry.id == JournalLine.entry_id)
        .where(JournalEntry.company_id == company_id)
        .group_by(JournalEntry.currency, JournalLine.account_code)
        .order_by(JournalEntry.currency, JournalLine.account_code))
    out: dict[str, dict] = {}
    for currency, code, dr, cr in rows:
        tb = out.setdefault(currency, {"currency": currency, "accounts": [], "debits": ZERO, "credits": ZERO})
        acc = names.get(code)
        dr, cr = round_money(dr, currency), round_money(cr, currency)  # exact: entries are in minor units
        tb["accounts"].append({"code": code, "name": acc.name if acc else "", "kind": acc.kind if acc else "",
                               "debit": dr, "credit": cr, "balance": dr - cr})
        tb["debits"] += dr
        tb["credits"] += cr
    for tb in out.values():
        tb["balanced"] = tb["debits"] == tb["credits"]
    return list(out.values())


def ar_check(session: Session, company_id: int) -> list[dict]:
    """Per currency: the customer subledger (each customer's net position on receivables and unapplied
    credits) against its control accounts in the trial balance; `agrees` must always be true."""
    codes = [a.code for a in accounts(session, company_id) if a.role in rules.CUSTOMER_ROLES]
    rows = session.execute(
        select(JournalEntry.currency, JournalLine.customer_id, func.sum(JournalLine.debit),
               func.sum(JournalLine.credit))
        .join(JournalEntry, JournalEntry.id == JournalLine.entry_id)
        .where(JournalEntry.company_id == company_id, JournalLine.account_code.in_(codes))
        .group_by(JournalEntry.currency, JournalLine.customer_id))
    per: dict[str, dict] = defaultdict(lambda: {"control": ZERO, "customers": {}})
    for currency, customer_id, dr, cr in rows:
        amount = round_money(dr - cr, currency)  # exact: entries are in minor units
        per[currency]["control"] += amount
        if customer_id is not None:
            per[currency]["customers"][customer_id] = amount
    out = []
    for currency, p in sorted(per.items()):
        sub = sum(p["customers"].values(), ZERO)
        out.append({"currency": currency, "control": p["control"], "subledger": sub,
                    "customers": p["customers"], "agrees": sub == p["control"]})
    return out


def open_item_balances(session: Session, company_id: int, role: str, *, customer_id: int | None = None,
                       items: list[str] | None = None) -> dict[tuple[int, str, str], Decimal]:
    """Open items on the customer account of `role` (receivables, unapplied credits): balance (debit -
    credit) per (customer, currency, open item), items at zero left out; narrowed to one customer and to
    the items named. One query."""
    code = rules.check_chart(accounts(session, company_id)).code(role)
    stmt = (select(JournalLine.customer_id, JournalEntry.currency, JournalLine.open_item,
                   func.sum(JournalLine.debit) - func.sum(JournalLine.credit))
            .join(JournalEntry, JournalEntry.id == JournalLine.entry_id)
            .where(JournalEntry.company_id == company_id, JournalLine.account_code == code)
            .group_by(JournalLine.customer_id, JournalEntry.currency, JournalLine.open_item))
    if customer_id is not None:
        stmt = stmt.where(JournalLine.customer_id == customer_id)
    if items is not None:
        stmt = stmt.where(JournalLine.open_item.in_(items))
    out = {}
    for cust, currency, item, balance in session.execute(stmt):
        amount = round_money(Decimal(balance), currency)  # exact: entries are in minor units
        if amount != 0:
            out[(cust, currency, item)] = amount
    return out


def journal_csv(session: Session, company_id: int, *, date_from: date | None = None,
                date_to: date | None = None) -> str:
    """The journal as CSV, oldest entry first (columns: o2c.ledger.rules.JOURNAL_COLUMNS)."""
    stmt = (select(JournalEntry).where(JournalEntry.company_id == company_id).order_by(JournalEntry.number)
            .options(selectinload(JournalEntry.lines)))
    if date_from:
        stmt = stmt.where(JournalEntry.date >= date_from)
    if date_to:
        stmt = stmt.where(JournalEntry.date <= date_to)
    c = rules.Chart(tuple(accounts(session, company_id)))
    return rules.journal_csv((as_entry(je) for je in session.scalars(stmt)), c)
