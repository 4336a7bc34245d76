"""Database: engine per URL, the declarative base, exact decimal columns and the unit of work.

SQLite (the embedded default) runs in WAL mode with synchronous=FULL and begins every write
transaction with BEGIN IMMEDIATE, so two writers never deadlock on a lock upgrade. PostgreSQL runs at
READ COMMITTED with explicit row locks taken in a fixed order; a transaction that still fails with a
serialization failure or a deadlock (SQLSTATE 40001, 40P01) is retried from the start.
"""
from __future__ import annotations

import contextlib
import random
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta, timezone
from decimal import Decimal, InvalidOperation
from typing import Any, TypeVar

from sqlalchemy import JSON, BigInteger, DateTime, Integer, MetaData, Numeric, create_engine, event
from sqlalchemy.engine import Engine
from sqlalchemy.exc import DBAPIError, OperationalError
from sqlalchemy.orm import DeclarativeBase, Session, sessionmaker
from sqlalchemy.types import TypeDecorator

from o2c.core.settings import get_settings

T = TypeVar("T")

# Integer ids: BIGINT on PostgreSQL, INTEGER (the rowid alias) on SQLite.
Id = BigInteger().with_variant(Integer(), "sqlite")

NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)


class ExactDecimal(TypeDecorator):
    """A Decimal with a fixed scale: NUMERIC on PostgreSQL, a scaled INTEGER on SQLite.

    SQLite has no exact decimal type (NUMERIC becomes a double), so there the value is stored as an
    integer count of 10^-scale units; comparisons and sums in SQL stay exact on both.
    """

    impl = Numeric
    cache_ok = True

    def __init__(self, scale: int = 4):
        super().__init__()
        self.scale = scale
        self._factor = Decimal(10) ** scale
        self._quantum = Decimal(1).scaleb(-scale)  # computed once: these run for every value of every row

    def __repr__(self) -> str:  # how Alembic writes it into a migration
        return f"ExactDecimal({self.scale})"

    def load_dialect_impl(self, dialect):
        if dialect.name == "sqlite":
            return dialect.type_descriptor(BigInteger())
        return dialect.type_descriptor(Numeric(20, self.scale, asdecimal=True))

    def process_bind_param(self, value, dialect):
        if value is None:
            return None
        if value.__class__ is not Decimal:
            value = Decimal(value)
        if dialect.name != "sqlite":
            # the common case: at most `scale` decimals (a value too large to quantize is checked below)
            with contextlib.suppress(InvalidOperation):
                if value.quantize(self._quantum) == value:
                    return value
        scaled = value * self._factor
        if scaled != scaled.to_integral_value():
            raise ValueError(f"{value} has more than {self.scale} decimals")
        if dialect.name == "sqlite":
            return int(scaled)
        return value

    def process_result_value(self, value, dialect):
        if value is None:
            return None
        if dialect.name == "sqlite":
            return (Decimal(int(value)) / self._factor).quantize(self._quantum)
        return (value if value.__class__ is Decimal else Decimal(value)).quantize(self._quantum)


_NO_OFFSET = timedelta(0)


class UtcDateTime(TypeDecorator):
    """Timestamps stored in UTC, returned timezone-aware on both databases."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value, dialect):
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime; use o2c.core.clock.now()")
        return value.astimezone(timezone.utc)

    def process_result_value(self, value, dialect):
        if value is None:
            return None
        # PostgreSQL sessions run in UTC (make_engine), so this is a cheap relabel, not a conversion
        if value.tzinfo is None or value.utcoffset() == _NO_OFFSET:
            return value.replace(tzinfo=timezone.utc)
        return value.astimezone(timezone.utc)


JsonType = JSON().with_variant(JSON(none_as_null=True), "postgresql")


def _sqlite_setup(engine: Engine) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn, _record):
        dbapi_conn.isolation_level = None  # we issue BEGIN ourselves
        cur = dbapi_conn.cursor()
        cur.execute("PRAGMA journal_mode=WAL")
        cur.execute("PRAGMA synchronous=FULL")
        cur.execute("PRAGMA foreign_keys=ON")
        cur.execute("PRAGMA busy_timeout=30000")
        cur.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn):
        if conn.get_execution_options().get("o2c_readonly"):
            conn.exec_driver_sql("BEGIN")
        else:
            conn.exec_driver_sql("BEGIN IMMEDIATE")


_engines: dict[str, Engine] = {}
_engines_lock = threading.Lock()


def make_engine(url: str, **kw: Any) -> Engine:
    if url.startswith("sqlite"):
        engine = create_engine(url, connect_args={"timeout": 30, "check_same_thread": False}, **kw)
        _sqlite_setup(engine)
        return engine
    settings = get_settings()
    return create_engine(
        url,
        connect_args={"options": "-c TimeZone=UTC"},
        pool_size=kw.pop("pool_size", settings.pool_size),
        max_overflow=kw.pop("max_overflow", 10),
        pool_pre_ping=True,
        **kw,
    )


def get_engine(url: str | None = None) -> Engine:
    url = url or get_settings().database_url
    with _engines_lock:
        engine = _engines.get(url)
        if engine is None:
            engine = _engines[url] = make_engine(url)
        return engine


def dispose_engines() -> None:
    with _engines_lock:
        for engine in _engines.values():
            engine.dispose()
        _engines.clear()


@event.listens_for(Session, "before_commit")
def _seal_audit(session: Session) -> None:
    """Every session, at COMMIT: seal the audit records it wrote into the hash chain (o2c.core.audit)."""
    if session.info.get("o2c_audit_unsealed"):
        from o2c.core import audit

        audit.seal_on_commit(session)


_factories: dict[int, sessionmaker] = {}


def _factory(engine: Engine) -> sessionmaker:
    f = _factories.get(id(engine))
    if f is None:
        f = _factories[id(engine)] = sessionmaker(engine, expire_on_commit=False, autoflush=False)
    return f


RETRYABLE = {"40001", "40P01"}


def is_retryable(exc: BaseException) -> bool:
    """A serialization failure or deadlock (PostgreSQL), or a busy database (SQLite): run it again."""
    if getattr(exc, "o2c_retryable", False):  # e.g. o2c.core.audit.SealRace
        return True
    if isinstance(exc, DBAPIError):
        code = getattr(exc.orig, "sqlstate", None)
        if code in RETRYABLE:
            return True
        if isinstance(exc, OperationalError) and "database is locked" in str(exc.orig):
            return True
    return False


@contextmanager
def read_session(engine: Engine | None = None) -> Iterator[Session]:
    """A session for reads: a plain (deferred) transaction that is rolled back at the end."""
    engine = engine or get_engine()
    with _factory(engine)() as session:
        session.connection(execution_options={"o2c_readonly": True})
        try:
            yield session
        finally:
            session.rollback()


def transaction(fn: Callable[[Session], T], engine: Engine | None = None, attempts: int = 8) -> T:
    """Run `fn(session)` in one write transaction and commit; retry on serialization failure/deadlock.

    `fn` must be safe to run again from the start: everything it did is rolled back before a retry.
    """
    engine = engine or get_engine()
    for attempt in range(1, attempts + 1):
        session = _factory(engine)()
        try:
            result = fn(session)
            session.commit()
            return result
        except Exception as exc:
            session.rollback()
            if attempt < attempts and is_retryable(exc):
                time.sleep(random.uniform(0.001, 0.01) * attempt)
                continue
            raise
        finally:
            session.close()
    raise AssertionError("unreachable")


def utcnow() -> datetime:
    from o2c.core import clock

    return clock.now()
