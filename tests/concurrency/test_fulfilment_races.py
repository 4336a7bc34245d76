"""On PostgreSQL, two warehouse or carrier steps on the same records at the same moment: the second one
must see what the first one did once it gets the rows' locks, so no step is done twice and none is left
undone. Each test holds the first step's transaction open (its locks held), sends the second through
the API in a thread, waits until that one either finished or waits for a lock, and only then commits the
first: the interleaving is the same on every run.
"""
from __future__ import annotations

import threading
from collections.abc import Callable
from contextlib import contextmanager
from datetime import datetime, timezone
from decimal import Decimal as D

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select, text
from sqlalchemy.orm import sessionmaker

from o2c.core import clock
from o2c.core.auth import actor_for_user
from o2c.core.db import dispose_engines, get_engine, read_session
from o2c.core.models import OutboxEvent, User
from o2c.core.settings import get_settings
from o2c.web.app import create_app
from tests.books import assert_books_agree
from tests.conftest import Api
from tests.fulfillment.flow import MONDAY, ok, pack, pick_lists, place, release, ship, shipment_of, tasks
from tests.shipping_world import equip
from tests.world import make

pytestmark = pytest.mark.postgres_only

WEIGHTS = {"WIDGET": D("0.5"), "GADGET": D("1.2")}  # tests/world.py's products


@pytest.fixture
def floor(pg):
    """The world with carriers, boxes and bins, an API client, and the warehouse keeper as an actor."""
    clock.freeze(MONDAY)
    world = make()
    with read_session() as s:
        keeper = actor_for_user(s, s.get(User, world["ids"]["keeper"]))
    with TestClient(create_app(), raise_server_exceptions=False) as client:
        api = Api(client, world["keys"])
        equip(api)
        yield api, keeper, world["ids"]
    clock.freeze(None)
    dispose_engines()
    get_settings.cache_clear()


@contextmanager
def held_open(work: Callable):
    """Run `work(session)` in a write transaction that stays open, its row locks held, for the block;
    commit when the block ends."""
    session = sessionmaker(get_engine(), expire_on_commit=False, autoflush=False)()
    try:
        work(session)
        session.flush()
        yield session
        session.commit()
    finally:
        session.close()


def meanwhile(call: Callable) -> tuple[threading.Thread, list]:
    """Start `call` in a thread; return once it finished or waits for a row lock (of the held transaction)."""
    answer: list = []
    thread = threading.Thread(target=lambda: answer.append(call()), daemon=True)
    thread.start()
    engine = get_engine()
    with engine.connect() as c:
        for _ in range(3000):
            thread.join(0.01)
            if not thread.is_alive():
                break
            waiting = c.execute(text("SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
                                     "AND wait_event_type = 'Lock'")).scalar()
            c.rollback()
            if waiting:
                break
        else:
            raise AssertionError("the second request neither finished nor waited for a lock")
    return thread, answer


def finished(thread: threading.Thread, answer: list):
    thread.join(60)
    assert not thread.is_alive(), "the second request never finished"
    return answer[0]


def count_events(topic: str, entity_id: int) -> int:
    with read_session() as s:
        return s.scalar(select(func.count()).select_from(OutboxEvent).where(OutboxEvent.topic == topic,
                                                                              OutboxEvent.entity_id == entity_id))


def shipped_shipment(api, customer="BIGBUY", lines=(("WIDGET", "2"),)) -> dict:
    order = place(api, customer, list(lines))
    wave = release(api, order_ids=[order["id"]])
    for pl in pick_lists(api, wave):
        ok(api.post(f"/pick-lists/{pl['id']}/picks", user="keeper",
                    json={"picks": [{"task_id": t["task_id"], "quantity": t["quantity"]} for t in tasks(pl)]}))
    sh = shipment_of(api, order["id"])
    picked = [(li["sku"], li["picked_qty"]) for li in ok(api.get(f"/shipments/{sh['id']}", user="keeper"))["lines"]]
    weight = sum((WEIGHTS[sku] * D(q) for sku, q in picked), D("0.2"))  # and the S box's tare
    pack(api, sh["id"], picked, str(weight), box="S")
    return ship(api, sh["id"])


def test_two_delivered_scans_at_once_deliver_the_shipment_once(floor):
    """The carrier's webhook and its nightly file both report the delivery (different event ids): the
    first delivers the shipment; the second, once it has the shipment's lock, finds it delivered (409).
    The customer is told once, and billing and analytics see one shipment.delivered."""
    from o2c.shipping import service as shipping

    api, keeper, ids = floor
    sh = shipped_shipment(api)
    number = sh["packages"][0]["tracking_number"]
    first = shipping.Scan(number, "delivered", datetime(2026, 12, 2, 18, tzinfo=timezone.utc), "front door",
                          None, "pc-1")
    with held_open(lambda s: shipping.track(s, keeper, ids["company"], first, "webhook")):
        thread, answer = meanwhile(lambda: api.post("/tracking-events", user="keeper", json={
            "tracking_number": number, "kind": "delivered", "occurred_at": "2026-12-02T18:05:00+00:00",
            "event_id": "file-1"}))
    r = finished(thread, answer)
    assert r.status_code == 409, r.text
    assert count_events("shipment.delivered", sh["id"]) == 1
    assert [e["kind"] for e in ok(api.get(f"/shipments/{sh['id']}/tracking-events", user="keeper"))] == [
        "shipped", "delivered"]


def test_a_scan_into_a_parcel_being_closed_waits_and_is_refused(floor):
    """One packer closes the parcel (weighed with one widget) while the other scans a second widget
    into it: the scan waits for the close and is refused, so the parcel holds what was weighed."""
    from o2c.fulfillment import service as fulfillment
    from o2c.fulfillment.schemas import CloseIn

    api, keeper, ids = floor
    order = place(api, "BIGBUY", [("WIDGET", "2")])
    wave = release(api, order_ids=[order["id"]])
    for pl in pick_lists(api, wave):
        ok(api.post(f"/pick-lists/{pl['id']}/picks", user="keeper",
                    json={"picks": [{"task_id": t["task_id"], "quantity": t["quantity"]} for t in tasks(pl)]}))
    sh = shipment_of(api, order["id"])
    parcel = ok(api.post(f"/shipments/{sh['id']}/packages", user="keeper"), 201)
    ok(api.post(f"/packages/{parcel['id']}/scans", user="keeper", json={"barcode": "WIDGET"}))
    close = CloseIn(weight_kg=D("0.7"), box_code="S")
    with held_open(lambda s: fulfillment.close_package(s, keeper, ids["company"], parcel["id"], close)):
        thread, answer = meanwhile(lambda: api.post(f"/packages/{parcel['id']}/scans", user="keeper",
                                                    json={"barcode": "WIDGET"}))
    r = finished(thread, answer)
    assert r.status_code == 409, r.text
    closed = ok(api.get(f"/packages/{parcel['id']}", user="keeper"))
    assert (closed["status"], closed["items"]) == ("closed", [{"sku": "WIDGET", "quantity": "1"}])


def test_two_pickers_finishing_one_shipment_at_once_leave_it_picked(floor):
    """BIGBUY's widgets and gadgets are on two pickers' lists. Both confirm their last task at the same
    moment: each must not count the other's task as still open, or the shipment stays `released` (and
    the wave unfinished) with nothing left to pick."""
    from o2c.fulfillment import service as fulfillment
    from o2c.fulfillment.schemas import PicksIn

    api, keeper, ids = floor
    order = place(api, "BIGBUY", [("WIDGET", "2"), ("GADGET", "1")])
    wave = release(api, order_ids=[order["id"]], pickers=2)
    first, second = pick_lists(api, wave)
    assert {s["sku"] for s in first["stops"]} | {s["sku"] for s in second["stops"]} == {"WIDGET", "GADGET"}

    def confirm(pl):
        return {"picks": [{"task_id": t["task_id"], "quantity": t["quantity"]} for t in tasks(pl)]}

    with held_open(lambda s: fulfillment.confirm_picks(s, keeper, ids["company"], first["id"],
                                                       PicksIn.model_validate(confirm(first)))):
        thread, answer = meanwhile(lambda: api.post(f"/pick-lists/{second['id']}/picks", user="keeper",
                                                    json=confirm(second)))
    assert finished(thread, answer).status_code == 200
    assert ok(api.get(f"/shipments/{shipment_of(api, order['id'])['id']}", user="keeper"))["status"] == "picked"
    assert ok(api.get(f"/waves/{wave['id']}", user="keeper"))["status"] == "done"


def test_two_pickers_finishing_a_wave_at_once_finish_it(floor):
    """Two orders, one list each; both pickers confirm at the same moment: the wave is done."""
    from o2c.fulfillment import service as fulfillment
    from o2c.fulfillment.schemas import PicksIn

    api, keeper, ids = floor
    widgets = place(api, "BIGBUY", [("WIDGET", "2")])
    gadgets = place(api, "LOYAL", [("GADGET", "1")])
    wave = release(api, order_ids=[widgets["id"], gadgets["id"]], pickers=2)
    first, second = pick_lists(api, wave)

    def confirm(pl):
        return {"picks": [{"task_id": t["task_id"], "quantity": t["quantity"]} for t in tasks(pl)]}

    with held_open(lambda s: fulfillment.confirm_picks(s, keeper, ids["company"], first["id"],
                                                       PicksIn.model_validate(confirm(first)))):
        thread, answer = meanwhile(lambda: api.post(f"/pick-lists/{second['id']}/picks", user="keeper",
                                                    json=confirm(second)))
    assert finished(thread, answer).status_code == 200
    assert ok(api.get(f"/waves/{wave['id']}", user="keeper"))["status"] == "done"
    assert {ok(api.get(f"/shipments/{shipment_of(api, o['id'])['id']}", user="keeper"))["status"]
            for o in (widgets, gadgets)} == {"picked"}


def pick_pack_ship(api, wave: dict, quantity: str) -> dict:
    """The wave's one task picked at `quantity` (less is a short pick), packed and shipped."""
    [pl] = pick_lists(api, wave)
    [task] = tasks(pl)
    ok(api.post(f"/pick-lists/{pl['id']}/picks", user="keeper",
                json={"picks": [{"task_id": task["task_id"], "quantity": quantity}]}))
    sid = int(task["shipment"][2:])
    pack(api, sid, [("WIDGET", quantity)], str(WEIGHTS["WIDGET"] * D(quantity) + D("0.2")), box="S")
    return ship(api, sid)


def test_the_last_two_shipments_of_an_order_delivered_at_once_deliver_the_order(floor):
    """BIGBUY's 3 widgets went in two shipments (the bin held 2; the third followed). Both are
    delivered at the same moment: the order's fulfilment is complete, not left at `shipped`."""
    from o2c.shipping import service as shipping

    api, keeper, ids = floor
    order = place(api, "BIGBUY", [("WIDGET", "3")])
    first = pick_pack_ship(api, release(api, order_ids=[order["id"]]), "2")
    second = pick_pack_ship(api, release(api, order_ids=[order["id"]]), "1")
    assert ok(api.get(f"/orders/{order['id']}"))["shipment_state"] == "shipped"
    scan = shipping.Scan(first["packages"][0]["tracking_number"], "delivered",
                         datetime(2026, 12, 2, 18, tzinfo=timezone.utc))
    with held_open(lambda s: shipping.track(s, keeper, ids["company"], scan, "webhook")):
        thread, answer = meanwhile(lambda: api.post("/tracking-events", user="keeper", json={
            "tracking_number": second["packages"][0]["tracking_number"], "kind": "delivered",
            "occurred_at": "2026-12-02T18:05:00+00:00"}))
    assert finished(thread, answer).status_code == 201
    assert ok(api.get(f"/orders/{order['id']}"))["shipment_state"] == "delivered"
    assert_books_agree()


def test_a_wave_released_while_a_receipt_serves_its_backorder_ships_the_whole_reservation(floor):
    """BIGBUY orders 160 widgets: 150 are reserved, 10 backordered. A goods receipt serves the backorder
    while a wave is being released: the wave waits for the order's lock and then ships all 160 (the
    order line as the receipt left it), not the 150 it read before the lock (refused with a 500)."""
    from o2c.inventory import service as inventory
    from o2c.inventory.schemas import ReceiptIn

    api, keeper, ids = floor
    order = ok(api.post("/orders", json={"customer_code": "BIGBUY", "channel": "web",
                                         "lines": [{"sku": "WIDGET", "quantity": "160"}]}), 201)
    assert (order["status"], order["lines"][0]["reserved_qty"]) == ("backordered", "150")
    receipt = ReceiptIn.model_validate({"warehouse": "CHI", "reference": "ASN-1",
                                        "lines": [{"sku": "WIDGET", "quantity": "10"}]})
    with held_open(lambda s: inventory.receive(s, keeper, ids["company"], receipt)):
        thread, answer = meanwhile(lambda: api.post("/waves", user="keeper", json={"order_ids": [order["id"]]}))
    r = finished(thread, answer)
    assert r.status_code == 201, r.text
    shipped = [li for sh in ok(api.get("/shipments", user="keeper", params={"order_id": order["id"]}))["items"]
               for li in sh["lines"]]
    assert sum(D(li["quantity"]) for li in shipped) == 160
    assert_books_agree()


def test_a_goods_receipt_while_a_waiting_order_is_cancelled_lands_and_serves_nobody_cancelled(floor):
    """BIGBUY waits for 3 gadgets (LOYAL holds the 5 there were). The desk cancels BIGBUY's order at the
    moment 4 gadgets arrive: the receipt waits for the order's lock, finds it cancelled and passes it
    by. The receipt is not refused (409) for someone else's cancellation, and the cancelled order gets
    no stock."""
    from o2c.orders import service as orders

    api, keeper, ids = floor
    place(api, "LOYAL", [("GADGET", "5")])
    waiting = ok(api.post("/orders", json={"customer_code": "BIGBUY", "channel": "web",
                                           "lines": [{"sku": "WIDGET", "quantity": "1"},
                                                     {"sku": "GADGET", "quantity": "3"}]}), 201)
    assert waiting["status"] == "backordered"
    with read_session() as s:
        desk = actor_for_user(s, s.get(User, ids["desk"]))
    with held_open(lambda s: orders.cancel(s, desk, ids["company"], waiting["id"], "customer changed their mind")):
        thread, answer = meanwhile(lambda: api.post("/stock/receipts", user="keeper", json={
            "warehouse": "CHI", "reference": "ASN-2", "lines": [{"sku": "GADGET", "quantity": "4"}]}))
    r = finished(thread, answer)
    assert r.status_code == 201, r.text
    assert r.json()["allocated"] == []
    cancelled = ok(api.get(f"/orders/{waiting['id']}"))
    assert cancelled["status"] == "cancelled"
    assert [li["reserved_qty"] for li in cancelled["lines"]] == ["0", "0"]
    [gadgets] = ok(api.get("/stock", params={"sku": "GADGET", "warehouse": "CHI"}))["items"]
    assert (gadgets["on_hand"], gadgets["reserved"]) == ("9", "5")
    assert_books_agree()


def test_shipping_while_a_wave_takes_another_line_of_the_order_does_not_deadlock(floor, monkeypatch):
    """BIGBUY's first widget line is packed; its second line got its widgets from a receipt since. The
    shift lead releases a wave for the order (its lock taken first) while the packer ships."""
    from sqlalchemy.exc import DBAPIError

    from o2c.fulfillment import service as fulfillment
    from o2c.fulfillment.schemas import WaveIn
    from o2c.orders.models import Order
    from tests.concurrency.support import count_retries

    api, keeper, ids = floor
    retried = count_retries(monkeypatch)
    for wh, qty in (("CHI", "5"), ("LAX", "0")):
        ok(api.put("/stock", user="keeper", json={"sku": "WIDGET", "warehouse": wh, "on_hand": qty, "reason": "setup"}))
    order = ok(api.post("/orders", json={"customer_code": "BIGBUY", "channel": "web", "lines": [
        {"sku": "WIDGET", "quantity": "5"}, {"sku": "WIDGET", "quantity": "3"}]}), 201)
    [pl] = pick_lists(api, release(api, order_ids=[order["id"]]))
    ok(api.post(f"/pick-lists/{pl['id']}/picks", user="keeper",
                json={"picks": [{"task_id": t["task_id"], "quantity": t["quantity"]} for t in tasks(pl)]}))
    sid = shipment_of(api, order["id"])["id"]
    pack(api, sid, [("WIDGET", 5)], "2.7", box="S")
    ok(api.post("/stock/receipts", user="keeper", json={"warehouse": "CHI", "lines": [{"sku": "WIDGET", "quantity": "3"}]}), 201)
    deadlocks, shipping = [], []

    def wave_after_its_order_lock(s):
        s.execute(select(Order.id).where(Order.id == order["id"]).with_for_update())  # release_wave's first lock
        shipping.extend(meanwhile(lambda: api.post(f"/shipments/{sid}/ship", user="keeper", json={})))
        try:
            fulfillment.release_wave(s, keeper, ids["company"], WaveIn(order_ids=[order["id"]]))
        except DBAPIError as exc:
            deadlocks.append(getattr(exc.orig, "sqlstate", None))
            raise

    try:
        with held_open(wave_after_its_order_lock):
            pass
    except DBAPIError:
        pass
    assert finished(*shipping).status_code == 200
    assert not deadlocks and "40P01" not in retried, f"deadlocks: {deadlocks + retried}"
