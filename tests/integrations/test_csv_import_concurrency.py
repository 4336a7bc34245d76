"""On PostgreSQL, an import (several batches, one decided while the one before is written) runs while
order-desk clients capture orders for the same products through the API: no unit is reserved twice,
the stock rows, the reservations and the order lines agree, and nothing fails."""
from __future__ import annotations

import io
import threading
from decimal import Decimal

from fastapi.testclient import TestClient
from sqlalchemy import func, select

from o2c.core.db import read_session
from o2c.integrations.csv_orders import import_orders
from o2c.inventory.models import Reservation, Stock
from o2c.orders.models import Order, OrderLine
from o2c.web.app import create_app
from tests.integrations.csv_helpers import actor
from tests.world import make

WIDGETS = Decimal(150)  # 100 in Chicago, 50 in Los Angeles


def test_an_import_and_api_orders_racing_for_the_same_stock_never_oversell(pg):
    world = make()
    # 40 imported orders and 20 API orders of 3 widgets each: 180 wanted, 150 there.
    data = ("order_ref,customer_code,po_number,sku,quantity\n"
            + "".join(f"I-{n},BIGBUY,IMP-{n},WIDGET,3\n" for n in range(40))).encode()
    errors: list = []
    with TestClient(create_app(), raise_server_exceptions=False) as client:
        def desk(k: int) -> None:
            for n in range(5):
                r = client.post("/api/v1/orders", headers={"Authorization": f"Bearer {world['keys']['desk']}"},
                                json={"customer_code": "BIGBUY", "channel": "phone", "po_number": f"API-{k}-{n}",
                                      "lines": [{"sku": "WIDGET", "quantity": "3"}]})
                if r.status_code != 201:
                    errors.append(r.text)

        threads = [threading.Thread(target=desk, args=(k,)) for k in range(4)]
        for t in threads:
            t.start()
        result = import_orders(io.BytesIO(data), actor("desk"), world["ids"]["company"], batch_size=5)
        for t in threads:
            t.join(60)
    assert errors == []
    assert (result.orders_imported, result.rows_rejected) == (40, 0)
    with read_session() as s:
        orders = s.scalar(select(func.count()).select_from(Order))
        in_stock = s.scalar(select(func.sum(Stock.reserved)).where(Stock.product_id == world["ids"]["WIDGET"]))
        reserved = s.scalar(select(func.sum(Reservation.quantity)))
        on_lines = s.scalar(select(func.sum(OrderLine.reserved_qty)))
        short = s.scalar(select(func.sum(OrderLine.backordered_qty)))
        over = s.scalar(select(func.count()).select_from(Stock).where(Stock.reserved > Stock.on_hand))
    assert orders == 60
    assert in_stock == reserved == on_lines == WIDGETS  # every widget reserved once, none twice
    assert short == 180 - WIDGETS
    assert over == 0
