"""The two doors of the CSV import: `o2c import orders` (exit codes, summary, row errors) and
`POST /api/v1/imports/orders` (body or form upload, permission, Idempotency-Key, bounded answer)."""
from __future__ import annotations

from typer.testing import CliRunner

from o2c.cli import app
from tests.integrations.csv_helpers import FIXTURES, count, fixture, rows

runner = CliRunner()


def cli(*args):
    return runner.invoke(app, ["import", "orders", *map(str, args)])


def test_the_command_exits_0_when_every_row_is_imported(world):
    r = cli(FIXTURES / "good.csv", "--company", "ACME", "--user", "desk")
    assert r.exit_code == 0, r.output
    assert "Imported 3 orders from 4 rows of good.csv into ACME" in r.output
    assert count("orders") == 3


def test_the_command_exits_1_and_lists_the_rejected_rows(world, tmp_path):
    r = cli(FIXTURES / "bad_row_in_middle.csv", "--user", "desk")  # one company: --company may be left out
    assert r.exit_code == 1, r.output
    assert "Imported 2 orders" in r.output
    assert "Rejected 3 rows (1 order not imported" in r.output
    table = [line.split("\t") for line in r.output.splitlines() if "\t" in line]
    assert table[0] == ["row", "field", "reason"]
    assert [tuple(cells[:2]) for cells in table[1:]] == [("3", "order_ref"), ("4", "quantity"), ("5", "order_ref")]
    assert table[2][2] == "Input should be a valid decimal (got 'zero')"
    held = tmp_path / "held.csv"
    held.write_bytes(fixture("held.csv"))
    r = cli(held, "--user", "desk")
    assert r.exit_code == 0 and "Imported 4 orders (4 held for review)" in r.output


def test_the_command_exits_2_when_the_file_cannot_be_read_and_imports_nothing(world, tmp_path):
    r = cli(FIXTURES / "not_utf8.csv", "--user", "desk")
    assert r.exit_code == 2
    assert "not UTF-8: line 4" in r.output
    r = cli(tmp_path / "nowhere.csv", "--user", "desk")
    assert r.exit_code == 2 and "cannot open" in r.output
    empty = tmp_path / "empty.csv"
    empty.write_text("")
    r = cli(empty, "--user", "desk")
    assert r.exit_code == 2 and "the file is empty" in r.output
    r = cli(FIXTURES / "good.csv", "--user", "viewer")
    assert r.exit_code == 2 and "lacks the permission 'orders.write'" in r.output
    r = cli(FIXTURES / "good.csv", "--user", "desk", "--company", "NOPE")
    assert r.exit_code == 2 and "no company 'NOPE'" in r.output
    assert count("orders") == 0


def test_the_command_interrupted_says_how_far_it_got(world, monkeypatch):
    from o2c.integrations import csv_orders

    real, calls = csv_orders.write_batch, []

    def ctrl_c_on_second_batch(session, prepared):
        calls.append(1)
        if len(calls) == 2:
            raise KeyboardInterrupt
        real(session, prepared)

    monkeypatch.setattr(csv_orders, "write_batch", ctrl_c_on_second_batch)
    monkeypatch.setattr(csv_orders, "BATCH_SIZE", 2)
    r = cli(FIXTURES / "bad_row_in_middle.csv", "--user", "desk")
    assert r.exit_code == 130
    # The first batch (orders, rows 2 to 5) is in; A-2 has a bad row.
    assert ("Interrupted: rows 2 to 5 are done (1 order imported, 3 rows rejected); import the rows after that "
            "again.") in r.output
    assert count("orders") == 1


# ---------------------------------------------------------------- the API

def test_the_api_imports_a_csv_body_and_answers_with_counts_errors_and_ids(api):
    r = api.post("/imports/orders", content=fixture("bad_row_in_middle.csv"), headers={"Content-Type": "text/csv"})
    assert r.status_code == 201, r.text
    body = r.json()
    assert {k: body[k] for k in ("rows_read", "orders_imported", "orders_held", "orders_rejected", "rows_rejected",
                                 "errors_omitted", "orders_omitted")} == {
        "rows_read": 5, "orders_imported": 2, "orders_held": 0, "orders_rejected": 1, "rows_rejected": 3,
        "errors_omitted": 0, "orders_omitted": 0}
    assert [(e["row"], e["field"], e["code"]) for e in body["errors"]] == [
        (3, "order_ref", "order_rejected"), (4, "quantity", "decimal_parsing"), (5, "order_ref", "order_rejected")]
    assert body["order_ids"] == [o["id"] for o in rows("orders")]
    assert [(o["order_ref"], o["status"]) for o in body["orders"]] == [("A-1", "confirmed"), ("A-3", "confirmed")]
    assert api.get(f"/orders/{body['order_ids'][0]}").json()["channel"] == "csv"


def test_the_api_takes_a_form_upload(api):
    r = api.post("/imports/orders", files={"file": ("held.csv", fixture("held.csv"), "text/csv")})
    assert r.status_code == 201, r.text
    assert (r.json()["orders_imported"], r.json()["orders_held"]) == (4, 4)
    r = api.post("/imports/orders", files={"upload": ("held.csv", fixture("held.csv"), "text/csv")})
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "upload"


def test_the_api_refuses_what_it_cannot_read_and_changes_nothing(api):
    r = api.post("/imports/orders", content=fixture("not_utf8.csv"), headers={"Content-Type": "text/csv"})
    assert r.status_code == 422
    problem = r.json()
    assert problem["type"] == "/problems/import-file"
    assert problem["errors"] == [{"row": 4, "field": "file", "code": "encoding", "message": problem["detail"]}]
    r = api.post("/imports/orders", content=b"order_ref,sku,quantity\n1,WIDGET,1\n",
                 headers={"Content-Type": "text/csv"})
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "customer_code"
    r = api.post("/imports/orders", json={"orders": []})
    assert r.status_code == 415
    r = api.post("/imports/orders", user="viewer", content=fixture("good.csv"), headers={"Content-Type": "text/csv"})
    assert r.status_code == 403
    assert count("orders") == 0


def test_a_file_with_no_good_order_is_answered_200(api):
    r = api.post("/imports/orders", content=b"order_ref,customer_code,sku,quantity\n1,NOBODY,WIDGET,1\n",
                 headers={"Content-Type": "text/csv"})
    assert r.status_code == 200
    assert r.json()["errors"] == [{"row": 2, "field": "customer_code", "code": "unknown",
                                   "message": "no customer 'NOBODY' in this company"}]


def test_the_answer_is_bounded(api, monkeypatch):
    from o2c.integrations import api as imports

    monkeypatch.setattr(imports, "LISTED", 2)
    data = "order_ref,customer_code,sku,quantity\n" + "".join(f"{n},BIGBUY,WIDGET,1\n" for n in range(3)) + \
        "".join(f"x{n},BIGBUY,WIDGET,0\n" for n in range(3))
    body = api.post("/imports/orders", content=data.encode(), headers={"Content-Type": "text/csv"}).json()
    assert (len(body["order_ids"]), body["orders_omitted"], len(body["errors"]), body["errors_omitted"]) == (2, 1, 2, 1)
    assert (body["orders_imported"], body["rows_rejected"]) == (3, 3)


def test_an_idempotency_key_imports_a_file_once(api):
    headers = {"Content-Type": "text/csv", "Idempotency-Key": "import-1"}
    first = api.post("/imports/orders", content=fixture("good.csv"), headers=headers)
    assert first.status_code == 201
    again = api.post("/imports/orders", content=fixture("good.csv"), headers=headers)
    assert again.status_code == 201 and again.headers["Idempotent-Replayed"] == "true"
    assert again.json() == first.json()
    assert count("orders") == 3
    other = api.post("/imports/orders", content=fixture("held.csv"), headers=headers)
    assert other.status_code == 422 and other.json()["type"] == "/problems/idempotency-key-reused"
    assert count("orders") == 3


def test_a_retry_of_an_import_that_stopped_half_way_is_refused_naming_the_last_row(api, monkeypatch):
    from o2c.integrations import csv_orders

    real = csv_orders.write_batch
    calls = []

    def crash_on_second_batch(session, prepared):
        calls.append(len(prepared.works))
        if len(calls) == 2:
            raise RuntimeError("power cut")
        return real(session, prepared)

    monkeypatch.setattr(csv_orders, "write_batch", crash_on_second_batch)
    monkeypatch.setattr(csv_orders, "BATCH_SIZE", 2)
    data = b"order_ref,customer_code,sku,quantity\n" + b"".join(b"%d,BIGBUY,WIDGET,1\n" % n for n in range(5))
    headers = {"Content-Type": "text/csv", "Idempotency-Key": "import-2"}
    assert api.post("/imports/orders", content=data, headers=headers).status_code == 500
    assert count("orders") == 2  # the first batch (rows 2 and 3) is in
    monkeypatch.setattr(csv_orders, "write_batch", real)
    r = api.post("/imports/orders", content=data, headers=headers)
    assert r.status_code == 409
    assert (r.json()["last_row"], r.json()["orders_imported"], r.json()["import_state"]) == (3, 2, "interrupted")
    assert "import the rows after row 3 with a new key" in r.json()["detail"]
    assert count("orders") == 2
