"""Credit scoring, pure: ratios and Altman Z-scores from a customer's submitted statements, its payment
behaviour from its invoice history, and a risk grade A-E with its reasons and a recommended credit limit.

Everything is Decimal. Ratios and Z-scores are shown to 4 decimals, days and percentages to 1 decimal
(half-up), and every limit and zone is judged on the figure as shown, so what the analyst reads and
what was decided agree. The recommended limit is rounded DOWN to the currency's minor units
(o2c.core.money.minor_units): a limit never exceeds what its rule gives. docs/credit-scoring.md has
the formulas and rules with their sources.

A ratio that cannot be computed (a zero denominator, a missing figure) is a Figure with no value and
the reason, never an error or an infinity; input that cannot be true (a negative total, a date out of
order) is refused with ValidationFailed naming the field.
"""
from __future__ import annotations

from calendar import monthrange
from dataclasses import dataclass, field
from datetime import date
from decimal import ROUND_DOWN, ROUND_HALF_UP, Decimal

from o2c.core.errors import ErrorList, ValidationFailed
from o2c.core.money import ZERO, UnknownCurrency, minor_units, plain

FOUR_PLACES = Decimal("0.0001")
ONE_PLACE = Decimal("0.1")
HUNDRED = Decimal(100)


def _shown(value: Decimal, places: Decimal = FOUR_PLACES) -> Decimal:
    return value.quantize(places, rounding=ROUND_HALF_UP)


def _is_amount(value: object) -> bool:
    # int is accepted (whole amounts written in code); float never, as everywhere in o2c.
    return (isinstance(value, int) and not isinstance(value, bool)) or (
        isinstance(value, Decimal) and value.is_finite())


@dataclass(frozen=True)
class Figure:
    """A computed ratio or score: `value` as shown, or None with the `reason` it cannot be computed."""

    name: str
    value: Decimal | None
    reason: str | None = None

    @property
    def computed(self) -> bool:
        return self.value is not None

    def __str__(self) -> str:
        return f"{self.name} {plain(self.value)}" if self.computed else f"{self.name}: not computed ({self.reason})"


def _ratio(name: str, top: Decimal, bottom: Decimal, why_not: str) -> Figure:
    if bottom == 0:
        return Figure(name, None, why_not)
    return Figure(name, _shown(top / bottom))


# ---------------------------------------------------------------------------------------------------
# Financial statements

# Totals that cannot be below zero on a balance sheet or income statement. Retained earnings and EBIT
# can (accumulated losses, an operating loss); book equity is total assets - total liabilities.
_NON_NEGATIVE = ("total_assets", "current_assets", "current_liabilities", "total_liabilities", "inventory",
                 "interest_expense", "sales", "market_value_of_equity")


@dataclass(frozen=True)
class Statements:
    """One year's figures from a customer's submitted statements, in one currency.

    Book equity is taken as total assets - total liabilities (the balance sheet identity), so the two
    cannot disagree. `market_value_of_equity` (share price x shares) only for a listed company.
    """

    currency: str
    total_assets: Decimal
    current_assets: Decimal
    current_liabilities: Decimal
    total_liabilities: Decimal
    inventory: Decimal
    retained_earnings: Decimal
    ebit: Decimal
    interest_expense: Decimal
    sales: Decimal
    market_value_of_equity: Decimal | None = None

    def __post_init__(self):
        errors = ErrorList()
        try:
            minor_units(self.currency)
        except (UnknownCurrency, TypeError):
            errors.add("currency", "unknown", f"currency must be an ISO 4217 code, not {self.currency!r}")
        for name in ("total_assets", "current_assets", "current_liabilities", "total_liabilities", "inventory",
                     "retained_earnings", "ebit", "interest_expense", "sales", "market_value_of_equity"):
            value = getattr(self, name)
            if value is None:
                if name != "market_value_of_equity":
                    errors.add(name, "required", f"{name} is missing from the statements")
                continue
            if not _is_amount(value):
                errors.add(name, "not_a_decimal", f"{name} must be a decimal amount, not {value!r}")
                continue
            object.__setattr__(self, name, Decimal(value))
            if name in _NON_NEGATIVE and value < 0:
                errors.add(name, "negative", f"{name} cannot be negative ({value})")
        if not errors.items:
            if self.current_assets > self.total_assets:
                errors.add("current_assets", "above_total",
                           f"current_assets ({self.current_assets}) exceed total_assets ({self.total_assets})")
            if self.inventory > self.current_assets:
                errors.add("inventory", "above_total",
                           f"inventory ({self.inventory}) exceeds current_assets ({self.current_assets})")
            if self.current_liabilities > self.total_liabilities:
                errors.add("current_liabilities", "above_total",
                           f"current_liabilities ({self.current_liabilities}) exceed "
                           f"total_liabilities ({self.total_liabilities})")
        errors.raise_if_any("The financial statements are not valid")

    @property
    def book_equity(self) -> Decimal:
        return self.total_assets - self.total_liabilities

    @property
    def working_capital(self) -> Decimal:
        return self.current_assets - self.current_liabilities


def current_ratio(s: Statements) -> Figure:
    """Current assets / current liabilities."""
    return _ratio("current ratio", s.current_assets, s.current_liabilities, "no current liabilities")


def quick_ratio(s: Statements) -> Figure:
    """(Current assets - inventory) / current liabilities: the acid test, liquidity without selling stock."""
    return _ratio("quick ratio", s.current_assets - s.inventory, s.current_liabilities, "no current liabilities")


def debt_to_equity(s: Statements) -> Figure:
    """Total liabilities / book equity. Not computed when book equity is zero or negative: the firm owes
    as much as or more than it owns, and a negative ratio would read as "no debt"."""
    if s.book_equity <= 0:
        return Figure("debt to equity", None,
                      f"book equity is {'zero' if s.book_equity == 0 else 'negative'}: "
                      "liabilities are not covered by assets")
    return Figure("debt to equity", _shown(s.total_liabilities / s.book_equity))


def interest_coverage(s: Statements) -> Figure:
    """EBIT / interest expense: how many times operating profit pays the interest."""
    return _ratio("interest coverage", s.ebit, s.interest_expense, "no interest expense")


@dataclass(frozen=True)
class ZModel:
    """One of Altman's discriminant models: coefficients for X1..X5 (X5 unused: 0), which equity X4 uses,
    and the zone limits (safe above `safe_above`, distress below `distress_below`, grey between them,
    both limits included in grey)."""

    name: str
    label: str
    coefficients: tuple[Decimal, Decimal, Decimal, Decimal, Decimal]
    market_equity: bool
    safe_above: Decimal
    distress_below: Decimal
    constant: Decimal = ZERO


# Altman, E. I. (1968), "Financial Ratios, Discriminant Analysis and the Prediction of Corporate
# Bankruptcy", Journal of Finance 23(4):589-609; public manufacturers. The paper writes 0.012..0.006 on
# X1-X4 in percent and 0.999 on X5; this is the usual form on ratios, with 1.0 on X5.
Z = ZModel("Z", "Altman Z (public manufacturer)",
           (Decimal("1.2"), Decimal("1.4"), Decimal("3.3"), Decimal("0.6"), Decimal("1.0")),
           market_equity=True, safe_above=Decimal("2.99"), distress_below=Decimal("1.81"))
# Altman, E. I. (1983), Corporate Financial Distress, Wiley: re-estimated for private firms, X4 on book
# equity.
Z_PRIME = ZModel("Z'", "Altman Z' (private firm)",
                 (Decimal("0.717"), Decimal("0.847"), Decimal("3.107"), Decimal("0.420"), Decimal("0.998")),
                 market_equity=False, safe_above=Decimal("2.90"), distress_below=Decimal("1.23"))
# Altman, Hartzell and Peck (1995), "Emerging Markets Corporate Bonds: A Scoring System", Salomon
# Brothers; restated in Altman (2000), "Predicting Financial Distress of Companies: Revisiting the
# Z-Score and ZETA Models". Non-manufacturers: no sales/total assets term, which varies by industry.
Z_DOUBLE_PRIME = ZModel("Z''", "Altman Z'' (non-manufacturer)",
                        (Decimal("6.56"), Decimal("3.26"), Decimal("6.72"), Decimal("1.05"), ZERO),
                        market_equity=False, safe_above=Decimal("2.60"), distress_below=Decimal("1.10"))
# The emerging-market form adds 3.25 (so that a score of 0 matches a D bond rating); its zones move by
# the same constant.
EM_CONSTANT = Decimal("3.25")
Z_DOUBLE_PRIME_EM = ZModel("Z'' EM", "Altman Z'' (emerging market)", Z_DOUBLE_PRIME.coefficients,
                           market_equity=False, safe_above=Decimal("2.60") + EM_CONSTANT,
                           distress_below=Decimal("1.10") + EM_CONSTANT, constant=EM_CONSTANT)

SAFE, GREY, DISTRESS = "safe", "grey", "distress"


@dataclass(frozen=True)
class ZScore:
    model: ZModel
    value: Decimal | None
    zone: str | None
    reason: str | None = None

    @property
    def computed(self) -> bool:
        return self.value is not None


def zone(model: ZModel, value: Decimal) -> str:
    """The zone of a score as shown (4 decimals): safe above the upper limit, distress below the lower,
    grey from one to the other, both included."""
    if value > model.safe_above:
        return SAFE
    if value < model.distress_below:
        return DISTRESS
    return GREY


def altman(s: Statements, model: ZModel) -> ZScore:
    """The model's score on the statements. X1 = working capital / TA, X2 = retained earnings / TA,
    X3 = EBIT / TA, X4 = equity (market for Z, book otherwise) / total liabilities, X5 = sales / TA."""
    if s.total_assets == 0:
        return ZScore(model, None, None, "total assets are zero")
    if s.total_liabilities == 0:
        return ZScore(model, None, None, "no liabilities: equity / total liabilities has no value")
    if model.market_equity and s.market_value_of_equity is None:
        return ZScore(model, None, None, "no market value of equity (not a listed company): use Z'")
    equity = s.market_value_of_equity if model.market_equity else s.book_equity
    ta = s.total_assets
    xs = (s.working_capital / ta, s.retained_earnings / ta, s.ebit / ta, equity / s.total_liabilities,
          s.sales / ta)
    score = _shown(model.constant + sum((c * x for c, x in zip(model.coefficients, xs)), ZERO))
    return ZScore(model, score, zone(model, score))


def chosen_model(*, listed: bool, manufacturer: bool, emerging_market: bool = False) -> ZModel:
    """Z for a listed manufacturer, Z' for a private manufacturer, Z'' for any other firm (EM form for a
    firm in an emerging market). Altman's advice: the 1968 model on the population it was fitted to."""
    if emerging_market:
        return Z_DOUBLE_PRIME_EM
    if not manufacturer:
        return Z_DOUBLE_PRIME
    return Z if listed else Z_PRIME


@dataclass(frozen=True)
class FinancialAnalysis:
    current_ratio: Figure
    quick_ratio: Figure
    debt_to_equity: Figure
    interest_coverage: Figure
    z: ZScore  # the model chosen for this firm; the grade uses this one
    other_models: tuple[ZScore, ...]  # the others, shown because the models can disagree
    statements: Statements


def analyse_statements(s: Statements, *, listed: bool, manufacturer: bool,
                       emerging_market: bool = False) -> FinancialAnalysis:
    model = chosen_model(listed=listed, manufacturer=manufacturer, emerging_market=emerging_market)
    if model.market_equity is True and s.market_value_of_equity is None:
        # Listed but no share price given: Z' on book equity instead, and say so through the reason of Z.
        model = Z_PRIME
    others = tuple(altman(s, m) for m in (Z, Z_PRIME, Z_DOUBLE_PRIME) if m is not model)
    return FinancialAnalysis(current_ratio(s), quick_ratio(s), debt_to_equity(s), interest_coverage(s),
                             altman(s, model), others, s)


# ---------------------------------------------------------------------------------------------------
# Payment behaviour

@dataclass(frozen=True)
class Invoice:
    """One invoice of the customer's history: `paid` is the day it was paid in full, None while open."""

    issued: date
    due: date
    amount: Decimal
    paid: date | None = None


@dataclass(frozen=True)
class PaymentBehaviour:
    """Figures over the invoices given, as of a date. Days beyond terms and late shares count invoices
    that are paid or due by then (an open invoice not yet due says nothing yet); weighted DSO counts every
    invoice for the days it was outstanding, to its payment or to the as-of date. None: no invoice counted."""

    average_days_beyond_terms: Decimal | None
    weighted_dso: Decimal | None
    late_share_by_amount: Decimal | None  # percent
    late_share_by_count: Decimal | None  # percent
    trend_days: Decimal | None  # ADBT of the last 3 months minus the 3 before: above 0 is slower
    disputes: int
    bounced_payments: int
    trend_reason: str | None = None


TREND_STEADY_DAYS = Decimal(5)  # a change within ±5 days of ADBT is read as steady


def months_before(day: date, months: int) -> date:
    """The same day `months` calendar months earlier, or that month's last day (31 May -> 28 Feb)."""
    years, month0 = divmod(day.month - 1 - months, 12)
    year, month = day.year + years, month0 + 1
    return date(year, month, min(day.day, monthrange(year, month)[1]))


def _check_count(errors: ErrorList, name: str, value: object) -> None:
    if not isinstance(value, int) or isinstance(value, bool) or value < 0:
        errors.add(name, "not_a_count", f"{name} must be a whole number of zero or more, not {value!r}")


def _check_invoices(invoices: list[Invoice], as_of: date, errors: ErrorList) -> None:
    for i, inv in enumerate(invoices):
        at = f"invoices[{i}]"
        if not isinstance(inv, Invoice):
            errors.add(at, "not_an_invoice", f"{at} must be an invoice (issued, due, amount, paid)")
            continue
        for name in ("issued", "due"):
            if not isinstance(getattr(inv, name), date):
                errors.add(f"{at}.{name}", "required", f"{at}.{name} must be a date")
        if inv.paid is not None and not isinstance(inv.paid, date):
            errors.add(f"{at}.paid", "not_a_date", f"{at}.paid must be a date or empty while open")
        if not _is_amount(inv.amount) or inv.amount <= 0:
            errors.add(f"{at}.amount", "not_positive", f"{at}.amount must be a decimal above zero, not {inv.amount!r}")
        if not all(isinstance(d, date) for d in (inv.issued, inv.due)):
            continue
        if inv.due < inv.issued:
            errors.add(f"{at}.due", "before_issue", f"{at}.due ({inv.due}) is before it was issued ({inv.issued})")
        if inv.issued > as_of:
            errors.add(f"{at}.issued", "in_future", f"{at}.issued ({inv.issued}) is after {as_of}")
        if isinstance(inv.paid, date):
            if inv.paid < inv.issued:
                errors.add(f"{at}.paid", "before_issue",
                           f"{at}.paid ({inv.paid}) is before it was issued ({inv.issued})")
            elif inv.paid > as_of:
                errors.add(f"{at}.paid", "in_future", f"{at}.paid ({inv.paid}) is after {as_of}")


def _days_beyond(inv: Invoice, as_of: date) -> int:
    return max(0, ((inv.paid or as_of) - inv.due).days)


def _settled_or_due(invoices: list[Invoice], as_of: date) -> list[Invoice]:
    return [inv for inv in invoices if inv.paid is not None or inv.due <= as_of]


def _adbt(invoices: list[Invoice], as_of: date) -> Decimal | None:
    """Average days beyond terms, amount-weighted: sum(days late x amount) / sum(amount). Early payment
    counts as 0, not as negative days, so it does not hide other invoices' lateness."""
    counted = _settled_or_due(invoices, as_of)
    total = sum((Decimal(inv.amount) for inv in counted), ZERO)
    if total == 0:
        return None
    return sum((_days_beyond(inv, as_of) * Decimal(inv.amount) for inv in counted), ZERO) / total


def payment_behaviour(invoices: list[Invoice], *, as_of: date, disputes: int = 0,
                      bounced_payments: int = 0) -> PaymentBehaviour:
    errors = ErrorList()
    if not isinstance(invoices, (list, tuple)):
        errors.add("invoices", "not_a_list", "invoices must be a list")
        invoices = []
    if not isinstance(as_of, date):
        raise ValidationFailed.one("as_of", "required", "as_of must be a date")
    _check_invoices(list(invoices), as_of, errors)
    _check_count(errors, "disputes", disputes)
    _check_count(errors, "bounced_payments", bounced_payments)
    errors.raise_if_any("The payment history is not valid")

    adbt = _adbt(invoices, as_of)
    total = sum((Decimal(inv.amount) for inv in invoices), ZERO)
    dso = None if total == 0 else sum(
        (((inv.paid or as_of) - inv.issued).days * Decimal(inv.amount) for inv in invoices), ZERO) / total
    counted = _settled_or_due(invoices, as_of)
    late = [inv for inv in counted if _days_beyond(inv, as_of) > 0]
    counted_amount = sum((Decimal(inv.amount) for inv in counted), ZERO)
    by_amount = None if not counted else sum((Decimal(inv.amount) for inv in late), ZERO) / counted_amount * HUNDRED
    by_count = None if not counted else Decimal(len(late)) / len(counted) * HUNDRED

    three, six = months_before(as_of, 3), months_before(as_of, 6)
    recent = _adbt([inv for inv in invoices if three < inv.due <= as_of], as_of)
    before = _adbt([inv for inv in invoices if six < inv.due <= three], as_of)
    trend, trend_reason = None, None
    if recent is None or before is None:
        trend_reason = f"no invoice due in {'the last 3 months' if recent is None else 'the 3 months before'}"
    else:
        trend = _shown(recent, ONE_PLACE) - _shown(before, ONE_PLACE)

    def one(v):
        return None if v is None else _shown(v, ONE_PLACE)

    return PaymentBehaviour(one(adbt), one(dso), one(by_amount), one(by_count), trend, disputes,
                            bounced_payments, trend_reason)


# ---------------------------------------------------------------------------------------------------
# Grade and limit

@dataclass(frozen=True)
class Reason:
    """One factor's part in the grade: risk points (0 is no concern) and why, in an analyst's words."""

    factor: str
    points: int
    text: str


@dataclass(frozen=True)
class Grade:
    grade: str
    points: int
    reasons: tuple[Reason, ...] = field(default_factory=tuple)


# A grade for a total of risk points: A below 10, B below 25, C below 45, D below 70, E from 70.
GRADE_BANDS = ((10, "A"), (25, "B"), (45, "C"), (70, "D"))
# The share of the capacity-based limit each grade may have; E sells against payment in advance only.
GRADE_SHARE = {"A": Decimal("1"), "B": Decimal("0.75"), "C": Decimal("0.5"), "D": Decimal("0.25"), "E": ZERO}

ZONE_POINTS = {SAFE: 0, GREY: 15, DISTRESS: 30}
UNKNOWN_Z_POINTS = 15  # no usable statements: counted as the grey zone, never as safe


def _z_reason(fa: FinancialAnalysis | None) -> Reason:
    if fa is None:
        return Reason("Altman Z", UNKNOWN_Z_POINTS, "no financial statements submitted: counted as the grey zone")
    z = fa.z
    if not z.computed:
        return Reason("Altman Z", UNKNOWN_Z_POINTS, f"{z.model.label} not computed ({z.reason}): counted as grey")
    limits = f"safe above {plain(z.model.safe_above)}, distress below {plain(z.model.distress_below)}"
    return Reason("Altman Z", ZONE_POINTS[z.zone],
                  f"{z.model.label} {plain(z.value)} is in the {z.zone} zone ({limits})")


def _current_reason(fa: FinancialAnalysis | None) -> Reason:
    if fa is None:
        return Reason("current ratio", 5, "no statements: liquidity unknown")
    cr = fa.current_ratio
    if not cr.computed:
        return Reason("current ratio", 0, "no current liabilities: nothing falls due within the year")
    shown = f"current ratio {plain(cr.value)}"
    if cr.value >= Decimal("1.5"):
        return Reason("current ratio", 0, f"{shown}: short-term debts well covered (1.5 or more)")
    if cr.value >= 1:
        return Reason("current ratio", 5, f"{shown}: short-term debts just covered (1 to 1.5)")
    return Reason("current ratio", 10, f"{shown}: current assets do not cover current liabilities")


def _coverage_reason(fa: FinancialAnalysis | None) -> Reason:
    if fa is None:
        return Reason("interest coverage", 5, "no statements: ability to pay interest unknown")
    ic = fa.interest_coverage
    if not ic.computed:
        return Reason("interest coverage", 0, "no interest expense: no interest-bearing debt to service")
    if ic.value >= 3:
        return Reason("interest coverage", 0, f"EBIT covers interest {plain(ic.value)} times (3 or more)")
    if ic.value >= Decimal("1.5"):
        return Reason("interest coverage", 5, f"EBIT covers interest only {plain(ic.value)} times (1.5 to 3)")
    return Reason("interest coverage", 10, f"EBIT covers interest {plain(ic.value)} times: below 1.5")


# Days beyond terms (amount-weighted): up to the limit -> points.
ADBT_STEPS = ((Decimal(5), 0), (Decimal(15), 10), (Decimal(30), 20), (Decimal(60), 30))
ADBT_OVER_60_POINTS = 40
UNKNOWN_ADBT_POINTS = 10  # no invoice history yet: as a customer a few days late


def _adbt_reason(pb: PaymentBehaviour | None) -> Reason:
    if pb is None or pb.average_days_beyond_terms is None:
        return Reason("days beyond terms", UNKNOWN_ADBT_POINTS, "no payment history yet")
    days = pb.average_days_beyond_terms
    points = next((p for limit, p in ADBT_STEPS if days <= limit), ADBT_OVER_60_POINTS)
    return Reason("days beyond terms", points,
                  f"pays on average {plain(days)} days beyond terms (amount-weighted); "
                  f"{plain(pb.late_share_by_amount)} % of the amount paid late")


def _trend_reason(pb: PaymentBehaviour | None) -> Reason:
    if pb is None or pb.trend_days is None:
        return Reason("trend", 0, f"trend not known ({pb.trend_reason if pb else 'no payment history'})")
    if pb.trend_days > TREND_STEADY_DAYS:
        return Reason("trend", 5, f"paying slower: {plain(pb.trend_days)} more days beyond terms in the last "
                                  "3 months than in the 3 before")
    if pb.trend_days < -TREND_STEADY_DAYS:
        return Reason("trend", 0, f"paying faster: {plain(-pb.trend_days)} fewer days beyond terms in the last "
                                  "3 months than in the 3 before")
    return Reason("trend", 0, "steady: days beyond terms within 5 days of the 3 months before")


def _incidents_reason(pb: PaymentBehaviour | None) -> list[Reason]:
    if pb is None:
        return []
    disputes = 0 if pb.disputes == 0 else 3 if pb.disputes <= 2 else 6
    bounced = min(5 * pb.bounced_payments, 15)
    return [Reason("disputes", disputes, f"{pb.disputes} invoice dispute(s)"),
            Reason("bounced payments", bounced, f"{pb.bounced_payments} bounced payment(s), 5 points each, at most 15")]


def grade(financials: FinancialAnalysis | None, behaviour: PaymentBehaviour | None) -> Grade:
    """The risk grade: each factor's risk points added up, then banded (GRADE_BANDS). Missing information
    is never counted as good: no statements weigh as a grey-zone firm, no history as a few days late."""
    reasons = (_z_reason(financials), _current_reason(financials), _coverage_reason(financials),
               _adbt_reason(behaviour), _trend_reason(behaviour), *_incidents_reason(behaviour))
    points = sum(r.points for r in reasons)
    letter = next((g for below, g in GRADE_BANDS if points < below), "E")
    return Grade(letter, points, reasons)


# The capacity rule of thumb: the lower of 10 % of net worth and 20 % of working capital.
NET_WORTH_SHARE = Decimal("0.10")
WORKING_CAPITAL_SHARE = Decimal("0.20")


@dataclass(frozen=True)
class Limit:
    amount: Decimal
    cap: Decimal
    capacity: Decimal | None  # None: no statements, so the cap stands in for it
    grade_share: Decimal
    explanation: str


def recommended_limit(financials: FinancialAnalysis | None, g: Grade, *, expected_monthly_purchases: Decimal,
                      currency: str, net_days: int = 30) -> Limit:
    """min(capacity, cap) x the grade's share, rounded down to the currency's minor units.

    capacity = min(10 % of book net worth, 20 % of working capital), never below zero;
    cap = expected monthly purchases x net_days / 30, at least one month: what the customer owes at a
    steady pace under its terms, so a limit is never larger than the business it serves.
    """
    errors = ErrorList()
    try:
        minor_units(currency)
    except (UnknownCurrency, TypeError):
        errors.add("currency", "unknown", f"currency must be an ISO 4217 code, not {currency!r}")
    if not _is_amount(expected_monthly_purchases) or expected_monthly_purchases < 0:
        errors.add("expected_monthly_purchases", "invalid",
                   f"expected_monthly_purchases must be a decimal of zero or more, not {expected_monthly_purchases!r}")
    if not isinstance(net_days, int) or isinstance(net_days, bool) or not 0 <= net_days <= 365:
        errors.add("net_days", "out_of_range", f"net_days must be a whole number from 0 to 365, not {net_days!r}")
    if financials is not None and financials.statements.currency != currency:
        errors.add("currency", "mismatch", f"the statements are in {financials.statements.currency}, "
                                           f"the limit asked in {currency}")
    errors.raise_if_any("The limit request is not valid")

    quantum = Decimal(1).scaleb(-minor_units(currency))
    cap = (Decimal(expected_monthly_purchases) * max(Decimal(net_days), Decimal(30)) / 30).quantize(
        quantum, rounding=ROUND_DOWN)
    share = GRADE_SHARE[g.grade]
    if financials is None:
        capacity, basis = None, "no statements: the cap stands in for capacity"
    else:
        s = financials.statements
        capacity = max(ZERO, min(s.book_equity * NET_WORTH_SHARE, s.working_capital * WORKING_CAPITAL_SHARE))
        capacity = capacity.quantize(quantum, rounding=ROUND_DOWN)
        basis = (f"capacity {capacity}: the lower of 10 % of net worth ({s.book_equity}) and "
                 f"20 % of working capital ({s.working_capital})")
    base = cap if capacity is None else min(capacity, cap)
    amount = (base * share).quantize(quantum, rounding=ROUND_DOWN)
    explanation = (f"{basis}; cap {cap} (expected purchases over {max(net_days, 30)} days); "
                   f"grade {g.grade} allows {plain(share * HUNDRED)} % -> {amount} {currency}")
    return Limit(amount, cap, capacity, share, explanation)
