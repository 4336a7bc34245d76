"""Reading the order CSV, without a database: the header, the encoding, rows grouped into orders,
row numbers, and the row errors found before any order is looked up."""
from __future__ import annotations

import io

import pytest

from o2c.integrations.csv_format import ImportFileError, read_orders, scan

HEADER = "order_ref,customer_code,sku,quantity"


def orders(text: str | bytes):
    data = io.BytesIO(text.encode() if isinstance(text, str) else text)
    return list(read_orders(data, scan(data)))


def refused(text: str | bytes) -> ImportFileError:
    with pytest.raises(ImportFileError) as exc:
        scan(io.BytesIO(text.encode() if isinstance(text, str) else text))
    return exc.value


def test_rows_with_one_reference_form_one_order_and_keep_their_row_numbers():
    got = orders(HEADER + ",po_number\nA,BIGBUY,WIDGET,2,PO-1\nA,,GADGET,1,\n\nB,TIDY,WIDGET,3,\n")
    assert [(o.ref, o.rows) for o in got] == [("A", [2, 3]), ("B", [5])]  # the empty line 4 is skipped
    a = got[0].data
    assert (a.customer_code, a.po_number, a.channel) == ("BIGBUY", "PO-1", "csv")
    assert [(li.sku, str(li.quantity)) for li in a.lines] == [("WIDGET", "2"), ("GADGET", "1")]


def test_a_row_is_numbered_by_the_line_it_starts_on():
    got = orders('order_ref,customer_code,sku,quantity,notes\nA,BIGBUY,WIDGET,1,"two\nlines"\nB,BIGBUY,WIDGET,x,\n')
    assert got[0].data.notes == "two\nlines"
    assert [(e.row, e.field) for e in got[1].errors] == [(4, "quantity")]


def test_the_scan_counts_rows_and_orders_for_the_progress_bar():
    info = scan(io.BytesIO((HEADER + "\nA,C,S,1\nA,C,S,1\nB,C,S,1\n\nA,C,S,1\n").encode()))
    assert (info.rows, info.orders) == (4, 3)


def test_order_level_values_given_twice_must_agree():
    [o] = orders(HEADER + ",po_number\nA,BIGBUY,WIDGET,1,PO-1\nA,BIGBUY,WIDGET,1,PO-1\nA,BIGBUY,WIDGET,1,PO-2\n")
    assert [(e.row, e.field, e.code) for e in o.errors] == [
        (2, "order_ref", "order_rejected"), (3, "order_ref", "order_rejected"), (4, "po_number", "conflict")]
    assert "'PO-2' differs from 'PO-1' given on row 2" in o.errors[2].message
    assert o.data is None


def test_the_rows_of_one_order_must_follow_each_other():
    got = orders(HEADER + "\nA,BIGBUY,WIDGET,1\nB,BIGBUY,WIDGET,1\nA,BIGBUY,GADGET,1\n")
    assert [o.data is not None for o in got] == [True, True, False]
    assert [(e.row, e.code) for e in got[2].errors] == [(4, "not_consecutive")]
    assert "already ended at row 2" in got[2].errors[0].message


def test_rows_missing_what_is_required_or_with_extra_cells_are_errors():
    got = orders(HEADER + "\n,BIGBUY,WIDGET,1\nB,,WIDGET,1\nC,BIGBUY,,\nD,BIGBUY,WIDGET,1,surplus\n")
    assert [[(e.row, e.field, e.code) for e in o.errors] for o in got] == [
        [(2, "order_ref", "missing")],
        [(3, "customer_code", "missing")],
        [(4, "sku", "missing"), (4, "quantity", "missing")],
        [(5, "row", "too_many_cells")],
    ]


def test_strings_past_the_api_limits_and_bad_values_name_their_column():
    long_name = "N" * 201
    [o] = orders("order_ref,customer_code,sku,quantity,requested_date,discount_pct,ship_to_name,ship_to_country\n"
                 f"A,BIGBUY,WIDGET,1.2345,2026-02-30,120,{long_name},usa\n")
    assert [(e.field, e.code) for e in o.errors] == [  # in the order of the columns
        ("quantity", "decimal_max_places"), ("requested_date", "date_from_datetime_parsing"),
        ("discount_pct", "less_than_equal"), ("ship_to_name", "string_too_long"),
        ("ship_to_country", "string_too_long")]


def test_a_missing_or_unknown_column_refuses_the_file():
    err = refused("order_ref,customer,sku,qty\n1,BIGBUY,WIDGET,1\n")
    assert err.message.startswith("the header is not valid: missing required column(s): customer_code, quantity; "
                                  "unknown column(s): customer, qty")
    assert [(e.field, e.code) for e in err.errors] == [
        ("customer", "unknown_column"), ("qty", "unknown_column"), ("customer_code", "missing_column"),
        ("quantity", "missing_column")]
    assert refused(HEADER + ",sku\n").errors[0].code == "duplicate_column"
    assert refused(HEADER + ",\n").errors[0].code == "unnamed"
    assert refused("").message.startswith("the file is empty")


def test_a_byte_that_is_not_utf8_refuses_the_file_naming_its_line():
    err = refused(HEADER.encode() + b"\nA,BIGBUY,WIDGET,1\nB,Caf\xe9,WIDGET,1\n")
    assert err.message.startswith("the file is not UTF-8: line 3 has the byte 0xE9 at position 6")
    assert [(e.row, e.code) for e in err.errors] == [(3, "encoding")]
    assert refused(b"order_ref,customer_code,sku,quantit\xff\n").errors[0].row == 1


def test_a_quote_that_is_never_closed_refuses_the_file():
    err = refused(HEADER + '\nA,BIGBUY,WIDGET,1\nB,"BIGBUY,WIDGET,1\n')
    assert err.errors[0].code == "csv_syntax"


def test_a_bom_case_and_spaces_in_the_header_and_semicolons_are_accepted():
    [o] = orders(b"\xef\xbb\xbf Order_Ref ; Customer_Code;SKU;Quantity\r\nA;BIGBUY; WIDGET ;2\r\n")
    assert (o.data.customer_code, o.data.lines[0].sku, o.errors) == ("BIGBUY", "WIDGET", [])
