"""What a customer would pay, before ordering: the catalogue with their own prices (their contract list
where it prices a product, the general list otherwise, with quantity breaks), and a cart quoted line by
line with tax exactly as capture would price it (same rules: o2c.orders.rules.price_order).

A quote also names, per line, what capture would hold the order for (unknown or discontinued product, a
quantity that is not a multiple or has too many decimals, no price for this customer), so a shop can
refuse it next to the line instead of placing an order that waits on the desk.
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal

from sqlalchemy.orm import Session

from o2c.catalog import service as catalog
from o2c.catalog.models import Product
from o2c.catalog.rules import unit_price_for
from o2c.core import clock
from o2c.core.auth import Actor, require
from o2c.core.errors import NotFound
from o2c.core.models import Company
from o2c.core.money import ZERO
from o2c.customers import service as customers
from o2c.orders import rules

MAX_QTY = Decimal(1_000_000)  # as OrderIn: more on one line is a typing error


@dataclass(frozen=True)
class Offer:
    product_id: int
    sku: str
    name: str
    uom: str
    order_multiple: Decimal | None
    breaks: list[tuple[Decimal, Decimal]]  # (from quantity, unit price), lowest quantity first; [] = no price


@dataclass
class QuoteLine:
    sku: str
    quantity: Decimal
    name: str = ""
    uom: str = ""
    unit_price: Decimal | None = None
    discount_pct: Decimal = ZERO
    net: Decimal | None = None
    tax: Decimal | None = None
    error: str | None = None  # why an order would be refused or held for this line


@dataclass
class Quote:
    currency: str
    lines: list[QuoteLine] = field(default_factory=list)
    subtotal: Decimal = ZERO
    discount: Decimal = ZERO
    tax: Decimal = ZERO
    total: Decimal = ZERO
    tax_known: bool = True  # False: some line has no tax rate for the ship-to; tax is settled on the order

    @property
    def ok(self) -> bool:
        return bool(self.lines) and not any(li.error for li in self.lines)


def _today(session: Session, company_id: int) -> date:
    company = session.get(Company, company_id)
    if company is None:
        raise NotFound(f"company {company_id} not found")
    return clock.today_in(company.timezone)


def offers(session: Session, actor: Actor, company_id: int, customer_id: int, *, q: str | None = None,
           after: int = 0, limit: int = 50) -> tuple[str, list[Offer]]:
    """The active products (searched by exact SKU or part of the name), in id order after `after`, each
    with this customer's quantity breaks today; and the customer's currency. A portal user asks for
    their own customer only (another is not found)."""
    require(actor, "read")
    _, account = customers.load(session, company_id, customer_id, actor)
    products = catalog.list_products(session, company_id, after, limit, q, True)
    breaks = catalog.price_breaks(session, company_id, customer_id, account.currency, [p.id for p in products],
                                  _today(session, company_id))
    return account.currency, [
        Offer(p.id, p.sku, p.name, p.uom, p.order_multiple, sorted(breaks.get(p.id, []))) for p in products
    ]


def _line_error(product: Product | None, sku: str, quantity: Decimal, list_price: Decimal | None) -> str | None:
    if product is None:
        return f"no product with SKU {sku!r}"
    if quantity <= 0:
        return "enter a quantity above 0"
    if quantity > MAX_QTY:
        return "at most 1,000,000 on one line"
    facts = rules.OrderFacts(
        lines=[rules.LineFacts(index=0, sku=sku, active=product.active, quantity=quantity, uom=product.uom,
                               uom_decimals=product.uom_decimals, order_multiple=product.order_multiple,
                               list_price=list_price, given_price=None, override_reason=None)],
        address_errors=[], duplicate_of=None, duplicate_accepted=False, requested_date=None, today=date.min,
        threshold_pct=ZERO)
    found = rules.hold_reasons(facts).by_kind.get(rules.HOLD_VALIDATION)
    if not found:
        return None
    if found[0].code == "no_list_price":
        return f"{sku} has no price for you; ask us for a quote"
    return found[0].message


def quote(session: Session, actor: Actor, company_id: int, customer_id: int,
          lines: Sequence[tuple[str, Decimal]], ship_to: dict | None = None) -> Quote:
    """`lines` (SKU, quantity) priced for the customer as an order placed today and shipped to `ship_to`
    (the customer's default shipping address when None) would be: unit prices by quantity break, the
    customer's standing discount, tax by the ship-to's jurisdiction (none for a tax-exempt customer).
    Lines with an error are not priced and count in no total."""
    require(actor, "read")
    _, account = customers.load(session, company_id, customer_id, actor)
    today = _today(session, company_id)
    ship_to = ship_to or customers.default_ship_to(session, customer_id)
    products = catalog.products_by_sku(session, company_id, [sku for sku, _ in lines])
    breaks = catalog.price_breaks(session, company_id, customer_id, account.currency,
                                  [p.id for p in products.values()], today)
    out = Quote(account.currency)
    priceable: list[tuple[QuoteLine, Product]] = []
    for sku, quantity in lines:
        product = products.get(sku)
        line = QuoteLine(sku, quantity, product.name if product else "", product.uom if product else "")
        if product is not None and quantity > 0:
            line.unit_price = unit_price_for(breaks.get(product.id, ()), quantity)
        line.error = _line_error(product, sku, quantity, line.unit_price)
        out.lines.append(line)
        if line.error is None:
            priceable.append((line, product))
    if not priceable:
        return out
    priced, totals = rules.price_order(
        [rules.PricingLine(p.id, li.quantity, p.tax_class, None, None) for li, p in priceable],
        breaks, catalog.tax_rows(session, company_id, ship_to.get("country")),
        country=ship_to.get("country"), region=ship_to.get("region"), on=today, tax_exempt=account.tax_exempt,
        standing_discount_pct=account.discount_pct, currency=account.currency, order_discount=ZERO)
    for (line, _), p in zip(priceable, priced):
        line.unit_price, line.discount_pct = p.unit_price, p.discount_pct
        line.net, line.tax = p.amounts.net, p.amounts.tax
    out.subtotal, out.discount, out.tax, out.total = totals.subtotal, totals.discount, totals.tax, totals.total
    out.tax_known = not any(p.missing_tax for p in priced)
    return out
