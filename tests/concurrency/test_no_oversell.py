"""On PostgreSQL, 50 concurrent clients racing for the last N units end with exactly N units reserved
and no negative availability, for ship-partial and ship-complete customers, with one-line orders and
with two-line orders that name their products in opposite orders (the classic deadlock shape).

Each client captures its order through the service in its own write transaction (o2c.core.db.transaction),
as the API does. A watcher reads the stock rows throughout the race and records the lowest availability
it ever saw. Deadlocks and serialization failures the transactions hit are counted: rows are locked in a
fixed order, so there must be none.
"""
from __future__ import annotations

import threading
import time
from decimal import Decimal

import pytest
from sqlalchemy import create_engine, func, select, text

from o2c.core.auth import SYSTEM, actor_for_user
from o2c.core.db import read_session, transaction
from o2c.core.models import User
from o2c.inventory import service as inventory
from o2c.inventory.models import Reservation, Stock
from o2c.inventory.schemas import StockSet
from o2c.orders import service as orders
from o2c.orders.models import Order, OrderLine
from o2c.orders.schemas import OrderIn
from tests.concurrency.support import count_retries, wide_pool
from tests.world import make

CLIENTS = 50


@pytest.fixture
def race(pg, monkeypatch):
    """The demo world, a connection pool wide enough for the clients, and a count of retried errors."""
    wide_pool(monkeypatch, 30)
    world = make()
    retried = count_retries(monkeypatch)
    with read_session() as s:
        desk = actor_for_user(s, s.get(User, world["ids"]["desk"]))
    yield world, desk, retried, pg


def _set_stock(world, sku: str, warehouse: str, qty: int) -> None:
    transaction(lambda s: inventory.set_on_hand(s, SYSTEM, world["ids"]["company"], StockSet(
        sku=sku, warehouse=warehouse, on_hand=Decimal(qty), reason="race setup")))


class Watcher(threading.Thread):
    """Reads on_hand - reserved of every stock row, as fast as it can, until stopped."""

    def __init__(self, url: str):
        super().__init__(daemon=True)
        self.engine = create_engine(url)
        self.lowest: Decimal | None = None
        self.reads = 0
        self.done = threading.Event()

    def run(self):
        with self.engine.connect() as c:
            while not self.done.is_set():
                low = c.execute(text("SELECT min(on_hand - reserved) FROM stock")).scalar()
                c.rollback()
                self.lowest = low if self.lowest is None else min(self.lowest, low)
                self.reads += 1
                time.sleep(0.002)

    def stop(self) -> Decimal:
        self.done.set()
        self.join(10)
        self.engine.dispose()
        return self.lowest


def _race(world, desk, customer: str, line_sets: list[list[str]], url: str):
    """Start CLIENTS captures at once; return [(order id, status)] and the errors any client raised."""
    cid = world["ids"]["company"]
    start = threading.Barrier(CLIENTS)
    results, errors = [], []
    lock = threading.Lock()

    def client(n: int):
        data = OrderIn(customer_code=customer, channel="web", po_number=f"RACE-{n}",
                       lines=[{"sku": sku, "quantity": "1"} for sku in line_sets[n % len(line_sets)]])
        start.wait()
        try:
            out = transaction(lambda s: (lambda o: (o.id, o.status))(orders.capture(s, desk, cid, data)))
            with lock:
                results.append(out)
        except Exception as exc:  # every client must succeed: record, then fail the test
            with lock:
                errors.append(repr(exc)[:300])

    watcher = Watcher(url)
    watcher.start()
    threads = [threading.Thread(target=client, args=(n,)) for n in range(CLIENTS)]
    t0 = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    elapsed = time.perf_counter() - t0
    lowest = watcher.stop()
    assert not errors, f"{len(errors)} clients failed: {errors[:3]}"
    assert len(results) == CLIENTS
    assert watcher.reads > 0
    assert lowest is not None and lowest >= 0, f"availability went negative during the race: {lowest}"
    return results, elapsed


def _stock(world, sku: str, warehouse: str) -> tuple[Decimal, Decimal]:
    with read_session() as s:
        row = s.scalar(select(Stock).where(Stock.product_id == world["ids"][sku],
                                           Stock.warehouse_id == world["ids"][warehouse]))
        return row.on_hand, row.reserved


def _reserved_in_reservations(world, sku: str) -> Decimal:
    with read_session() as s:
        return s.scalar(select(func.coalesce(func.sum(Reservation.quantity), 0))
                        .where(Reservation.product_id == world["ids"][sku]))


def _reserved_on_lines(world, sku: str) -> Decimal:
    with read_session() as s:
        return s.scalar(select(func.coalesce(func.sum(OrderLine.reserved_qty), 0))
                        .where(OrderLine.product_id == world["ids"][sku]))


def _statuses(results) -> dict[str, int]:
    out: dict[str, int] = {}
    for _, status in results:
        out[status] = out.get(status, 0) + 1
    with read_session() as s:  # what was committed agrees with what the clients were told
        stored = dict(s.execute(select(Order.status, func.count()).group_by(Order.status)).all())
    assert stored == out
    return out


@pytest.mark.parametrize("customer", ["BIGBUY", "TIDY"])  # ship partial, ship complete
def test_fifty_clients_race_for_the_last_seven_units(race, customer):
    world, desk, retried, url = race
    n = 7
    _set_stock(world, "GADGET", "CHI", n)  # GADGET is stocked in CHI only
    results, elapsed = _race(world, desk, customer, [["GADGET"]], url)

    assert _stock(world, "GADGET", "CHI") == (Decimal(n), Decimal(n))  # on hand 7, reserved exactly 7
    assert _reserved_in_reservations(world, "GADGET") == n
    assert _reserved_on_lines(world, "GADGET") == n
    assert _statuses(results) == {"confirmed": n, "backordered": CLIENTS - n}
    assert "40P01" not in retried, f"deadlocks: {retried}"
    assert elapsed < 60


@pytest.mark.parametrize("customer", ["BIGBUY", "TIDY"])
def test_two_line_orders_in_opposite_line_order_neither_deadlock_nor_oversell(race, customer):
    world, desk, retried, url = race
    gadgets, widgets = 7, 9
    _set_stock(world, "GADGET", "CHI", gadgets)
    _set_stock(world, "WIDGET", "CHI", widgets)
    _set_stock(world, "WIDGET", "LAX", 0)
    results, elapsed = _race(world, desk, customer, [["GADGET", "WIDGET"], ["WIDGET", "GADGET"]], url)

    statuses = _statuses(results)
    if customer == "BIGBUY":  # ship partial: every unit there is goes to someone
        assert _stock(world, "GADGET", "CHI") == (Decimal(gadgets), Decimal(gadgets))
        assert _stock(world, "WIDGET", "CHI") == (Decimal(widgets), Decimal(widgets))
        assert _reserved_in_reservations(world, "WIDGET") == widgets
        assert statuses == {"confirmed": gadgets, "backordered": CLIENTS - gadgets}
    else:  # ship complete: all or nothing per order, so only 7 whole orders can be served
        assert _stock(world, "GADGET", "CHI") == (Decimal(gadgets), Decimal(gadgets))
        assert _stock(world, "WIDGET", "CHI") == (Decimal(widgets), Decimal(gadgets))
        assert _reserved_in_reservations(world, "WIDGET") == gadgets
        assert statuses == {"confirmed": gadgets, "backordered": CLIENTS - gadgets}
    assert _reserved_in_reservations(world, "GADGET") == gadgets
    assert _reserved_on_lines(world, "GADGET") == gadgets
    assert "40P01" not in retried, f"deadlocks: {retried}"
    assert elapsed < 60
