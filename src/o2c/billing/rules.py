"""Invoicing rules, pure: what an invoice of a shipment charges for each line it ships.

An invoice charges what shipped, never what was ordered. A line shipped in parts is invoiced in parts,
and the parts are taken from the order line's own rounded net and tax (docs/money.md) CUMULATIVELY:
the invoices up to and including this one charge round(total x shipped so far / ordered), so this one
charges

    round(total x (already + this) / ordered) - round(total x already / ordered)

Each part is within one minor unit of its exact share, and once the line has shipped in full its
invoices add up to the order line's net and tax exactly, whatever the split (a 20-unit line at 11.25
tax shipped 19 + 1 is taxed 10.69 + 0.56, not 10.69 + 0.56 + a lost or extra cent).
"""
from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from o2c.core.errors import ErrorList
from o2c.core.money import ZERO, plain, round_money


@dataclass(frozen=True)
class OrderedLine:
    """What the order line says: its quantity and its rounded net and tax for all of it."""

    order_line_id: int
    quantity: Decimal
    net: Decimal
    tax: Decimal


@dataclass(frozen=True)
class Shipped:
    """A quantity of an order line on this shipment, and how much of the line earlier invoices took."""

    order_line_id: int
    quantity: Decimal
    already_invoiced: Decimal = ZERO


@dataclass(frozen=True)
class LineAmounts:
    order_line_id: int
    quantity: Decimal
    net: Decimal
    tax: Decimal


@dataclass(frozen=True)
class Totals:
    net: Decimal
    tax: Decimal

    @property
    def gross(self) -> Decimal:
        return self.net + self.tax


def share(total: Decimal, ordered: Decimal, already: Decimal, this: Decimal, currency: str) -> Decimal:
    """This part's amount of `total`: the cumulative share up to it less the cumulative share before it."""
    return (round_money(total * (already + this) / ordered, currency)
            - round_money(total * already / ordered, currency))


def invoice_lines(ordered: dict[int, OrderedLine], shipped: list[Shipped], currency: str) -> list[LineAmounts]:
    """The amounts to invoice for each shipped line. Refused, naming the line: a line of another order,
    a quantity of zero or less, or more than the order line has left to invoice."""
    errors = ErrorList()
    out = []
    for i, s in enumerate(shipped):
        at = f"lines[{i}]"
        line = ordered.get(s.order_line_id)
        if line is None:
            errors.add(f"{at}.order_line_id", "unknown", f"order line {s.order_line_id} is not a line of this order")
            continue
        if s.quantity <= 0:
            errors.add(f"{at}.quantity", "not_positive", f"{at}.quantity must be above zero, not {plain(s.quantity)}")
            continue
        if s.already_invoiced < 0 or s.already_invoiced + s.quantity > line.quantity:
            errors.add(f"{at}.quantity", "over_invoiced",
                       f"order line {s.order_line_id} has {plain(line.quantity - s.already_invoiced)} left to "
                       f"invoice of {plain(line.quantity)}, not {plain(s.quantity)}")
            continue
        out.append(LineAmounts(s.order_line_id, s.quantity,
                               share(line.net, line.quantity, s.already_invoiced, s.quantity, currency),
                               share(line.tax, line.quantity, s.already_invoiced, s.quantity, currency)))
    errors.raise_if_any("The shipment cannot be invoiced")
    return out


def totals(lines: list[LineAmounts]) -> Totals:
    """Sums of the rounded lines, never rounded again (docs/money.md)."""
    return Totals(sum((ln.net for ln in lines), ZERO), sum((ln.tax for ln in lines), ZERO))


def invoice_number(series: str, year: int, seq: int) -> str:
    """INV-2026-000001: the series, the year and the gap-free sequence within them."""
    return f"{series}-{year}-{seq:06d}"


def payment_status(gross: Decimal, open_amount: Decimal, credited: Decimal) -> str:
    """An invoice's payment status, derived (an invoice is never edited): open (nothing settled yet),
    partially_paid, paid (nothing open, and something paid or settled), credited (nothing open because
    its credit notes took all of it back)."""
    if open_amount <= 0:
        return "credited" if 0 < gross <= credited else "paid"
    return "open" if open_amount + credited >= gross else "partially_paid"


# --------------------------------------------------------------------------------------------------
# Credit notes: an issued invoice is never edited; what it charged too much is taken back by a credit
# note that references it, never above what the invoice line has left to credit.

CREDIT_NOTE_SERIES = "CN"


@dataclass(frozen=True)
class Creditable:
    """An invoice line and what earlier credit notes took back of it."""

    invoice_line_id: int
    invoice_id: int
    order_line_id: int
    quantity: Decimal
    net: Decimal
    tax: Decimal
    credited_qty: Decimal = ZERO
    credited_net: Decimal = ZERO
    credited_tax: Decimal = ZERO

    @property
    def qty_left(self) -> Decimal:
        return self.quantity - self.credited_qty

    @property
    def net_left(self) -> Decimal:
        return self.net - self.credited_net

    @property
    def tax_left(self) -> Decimal:
        return self.tax - self.credited_tax


@dataclass(frozen=True)
class Credit:
    """What a credit note takes back of one invoice line."""

    invoice_line_id: int
    invoice_id: int
    order_line_id: int
    quantity: Decimal
    net: Decimal
    tax: Decimal


@dataclass(frozen=True)
class Refunded:
    """A returned order line as the return's refund states it: its quantity, net and tax."""

    order_line_id: int
    quantity: Decimal
    net: Decimal
    tax: Decimal


def credit_refund(refunded: list[Refunded], invoiced: list[Creditable], currency: str) -> list[Credit]:
    """The credits of a return's refund. Each returned line is credited against the invoice lines of its
    order line, earliest first, for the quantity each has left; the refund's net and tax are spread over
    those parts in cumulative shares by quantity (so they add up to the refund exactly) and never exceed
    what a line has left. A quantity no invoice line has left (never invoiced) is not credited."""
    out = []
    for r in refunded:
        taken = ZERO
        for c in (c for c in invoiced if c.order_line_id == r.order_line_id):
            q = min(r.quantity - taken, c.qty_left)
            if q <= 0:
                continue
            net = min(share(r.net, r.quantity, taken, q, currency), c.net_left)
            tax = min(share(r.tax, r.quantity, taken, q, currency), c.tax_left)
            out.append(Credit(c.invoice_line_id, c.invoice_id, c.order_line_id, q, net, tax))
            taken += q
    return out


@dataclass(frozen=True)
class ManualCredit:
    """A person's correction of one invoice line (1-based line_no): a quantity taken back, or an amount
    (net) off the price; exactly one of the two."""

    line_no: int
    quantity: Decimal | None = None
    amount: Decimal | None = None


def credit_lines(invoice_lines: list[Creditable], asked: list[ManualCredit], invoice_gross_left: Decimal,
                 currency: str) -> list[Credit]:
    """The credits of a manual correction. A quantity is credited at the line's cumulative share of net
    and tax; an amount is net, with tax in the line's own proportion. Refused, naming the field: an
    unknown line, both or neither of quantity and amount, zero or less, more than the line has left to
    credit, and a credit note above what is left of its invoice."""
    errors = ErrorList()
    out = []
    for i, a in enumerate(asked):
        at = f"lines[{i}]"
        if not 1 <= a.line_no <= len(invoice_lines):
            errors.add(f"{at}.line_no", "unknown", f"the invoice has no line {a.line_no}")
            continue
        c = invoice_lines[a.line_no - 1]
        if (a.quantity is None) == (a.amount is None):
            errors.add(at, "quantity_or_amount", f"{at} needs a quantity or an amount, not both or neither")
            continue
        fld, value = (f"{at}.quantity", a.quantity) if a.quantity is not None else (f"{at}.amount", a.amount)
        if value <= 0:
            errors.add(fld, "not_positive", f"{fld} must be above zero, not {plain(value)}")
            continue
        if a.quantity is not None:
            if a.quantity > c.qty_left:
                errors.add(fld, "above_invoiced", f"line {a.line_no} has {plain(c.qty_left)} left to credit "
                           f"of {plain(c.quantity)} invoiced, not {plain(a.quantity)}")
                continue
            net = min(share(c.net, c.quantity, c.credited_qty, a.quantity, currency), c.net_left)
            tax = min(share(c.tax, c.quantity, c.credited_qty, a.quantity, currency), c.tax_left)
            qty = a.quantity
        else:
            if a.amount != round_money(a.amount, currency) or a.amount > c.net_left:
                errors.add(fld, "above_invoiced", f"line {a.line_no} has {plain(c.net_left)} net left to credit, "
                           f"not {plain(a.amount)} (in whole minor units of {currency})")
                continue
            net = a.amount
            tax = min(round_money(c.tax * a.amount / c.net, currency), c.tax_left) if c.net else ZERO
            qty = ZERO
        out.append(Credit(c.invoice_line_id, c.invoice_id, c.order_line_id, qty, net, tax))
    if not errors.items:
        gross = sum((c.net + c.tax for c in out), ZERO)
        if gross > invoice_gross_left:
            errors.add("lines", "above_invoice", f"a credit note of {plain(gross)} is above the "
                       f"{plain(invoice_gross_left)} left to credit on its invoice")
        elif gross <= 0:
            errors.add("lines", "zero", "the credit note comes to zero")
    errors.raise_if_any("The credit note is not valid")
    return out
