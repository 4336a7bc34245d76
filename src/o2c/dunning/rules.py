"""Dunning rules, pure: the levels of reminders, late interest, which level each open invoice is due for
on a date, and the letters that makes.

Levels (a company's own, or DEFAULT_LEVELS when it has none). Days count from the due date, negative
before it:

    rank  code      days  fee    interest
    0     friendly   -3   0      0 %      a friendly note three days before the due date
    1     first       7   0      0 %
    2     second     21   5.00   0 %
    3     final      35   10.00  0 %

The fees are in the company's currency; interest is off by default, because the rate a seller may charge
is a matter of contract and law (set it per level with PUT /dunning-levels).

Which level an invoice is due for on a date: the highest level whose day has come, if that level is
above every level the invoice already received. So each level is sent at most once per invoice, an
invoice never goes back to a lower level, and one that jumped past several levels (the run did not
happen for a while, or it was on hold for a dispute) gets only the highest of them.

One letter per customer and currency: every invoice due a level goes on it, each at its own level. The
letter's level is the highest of its invoices' levels, and it charges that level's fee, once. A fee is
a figure in the company's currency, so a letter in another currency carries none (o2c keeps no exchange
rates); interest, being a rate, applies in any currency.

Late interest, per invoice, at its level's yearly rate: simple interest, actual days over a 365-day
year (ACT/365), on the invoice's open amount:

    interest = round_money(open × rate / 100 × days / 365)      (half-up to the currency's minor units)

`days` run from the due date, or from the date of the last reminder that already charged interest on
the invoice, to the reminder's date: a period is charged once, never twice.
"""
from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from decimal import Decimal

from o2c.core.errors import ErrorList
from o2c.core.money import ZERO, UnknownCurrency, plain, round_money

DAYS_IN_YEAR = Decimal(365)
HUNDRED = Decimal(100)
MAX_LEVELS = 10
# A level's day: from a month before the due date to three years after it.
MIN_DAYS, MAX_DAYS = -31, 3 * 365
CODE = re.compile(r"^[a-z][a-z0-9_-]{0,19}$")


@dataclass(frozen=True)
class Level:
    rank: int
    code: str
    days_overdue: int  # negative: before the due date
    fee: Decimal = ZERO  # in the company's currency
    interest_pct_year: Decimal = ZERO


DEFAULT_LEVELS = (
    Level(0, "friendly", -3),
    Level(1, "first", 7),
    Level(2, "second", 21, Decimal("5.00")),
    Level(3, "final", 35, Decimal("10.00")),
)


def _decimal(errors: ErrorList, fld: str, value: object, low: Decimal, high: Decimal | None) -> bool:
    if not isinstance(value, Decimal) or not value.is_finite():
        errors.add(fld, "not_a_number", f"{fld} must be a number, not {value!r}")
        return False
    if value < low or (high is not None and value > high):
        errors.add(fld, "out_of_range", f"{fld} must be from {plain(low)}"
                   + (f" to {plain(high)}" if high is not None else " up") + f", not {plain(value)}")
        return False
    return True


def check_levels(levels: Sequence[Level], currency: str) -> tuple[Level, ...]:
    """The levels, if each is sound and together they climb: ranks and days both strictly ascending,
    codes unique, fees of zero or more in the company currency's minor units, interest from 0 to 100 %
    a year with at most 4 decimals. Refused naming each field (`levels[2].fee`)."""
    errors = ErrorList()
    if not levels:
        errors.add("levels", "required", "give at least one level")
    elif len(levels) > MAX_LEVELS:
        errors.add("levels", "too_many", f"at most {MAX_LEVELS} levels, not {len(levels)}")
    seen_codes: dict[str, int] = {}
    for i, lv in enumerate(levels):
        at = f"levels[{i}]"
        if not isinstance(lv.rank, int) or isinstance(lv.rank, bool) or not 0 <= lv.rank <= 99:
            errors.add(f"{at}.rank", "out_of_range", f"{at}.rank must be a whole number from 0 to 99, not {lv.rank!r}")
        elif i and isinstance(levels[i - 1].rank, int) and lv.rank <= levels[i - 1].rank:
            errors.add(f"{at}.rank", "not_ascending",
                       f"ranks must ascend: {at}.rank is {lv.rank}, after {levels[i - 1].rank}")
        if not isinstance(lv.code, str) or not CODE.match(lv.code):
            errors.add(f"{at}.code", "invalid", f"{at}.code must be 1-20 lower-case letters, digits, _ or -, "
                       f"starting with a letter, not {lv.code!r}")
        elif lv.code in seen_codes:
            errors.add(f"{at}.code", "duplicate", f"code {lv.code!r} is used twice (levels[{seen_codes[lv.code]}] and {at})")
        else:
            seen_codes[lv.code] = i
        if not isinstance(lv.days_overdue, int) or isinstance(lv.days_overdue, bool) \
                or not MIN_DAYS <= lv.days_overdue <= MAX_DAYS:
            errors.add(f"{at}.days_overdue", "out_of_range",
                       f"{at}.days_overdue must be a whole number from {MIN_DAYS} to {MAX_DAYS}, not {lv.days_overdue!r}")
        elif i and isinstance(levels[i - 1].days_overdue, int) and lv.days_overdue <= levels[i - 1].days_overdue:
            errors.add(f"{at}.days_overdue", "not_ascending",
                       f"days must ascend with the ranks: {at}.days_overdue is {lv.days_overdue}, "
                       f"after {levels[i - 1].days_overdue}")
        if _decimal(errors, f"{at}.fee", lv.fee, ZERO, None):
            try:
                in_minor_units = round_money(lv.fee, currency) == lv.fee
            except UnknownCurrency:
                in_minor_units = True  # the company's currency is checked where the company is made
            if not in_minor_units:
                errors.add(f"{at}.fee", "too_many_decimals", f"{at}.fee {plain(lv.fee)} is not in {currency} minor units")
        if _decimal(errors, f"{at}.interest_pct_year", lv.interest_pct_year, ZERO, HUNDRED) \
                and lv.interest_pct_year != lv.interest_pct_year.quantize(Decimal("0.0001")):
            errors.add(f"{at}.interest_pct_year", "too_many_decimals", f"{at}.interest_pct_year has more than 4 decimals")
    errors.raise_if_any("The reminder levels are not valid")
    return tuple(levels)


def interest(open_amount: Decimal, pct_year: Decimal, days: int, currency: str) -> Decimal:
    """Simple interest ACT/365 on the open amount for `days`, half-up to minor units; none for no days."""
    if days <= 0 or pct_year <= 0 or open_amount <= 0:
        return round_money(ZERO, currency)
    return round_money(open_amount * pct_year / HUNDRED * days / DAYS_IN_YEAR, currency)


def due_level(levels: Sequence[Level], due_date: date, on: date, received: Iterable[int]) -> Level | None:
    """The level an invoice is due for on `on`: the highest whose day has come, if it is above every rank
    the invoice has received; else None."""
    days = (on - due_date).days
    reached = [lv for lv in levels if lv.days_overdue <= days]
    if not reached:
        return None
    top = max(reached, key=lambda lv: lv.rank)
    done = max(received, default=None)
    return top if done is None or top.rank > done else None


@dataclass(frozen=True)
class OpenInvoice:
    """An invoice that may be reminded: what is open on it, what it has received, and since when
    interest is still to be charged (the due date, or the last reminder that charged interest)."""

    invoice_id: int
    customer_id: int
    currency: str
    due_date: date
    open_amount: Decimal
    received: frozenset[int] = frozenset()
    interest_charged_to: date | None = None


@dataclass(frozen=True)
class Item:
    invoice_id: int
    rank: int
    days_overdue: int
    open_amount: Decimal
    interest: Decimal


@dataclass(frozen=True)
class Letter:
    customer_id: int
    currency: str
    level: Level
    items: tuple[Item, ...]
    fee: Decimal
    interest: Decimal

    @property
    def open_total(self) -> Decimal:
        return sum((it.open_amount for it in self.items), ZERO)

    @property
    def total(self) -> Decimal:
        return self.open_total + self.fee + self.interest


def item(inv: OpenInvoice, level: Level, on: date) -> Item:
    """An invoice on a letter at `level` on `on`, with its interest for the days not charged yet."""
    start = max(inv.due_date, inv.interest_charged_to or inv.due_date)
    return Item(inv.invoice_id, level.rank, (on - inv.due_date).days, inv.open_amount,
                interest(inv.open_amount, level.interest_pct_year, (on - start).days, inv.currency))


def letter(customer_id: int, currency: str, items: Sequence[Item], levels: Mapping[int, Level],
           company_currency: str) -> Letter:
    """One letter of these items: the highest of their levels, its fee (none in a foreign currency), and
    the items' interest."""
    level = levels[max(it.rank for it in items)]
    fee = round_money(level.fee, currency) if currency == company_currency else round_money(ZERO, currency)
    return Letter(customer_id, currency, level, tuple(items), fee, sum((it.interest for it in items), ZERO))


def plan(levels: Sequence[Level], invoices: Iterable[OpenInvoice], on: date, company_currency: str) -> list[Letter]:
    """The letters to send on `on`: per customer and currency, the open invoices due a level. Invoices
    with nothing open are left out. Letters come in customer then currency order, items in invoice order."""
    by_rank = {lv.rank: lv for lv in levels}
    groups: dict[tuple[int, str], list[Item]] = {}
    for inv in sorted(invoices, key=lambda i: (i.customer_id, i.currency, i.invoice_id)):
        if inv.open_amount <= 0:
            continue
        level = due_level(levels, inv.due_date, on, inv.received)
        if level is not None:
            groups.setdefault((inv.customer_id, inv.currency), []).append(item(inv, level, on))
    return [letter(cust, cur, items, by_rank, company_currency) for (cust, cur), items in groups.items()]


def reminder_number(reminder_id: int) -> str:
    """The reminder's reference on the letter and in the ledger (its fee's open item): REM00000012."""
    return f"REM{reminder_id:08d}"


def interest_item(number: str) -> str:
    """The open item of a reminder's late interest, apart from its fee: REM00000012-INT."""
    return f"{number}-INT"
