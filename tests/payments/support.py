"""What the payment tests share: invoices made the way they are in life (an order shipped and the
shipment invoiced by the dispatcher), and the actors of the test world."""
from __future__ import annotations

from o2c.core.auth import actor_for_user
from o2c.core.db import read_session
from o2c.core.events import dispatch_pending
from o2c.core.models import User
from tests.concurrency.test_fulfilment_races import shipped_shipment
from tests.fulfillment.flow import ok


def invoiced(api, customer: str = "BIGBUY", lines=(("WIDGET", "2"),)) -> dict:
    """An order shipped in full and its invoice issued (through the shipment.shipped event)."""
    sh = shipped_shipment(api, customer, lines)
    dispatch_pending()
    [inv] = ok(api.get("/invoices", user="admin", params={"order_id": sh["order_id"]}))["items"]
    return inv


def actor(world: dict, name: str):
    with read_session() as s:
        return actor_for_user(s, s.get(User, world["ids"][name]))
