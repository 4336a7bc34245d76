"""Bank reconciliation use cases: importing a statement file, applying what is sure, and the person's
decisions on the rest (docs/reconciliation.md).

Import, in one transaction: read the file (o2c.receivables.statements: camt.053, MT940 or CSV, all or
nothing), refuse a statement imported before (its fingerprint, naming the first import), store the
statements and their lines, match the lines against the open invoices, the customers' IBANs and names
(o2c.receivables.matching), and book the first batch of lines matched automatically. `book_pending`
books the other auto lines, a batch per transaction, so a large statement holds the company's counters
for one batch at a time; an auto line without a payment is one not booked yet. The others wait:
suggested lines with their proposal, unmatched lines in the queue; money going out is not_incoming.

A person then confirms a suggestion, matches a line to invoices or to a customer by hand, or ignores it
with a reason. The line's row is locked first and its status checked, so a line is applied once, also
when two people act on it at the same moment; the payment's source (`statement`, `line-<id>`) is unique
too. Confirming a payment from an IBAN the customer did not have on file puts it on file.
"""
from __future__ import annotations

import hashlib
from dataclasses import dataclass, replace
from datetime import date
from decimal import Decimal
from functools import lru_cache

from sqlalchemy import func, insert, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from o2c.billing import service as billing
from o2c.billing.terms import Terms, discount_amount, discount_deadline, parse_terms
from o2c.core import audit, clock
from o2c.core.auth import Actor, require
from o2c.core.db import read_session, transaction
from o2c.core.errors import Conflict, ErrorList, NotFound, ValidationFailed
from o2c.core.events import emit
from o2c.core.models import Company, User
from o2c.core.money import ZERO, minor_units, plain, round_money
from o2c.customers import service as customers
from o2c.payments import service as payments
from o2c.receivables import bank_accounts, matching
from o2c.receivables.matching import AUTO, NOT_INCOMING, SUGGESTED, UNMATCHED, OpenInvoice, Proposal
from o2c.receivables.models import BankStatement, BankStatementLine
from o2c.receivables.statements import (
    Statement, StatementError, StatementLine, parse, parse_camt053, parse_csv, parse_mt940,
)

CONFIRMED, IGNORED = "confirmed", "ignored"
LINE_STATUSES = (AUTO, SUGGESTED, UNMATCHED, CONFIRMED, IGNORED, NOT_INCOMING)
QUEUE = (SUGGESTED, UNMATCHED)  # what waits for a person
READERS = {"camt.053": parse_camt053, "mt940": parse_mt940, "csv": parse_csv}
BOOK_BATCH = 500  # auto lines booked per transaction: the counters are held for one batch at a time


# --- reading and fingerprinting -----------------------------------------------------------------------


def read(data: bytes, filename: str | None = None, format: str | None = None) -> list[Statement]:
    """The statements of a file, in the format named or told from its content; StatementError (422,
    naming the element or line) when any part of it is malformed, cut off or does not add up."""
    if format is not None and format not in READERS:
        raise ValidationFailed.one("format", "unknown", f"format must be one of {', '.join(READERS)}, "
                                   f"not {format!r} (or leave it out: the format is told from the content)")
    statements = READERS[format](data) if format else parse(data, filename)
    for st in statements:
        for ln in st.lines:
            if round_money(ln.amount, ln.currency) != ln.amount:  # "21.250" is 21.25; "21.255" is not
                raise StatementError(f"amount {plain(ln.amount)} has more decimals than {ln.currency} has "
                                     f"({minor_units(ln.currency)})", f"line {ln.line_no}")
    return statements


def fingerprint(st: Statement) -> str:
    """The statement's identity across imports: the reader's fingerprint (account, statement id, sequence,
    closing date and balance, currency, number of lines) with the opening date and each line's dates and
    amount, so a statement re-sent by the bank is the same and any other is not."""
    h = hashlib.sha256(st.fingerprint.encode())
    h.update(f"|{st.opening_date or ''}".encode())
    for ln in st.lines:
        h.update(f"|{ln.booking_date}/{ln.value_date or ''}/{plain(ln.amount)}".encode())
    return h.hexdigest()


def _username(session: Session, user_id: int | None) -> str:
    if user_id is None:
        return "system"
    return session.scalar(select(User.username).where(User.id == user_id)) or f"user {user_id}"


def _refuse_repeats(session: Session, company_id: int, statements: list[Statement], prints: list[str]) -> None:
    """409 naming the earlier import of any statement of the file (id, when, by whom); nothing is stored."""
    seen: dict[str, int] = {}
    for i, fp in enumerate(prints):
        if fp in seen:
            raise Conflict(f"statement {i + 1} of the file repeats statement {seen[fp] + 1} "
                           f"({statements[i].statement_id or 'no id'}): the file is not imported", field="file")
        seen[fp] = i
    earlier = session.execute(select(BankStatement).where(BankStatement.company_id == company_id,
                                                          BankStatement.fingerprint.in_(prints))
                              .order_by(BankStatement.id)).scalars().all()
    if not earlier:
        return
    found = [{"id": st.id, "statement_ref": st.statement_ref, "account": st.account,
              "imported_at": st.imported_at.isoformat(), "imported_by": _username(session, st.imported_by),
              "filename": st.filename} for st in earlier]
    first = found[0]
    what = f"statement {first['statement_ref']}" if first["statement_ref"] else "this statement"
    raise Conflict(f"{what} of account {first['account'] or '-'} was imported already, as bank statement "
                   f"{first['id']} on {first['imported_at']} by {first['imported_by']}"
                   + (f" (and {len(found) - 1} more of the file)" if len(found) > 1 else "")
                   + ": nothing was imported", field="file", earlier=found)


# --- the open book the matcher works against ------------------------------------------------------------


@lru_cache(maxsize=256)
def _terms(text: str) -> Terms | None:
    try:
        return parse_terms(text)
    except ValidationFailed:
        return None


def _discount(inv, open_amount: Decimal) -> tuple[Decimal, date | None]:
    """The early-payment discount the invoice's terms give, while nothing of it is settled yet."""
    terms = _terms(inv.terms or "")
    if terms is None or not terms.has_discount or open_amount != inv.gross_total:
        return ZERO, None
    return (discount_amount(inv.gross_total, terms, invoice_date=inv.issue_date, paid_on=inv.issue_date,
                            currency=inv.currency), discount_deadline(inv.issue_date, terms))


def open_book(session: Session, company_id: int, currencies: set[str]
              ) -> tuple[list[OpenInvoice], dict[str, int], dict[int, str]]:
    """The company's open invoices in these currencies, the IBANs on file and the customers' names."""
    invoices = []
    for inv, open_amount in billing.open_invoices(session, company_id):
        if inv.currency in currencies:
            discount, until = _discount(inv, open_amount)
            invoices.append(OpenInvoice(inv.id, inv.number, inv.customer_id, inv.currency, open_amount,
                                        inv.due_date, inv.issue_date, inv.gross_total, discount, until))
    names = bank_accounts.customer_names(session, company_id, {inv.customer_id for inv in invoices})
    return invoices, bank_accounts.known_accounts(session, company_id), names


def _proposals(session: Session, company: Company, lines: list[StatementLine]
               ) -> tuple[list[Proposal], dict[int, OpenInvoice]]:
    """The matcher's proposal for each line, and the open invoices it worked against, by id."""
    if not lines:
        return [], {}
    invoices, accounts, names = open_book(session, company.id, {ln.currency for ln in lines})
    proposals = matching.match(lines, invoices, accounts, names, tolerance=company.write_off_tolerance or ZERO)
    # A payment has one payer: invoices of several customers on one line wait for a person.
    proposals = [replace(p, status=SUGGESTED, reasons=(*p.reasons, "the invoices belong to several customers"))
                 if p.status == AUTO and p.customer_id is None else p for p in proposals]
    return proposals, {inv.invoice_id: inv for inv in invoices}


# --- the stored proposal ------------------------------------------------------------------------------------


def _money(amount: Decimal, currency: str) -> str:
    return format(round_money(amount, currency), "f")


def _confidence(value: Decimal) -> str:
    return format(value.quantize(Decimal("0.01")), "f")


def _allocations(allocations, book: dict[int, OpenInvoice], currency: str) -> list[dict]:
    out = []
    for invoice_id, amount in allocations:
        inv = book[invoice_id]
        out.append({"invoice_id": invoice_id, "number": inv.number, "customer_id": inv.customer_id,
                    "due_date": inv.due_date.isoformat(), "amount": _money(amount, currency)})
    return out


def _stored_proposal(p: Proposal, line: StatementLine, book: dict[int, OpenInvoice]) -> dict:
    ccy = line.currency
    return {
        "customer_id": p.customer_id, "confidence": _confidence(p.confidence),
        "allocations": _allocations(p.allocations, book, ccy), "leftover": _money(p.leftover, ccy),
        "reasons": list(p.reasons),
        "alternatives": [{"customer_id": a.customer_id, "confidence": _confidence(a.confidence),
                          "allocations": _allocations(a.allocations, book, ccy), "leftover": _money(a.leftover, ccy),
                          "reasons": list(a.reasons)} for a in p.alternatives],
        "reference": line.structured_reference, "bic": line.counterparty_bic, "reversal": line.reversal,
    }


def _cut(text: str | None, size: int) -> str | None:
    return text[:size] if text else None


# --- import ---------------------------------------------------------------------------------------------


@dataclass
class Imported:
    """What an import stored: the statements, and per statement the count of lines by status."""

    statements: list[BankStatement]
    counts: dict[int, dict[str, int]]


def import_statement(session: Session, actor: Actor, company_id: int, data: bytes, filename: str | None = None,
                     format: str | None = None) -> Imported:
    """Import a statement file (reconciliation.write) and apply the lines matched automatically.

    422 (StatementError) for a file that cannot be read, naming the element or line; 409 for a statement
    imported before, naming that import. Either way nothing is stored."""
    require(actor, "reconciliation.write")
    statements = read(data, filename, format)
    prints = [fingerprint(st) for st in statements]
    _refuse_repeats(session, company_id, statements, prints)
    company = session.get(Company, company_id)
    lines = [ln for st in statements for ln in st.lines]
    proposals, book = _proposals(session, company, lines)
    now = clock.now()
    rows = [BankStatement(company_id=company_id, format=st.format, fingerprint=fp, filename=_cut(filename, 255),
                          statement_ref=_cut(st.statement_id, 80), account=_cut(st.account_iban or st.account_id, 80),
                          currency=st.currency, opening_balance=st.opening_balance, closing_balance=st.closing_balance,
                          period_from=st.opening_date, period_to=st.closing_date, line_count=len(st.lines),
                          imported_at=now, imported_by=actor.user_id)
            for st, fp in zip(statements, prints)]
    try:
        with session.begin_nested():  # a concurrent import of the same statement: its unique key
            session.add_all(rows)
            session.flush()
    except IntegrityError:
        _refuse_repeats(session, company_id, statements, prints)
        raise
    values, index = [], 0
    for row, st in zip(rows, statements):
        for seq, ln in enumerate(st.lines, 1):
            p = proposals[index]
            index += 1
            values.append({
                "statement_id": row.id, "company_id": company_id, "seq": seq, "booking_date": ln.booking_date,
                "value_date": ln.value_date, "amount": ln.amount, "currency": ln.currency,
                "counterparty_name": _cut(ln.counterparty_name, 200),
                "counterparty_account": _cut(ln.counterparty_iban, 80), "remittance": _cut(ln.remittance, 1000),
                "end_to_end_id": _cut(ln.end_to_end_id, 80), "bank_ref": _cut(ln.bank_reference, 80),
                "status": p.status, "confidence": None if p.status == NOT_INCOMING else p.confidence,
                "proposal": None if p.status == NOT_INCOMING else _stored_proposal(p, ln, book)})
    ids = (session.scalars(insert(BankStatementLine).returning(BankStatementLine.id, sort_by_parameter_order=True),
                           values).all() if values else [])
    if ids:  # the first batch of auto lines with the statement: a small statement is booked whole here
        _book_batch(session, actor, company_id, [row.id for row in rows], min(ids) - 1, BOOK_BATCH)
    counts = _counts(session, [row.id for row in rows])
    for row in rows:
        c = counts[row.id]
        data = {"format": row.format, "statement_ref": row.statement_ref, "account": row.account,
                "filename": row.filename, "lines": row.line_count, **c, "auto_rate": plain(auto_rate(c))}
        audit.record(session, actor, "bank_statement", row.id, "imported", company_id=company_id, data=data)
        emit(session, "bank_statement.imported", {"statement_id": row.id, **data}, company_id=company_id,
             entity_id=row.id)
    return Imported(rows, counts)


# --- booking the auto lines --------------------------------------------------------------------------------


@dataclass
class Booking:
    """What book_pending did: auto lines booked, and lines held back for a person (settled meanwhile)."""

    booked: int = 0
    held: int = 0


def _payment_in(line: BankStatementLine, today: date) -> payments.PaymentIn:
    """The payment a stored auto line becomes, as its proposal says."""
    p = line.proposal or {}
    return _payment_of(line.id, line, p.get("customer_id"),
                       [(a["invoice_id"], Decimal(a["amount"])) for a in p.get("allocations", [])], today)


def _book_batch(session: Session, actor: Actor, company_id: int, statement_ids: list[int] | None, after_id: int,
                limit: int) -> tuple[int | None, Booking]:
    """Book up to `limit` auto lines not booked yet (id above `after_id`), in the caller's transaction:
    the lines locked in id order and checked again, then their payments recorded as one batch
    (payments.record_payments: the invoices locked, the counters taken once). A line whose invoice was
    settled since the matcher read it is not booked: it waits as a suggestion saying why. The last line
    id looked at (None: there was none) and the counts."""
    stmt = (select(BankStatementLine).where(BankStatementLine.company_id == company_id,
                                            BankStatementLine.status == AUTO, BankStatementLine.payment_id.is_(None),
                                            BankStatementLine.id > after_id)
            .order_by(BankStatementLine.id).limit(limit).with_for_update()
            .execution_options(populate_existing=True))
    if statement_ids is not None:
        stmt = stmt.where(BankStatementLine.statement_id.in_(statement_ids))
    rows = list(session.scalars(stmt))
    if not rows:
        return None, Booking()
    today = clock.today_in(session.get(Company, company_id).timezone)
    done = payments.record_payments(session, actor, company_id, [_payment_in(line, today) for line in rows])
    refused = [line for line, r in zip(rows, done) if r.refused is not None]
    open_now = billing.open_amounts(session, [a["invoice_id"] for line in refused
                                              for a in line.proposal.get("allocations", [])])
    for line, r in zip(rows, done):
        if r.refused is None:
            line.payment_id = r.payment.id
            continue
        short = [f"{a['number']} was settled meanwhile: {plain(open_now.get(a['invoice_id'], ZERO))} is open now"
                 for a in line.proposal.get("allocations", [])
                 if open_now.get(a["invoice_id"], ZERO) < Decimal(a["amount"])]
        line.status = SUGGESTED
        line.proposal = {**line.proposal, "reasons": [*line.proposal.get("reasons", []),
                                                      *(short or [f"not booked by itself: {r.refused.detail}"])]}
    session.flush()
    return rows[-1].id, Booking(len(rows) - len(refused), len(refused))


def book_pending(actor: Actor, company_id: int, statement_ids: list[int] | None = None, *,
                 batch: int | None = None, engine=None) -> Booking:
    """Book the auto lines not booked yet (of these statements, or of all the company's), `batch` lines
    per transaction of its own, so the company's payment and journal counters and the invoices paid are
    held for one batch at a time, not for the whole statement. Run after an import, and again to finish
    one that stopped half way (a process that died): each line is booked once, whoever runs it, since
    its row is locked and checked first and its payment's source (`statement`, `line-<id>`) is unique."""
    require(actor, "reconciliation.write")
    after = 0
    if statement_ids is not None:
        if not statement_ids:
            return Booking()
        with read_session(engine) as s:  # start at the statements' first line, not at the company's first
            after = (s.scalar(select(func.min(BankStatementLine.id)).where(
                BankStatementLine.statement_id.in_(statement_ids))) or 1) - 1
    total = Booking()
    while True:
        last, done = transaction(lambda s: _book_batch(s, actor, company_id, statement_ids, after,
                                                       batch or BOOK_BATCH), engine)
        if last is None:
            return total
        after, total.booked, total.held = last, total.booked + done.booked, total.held + done.held


def _payer_iban(iban: str | None) -> str | None:
    return iban if iban and len(iban) <= 34 else None


def _payment_of(line_id: int, ln: BankStatementLine, customer_id: int, applications: list[tuple[int, Decimal]],
                today: date) -> payments.PaymentIn:
    """The payment of a stored statement line. Received on the booking date; a bank ahead of the
    company's time zone may book on what is still yesterday here, and a payment is never received in the
    future: then today."""
    return payments.PaymentIn(
        customer_id=customer_id, method="bank_transfer", currency=ln.currency, amount=ln.amount,
        received_on=min(ln.booking_date or ln.value_date or today, today), reference=_cut(ln.remittance, 140),
        payer_name=_cut(ln.counterparty_name, 200), payer_iban=_payer_iban(ln.counterparty_account),
        source="statement", source_ref=f"line-{line_id}", applications=applications)


def _record_payment(session: Session, actor: Actor, company_id: int, line_id: int, ln: BankStatementLine,
                    customer_id: int, applications: list[tuple[int, Decimal]]):
    """A person's decision booked: the line's payment, recorded alone."""
    today = clock.today_in(session.get(Company, company_id).timezone)
    p = _payment_of(line_id, ln, customer_id, applications, today)
    return payments.record_payment(session, actor, company_id, **{f: getattr(p, f) for f in p.__dataclass_fields__})


def _counts(session: Session, statement_ids: list[int]) -> dict[int, dict[str, int]]:
    out = {sid: dict.fromkeys(LINE_STATUSES, 0) for sid in statement_ids}
    if statement_ids:
        for sid, status, n in session.execute(
                select(BankStatementLine.statement_id, BankStatementLine.status, func.count())
                .where(BankStatementLine.statement_id.in_(statement_ids))
                .group_by(BankStatementLine.statement_id, BankStatementLine.status)):
            out[sid][status] = n
    return out


def auto_rate(counts: dict[str, int]) -> Decimal:
    """Lines applied automatically, as a share of the lines with money coming in (4 places; 0 for none).
    Fixed at import: a person's decisions change suggested and unmatched lines, never auto ones."""
    incoming = sum(n for status, n in counts.items() if status != NOT_INCOMING)
    return (Decimal(counts.get(AUTO, 0)) / incoming).quantize(Decimal("0.0001")) if incoming else ZERO


# --- a person's decisions ----------------------------------------------------------------------------------


def _lock_line(session: Session, actor: Actor, company_id: int, line_id: int) -> BankStatementLine:
    """The line, locked until the transaction ends; 409 once it is decided (or was never the person's)."""
    require(actor, "reconciliation.write")
    line = session.scalar(select(BankStatementLine).where(BankStatementLine.id == line_id,
                                                          BankStatementLine.company_id == company_id)
                          .with_for_update().execution_options(populate_existing=True))
    if line is None:
        raise NotFound(f"statement line {line_id} not found")
    if line.status not in QUEUE:
        if line.status in (CONFIRMED, IGNORED):
            who = f" by {_username(session, line.decided_by)} at {line.decided_at.isoformat()}"
        elif line.status == AUTO:
            who = " automatically at import"
        else:
            who = ": money going out is not a customer's payment"
        raise Conflict(f"statement line {line_id} is {line.status}{who}; it is decided once",
                       current_status=line.status, payment_id=line.payment_id)
    return line


def _decide(session: Session, actor: Actor, line: BankStatementLine, status: str, decision: dict) -> None:
    now = clock.now()
    before = line.status
    line.status, line.decided_by, line.decided_at = status, actor.user_id, now
    line.proposal = {**(line.proposal or {}), "decision": {**decision, "by": actor.username, "at": now.isoformat()}}
    session.flush()
    audit.record(session, actor, "bank_statement_line", line.id, decision["action"], company_id=line.company_id,
                 from_status=before, to_status=status, reason=decision.get("reason"),
                 data={k: v for k, v in decision.items() if k not in ("action", "reason")})
    emit(session, "bank_statement_line.decided", {"line_id": line.id, "statement_id": line.statement_id,
                                                  "status": status, **decision},
         company_id=line.company_id, entity_id=line.id)


def _apply(session: Session, actor: Actor, line: BankStatementLine, customer_id: int,
           applications: list[tuple[int, Decimal]], action: str, extra: dict) -> BankStatementLine:
    payment = _record_payment(session, actor, line.company_id, line.id, line, customer_id, applications)
    line.payment_id = payment.id
    remembered = bank_accounts.remember(session, actor, line.company_id, customer_id, line.counterparty_account,
                                        (line.proposal or {}).get("bic"), line.counterparty_name)
    _decide(session, actor, line, CONFIRMED, {
        "action": action, "customer_id": customer_id, "payment_id": payment.id,
        "applications": [{"invoice_id": i, "amount": _money(a, line.currency)} for i, a in applications],
        "iban_remembered": remembered.iban if remembered else None, **extra})
    return line


def _still_open(session: Session, company_id: int, applications: list[tuple[int, Decimal]],
                numbers: dict[int, str]) -> None:
    """409 when an invoice of a proposal has less open now than the proposal applies (paid meanwhile)."""
    billing.lock_invoices(session, company_id, [i for i, _ in applications])
    now_open = billing.open_amounts(session, [i for i, _ in applications])
    for invoice_id, amount in applications:
        left = now_open.get(invoice_id, ZERO)
        if left < amount:
            raise Conflict(f"{numbers.get(invoice_id, invoice_id)} has {plain(left)} open now, the proposal "
                           f"applies {plain(amount)}: it was settled meanwhile; match the line by hand",
                           invoice_id=invoice_id)


def confirm(session: Session, actor: Actor, company_id: int, line_id: int, alternative: int = 0) -> BankStatementLine:
    """Apply the line as proposed (`alternative` 0), or as one of its alternatives (1 to 3)."""
    line = _lock_line(session, actor, company_id, line_id)
    proposal = line.proposal or {}
    choices = [proposal, *proposal.get("alternatives", [])]
    if not 0 <= alternative < len(choices):
        raise ValidationFailed.one("alternative", "out_of_range",
                                   f"line {line_id} has {len(choices) - 1} alternatives; choose 0 (the proposal) "
                                   f"to {len(choices) - 1}")
    choice = choices[alternative]
    if choice.get("customer_id") is None:
        raise ValidationFailed.one("alternative", "no_customer", f"the {'proposal' if alternative == 0 else 'alternative'}"
                                   f" of line {line_id} names no single customer: match the line by hand")
    applications = [(a["invoice_id"], Decimal(a["amount"])) for a in choice.get("allocations", [])]
    _still_open(session, company_id, applications, {a["invoice_id"]: a["number"] for a in choice.get("allocations", [])})
    return _apply(session, actor, line, choice["customer_id"], applications, "confirmed", {"alternative": alternative})


@dataclass(frozen=True)
class Pick:
    """An invoice a person names for a line, with the amount to apply (None: as much as is open and left)."""

    invoice_id: int
    amount: Decimal | None = None


def match(session: Session, actor: Actor, company_id: int, line_id: int, invoices: list[Pick],
          customer_id: int | None = None) -> BankStatementLine:
    """Apply the line to these invoices (in this order; partial payments allowed) and the rest as the
    customer's unapplied credit; or, with no invoices, all of it as unapplied credit of `customer_id`."""
    line = _lock_line(session, actor, company_id, line_id)
    errors = ErrorList()
    if not invoices and customer_id is None:
        errors.add("customer_id", "required", "name the invoices the line pays, or the customer whose credit it is")
    if customer_id is not None and customers.find(session, company_id, customer_id=customer_id) is None:
        errors.add("customer_id", "not_found", f"customer {customer_id} not found")
    ids = [p.invoice_id for p in invoices]
    found = {inv.id: inv for inv in billing.lock_invoices(session, company_id, ids)}
    open_now = billing.open_amounts(session, list(found))
    owner = customer_id
    left = line.amount
    applications: list[tuple[int, Decimal]] = []
    for i, pick in enumerate(invoices):
        at = f"invoices[{i}]"
        inv = found.get(pick.invoice_id)
        if inv is None:
            errors.add(f"{at}.invoice_id", "not_found", f"invoice {pick.invoice_id} not found")
            continue
        if pick.invoice_id in ids[:i]:
            errors.add(f"{at}.invoice_id", "duplicate", f"{inv.number} is named twice")
            continue
        if inv.currency != line.currency:
            errors.add(f"{at}.invoice_id", "currency", f"{inv.number} is in {inv.currency}; the line is in {line.currency}")
            continue
        if owner is None:
            owner = inv.customer_id
        elif inv.customer_id != owner:
            errors.add(f"{at}.invoice_id", "other_customer", f"{inv.number} is customer {inv.customer_id}'s; a "
                       f"line is one customer's payment (customer {owner})")
            continue
        has = open_now.get(inv.id, ZERO)
        if has <= 0:
            errors.add(f"{at}.invoice_id", "settled", f"{inv.number} has nothing open")
            continue
        amount = min(has, max(left, ZERO)) if pick.amount is None else pick.amount
        if pick.amount is None and amount <= 0:
            errors.add(f"{at}.amount", "nothing_left", f"nothing of the line is left for {inv.number}")
            continue
        if amount <= 0 or round_money(amount, line.currency) != amount:
            errors.add(f"{at}.amount", "invalid", f"{plain(amount)} is not an amount above 0 in {line.currency}")
            continue
        if amount > has:
            errors.add(f"{at}.amount", "above_open", f"{plain(amount)} is more than the {plain(has)} open on {inv.number}")
            continue
        left -= amount
        applications.append((inv.id, amount))
    if left < 0:
        errors.add("invoices", "above_line", f"the amounts add up to {plain(line.amount - left)}, more than the "
                   f"line's {plain(line.amount)}")
    errors.raise_if_any("The line cannot be matched so")
    return _apply(session, actor, line, owner, applications, "matched", {})


def ignore(session: Session, actor: Actor, company_id: int, line_id: int, reason: str | None) -> BankStatementLine:
    """Take the line out of the queue: not a customer's payment (a refund from a supplier, a transfer
    between own accounts ...). The reason is required and kept."""
    line = _lock_line(session, actor, company_id, line_id)
    reason = (reason or "").strip()
    if not reason:
        raise ValidationFailed.one("reason", "required", "say why the line is not a customer's payment")
    _decide(session, actor, line, IGNORED, {"action": "ignored", "reason": reason[:200]})
    return line


# --- reading ---------------------------------------------------------------------------------------------


def get_statement(session: Session, actor: Actor, company_id: int, statement_id: int) -> BankStatement:
    require(actor, "read")
    st = session.scalar(select(BankStatement).where(BankStatement.id == statement_id,
                                                    BankStatement.company_id == company_id))
    if st is None or actor.customer_id is not None:
        raise NotFound(f"bank statement {statement_id} not found")
    return st


def get_line(session: Session, actor: Actor, company_id: int, line_id: int) -> BankStatementLine:
    require(actor, "read")
    line = session.scalar(select(BankStatementLine).where(BankStatementLine.id == line_id,
                                                          BankStatementLine.company_id == company_id))
    if line is None or actor.customer_id is not None:
        raise NotFound(f"statement line {line_id} not found")
    return line


def list_statements(session: Session, actor: Actor, company_id: int, *, before_id: int | None = None,
                    limit: int = 50) -> list[BankStatement]:
    """Newest first; `before_id` is the cursor. Not for portal users."""
    require(actor, "read")
    if actor.customer_id is not None:
        return []
    stmt = select(BankStatement).where(BankStatement.company_id == company_id).order_by(BankStatement.id.desc())
    if before_id is not None:
        stmt = stmt.where(BankStatement.id < before_id)
    return list(session.scalars(stmt.limit(limit)))


def statement_view(st: BankStatement, counts: dict[str, int], usernames: dict[int | None, str]) -> dict:
    money = lambda amount: None if amount is None else round_money(amount, st.currency)  # noqa: E731
    return {"id": st.id, "format": st.format, "filename": st.filename, "statement_ref": st.statement_ref,
            "account": st.account, "currency": st.currency, "opening_balance": money(st.opening_balance),
            "closing_balance": money(st.closing_balance), "period_from": st.period_from, "period_to": st.period_to,
            "line_count": st.line_count, "imported_at": st.imported_at,
            "imported_by": usernames.get(st.imported_by, "system"), "counts": counts,
            "auto_rate": auto_rate(counts)}


def statement_views(session: Session, statements: list[BankStatement]) -> list[dict]:
    counts = _counts(session, [st.id for st in statements])
    users = {uid: _username(session, uid) for uid in {st.imported_by for st in statements}}
    return [statement_view(st, counts[st.id], users) for st in statements]


def lines(session: Session, company_id: int, *, statement_id: int | None = None, statuses=None,
          customer_id: int | None = None, currency: str | None = None, min_amount: Decimal | None = None,
          max_amount: Decimal | None = None, q: str | None = None, after_id: int | None = None,
          limit: int = 100) -> list[BankStatementLine]:
    """Lines in id order, filtered; `after_id` is the cursor."""
    stmt = (select(BankStatementLine).where(BankStatementLine.company_id == company_id)
            .order_by(BankStatementLine.id).limit(limit))
    if statement_id is not None:
        stmt = stmt.where(BankStatementLine.statement_id == statement_id)
    if statuses:
        stmt = stmt.where(BankStatementLine.status.in_(statuses))
    if customer_id is not None:
        stmt = stmt.where(BankStatementLine.proposal["customer_id"].as_integer() == customer_id)
    if currency:
        stmt = stmt.where(BankStatementLine.currency == currency)
    if min_amount is not None:
        stmt = stmt.where(BankStatementLine.amount >= min_amount)
    if max_amount is not None:
        stmt = stmt.where(BankStatementLine.amount <= max_amount)
    if q:
        like = f"%{q.lower()}%"
        stmt = stmt.where(func.lower(BankStatementLine.counterparty_name).like(like)
                          | func.lower(BankStatementLine.remittance).like(like))
    if after_id is not None:
        stmt = stmt.where(BankStatementLine.id > after_id)
    return list(session.scalars(stmt))


def queue(session: Session, actor: Actor, company_id: int, *, status: str | None = None, **filters
          ) -> list[BankStatementLine]:
    """The lines waiting for a person: suggested and unmatched (or one of them), oldest first."""
    require(actor, "read")
    if actor.customer_id is not None:
        return []
    return lines(session, company_id, statuses=[status] if status else list(QUEUE), **filters)


def line_views(session: Session, rows: list[BankStatementLine]) -> list[dict]:
    """Lines as the API shows them: the proposal and its alternatives with each invoice's number, customer,
    due date, the amount proposed and what is open on it now."""
    ids = {a["invoice_id"] for ln in rows for choice in (ln.proposal or {}, *(ln.proposal or {}).get("alternatives", []))
           for a in choice.get("allocations", [])}
    open_now = billing.open_amounts(session, list(ids))
    users = {uid: _username(session, uid) for uid in {ln.decided_by for ln in rows if ln.decided_by}}

    def allocations(choice: dict, currency: str) -> list[dict]:
        return [{**a, "open_now": _money(open_now.get(a["invoice_id"], ZERO), currency)}
                for a in choice.get("allocations", [])]

    out = []
    for ln in rows:
        p = ln.proposal or {}
        out.append({
            "id": ln.id, "statement_id": ln.statement_id, "seq": ln.seq, "booking_date": ln.booking_date,
            "value_date": ln.value_date, "amount": round_money(ln.amount, ln.currency), "currency": ln.currency,
            "counterparty_name": ln.counterparty_name, "counterparty_account": ln.counterparty_account,
            "remittance": ln.remittance, "reference": p.get("reference"), "end_to_end_id": ln.end_to_end_id,
            "bank_ref": ln.bank_ref, "status": ln.status,
            "confidence": None if ln.confidence is None else _confidence(ln.confidence),
            "customer_id": p.get("customer_id"), "allocations": allocations(p, ln.currency),
            "leftover": p.get("leftover"), "reasons": p.get("reasons", []),
            "alternatives": [{**alt, "allocations": allocations(alt, ln.currency)} for alt in p.get("alternatives", [])],
            "payment_id": ln.payment_id, "decided_by": users.get(ln.decided_by), "decided_at": ln.decided_at,
            "decision": p.get("decision")})
    return out
