"""What the reminder tests share: the clock set to a business day, invoices made the real way (shipped
and invoiced through the outbox), and the biller's run."""
from __future__ import annotations

from datetime import datetime, timezone

from o2c.core import clock
from o2c.core.events import dispatch_pending
from tests.fulfillment.flow import ok, pack, pick_all, place, release, ship, shipment_of


def on(year: int, month: int, day: int) -> None:
    """09:00 in Chicago, the company's time zone."""
    clock.freeze(datetime(year, month, day, 15, 0, tzinfo=timezone.utc))


def invoiced(api, customer: str, lines: list[tuple[str, str]], weight: str) -> dict:
    """An order placed, picked, packed, shipped and invoiced (the dispatcher delivers shipment.shipped)."""
    order = place(api, customer, lines)
    pick_all(api, release(api, order_ids=[order["id"]]))
    sh = shipment_of(api, order["id"])
    pack(api, sh["id"], [(sku, int(q)) for sku, q in lines], weight)
    ship(api, sh["id"])
    dispatch_pending()
    [inv] = ok(api.get("/invoices", user="biller", params={"order_id": order["id"]}))["items"]
    return inv


def remind(api, **body) -> list[dict]:
    """The biller's daily run; the outbox then delivers the letters."""
    out = ok(api.post("/reminders/run", user="biller", json=body))
    dispatch_pending()
    return out["reminders"]
