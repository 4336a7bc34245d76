"""Ledger rules, pure: the chart of accounts, one posting template per business event, and the figures
read from the entries (trial balance, receivables subledger, ageing, DSO, journal CSV).

Double entry: an entry's debits equal its credits, every amount is a Decimal above zero in the currency's
minor units (o2c.core.money), and a line sits on one side only. `validate_entry` refuses anything else,
and every template runs it before handing its entry back, so no template can emit a broken entry.

Customer accounts are kept as open items. A customer's position lives on two accounts: receivables (what
they owe, per invoice, fee or refund item) and unapplied credits, a liability (what we hold for them, per
payment, credit note or rebate not yet used). Every line on either account carries the customer and the
open item it belongs to, so each customer's and each item's balance is read from the entries and adds
up to the accounts. The customer's subledger is the net of both; its control total is both accounts.

The postings, event by event, are tabled in docs/ledger.md.
"""
from __future__ import annotations

import contextlib

import csv
import io
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from decimal import ROUND_HALF_UP, Decimal
from typing import NamedTuple

from o2c.core.errors import ErrorList, ValidationFailed
from o2c.core.money import ZERO, UnknownCurrency, allocate, minor_units, round_money

# --------------------------------------------------------------------------------------------------
# Chart of accounts

ASSET, LIABILITY, EQUITY, REVENUE, EXPENSE = "asset", "liability", "equity", "revenue", "expense"
KINDS = (ASSET, LIABILITY, EQUITY, REVENUE, EXPENSE)

RECEIVABLES = "receivables"
BANK = "bank"
CASH = "cash"
CARD_CLEARING = "card_clearing"
TAX_PAYABLE = "tax_payable"
UNAPPLIED_CREDITS = "unapplied_credits"
REFUNDS_PAYABLE = "refunds_payable"
REBATES_ACCRUED = "rebates_accrued"
REVENUE_ROLE = "revenue"
SALES_REBATES = "sales_rebates"
DISCOUNT_ALLOWED = "discount_allowed"
FEE_INCOME = "fee_income"
INTEREST_INCOME = "interest_income"
CARD_FEES = "card_fees"
WRITE_OFF = "write_off"
ROUNDING = "rounding"


class RoleSpec(NamedTuple):
    kinds: frozenset[str]
    purpose: str


# Every role the templates post to; a chart must give each to exactly one account of a fitting kind.
ROLES: dict[str, RoleSpec] = {
    BANK: RoleSpec(frozenset({ASSET}), "bank account: transfers, cheques, direct debits, card payouts"),
    CASH: RoleSpec(frozenset({ASSET}), "cash on hand"),
    CARD_CLEARING: RoleSpec(frozenset({ASSET}), "card payments captured, not yet paid out by the gateway"),
    RECEIVABLES: RoleSpec(frozenset({ASSET}), "trade receivables control: what customers owe"),
    TAX_PAYABLE: RoleSpec(frozenset({LIABILITY}), "sales tax / VAT charged, owed to the tax authority"),
    UNAPPLIED_CREDITS: RoleSpec(frozenset({LIABILITY}), "customer money or credit not yet applied to an invoice"),
    REFUNDS_PAYABLE: RoleSpec(frozenset({LIABILITY}), "refunds approved, not yet paid out"),
    REBATES_ACCRUED: RoleSpec(frozenset({LIABILITY}), "rebates earned by customers, not yet settled"),
    REVENUE_ROLE: RoleSpec(frozenset({REVENUE}), "sales revenue (the default for invoice lines)"),
    SALES_REBATES: RoleSpec(frozenset({REVENUE}), "contra-revenue: rebates and allowances"),
    # IFRS 15 treats a settlement discount as variable consideration (contra-revenue); UK practice books
    # "discounts allowed" as an expense. Either kind is accepted.
    DISCOUNT_ALLOWED: RoleSpec(frozenset({REVENUE, EXPENSE}), "early-payment discounts allowed"),
    FEE_INCOME: RoleSpec(frozenset({REVENUE}), "reminder fees charged"),
    INTEREST_INCOME: RoleSpec(frozenset({REVENUE}), "late-payment interest charged"),
    CARD_FEES: RoleSpec(frozenset({EXPENSE}), "fees the card gateway keeps"),
    WRITE_OFF: RoleSpec(frozenset({EXPENSE}), "bad debts and short payments written off"),
    ROUNDING: RoleSpec(frozenset({EXPENSE, REVENUE}), "rounding differences"),
}
# The accounts whose every line carries a customer and an open item: the customer subledger.
CUSTOMER_ROLES = (RECEIVABLES, UNAPPLIED_CREDITS)


@dataclass(frozen=True)
class Account:
    code: str
    name: str
    kind: str  # one of KINDS
    role: str | None = None  # one of ROLES, or None for an account the templates only reach by code


class Chart:
    """A company's chart of accounts, checked: build it with `check_chart`."""

    def __init__(self, accounts: tuple[Account, ...]):
        self.accounts = accounts
        self._by_code = {a.code: a for a in accounts}
        self._by_role = {a.role: a for a in accounts if a.role}

    def account(self, code: str) -> Account | None:
        return self._by_code.get(code)

    def code(self, role: str) -> str:
        return self._by_role[role].code

    def customer_codes(self) -> tuple[str, ...]:
        return tuple(self.code(r) for r in CUSTOMER_ROLES)

    def __iter__(self):
        return iter(self.accounts)


def check_chart(accounts: Iterable[Account]) -> Chart:
    """The chart, if every role is held by exactly one account of a fitting kind and codes are unique."""
    accounts = tuple(accounts)
    errors = ErrorList()
    code_at: dict[str, int] = {}
    role_at: dict[str, int] = {}
    for i, a in enumerate(accounts):
        at = f"accounts[{i}]"
        if not isinstance(a.code, str) or not a.code.strip():
            errors.add(f"{at}.code", "required", f"{at} has no code")
        elif a.code in code_at:
            errors.add(f"{at}.code", "duplicate",
                       f"account code {a.code} is used twice (accounts[{code_at[a.code]}] and {at})")
        else:
            code_at[a.code] = i
        if not isinstance(a.name, str) or not a.name.strip():
            errors.add(f"{at}.name", "required", f"account {a.code} has no name")
        if a.kind not in KINDS:
            errors.add(f"{at}.kind", "invalid", f"account {a.code}: kind {a.kind!r} is not one of {', '.join(KINDS)}")
        if a.role is None:
            continue
        if a.role not in ROLES:
            errors.add(f"{at}.role", "unknown", f"account {a.code}: there is no role {a.role!r}")
        elif a.role in role_at:
            errors.add(f"{at}.role", "duplicate",
                       f"role {a.role} is held by two accounts (accounts[{role_at[a.role]}] and {at})")
        else:
            role_at[a.role] = i
            if a.kind in KINDS and a.kind not in ROLES[a.role].kinds:
                errors.add(f"{at}.kind", "wrong_kind_for_role",
                           f"account {a.code} holds role {a.role}, which needs kind "
                           f"{' or '.join(sorted(ROLES[a.role].kinds))}, not {a.kind}")
    for role, spec in ROLES.items():
        if role not in role_at:
            errors.add(f"roles.{role}", "missing", f"no account holds role {role} ({spec.purpose})")
    errors.raise_if_any("The chart of accounts is not valid")
    return Chart(accounts)


DEFAULT_ACCOUNTS = (
    Account("1000", "Bank", ASSET, BANK),
    Account("1010", "Cash on hand", ASSET, CASH),
    Account("1020", "Card clearing", ASSET, CARD_CLEARING),
    Account("1100", "Trade receivables", ASSET, RECEIVABLES),
    Account("2100", "Sales tax payable", LIABILITY, TAX_PAYABLE),
    Account("2200", "Customer credits (unapplied)", LIABILITY, UNAPPLIED_CREDITS),
    Account("2210", "Refunds payable", LIABILITY, REFUNDS_PAYABLE),
    Account("2300", "Accrued customer rebates", LIABILITY, REBATES_ACCRUED),
    Account("3000", "Retained earnings", EQUITY),
    Account("4000", "Sales revenue: goods", REVENUE, REVENUE_ROLE),
    Account("4010", "Sales revenue: services", REVENUE),
    Account("4100", "Sales rebates and allowances", REVENUE, SALES_REBATES),
    Account("4110", "Early-payment discounts allowed", REVENUE, DISCOUNT_ALLOWED),
    Account("4800", "Reminder fees", REVENUE, FEE_INCOME),
    Account("4810", "Late-payment interest", REVENUE, INTEREST_INCOME),
    Account("6100", "Payment processing fees", EXPENSE, CARD_FEES),
    Account("6200", "Bad debts and write-offs", EXPENSE, WRITE_OFF),
    Account("6210", "Rounding differences", EXPENSE, ROUNDING),
)
DEFAULT_CHART = check_chart(DEFAULT_ACCOUNTS)

# How a payment or refund method reaches money: the role of the account it moves.
METHODS = {"bank_transfer": BANK, "direct_debit": BANK, "cheque": BANK, "cash": CASH, "card": CARD_CLEARING}

# --------------------------------------------------------------------------------------------------
# Entries


@dataclass(frozen=True)
class EntryLine:
    account_code: str
    debit: Decimal = ZERO
    credit: Decimal = ZERO
    customer_id: str | None = None
    open_item: str | None = None  # the invoice, fee, payment or credit this line belongs to


@dataclass(frozen=True)
class Entry:
    date: date
    memo: str
    source: tuple[str, str]  # (kind, id) of the business document: ("invoice", "INV-2026-00001")
    lines: tuple[EntryLine, ...]
    currency: str
    number: str | None = None  # given by the journal when the entry is stored

    @property
    def debits(self) -> Decimal:
        return sum((ln.debit for ln in self.lines), ZERO)

    @property
    def credits(self) -> Decimal:
        return sum((ln.credit for ln in self.lines), ZERO)


def _currency_ok(errors: ErrorList, currency: object, fld: str = "currency") -> bool:
    with contextlib.suppress(UnknownCurrency):  # an unknown code is reported below
        if isinstance(currency, str):
            minor_units(currency)
            return True
    errors.add(fld, "unknown", f"{currency!r} is not an ISO 4217 currency")
    return False


def _amount_ok(errors: ErrorList, fld: str, value: object, currency: str | None, *, zero_ok: bool = False) -> bool:
    """Whether `value` is a finite Decimal, not negative (above zero unless zero_ok), in minor units."""
    if not isinstance(value, Decimal) or not value.is_finite():
        errors.add(fld, "not_decimal", f"{fld} must be a decimal amount, not {value!r}")
        return False
    if value < 0 or (value == 0 and not zero_ok):
        errors.add(fld, "negative" if value < 0 else "zero",
                   f"{fld} must be {'zero or more' if zero_ok else 'above zero'}, not {value}")
        return False
    if currency is not None and round_money(value, currency) != value:
        errors.add(fld, "not_minor_units", f"{fld} {value} has more decimals than {currency} allows")
        return False
    return True


def _text_ok(errors: ErrorList, fld: str, value: object) -> bool:
    if isinstance(value, str) and value.strip():
        return True
    errors.add(fld, "required", f"{fld} is required")
    return False


def validate_entry(entry: Entry, chart: Chart | None = None) -> None:
    """Refuse an entry that is not sound double entry; with a chart, also one that posts to an unknown
    account or leaves a customer account line without its customer and open item."""
    errors = ErrorList()
    cur = entry.currency if _currency_ok(errors, entry.currency) else None
    if not (isinstance(entry.source, tuple) and len(entry.source) == 2
            and all(isinstance(s, str) and s.strip() for s in entry.source)):
        errors.add("source", "invalid", "source must be (kind, id) of the document that caused the entry")
    if not entry.lines:
        errors.add("lines", "empty", "an entry needs lines")
    amounts_ok = True
    customer_codes = chart.customer_codes() if chart else ()
    for i, line in enumerate(entry.lines):
        at = f"lines[{i}]"
        sides_ok = [_amount_ok(errors, f"{at}.{side}", getattr(line, side), cur, zero_ok=True)
                    for side in ("debit", "credit")]
        if all(sides_ok):
            if (line.debit > 0) == (line.credit > 0):
                errors.add(at, "one_side", f"{at} must be either a debit or a credit above zero")
        else:
            amounts_ok = False
        if chart is None:
            continue
        if chart.account(line.account_code) is None:
            errors.add(f"{at}.account_code", "unknown", f"there is no account {line.account_code!r} in the chart")
        elif line.account_code in customer_codes:
            if not line.customer_id:
                errors.add(f"{at}.customer_id", "required", f"account {line.account_code} needs the customer")
            if not line.open_item:
                errors.add(f"{at}.open_item", "required", f"account {line.account_code} needs the open item")
    if amounts_ok and entry.lines and entry.debits != entry.credits:
        errors.add("lines", "unbalanced",
                   f"debits {entry.debits} and credits {entry.credits} differ by {entry.debits - entry.credits}")
    errors.raise_if_any("The entry is not valid")


def _dr(code: str, amount: Decimal, customer_id: str | None = None, item: str | None = None) -> EntryLine:
    return EntryLine(code, debit=amount, customer_id=customer_id, open_item=item)


def _cr(code: str, amount: Decimal, customer_id: str | None = None, item: str | None = None) -> EntryLine:
    return EntryLine(code, credit=amount, customer_id=customer_id, open_item=item)


def _entry(chart: Chart, on: date, memo: str, source: tuple[str, str], currency: str,
           lines: Iterable[EntryLine]) -> Entry:
    """The entry without its zero lines (a line of no tax says nothing), validated."""
    entry = Entry(on, memo, source, tuple(ln for ln in lines if ln.debit or ln.credit), currency)
    validate_entry(entry, chart)
    return entry


def _method_ok(errors: ErrorList, method: object) -> bool:
    if method in METHODS:
        return True
    errors.add("method", "unknown", f"method {method!r} is not one of {', '.join(METHODS)}")
    return False


def _applications_ok(errors: ErrorList, applications: Mapping[str, Decimal], open_amounts: Mapping[str, Decimal],
                     currency: str | None, limit: Decimal | None, limit_field: str) -> Decimal:
    """Check each amount applied against its item's open amount and the total against `limit`; the total."""
    total = ZERO
    for item, amount in applications.items():
        fld = f"applications.{item}"
        if item not in open_amounts:
            errors.add(fld, "not_open", f"{item} is not an open item of this customer")
        elif _amount_ok(errors, fld, amount, currency):
            total += amount
            if amount > open_amounts[item]:
                errors.add(fld, "above_open", f"{amount} applied to {item}, but only {open_amounts[item]} is open")
    if limit is not None and total > limit:
        errors.add(limit_field, "over_applied", f"{total} applied in all, more than the {limit} available")
    return total


# --------------------------------------------------------------------------------------------------
# Invoices and credit notes


@dataclass(frozen=True)
class DocLine:
    """One line of an invoice or credit note as the ledger sees it: amounts after discounts, rounded."""

    net: Decimal
    tax: Decimal = ZERO
    revenue_account: str | None = None  # default: the chart's revenue role
    tax_account: str | None = None  # default: the chart's tax-payable role


@dataclass(frozen=True)
class Document:
    id: str
    customer_id: str
    date: date
    currency: str
    lines: tuple[DocLine, ...]

    @property
    def net(self) -> Decimal:
        return sum((ln.net for ln in self.lines), ZERO)

    @property
    def tax(self) -> Decimal:
        return sum((ln.tax for ln in self.lines), ZERO)

    @property
    def gross(self) -> Decimal:
        return self.net + self.tax


def _document_ok(errors: ErrorList, chart: Chart, doc: Document) -> bool:
    ok = _text_ok(errors, "id", doc.id) & _text_ok(errors, "customer_id", doc.customer_id)
    cur = doc.currency if _currency_ok(errors, doc.currency) else None
    if not doc.lines:
        errors.add("lines", "empty", f"{doc.id} has no lines")
        return False
    for i, ln in enumerate(doc.lines):
        at = f"lines[{i}]"
        ok &= _amount_ok(errors, f"{at}.net", ln.net, cur, zero_ok=True)
        ok &= _amount_ok(errors, f"{at}.tax", ln.tax, cur, zero_ok=True)
        for fld, code, kinds in (("revenue_account", ln.revenue_account, {REVENUE}),
                                 ("tax_account", ln.tax_account, {LIABILITY})):
            acc = chart.account(code) if code is not None else None
            if code is not None and (acc is None or acc.kind not in kinds):
                errors.add(f"{at}.{fld}", "invalid", f"{code!r} is not a {'/'.join(kinds)} account of the chart")
                ok = False
    if ok and doc.gross <= 0:
        errors.add("lines", "zero", f"{doc.id} comes to zero: there is nothing to post")
        ok = False
    return bool(ok) and cur is not None


def _by_account(chart: Chart, doc: Document) -> tuple[dict[str, Decimal], dict[str, Decimal]]:
    """Net per revenue account and tax per tax account, in the order the lines name them."""
    revenue: dict[str, Decimal] = defaultdict(lambda: ZERO)
    tax: dict[str, Decimal] = defaultdict(lambda: ZERO)
    for ln in doc.lines:
        revenue[ln.revenue_account or chart.code(REVENUE_ROLE)] += ln.net
        tax[ln.tax_account or chart.code(TAX_PAYABLE)] += ln.tax
    return revenue, tax


def invoice_issued(chart: Chart, invoice: Document) -> Entry:
    """Dr receivables (gross, the invoice as open item); Cr revenue (net, per account); Cr tax payable."""
    errors = ErrorList()
    _document_ok(errors, chart, invoice)
    errors.raise_if_any("The invoice cannot be posted")
    revenue, tax = _by_account(chart, invoice)
    return _entry(chart, invoice.date, f"Invoice {invoice.id}", ("invoice", invoice.id), invoice.currency, [
        _dr(chart.code(RECEIVABLES), invoice.gross, invoice.customer_id, invoice.id),
        *(_cr(code, amount) for code, amount in revenue.items()),
        *(_cr(code, amount) for code, amount in tax.items()),
    ])


def credit_note_issued(chart: Chart, note: Document, *, invoice_id: str, invoice_open: Decimal) -> Entry:
    """The invoice reversed for the note's lines: Dr revenue and tax payable; Cr receivables on the
    invoice up to what is still open on it, and the rest (the invoice was already paid) to the customer's
    unapplied credits, under the note as open item, to apply or refund later."""
    errors = ErrorList()
    ok = _document_ok(errors, chart, note) & _text_ok(errors, "invoice_id", invoice_id)
    ok &= _amount_ok(errors, "invoice_open", invoice_open, note.currency if ok else None, zero_ok=True)
    errors.raise_if_any("The credit note cannot be posted")
    revenue, tax = _by_account(chart, note)
    against_invoice = min(note.gross, invoice_open)
    return _entry(chart, note.date, f"Credit note {note.id} for invoice {invoice_id}", ("credit_note", note.id),
                  note.currency, [
        *(_dr(code, amount) for code, amount in revenue.items()),
        *(_dr(code, amount) for code, amount in tax.items()),
        _cr(chart.code(RECEIVABLES), against_invoice, note.customer_id, invoice_id),
        _cr(chart.code(UNAPPLIED_CREDITS), note.gross - against_invoice, note.customer_id, note.id),
    ])


def proportional_credit(invoice: Document, gross: Decimal, *, note_id: str, on: date,
                        already_credited: Decimal = ZERO) -> Document:
    """A credit note for `gross` of the invoice, spread over its lines' net and tax in proportion, by
    largest remainder (o2c.core.money.allocate) so the parts add up to `gross` exactly. Refused above what
    is left to credit on the invoice (its gross less earlier credit notes)."""
    errors = ErrorList()
    if _amount_ok(errors, "gross", gross, invoice.currency) and gross > invoice.gross - already_credited:
        errors.add("gross", "above_invoice",
                   f"a credit of {gross} is more than the {invoice.gross - already_credited} left to credit "
                   f"on invoice {invoice.id}")
    errors.raise_if_any("The credit note is not valid")
    weights = [w for ln in invoice.lines for w in (ln.net, ln.tax)]
    parts = allocate(gross, weights, invoice.currency)
    lines = tuple(DocLine(parts[2 * i], parts[2 * i + 1], ln.revenue_account, ln.tax_account)
                  for i, ln in enumerate(invoice.lines))
    return Document(note_id, invoice.customer_id, on, invoice.currency, lines)


# --------------------------------------------------------------------------------------------------
# Payments, credits, discounts, write-offs, fees, refunds


def payment_received(chart: Chart, *, payment_id: str, customer_id: str, on: date, currency: str,
                     amount: Decimal, method: str, applications: Mapping[str, Decimal],
                     open_amounts: Mapping[str, Decimal], source_kind: str = "payment") -> Entry:
    """Dr the method's money account (bank, cash, card clearing); Cr receivables per item applied; Cr the
    rest to the customer's unapplied credits under the payment as open item (an overpayment is kept)."""
    errors = ErrorList()
    ok = _text_ok(errors, "payment_id", payment_id) & _text_ok(errors, "customer_id", customer_id)
    cur = currency if _currency_ok(errors, currency) else None
    ok &= _method_ok(errors, method) & _amount_ok(errors, "amount", amount, cur)
    applied = _applications_ok(errors, applications, open_amounts, cur, amount if ok else None, "applications")
    errors.raise_if_any("The payment cannot be posted")
    ar = chart.code(RECEIVABLES)
    return _entry(chart, on, f"Payment {payment_id} by {method}", (source_kind, payment_id), currency, [
        _dr(chart.code(METHODS[method]), amount),
        *(_cr(ar, a, customer_id, item) for item, a in applications.items()),
        _cr(chart.code(UNAPPLIED_CREDITS), amount - applied, customer_id, payment_id),
    ])


def card_captured(chart: Chart, *, capture_id: str, customer_id: str, on: date, currency: str,
                  amount: Decimal, invoice_id: str | None, invoice_open: Decimal = ZERO) -> Entry:
    """A card capture at shipment is a payment into card clearing: it settles the invoice when one is
    open, and waits as unapplied credit when the capture comes first."""
    applications = {invoice_id: min(amount, invoice_open)} if invoice_id and invoice_open > 0 else {}
    return payment_received(chart, payment_id=capture_id, customer_id=customer_id, on=on, currency=currency,
                            amount=amount, method="card", applications=applications,
                            open_amounts={invoice_id: invoice_open} if invoice_id else {},
                            source_kind="card_capture")


def card_settled(chart: Chart, *, settlement_id: str, on: date, currency: str, gross: Decimal,
                 fee: Decimal) -> Entry:
    """The gateway pays captured card money out: Dr bank (gross less fee), Dr card fees; Cr card clearing."""
    errors = ErrorList()
    _text_ok(errors, "settlement_id", settlement_id)
    cur = currency if _currency_ok(errors, currency) else None
    if (_amount_ok(errors, "gross", gross, cur) & _amount_ok(errors, "fee", fee, cur, zero_ok=True)
            and fee > gross):
        errors.add("fee", "above_gross", f"a fee of {fee} is more than the {gross} paid out")
    errors.raise_if_any("The card settlement cannot be posted")
    return _entry(chart, on, f"Card settlement {settlement_id}", ("card_settlement", settlement_id), currency, [
        _dr(chart.code(BANK), gross - fee),
        _dr(chart.code(CARD_FEES), fee),
        _cr(chart.code(CARD_CLEARING), gross),
    ])


def credit_applied(chart: Chart, *, ref: str, customer_id: str, on: date, currency: str, credit_item: str,
                   available: Decimal, applications: Mapping[str, Decimal],
                   open_amounts: Mapping[str, Decimal]) -> Entry:
    """Earlier unapplied credit (a payment, credit note or rebate) used on open items: Dr unapplied
    credits (the credit item); Cr receivables per item."""
    errors = ErrorList()
    ok = _text_ok(errors, "ref", ref) & _text_ok(errors, "customer_id", customer_id)
    ok &= _text_ok(errors, "credit_item", credit_item)
    cur = currency if _currency_ok(errors, currency) else None
    ok &= _amount_ok(errors, "available", available, cur, zero_ok=True)
    if not applications:
        errors.add("applications", "empty", "name at least one open item to apply the credit to")
    applied = _applications_ok(errors, applications, open_amounts, cur, available if ok else None, "applications")
    errors.raise_if_any("The credit cannot be applied")
    ar = chart.code(RECEIVABLES)
    return _entry(chart, on, f"Credit {credit_item} applied", ("credit_application", ref), currency, [
        _dr(chart.code(UNAPPLIED_CREDITS), applied, customer_id, credit_item),
        *(_cr(ar, a, customer_id, item) for item, a in applications.items()),
    ])


def _settlement_checked(errors: ErrorList, *, ref: str, customer_id: str, currency: str, invoice_id: str,
                        amount: Decimal, open_amount: Decimal) -> bool:
    """The checks shared by the events that reduce one open item without money: discount, write-off."""
    ok = _text_ok(errors, "ref", ref) & _text_ok(errors, "customer_id", customer_id)
    ok &= _text_ok(errors, "invoice_id", invoice_id)
    cur = currency if _currency_ok(errors, currency) else None
    amount_ok = _amount_ok(errors, "amount", amount, cur)
    open_ok = _amount_ok(errors, "open_amount", open_amount, cur, zero_ok=True)
    if amount_ok and open_ok and amount > open_amount:
        errors.add("amount", "above_open", f"{amount} is more than the {open_amount} open on {invoice_id}")
        return False
    return bool(ok and amount_ok and open_ok and cur)


def discount_taken(chart: Chart, *, ref: str, customer_id: str, on: date, currency: str, invoice_id: str,
                   amount: Decimal, open_amount: Decimal, tax_share: Decimal = ZERO) -> Entry:
    """An early-payment discount the customer took: Dr discount allowed (less its tax share), Dr tax
    payable for the tax share (where a settlement discount reduces the taxable amount, as under EU VAT;
    o2c.billing.terms.discount_tax_share); Cr receivables on the invoice."""
    errors = ErrorList()
    if (_settlement_checked(errors, ref=ref, customer_id=customer_id, currency=currency, invoice_id=invoice_id,
                            amount=amount, open_amount=open_amount)
            and _amount_ok(errors, "tax_share", tax_share, currency, zero_ok=True) and tax_share > amount):
        errors.add("tax_share", "above_amount", f"a tax share of {tax_share} is more than the discount {amount}")
    errors.raise_if_any("The discount cannot be posted")
    return _entry(chart, on, f"Early-payment discount on {invoice_id}", ("discount", ref), currency, [
        _dr(chart.code(DISCOUNT_ALLOWED), amount - tax_share),
        _dr(chart.code(TAX_PAYABLE), tax_share),
        _cr(chart.code(RECEIVABLES), amount, customer_id, invoice_id),
    ])


def written_off(chart: Chart, *, ref: str, customer_id: str, on: date, currency: str, invoice_id: str,
                amount: Decimal, open_amount: Decimal, reason: str, tolerance: Decimal | None = None,
                role: str = WRITE_OFF) -> Entry:
    """A short payment or a bad debt written off, with its reason: Dr write-off (or rounding) expense;
    Cr receivables on the invoice. With a tolerance (the company's limit for writing off short payments
    without approval) a larger amount is refused."""
    errors = ErrorList()
    if (_settlement_checked(errors, ref=ref, customer_id=customer_id, currency=currency, invoice_id=invoice_id,
                            amount=amount, open_amount=open_amount)
            and tolerance is not None and amount > tolerance):
        errors.add("amount", "above_tolerance", f"{amount} is more than the write-off tolerance of {tolerance}")
    _text_ok(errors, "reason", reason)
    if role not in (WRITE_OFF, ROUNDING):
        errors.add("role", "invalid", f"a write-off goes to {WRITE_OFF} or {ROUNDING}, not {role!r}")
    errors.raise_if_any("The write-off cannot be posted")
    return _entry(chart, on, f"Written off on {invoice_id}: {reason.strip()}", ("write_off", ref), currency, [
        _dr(chart.code(role), amount),
        _cr(chart.code(RECEIVABLES), amount, customer_id, invoice_id),
    ])


FEE, INTEREST = "fee", "interest"


def fee_charged(chart: Chart, *, ref: str, customer_id: str, on: date, currency: str, amount: Decimal,
                kind: str = FEE, invoice_id: str | None = None) -> Entry:
    """A reminder fee or late-payment interest: Dr receivables (a new open item, `ref`); Cr fee or
    interest income. (Whether a fee bears tax depends on the jurisdiction; none is posted here.)"""
    errors = ErrorList()
    _text_ok(errors, "ref", ref)
    _text_ok(errors, "customer_id", customer_id)
    cur = currency if _currency_ok(errors, currency) else None
    _amount_ok(errors, "amount", amount, cur)
    if kind not in (FEE, INTEREST):
        errors.add("kind", "invalid", f"kind must be {FEE} or {INTEREST}, not {kind!r}")
    errors.raise_if_any("The charge cannot be posted")
    what = "Reminder fee" if kind == FEE else "Interest"
    memo = f"{what} {ref}" + (f" on {invoice_id}" if invoice_id else "")
    return _entry(chart, on, memo, (kind, ref), currency, [
        _dr(chart.code(RECEIVABLES), amount, customer_id, ref),
        _cr(chart.code(FEE_INCOME if kind == FEE else INTEREST_INCOME), amount),
    ])


def _refund(chart: Chart, *, ref: str, customer_id: str, on: date, currency: str, amount: Decimal,
            credit_role: str, from_credit: str | None, available: Decimal | None, memo: str) -> Entry:
    errors = ErrorList()
    _text_ok(errors, "ref", ref)
    _text_ok(errors, "customer_id", customer_id)
    cur = currency if _currency_ok(errors, currency) else None
    amount_ok = _amount_ok(errors, "amount", amount, cur)
    if from_credit is not None:
        if available is None:
            errors.add("available", "required", f"say how much credit {from_credit} still holds")
        elif _amount_ok(errors, "available", available, cur, zero_ok=True) and amount_ok and amount > available:
            errors.add("amount", "above_available", f"{amount} is more than the {available} left on {from_credit}")
    errors.raise_if_any("The refund cannot be posted")
    debit = (_dr(chart.code(UNAPPLIED_CREDITS), amount, customer_id, from_credit) if from_credit
             else _dr(chart.code(RECEIVABLES), amount, customer_id, ref))
    return _entry(chart, on, memo, ("refund", ref), currency, [debit, _cr(chart.code(credit_role), amount)])


def refund_paid(chart: Chart, *, ref: str, customer_id: str, on: date, currency: str, amount: Decimal,
                method: str, from_credit: str | None = None, available: Decimal | None = None) -> Entry:
    """Money paid back to a customer: Dr unapplied credits (the credit item it uses up, with what it still
    holds as `available`), or, with no credit item, Dr receivables under the refund as a new open item
    that a later credit note or credit clears; Cr the method's money account."""
    errors = ErrorList()
    _method_ok(errors, method)
    errors.raise_if_any("The refund cannot be posted")
    return _refund(chart, ref=ref, customer_id=customer_id, on=on, currency=currency, amount=amount,
                   credit_role=METHODS[method], from_credit=from_credit, available=available,
                   memo=f"Refund {ref} by {method}")


def refund_approved(chart: Chart, *, ref: str, customer_id: str, on: date, currency: str, amount: Decimal,
                    from_credit: str | None = None, available: Decimal | None = None) -> Entry:
    """A refund approved for payment later: as refund_paid, but Cr refunds payable (see refund_payout)."""
    return _refund(chart, ref=ref, customer_id=customer_id, on=on, currency=currency, amount=amount,
                   credit_role=REFUNDS_PAYABLE, from_credit=from_credit, available=available,
                   memo=f"Refund {ref} approved")


def refund_payout(chart: Chart, *, ref: str, on: date, currency: str, amount: Decimal, method: str) -> Entry:
    """An approved refund paid: Dr refunds payable; Cr the method's money account."""
    errors = ErrorList()
    _text_ok(errors, "ref", ref)
    _method_ok(errors, method)
    _amount_ok(errors, "amount", amount, currency if _currency_ok(errors, currency) else None)
    errors.raise_if_any("The refund payout cannot be posted")
    return _entry(chart, on, f"Refund {ref} paid by {method}", ("refund_payout", ref), currency, [
        _dr(chart.code(REFUNDS_PAYABLE), amount),
        _cr(chart.code(METHODS[method]), amount),
    ])


# --------------------------------------------------------------------------------------------------
# Bounced payments


def payment_bounced(chart: Chart, *, payment_id: str, customer_id: str, on: date, currency: str,
                    amount: Decimal, method: str, applications: Mapping[str, Decimal], credit: Decimal) -> Entry:
    """A payment that did not clear (a cheque bounced, a direct debit returned), undone: Dr receivables
    per item it had paid (the invoices owe again); Dr unapplied credits for the credit it still held,
    under the payment as open item; Cr the method's money account for the whole payment. Every part of
    the payment is accounted for: what it paid plus the credit it held is its amount."""
    errors = ErrorList()
    _text_ok(errors, "payment_id", payment_id)
    _text_ok(errors, "customer_id", customer_id)
    cur = currency if _currency_ok(errors, currency) else None
    ok = _method_ok(errors, method) & _amount_ok(errors, "amount", amount, cur)
    ok &= _amount_ok(errors, "credit", credit, cur, zero_ok=True)
    if method == "card":
        errors.add("method", "card", "a card payment is reversed by a refund or a chargeback, not a bounce")
    paid = ZERO
    for item, a in applications.items():
        ok &= _amount_ok(errors, f"applications.{item}", a, cur)
        paid += a if isinstance(a, Decimal) and a.is_finite() else ZERO
    if ok and paid + credit != amount:
        errors.add("applications", "not_whole", f"{paid} paid plus {credit} credit is not the payment's {amount}")
    errors.raise_if_any("The bounce cannot be posted")
    ar = chart.code(RECEIVABLES)
    return _entry(chart, on, f"Payment {payment_id} bounced", ("payment_bounce", payment_id), currency, [
        *(_dr(ar, a, customer_id, item) for item, a in applications.items()),
        _dr(chart.code(UNAPPLIED_CREDITS), credit, customer_id, payment_id),
        _cr(chart.code(METHODS[method]), amount),
    ])


def entry_reversed(chart: Chart, entry: Entry, *, ref: str, on: date, memo: str) -> Entry:
    """An entry undone by its mirror image, every debit made a credit and every credit a debit, on the
    same accounts, customers and open items: how a discount or write-off taken with a bounced payment is
    taken back (its tax share included)."""
    errors = ErrorList()
    _text_ok(errors, "ref", ref)
    _text_ok(errors, "memo", memo)
    errors.raise_if_any("The reversal cannot be posted")
    return _entry(chart, on, memo, ("reversal", ref), entry.currency, [
        EntryLine(ln.account_code, debit=ln.credit, credit=ln.debit, customer_id=ln.customer_id,
                  open_item=ln.open_item) for ln in entry.lines])


def bounce_fee_charged(chart: Chart, *, ref: str, customer_id: str, on: date, currency: str,
                       amount: Decimal, payment_id: str) -> Entry:
    """The charge for a bounced payment passed on to the customer: Dr receivables (a new open item,
    `ref`); Cr fee income."""
    errors = ErrorList()
    _text_ok(errors, "ref", ref)
    _text_ok(errors, "customer_id", customer_id)
    _text_ok(errors, "payment_id", payment_id)
    _amount_ok(errors, "fee", amount, currency if _currency_ok(errors, currency) else None)
    errors.raise_if_any("The bounce fee cannot be posted")
    return _entry(chart, on, f"Bounce fee {ref} for payment {payment_id}", ("bounce_fee", ref), currency, [
        _dr(chart.code(RECEIVABLES), amount, customer_id, ref),
        _cr(chart.code(FEE_INCOME), amount),
    ])


# --------------------------------------------------------------------------------------------------
# Rebates (contra-revenue)


def rebate_accrued(chart: Chart, *, agreement_id: str, customer_id: str, on: date, currency: str,
                   amount: Decimal) -> Entry:
    """A rebate the customer has earned so far: Dr sales rebates (revenue reduced); Cr accrued rebates."""
    errors = ErrorList()
    _text_ok(errors, "agreement_id", agreement_id)
    _text_ok(errors, "customer_id", customer_id)
    _amount_ok(errors, "amount", amount, currency if _currency_ok(errors, currency) else None)
    errors.raise_if_any("The rebate accrual cannot be posted")
    return _entry(chart, on, f"Rebate accrued under {agreement_id}", ("rebate_accrual", agreement_id), currency, [
        _dr(chart.code(SALES_REBATES), amount),
        _cr(chart.code(REBATES_ACCRUED), amount, customer_id),
    ])


def rebate_settled(chart: Chart, *, ref: str, agreement_id: str, customer_id: str, on: date, currency: str,
                   amount: Decimal, accrued: Decimal, method: str | None = None) -> Entry:
    """A rebate settled: Dr accrued rebates for the accrual this settlement closes (`accrued`); the
    difference trues up sales rebates (Dr when more is paid than accrued, Cr when less); Cr the customer's
    unapplied credits under `ref` (a credit to use), or with a method, Cr that money account."""
    errors = ErrorList()
    _text_ok(errors, "ref", ref)
    _text_ok(errors, "agreement_id", agreement_id)
    _text_ok(errors, "customer_id", customer_id)
    cur = currency if _currency_ok(errors, currency) else None
    _amount_ok(errors, "amount", amount, cur)
    _amount_ok(errors, "accrued", accrued, cur, zero_ok=True)
    if method is not None:
        _method_ok(errors, method)
    errors.raise_if_any("The rebate settlement cannot be posted")
    rebates = chart.code(SALES_REBATES)
    paid = (_cr(chart.code(METHODS[method]), amount) if method
            else _cr(chart.code(UNAPPLIED_CREDITS), amount, customer_id, ref))
    return _entry(chart, on, f"Rebate settled under {agreement_id}", ("rebate_settlement", ref), currency, [
        _dr(chart.code(REBATES_ACCRUED), accrued, customer_id),
        _dr(rebates, amount - accrued) if amount > accrued else _cr(rebates, accrued - amount),
        paid,
    ])


# --------------------------------------------------------------------------------------------------
# Balances


class Balance(NamedTuple):
    debit: Decimal
    credit: Decimal
    balance: Decimal  # debit - credit: positive for a debit balance


def _one_currency(entries: Sequence[Entry]) -> None:
    currencies = {e.currency for e in entries}
    if len(currencies) > 1:
        raise ValidationFailed.one("currency", "mixed",
                                   f"entries in several currencies ({', '.join(sorted(currencies))}) cannot be summed")


def trial_balance(entries: Iterable[Entry]) -> dict[str, Balance]:
    """Debits, credits and balance per account code, in code order."""
    entries = list(entries)
    _one_currency(entries)
    dr: dict[str, Decimal] = defaultdict(lambda: ZERO)
    cr: dict[str, Decimal] = defaultdict(lambda: ZERO)
    for e in entries:
        for ln in e.lines:
            dr[ln.account_code] += ln.debit
            cr[ln.account_code] += ln.credit
    return {code: Balance(dr[code], cr[code], dr[code] - cr[code]) for code in sorted(dr.keys() | cr.keys())}


def subledger(entries: Iterable[Entry], account_codes: Iterable[str]) -> dict[str, Decimal]:
    """Balance (debit - credit) per customer over the lines on these accounts that name a customer."""
    codes = set(account_codes)
    out: dict[str, Decimal] = defaultdict(lambda: ZERO)
    for e in entries:
        for ln in e.lines:
            if ln.account_code in codes and ln.customer_id:
                out[ln.customer_id] += ln.debit - ln.credit
    return dict(out)


def ar_subledger(entries: Iterable[Entry], chart: Chart = DEFAULT_CHART) -> dict[str, Decimal]:
    """Each customer's net position: what they owe (receivables) less the credit they hold with us
    (unapplied credits). Positive: the customer owes us."""
    return subledger(entries, chart.customer_codes())


def ar_control(entries: Iterable[Entry], chart: Chart = DEFAULT_CHART) -> Decimal:
    """The control total the subledger must equal: receivables plus unapplied credits, as accounts."""
    tb = trial_balance(entries)
    return sum((tb[c].balance for c in chart.customer_codes() if c in tb), ZERO)


def open_items(entries: Iterable[Entry], account_code: str) -> dict[tuple[str, str], Decimal]:
    """Balance (debit - credit) per (customer, open item) on one account; settled items left out."""
    out: dict[tuple[str, str], Decimal] = defaultdict(lambda: ZERO)
    for e in entries:
        for ln in e.lines:
            if ln.account_code == account_code and ln.customer_id and ln.open_item:
                out[(ln.customer_id, ln.open_item)] += ln.debit - ln.credit
    return {k: v for k, v in out.items() if v != 0}


# --------------------------------------------------------------------------------------------------
# Ageing and receivables KPIs

BUCKETS = ("current", "1-30", "31-60", "61-90", "90+")


@dataclass(frozen=True)
class OpenItem:
    customer_id: str
    item: str
    due_date: date
    amount: Decimal  # what is open; a credit item (negative) ages like any other, by its due date


def bucket_for(days_overdue: int) -> str:
    """current (not yet overdue, day 0 included), 1-30, 31-60, 61-90, 90+ days past the due date."""
    if days_overdue <= 0:
        return "current"
    if days_overdue <= 30:
        return "1-30"
    if days_overdue <= 60:
        return "31-60"
    if days_overdue <= 90:
        return "61-90"
    return "90+"


def ageing(items: Iterable[OpenItem], as_of: date) -> dict[str, Decimal]:
    """Open amounts per bucket of days overdue on `as_of`; every bucket present, in BUCKETS order."""
    out = {b: ZERO for b in BUCKETS}
    for it in items:
        out[bucket_for((as_of - it.due_date).days)] += it.amount
    return out


_HUNDREDTH = Decimal("0.01")


def _ratio_inputs_ok(revenue: Decimal, days: int) -> None:
    errors = ErrorList()
    if not isinstance(revenue, Decimal) or not revenue.is_finite() or revenue <= 0:
        errors.add("revenue", "not_positive", f"credit sales must be above zero, not {revenue!r}")
    if not isinstance(days, int) or days <= 0:
        errors.add("days", "not_positive", f"the period must be a number of days above zero, not {days!r}")
    errors.raise_if_any()


def dso(receivables: Decimal, revenue: Decimal, days: int) -> Decimal:
    """Days sales outstanding, period-end method (STANDARDS.md §7): AR at period end / credit sales of
    the period x days in the period, to 0.01 day."""
    _ratio_inputs_ok(revenue, days)
    return (receivables / revenue * days).quantize(_HUNDREDTH, ROUND_HALF_UP)


def best_possible_dso(current_receivables: Decimal, revenue: Decimal, days: int) -> Decimal:
    """Best-possible DSO: the not-yet-overdue AR at period end / credit sales x days (STANDARDS.md §7)."""
    return dso(current_receivables, revenue, days)


def average_days_delinquent(receivables: Decimal, current_receivables: Decimal, revenue: Decimal,
                            days: int) -> Decimal:
    """ADD by the DSO method: DSO - best-possible DSO (not the amount-weighted days past due)."""
    return dso(receivables, revenue, days) - best_possible_dso(current_receivables, revenue, days)


def cei(ar_begin: Decimal, revenue: Decimal, ar_end: Decimal, current_ar_end: Decimal) -> Decimal:
    """Collection effectiveness index, percent, to 0.01 (STANDARDS.md §7):
    (AR begin + credit sales - AR end) / (AR begin + credit sales - current AR end) x 100."""
    collectible = ar_begin + revenue - current_ar_end
    if collectible <= 0:
        raise ValidationFailed.one("revenue", "nothing_collectible",
                                   "AR at the start plus credit sales leave nothing past due to collect")
    return ((ar_begin + revenue - ar_end) / collectible * 100).quantize(_HUNDREDTH, ROUND_HALF_UP)


def countback_dso(receivables: Decimal, months: Sequence[tuple[Decimal, int]]) -> Decimal:
    """Countback DSO (STANDARDS.md §7): walk back from the latest month (first in `months`, as (credit
    sales, days)), taking each month's whole days while AR covers its sales, then the part of the month
    the AR left covers."""
    left = receivables
    total = Decimal(0)
    for sales, days in months:
        _ratio_inputs_ok(sales, days)
        if left <= sales:
            return (total + left / sales * days).quantize(_HUNDREDTH, ROUND_HALF_UP)
        total += days
        left -= sales
    raise ValidationFailed.one("months", "too_few",
                               f"AR of {receivables} is more than the sales of the {len(months)} months given")


# --------------------------------------------------------------------------------------------------
# Journal export

JOURNAL_COLUMNS = ("date", "entry", "account", "account_name", "debit", "credit", "currency",
                   "customer", "open_item", "memo", "source")


def _cell(text: str | None) -> str:
    """Text as a spreadsheet shows it and never runs it: a leading = + - @ would start a formula."""
    text = text or ""
    return "'" + text if text[:1] in ("=", "+", "-", "@", "\t", "\r") else text


def journal_csv(entries: Iterable[Entry], chart: Chart = DEFAULT_CHART) -> str:
    """The journal as CSV (RFC 4180), one row per line: amounts as plain decimals in the currency's minor
    units ("120.00", never "1.2E+2" or "1,200.00"), the zero side "0.00". The entry column is the entry's
    number, or its 1-based position in `entries` when it has none yet."""
    buf = io.StringIO()
    out = csv.writer(buf)
    out.writerow(JOURNAL_COLUMNS)
    for position, e in enumerate(entries, start=1):
        quantum = Decimal(1).scaleb(-minor_units(e.currency))
        for ln in e.lines:
            account = chart.account(ln.account_code)
            out.writerow([
                e.date.isoformat(), _cell(e.number or str(position)), _cell(ln.account_code),
                _cell(account.name if account else ""),
                f"{ln.debit.quantize(quantum):f}", f"{ln.credit.quantize(quantum):f}", e.currency,
                _cell(ln.customer_id), _cell(ln.open_item), _cell(e.memo), _cell(":".join(e.source)),
            ])
    return buf.getvalue()
