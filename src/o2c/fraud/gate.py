"""Order gate for fraud (see o2c.orders.gates); being built in this change."""
from __future__ import annotations

KIND = "fraud"


def check(ctx) -> list:
    return []


def opened(session, actor, company_id, order_id, reasons) -> None:
    pass


def closed(session, actor, company_id, order_id, why) -> None:
    pass
