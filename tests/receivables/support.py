"""What the reconciliation tests share: invoices made the way billing makes them (an order shipped),
and the open amounts and payments read back."""
from __future__ import annotations

from o2c.billing import service as billing
from o2c.core.auth import SYSTEM
from o2c.core.db import read_session
from o2c.core.events import dispatch_pending
from o2c.payments import service as payments
from tests.concurrency.test_fulfilment_races import shipped_shipment
from tests.fulfillment.flow import ok


def invoice_of(api, customer: str, lines) -> dict:
    """Ship an order of these lines and return the invoice billing made of the shipment."""
    sh = shipped_shipment(api, customer, lines)
    dispatch_pending()
    [inv] = ok(api.get("/invoices", user="biller", params={"order_id": sh["order_id"]}))["items"]
    return inv


def open_amounts(invoices: dict[str, dict]) -> dict[str, str]:
    with read_session() as s:
        found = billing.open_amounts(s, [inv["id"] for inv in invoices.values()])
    return {key: str(found[inv["id"]]) for key, inv in invoices.items()}


def payments_made(company_id: int) -> list[tuple]:
    """(customer id, amount, applied, unapplied, source_ref) of every payment, oldest first."""
    with read_session() as s:
        views = payments.payment_views(s, company_id, list(reversed(payments.list_payments(s, SYSTEM, company_id))))
    return [(p["customer_id"], str(p["amount"]), str(p["applied"]), str(p["unapplied"]), p["source_ref"])
            for p in views]
