"""Payment terms, pure: "net 30", "2/10 net 30", "due on receipt" as data, and the due date, discount
deadline and early-payment discount they give.

Days count from the invoice date, and the last day counts: under 2/10 net 30 an invoice of 1 March is due
on 31 March and earns the discount when paid on or before 11 March. (Terms counted from the end of the
month or from receipt of goods, such as "net 30 EOM", are not handled here.)

The discount applies to the gross: the amount due for payment, tax included. Source: XRechnung, the German
use of EN 16931, rule BR-DE-18: the discount written in payment terms (BT-20, "#SKONTO#TAGE=10#
PROZENT=2.00#") is reckoned on BT-115, the amount due for payment, unless the terms name a smaller base.
EN 16931 itself carries payment terms only as text. US "2/10 net 30" is likewise taken off the invoice
amount. Where an agreement excludes freight or tax from the base, pass that smaller base as `amount`.
Where a settlement discount reduces the taxable amount (EU VAT Directive 2006/112/EC, Art. 90: the price
reduced after the supply), `discount_tax_share` gives the tax part to take back from tax payable
(o2c.ledger.rules.discount_taken).
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal

from o2c.core.errors import ErrorList, FieldError, ValidationFailed
from o2c.core.money import ZERO, allocate, plain, round_money

# Longer than a year is financing, not trade terms.
MAX_NET_DAYS = 365
HUNDRED = Decimal(100)


def _whole_days(errors: ErrorList, fld: str, value: object, low: int, high: int) -> bool:
    if not isinstance(value, int) or isinstance(value, bool):
        errors.add(fld, "not_whole_days", f"{fld} must be a whole number of days, not {value!r}")
        return False
    if not low <= value <= high:
        errors.add(fld, "out_of_range", f"{fld} must be from {low} to {high} days, not {value}")
        return False
    return True


@dataclass(frozen=True)
class Terms:
    """Pay within `net_days`; `discount_pct` off when paid within `discount_days` (both or neither)."""

    net_days: int
    discount_pct: Decimal | None = None
    discount_days: int | None = None

    def __post_init__(self):
        if isinstance(self.discount_pct, int) and not isinstance(self.discount_pct, bool):
            object.__setattr__(self, "discount_pct", Decimal(self.discount_pct))
        errors = ErrorList()
        net_ok = _whole_days(errors, "net_days", self.net_days, 0, MAX_NET_DAYS)
        pct, days = self.discount_pct, self.discount_days
        if pct is None and days is not None:
            errors.add("discount_pct", "required", "a discount period needs its discount percentage")
        elif days is None and pct is not None:
            errors.add("discount_days", "required", "a discount percentage needs its discount period")
        elif pct is not None:
            if not isinstance(pct, Decimal) or not pct.is_finite() or not ZERO < pct < HUNDRED:
                errors.add("discount_pct", "out_of_range",
                           f"discount_pct must be a decimal above 0 and below 100, not {pct!r}")
            if _whole_days(errors, "discount_days", days, 1, MAX_NET_DAYS) and net_ok and days > self.net_days:
                errors.add("discount_days", "after_net",
                           f"the discount period ({days} days) ends after the invoice is due ({self.net_days} days)")
        errors.raise_if_any("The payment terms are not valid")

    @property
    def has_discount(self) -> bool:
        return self.discount_pct is not None

    def __str__(self) -> str:
        net = "due on receipt" if self.net_days == 0 else f"net {self.net_days}"
        return f"{plain(self.discount_pct)}/{self.discount_days} {net}" if self.has_discount else net


DUE_ON_RECEIPT = Terms(0)

_RECEIPT = re.compile(r"(due )?(on|upon) receipt|immediate")
# "net 30", "net30", "n/30", "net 30 days", each optionally after a discount "2/10", "2%/10", "1.5/10,".
_TERMS = re.compile(
    r"(?:(?P<pct>\d+(?:\.\d+)?)\s*%?\s*/\s*(?P<discount_days>\d+)\s*,?\s*)?"
    r"(?:net\s*|n\s*/\s*)(?P<net>\d+)(?:\s*days?)?"
)


def parse_terms(text: str, field: str = "terms") -> Terms:
    """Terms from how people write them: "net 30", "2/10 net 30", "2/10, n/30", "due on receipt".

    Errors name `field` (the caller's name for the terms), with the part at fault after a dot:
    "terms.discount_days" for "2/45 net 30"."""
    if not isinstance(text, str):
        raise ValidationFailed.one(field, "required", f"{field} must be text such as 'net 30' or '2/10 net 30'")
    words = " ".join(text.lower().split())
    if _RECEIPT.fullmatch(words):
        return DUE_ON_RECEIPT
    m = _TERMS.fullmatch(words)
    if m is None:
        raise ValidationFailed.one(
            field, "unreadable",
            f"{field} {text!r} is not understood: write 'net 30', '2/10 net 30' or 'due on receipt'")
    try:
        pct = Decimal(m["pct"]) if m["pct"] else None
        return Terms(int(m["net"]), pct, int(m["discount_days"]) if m["discount_days"] else None)
    except ValidationFailed as exc:
        errors = [FieldError(f"{field}.{e.field}", e.code, e.message) for e in exc.errors]
        raise ValidationFailed(exc.detail, errors) from None


def due_date(invoice_date: date, terms: Terms) -> date:
    return invoice_date + timedelta(days=terms.net_days)


def discount_deadline(invoice_date: date, terms: Terms) -> date | None:
    """The last day a payment earns the discount; None when the terms give none."""
    return invoice_date + timedelta(days=terms.discount_days) if terms.has_discount else None


def discount_amount(amount: Decimal, terms: Terms, *, invoice_date: date, paid_on: date, currency: str) -> Decimal:
    """The early-payment discount on `amount` (the gross due, see the module notes) for a payment on
    `paid_on`, rounded half-up to the currency's minor units; zero after the deadline or without one."""
    if not isinstance(amount, Decimal) or not amount.is_finite() or amount < 0:
        raise ValidationFailed.one("amount", "invalid", f"amount must be a decimal of zero or more, not {amount!r}")
    deadline = discount_deadline(invoice_date, terms)
    if deadline is None or paid_on > deadline:
        return ZERO
    return round_money(amount * terms.discount_pct / HUNDRED, currency)


def discount_tax_share(discount: Decimal, net: Decimal, tax: Decimal, currency: str) -> Decimal:
    """The tax part of a discount taken off a gross of `net` + `tax`, in their proportion, so that the net
    part and the tax part add up to the discount exactly (largest remainder, o2c.core.money.allocate)."""
    if net + tax == 0:
        return ZERO
    return allocate(discount, [net, tax], currency)[1]
