"""What the customer is told about a return, pure: rendered from the event's payload."""
from __future__ import annotations


def return_notice(topic: str, customer_name: str, rma: str, payload: dict) -> tuple[str, str]:
    """Subject and body for return.authorised (the RMA, what to send, where, and the label) or
    return.rejected (why)."""
    order = payload.get("order_number") or f"SO{payload['order_id']:08d}"
    if topic == "return.rejected":
        return (f"Your return request for order {order} was not accepted",
                "\n".join([f"Dear {customer_name},", "",
                           f"we cannot accept your return request {rma} for order {order}:",
                           f"  {payload.get('reason', '')}", "",
                           "Reply to this message if you would like to talk it through."]))
    to = payload.get("return_to") or {}
    address = ", ".join(v for v in (to.get("name"), to.get("line1"), to.get("city"), to.get("region"),
                                    to.get("postal_code"), to.get("country")) if v)
    lines = [f"  {li['sku']:<16} {li.get('description', '')[:40]:<40} {li['quantity']}" for li in payload.get("lines", [])]
    body = [f"Dear {customer_name},", "",
            f"your return {rma} for order {order} is authorised "
            f"({'a refund' if payload.get('outcome') == 'refund' else 'an exchange'} once we have checked the goods).",
            "", "Please send back:", *lines, "",
            f"to: {address}",
            f"with the prepaid {payload.get('carrier_name', '')} label {payload.get('tracking_number', '')} "
            f"(download: {payload.get('label_pdf', '')}); write {rma} on the parcel."]
    if payload.get("tracking_url"):
        body.append(f"Track it here: {payload['tracking_url']}")
    return f"Return {rma} for order {order} is authorised", "\n".join(body)
