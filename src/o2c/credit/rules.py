"""Credit decisions, pure: available credit, the reasons an order goes on a credit hold, which approval
route a hold takes, and who may decide it. No I/O: o2c.credit.exposure reads the figures,
o2c.credit.gate and o2c.credit.approvals act on what these functions decide. docs/credit.md.
"""
from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from o2c.core.errors import ErrorList, FieldError
from o2c.core.money import ZERO, round_money

GRADES = ("A", "B", "C", "D", "E")
# A customer never scored is routed as grade C: the grade o2c.credit.scoring gives a customer with no
# statements (grey zone) and no payment history (a few days late), so scoring it later changes nothing
# for the unknown case, and no information never counts as low risk.
UNSCORED_GRADE = "C"

ANALYST, MANAGER = "credit_analyst", "credit_manager"
# The roles a credit approval can be routed to; a manager may act on anything routed to an analyst.
APPROVER_ROLES = (ANALYST, MANAGER)
COVERS = {ANALYST: {ANALYST}, MANAGER: {ANALYST, MANAGER}}
MAX_APPROVALS = 3

LIMIT_EXCEEDED = "limit_exceeded"
GROUP_LIMIT_EXCEEDED = "group_limit_exceeded"
OVERDUE_INVOICES = "overdue_invoices"


def money(amount: Decimal, currency: str) -> str:
    """An amount as a person reads it in a reason: 12,345.60 USD."""
    return f"{round_money(amount, currency):,} {currency}"


# ---------------------------------------------------------------- exposure and reasons

@dataclass(frozen=True)
class Exposure:
    """What a customer (or a group) owes or is committed to, in one currency: open receivables (what is
    open on issued invoices) + shipped not invoiced (goods gone, invoice not yet issued) + open orders
    (the unshipped value of live orders that are not waiting for credit approval)."""

    currency: str
    open_receivables: Decimal = ZERO
    shipped_not_invoiced: Decimal = ZERO
    open_orders: Decimal = ZERO

    @property
    def total(self) -> Decimal:
        return self.open_receivables + self.shipped_not_invoiced + self.open_orders

    def plus_orders(self, amount: Decimal) -> "Exposure":
        return Exposure(self.currency, self.open_receivables, self.shipped_not_invoiced, self.open_orders + amount)

    def breakdown(self) -> str:
        c = self.currency
        return (f"open receivables {money(self.open_receivables, c)} + shipped not invoiced "
                f"{money(self.shipped_not_invoiced, c)} + open orders {money(self.open_orders, c)}")

    def as_dict(self) -> dict:
        c = self.currency
        return {"open_receivables": round_money(self.open_receivables, c),
                "shipped_not_invoiced": round_money(self.shipped_not_invoiced, c),
                "open_orders": round_money(self.open_orders, c), "total": round_money(self.total, c)}


@dataclass(frozen=True)
class Overdue:
    """The customer's invoices open past their due date by more than the company's age."""

    count: int
    amount: Decimal
    oldest_days: int


def available(limit: Decimal | None, exposure: Exposure) -> Decimal | None:
    """Credit left under a limit (negative once exceeded); None without a limit (nothing to check)."""
    return None if limit is None else limit - exposure.total


def limit_reason(amount: Decimal, limit: Decimal | None, exposure: Exposure, *,
                 group_of: str | None = None) -> FieldError | None:
    """Why an order of `amount` does not fit under the limit, with the figures; None when it fits.
    `group_of` names the group's top customer when the limit is the group's."""
    left = available(limit, exposure)
    if left is None or amount <= left:
        return None
    c = exposure.currency
    whose = f"the group of {group_of}" if group_of else "the customer"
    return FieldError(
        "credit", GROUP_LIMIT_EXCEEDED if group_of else LIMIT_EXCEEDED,
        f"order {money(amount, c)} exceeds the credit available to {whose}: {money(left, c)} "
        f"(limit {money(limit, c)} - exposure {money(exposure.total, c)} = {exposure.breakdown()}); "
        f"over by {money(amount - left, c)}")


def overdue_reason(overdue: Overdue | None, max_days: int | None, currency: str) -> FieldError | None:
    """Invoices overdue by more than the company's age (company.credit_overdue_days) hold new orders."""
    if max_days is None or overdue is None or overdue.count == 0:
        return None
    return FieldError(
        "credit", OVERDUE_INVOICES,
        f"{overdue.count} invoice(s) of {money(overdue.amount, currency)} overdue by more than {max_days} days "
        f"(oldest {overdue.oldest_days} days past due)")


def hold_reasons(amount: Decimal, *, limit: Decimal | None, exposure: Exposure | None,
                 group_limit: Decimal | None = None, group_exposure: Exposure | None = None,
                 group_of: str | None = None, overdue: Overdue | None = None,
                 overdue_days: int | None = None) -> list[FieldError]:
    """Every reason to hold an order of `amount` for credit (exposures exclude the order itself)."""
    reasons = []
    if exposure is not None:
        reasons.append(limit_reason(amount, limit, exposure))
    if group_exposure is not None:
        reasons.append(limit_reason(amount, group_limit, group_exposure, group_of=group_of))
    if exposure is not None or group_exposure is not None:
        currency = (exposure or group_exposure).currency
        reasons.append(overdue_reason(overdue, overdue_days, currency))
    return [r for r in reasons if r is not None]


# ---------------------------------------------------------------- routing

@dataclass(frozen=True)
class Route:
    """An approval route (see o2c.credit.models.ApprovalRoute): amounts in [min_amount, max_amount) and
    grades up to max_grade go to `role`, needing `approvals` distinct approvers (0: approved at once)."""

    position: int
    min_amount: Decimal
    max_amount: Decimal | None
    max_grade: str | None
    role: str | None
    approvals: int
    description: str | None = None
    id: int | None = None

    def matches(self, amount: Decimal, grade: str) -> bool:
        return (self.min_amount <= amount and (self.max_amount is None or amount < self.max_amount)
                and (self.max_grade is None or GRADES.index(grade) <= GRADES.index(self.max_grade)))


# The defaults a company gets on first use (amounts in the account's currency). No automatic approval:
# an order within its limits and without overdue invoices is never held, so every hold is a person's
# decision until the company adds a route with approvals 0 (e.g. grade A up to 1,000).
DEFAULT_ROUTES = (
    Route(10, ZERO, Decimal(10_000), "C", ANALYST, 1,
          "below 10,000, grade A to C: one credit analyst"),
    Route(20, ZERO, Decimal(50_000), None, MANAGER, 1,
          "below 50,000 (and any amount of grade D or E below it): the credit manager"),
    Route(30, Decimal(50_000), None, None, MANAGER, 2,
          "50,000 and above: two approvers, at least one of them a credit manager"),
)

# When no route matches (a company's routes leave a gap), the manager decides: never automatic.
FALLBACK = Route(0, ZERO, None, None, MANAGER, 1, "no route matched: the credit manager")


def choose_route(routes: list[Route] | tuple[Route, ...], amount: Decimal, grade: str | None) -> Route:
    """The first route by position that takes this amount and grade (grade None: UNSCORED_GRADE)."""
    g = grade or UNSCORED_GRADE
    return next((r for r in sorted(routes, key=lambda r: r.position) if r.matches(amount, g)), FALLBACK)


def check_routes(routes: list[dict]) -> list[Route]:
    """Routes as an administrator sends them, checked; refused whole (ValidationFailed) when any is wrong."""
    errors = ErrorList()
    out, seen = [], set()
    if not routes:
        errors.add("routes", "required", "give at least one route")
    for i, r in enumerate(routes):
        at = f"routes[{i}]"
        pos, lo, hi = r.get("position"), r.get("min_amount") or ZERO, r.get("max_amount")
        grade, role, n = r.get("max_grade"), r.get("role"), r.get("approvals")
        if not isinstance(pos, int) or pos < 0:
            errors.add(f"{at}.position", "invalid", "position must be a whole number of zero or more")
        elif pos in seen:
            errors.add(f"{at}.position", "duplicate", f"position {pos} is used twice")
        seen.add(pos)
        if lo < 0:
            errors.add(f"{at}.min_amount", "negative", "min_amount cannot be negative")
        if hi is not None and hi <= lo:
            errors.add(f"{at}.max_amount", "not_above_min", f"max_amount ({hi}) must be above min_amount ({lo})")
        if grade is not None and grade not in GRADES:
            errors.add(f"{at}.max_grade", "unknown", f"max_grade must be one of {', '.join(GRADES)} or empty")
        if not isinstance(n, int) or not 0 <= n <= MAX_APPROVALS:
            errors.add(f"{at}.approvals", "out_of_range", f"approvals must be 0 to {MAX_APPROVALS}")
        elif n == 0 and role is not None:
            errors.add(f"{at}.role", "not_allowed", "a route with approvals 0 approves by itself: leave role empty")
        elif n > 0 and role not in APPROVER_ROLES:
            errors.add(f"{at}.role", "unknown", f"role must be one of {', '.join(APPROVER_ROLES)}")
        out.append(Route(pos, lo, hi, grade, role, n, r.get("description")))
    errors.raise_if_any("The approval routes are not valid")
    return sorted(out, key=lambda r: r.position)


# ---------------------------------------------------------------- deciding

def may_act(roles: frozenset[str] | set[str], route_role: str | None) -> bool:
    """Whether a user with these roles may decide an item routed to `route_role`."""
    return any(route_role in COVERS.get(r, ()) for r in roles)


def is_credit_approver(roles: frozenset[str] | set[str]) -> bool:
    return any(r in COVERS for r in roles)


def approval_refusal(*, roles: frozenset[str] | set[str], route_role: str | None, required: int,
                     approvers_with_role: int, given: int) -> str | None:
    """Why this user's approval is not accepted, or None. With one approval required, the approver must
    hold the route's role (a manager covers an analyst). With several, the others may be any credit
    approver, but at least one of them must hold the route's role: the last place is kept for it."""
    if may_act(roles, route_role):
        return None
    if not is_credit_approver(roles):
        return "only a credit analyst or credit manager decides credit holds"
    if required == 1:
        return f"this hold is routed to a {route_role}"
    if approvers_with_role == 0 and required - given == 1:
        return f"the last of the {required} approvals must come from a {route_role}"
    return None
