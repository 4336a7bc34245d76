"""The wave's reallocation, in the database: orders are reserved at capture in the first warehouse that
has the goods; the wave looks at the carriers' rates and moves each order to where it ships cheapest.
The stock rows' reserved figures move with it exactly (nothing is created or lost, nothing physical
moves), and without carriers to compare by, the wave leaves every reservation where it is and says so.
"""
from __future__ import annotations

from decimal import Decimal as D

import pytest
from sqlalchemy import func, select

from o2c.core import clock
from o2c.core.auth import SYSTEM, actor_for_user
from o2c.core.db import read_session, transaction
from o2c.core.models import User
from o2c.fulfillment import service as fulfillment
from o2c.fulfillment.models import Shipment, ShipmentLine
from o2c.fulfillment.schemas import WaveIn
from o2c.inventory.models import Reservation, StockMove, Warehouse
from o2c.orders import service as orders
from o2c.orders.models import OrderLine
from o2c.orders.schemas import OrderIn
from o2c.shipping import service as shipping
from o2c.shipping.schemas import CarrierIn
from tests.books import assert_books_agree, stock
from tests.fulfillment.flow import MONDAY
from tests.shipping_world import rate_table


@pytest.fixture
def floor(world):
    clock.freeze(MONDAY)
    with read_session() as s:
        actors = {name: actor_for_user(s, s.get(User, world["ids"][name])) for name in ("desk", "keeper")}
    return world, actors


def carriers(world) -> None:
    """ParcelCo's rate table of the story: zone 2 near, 8 far (Chicago <-> Los Angeles), 5 elsewhere."""
    table = rate_table("PARCELCO", {2: "6.00", 5: "9.00", 8: "14.00"}, {2: "18.00", 5: "24.00", 8: "30.00"}, "10")
    transaction(lambda s: shipping.create_carrier(s, SYSTEM, world["ids"]["company"], CarrierIn(
        code="PARCELCO", name="ParcelCo", tracking_format="ups", account="A1B2C3", rate_table=table)))


def order(floor, customer: str, *lines: tuple[str, str]) -> int:
    world, actors = floor
    data = OrderIn(customer_code=customer, channel="web", lines=[{"sku": s, "quantity": q} for s, q in lines])
    oid, status = transaction(lambda s: (lambda o: (o.id, o.status))(
        orders.capture(s, actors["desk"], world["ids"]["company"], data)))
    assert status == "confirmed"
    return oid


def wave(floor) -> dict:
    world, actors = floor
    return transaction(lambda s: fulfillment.wave_view(s, fulfillment.release_wave(
        s, actors["keeper"], world["ids"]["company"], WaveIn())))


def reservations(order_id: int) -> list[tuple[int, str, D]]:
    """The order's reservations: (line no, warehouse, quantity), summed per line and warehouse."""
    with read_session() as s:
        rows = s.execute(select(OrderLine.line_no, Warehouse.code, func.sum(Reservation.quantity))
                         .join(OrderLine, OrderLine.id == Reservation.order_line_id)
                         .join(Warehouse, Warehouse.id == Reservation.warehouse_id)
                         .where(Reservation.order_id == order_id)
                         .group_by(OrderLine.line_no, Warehouse.code).order_by(OrderLine.line_no, Warehouse.code))
        return [(n, wh, D(q)) for n, wh, q in rows]


def shipments(order_id: int) -> list[tuple[str, str, D]]:
    """The order's open shipments: (warehouse, SKU, quantity)."""
    with read_session() as s:
        rows = s.execute(select(Warehouse.code, ShipmentLine.sku, ShipmentLine.quantity)
                         .join(Shipment, Shipment.id == ShipmentLine.shipment_id)
                         .join(Warehouse, Warehouse.id == Shipment.warehouse_id)
                         .where(Shipment.order_id == order_id).order_by(Warehouse.code, ShipmentLine.id))
        return [tuple(r) for r in rows]


def moves() -> int:
    with read_session() as s:
        return s.scalar(select(func.count()).select_from(StockMove))


def test_the_wave_moves_an_order_reserved_far_away_to_the_nearer_warehouse(floor):
    carriers(floor[0])
    tidy = order(floor, "TIDY", ("WIDGET", "10"))  # Los Angeles, reserved in Chicago (the first with 10)
    big = order(floor, "BIGBUY", ("WIDGET", "20"))  # Chicago, reserved in Chicago
    assert reservations(tidy) == [(1, "CHI", D(10))]
    assert stock()[("WIDGET", "CHI")] == (D(100), D(30)) and stock()[("WIDGET", "LAX")] == (D(50), D(0))
    moves_before = moves()

    released = wave(floor)

    # TIDY's ten move to Los Angeles (zone 2 instead of 8); BIGBUY's twenty stay in Chicago.
    assert reservations(tidy) == [(1, "LAX", D(10))]
    assert reservations(big) == [(1, "CHI", D(20))]
    assert stock()[("WIDGET", "CHI")] == (D(100), D(20))
    assert stock()[("WIDGET", "LAX")] == (D(50), D(10))
    assert moves() == moves_before  # reservations moved, not goods
    assert shipments(tidy) == [("LAX", "WIDGET", D(10))]
    assert shipments(big) == [("CHI", "WIDGET", D(20))]
    [group] = released["report"]["groups"]
    assert group["policy"] == "cost" and D(group["optimised_cost"]) <= D(group["greedy_cost"])
    assert_books_agree()


def test_an_order_the_nearer_warehouse_cannot_serve_whole_stays_where_it_is(floor):
    carriers(floor[0])
    tidy = order(floor, "TIDY", ("WIDGET", "60"))  # Los Angeles holds 50: only Chicago ships all of it
    before = stock()
    wave(floor)
    assert reservations(tidy) == [(1, "CHI", D(60))]
    assert shipments(tidy) == [("CHI", "WIDGET", D(60))]
    assert stock() == before
    assert_books_agree()


def test_a_line_no_warehouse_can_fill_ships_from_two_and_the_shipments_add_up(floor):
    carriers(floor[0])
    big = order(floor, "BIGBUY", ("WIDGET", "120"), ("GADGET", "2"))  # no warehouse holds 120 widgets
    before = stock()
    assert sum(q for n, _, q in reservations(big) if n == 1) == 120
    wave(floor)
    # Where the widgets go is the rate table's call (past 30 kg every zone costs the same per kilo);
    # whatever it is, the shipments are the reservations, the line keeps its 120, and the company's
    # reserved total per product is what it was.
    after = reservations(big)
    assert sorted(shipments(big)) == sorted((wh, "WIDGET" if n == 1 else "GADGET", q) for n, wh, q in after)
    assert {wh for n, wh, _ in after if n == 1} == {"CHI", "LAX"}
    assert sum(q for n, _, q in after if n == 1) == 120
    assert [(wh, q) for n, wh, q in after if n == 2] == [("CHI", D(2))]  # gadgets are in Chicago only
    for sku in ("WIDGET", "GADGET"):
        assert sum(r for (k, _), (_, r) in stock().items() if k == sku) == \
            sum(r for (k, _), (_, r) in before.items() if k == sku)
    assert {k: on_hand for k, (on_hand, _) in stock().items()} == {k: on_hand for k, (on_hand, _) in before.items()}
    assert_books_agree()


def test_without_carriers_the_wave_keeps_reservations_where_they_are_and_says_so(floor):
    tidy = order(floor, "TIDY", ("WIDGET", "10"))
    before = stock()
    released = wave(floor)
    assert reservations(tidy) == [(1, "CHI", D(10))]  # not moved to Los Angeles: no rates to compare by
    assert shipments(tidy) == [("CHI", "WIDGET", D(10))]
    assert stock() == before
    [group] = released["report"]["groups"]
    assert group["method"] == "kept" and "no carrier rate tables" in group["note"]
    assert_books_agree()
