"""Money: Decimal amounts rounded to each currency's ISO 4217 minor units.

Rounding rule (docs/money.md): every amount that is stored is rounded half-up (away from zero on .5)
to the currency's minor units once, at the line; totals are sums of rounded lines and are never
rounded again. An amount split over several parts (an order discount over its lines) is allocated by
the largest-remainder method so the parts add up exactly to the whole.
"""
from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal
from functools import lru_cache

from babel.numbers import get_currency_precision, list_currencies

ZERO = Decimal(0)


def plain(d: Decimal) -> str:
    """A decimal as people write it: no exponent, no trailing zeros (120, 12.5, 0.3333)."""
    return format(d.normalize(), "f")


class UnknownCurrency(ValueError):
    """A code that is not an ISO 4217 currency."""


@lru_cache(maxsize=None)
def known_currencies() -> frozenset[str]:
    return frozenset(list_currencies())


@lru_cache(maxsize=None)
def minor_units(currency: str) -> int:
    if currency not in known_currencies():
        raise UnknownCurrency(currency)
    return get_currency_precision(currency)


@lru_cache(maxsize=None)
def _quantum(currency: str) -> Decimal:
    return Decimal(1).scaleb(-minor_units(currency))


def round_money(amount: Decimal, currency: str) -> Decimal:
    """Round half-up to the currency's minor units."""
    return amount.quantize(_quantum(currency), rounding=ROUND_HALF_UP)


def allocate(total: Decimal, weights: list[Decimal], currency: str) -> list[Decimal]:
    """Split `total` (already in minor units) over parts proportional to `weights`, losing no cent.

    Each part gets its floor share in minor units; the cents left over go one by one to the parts with
    the largest remainders (ties to the earlier part).
    """
    if not weights:
        return []
    q = _quantum(currency)
    units = int((total / q).to_integral_value())
    if round_money(total, currency) != total:
        raise ValueError(f"{total} is not in {currency} minor units")
    weight_sum = sum(weights, ZERO)
    if weight_sum == 0:
        shares = [Decimal(units) / len(weights)] * len(weights)
    else:
        shares = [Decimal(units) * w / weight_sum for w in weights]
    sign = -1 if units < 0 else 1
    floors = [int(s) for s in shares]  # truncates toward zero
    left = units - sum(floors)
    order = sorted(range(len(weights)), key=lambda i: (-(abs(shares[i] - floors[i])), i))
    for i in order[: abs(left)]:
        floors[i] += sign
    return [Decimal(f) * q for f in floors]
