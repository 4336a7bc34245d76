"""What the customer is told at each step of a shipment, pure: rendered from the shipment as it is."""
from __future__ import annotations

from o2c.core.money import plain

SUBJECTS = {
    "shipped": "Your order {order} has shipped",
    "in_transit": "Your order {order} is on its way",
    "out_for_delivery": "Your order {order} is out for delivery today",
    "delivered": "Your order {order} was delivered",
    "exception": "A delivery problem with your order {order}",
}

OPENINGS = {
    "shipped": "your shipment {shipment} has left our {city} warehouse with {carrier}.",
    "in_transit": "your shipment {shipment} is on its way{where}.",
    "out_for_delivery": "your shipment {shipment} is out for delivery today.",
    "delivered": "your shipment {shipment} was delivered{where}.",
    "exception": "the carrier reports a problem with your shipment {shipment}{where}: {what}. "
                 "We are on it and will write again.",
}


def tracking_update(kind: str, *, customer_name: str, order_number: str, po_number: str | None, shipment_number: str,
                    carrier: str, city: str | None, location: str | None, description: str | None,
                    tracking_numbers: list[str], tracking_url: str | None, lines: list[tuple[str, str, object]],
                    estimated_delivery: str | None) -> tuple[str, str]:
    """Subject and body of a shipment notice: `lines` are (SKU, description, quantity shipped)."""
    po = f" (your PO {po_number})" if po_number else ""
    opening = OPENINGS[kind].format(shipment=shipment_number, city=city or "", carrier=carrier,
                                    where=f" ({location})" if location else "", what=description or "an exception")
    body = [f"Dear {customer_name},", "", f"{opening[0].upper()}{opening[1:]}", ""]
    if kind == "shipped":
        body += [f"  {sku:<16} {desc[:40]:<40} {plain(q)}" for sku, desc, q in lines] + [""]
        if estimated_delivery:
            body.append(f"Estimated delivery: {estimated_delivery}.")
    body.append(f"Tracking number{'s' if len(tracking_numbers) > 1 else ''}: {', '.join(tracking_numbers)}")
    if tracking_url:
        body.append(f"Follow it here: {tracking_url}")
    return SUBJECTS[kind].format(order=order_number) + po, "\n".join(body)
