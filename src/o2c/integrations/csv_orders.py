"""CSV bulk import of orders, for the CLI (`o2c import orders FILE.csv`) and the API
(`POST /api/v1/imports/orders`, in o2c.integrations.api).

Good orders become orders exactly as if they had been captured through the API (held with their
reasons when they break a business rule); an order with a bad row is not imported at all, and each of
its rows is reported with its row number, field and reason. The file streams: it is checked once
(csv_format.scan: nothing is written when its encoding, header or CSV syntax is broken), then read
again order by order and captured in batches of `batch_size` orders, one transaction per batch
(csv_capture.prepare_batch and write_batch; see _Pipeline). The format is described for users in
docs/csv-import.md.
"""
from __future__ import annotations

import contextlib

import gc
import queue
import random
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO

from sqlalchemy.orm import Session

from o2c.core.auth import Actor, require, require_company
from o2c.core.db import get_engine, is_retryable
from o2c.integrations.csv_capture import (
    Captured, Prepared, Reference, forget, prepare_batch, unknown, write_batch,
)
from o2c.integrations.csv_format import (
    COLUMNS, CsvOrder, FileInfo, ImportFileError, RowError, field_error_to_row, read_orders, scan,
)
from o2c.orders.rules import HELD

# Orders per transaction. Larger batches cost less per order (1,000: about a quarter less than 500) but
# hold the stock rows of their products locked longer (about half a second at 1,000 on 2 cores), and
# orders entered meanwhile for those products wait that long.
BATCH_SIZE = 1000
# ... and at most this many rows (order lines) per transaction, for files of large B2B orders.
MAX_BATCH_LINES = 20_000
__all__ = ["COLUMNS", "ImportFileError", "ImportResult", "import_cli", "import_orders", "scan"]


@dataclass(frozen=True)
class ImportedOrder:
    ref: str
    order_id: int
    number: str
    status: str


@dataclass
class BatchSummary:
    rows: int = 0
    last_row: int = 0
    imported: list[ImportedOrder] = field(default_factory=list)
    held: int = 0
    rejected_orders: int = 0
    rejected_rows: int = 0
    errors: list[RowError] = field(default_factory=list)


@dataclass
class ImportResult:
    """What an import did. `errors` and `orders` keep the first `keep_*` entries; the counts are complete."""

    rows_total: int
    orders_total: int
    keep_errors: int = 10_000
    keep_orders: int = 1_000
    rows_done: int = 0
    last_row: int = 1
    orders_imported: int = 0
    orders_held: int = 0
    orders_rejected: int = 0
    rows_rejected: int = 0
    errors_total: int = 0
    errors: list[RowError] = field(default_factory=list)
    orders: list[ImportedOrder] = field(default_factory=list)
    seconds: float = 0.0

    def add(self, b: BatchSummary) -> None:
        self.rows_done += b.rows
        self.last_row = max(self.last_row, b.last_row)
        self.orders_imported += len(b.imported)
        self.orders_held += b.held
        self.orders_rejected += b.rejected_orders
        self.rows_rejected += b.rejected_rows
        self.errors_total += len(b.errors)
        self.errors.extend(b.errors[: max(0, self.keep_errors - len(self.errors))])
        self.orders.extend(b.imported[: max(0, self.keep_orders - len(self.orders))])

    def body(self, limit: int = 1000) -> dict:
        """The API's answer, bounded: at most `limit` errors and orders, with how many were left out."""
        errors = self.errors[:limit]
        orders = self.orders[:limit]
        return {
            "rows_read": self.rows_done,
            "orders_imported": self.orders_imported,
            "orders_held": self.orders_held,
            "orders_rejected": self.orders_rejected,
            "rows_rejected": self.rows_rejected,
            "errors": [e.as_dict() for e in errors],
            "errors_omitted": self.errors_total - len(errors),
            "order_ids": [o.order_id for o in orders],
            "orders": [{"order_ref": o.ref, "id": o.order_id, "number": o.number, "status": o.status} for o in orders],
            "orders_omitted": self.orders_imported - len(orders),
        }


Progress = Callable[[ImportResult], None]
BatchHook = Callable[[Session, ImportResult, BatchSummary], None]


def import_orders(
    stream: BinaryIO, actor: Actor, company_id: int, *, info: FileInfo | None = None, batch_size: int | None = None,
    progress: Progress | None = None, on_batch: BatchHook | None = None, keep_errors: int = 10_000,
    keep_orders: int = 1_000,
) -> ImportResult:
    """Import the CSV in `stream` (binary, seekable). Raises ImportFileError, before anything is written,
    when the file as a whole cannot be read. `on_batch` runs inside each batch's transaction."""
    require(actor, "orders.write")
    require_company(actor, company_id)
    started = time.perf_counter()
    info = info or scan(stream)
    result = ImportResult(info.rows, info.orders, keep_errors=keep_errors, keep_orders=keep_orders)
    pipeline = _Pipeline(actor, company_id, result, progress, on_batch, started)
    batches = _batches(stream, info, batch_size or BATCH_SIZE)
    try:
        for batch in batches:
            pipeline.feed(batch)
        pipeline.drain()
    finally:
        batches.close()  # stops the reading thread
        pipeline.close()
    result.seconds = time.perf_counter() - started
    return result


class _Redo(Exception):
    """The batch before had to be run again: the one decided after it must be decided anew."""


@dataclass
class _Ready:
    """A batch prepared in its own open transaction, waiting to be written and committed."""

    batch: list[CsvOrder]
    session: Session
    prepared: Prepared
    summary: BatchSummary


class _Pipeline:
    """Batches go through two steps: prepare (read, decide, lock stock, plan: this thread) and write
    (COPY, update stock, commit). On PostgreSQL the write runs on a thread of its own, so the next
    batch is decided while the database checks and stores the previous one; before it locks its stock
    rows it waits for that commit, so reservations always see what the batch before took. At most one
    batch is being written while one is prepared. A batch that fails with a deadlock or serialization
    failure is run again, alone, as `transaction` would; any other failure stops the import, and the
    batches committed before it stay imported."""

    ATTEMPTS = 8

    def __init__(self, actor: Actor, company_id: int, result: ImportResult, progress: Progress | None,
                 on_batch: BatchHook | None, started: float):
        self.actor, self.company_id, self.result = actor, company_id, result
        self.progress, self.on_batch, self.started = progress, on_batch, started
        self.ref = Reference(company_id)
        self.own_pos: dict[tuple[int, str], int] = {}
        self.engine = get_engine()
        threaded = self.engine.dialect.name == "postgresql"
        self.writer = ThreadPoolExecutor(1, thread_name_prefix="o2c-csv-writer") if threaded else None
        self.inflight: tuple[_Ready, Future] | None = None

    # -- the steps
    def _prepare(self, batch: list[CsvOrder], before_lock: Callable[[], None] | None = None) -> _Ready:
        todo = [o for o in batch if o.data is not None]
        session = Session(self.engine, expire_on_commit=False, autoflush=False)
        try:
            prepared = prepare_batch(session, self.actor, self.company_id, [o.data for o in todo], self.ref,
                                     self.own_pos, before_lock)
            found = self._lookups(session, batch)
        except BaseException:
            session.rollback()
            session.close()
            raise
        return _Ready(batch, session, prepared,
                      _summarise(batch, dict(zip(map(id, todo), prepared.outcomes)), found))

    def _lookups(self, session: Session, batch: list[CsvOrder]) -> dict[int, list[RowError]]:
        """Orders refused while reading: their unknown customers and SKUs too, row by row."""
        refused = [o for o in batch if o.data is None and o.lookups]
        if not refused:
            return {}
        codes, skus = unknown(session, self.ref, {v for o in refused for _, c, v in o.lookups if c == "customer_code"},
                              {v for o in refused for _, c, v in o.lookups if c == "sku"})
        found = {}
        for o in refused:
            errors = [RowError(row, col, "unknown", f"no customer {v!r} in this company") if col == "customer_code"
                      else RowError(row, col, "unknown", f"no product with SKU {v!r}")
                      for row, col, v in o.lookups if v in (codes if col == "customer_code" else skus)]
            if errors:
                found[id(o)] = errors
        return found

    def _write(self, ready: _Ready) -> None:
        try:
            write_batch(ready.session, ready.prepared)
            if self.on_batch:
                self.on_batch(ready.session, self.result, ready.summary)
            ready.session.commit()
        except BaseException:
            ready.session.rollback()
            raise
        finally:
            ready.session.close()

    def _discard(self, ready: _Ready) -> None:
        forget(self.own_pos, ready.prepared)
        ready.session.rollback()
        ready.session.close()

    def _count(self, summary: BatchSummary) -> None:
        self.result.add(summary)
        self.result.seconds = time.perf_counter() - self.started
        if self.progress:
            self.progress(self.result)

    def _alone(self, batch: list[CsvOrder]) -> None:
        """Prepare, write and commit one batch, again from the start after a deadlock."""
        for attempt in range(1, self.ATTEMPTS + 1):
            ready = None
            try:
                ready = self._prepare(batch)
                self._write(ready)
                self._count(ready.summary)
                return
            except BaseException as exc:
                if ready is not None:
                    forget(self.own_pos, ready.prepared)
                if attempt == self.ATTEMPTS or not is_retryable(exc):
                    raise
                time.sleep(random.uniform(0.001, 0.01) * attempt)

    def _settle(self) -> bool:
        """Wait for the batch being written and count it; after a deadlock run it again alone and
        return True (a batch prepared meanwhile was decided on what did not happen: do it again)."""
        if self.inflight is None:
            return False
        ready, future = self.inflight
        self.inflight = None
        try:
            future.result()
        except BaseException as exc:
            forget(self.own_pos, ready.prepared)
            if not is_retryable(exc):
                raise
            self._alone(ready.batch)
            return True
        self._count(ready.summary)
        return False

    # -- driving
    def feed(self, batch: list[CsvOrder]) -> None:
        if self.writer is None:
            self._alone(batch)
            return

        def settle_first() -> None:  # the batch before commits before this one locks its stock
            if self._settle():
                raise _Redo

        try:
            ready = self._prepare(batch, settle_first)
        except _Redo:  # the batch before was run again: decide this one anew, after it
            self._alone(batch)
            return
        except BaseException as exc:
            self._settle()
            if not is_retryable(exc):
                raise
            self._alone(batch)
            return
        self.inflight = (ready, self.writer.submit(self._write, ready))

    def drain(self) -> None:
        self._settle()

    def close(self) -> None:
        if self.inflight is not None:  # stopping on an error: let the write in progress end
            ready, future = self.inflight
            self.inflight = None
            # if that batch failed it rolled back; the error being reported is the earlier one
            with contextlib.suppress(BaseException):
                future.result()
                self.result.add(ready.summary)
        if self.writer is not None:
            self.writer.shutdown(wait=True)


_END = object()


def _batches(stream: BinaryIO, info: FileInfo, size: int) -> Iterator[list[CsvOrder]]:
    """The file's orders in batches of `size` orders (fewer when they have many lines: at most
    MAX_BATCH_LINES rows), read and checked by a thread of its own while the batch before is being
    written (the database work releases the interpreter), at most two batches ahead."""
    q: queue.Queue = queue.Queue(maxsize=2)
    stop = threading.Event()

    def put(item) -> bool:
        while not stop.is_set():
            try:
                q.put(item, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def read() -> None:
        try:
            batch: list[CsvOrder] = []
            rows = 0
            for order in read_orders(stream, info):
                batch.append(order)
                rows += len(order.rows)
                if len(batch) >= size or rows >= MAX_BATCH_LINES:
                    if not put(batch):
                        return
                    batch, rows = [], 0
            if batch and not put(batch):
                return
            put(_END)
        except BaseException as exc:  # handed to the importing thread, which raises it
            put(exc)

    reader = threading.Thread(target=read, name="o2c-csv-reader", daemon=True)
    reader.start()
    try:
        while True:
            item = q.get()
            if item is _END:
                return
            if isinstance(item, BaseException):
                raise item
            yield item
    finally:
        stop.set()
        reader.join()


def _summarise(batch: list[CsvOrder], outcomes: dict[int, object],
               found: dict[int, list[RowError]] | None = None) -> BatchSummary:
    s = BatchSummary()
    for o in batch:
        s.rows += len(o.rows)
        s.last_row = max(s.last_row, o.rows[-1])
        outcome = outcomes.get(id(o))
        if isinstance(outcome, Captured):
            s.imported.append(ImportedOrder(o.ref, outcome.order_id, outcome.number, outcome.status))
            s.held += outcome.status == HELD
            continue
        if outcome is not None:
            errors = o.rejected([field_error_to_row(o, e) for e in outcome.errors])
        elif found and id(o) in found:
            errors = o.rejected([e for e in o.errors if e.code != "order_rejected"] + found[id(o)])
        else:
            errors = o.errors
        s.rejected_orders += 1
        s.rejected_rows += len(o.rows)
        s.errors.extend(errors)
    return s


# ---------------------------------------------------------------- the command line

@contextmanager
def without_cycle_collector():
    """The command imports in a process of its own: the interpreter's cycle collector, which an import
    triggers again and again by allocating many short-lived objects (none of them in cycles), is paused
    while it runs (about a tenth less CPU). Not used by the API, whose process serves other requests."""
    was = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was:
            gc.enable()


class _Setup(Exception):
    """The user or company named on the command line cannot import: said in one line, exit code 2."""


def _who(username: str, company_code: str | None) -> tuple[Actor, int, str]:
    from sqlalchemy import select

    from o2c.core.auth import actor_for_user
    from o2c.core.db import read_session
    from o2c.core.errors import Forbidden
    from o2c.core.models import Company, User

    with read_session() as s:
        user = s.scalar(select(User).where(User.username == username))
        if user is None or not user.active:
            raise _Setup(f"there is no active user named {username!r} (give one with --user)")
        actor = actor_for_user(s, user)
        try:
            require(actor, "orders.write")
        except Forbidden as exc:
            raise _Setup(exc.detail) from None
        companies = dict(s.execute(
            select(Company.code, Company.id).where(Company.id.in_(sorted(actor.company_ids)))).all())
        if company_code is None:
            if len(companies) != 1:
                names = ", ".join(sorted(companies)) or "none"
                raise _Setup(f"user {username!r} works for several companies ({names}): name one with --company")
            company_code = next(iter(companies))
        elif company_code not in companies:
            exists = s.scalar(select(Company.id).where(Company.code == company_code))
            raise _Setup(f"no company {company_code!r}" if exists is None
                         else f"user {username!r} has no access to company {company_code}")
    return actor, companies[company_code], company_code


def import_cli(file: str, company_code: str | None, username: str, *, batch_size: int | None = None,
               shown: int = 1000) -> int:
    """`o2c import orders`: exit code 0 when every row was imported, 1 when some rows were rejected,
    2 when the file could not be read at all (nothing was imported)."""
    from rich.console import Console
    from rich.progress import (
        BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn,
    )
    from rich.table import Table

    out = Console(highlight=False, soft_wrap=True)
    err = Console(stderr=True, highlight=False, soft_wrap=True)
    path = Path(file)
    try:
        stream = path.open("rb")
    except OSError as exc:
        err.print(f"[bold red]Error:[/] cannot open {file}: {exc.strerror or exc}")
        return 2
    with stream:
        try:
            actor, company_id, company_code = _who(username, company_code)
            info = scan(stream)
        except _Setup as exc:
            err.print(f"[bold red]Error:[/] {exc}")
            return 2
        except ImportFileError as exc:
            err.print(f"[bold red]Error:[/] {path.name}: {exc.message}")
            return 2
        bar = Progress(
            TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(), TextColumn("rows"),
            TextColumn("· {task.fields[orders]:,} orders"), TimeElapsedColumn(), TextColumn("left"),
            TimeRemainingColumn(), console=err, transient=False,
        )
        with bar, without_cycle_collector():
            task = bar.add_task(f"Importing {path.name}", total=info.rows, orders=0)

            last: list[ImportResult] = []

            def show(r: ImportResult) -> None:
                bar.update(task, completed=r.rows_done, orders=r.orders_imported)
                last[:] = [r]

            try:
                result = import_orders(stream, actor, company_id, info=info, batch_size=batch_size, progress=show,
                                       keep_errors=shown, keep_orders=0)
            except BaseException as exc:
                done = (f"rows 2 to {last[0].last_row} are done ({_n(last[0].orders_imported, 'order')} imported, "
                        f"{_n(last[0].rows_rejected, 'row')} rejected)" if last else "no order was imported")
                if isinstance(exc, KeyboardInterrupt):
                    bar.stop()
                    err.print(f"[bold red]Interrupted:[/] {done}; import the rows after that again.")
                    return 130
                err.print(f"[bold red]The import stopped:[/] {exc}; {done}.")
                raise

    rate = result.orders_imported / result.seconds if result.seconds else 0.0
    held = f" ({result.orders_held:,} held for review)" if result.orders_held else ""
    out.print(f"Imported {_n(result.orders_imported, 'order')}{held} from {_n(result.rows_done, 'row')} of {path.name} "
              f"into {company_code} in {result.seconds:.1f} s ({rate:,.0f} orders/s).")
    if not result.rows_rejected:
        return 0
    out.print(f"[bold red]Rejected {_n(result.rows_rejected, 'row')}[/] ({_n(result.orders_rejected, 'order')} not "
              "imported; an order with a bad row is not imported at all). Fix these rows and import them again:")
    if out.is_terminal:
        table = Table("Row", "Field", "Reason", header_style="bold")
        for e in result.errors[:shown]:
            table.add_row(str(e.row), e.field, e.message)
        out.print(table)
    else:  # piped or redirected: one line per error, tab-separated, easy to filter
        print("row\tfield\treason", file=out.file)
        for e in result.errors[:shown]:
            print(f"{e.row}\t{e.field}\t{e.message}", file=out.file)
    if result.errors_total > shown:
        out.print(f"... and {result.errors_total - shown:,} more rows with errors (not shown).")
    return 1


def _n(n: int, what: str) -> str:
    return f"{n:,} {what}{'' if n == 1 else 's'}"
