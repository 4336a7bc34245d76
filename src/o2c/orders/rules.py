"""Order rules, pure: the status machine and the checks that put an order on hold.

An order that refers to things that do not exist (customer, SKU) or breaks a hard limit is refused
at the door (see schemas and service). An order that is well-formed but breaks a business rule is
accepted and held with every reason, so nothing a customer sent is lost: it is corrected and checked
again. Hold kinds: `validation` (clears when a correction passes), `duplicate` (same customer and PO
number as a live order; a person confirms it is not a duplicate, or corrects the PO), `pricing` (a
price override beyond the company's threshold; released by a pricing approver who did not enter it).
"""
from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal

from o2c.catalog.rules import (
    LineAmounts, LineInput, TaxRateRow, Totals, deviation_pct, price_lines, tax_rate_for, totals, unit_price_for,
)
from o2c.core.errors import Conflict, FieldError
from o2c.core.money import ZERO, plain

CHANNELS = ("web", "b2b_portal", "sales_rep", "email", "phone", "edi", "csv")

HELD, VALIDATED, CONFIRMED, BACKORDERED, CANCELLED = (
    "held", "validated", "confirmed", "backordered", "cancelled"
)
STATUSES = (HELD, VALIDATED, CONFIRMED, BACKORDERED, CANCELLED)

# from -> allowed to; "new" is an order being captured.
TRANSITIONS: dict[str, frozenset[str]] = {
    "new": frozenset({HELD, VALIDATED}),
    HELD: frozenset({HELD, VALIDATED, CANCELLED}),
    VALIDATED: frozenset({HELD, VALIDATED, CONFIRMED, BACKORDERED, CANCELLED}),
    # A confirmed order whose line is changed is checked again: it may go back on hold.
    BACKORDERED: frozenset({HELD, CONFIRMED, BACKORDERED, CANCELLED}),
    CONFIRMED: frozenset({HELD, BACKORDERED, CANCELLED}),
    CANCELLED: frozenset(),
}
EDITABLE = frozenset({HELD, VALIDATED})
LIVE = frozenset({HELD, VALIDATED, CONFIRMED, BACKORDERED})

HOLD_VALIDATION, HOLD_DUPLICATE, HOLD_PRICING = "validation", "duplicate", "pricing"

# The address fields an order ships to (columns ship_to_<field> on the order).
SHIP_TO = ("name", "line1", "line2", "city", "region", "postal_code", "country")
# The largest amount one line may come to (the embedded database keeps amounts to 10^-4 in 63 bits).
MAX_AMOUNT = Decimal(10) ** 13


def check_transition(current: str, target: str) -> None:
    if target not in TRANSITIONS.get(current, frozenset()):
        allowed = ", ".join(sorted(TRANSITIONS.get(current, ()))) or "none"
        raise Conflict(
            f"an order that is {current} cannot become {target} (allowed from {current}: {allowed})",
            current_status=current,
            requested_status=target,
        )


@dataclass(frozen=True)
class LineFacts:
    """What validation needs to know about one line, gathered by the service."""

    index: int
    sku: str
    active: bool
    quantity: Decimal
    uom: str
    uom_decimals: int
    order_multiple: Decimal | None
    list_price: Decimal | None
    given_price: Decimal | None
    override_reason: str | None


@dataclass(frozen=True)
class OrderFacts:
    lines: Sequence[LineFacts]
    address_errors: Sequence[FieldError]
    duplicate_of: str | None  # number of a live order with the same customer and PO
    duplicate_accepted: bool  # a person has already confirmed it is not a duplicate
    requested_date: date | None
    today: date
    threshold_pct: Decimal
    subtotal: Decimal = Decimal(0)
    order_discount: Decimal = Decimal(0)
    order_discount_reason: str | None = None
    pricing_approved: bool = False  # a pricing approver released this order's prices already


@dataclass
class HoldReasons:
    by_kind: dict[str, list[FieldError]] = field(default_factory=dict)

    def add(self, kind: str, fld: str, code: str, message: str) -> None:
        self.by_kind.setdefault(kind, []).append(FieldError(fld, code, message))

    @property
    def clean(self) -> bool:
        return not any(self.by_kind.values())


def _decimals(q: Decimal) -> int:
    exp = q.normalize().as_tuple().exponent
    return max(0, -exp) if isinstance(exp, int) else 0


def hold_reasons(facts: OrderFacts) -> HoldReasons:
    out = HoldReasons()
    for li in facts.lines:
        at = f"lines[{li.index}]"
        if not li.active:
            out.add(HOLD_VALIDATION, f"{at}.sku", "inactive", f"product {li.sku} is no longer sold (inactive)")
        if _decimals(li.quantity) > li.uom_decimals:
            out.add(
                HOLD_VALIDATION, f"{at}.quantity", "invalid_for_unit",
                f"quantity {plain(li.quantity)} has more than {li.uom_decimals} decimals allowed for unit {li.uom}",
            )
        elif li.order_multiple and li.quantity % li.order_multiple != 0:
            out.add(
                HOLD_VALIDATION, f"{at}.quantity", "not_a_multiple",
                f"{li.sku} is sold in multiples of {plain(li.order_multiple)} {li.uom}; "
                f"{plain(li.quantity)} is not one",
            )
        overridden = li.given_price is not None and li.given_price != li.list_price
        if li.list_price is None and li.given_price is None:
            out.add(
                HOLD_VALIDATION, f"{at}.unit_price", "no_list_price",
                f"{li.sku} has no price in this customer's price list; give a unit price with a reason",
            )
        elif overridden and not (li.override_reason or "").strip():
            out.add(
                HOLD_VALIDATION, f"{at}.override_reason", "required",
                f"unit price {plain(li.given_price)} differs from the list price {plain(li.list_price)}; "
                "an override needs a reason",
            )
        elif overridden and not facts.pricing_approved:
            if li.list_price is None:
                out.add(
                    HOLD_PRICING, f"{at}.unit_price", "no_list_price",
                    f"{li.sku} is priced by hand at {plain(li.given_price)} with no list price to compare",
                )
            else:
                dev = deviation_pct(li.list_price, li.given_price)
                if dev > facts.threshold_pct:
                    out.add(
                        HOLD_PRICING, f"{at}.unit_price", "override_beyond_threshold",
                        f"unit price {plain(li.given_price)} is {dev:.1f}% from the list price {plain(li.list_price)} "
                        f"(more than the {plain(facts.threshold_pct)}% a desk may grant)",
                    )
    if facts.order_discount:
        if not (facts.order_discount_reason or "").strip():
            out.add(HOLD_VALIDATION, "order_discount_reason", "required", "an order discount needs a reason")
        elif not facts.pricing_approved and facts.subtotal > 0:
            dev = facts.order_discount * 100 / facts.subtotal
            if dev > facts.threshold_pct:
                out.add(
                    HOLD_PRICING, "order_discount", "override_beyond_threshold",
                    f"order discount {plain(facts.order_discount)} is {dev:.1f}% of the order "
                    f"(more than the {plain(facts.threshold_pct)}% a desk may grant)",
                )
    for err in facts.address_errors:
        out.add(HOLD_VALIDATION, err.field, err.code, err.message)
    if facts.requested_date is not None and facts.requested_date < facts.today:
        out.add(
            HOLD_VALIDATION, "requested_date", "in_the_past",
            f"requested delivery date {facts.requested_date.isoformat()} is in the past",
        )
    if facts.duplicate_of and not facts.duplicate_accepted:
        out.add(
            HOLD_DUPLICATE, "po_number", "duplicate",
            f"this customer's PO number is already on order {facts.duplicate_of}",
        )
    return out


# ---------------------------------------------------------------- pricing an order

@dataclass(frozen=True)
class PricingLine:
    product_id: int
    quantity: Decimal
    tax_class: str
    given_price: Decimal | None  # an override; None: the list price
    discount_pct: Decimal | None  # None: the customer's standing discount


@dataclass(frozen=True)
class PricedLine:
    list_price: Decimal | None
    unit_price: Decimal
    discount_pct: Decimal
    tax_rate_pct: Decimal
    amounts: LineAmounts
    missing_tax: bool  # a taxable line with no rate for its jurisdiction


def price_order(
    lines: Sequence[PricingLine],
    breaks: Mapping[int, Sequence[tuple[Decimal, Decimal]]],
    tax_rows: Sequence[TaxRateRow],
    *,
    country: str | None,
    region: str | None,
    on: date,
    tax_exempt: bool,
    standing_discount_pct: Decimal,
    currency: str,
    order_discount: Decimal,
) -> tuple[list[PricedLine], Totals]:
    """Every line's prices, tax rate and amounts, and the order's totals (rounding: catalog.rules)."""
    prepared = []
    for li in lines:
        list_price = unit_price_for(breaks.get(li.product_id, ()), li.quantity)
        unit_price = li.given_price if li.given_price is not None else (list_price if list_price is not None else ZERO)
        discount = li.discount_pct if li.discount_pct is not None else standing_discount_pct
        rate = None if tax_exempt else tax_rate_for(tax_rows, country, region, li.tax_class, on)
        prepared.append((list_price, unit_price, discount, rate))
    amounts = price_lines(
        [LineInput(li.quantity, u, d, r.rate_pct if r else ZERO) for li, (_, u, d, r) in zip(lines, prepared)],
        currency, order_discount,
    )
    priced = [
        PricedLine(lp, u, d, r.rate_pct if r else ZERO, a, missing_tax=r is None and not tax_exempt)
        for (lp, u, d, r), a in zip(prepared, amounts)
    ]
    return priced, totals(amounts)


def missing_tax_reason(index: int, tax_class: str, country: str | None, region: str | None) -> FieldError:
    where = (country or "the ship-to country") + (f" / {region}" if region else "")
    return FieldError(f"lines[{index}].tax_class", "no_tax_rate", f"no {tax_class} tax rate for {where}")
