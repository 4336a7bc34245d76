"""Payment rules, pure: what a payment may be, what it settles on each invoice, when it earns the
early-payment discount, and what a write-off may take.

A payment names the invoices it pays and how much of each (its applications). Each amount must be above
zero, in the payment's currency, and at most what is open on the invoice; together they are at most the
payment. What the applications leave of the payment is unapplied credit on the customer's account
(o2c.ledger.rules.payment_received): an overpayment is never lost, and a payment that names no invoice
is all credit until a person applies it (`apply_credit`).

Early-payment discount: under terms such as "2/10 net 30" (o2c.billing.terms), a payment on or before
the discount deadline that pays what is open less the discount, in full, settles the invoice: the
discount is taken (a settlement of its own) with its tax share. A payment of the full open amount in the
period is applied as paid (the customer did not take the discount); a part payment earns no discount.
The discount is reckoned on the invoice's amount due, its gross less its credit notes, and taken once.
"""
from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from decimal import Decimal

from o2c.billing.rules import invoice_number
from o2c.billing.terms import discount_amount, discount_tax_share, parse_terms
from o2c.core.errors import ErrorList, ValidationFailed
from o2c.core.money import ZERO, known_currencies, round_money
from o2c.ledger.rules import METHODS

PAYMENT_SERIES = "PAY"
# Where a payment comes from: a person (manual), a bank statement line, a card capture.
MANUAL, STATEMENT, CARD = "manual", "statement", "card"
SOURCES = (MANUAL, STATEMENT, CARD)
# Settlement kinds: part of a payment, unapplied credit applied, a discount taken, a write-off.
PAYMENT, CREDIT, DISCOUNT, WRITE_OFF = "payment", "credit", "discount", "write_off"


def payment_number(year: int, seq: int) -> str:
    """PAY-2026-000001: gap-free per company and year."""
    return invoice_number(PAYMENT_SERIES, year, seq)


@dataclass(frozen=True)
class OpenInvoice:
    """An invoice as a payment sees it. `due` is its gross less its credit notes (what a discount is
    reckoned on), `net` and `tax` the same split (for the discount's tax share); `discounted` says a
    discount was taken on it already."""

    id: int
    number: str
    customer_id: int
    currency: str
    issue_date: date
    terms: str
    open: Decimal
    due: Decimal
    net: Decimal
    tax: Decimal
    discounted: bool = False
    order_id: int | None = None


@dataclass(frozen=True)
class Settled:
    """What a payment or credit does to one invoice: `amount` of money applied, and the discount taken
    with it (zero for none) and that discount's tax share."""

    invoice: OpenInvoice
    amount: Decimal
    discount: Decimal = ZERO
    discount_tax: Decimal = ZERO

    @property
    def open_after(self) -> Decimal:
        return self.invoice.open - self.amount - self.discount


def _amount_ok(errors: ErrorList, fld: str, value: object, currency: str | None) -> bool:
    """A finite Decimal above zero, in the currency's minor units."""
    if not isinstance(value, Decimal) or not value.is_finite():
        errors.add(fld, "not_decimal", f"{fld} must be a decimal amount, not {value!r}")
        return False
    if value <= 0:
        errors.add(fld, "not_positive", f"{fld} must be above zero, not {value}")
        return False
    if currency is not None and round_money(value, currency) != value:
        errors.add(fld, "not_minor_units", f"{fld} {value} has more decimals than {currency} allows")
        return False
    return True


def check_payment(errors: ErrorList, *, method: object, source: object, source_ref: object, currency: object,
                  account_currency: str, amount: object, received_on: date, today: date) -> bool:
    """The payment's own fields; True when its currency and amount can be used for its applications."""
    if method not in METHODS:
        errors.add("method", "unknown", f"method {method!r} is not one of {', '.join(METHODS)}")
    elif method == "card" and source != CARD:
        errors.add("method", "card_by_capture",
                   "a card payment is recorded by its capture through the gateway, not by hand")
    if source not in SOURCES:
        errors.add("source", "unknown", f"source {source!r} is not one of {', '.join(SOURCES)}")
    elif source != MANUAL and not (isinstance(source_ref, str) and source_ref.strip()):
        errors.add("source_ref", "required", f"a payment from a {source} names it in source_ref")
    currency_ok = isinstance(currency, str) and currency in known_currencies()
    if not currency_ok:
        errors.add("currency", "unknown", f"{currency!r} is not an ISO 4217 currency")
    elif currency != account_currency:
        errors.add("currency", "not_account_currency",
                   f"the customer's account is kept in {account_currency}: a payment in {currency} cannot be applied")
        currency_ok = False
    amount_ok = _amount_ok(errors, "amount", amount, currency if currency_ok else None)
    if received_on > today:
        errors.add("received_on", "future", f"received_on {received_on} is after today ({today})")
    return currency_ok and amount_ok


def _discount(inv: OpenInvoice, amount: Decimal, paid_on: date) -> tuple[Decimal, Decimal]:
    """The discount (and its tax share) that `amount` paid on `paid_on` earns on `inv`: only when it pays
    what is open less the discount exactly, within the period, and no discount was taken before."""
    if inv.discounted:
        return ZERO, ZERO
    try:
        terms = parse_terms(inv.terms)
    except ValidationFailed:  # terms written before they were read (free text): no discount to give
        return ZERO, ZERO
    if not terms.has_discount:
        return ZERO, ZERO
    d = discount_amount(inv.due, terms, invoice_date=inv.issue_date, paid_on=paid_on, currency=inv.currency)
    if d <= 0 or d >= inv.open or amount != inv.open - d:
        return ZERO, ZERO
    return d, discount_tax_share(d, inv.net, inv.tax, inv.currency)


def settle(errors: ErrorList, *, customer_id: int, currency: str | None, limit: Decimal | None,
           applications: Sequence[tuple[object, object]], invoices: Mapping[int, OpenInvoice],
           paid_on: date | None = None, field: str = "applications") -> list[Settled]:
    """Each application checked against its invoice: it exists (in `invoices`), is the customer's and
    in the currency, the amount is above zero and at most what is open, and no invoice is named twice;
    the total at most `limit` (None: not checked). With `paid_on` (money paid that day) an application
    may earn the early-payment discount. Errors name `field[i].invoice_id` or `field[i].amount`."""
    out: list[Settled] = []
    seen: set[object] = set()
    total = ZERO
    for i, (invoice_id, amount) in enumerate(applications):
        at = f"{field}[{i}]"
        inv = invoices.get(invoice_id) if isinstance(invoice_id, int) else None
        if inv is None:
            errors.add(f"{at}.invoice_id", "unknown", f"there is no invoice {invoice_id!r}")
            continue
        if invoice_id in seen:
            errors.add(f"{at}.invoice_id", "duplicate", f"invoice {inv.number} is named twice: name it once")
            continue
        seen.add(invoice_id)
        if inv.customer_id != customer_id:
            errors.add(f"{at}.invoice_id", "other_customer", f"invoice {inv.number} is another customer's")
            continue
        if currency is not None and inv.currency != currency:
            errors.add("currency", "not_invoice_currency",
                       f"invoice {inv.number} is in {inv.currency}: a payment in {currency} cannot settle it")
            continue
        if not _amount_ok(errors, f"{at}.amount", amount, inv.currency):
            continue
        if amount > inv.open:
            errors.add(f"{at}.amount", "above_open",
                       f"{amount} applied to invoice {inv.number}, but only {inv.open} is open on it")
            continue
        total += amount
        d, tax = _discount(inv, amount, paid_on) if paid_on is not None else (ZERO, ZERO)
        out.append(Settled(inv, amount, d, tax))
    if limit is not None and total > limit:
        errors.add(field, "above_amount", f"{total} applied in all, more than the {limit} available")
    return out


def check_write_off(errors: ErrorList, *, amount: object, open_amount: Decimal, currency: str,
                    tolerance: Decimal | None, reason: object) -> None:
    """A short payment written off: above zero, at most what is open, at most the company's tolerance;
    with a reason. A company with no tolerance set writes nothing off this way."""
    if tolerance is None:
        errors.add("amount", "no_tolerance",
                   "the company has no write-off tolerance set: short payments are not written off "
                   "(set write_off_tolerance in the company's settings)")
    if _amount_ok(errors, "amount", amount, currency):
        if amount > open_amount:
            errors.add("amount", "above_open", f"{amount} is more than the {open_amount} open on the invoice")
        elif tolerance is not None and amount > tolerance:
            errors.add("amount", "above_tolerance", f"{amount} is more than the write-off tolerance of {tolerance}")
    if not (isinstance(reason, str) and reason.strip()):
        errors.add("reason", "required", "a write-off states its reason")


def unapplied(held: Mapping[str, Decimal]) -> tuple[list[tuple[str, Decimal]], Decimal]:
    """Credit items (payment or credit note numbers) with what each still holds, oldest number first,
    and the total; items used up are left out."""
    items = sorted((item, amount) for item, amount in held.items() if amount > 0)
    return items, sum((a for _, a in items), ZERO)
