"""The texts the customer receives about an order, pure: rendered from the order as it is."""
from __future__ import annotations

from babel.numbers import format_currency

from o2c.core.money import minor_units
from o2c.orders.models import Order


def _money(amount, currency: str) -> str:
    return format_currency(amount, currency, locale="en_US")


def _unit_price(amount, currency: str) -> str:
    """A unit price keeps the decimals it was priced with (a bolt at $0.3333), at least the currency's."""
    digits = minor_units(currency)
    places = max(0, -amount.normalize().as_tuple().exponent)
    pattern = "¤#,##0" + ("." + "0" * digits + "#" * max(0, places - digits) if max(digits, places) else "")
    return format_currency(amount, currency, format=pattern, locale="en_US", currency_digits=False)


def _qty(q) -> str:
    """A quantity as people write it: 120 (not 1.2E+2), 2.5, 12."""
    return format(q.normalize(), "f")


def confirmation(order: Order, customer_name: str) -> tuple[str, str]:
    """Subject and body of the order confirmation."""
    po = f" (your PO {order.po_number})" if order.po_number else ""
    lines = []
    for li in order.lines:
        line = (f"  {li.line_no:>3}  {li.sku:<16} {li.description[:30]:<30} "
                f"{_qty(li.quantity)} {li.uom} x {_unit_price(li.unit_price, order.currency)}"
                f" = {_money(li.net_amount, order.currency)}")
        if li.backordered_qty:
            line += f"   ({_qty(li.backordered_qty)} on backorder)"
        lines.append(line)
    waiting = any(li.backordered_qty for li in order.lines)
    expected = order.expected_date.isoformat() if order.expected_date else "to be confirmed"
    body = "\n".join([
        f"Dear {customer_name},",
        "",
        f"thank you for your order {order.number}{po}. We have confirmed it as follows:",
        "",
        *lines,
        "",
        f"  Subtotal:  {_money(order.subtotal, order.currency)}",
        f"  Discount:  {_money(order.discount_total, order.currency)}",
        f"  Tax:       {_money(order.tax_total, order.currency)}",
        f"  Total:     {_money(order.total, order.currency)}",
        "",
        f"Expected delivery: {expected}"
        + (" for what is in stock; backordered items follow as soon as they arrive." if waiting else "."),
    ])
    return f"Order confirmation {order.number}{po}", body
