"""On PostgreSQL, goods receipts race order captures for the same product: stock is never oversold
(reserved <= on hand at every moment a watcher looks), every unit received is on hand (free or reserved),
no received unit is lost or counted twice (each row's moves add up, move after move), and no order
waits for stock that is free once the dust settles. Two receipts that create the same stock row at the
same moment both land, on one row.

Each client runs its use case through the service in its own write transaction, as the API does.
"""
from __future__ import annotations

import threading
from decimal import Decimal

import pytest
from sqlalchemy import func, select

from o2c.core.auth import SYSTEM, actor_for_user
from o2c.core.db import read_session, transaction
from o2c.core.models import User
from o2c.inventory import service as inventory
from o2c.inventory.models import Reservation, Stock, StockMove
from o2c.inventory.schemas import ReceiptIn, StockSet
from o2c.orders import service as orders
from o2c.orders.models import Order, OrderLine
from o2c.orders.schemas import OrderIn
from tests.concurrency.support import count_retries
from tests.concurrency.test_no_oversell import Watcher
from tests.world import make

pytestmark = pytest.mark.postgres_only

ROUNDS = 12


@pytest.fixture
def setup(pg, monkeypatch):
    world = make()
    retried = count_retries(monkeypatch)
    with read_session() as s:
        desk = actor_for_user(s, s.get(User, world["ids"]["desk"]))
        keeper = actor_for_user(s, s.get(User, world["ids"]["keeper"]))
    yield world, desk, keeper, retried, pg


def _all_at_once(jobs) -> list[str]:
    """Run the jobs in threads released together; return the errors any raised."""
    start = threading.Barrier(len(jobs))
    errors: list[str] = []

    def run(job):
        start.wait()
        try:
            job()
        except Exception as exc:  # every job must succeed: recorded, then the test fails
            errors.append(repr(exc)[:300])

    threads = [threading.Thread(target=run, args=(j,)) for j in jobs]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    return errors


def _receipt(keeper, cid, warehouse, sku, qty, ref):
    data = ReceiptIn(warehouse=warehouse, reference=ref, lines=[{"sku": sku, "quantity": qty}])
    return lambda: transaction(lambda s: inventory.receive(s, keeper, cid, data))


def _capture(desk, cid, po, qty):
    data = OrderIn(customer_code="BIGBUY", channel="web", po_number=po, lines=[{"sku": "GADGET", "quantity": qty}])
    return lambda: transaction(lambda s: orders.capture(s, desk, cid, data).id)


def _moves_add_up(product_id: int) -> Decimal:
    """Each stock row's moves, in the order they were booked, chain: after = previous after + quantity.
    Returns the total received."""
    with read_session() as s:
        received = Decimal(0)
        for row in s.scalars(select(Stock).where(Stock.product_id == product_id)):
            after = Decimal(0)
            booked = select(StockMove).where(StockMove.product_id == product_id,
                                             StockMove.warehouse_id == row.warehouse_id).order_by(StockMove.id)
            for m in s.scalars(booked):
                assert m.on_hand_after == after + m.quantity, f"move {m.id} does not follow the one before"
                after = m.on_hand_after
                received += m.quantity if m.kind == "receipt" else 0
            assert after == row.on_hand, f"the moves of row {row.id} end at {after}, the row says {row.on_hand}"
        return received


def test_receipts_and_captures_race_without_oversell(setup):
    world, desk, keeper, retried, url = setup
    cid, gadget = world["ids"]["company"], world["ids"]["GADGET"]
    transaction(lambda s: inventory.set_on_hand(s, SYSTEM, cid, StockSet(
        sku="GADGET", warehouse="CHI", on_hand=Decimal(0), reason="race setup")))
    for n in range(3):  # orders already waiting when the race starts
        assert transaction(lambda s: orders.capture(s, desk, cid, OrderIn(
            customer_code="BIGBUY", channel="web", po_number=f"WAIT-{n}",
            lines=[{"sku": "GADGET", "quantity": "4"}])).status) == "backordered"

    watcher = Watcher(url)
    watcher.start()
    errors = []
    for r in range(ROUNDS):  # each round: 3 + 2 gadgets arrive while an order for 4 comes in
        errors += _all_at_once([_receipt(keeper, cid, "CHI", "GADGET", "3", f"DN-{r}-A"),
                                _receipt(keeper, cid, "CHI", "GADGET", "2", f"DN-{r}-B"),
                                _capture(desk, cid, f"RACE-{r}", "4")])
    lowest = watcher.stop()
    assert not errors, errors[:3]
    assert watcher.reads > 0 and lowest is not None and lowest >= 0, f"availability went negative: {lowest}"

    supply, demand = Decimal(5 * ROUNDS), Decimal(4 * (3 + ROUNDS))
    assert supply == demand == 60
    assert _moves_add_up(gadget) == supply  # every unit received is on the books, once
    with read_session() as s:
        on_hand, reserved = s.execute(select(func.sum(Stock.on_hand), func.sum(Stock.reserved))
                                      .where(Stock.product_id == gadget)).one()
        in_reservations = s.scalar(select(func.sum(Reservation.quantity)).where(Reservation.product_id == gadget))
        lines = s.execute(select(OrderLine.quantity, OrderLine.reserved_qty, OrderLine.backordered_qty)
                          .where(OrderLine.product_id == gadget)).all()
        statuses = dict(s.execute(select(Order.status, func.count()).group_by(Order.status)).all())
    assert on_hand == supply and reserved == in_reservations == sum(li.reserved_qty for li in lines)
    assert all(li.reserved_qty + li.backordered_qty == li.quantity for li in lines)
    # as much arrived as was ordered, and every arrival served whoever was waiting: all are confirmed
    assert reserved == on_hand and statuses == {"confirmed": 3 + ROUNDS}
    assert "40P01" not in retried, f"deadlocks: {retried}"


def test_two_receipts_creating_the_same_stock_row_both_land(setup):
    world, desk, keeper, retried, url = setup
    cid = world["ids"]["company"]
    for sku in ("GADGET", "BOLT", "OLD"):  # none of them has a row in Los Angeles yet
        errors = _all_at_once([_receipt(keeper, cid, "LAX", sku, "12", f"{sku}-1"),
                               _receipt(keeper, cid, "LAX", sku, "24", f"{sku}-2")])
        assert not errors, errors
        with read_session() as s:
            [row] = s.execute(select(Stock.on_hand, Stock.reserved).where(
                Stock.product_id == world["ids"][sku], Stock.warehouse_id == world["ids"]["LAX"])).all()
        assert tuple(row) == (36, 0)
        _moves_add_up(world["ids"][sku])
