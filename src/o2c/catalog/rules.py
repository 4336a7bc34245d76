"""Pricing and tax, pure: which price and tax rate apply, and how a line's amounts are rounded.

The rounding rule (docs/money.md): per line, gross = qty × unit price, discount = gross × discount %,
an order discount is then spread over the lines by largest remainder, and tax = net × rate; each
rounded half-up to the currency's minor units when it is computed. Order totals are plain sums of
the rounded line amounts, so the order always equals the sum of its lines to the cent.
"""
from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date
from decimal import Decimal

from o2c.core.money import ZERO, allocate, round_money

HUNDRED = Decimal(100)


def unit_price_for(breaks: Iterable[tuple[Decimal, Decimal]], qty: Decimal) -> Decimal | None:
    """The price of the highest quantity break at or below `qty`; None if no break applies."""
    best: tuple[Decimal, Decimal] | None = None
    for min_qty, price in breaks:
        if min_qty <= qty and (best is None or min_qty > best[0]):
            best = (min_qty, price)
    return best[1] if best else None


@dataclass(frozen=True)
class TaxRateRow:
    country: str
    region: str | None
    tax_class: str
    rate_pct: Decimal
    valid_from: date


def tax_rate_for(
    rates: Iterable[TaxRateRow], country: str | None, region: str | None, tax_class: str, on: date
) -> TaxRateRow | None:
    """The rate in force on `on`: a region's own rate wins over the country's; the latest start wins."""
    best: TaxRateRow | None = None
    for r in rates:
        if r.country != country or r.tax_class != tax_class or r.valid_from > on:
            continue
        if r.region is not None and (region is None or r.region.casefold() != region.casefold()):
            continue
        key = (r.region is not None, r.valid_from)
        if best is None or key > (best.region is not None, best.valid_from):
            best = r
    return best


def deviation_pct(list_price: Decimal, unit_price: Decimal) -> Decimal:
    """How far a price is from the list price, in percent of the list price (always >= 0)."""
    if list_price == 0:
        return ZERO if unit_price == 0 else HUNDRED
    return abs(unit_price - list_price) * HUNDRED / list_price


@dataclass(frozen=True)
class LineInput:
    quantity: Decimal
    unit_price: Decimal
    discount_pct: Decimal
    tax_rate_pct: Decimal


@dataclass(frozen=True)
class LineAmounts:
    gross: Decimal
    discount: Decimal
    net: Decimal
    tax: Decimal

    @property
    def total(self) -> Decimal:
        return self.net + self.tax


@dataclass(frozen=True)
class Totals:
    subtotal: Decimal
    discount: Decimal
    tax: Decimal
    total: Decimal


def price_lines(
    lines: Sequence[LineInput], currency: str, order_discount: Decimal = ZERO
) -> list[LineAmounts]:
    """Amounts per line; `order_discount` (in minor units) is spread over lines by their net amount."""
    grosses = [round_money(li.quantity * li.unit_price, currency) for li in lines]
    discounts = [round_money(g * li.discount_pct / HUNDRED, currency) for g, li in zip(grosses, lines)]
    nets = [g - d for g, d in zip(grosses, discounts)]
    if order_discount:
        shares = allocate(order_discount, nets, currency)
        discounts = [d + s for d, s in zip(discounts, shares)]
        nets = [n - s for n, s in zip(nets, shares)]
    return [
        LineAmounts(g, d, n, round_money(n * li.tax_rate_pct / HUNDRED, currency))
        for g, d, n, li in zip(grosses, discounts, nets, lines)
    ]


def totals(amounts: Iterable[LineAmounts]) -> Totals:
    sub = disc = tax = net = ZERO
    for a in amounts:
        sub += a.gross
        disc += a.discount
        tax += a.tax
        net += a.net
    return Totals(sub, disc, tax, net + tax)
