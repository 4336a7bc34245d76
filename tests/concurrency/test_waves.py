"""On PostgreSQL, two shift leads release waves at the same moment over the same confirmed orders:
every order line ends up in exactly one open shipment (none is released twice), the waves move
reservations between warehouses but never create or lose one (the company's reserved total per product
is the same at every moment a watcher looks), and reserved never exceeds on hand. Two packers pressing
"ship" on one shipment at once ship it once: one 200, one 409, stock down once.

The requests go through the API (one TestClient shared by the threads; its routes run in a thread
pool, each in its own write transaction). Deadlocks and serialization failures the transactions hit
are counted: orders and stock rows are locked in a fixed order, so there must be none.
"""
from __future__ import annotations

import threading
import time
from collections import defaultdict
from decimal import Decimal as D

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import create_engine, func, select, text

from o2c.core import clock
from o2c.core.db import dispose_engines, read_session
from o2c.core.models import OutboxEvent
from o2c.core.settings import get_settings
from o2c.fulfillment import service as fulfillment
from o2c.fulfillment.models import Shipment, ShipmentLine
from o2c.inventory.models import Stock, StockMove
from o2c.orders.models import OrderLine
from o2c.shipping.models import TrackingEvent
from o2c.web.app import create_app
from tests.books import assert_books_agree, stock
from tests.concurrency.support import count_retries
from tests.conftest import Api
from tests.fulfillment.flow import MONDAY, ok, pack, pick_all, place, shipment_of
from tests.shipping_world import equip
from tests.world import make

pytestmark = pytest.mark.postgres_only

ROUNDS = 5
# (customer, lines): Chicago and Los Angeles customers, products in one or both warehouses.
ORDERS = [
    ("BIGBUY", [("WIDGET", "3"), ("GADGET", "1")]),
    ("TIDY", [("WIDGET", "2")]),
    ("LOYAL", [("BOLT", "24"), ("WIDGET", "1")]),
    ("TIDY", [("WIDGET", "1"), ("BOLT", "12")]),
    ("EXEMPT", [("GADGET", "1"), ("WIDGET", "2")]),
    ("BIGBUY", [("BOLT", "12")]),
]


@pytest.fixture
def floor(pg, monkeypatch):
    """The world with carriers, boxes and bins, enough gadgets for every round, an API client, and a
    count of retried transactions."""
    clock.freeze(MONDAY)
    world = make()
    retried = count_retries(monkeypatch)
    with TestClient(create_app(), raise_server_exceptions=False) as client:
        api = Api(client, world["keys"])
        equip(api)
        ok(api.put("/stock", user="keeper", json={"sku": "GADGET", "warehouse": "CHI", "on_hand": "40",
                                                   "reason": "race setup"}))
        yield api, retried, pg
    clock.freeze(None)
    dispose_engines()
    get_settings.cache_clear()


def at_once(calls) -> list:
    """Run the calls in threads released together; their answers, in call order."""
    start = threading.Barrier(len(calls))
    out: list = [None] * len(calls)

    def run(n, call):
        start.wait()
        try:
            out[n] = call()
        except Exception as exc:  # recorded as the answer: the test names it
            out[n] = exc

    threads = [threading.Thread(target=run, args=(n, c)) for n, c in enumerate(calls)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    return out


class ReservedWatcher(threading.Thread):
    """Reads, in one statement at a time, every product's reserved total and the lowest availability,
    until stopped: each read is one consistent moment of the database."""

    def __init__(self, url: str):
        super().__init__(daemon=True)
        self.engine = create_engine(url)
        self.totals: set[tuple] = set()
        self.lowest: D | None = None
        self.reads = 0
        self.ready = threading.Event()  # set after the first read: the race starts once it is looking
        self.done = threading.Event()

    def run(self):
        query = text("SELECT product_id, sum(reserved), min(on_hand - reserved) FROM stock GROUP BY product_id "
                     "ORDER BY product_id")
        with self.engine.connect() as c:
            while not self.done.is_set():
                rows = c.execute(query).all()
                c.rollback()
                self.totals.add(tuple((p, D(r)) for p, r, _ in rows))
                low = min(D(m) for _, _, m in rows)
                self.lowest = low if self.lowest is None else min(self.lowest, low)
                self.reads += 1
                self.ready.set()
                time.sleep(0.002)

    def stop(self):
        self.done.set()
        self.join(10)
        self.engine.dispose()


def reserved_totals() -> dict[int, D]:
    with read_session() as s:
        return {p: D(r) for p, r in s.execute(select(Stock.product_id, func.sum(Stock.reserved))
                                              .group_by(Stock.product_id))}


def waiting_lines() -> dict[int, D]:
    """Order lines with stock reserved and in no open shipment: line id -> reserved quantity."""
    with read_session() as s:
        in_flight = select(ShipmentLine.order_line_id).join(Shipment, Shipment.id == ShipmentLine.shipment_id) \
            .where(Shipment.status.in_(fulfillment.OPEN))
        return dict(s.execute(select(OrderLine.id, OrderLine.reserved_qty)
                              .where(OrderLine.reserved_qty > 0, OrderLine.id.not_in(in_flight))).all())


def assert_each_line_in_one_open_shipment(lines: dict[int, D]) -> None:
    """Each of these order lines was released by exactly one wave, into at most one open shipment per
    warehouse (a line reserved in two warehouses ships as two), and those add up to its reservation."""
    with read_session() as s:
        rows = s.execute(select(ShipmentLine.order_line_id, Shipment.id, Shipment.warehouse_id, Shipment.wave_id,
                                ShipmentLine.quantity)
                         .join(Shipment, Shipment.id == ShipmentLine.shipment_id)
                         .where(Shipment.status.in_(fulfillment.OPEN),
                                ShipmentLine.order_line_id.in_(list(lines)))).all()
    waves, per_line, seen = defaultdict(set), defaultdict(D), defaultdict(list)
    for line_id, sid, wh, wave, qty in rows:
        waves[line_id].add(wave)
        per_line[line_id] += qty
        seen[(line_id, wh)].append(sid)
    assert set(per_line) == set(lines), f"lines never released: {set(lines) - set(per_line)}"
    assert all(len(w) == 1 for w in waves.values()), {k: w for k, w in waves.items() if len(w) > 1}
    assert all(len(s) == 1 for s in seen.values()), {k: s for k, s in seen.items() if len(s) > 1}
    assert per_line == lines, "a line's shipments do not add up to what it had reserved"


def release(api, **body):
    return lambda: api.post("/waves", user="keeper", json=body)


def test_two_waves_released_at_once_release_each_line_once(floor):
    api, retried, url = floor
    problems = []
    for r in range(ROUNDS):
        ids = [place(api, customer, lines, po_number=f"R{r}-{n}")["id"] for n, (customer, lines) in enumerate(ORDERS)]
        lines = waiting_lines()
        totals = reserved_totals()
        la_before = stock()[("WIDGET", "LAX")][1]
        watcher = ReservedWatcher(url)
        watcher.start()
        assert watcher.ready.wait(10)
        if r % 2 == 0:  # both waves over every waiting order: one finds them taken
            calls, expected = [release(api), release(api)], [201, 409]
        else:  # over overlapping sets: the middle orders are wanted by both, each has some of its own
            calls, expected = [release(api, order_ids=ids[:4]), release(api, order_ids=ids[2:])], [201, 201]
        answers = at_once(calls)
        watcher.stop()
        codes = sorted(getattr(a, "status_code", repr(a)) for a in answers)
        if codes != expected:
            problems.append(f"round {r}: answers {codes}, expected {expected}: "
                            f"{[getattr(a, 'text', '')[:200] for a in answers]}")
        for a in answers:
            if getattr(a, "status_code", None) == 409:
                assert "no confirmed orders" in a.json()["detail"]
        assert_each_line_in_one_open_shipment(lines)
        assert waiting_lines() == {}
        # Reservations moved between warehouses, none created or lost: at the end, and at every
        # moment the watcher looked during the race.
        assert reserved_totals() == totals, f"round {r}: the waves changed how much is reserved"
        # TIDY's 2 widgets moved from Chicago; its widget with bolts stays (bolts are in Chicago only)
        assert stock()[("WIDGET", "LAX")][1] == la_before + 2
        assert watcher.reads > 0 and watcher.totals == {tuple(sorted(totals.items()))}, (r, watcher.totals)
        assert watcher.lowest >= 0, f"round {r}: reserved exceeded on hand ({watcher.lowest})"
        assert_books_agree()
    assert not problems, "\n".join(problems)
    assert "40P01" not in retried, f"deadlocks: {retried}"


def test_a_shipment_shipped_twice_at_once_ships_once(floor):
    api, retried, _ = floor
    problems = []
    for r in range(ROUNDS):
        order = place(api, "BIGBUY", [("WIDGET", "4"), ("GADGET", "1")], po_number=f"S{r}")
        wave = ok(api.post("/waves", user="keeper", json={"order_ids": [order["id"]]}), 201)
        pick_all(api, wave)
        sid = shipment_of(api, order["id"])["id"]
        parcel = pack(api, sid, [("WIDGET", 4), ("GADGET", 1)], "3.4", box="S")  # 2.0 + 1.2 + the box's 0.2 kg
        assert parcel["status"] == "closed", parcel
        before = stock()
        answers = at_once([lambda: api.post(f"/shipments/{sid}/ship", user="keeper", json={})] * 2)
        codes = sorted(getattr(a, "status_code", repr(a)) for a in answers)
        if codes != [200, 409]:
            problems.append(f"round {r}: answers {codes}: {[getattr(a, 'text', '')[:200] for a in answers]}")
            continue
        shipped = next(a.json() for a in answers if a.status_code == 200)
        late = next(a.json() for a in answers if a.status_code == 409)
        assert shipped["status"] == "shipped" and f"{shipped['number']} is shipped" in late["detail"], late
        after = stock()
        for key, qty in ((("WIDGET", "CHI"), 4), (("GADGET", "CHI"), 1)):  # on hand and reserved, down once
            assert after[key] == (before[key][0] - qty, before[key][1] - qty), (key, before[key], after[key])
        with read_session() as s:
            moves = s.scalars(select(StockMove.kind).where(StockMove.reference == shipped["number"])).all()
            events = s.scalar(select(func.count()).select_from(OutboxEvent).where(
                OutboxEvent.topic == "shipment.shipped", OutboxEvent.entity_id == sid))
            scans = s.scalars(select(TrackingEvent.kind).where(TrackingEvent.shipment_id == sid)).all()
        assert (sorted(moves), events, scans) == (["shipment", "shipment"], 1, ["shipped"])
        got = ok(api.get(f"/orders/{order['id']}"))
        assert [li["shipped_qty"] for li in got["lines"]] == ["4", "1"]
        assert_books_agree()
    assert not problems, "\n".join(problems)
    assert "40P01" not in retried, f"deadlocks: {retried}"

