"""The order CSV format, read as a stream: checking the file, grouping rows into orders, and turning
each order into the API's own input shape (orders.schemas.OrderIn) so it is refused for exactly the
reasons the API refuses a request.

The file is read twice, never held in memory: `scan` checks the whole file (UTF-8, header, CSV
syntax) and counts its rows and orders before anything is written, so a broken file changes nothing;
`read_orders` then yields one `CsvOrder` at a time. Rows are numbered by the line they start on,
counting the header as row 1 (docs/csv-import.md).
"""
from __future__ import annotations

import csv
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import BinaryIO

from pydantic import ValidationError

from o2c.core.errors import FieldError
from o2c.orders.schemas import MAX_LINES, OrderIn

SHIP_TO_FIELDS = ("name", "line1", "line2", "city", "region", "postal_code", "country")
SHIP_TO_COLUMNS = tuple(f"ship_to_{f}" for f in SHIP_TO_FIELDS)
REQUIRED = ("order_ref", "customer_code", "sku", "quantity")
LINE_COLUMNS = ("sku", "quantity", "unit_price", "override_reason", "discount_pct")
# Columns that describe the whole order: give them on the order's first row (later rows may repeat
# the same value or leave the cell empty).
ORDER_COLUMNS = ("customer_code", "po_number", "channel", "currency", "requested_date", "notes", *SHIP_TO_COLUMNS)
COLUMNS = ("order_ref", "customer_code", "sku", "quantity", "po_number", "channel", "currency",
           "requested_date", "unit_price", "override_reason", "discount_pct", "notes", *SHIP_TO_COLUMNS)
_COLUMN_AT = {c: i for i, c in enumerate(COLUMNS)}
DEFAULT_CHANNEL = "csv"
MAX_REF = 100
BOM = b"\xef\xbb\xbf"

csv.field_size_limit(1 << 20)  # a cell above 1 MiB is not an order line; the column limits catch less


@dataclass(frozen=True)
class RowError:
    row: int
    field: str
    code: str
    message: str

    def as_dict(self) -> dict:
        return {"row": self.row, "field": self.field, "code": self.code, "message": self.message}


class ImportFileError(Exception):
    """The file as a whole cannot be imported (encoding, header, CSV syntax): nothing was imported."""

    def __init__(self, message: str, errors: list[RowError] | None = None):
        super().__init__(message)
        self.message = message
        self.errors = errors or []


@dataclass(frozen=True)
class FileInfo:
    columns: tuple[str, ...]
    delimiter: str
    rows: int  # data rows (blank rows not counted)
    orders: int


@dataclass
class CsvOrder:
    """The rows of one order: `data` is the order as the API would receive it, or None when a row is bad."""

    ref: str
    rows: list[int]  # the row number of each line, in order
    field_rows: dict[str, int] = field(default_factory=dict)  # order-level column -> row that gave it
    errors: list[RowError] = field(default_factory=list)
    data: OrderIn | None = None
    # For an order refused here: the customer code and SKUs to look up too, (row, column, value), so
    # every bad row is reported at once, not only the first problem found.
    lookups: list[tuple[int, str, str]] = field(default_factory=list)

    def locate(self, path: str) -> tuple[int, str]:
        """The row and column of an API-style field path ('lines[2].sku', 'ship_to.country', 'currency')."""
        first = self.rows[0]
        if path.startswith("lines["):
            idx, _, rest = path[6:].partition("]")
            i = int(idx) if idx.isdigit() else 0
            row = self.rows[i] if i < len(self.rows) else first
            return row, rest.lstrip(".") or "order_ref"
        if path == "lines":
            return (self.rows[MAX_LINES] if len(self.rows) > MAX_LINES else first), "order_ref"
        if path.startswith("ship_to."):
            col = "ship_to_" + path[8:]
        elif path in ("customer_id", "customer_code"):
            col = "customer_code"
        else:
            col = path
        return self.field_rows.get(col, first), col if col in COLUMNS else "order_ref"

    def rejected(self, errors: list[RowError]) -> list[RowError]:
        """The report of this order refused for `errors`: each bad row with its reasons, and every
        other row of the order as not imported because of them (an order is all or nothing)."""
        bad = {e.row for e in errors}
        first_bad = min(bad)
        out = list(errors) + [
            RowError(r, "order_ref", "order_rejected",
                     f"not imported: order {self.ref!r} has an error on row {first_bad} "
                     "(an order is imported whole or not at all)")
            for r in self.rows if r not in bad
        ]
        out.sort(key=lambda e: (e.row, _COLUMN_AT.get(e.field, -1)))
        return out


# ---------------------------------------------------------------- reading lines

class _Lines:
    """Decodes a binary stream line by line (a newline byte never occurs inside a UTF-8 character),
    so a byte that is not UTF-8 is found with its line number while the file streams."""

    def __init__(self, stream: BinaryIO):
        self.stream = stream
        self.line = 0

    def __iter__(self) -> Iterator[str]:
        for raw in self.stream:
            self.line += 1
            if self.line == 1 and raw.startswith(BOM):
                raw = raw[len(BOM):]
            try:
                yield raw.decode("utf-8")
            except UnicodeDecodeError as exc:
                raise _NotUtf8(self.line, exc) from None


class _NotUtf8(Exception):
    def __init__(self, line: int, exc: UnicodeDecodeError):
        self.line, self.exc = line, exc


def _encoding_error(err: _NotUtf8) -> ImportFileError:
    bad = err.exc.object[err.exc.start:err.exc.start + 1].hex().upper()
    msg = (f"the file is not UTF-8: line {err.line} has the byte 0x{bad} at position {err.exc.start + 1}; "
           "save the file as 'CSV UTF-8' and import it again (nothing was imported)")
    return ImportFileError(msg, [RowError(err.line, "file", "encoding", msg)])


def _reader(lines: _Lines, delimiter: str):
    return csv.reader(iter(lines), delimiter=delimiter, strict=True)


def _header(stream: BinaryIO) -> tuple[tuple[str, ...], str]:
    first = stream.readline()
    stream.seek(0)
    if first.startswith(BOM):
        first = first[len(BOM):]
    if not first.strip():
        raise ImportFileError("the file is empty: it needs a header row naming the columns",
                              [RowError(1, "file", "empty", "the file is empty")])
    try:
        text = first.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise _encoding_error(_NotUtf8(1, exc)) from None
    # Comma-separated; a spreadsheet saved with semicolons is recognised by its header line.
    delimiter = ";" if ";" in text and "," not in text else ","
    names = next(csv.reader([text], delimiter=delimiter))
    columns = tuple(n.strip().lower() for n in names)
    errors = []
    for i, name in enumerate(columns):
        if not name:
            errors.append(RowError(1, f"column {i + 1}", "unnamed", f"column {i + 1} of the header has no name"))
        elif name not in COLUMNS:
            errors.append(RowError(1, name, "unknown_column", f"unknown column {name!r}"))
        elif columns.index(name) != i:
            errors.append(RowError(1, name, "duplicate_column", f"column {name!r} appears twice"))
    missing = [c for c in REQUIRED if c not in columns]
    for c in missing:
        errors.append(RowError(1, c, "missing_column", f"required column {c!r} is missing"))
    if errors:
        parts = []
        unknown = [e.field for e in errors if e.code == "unknown_column"]
        if missing:
            parts.append("missing required column(s): " + ", ".join(missing))
        if unknown:
            parts.append("unknown column(s): " + ", ".join(unknown) + f" (the columns are: {', '.join(COLUMNS)})")
        parts += [e.message for e in errors if e.code in ("unnamed", "duplicate_column")]
        raise ImportFileError("the header is not valid: " + "; ".join(parts) + " (nothing was imported)", errors)
    return columns, delimiter


def scan(stream: BinaryIO) -> FileInfo:
    """Check the whole file before anything is written: UTF-8, a valid header, CSV syntax. Counts the
    data rows and orders (for the progress bar). Raises ImportFileError; leaves the stream at its start."""
    stream.seek(0)
    columns, delimiter = _header(stream)
    lines = _Lines(stream)
    reader = _reader(lines, delimiter)
    ref_at = columns.index("order_ref")
    rows = orders = 0
    last_ref: str | None = None
    try:
        next(reader)  # the header
        for cells in reader:
            if not any(c.strip() for c in cells):
                continue
            rows += 1
            ref = cells[ref_at].strip() if ref_at < len(cells) else ""
            if not ref or ref != last_ref:
                orders += 1
            last_ref = ref or None
    except _NotUtf8 as err:
        raise _encoding_error(err) from None
    except csv.Error as exc:
        msg = f"the file is not valid CSV at line {lines.line}: {exc} (nothing was imported)"
        raise ImportFileError(msg, [RowError(lines.line, "file", "csv_syntax", msg)]) from None
    finally:
        stream.seek(0)
    return FileInfo(columns, delimiter, rows, orders)


# ---------------------------------------------------------------- rows to orders

def read_orders(stream: BinaryIO, info: FileInfo) -> Iterator[CsvOrder]:
    """Yield the file's orders one by one, each checked against the API's input schema."""
    stream.seek(0)
    lines = _Lines(stream)
    reader = _reader(lines, info.delimiter)
    columns = info.columns
    width = len(columns)
    seen: dict[str, int] = {}  # order_ref -> last row of that order, to catch refs that come back
    group: list[tuple[int, dict[str, str]]] = []
    group_errors: list[RowError] = []
    ref: str | None = None
    try:
        next(reader)
        start = lines.line + 1
        for cells in reader:
            row, start = start, lines.line + 1
            cells = [c.strip() for c in cells]
            if not any(cells):
                continue
            values = {c: v for c, v in zip(columns, cells) if v}
            errors = []
            if len(cells) > width:
                errors.append(RowError(row, "row", "too_many_cells",
                                       f"the row has {len(cells)} cells but the header names {width} columns"))
            row_ref = values.get("order_ref", "")
            if group and (not row_ref or row_ref != ref):
                yield _order(ref, group, group_errors, seen)
                group, group_errors = [], []
            if not row_ref:
                errors.append(RowError(row, "order_ref", "missing", "order_ref is required on every row"))
            elif "\x00" in row_ref:
                errors.append(RowError(row, "order_ref", "value_error", "text may not contain NUL (0x00) characters"))
            elif len(row_ref) > MAX_REF:
                errors.append(RowError(row, "order_ref", "string_too_long",
                                       f"order_ref is longer than {MAX_REF} characters"))
            elif not group and row_ref in seen:
                errors.append(RowError(row, "order_ref", "not_consecutive",
                                       f"order {row_ref!r} already ended at row {seen[row_ref]}; "
                                       "the rows of one order must follow each other"))
            ref = row_ref
            group.append((row, values))
            group_errors += errors
            if not row_ref:  # a row without a reference is an order of its own (and refused)
                yield _order("", group, group_errors, seen)
                group, group_errors, ref = [], [], None
        if group:
            yield _order(ref or "", group, group_errors, seen)
    except _NotUtf8 as err:  # the file changed since it was scanned
        raise _encoding_error(err) from None
    except csv.Error as exc:
        raise ImportFileError(f"the file is not valid CSV at line {lines.line}: {exc}") from None


def _order(ref: str, group: list[tuple[int, dict[str, str]]], errors: list[RowError], seen: dict[str, int]) -> CsvOrder:
    rows = [r for r, _ in group]
    if ref and ref not in seen:
        seen[ref] = rows[-1]
    order = CsvOrder(ref=ref, rows=rows, errors=list(errors))
    body: dict = {}
    for col in ORDER_COLUMNS:
        for row, values in group:
            v = values.get(col)
            if v is None:
                continue
            if col not in order.field_rows:
                order.field_rows[col] = row
                body[col] = v
            elif v != body[col]:
                order.errors.append(RowError(
                    row, col, "conflict",
                    f"{col} {v!r} differs from {body[col]!r} given on row {order.field_rows[col]} for the same order"))
    if "customer_code" not in body:
        order.errors.append(RowError(rows[0], "customer_code", "missing",
                                     "customer_code is required (on the order's first row at least)"))
        body["customer_code"] = None
    ship_to = {f: body.pop(f"ship_to_{f}") for f in SHIP_TO_FIELDS if f"ship_to_{f}" in body}
    if ship_to:
        body["ship_to"] = ship_to
    body.setdefault("channel", DEFAULT_CHANNEL)
    body["lines"] = [{c: values[c] for c in LINE_COLUMNS if c in values} for _, values in group[: MAX_LINES + 1]]
    if len(rows) > MAX_LINES:
        order.errors.append(RowError(rows[MAX_LINES], "order_ref", "too_many_lines",
                                     f"an order has at most {MAX_LINES} lines; order {ref!r} has {len(rows)}"))
        body["lines"] = body["lines"][:MAX_LINES]
    try:
        data = OrderIn.model_validate(body)
    except ValidationError as exc:
        for e in exc.errors():
            path = _path(e.get("loc", ()))
            row, col = order.locate(path)
            if e.get("type") == "one_customer":
                continue  # customer_code missing: reported above
            order.errors.append(RowError(row, col, e.get("type", "invalid"), _message(e)))
        data = None
    if order.errors:
        order.errors = order.rejected(order.errors)
        bad = {(e.row, e.field) for e in order.errors}
        if body["customer_code"] and (order.field_rows["customer_code"], "customer_code") not in bad:
            order.lookups.append((order.field_rows["customer_code"], "customer_code", body["customer_code"]))
        order.lookups += [(row, "sku", values["sku"]) for row, values in group[:MAX_LINES]
                          if "sku" in values and (row, "sku") not in bad]
    else:
        order.data = data
    return order


def _path(loc: tuple) -> str:
    out = ""
    for p in loc:
        out += f"[{p}]" if isinstance(p, int) else ("." if out else "") + str(p)
    return out


def _message(e: dict) -> str:
    if e.get("type") == "missing":
        return "a value is required"
    msg = e.get("msg", "not valid")
    value = e.get("input")
    if isinstance(value, str):
        shown = value if len(value) <= 60 else value[:57] + "..."
        msg += f" (got {shown!r})"
    return msg


def field_error_to_row(order: CsvOrder, err: FieldError) -> RowError:
    row, col = order.locate(err.field)
    return RowError(row, col, err.code, err.message)
