"""CSV bulk import, as the order desk uses it: good orders in, bad rows reported with their row number,
field and reason, nothing half-imported, and every imported order exactly what the API would have made."""
from __future__ import annotations

from datetime import datetime, timezone

import pytest
from fastapi.testclient import TestClient

from o2c.core import clock
from o2c.integrations.csv_format import COLUMNS, ImportFileError
from o2c.orders.rules import CHANNELS
from tests.integrations.csv_helpers import count, errors, fixture, rows, run, stock


def test_a_good_file_becomes_orders_with_their_prices_and_reservations(world):
    result = run(world, fixture("good.csv"))
    assert (result.orders_imported, result.orders_held, result.rows_rejected, result.errors) == (3, 0, 0, [])
    orders = rows("orders")
    assert [(o["po_number"], o["channel"], o["status"], f"{o['total']:.2f}") for o in orders] == [
        ("PO-100", "web", "confirmed", "162.56"),   # 12 widgets at the 10+ break, 2 gadgets at BIGBUY's contract
        (None, "phone", "confirmed", "29.31"),      # 12.5 kg flour, tax exempt
        ("L-9", "email", "confirmed", "171.59"),    # 8.50 override with a reason, 5% standing discount
    ]
    assert [(li["sku"], str(li["unit_price"]), f"{li['net_amount']:.2f}") for li in rows("order_lines")] == [
        ("WIDGET", "9.0000", "108.00"), ("GADGET", "22.5000", "45.00"), ("FLOUR", "2.3450", "29.31"),
        ("WIDGET", "8.5000", "161.50"),
    ]
    assert stock("WIDGET", "CHI") == ("100", "32")
    assert stock("GADGET", "CHI") == ("5", "2")
    assert stock("FLOUR", "LAX") == ("500", "12.5")
    assert [r.status for r in result.orders] == ["confirmed"] * 3


def test_a_bad_row_in_the_middle_keeps_its_order_out_and_lets_the_others_in(world):
    result = run(world, fixture("bad_row_in_middle.csv"))
    assert (result.orders_imported, result.orders_rejected, result.rows_rejected) == (2, 1, 3)
    # Row 4 (the header is row 1) is the bad one; rows 3 and 5 belong to its order and wait with it.
    assert errors(result) == [(3, "order_ref", "order_rejected"), (4, "quantity", "decimal_parsing"),
                              (5, "order_ref", "order_rejected")]
    assert "zero" in result.errors[1].message
    assert "row 4" in result.errors[0].message
    imported = rows("orders")
    assert [(o["customer_id"], o["status"]) for o in imported] == [(world["ids"]["BIGBUY"], "confirmed"),
                                                                   (world["ids"]["TIDY"], "confirmed")]
    assert count("order_lines") == 2  # nothing of order A-2 was written
    assert stock("GADGET", "CHI") == ("5", "0")


def test_rows_refused_for_what_the_api_refuses_are_reported_each_with_its_field(world):
    result = run(world, "\n".join([
        "order_ref,customer_code,sku,quantity,currency,channel,po_number",
        "R-1,NOBODY,WIDGET,1,,,",                       # unknown customer
        "R-2,BIGBUY,NOPE,1,,,",                         # unknown SKU
        "R-3,EURO,WIDGET,1,USD,,",                      # not the customer's currency
        "R-4,BIGBUY,WIDGET,1000001,,,",                 # absurd quantity
        "R-5,BIGBUY,WIDGET,1,,fax,",                    # unknown channel
        "R-6,BIGBUY,WIDGET,1,,,P" + "O" * 60,           # PO number past its 60 characters
        "R-7,BIGBUY,WIDGET,1.5,,,",                     # fine: held (pieces), not refused
        "R-8,NOBODY,NOPE,1,,,",                         # every bad row of an order is reported at once:
        "R-8,,WIDGET,-2,,,",                            # unknown customer and SKU, and a quantity
    ]) + "\n")
    assert errors(result) == [(2, "customer_code", "unknown"), (3, "sku", "unknown"), (4, "currency", "mismatch"),
                              (5, "quantity", "less_than_equal"), (6, "channel", "literal_error"),
                              (7, "po_number", "string_too_long"), (9, "customer_code", "unknown"),
                              (9, "sku", "unknown"), (10, "quantity", "greater_than")]
    assert (result.orders_imported, result.orders_held) == (1, 1)
    assert result.errors[2].message == "customer EURO buys in EUR, not USD"


def test_orders_that_break_business_rules_are_imported_and_held_with_each_reason(world):
    result = run(world, fixture("held.csv"))
    assert (result.orders_imported, result.orders_held, result.rows_rejected) == (4, 4, 0)
    holds = {h["order_id"]: (h["kind"], [x["code"] for x in h["reasons"]]) for h in rows("order_holds")}
    assert list(holds.values()) == [
        ("validation", ["inactive"]),
        ("pricing", ["override_beyond_threshold"]),
        ("validation", ["invalid"]),             # ZIP 6060 is not a US postal code
        ("validation", ["not_a_multiple"]),      # bolts come in cases of 12
    ]
    assert [o["needed_correction"] for o in rows("orders")] == [True, False, True, True]
    assert count("reservations") == 0
    timeline = rows("audit_log", entity="order")
    assert [(a["action"], a["to_status"], a["actor"]) for a in timeline] == [("captured", "held", "desk")] * 4
    assert [e["topic"] for e in rows("outbox")] == ["order.held"] * 4


def test_a_po_number_repeated_in_the_file_or_already_on_order_is_a_duplicate(world, api):
    r = api.post("/orders", json={"customer_code": "BIGBUY", "channel": "web", "po_number": 'PO-1 "A", 5\\6',
                                  "lines": [{"sku": "WIDGET", "quantity": "1"}]})
    first = r.json()["number"]
    result = run(world, "order_ref,customer_code,po_number,sku,quantity\n"
                        'D-1,BIGBUY,"PO-1 ""A"", 5\\6",WIDGET,1\n'     # the API's order has this PO
                        "D-2,BIGBUY,PO-2,WIDGET,1\n"     # new
                        "D-3,BIGBUY,PO-2,WIDGET,1\n"     # the same PO twice in one file
                        "D-4,LOYAL,PO-2,WIDGET,1\n")     # another customer's PO-2: no duplicate
    assert [o.status for o in result.orders] == ["held", "confirmed", "held", "confirmed"]
    held = {h["order_id"]: h["reasons"][0]["message"] for h in rows("order_holds")}
    d1, d2, d3, _ = (o.order_id for o in result.orders)
    assert held == {d1: f"this customer's PO number is already on order {first}",
                    d3: f"this customer's PO number is already on order SO{d2:08d}"}


def test_duplicates_are_found_across_batches(world):
    result = run(world, "order_ref,customer_code,po_number,sku,quantity\n"
                        + "".join(f"X-{n},BIGBUY,PO-{n % 3},WIDGET,1\n" for n in range(6)), batch_size=2)
    assert [o.status for o in result.orders] == ["confirmed"] * 3 + ["held"] * 3


def test_a_batch_that_meets_a_deadlock_is_run_again_with_the_same_outcome(world, monkeypatch):
    from sqlalchemy.exc import OperationalError

    from o2c.integrations import csv_orders

    class Deadlock(Exception):
        sqlstate = "40P01"

    real, calls = csv_orders.write_batch, []

    def deadlock_once(session, prepared):
        calls.append(1)
        if len(calls) == 2:
            raise OperationalError("UPDATE stock ...", {}, Deadlock("deadlock detected"))
        real(session, prepared)

    monkeypatch.setattr(csv_orders, "write_batch", deadlock_once)
    result = run(world, "order_ref,customer_code,po_number,sku,quantity\n"
                        + "".join(f"X-{n},BIGBUY,PO-{n % 3},GADGET,2\n" for n in range(8)), batch_size=2)
    assert len(calls) == 5  # four batches, the second one twice
    assert [o.status for o in result.orders] == ["confirmed", "confirmed", "backordered"] + ["held"] * 5
    first = {o.order_id for o in result.orders[:3]}
    duplicates_of = [h["reasons"][0]["message"][-10:] for h in rows("order_holds")]
    assert [int(d[2:]) in first for d in duplicates_of] == [True] * 5  # each names an order that exists
    assert stock("GADGET", "CHI") == ("5", "5")


def test_a_price_changed_during_an_import_applies_to_the_batches_after_it(world):
    from o2c.catalog import service as catalog
    from o2c.catalog.schemas import PriceListIn
    from o2c.core.auth import SYSTEM
    from o2c.core.db import transaction

    def after_first_batch(result):
        if result.orders_imported == 1:  # BIGBUY gets a contract price for widgets
            transaction(lambda s: catalog.create_price_list(s, SYSTEM, world["ids"]["company"], PriceListIn(
                name="BIGBUY widgets", currency="USD", customer_id=world["ids"]["BIGBUY"],
                items=[{"sku": "WIDGET", "min_qty": 1, "unit_price": "7.00"}])))

    run(world, "order_ref,customer_code,sku,quantity\n" + "".join(f"P-{n},BIGBUY,WIDGET,1\n" for n in range(4)),
        batch_size=1, progress=after_first_batch)
    prices = [str(li["unit_price"]) for li in rows("order_lines")]
    # (on PostgreSQL the second batch is priced while the first is written, so it may keep the old price)
    assert prices[0] == "10.0000" and prices[2:] == ["7.0000", "7.0000"]


def test_stock_is_never_oversold_across_the_orders_of_one_file(world):
    # 5 gadgets in Chicago; BIGBUY ships partial, TIDY ships complete.
    result = run(world, "order_ref,customer_code,sku,quantity\n"
                        "G-1,BIGBUY,GADGET,2\nG-2,BIGBUY,GADGET,2\nG-3,TIDY,GADGET,2\nG-4,BIGBUY,GADGET,2\n"
                        "G-5,BIGBUY,GADGET,1\n")
    assert [o.status for o in result.orders] == ["confirmed", "confirmed", "backordered", "backordered",
                                                 "backordered"]
    lines = rows("order_lines")
    assert [(str(li["reserved_qty"].normalize()), str(li["backordered_qty"].normalize())) for li in lines] == [
        ("2", "0"), ("2", "0"), ("0", "2"), ("1", "1"), ("0", "1")]
    assert stock("GADGET", "CHI") == ("5", "5")
    assert sum(r["quantity"] for r in rows("reservations")) == 5


def test_a_file_with_a_broken_header_or_encoding_is_refused_whole_and_changes_nothing(world):
    with pytest.raises(ImportFileError) as exc:
        run(world, "order_ref,customer_code,sku\nM-1,BIGBUY,WIDGET\n")
    assert "missing required column(s): quantity" in exc.value.message
    with pytest.raises(ImportFileError) as exc:
        run(world, "order_ref,customer_code,sku,quantity,colour\nU-1,BIGBUY,WIDGET,1,red\n")
    assert "unknown column(s): colour" in exc.value.message
    # Rows 2 and 3 are fine, but row 4 was saved in Latin-1: nothing is imported.
    with pytest.raises(ImportFileError) as exc:
        run(world, fixture("not_utf8.csv"))
    assert exc.value.message.startswith("the file is not UTF-8: line 4 has the byte 0xE9 at position 8")
    assert count("orders") == 0
    # With a byte order mark and Windows line ends, the file is fine.
    result = run(world, fixture("bom.csv"))
    assert (result.orders_imported, result.rows_rejected) == (1, 0)


def test_the_documented_columns_and_channels_are_the_real_ones():
    from pathlib import Path

    doc = (Path(__file__).resolve().parents[2] / "docs" / "csv-import.md").read_text()
    for column in COLUMNS:
        assert f"`{column}`" in doc, column
    for channel in CHANNELS:
        assert f"`{channel}`" in doc, channel


# ---------------------------------------------------------------- the same orders through the API

SPEC = [
    {"ref": "S-1", "customer_code": "BIGBUY", "channel": "web", "po_number": "PO-1",
     "lines": [{"sku": "WIDGET", "quantity": "12"}, {"sku": "GADGET", "quantity": "2"}]},
    {"ref": "S-2", "customer_code": "TIDY", "channel": "sales_rep", "po_number": "T-100",
     "lines": [{"sku": "GADGET", "quantity": "4"}, {"sku": "WIDGET", "quantity": "10"}]},
    {"ref": "S-3", "customer_code": "LOYAL", "channel": "email", "po_number": "L-7",
     "ship_to": {"name": "Loyal Receiving", "line1": "1 N State St", "city": "Chicago", "region": "IL",
                 "postal_code": "6060", "country": "US"},
     "lines": [{"sku": "WIDGET", "quantity": "20", "unit_price": "8.50"}]},
    {"ref": "S-4", "customer_code": "BIGBUY", "channel": "phone", "po_number": "PO-777",
     "lines": [{"sku": "WIDGET", "quantity": "5", "unit_price": "7.00", "override_reason": "damaged packaging"}]},
    {"ref": "S-5", "customer_code": "BIGBUY", "channel": "edi", "po_number": "PO-1",
     "lines": [{"sku": "WIDGET", "quantity": "1"}]},
    {"ref": "S-6", "customer_code": "EXEMPT", "channel": "phone", "lines": [{"sku": "FLOUR", "quantity": "12.5"}]},
    {"ref": "S-7", "customer_code": "BIGBUY", "lines": [{"sku": "NOPE", "quantity": "1"}]},  # refused by both
    {"ref": "S-8", "customer_code": "LOYAL", "requested_date": "2026-03-20", "notes": "dock 2, call ahead",
     "lines": [{"sku": "WIDGET", "quantity": "3", "discount_pct": "2.5"}, {"sku": "BOLT", "quantity": "24"},
               {"sku": "GADGET", "quantity": "2"}]},
    {"ref": "S-9", "customer_code": "EURO", "currency": "EUR", "lines": [{"sku": "WIDGET", "quantity": "2"}]},
    {"ref": "S-10", "customer_code": "BIGBUY", "requested_date": "2026-02-01",
     "lines": [{"sku": "OLD", "quantity": "1"}, {"sku": "BOLT", "quantity": "13"}]},
    {"ref": "S-11", "customer_code": "BIGBUY", "channel": "b2b_portal",
     "ship_to": {"name": "Dock 4", "line1": "200 N Spring St", "city": "Los Angeles", "region": "CA",
                 "postal_code": "90012", "country": "US"},
     "lines": [{"sku": "WIDGET", "quantity": "120"}, {"sku": "GADGET", "quantity": "3"}]},
]
ORDER_KEYS = ("customer_code", "channel", "po_number", "currency", "requested_date", "notes")


def _json(spec: dict) -> dict:
    body = {k: spec[k] for k in ORDER_KEYS if k in spec}
    body.setdefault("channel", "csv")
    if "ship_to" in spec:
        body["ship_to"] = spec["ship_to"]
    body["lines"] = spec["lines"]
    return body


def _csv(specs: list[dict]) -> str:
    out = [",".join(COLUMNS)]
    for spec in specs:
        for i, line in enumerate(spec["lines"]):
            cells = {"order_ref": spec["ref"], **line}
            if i == 0:  # order-level cells on the first row only
                cells.update({k: spec[k] for k in ORDER_KEYS if k in spec})
                cells.update({f"ship_to_{k}": v for k, v in spec.get("ship_to", {}).items()})
            out.append(",".join(f'"{cells[c]}"' if c in cells else "" for c in COLUMNS))
    return "\n".join(out) + "\n"


SNAPSHOT = ("orders", "order_lines", "order_holds", "reservations", "stock", "outbox")


def _snapshot() -> dict:
    shot = {t: rows(t) for t in SNAPSHOT}
    shot["timeline"] = rows("audit_log", entity="order")
    return shot


def test_an_imported_file_leaves_exactly_what_the_api_leaves_for_the_same_orders(db):
    """Statuses, holds, amounts, reservations, timeline records and outbox events, row for row."""
    from o2c.web.app import create_app
    from tests.conftest import _empty
    from tests.world import make

    clock.freeze(datetime(2026, 3, 2, 15, 0, tzinfo=timezone.utc))
    world = make()
    statuses = []
    with TestClient(create_app(), raise_server_exceptions=False) as client:
        for spec in SPEC:
            r = client.post("/api/v1/orders", json=_json(spec),
                            headers={"Authorization": f"Bearer {world['keys']['desk']}"})
            statuses.append(r.json().get("status", r.status_code))
    assert statuses == ["confirmed", "backordered", "held", "held", "held", "confirmed", 422, "confirmed",
                        "confirmed", "held", "backordered"]
    through_api = _snapshot()

    _empty(db)
    world = make()
    result = run(world, _csv(SPEC), batch_size=3)  # several batches: on PostgreSQL one is decided while one is written
    assert [o.status for o in result.orders] == [s for s in statuses if s != 422]
    assert errors(result) == [(10, "sku", "unknown")]
    imported = _snapshot()
    for table in (*SNAPSHOT, "timeline"):
        assert imported[table] == through_api[table], table
