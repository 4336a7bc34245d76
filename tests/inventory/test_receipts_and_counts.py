"""The warehouse's week, as a story: gadgets are written off, orders for them wait, a delivery arrives
and is shared out by priority and order date, a cycle count finds one more, and the stock history shows
every change with who made it and why. The figures are checked at each step."""
from __future__ import annotations

from datetime import datetime, timezone

from o2c.core import clock
from tests.api import nums, stock_figures, stock_of


def on(day: int) -> None:
    """Business day `day` of March 2025 in Chicago (the clock at 10:00 there)."""
    clock.freeze(datetime(2025, 3, day, 16, 0, tzinfo=timezone.utc))


def order(api, customer: str, *lines: tuple[str, str], priority: int = 0) -> dict:
    r = api.post("/orders", json={"customer_code": customer, "channel": "phone", "priority": priority,
                                  "lines": [{"sku": sku, "quantity": q} for sku, q in lines]})
    assert r.status_code == 201, r.text
    return r.json()


def lines_of(api, o: dict) -> list[tuple]:
    """(sku, reserved, backordered) of each line of the order as it is now."""
    now = api.get(f"/orders/{o['id']}").json()
    return [(li["sku"], *nums(li["reserved_qty"], li["backordered_qty"])) for li in now["lines"]]


def status_of(api, o: dict) -> str:
    return api.get(f"/orders/{o['id']}").json()["status"]


def test_a_week_in_the_warehouse(api):
    # Monday 3 March. The roof leaked over the gadget shelf in Chicago: all 5 are written off.
    on(3)
    r = api.post("/stock/adjustments", user="keeper", json={
        "sku": "GADGET", "warehouse": "CHI", "quantity": "-5", "reason": "damaged", "note": "water from the roof leak"})
    assert r.status_code == 201, r.text
    assert stock_figures(stock_of(api, "GADGET", "CHI")) == nums(0, 0, 0)

    # Orders for gadgets keep coming and wait (backordered): nothing can be reserved.
    bigbuy = order(api, "BIGBUY", ("GADGET", "4"))                     # Monday, ships what it can
    on(4)
    loyal = order(api, "LOYAL", ("GADGET", "3"))                       # Tuesday, ships what it can
    exempt = order(api, "EXEMPT", ("GADGET", "2"), priority=5)         # Tuesday, a hospital's rush order
    on(5)
    tidy = order(api, "TIDY", ("GADGET", "2"), ("WIDGET", "1"))        # Wednesday, all or nothing
    for o in (bigbuy, loyal, exempt, tidy):
        assert o["status"] == "backordered"
        assert all(li["reserved_qty"] == "0" for li in o["lines"])

    # Thursday: a delivery of 8 gadgets, put away in bin B-02-07-1. They go to the waiting orders at once:
    # first the rush order (2), then by order date: BIGBUY (4, Monday), LOYAL (the 2 left of 3, Tuesday).
    # TIDY (Wednesday) takes all or nothing and gets nothing; its widget stays free as well.
    on(6)
    r = api.post("/stock/receipts", user="keeper", json={
        "warehouse": "CHI", "reference": "DN-5531", "lines": [{"sku": "GADGET", "quantity": "8", "bin": "B-02-07-1"}]})
    assert r.status_code == 201, r.text
    got = r.json()
    assert [(a["number"], a["status"], [(x["sku"], x["warehouse"], *nums(x["quantity"])) for x in a["lines"]])
            for a in got["allocated"]] == [
        (exempt["number"], "confirmed", [("GADGET", "CHI", *nums(2))]),
        (bigbuy["number"], "confirmed", [("GADGET", "CHI", *nums(4))]),
        (loyal["number"], "backordered", [("GADGET", "CHI", *nums(2))]),
    ]
    assert [stock_figures(x) for x in got["stock"]] == [nums(8, 8, 0)]
    assert (status_of(api, exempt), status_of(api, bigbuy), status_of(api, loyal), status_of(api, tidy)) == (
        "confirmed", "confirmed", "backordered", "backordered")
    assert lines_of(api, loyal) == [("GADGET", *nums(2, 1))]
    assert lines_of(api, tidy) == [("GADGET", *nums(0, 2)), ("WIDGET", *nums(0, 1))]
    assert stock_figures(stock_of(api, "GADGET", "CHI")) == nums(8, 8, 0)
    assert stock_of(api, "GADGET", "CHI")["bin"] == "B-02-07-1"
    assert stock_figures(stock_of(api, "WIDGET", "CHI")) == nums(100, 0, 100)

    # The order's own history says the stock came for it, and from whom.
    timeline = api.get(f"/orders/{bigbuy['id']}/timeline").json()
    assert (timeline[-1]["action"], timeline[-1]["to_status"], timeline[-1]["actor"]) == (
        "backorder_allocated", "confirmed", "keeper")

    # Friday: the cycle count in Chicago. One gadget more than the books say (it had been behind the
    # pallet), widgets three short, bolts exactly right. The gadget found completes LOYAL's order.
    on(7)
    r = api.post("/stock/counts", user="keeper", json={"warehouse": "CHI", "reference": "CC-0307", "lines": [
        {"sku": "GADGET", "counted": "9"}, {"sku": "WIDGET", "counted": "97"}, {"sku": "BOLT", "counted": "1200"}]})
    assert r.status_code == 201, r.text
    counted = r.json()
    assert [(x["sku"], *nums(x["expected"], x["counted"], x["difference"])) for x in counted["lines"]] == [
        ("GADGET", *nums(8, 9, 1)), ("WIDGET", *nums(100, 97, -3)), ("BOLT", *nums(1200, 1200, 0))]
    assert [(a["number"], a["status"]) for a in counted["allocated"]] == [(loyal["number"], "confirmed")]
    assert lines_of(api, loyal) == [("GADGET", *nums(3, 0))]
    assert stock_figures(stock_of(api, "GADGET", "CHI")) == nums(9, 9, 0)
    assert status_of(api, tidy) == "backordered"

    # A recount that says 7 gadgets cannot be booked: 9 are promised to orders. Nothing changes.
    r = api.post("/stock/counts", user="keeper", json={"warehouse": "CHI",
                                                       "lines": [{"sku": "GADGET", "counted": "7"}]})
    assert r.status_code == 409
    assert r.json()["errors"][0]["field"] == "lines[0].counted"
    assert "counted 7, but 9 are reserved" in r.json()["detail"]
    assert stock_figures(stock_of(api, "GADGET", "CHI")) == nums(9, 9, 0)

    # The gadgets' history in Chicago: every change, signed, with what was on hand after it, why and who.
    r = api.get("/stock/moves", params={"sku": "GADGET", "warehouse": "CHI"})
    assert r.status_code == 200, r.text
    assert [(m["kind"], *nums(m["quantity"], m["on_hand_after"]), m["reason"], m["reference"], m["by"])
            for m in r.json()["items"]] == [
        ("count", *nums(5, 5), "opening count", None, None),
        ("adjustment", *nums(-5, 0), "damaged: water from the roof leak", None, "keeper"),
        ("receipt", *nums(8, 8), "goods receipt", "DN-5531", "keeper"),
        ("count", *nums(1, 9), "cycle count", "CC-0307", "keeper"),
    ]
    # ... and the day each was booked (the clock of the story)
    assert [m["at"][:10] for m in r.json()["items"]][1:] == ["2025-03-03", "2025-03-06", "2025-03-07"]
    # The count's unchanged line is in the history too: bolts were last counted on Friday.
    r = api.get("/stock/moves", params={"sku": "BOLT", "kind": "count", "reference": "CC-0307"})
    [bolts] = r.json()["items"]
    assert (nums(bolts["quantity"], bolts["on_hand_after"]), bolts["at"][:10]) == (nums(0, 1200), "2025-03-07")
