"""Every screen's router, in menu order. A new screen module adds its router here."""
from __future__ import annotations

from fastapi import APIRouter


def routers() -> list[APIRouter]:
    from o2c.web.ui import (billing, customers, dashboard, orders, portal_account, portal_shop, queues,
                            warehouse)

    return [dashboard.router, orders.router, queues.router, warehouse.router, billing.router, customers.router,
            portal_shop.router, portal_account.router]
