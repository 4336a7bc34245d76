"""The database layer: durable SQLite settings, exact decimals on both backends, retried conflicts."""
from decimal import Decimal as D

import pytest
from sqlalchemy import text
from sqlalchemy.exc import OperationalError, StatementError

from o2c.core.db import get_engine, read_session, transaction
from o2c.core.models import Company


def test_sqlite_is_durable_wal_with_full_sync(sqlite_url, monkeypatch):
    monkeypatch.setenv("O2C_DATABASE_URL", sqlite_url)
    with get_engine(sqlite_url).connect() as c:
        assert c.execute(text("PRAGMA journal_mode")).scalar() == "wal"
        assert c.execute(text("PRAGMA synchronous")).scalar() == 2  # FULL
        assert c.execute(text("PRAGMA foreign_keys")).scalar() == 1


def test_money_round_trips_exactly(db):
    from o2c.core import clock

    def add(s):
        s.add(Company(code="X", name="X", currency="BHD", country="BH", timezone="Asia/Bahrain",
                      price_override_threshold_pct=D("12.3456"), default_lead_days=1, created_at=clock.now()))

    transaction(add)
    with read_session() as s:
        c = s.query(Company).one()
        assert c.price_override_threshold_pct == D("12.3456")
    with pytest.raises(StatementError, match="more than 4 decimals"):  # more decimals than the column keeps is refused, not rounded away
        transaction(lambda s: setattr(s.query(Company).one(), "price_override_threshold_pct", D("1.00001")) or s.flush())


class _Serialization(Exception):
    sqlstate = "40001"


def test_a_serialization_failure_is_retried_from_the_start(db):
    calls = []

    def flaky(session):
        calls.append(1)
        if len(calls) < 3:
            raise OperationalError("UPDATE ...", {}, _Serialization("could not serialize access"))
        return "done"

    assert transaction(flaky) == "done" and len(calls) == 3


def test_other_errors_are_not_retried(db):
    calls = []

    def broken(session):
        calls.append(1)
        raise RuntimeError("bug")

    with pytest.raises(RuntimeError):
        transaction(broken)
    assert len(calls) == 1
