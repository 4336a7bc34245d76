"""Stock through the API: goods receipts, adjustments with reason codes, cycle counts, bin locations and
the history of moves. Bad input names its field and changes nothing (no stock figure, no move, no bin);
a retried receipt is received once."""
from __future__ import annotations

from decimal import Decimal

from sqlalchemy import func, select, update

from o2c.core.db import read_session, transaction
from o2c.inventory.models import Stock, StockMove, Warehouse
from tests.api import assert_problem, nums, order_body, refused, snapshot, stock_figures, stock_of


def state() -> dict:
    """What a stock write could change: the shared snapshot, plus the moves and the bins."""
    out = snapshot()
    with read_session() as s:
        out["moves"] = s.scalar(select(func.count()).select_from(StockMove))
        out["bins"] = sorted((r.product_id, r.warehouse_id, r.bin) for r in s.scalars(select(Stock)))
    return out


def moves(api, **params) -> list[dict]:
    r = api.get("/stock/moves", user="viewer", params={"limit": 1000, **params})
    assert r.status_code == 200, r.text
    return r.json()["items"]


def receipt(*lines, warehouse="CHI", **extra) -> dict:
    return {"warehouse": warehouse, "lines": [dict(zip(("sku", "quantity", "bin"), li)) for li in lines], **extra}


def _refusals(api, cases) -> list[str]:
    """Each case is refused with its status, naming its field, and changes nothing."""
    failures = []
    for label, verb, path, body, status, field in cases:
        with refused(label, failures, state):
            assert_problem(getattr(api, verb)(path, user="keeper", json=body), status, field)
    return failures


def test_a_receipt_raises_stock_records_moves_and_sets_bins(api):
    r = api.post("/stock/receipts", user="keeper", json=receipt(
        ("GADGET", "6", "b-2-7-1"), ("GADGET", "4"), ("WIDGET", "10"), warehouse="LAX", reference="DN-5531",
        note="pallet 1 of 1"))
    assert r.status_code == 201, r.text
    got = r.json()
    assert (got["warehouse"], got["reference"], got["allocated"]) == ("LAX", "DN-5531", [])
    # two lines of one product: each is a move of its own; the bin is written in its normal form
    assert [(x["sku"], nums(x["quantity"], x["on_hand"]), x["bin"]) for x in got["lines"]] == [
        ("GADGET", nums(6, 6), "B-02-07-1"), ("GADGET", nums(4, 10), None), ("WIDGET", nums(10, 60), None)]
    assert {x["sku"]: stock_figures(x) for x in got["stock"]} == {"GADGET": nums(10, 0, 10), "WIDGET": nums(60, 0, 60)}
    # GADGET had no stock row in Los Angeles: the receipt made one, with its bin
    row = stock_of(api, "GADGET", "LAX")
    assert stock_figures(row) == nums(10, 0, 10) and row["bin"] == "B-02-07-1"
    assert stock_figures(stock_of(api, "GADGET", "CHI")) == nums(5, 0, 5)  # the other warehouse untouched

    history = moves(api, reference="DN-5531")
    assert [(m["sku"], m["warehouse"], m["kind"], nums(m["quantity"], m["on_hand_after"]), m["reason"], m["by"])
            for m in history] == [
        ("GADGET", "LAX", "receipt", nums(6, 6), "pallet 1 of 1", "keeper"),
        ("GADGET", "LAX", "receipt", nums(4, 10), "pallet 1 of 1", "keeper"),
        ("WIDGET", "LAX", "receipt", nums(10, 60), "pallet 1 of 1", "keeper")]
    assert [m["id"] for m in history] == [x["move_id"] for x in got["lines"]]

    # Flour is kept in kilograms with 3 decimals; without a note the move says what it was.
    r = api.post("/stock/receipts", user="admin", json=receipt(("FLOUR", "12.345"), warehouse="LAX"))
    assert r.status_code == 201, r.text
    [m] = moves(api, sku="FLOUR", kind="receipt")
    assert (nums(m["quantity"], m["on_hand_after"]), m["reason"], m["reference"], m["by"]) == (
        nums("12.345", "512.345"), "goods receipt", None, "admin")


def test_a_retried_receipt_is_received_once(api):
    body = receipt(("GADGET", "3"), reference="DN-1")
    key = {"Idempotency-Key": "receipt-dn-1"}
    first = api.post("/stock/receipts", user="keeper", json=body, headers=key)
    assert first.status_code == 201, first.text
    again = api.post("/stock/receipts", user="keeper", json=body, headers=key)
    assert again.status_code == 201 and again.headers.get("Idempotent-Replayed") == "true"
    assert again.json() == first.json()
    assert stock_figures(stock_of(api, "GADGET", "CHI")) == nums(8, 0, 8)  # 5 + 3, once
    assert len(moves(api, kind="receipt")) == 1
    # the same key with another body is refused, and receives nothing
    before = state()
    assert_problem(api.post("/stock/receipts", user="keeper", json=receipt(("GADGET", "4")), headers=key), 422)
    assert state() == before
    # without a key, the same delivery posted twice is two receipts (the key is what makes a retry)
    assert api.post("/stock/receipts", user="keeper", json=body).status_code == 201
    assert stock_figures(stock_of(api, "GADGET", "CHI")) == nums(11, 0, 11)


def test_adjustments_need_a_reason_and_keep_reserved_stock(api):
    order = api.post("/orders", json=order_body(lines=[{"sku": "GADGET", "quantity": "3"}])).json()
    assert order["status"] == "confirmed"
    assert stock_figures(stock_of(api, "GADGET", "CHI")) == nums(5, 3, 2)

    r = api.post("/stock/adjustments", user="keeper", json={
        "sku": "GADGET", "warehouse": "CHI", "quantity": "-2", "reason": "damaged", "note": "forklift hit the rack"})
    assert r.status_code == 201, r.text
    got = r.json()
    assert (nums(got["quantity"]), got["reason"], got["note"], got["allocated"]) == (nums(-2), "damaged",
                                                                                   "forklift hit the rack", [])
    assert stock_figures(got["stock"]) == nums(3, 3, 0)

    # one more would break the promise to the order: refused, naming the numbers
    r = api.post("/stock/adjustments", user="keeper", json={
        "sku": "GADGET", "warehouse": "CHI", "quantity": "-1", "reason": "lost", "note": "not on the shelf"})
    problem = assert_problem(r, 409, "quantity")
    assert "3 on hand - 1 = 2, but 3 are reserved" in problem["detail"]
    assert (problem["on_hand"], problem["reserved"]) == ("3", "3")

    # stock found goes to the order waiting for it
    waiting = api.post("/orders", json=order_body(lines=[{"sku": "GADGET", "quantity": "2"}])).json()
    assert waiting["status"] == "backordered"
    r = api.post("/stock/adjustments", user="keeper", json={
        "sku": "GADGET", "warehouse": "CHI", "quantity": "4", "reason": "found", "note": "behind the pallet"})
    assert r.status_code == 201 and stock_figures(r.json()["stock"]) == nums(7, 5, 2)
    assert [(a["number"], a["status"], [nums(x["quantity"]) for x in a["lines"]]) for a in r.json()["allocated"]] == [
        (waiting["number"], "confirmed", [nums(2)])]
    r = api.post("/stock/adjustments", user="keeper", json={
        "sku": "FLOUR", "warehouse": "LAX", "quantity": "-0.25", "reason": "correction",
        "note": "receipt DN-88 was booked 0.25 kg too high", "reference": "DN-88"})
    assert r.status_code == 201 and stock_figures(r.json()["stock"]) == nums("499.75", 0, "499.75")

    assert [(m["sku"], nums(m["quantity"], m["on_hand_after"]), m["reason"], m["reference"])
            for m in moves(api, kind="adjustment")] == [
        ("GADGET", nums(-2, 3), "damaged: forklift hit the rack", None),
        ("GADGET", nums(4, 7), "found: behind the pallet", None),
        ("FLOUR", nums("-0.25", "499.75"), "correction: receipt DN-88 was booked 0.25 kg too high", "DN-88")]


def test_a_count_records_every_line_and_its_difference(api):
    r = api.post("/stock/counts", user="keeper", json={"warehouse": "CHI", "reference": "CC-2025-11", "lines": [
        {"sku": "WIDGET", "counted": "97"}, {"sku": "BOLT", "counted": "1200"}, {"sku": "GADGET", "counted": "6"}]})
    assert r.status_code == 201, r.text
    got = r.json()
    assert [(x["sku"], nums(x["expected"], x["counted"], x["difference"])) for x in got["lines"]] == [
        ("WIDGET", nums(100, 97, -3)), ("BOLT", nums(1200, 1200, 0)), ("GADGET", nums(5, 6, 1))]
    assert [(x["sku"], stock_figures(x)) for x in got["stock"]] == [  # in the count's order
        ("WIDGET", nums(97, 0, 97)), ("BOLT", nums(1200, 0, 1200)), ("GADGET", nums(6, 0, 6))]
    counted = moves(api, reference="CC-2025-11")
    # the unchanged BOLT is recorded too: the history says when each product was last counted
    assert [(m["sku"], m["kind"], nums(m["quantity"], m["on_hand_after"]), m["reason"]) for m in counted] == [
        ("WIDGET", "count", nums(-3, 97), "cycle count"), ("BOLT", "count", nums(0, 1200), "cycle count"),
        ("GADGET", "count", nums(1, 6), "cycle count")]
    assert stock_figures(stock_of(api, "WIDGET", "CHI")) == nums(97, 0, 97)

    # Setting on hand directly (PUT /stock) is a count too, and leaves the same trace.
    r = api.put("/stock", user="keeper", json={"sku": "WIDGET", "warehouse": "LAX", "on_hand": "45",
                                               "reason": "recount after audit"})
    assert r.status_code == 200, r.text
    last = moves(api, sku="WIDGET", warehouse="LAX")[-1]
    assert (last["kind"], nums(last["quantity"], last["on_hand_after"]), last["reason"], last["by"]) == (
        "count", nums(-5, 45), "recount after audit", "keeper")


def test_bins_are_set_checked_and_cleared(api):
    r = api.put("/stock/bins", user="keeper", json={"sku": "WIDGET", "warehouse": "CHI", "bin": " a-3-12-2 "})
    assert r.status_code == 200, r.text
    assert (r.json()["bin"], stock_of(api, "WIDGET", "CHI")["bin"]) == ("A-03-12-2", "A-03-12-2")
    assert stock_figures(r.json()) == nums(100, 0, 100)
    # a product gets its place before its first delivery; no stock is invented for it
    r = api.put("/stock/bins", user="keeper", json={"sku": "GADGET", "warehouse": "LAX", "bin": "C-01-01-0"})
    assert r.status_code == 200 and stock_figures(stock_of(api, "GADGET", "LAX")) == nums(0, 0, 0)
    r = api.put("/stock/bins", user="keeper", json={"sku": "WIDGET", "warehouse": "CHI", "bin": None})
    assert r.status_code == 200 and stock_of(api, "WIDGET", "CHI")["bin"] is None
    assert moves(api, kind="receipt") == []  # a bin is not a stock move


def test_the_history_pages_and_filters(api):
    for n in range(3):
        api.post("/stock/receipts", user="keeper", json=receipt(("BOLT", "12"), reference=f"DN-{n}"))
    everything = moves(api)
    assert len(everything) == 6 + 3  # the world's six opening counts, then three receipts
    assert [m["kind"] for m in everything] == ["count"] * 6 + ["receipt"] * 3
    assert everything[0]["by"] is None  # the opening counts were booked by the system at set-up

    pages, cursor = [], None
    while True:
        r = api.get("/stock/moves", params={"limit": 2, **({"cursor": cursor} if cursor else {})})
        assert r.status_code == 200, r.text
        pages.append(r.json()["items"])
        cursor = r.json()["next_cursor"]
        if not cursor:
            break
        assert len(pages) < 10
    assert [m for page in pages for m in page] == everything  # no gaps, no repeats
    assert [nums(m["on_hand_after"]) for m in moves(api, sku="BOLT", kind="receipt")] == [
        nums(1212), nums(1224), nums(1236)]
    assert moves(api, warehouse="LAX", kind="receipt") == []


def test_bad_stock_writes_name_the_field_and_change_nothing(api):
    ordered = api.post("/orders", json=order_body(lines=[{"sku": "GADGET", "quantity": "3"}])).json()
    assert ordered["status"] == "confirmed"
    good_receipt = receipt(("WIDGET", "5"), ("GADGET", "1"), ("BOLT", "12"))
    adj = {"sku": "GADGET", "warehouse": "CHI", "quantity": "-1", "reason": "damaged", "note": "crushed box"}
    cnt = {"warehouse": "CHI", "lines": [{"sku": "WIDGET", "counted": "100"}, {"sku": "GADGET", "counted": "5"}]}
    bin_ = {"sku": "WIDGET", "warehouse": "CHI", "bin": "A-03-12-2"}
    R, A, C, B = "/stock/receipts", "/stock/adjustments", "/stock/counts", "/stock/bins"
    cases = [
        ("receipt into an unknown warehouse", "post", R, good_receipt | {"warehouse": "MARS"}, 422, "warehouse"),
        ("receipt without a warehouse", "post", R, {"lines": good_receipt["lines"]}, 422, "warehouse"),
        ("receipt of an unknown SKU", "post", R, receipt(("WIDGET", "5"), ("GADGET", "1"), ("NOSUCH", "2")),
         422, "lines[2].sku"),
        ("receipt of zero", "post", R, receipt(("WIDGET", "0")), 422, "lines[0].quantity"),
        ("receipt of a negative quantity", "post", R, receipt(("WIDGET", "5"), ("GADGET", "-1")),
         422, "lines[1].quantity"),
        ("receipt with 4 decimals", "post", R, receipt(("FLOUR", "1.2345")), 422, "lines[0].quantity"),
        ("receipt of half a widget", "post", R, receipt(("WIDGET", "0.5")), 422, "lines[0].quantity"),
        ("receipt with a quantity that is text", "post", R, receipt(("WIDGET", "lots")), 422, "lines[0].quantity"),
        ("receipt with a malformed bin", "post", R, receipt(("WIDGET", "5", "A3-12")), 422, "lines[0].bin"),
        ("receipt with aisle zero", "post", R, receipt(("WIDGET", "5", "A-00-12-2")), 422, "lines[0].bin"),
        ("receipt putting one product in two bins", "post", R,
         receipt(("WIDGET", "5", "A-01-01-1"), ("WIDGET", "5", "A-01-01-2")), 422, "lines[1].bin"),
        ("receipt without lines", "post", R, receipt(), 422, "lines"),
        ("receipt line with an unknown field", "post", R, {"warehouse": "CHI", "lines": [
            {"sku": "WIDGET", "quantity": "5", "lot": "L1"}]}, 422, "lines[0].lot"),
        ("receipt with a reference too long", "post", R, good_receipt | {"reference": "X" * 61}, 422, "reference"),
        ("adjustment without a reason", "post", A, {k: v for k, v in adj.items() if k != "reason"}, 422, "reason"),
        ("adjustment with an unknown reason code", "post", A, adj | {"reason": "shrinkage"}, 422, "reason"),
        ("adjustment adding stock as damaged", "post", A, adj | {"quantity": "2"}, 422, "quantity"),
        ("adjustment taking stock as found", "post", A, adj | {"reason": "found"}, 422, "quantity"),
        ("adjustment of zero", "post", A, adj | {"quantity": "0"}, 422, "quantity"),
        ("adjustment without a note", "post", A, {k: v for k, v in adj.items() if k != "note"}, 422, "note"),
        ("adjustment of an unknown SKU", "post", A, adj | {"sku": "NOSUCH"}, 422, "sku"),
        ("adjustment in an unknown warehouse", "post", A, adj | {"warehouse": "MARS"}, 422, "warehouse"),
        ("adjustment below what is reserved", "post", A, adj | {"quantity": "-3"}, 409, "quantity"),
        ("adjustment below zero where there is no stock", "post", A,
         adj | {"warehouse": "LAX", "reason": "correction"}, 409, "quantity"),
        ("count below what is reserved, with a good line", "post", C,
         cnt | {"lines": [{"sku": "WIDGET", "counted": "90"}, {"sku": "GADGET", "counted": "2"}]},
         409, "lines[1].counted"),
        ("count of a negative quantity", "post", C, cnt | {"lines": [{"sku": "WIDGET", "counted": "-1"}]},
         422, "lines[0].counted"),
        ("count of one product twice", "post", C, cnt | {"lines": cnt["lines"] + [{"sku": "WIDGET", "counted": "1"}]},
         422, "lines[2].sku"),
        ("count of an unknown SKU", "post", C, cnt | {"lines": cnt["lines"] + [{"sku": "NOSUCH", "counted": "1"}]},
         422, "lines[2].sku"),
        ("count in an unknown warehouse", "post", C, cnt | {"warehouse": "MARS"}, 422, "warehouse"),
        ("malformed bin", "put", B, bin_ | {"bin": "A-3"}, 422, "bin"),
        ("bin with a zone of four letters", "put", B, bin_ | {"bin": "ABCD-01-01-1"}, 422, "bin"),
        ("bin of an unknown SKU", "put", B, bin_ | {"sku": "NOSUCH"}, 422, "sku"),
        ("bin in an unknown warehouse", "put", B, bin_ | {"warehouse": "MARS"}, 422, "warehouse"),
    ]
    failures = _refusals(api, cases)
    assert not failures, "\n".join(failures)

    # the messages say what to do, with the figures
    r = api.post(A, user="keeper", json=adj | {"quantity": "-3"})
    assert "5 on hand - 3 = 2, but 3 are reserved" in r.json()["detail"]
    r = api.post(C, user="keeper", json=cnt | {"lines": [{"sku": "GADGET", "counted": "2"}]})
    assert "counted 2, but 3 are reserved for orders" in r.json()["detail"]
    r = api.post(A, user="keeper", json=adj | {"reason": "shrinkage"})
    assert "damaged, expired, lost, sample, found, correction" in r.json()["errors"][0]["message"]
    assert "A-03-12-2" in api.put(B, user="keeper", json=bin_ | {"bin": "A-3"}).json()["detail"]


def test_a_closed_warehouse_receives_nothing(api, world):
    transaction(lambda s: s.execute(update(Warehouse).where(Warehouse.id == world["ids"]["LAX"]).values(active=False)))
    before = state()
    problem = assert_problem(api.post("/stock/receipts", user="keeper", json=receipt(("WIDGET", "5"), warehouse="LAX")),
                             422, "warehouse")
    assert "closed" in problem["detail"]
    assert state() == before


def test_only_the_warehouse_and_admins_move_stock(api):
    body = receipt(("WIDGET", "5"))
    for user in ("desk", "viewer", "approver"):
        before = state()
        assert_problem(api.post("/stock/receipts", user=user, json=body), 403)
        assert_problem(api.post("/stock/counts", user=user, json={"warehouse": "CHI", "lines": [
            {"sku": "WIDGET", "counted": "1"}]}), 403)
        bin_ = {"sku": "WIDGET", "warehouse": "CHI", "bin": "A-01-01-1"}
        assert_problem(api.put("/stock/bins", user=user, json=bin_), 403)
        assert state() == before, user
    for user in ("keeper", "admin"):
        assert api.post("/stock/receipts", user=user, json=body).status_code == 201
    assert stock_figures(stock_of(api, "WIDGET", "CHI")) == nums(110, 0, 110)
    # anyone who may read sees the history
    assert [m["by"] for m in moves(api, kind="receipt")] == ["keeper", "admin"]
    assert_problem(api.get("/stock/moves", params={"kind": "teleport"}), 422, "kind")
    assert_problem(api.get("/stock/moves", params={"cursor": "zz"}), 422, "cursor")
    assert Decimal(stock_of(api, "WIDGET", "CHI")["on_hand"]) == 110
