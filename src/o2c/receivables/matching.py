"""Matching bank statement lines to open invoices (cash application), pure: statement lines, open
invoices, the customers' known bank accounts and names in; one proposal per line out. No database, no
clock: the service loads the open items, calls `match`, stores the proposals and books the auto ones.

Each piece of evidence adds to a candidate's confidence (sum capped at 1.00, docs/bank-statements.md,
"Matching"):

    creditor reference (RF, ISO 11649) naming the invoice        0.70
    invoice number in the remittance text or references           0.60
    invoice number one keystroke off, for an invoice with
      exactly the amount paid                                      0.30
    amount equals the open amount (or the named invoices' total,
      or the customer's whole open total)                          0.40, divided by the number of open
                                                                   invoices with that amount when nothing
                                                                   else names the invoice
    more than the invoices named (the rest is unapplied credit)    0.20
    early-payment discount taken                                   0.30  (never auto)
    short by no more than the tolerance                            0.20  (never auto)
    payer's IBAN on file for the invoice's customer                0.50
    payer's name like the customer's name (similarity s >= 0.60)   0.25 x s
    payer's name unlike the customer's (s < 0.30), and the payer's
      account not on file for that customer                       -0.20 (after the cap)

A line is matched automatically only when its best candidate reaches `auto_threshold`, nothing keeps it
from auto (a short payment, an invoice another line of this statement already paid, several invoices
with the same amount) and no other candidate comes within 0.20 of it (for another invoice of the same
customer, counting only what tells the invoices apart: references and amounts, not the account or the
name). Otherwise the best candidate is suggested, with at most three alternatives, for a person to
confirm; below 0.20 the line is unmatched.

Across a statement no invoice receives more than its open amount: the lines that would be matched
automatically are settled first, then the others, each group surest first (then in statement order);
a line whose candidates lost money to a line settled before it is matched again against what is left.
"""
from __future__ import annotations

import re
import unicodedata
from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from difflib import SequenceMatcher
from functools import lru_cache
from typing import NamedTuple

from stdnum import iso11649
from stdnum.iso7064 import mod_97_10

from o2c.core.errors import ErrorList, ValidationFailed
from o2c.core.money import ZERO, known_currencies, round_money
from o2c.receivables.statements import StatementLine

AUTO, SUGGESTED, UNMATCHED, NOT_INCOMING = "auto", "suggested", "unmatched", "not_incoming"
STATUSES = (AUTO, SUGGESTED, UNMATCHED, NOT_INCOMING)

ONE = Decimal(1)
CENT = Decimal("0.01")

# Evidence weights (the table in the module docstring).
W_CREDITOR_REFERENCE = Decimal("0.70")
W_NUMBER = Decimal("0.60")
W_NEAR_NUMBER = Decimal("0.30")
W_AMOUNT = Decimal("0.40")
W_OVERPAID = Decimal("0.20")
W_DISCOUNT = Decimal("0.30")
W_TOLERANCE = Decimal("0.20")
W_ACCOUNT = Decimal("0.50")
W_NAME = Decimal("0.25")
W_UNLIKE_NAME = Decimal("-0.20")

NAME_EVIDENCE = 0.60  # a name less alike than this is no evidence
NAME_LOOKUP = 0.80  # finding a customer by the payer's name alone needs this much
NAME_UNLIKE = 0.30  # a name less alike than this is another name
SUGGEST_FLOOR = Decimal("0.20")  # a best candidate below this leaves the line unmatched
MARGIN = Decimal("0.20")  # a rival this close makes the best candidate ambiguous
MAX_ALTERNATIVES = 3
AMOUNT_SCAN = 20  # an amount more open invoices share than this says nothing alone
NAME_POSTINGS = 200  # a name word shared by more customers than this does not find customers
NAME_CANDIDATES = 30  # customers compared by name for one line, at most

Allocation = tuple[int, Decimal]  # (invoice_id, amount applied)


@dataclass(frozen=True)
class OpenInvoice:
    """An invoice with money still to come, as reconciliation needs it.

    `discount` is the early-payment discount the customer may take off (0 when the terms give none)
    and `discount_until` the last day a payment earns it (None: no date limit is known)."""

    invoice_id: int
    number: str
    customer_id: int
    currency: str
    open_amount: Decimal
    due_date: date
    issue_date: date
    gross: Decimal
    discount: Decimal = ZERO
    discount_until: date | None = None


@dataclass(frozen=True)
class Alternative:
    """Another way to apply the line, for the person confirming a suggestion."""

    confidence: Decimal
    allocations: tuple[Allocation, ...]
    reasons: tuple[str, ...]
    customer_id: int | None
    leftover: Decimal


@dataclass(frozen=True)
class Proposal:
    """What to do with one statement line. For incoming lines, allocations + leftover = the amount;
    `leftover` is unapplied credit (an overpayment, or everything when unmatched)."""

    line_no: int  # the line's own line_no (where it starts in its file)
    status: str  # one of STATUSES
    confidence: Decimal  # 0.00 .. 1.00
    allocations: tuple[Allocation, ...]
    reasons: tuple[str, ...]
    customer_id: int | None
    leftover: Decimal
    alternatives: tuple[Alternative, ...] = ()  # at most MAX_ALTERNATIVES, best first
    index: int = 0  # position of the line in the sequence given to match()


# --- invoice numbers and creditor references ---------------------------------------------------------


class InvoiceNumber(NamedTuple):
    """An invoice number of the shape o2c prints: series prefix, year, counter ("INV-2026-000123")."""

    prefix: str  # upper case, no separators
    year: int
    counter: int


# A series prefix (letters) is optional here; the caller decides what a missing or unknown one means.
# Years 1900-2099, then the counter; separators may be dashes, slashes, dots, spaces or nothing.
_NUMBER_IN_TEXT = re.compile(
    r"(?<![A-Z0-9])(?:([A-Z]{1,10})[\s\-/_.#:]*)?((?:19|20)\d\d)[\s\-/_.]*(\d{1,10})(?![0-9])", re.I)
# Written without a known series prefix, a counter needs this many digits (zero padding included) to
# count: fewer is more likely a date ("2026-03-15") or an amount.
_BARE_COUNTER_DIGITS = 5
_RF_IN_TEXT = re.compile(r"(?<![A-Z0-9])RF(\d\d)((?: ?[A-Z0-9]){1,21})", re.I)


def parse_invoice_number(text: str) -> InvoiceNumber | None:
    """The number when `text` is exactly one invoice number in any accepted form: "INV-2026-000123",
    "inv 2026 123", "INV2026000123", "INV/2026/123"; None otherwise."""
    found = _NUMBER_IN_TEXT.fullmatch(text.strip())
    if found is None or not found[1]:
        return None
    return InvoiceNumber(found[1].upper(), int(found[2]), int(found[3]))


def _compact(text: str) -> str:
    return re.sub(r"[^0-9A-Za-z]", "", text).upper()


def creditor_reference(invoice_number: str) -> str:
    """The ISO 11649 creditor reference o2c prints on an invoice: "RF", two check digits and the
    invoice number without separators ("INV-2026-000123" -> "RF..INV2026000123").

    ISO 11649: the reference is the letters RF, check digits, then up to 21 letters and digits; the
    check digits make body + "RF" + digits (letters as 10..35) equal 1 modulo 97 (ISO 7064 MOD 97-10)."""
    body = _compact(invoice_number) if isinstance(invoice_number, str) else ""
    if not body or len(body) > 21:
        raise ValidationFailed.one(
            "invoice_number", "not_referenceable",
            f"invoice number {invoice_number!r} cannot be a creditor reference: it needs 1 to 21 "
            "letters and digits")
    return "RF" + mod_97_10.calc_check_digits(body + "RF") + body


def reference_body(reference: str) -> str | None:
    """The part after "RFnn" of a valid creditor reference (spaces allowed, any case); None when the
    text is not one or its check digits are wrong."""
    if not isinstance(reference, str) or not iso11649.is_valid(reference):
        return None
    return iso11649.compact(reference)[4:]


# --- name similarity ---------------------------------------------------------------------------------

# Legal forms and filler words say nothing about who paid.
_NAME_NOISE = frozenset(
    "ag gmbh mbh kg ohg ug ek ev ltd limited llc llp lp inc corp corporation co company plc bv nv vof "
    "sa sas sarl srl spa sl oy ab as asa aps se kgaa pty the und and et of de der die".split())


def name_tokens(name: str | None) -> tuple[str, ...]:
    """The words of a name that tell it apart: case and accents dropped, legal forms dropped."""
    if not name:
        return ()
    text = unicodedata.normalize("NFKD", name.casefold())
    text = "".join(c for c in text if not unicodedata.combining(c))
    return tuple(w for w in re.findall(r"\w+", text) if len(w) > 1 and w not in _NAME_NOISE)


@lru_cache(maxsize=1 << 16)
def _word_ratio(a: str, b: str) -> float:
    """difflib's ratio when at least 0.8 (a typo or a transliteration), else 0 (another word).
    Cached: the same words come back in name after name."""
    ratio = SequenceMatcher(None, a, b).ratio()
    return ratio if ratio >= 0.8 else 0.0


def _word_likeness(word: str, others: tuple[str, ...]) -> float:
    best = 0.0
    for other in others:
        if word == other:
            return 1.0
        if 2 * min(len(word), len(other)) >= 0.8 * (len(word) + len(other)):  # else the ratio is < 0.8
            best = max(best, _word_ratio(word, other) if word < other else _word_ratio(other, word))
    return best


def token_similarity(a: tuple[str, ...], b: tuple[str, ...]) -> float:
    """0..1: how much of both names' letters sit in words the other name also has (nearly) equal.
    Word order does not count; a word missing on one side lowers the score by its length."""
    if not a or not b:
        return 0.0
    if a == b:
        return 1.0
    shared = sum(len(w) * _word_likeness(w, b) for w in a) + sum(len(w) * _word_likeness(w, a) for w in b)
    return shared / (sum(map(len, a)) + sum(map(len, b)))


def name_similarity(a: str | None, b: str | None) -> float:
    """token_similarity of two names as written ("Müller Bau GmbH" and "MUELLER BAU" are alike)."""
    return token_similarity(name_tokens(a), name_tokens(b))


# --- the open items, indexed once ----------------------------------------------------------------------


class _Book:
    """The open invoices, accounts and names, indexed once per call of match()."""

    def __init__(self, invoices: Sequence[OpenInvoice], numbers: Sequence[InvoiceNumber | str],
                 accounts: Mapping[str, int], names: Mapping[int, str]):
        self.by_id: dict[int, OpenInvoice] = {}
        self.by_number: dict[InvoiceNumber, OpenInvoice] = {}
        self.by_year_counter: dict[tuple[int, int], list[OpenInvoice]] = defaultdict(list)
        self.by_compact: dict[str, OpenInvoice] = {}  # numbers not of the shape INV-2026-000123
        self.by_amount: dict[tuple[str, Decimal], list[OpenInvoice]] = defaultdict(list)
        self.by_customer: dict[tuple[int, str], list[OpenInvoice]] = defaultdict(list)
        self.by_customer_amount: dict[tuple[int, str, Decimal], list[OpenInvoice]] = defaultdict(list)
        for inv, number in zip(invoices, numbers):
            self.by_id[inv.invoice_id] = inv
            if isinstance(number, InvoiceNumber):
                self.by_number[number] = inv
                self.by_year_counter[number.year, number.counter].append(inv)
            else:
                self.by_compact[number] = inv
            self.by_amount[inv.currency, inv.open_amount].append(inv)
            self.by_customer[inv.customer_id, inv.currency].append(inv)
            self.by_customer_amount[inv.customer_id, inv.currency, inv.open_amount].append(inv)
        for items in self.by_customer.values():
            items.sort(key=_oldest_first)
        self.prefixes = frozenset(n.prefix for n in self.by_number)
        self.accounts = {_compact(iban): customer for iban, customer in accounts.items()}
        self.names = names
        self.customer_tokens: dict[int, tuple[str, ...]] = {}
        self.name_index: dict[str, list[int]] = defaultdict(list)
        for customer in {customer for customer, _ in self.by_customer}:
            tokens = name_tokens(names.get(customer))
            self.customer_tokens[customer] = tokens
            for token in set(tokens):
                self.name_index[token].append(customer)


def _oldest_first(inv: OpenInvoice):
    return (inv.due_date, inv.issue_date, inv.number, inv.invoice_id)


@dataclass
class _State:
    """What is still open while a statement is being applied."""

    book: _Book
    remaining: dict[int, Decimal] = field(default_factory=dict)
    paid_by: dict[int, list[str]] = field(default_factory=dict)  # invoice -> lines that took money
    suggested: set[int] = field(default_factory=set)  # invoices a suggestion took money from
    customer_total: dict[tuple[int, str], Decimal] = field(default_factory=dict)

    def __post_init__(self):
        self.remaining = {i: inv.open_amount for i, inv in self.book.by_id.items()}
        for key, items in self.book.by_customer.items():
            self.customer_total[key] = sum((inv.open_amount for inv in items), ZERO)

    def left(self, inv: OpenInvoice) -> Decimal:
        return self.remaining[inv.invoice_id]

    def same_amount(self, invoices, amount: Decimal) -> tuple[list[OpenInvoice], int]:
        """Of invoices opened with `amount`: those with all of it still open, and how many could be
        meant (those, and those a suggestion took: a person may still give them back)."""
        live = [inv for inv in invoices if self.remaining[inv.invoice_id] == amount]
        return live, len(live) + sum(1 for inv in invoices if inv.invoice_id in self.suggested
                                     and self.remaining[inv.invoice_id] != amount)

    def apply(self, allocations: tuple[Allocation, ...], label: str, suggested: bool) -> None:
        for invoice_id, amount in allocations:
            inv = self.book.by_id[invoice_id]
            if suggested:
                self.suggested.add(invoice_id)
            self.remaining[invoice_id] -= amount
            self.customer_total[inv.customer_id, inv.currency] -= amount
            self.paid_by.setdefault(invoice_id, []).append(label)


# --- reading references out of a line ------------------------------------------------------------------


@dataclass(frozen=True)
class _Found:
    """A reference read from the line: the invoice it names (None: no such open invoice) and how."""

    written: str
    number: InvoiceNumber | None
    invoice: OpenInvoice | None
    creditor_reference: bool


def _texts(line: StatementLine) -> str:
    return " | ".join(t for t in (line.remittance, line.structured_reference, line.end_to_end_id) if t)


def _lookup(book: _Book, number: InvoiceNumber) -> OpenInvoice | None:
    if number.prefix in book.prefixes:
        return book.by_number.get(number)
    same = book.by_year_counter.get((number.year, number.counter), ())
    return same[0] if len(same) == 1 else None


def _references(book: _Book, text: str) -> list[_Found]:
    found: list[_Found] = []
    if "RF" in text.upper():
        for m in _RF_IN_TEXT.finditer(text):
            body = _compact(m[2])
            # The reference may run into the next word: the longest valid reading that names an
            # invoice wins (a wrong length passes the check digits once in 97).
            for end in range(len(body), 0, -1):
                if not iso11649.is_valid("RF" + m[1] + body[:end]):
                    continue
                number = parse_invoice_number(body[:end])
                inv = _lookup(book, number) if number else book.by_compact.get(body[:end])
                if inv is not None:
                    found.append(_Found(m[0], number, inv, True))
                    break
    for m in _NUMBER_IN_TEXT.finditer(text):
        prefix, digits = (m[1] or "").upper(), m[3]
        if prefix not in book.prefixes and len(digits) < _BARE_COUNTER_DIGITS:
            continue  # "Invoice 2026-15", "2026-03-15": too little to tell from a date
        number = InvoiceNumber(prefix, int(m[2]), int(digits))
        found.append(_Found(m[0].strip(), number, _lookup(book, number), False))
    if book.by_compact:  # numbers of another shape, written as they are
        for word in re.findall(r"[A-Za-z0-9][A-Za-z0-9\-/.]*[A-Za-z0-9]", text):
            inv = book.by_compact.get(_compact(word))
            if inv is not None:
                found.append(_Found(word, None, inv, False))
    return found


def _one_keystroke_away(counter: int) -> set[int]:
    """Counters a person might have meant: one digit changed, left out, added, or two swapped."""
    digits = str(counter)
    out: set[str] = set()
    for i in range(len(digits) + 1):
        for d in "0123456789":
            out.add(digits[:i] + d + digits[i:])  # one added
    for i in range(len(digits)):
        out.add(digits[:i] + digits[i + 1:])  # one left out
        for d in "0123456789":
            out.add(digits[:i] + d + digits[i + 1:])  # one changed
        if i + 1 < len(digits):
            out.add(digits[:i] + digits[i + 1] + digits[i] + digits[i + 2:])  # two swapped
    return {int(v) for v in out if v} - {counter}


def _near_invoices(book: _Book, number: InvoiceNumber) -> list[OpenInvoice]:
    prefix, year, _ = number
    if prefix in book.prefixes:  # (a plain tuple finds an InvoiceNumber key: they hash alike)
        found = (book.by_number.get((prefix, year, c)) for c in _one_keystroke_away(number.counter))
        return [inv for inv in found if inv is not None]
    return [inv for c in _one_keystroke_away(number.counter) for inv in book.by_year_counter.get((year, c), ())]


# --- candidates -------------------------------------------------------------------------------------------


@dataclass
class _Candidate:
    """One way to apply a line: invoices in the order they receive money, and the evidence for it."""

    invoices: tuple[OpenInvoice, ...]
    customer_id: int | None
    evidence: dict[str, tuple[Decimal, str]] = field(default_factory=dict)  # kind -> (weight, reason)
    same_amount: int = 1  # open invoices in scope with this amount (the amount alone points at them)
    blocks: list[str] = field(default_factory=list)  # why it may not be applied without a person
    notes: list[str] = field(default_factory=list)
    confidence: Decimal = ZERO
    telling: Decimal = ZERO  # the evidence that tells one invoice of a customer from another
    allocations: tuple[Allocation, ...] = ()
    leftover: Decimal = ZERO

    def add(self, kind: str, weight: Decimal, reason: str) -> None:
        if kind not in self.evidence or self.evidence[kind][0] < weight:
            self.evidence[kind] = (weight, reason)

    @property
    def reasons(self) -> tuple[str, ...]:
        ranked = sorted(self.evidence.values(), key=lambda e: -e[0])
        return tuple(reason for _, reason in ranked) + tuple(self.blocks) + tuple(self.notes)

    def alternative(self) -> Alternative:
        return Alternative(self.confidence, self.allocations, self.reasons, self.customer_id, self.leftover)


def _money(amount: Decimal, currency: str) -> str:
    return f"{round_money(amount, currency):f}"


def _numbers(invoices: tuple[OpenInvoice, ...]) -> str:
    if len(invoices) <= 3:
        return ", ".join(inv.number for inv in invoices)
    return f"{invoices[0].number}, {invoices[1].number} and {len(invoices) - 2} more"


class _View(NamedTuple):
    cands: list[_Candidate]  # best first
    notes: list[str]  # about the line itself (a number that is no open invoice, another currency)
    payer: int | None  # the customer whose account paid, when on file


class _Matcher:
    def __init__(self, book: _Book, tolerance: Decimal):
        self.book = book
        self.tolerance = tolerance
        self.state = _State(book)
        self.tokens: tuple[str, ...] = ()  # the payer's name, of the line being matched
        self.alike: dict[int, float] = {}  # customer -> similarity to it, for that line

    def candidates(self, line: StatementLine) -> _View:
        """The line's candidates, scored against what is open now, best first."""
        book, state = self.book, self.state
        amount, currency = line.amount, line.currency
        payer = book.accounts.get(_compact(line.counterparty_iban)) if line.counterparty_iban else None
        cands: dict[tuple[int, ...], _Candidate] = {}
        line_notes: list[str] = []
        self.tokens, self.alike = name_tokens(line.counterparty_name), {}

        def candidate(invoices: tuple[OpenInvoice, ...]) -> _Candidate:
            key = tuple(inv.invoice_id for inv in invoices)
            if key not in cands:
                owners = {inv.customer_id for inv in invoices}
                cands[key] = _Candidate(invoices, owners.pop() if len(owners) == 1 else None)
            return cands[key]

        # 1. What the payer wrote: invoice numbers and creditor references.
        found = _references(book, _texts(line))
        named: dict[int, tuple[OpenInvoice, _Found]] = {}
        for f in found:
            inv = f.invoice
            if inv is None:
                if f.number is not None and f.number.prefix in book.prefixes:
                    line_notes.append(f"{f.written} is not an open invoice")
            elif inv.currency != currency:
                line_notes.append(f"{inv.number} is in {inv.currency}; the payment is in {currency}")
            elif inv.invoice_id not in named or f.creditor_reference:
                named[inv.invoice_id] = (inv, f)
        if named:
            invoices = tuple(sorted((inv for inv, _ in named.values()), key=_oldest_first))
            group = candidate(invoices)
            self._named(group, [f for _, f in named.values()])
            if len(invoices) > 1:  # several named, but the amount is one of them
                for inv, f in named.values():
                    if state.left(inv) == amount:
                        single = candidate((inv,))
                        self._named(single, [f])
                        others = [i.number for i in invoices if i is not inv]
                        single.notes.append(f"the payment also names {', '.join(others)}")

        # 2. A number one keystroke off, for an invoice with exactly this amount: only when what was
        # named does not already account for the amount. (Not for any invoice of the payer: one
        # customer's invoices often have neighbouring numbers.)
        named_total = sum((state.left(inv) for inv, _ in named.values()), ZERO)
        fits = bool(named) and (named_total == amount or any(state.left(inv) == amount for inv, _ in named.values()))
        if not fits:
            for f in found:
                if f.number is None:
                    continue
                for inv in _near_invoices(book, f.number):
                    if inv.currency == currency and inv.invoice_id not in named and state.left(inv) == amount:
                        candidate((inv,)).add("reference", W_NEAR_NUMBER,
                                              f"{f.written} is one keystroke from {inv.number}")

        # 3. The amount, among the payer's invoices when the account is known, else among all invoices
        # and the customers with the payer's name. Not when the named invoices fit the amount and are
        # the payer's (by account, or by a name that is not another's): nothing else could come close,
        # and that is most lines.
        if payer is not None:
            own = fits and all(inv.customer_id == payer for inv, _ in named.values())
            looked_at = [] if own else [payer]
        else:
            unlike = any(self.unlike(inv.customer_id) for inv, _ in named.values())
            looked_at = []
            if not fits or unlike:
                same = book.by_amount.get((currency, amount), ())
                if len(same) <= AMOUNT_SCAN:  # a commoner amount alone says nothing
                    live, count = state.same_amount(same, amount)
                    for inv in live:
                        candidate((inv,)).same_amount = count
                if not named or unlike:
                    looked_at = self._customers_named()
        for customer in looked_at:
            self._customer(customer, currency, amount, candidate)
            if not any(c.customer_id == customer for c in cands.values()):
                self._oldest_first(customer, currency, amount, candidate)

        # 4. Score every candidate against what is still open.
        scored = [self._score(c, line, payer) for c in cands.values()]
        scored.sort(key=lambda c: (-c.confidence, -len(c.allocations), [_oldest_first(i) for i in c.invoices]))
        return _View(scored, list(dict.fromkeys(line_notes)), payer)

    def _named(self, cand: _Candidate, found: list[_Found]) -> None:
        written = ", ".join(f.written for f in found)
        if all(f.creditor_reference for f in found):
            cand.add("reference", W_CREDITOR_REFERENCE, f"creditor reference {written} names "
                     f"{_numbers(cand.invoices)}")
        else:
            cand.add("reference", W_NUMBER, f"the payment names {_numbers(cand.invoices)} ({written})")

    def _customer(self, customer: int, currency: str, amount: Decimal, candidate) -> None:
        """Candidates among one customer's open invoices: each with exactly this amount, and all of
        them together when they add up to it."""
        state = self.state
        same, count = state.same_amount(self.book.by_customer_amount.get((customer, currency, amount), ()),
                                        amount)
        for inv in same:
            candidate((inv,)).same_amount = count
        if state.customer_total.get((customer, currency)) == amount:
            live = tuple(inv for inv in self.book.by_customer[customer, currency] if state.left(inv) > 0)
            if len(live) > 1:
                candidate(live).add("amount", W_AMOUNT, f"the amount equals the customer's open total "
                                    f"({len(live)} invoices)")

    def _oldest_first(self, customer: int, currency: str, amount: Decimal, candidate) -> None:
        """When nothing else fits: the customer's oldest open invoices, as far as the money goes."""
        oldest, total = [], ZERO
        for inv in self.book.by_customer.get((customer, currency), ()):
            if total >= amount:
                break
            if self.state.left(inv) > 0:
                oldest.append(inv)
                total += self.state.left(inv)
        if oldest:
            candidate(tuple(oldest)).notes.append("no invoice number or amount fits: oldest invoices first")

    def similarity(self, customer: int) -> float:
        """How alike the current line's payer name and the customer's name are (0 when either is
        missing); once per line and customer."""
        if customer not in self.alike:
            self.alike[customer] = token_similarity(self.tokens, self.book.customer_tokens.get(customer, ()))
        return self.alike[customer]

    def unlike(self, customer: int) -> bool:
        """The payer's name is given and is clearly not the customer's."""
        return bool(self.tokens and self.book.customer_tokens.get(customer)) and \
            self.similarity(customer) < NAME_UNLIKE

    def _customers_named(self) -> list[int]:
        """Customers whose name is like the payer's (similarity >= NAME_LOOKUP), best first, at most 3."""
        tokens = self.tokens
        postings = sorted((self.book.name_index.get(t, ()) for t in set(tokens)), key=len)
        seen: list[int] = []
        for customers in postings:
            if len(customers) > NAME_POSTINGS:
                break
            for customer in customers:
                if customer not in seen:
                    seen.append(customer)
            if len(seen) >= NAME_CANDIDATES:
                break
        alike = [(self.similarity(c), c) for c in seen[:NAME_CANDIDATES]]
        alike = sorted(((s, c) for s, c in alike if s >= NAME_LOOKUP), key=lambda sc: (-sc[0], sc[1]))
        return [c for _, c in alike[:3]]

    def _score(self, cand: _Candidate, line: StatementLine, payer: int | None) -> _Candidate:
        """Allocation, evidence and confidence of one candidate against what is open now."""
        state, currency, amount = self.state, line.currency, line.amount
        # Allocate in order, never more than is left open on an invoice.
        allocations, left = [], amount
        for inv in cand.invoices:
            take = min(state.left(inv), left)
            if take > 0:
                allocations.append((inv.invoice_id, take))
                left -= take
            if inv.invoice_id in state.paid_by:
                lines = ", ".join(state.paid_by[inv.invoice_id])
                paid = inv.open_amount - state.left(inv)
                cand.blocks.append(f"{inv.number}: {_money(paid, currency)} already applied from {lines} "
                                   "of this statement")
        cand.allocations, cand.leftover = tuple(allocations), left
        pointed = "reference" in cand.evidence
        total = sum((state.left(inv) for inv in cand.invoices), ZERO)

        if amount == total:
            if "amount" not in cand.evidence:
                what = (f"the open amount of {cand.invoices[0].number}" if len(cand.invoices) == 1
                        else f"the open total of {_numbers(cand.invoices)}")
                weight = W_AMOUNT if pointed else W_AMOUNT / cand.same_amount
                cand.add("amount", weight.quantize(CENT), f"the amount equals {what}")
            if cand.same_amount > 1 and not pointed:
                cand.blocks.append(f"{cand.same_amount} open invoices have this amount")
        elif amount > total:
            reason = f"overpaid by {_money(amount - total, currency)}: left as unapplied credit"
            if pointed and total > 0 and cand.evidence["reference"][0] >= W_NUMBER:
                cand.add("overpaid", W_OVERPAID, reason)
            else:
                cand.notes.append(reason)
        else:
            self._short(cand, line, total)

        cand.telling = sum((w for w, _ in cand.evidence.values()), ZERO)  # before account and name
        penalty = ZERO
        if payer is not None and cand.customer_id == payer:
            cand.add("account", W_ACCOUNT, f"the payer's account {_compact(line.counterparty_iban)} is on "
                     f"file for customer {payer}")
        elif payer is not None and cand.customer_id is not None:
            cand.notes.append(f"the payer's account is on file for customer {payer}, not {cand.customer_id}")
        if self.tokens and cand.customer_id is not None and self.book.customer_tokens.get(cand.customer_id):
            similarity = self.similarity(cand.customer_id)
            payer_name = f"the payer's name {line.counterparty_name!r}"
            customer_name = repr(self.book.names.get(cand.customer_id))
            if similarity >= NAME_EVIDENCE:
                cand.add("name", (W_NAME * Decimal(f"{similarity:.2f}")).quantize(CENT),
                         f"{payer_name} is like the customer's {customer_name} ({similarity:.2f})")
            elif self.unlike(cand.customer_id) and "account" not in cand.evidence:
                penalty = W_UNLIKE_NAME
                cand.notes.append(f"{payer_name} is not the customer's {customer_name}")
        confidence = min(sum((w for w, _ in cand.evidence.values()), ZERO), ONE) + penalty
        cand.confidence = max(confidence, ZERO).quantize(CENT)
        return cand

    def _short(self, cand: _Candidate, line: StatementLine, total: Decimal) -> None:
        """Less than the open amount: an early-payment discount, a short payment within the
        tolerance, or a partial payment. Each needs a person (write-off, discount or reminder)."""
        amount, currency = line.amount, line.currency
        short = total - amount
        paid_on = line.value_date or line.booking_date
        invoices = cand.invoices
        discount = sum((inv.discount for inv in invoices), ZERO)
        in_time = all(inv.discount_until is None or paid_on <= inv.discount_until for inv in invoices)
        if discount > 0 and in_time and abs(short - discount) <= self.tolerance:
            cand.add("short", W_DISCOUNT, f"early-payment discount of {_money(discount, currency)} taken")
            cand.blocks.append(f"short by {_money(short, currency)}: confirm the discount")
        elif short <= self.tolerance:
            cand.add("short", W_TOLERANCE, f"short by {_money(short, currency)}, within the tolerance "
                     f"of {_money(self.tolerance, currency)}")
            cand.blocks.append("a short payment is written off only by a person")
        else:
            cand.blocks.append(f"partial payment: short by {_money(short, currency)} of "
                               f"{_money(total, currency)}")


# --- the whole statement ------------------------------------------------------------------------------


def _label(line: StatementLine, index: int) -> str:
    return f"line {line.line_no}" if line.line_no else f"entry {index + 1}"


def _close(best: _Candidate, rival: _Candidate) -> bool:
    """The rival is nearly as good. Between invoices of one customer the account and the name say
    nothing about which invoice is meant: only the references and amounts count."""
    if best.customer_id is not None and rival.customer_id == best.customer_id:
        return rival.telling > best.telling - MARGIN
    return rival.confidence > best.confidence - MARGIN


def _decide(line: StatementLine, index: int, view: _View, auto_threshold: Decimal) -> Proposal:
    cands, notes = view.cands, view.notes
    if not cands or cands[0].confidence < SUGGEST_FLOOR:
        why = ("the payer's account is on file, but the customer has nothing open in this currency: "
               "unapplied credit" if view.payer is not None and not cands else
               "no invoice number, amount or known account points to an open invoice")
        return Proposal(line.line_no, UNMATCHED, cands[0].confidence if cands else ZERO, (), (why, *notes),
                        view.payer, line.amount, tuple(c.alternative() for c in cands[:MAX_ALTERNATIVES]), index)
    best, rivals = cands[0], cands[1:]
    reasons = list(best.reasons)
    close = [r for r in rivals if _close(best, r)]
    if close:
        reasons.append(f"{_numbers(close[0].invoices)} fits almost as well ({close[0].confidence})")
    auto = (best.confidence >= auto_threshold and not best.blocks and not close and bool(best.allocations))
    if not auto:
        reasons.extend(notes)
    return Proposal(line.line_no, AUTO if auto else SUGGESTED, best.confidence, best.allocations,
                    tuple(reasons), best.customer_id, best.leftover,
                    () if auto else tuple(c.alternative() for c in rivals[:MAX_ALTERNATIVES]), index)


def match(lines: Sequence[StatementLine], invoices: Sequence[OpenInvoice], accounts: Mapping[str, int],
          names: Mapping[int, str], *, tolerance: Decimal = Decimal("0.00"),
          auto_threshold: Decimal = Decimal("0.90")) -> list[Proposal]:
    """One proposal per line, in the lines' order. `accounts` maps a customer's IBAN to the customer,
    `names` a customer to its name; `tolerance` is the short payment (in the line's currency) that may
    still be suggested as paid in full. Bad input raises ValidationFailed naming the field."""
    numbers = _check(lines, invoices, tolerance, auto_threshold)
    book = _Book(invoices, numbers, accounts, names)
    matcher = _Matcher(book, tolerance)
    proposals: list[Proposal | None] = [None] * len(lines)
    # First view of every line against the whole open book: its proposal and the invoices its
    # candidates draw on (the candidates themselves are not kept: a statement can be long).
    first: dict[int, tuple[Proposal, frozenset[int]]] = {}
    for i, line in enumerate(lines):
        if line.amount <= 0:
            proposals[i] = Proposal(line.line_no, NOT_INCOMING, ZERO, (), ("no money came in",), None, ZERO,
                                    (), i)
        elif line.reversal:
            proposals[i] = Proposal(line.line_no, UNMATCHED, ZERO, (), (
                "the bank reverses an earlier booking: not a customer's payment",), None, line.amount, (), i)
        else:
            view = matcher.candidates(line)
            first[i] = (_decide(line, i, view, auto_threshold),
                        frozenset(inv.invoice_id for c in view.cands for inv in c.invoices))
    # Settle first the lines that would be matched automatically, then the others, surest first: a
    # weak guess never takes an invoice that a clear payment names. A line is matched again only when
    # one of its candidates' invoices lost money to a line settled before it; the others' first view
    # still holds (it may miss a candidate that only the lower balance would make, never overpay).
    order = sorted(first, key=lambda i: (first[i][0].status != AUTO, -first[i][0].confidence, i))
    touched: set[int] = set()
    for i in order:
        proposal, draws_on = first.pop(i)
        if not touched.isdisjoint(draws_on):
            proposal = _decide(lines[i], i, matcher.candidates(lines[i]), auto_threshold)
        if proposal.allocations:
            matcher.state.apply(proposal.allocations, _label(lines[i], i), proposal.status == SUGGESTED)
            touched.update(invoice_id for invoice_id, _ in proposal.allocations)
        proposals[i] = proposal
    return proposals  # type: ignore[return-value]


def match_rate(proposals: Sequence[Proposal]) -> dict:
    """Counts of auto, suggested and unmatched proposals, and their shares of the incoming lines
    (Decimal, 4 places; 0 when there are none). Lines with money going out are not counted."""
    counts = {status: 0 for status in STATUSES}
    for p in proposals:
        counts[p.status] += 1
    incoming = counts[AUTO] + counts[SUGGESTED] + counts[UNMATCHED]
    out: dict = {"incoming": incoming, **{s: counts[s] for s in (AUTO, SUGGESTED, UNMATCHED)},
                 "not_incoming": counts[NOT_INCOMING]}
    for s in (AUTO, SUGGESTED, UNMATCHED):
        out[f"{s}_rate"] = (Decimal(counts[s]) / incoming).quantize(Decimal("0.0001")) if incoming else ZERO
    return out


# --- checking the input --------------------------------------------------------------------------------


def _number_key(number: str) -> InvoiceNumber | str:
    """Two numbers are the same when they read as the same invoice number ("INV-2026-000123",
    "INV2026123") or, for other shapes, have the same letters and digits."""
    return parse_invoice_number(number) or _compact(number)


def _is_money(value: object) -> bool:
    return isinstance(value, Decimal) and value.is_finite()


def _check(lines: Sequence[StatementLine], invoices: Sequence[OpenInvoice], tolerance: Decimal,
           auto_threshold: Decimal) -> list[InvoiceNumber | str]:
    """Refuses bad input naming the field; returns each invoice's number as read (_number_key)."""
    errors = ErrorList()
    currencies = known_currencies()
    if not _is_money(tolerance) or tolerance < 0:
        errors.add("tolerance", "invalid", f"tolerance must be a decimal amount of 0 or more, not {tolerance!r}")
    if not _is_money(auto_threshold) or not ZERO < auto_threshold <= ONE:
        errors.add("auto_threshold", "out_of_range",
                   f"auto_threshold must be a decimal above 0 and at most 1, not {auto_threshold!r}")
    for i, line in enumerate(lines):
        if not _is_money(line.amount):
            errors.add(f"lines[{i}].amount", "invalid", f"line {i}: amount {line.amount!r} is not a decimal amount")
        if line.currency not in currencies:
            errors.add(f"lines[{i}].currency", "invalid",
                       f"line {i}: currency {line.currency!r} is not an ISO 4217 code")
    ids: set[int] = set()
    numbers: set = set()
    keys: list[InvoiceNumber | str] = []
    for i, inv in enumerate(invoices):
        if not _is_money(inv.open_amount) or inv.open_amount <= 0:
            errors.add(f"invoices[{i}].open_amount", "invalid",
                       f"invoice {inv.number}: the open amount must be a decimal above 0, not {inv.open_amount!r}")
        if inv.currency not in currencies:
            errors.add(f"invoices[{i}].currency", "invalid",
                       f"invoice {inv.number}: currency {inv.currency!r} is not an ISO 4217 code")
        if not _is_money(inv.discount) or inv.discount < 0:
            errors.add(f"invoices[{i}].discount", "invalid",
                       f"invoice {inv.number}: the discount must be a decimal of 0 or more, not {inv.discount!r}")
        if inv.invoice_id in ids:
            errors.add(f"invoices[{i}].invoice_id", "duplicate", f"invoice id {inv.invoice_id} is given twice")
        ids.add(inv.invoice_id)
        key = _number_key(inv.number) if isinstance(inv.number, str) else None
        if not key:
            errors.add(f"invoices[{i}].number", "required", f"invoice {inv.invoice_id} has no number")
        elif key in numbers:
            errors.add(f"invoices[{i}].number", "duplicate", f"invoice number {inv.number} is given twice")
        numbers.add(key)
        keys.append(key)
    errors.raise_if_any("The statement cannot be matched")
    return keys
