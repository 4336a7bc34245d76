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
