"""Test fixtures: every database test runs on SQLite and on PostgreSQL.

Each backend gets one throwaway database per test session, migrated with the real migrations, and is
emptied before each test. PostgreSQL is at O2C_TEST_PG (default: the local server, user postgres);
when it cannot be reached the PostgreSQL half is skipped on a developer machine but fails on CI (CI set).
"""
from __future__ import annotations

import os
import uuid
from dataclasses import dataclass

import pytest
from sqlalchemy import create_engine, text

from o2c.core import clock
from o2c.core.db import dispose_engines
from o2c.core.masterdata import CACHE
from o2c.core.migrate import upgrade
from o2c.core.settings import get_settings
from o2c.models import metadata

PG_ADMIN = os.environ.get("O2C_TEST_PG", "postgresql+psycopg://postgres@127.0.0.1:5432/test")


def _pg_available() -> str | None:
    try:
        eng = create_engine(PG_ADMIN, isolation_level="AUTOCOMMIT")
        with eng.connect() as c:
            c.execute(text("select 1"))
        eng.dispose()
        return None
    except Exception as exc:  # the reason, for the skip or the failure
        return str(exc).splitlines()[0]


@pytest.fixture(scope="session")
def pg_url():
    problem = _pg_available()
    if problem:
        if os.environ.get("CI"):
            pytest.fail(f"PostgreSQL is required on CI and is unreachable: {problem}")
        pytest.skip(f"PostgreSQL unreachable: {problem}")
    name = f"o2c_test_{uuid.uuid4().hex[:10]}"
    admin = create_engine(PG_ADMIN, isolation_level="AUTOCOMMIT")
    with admin.connect() as c:
        c.execute(text(f'CREATE DATABASE "{name}"'))
    url = PG_ADMIN.rsplit("/", 1)[0] + "/" + name
    upgrade(url)
    yield url
    dispose_engines()
    with admin.connect() as c:
        c.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


@pytest.fixture(scope="session")
def sqlite_url(tmp_path_factory):
    path = tmp_path_factory.mktemp("db") / "o2c.db"
    url = f"sqlite:///{path}"
    upgrade(url)
    return url


def _empty(url: str) -> None:
    eng = create_engine(url)
    tables = [t.name for t in reversed(metadata.sorted_tables)]
    with eng.begin() as c:
        if url.startswith("postgresql"):
            c.execute(text("TRUNCATE " + ", ".join(f'"{t}"' for t in tables) + " RESTART IDENTITY CASCADE"))
        else:
            for t in tables:
                c.execute(text(f'DELETE FROM "{t}"'))
            c.execute(text("DELETE FROM sqlite_sequence")) if c.execute(
                text("SELECT 1 FROM sqlite_master WHERE name='sqlite_sequence'")).first() else None
    eng.dispose()


def _use(url: str, monkeypatch) -> str:
    from o2c.web import deps

    monkeypatch.setenv("O2C_DATABASE_URL", url)
    monkeypatch.setenv("O2C_DISPATCHER_IN_PROCESS", "false")
    get_settings.cache_clear()
    dispose_engines()
    deps.clear_caches()
    CACHE.clear()  # the tables are emptied and ids start again: nothing cached may survive
    _empty(url)
    return url


@pytest.fixture(params=["sqlite", "postgresql"])
def db(request, monkeypatch):
    """The database URL of this test's backend, empty and current, set as O2C_DATABASE_URL."""
    url = request.getfixturevalue(f"{'pg' if request.param == 'postgresql' else 'sqlite'}_url")
    yield _use(url, monkeypatch)
    clock.freeze(None)
    dispose_engines()
    get_settings.cache_clear()


@pytest.fixture
def pg(request, monkeypatch):
    """PostgreSQL only: concurrency tests."""
    url = request.getfixturevalue("pg_url")
    yield _use(url, monkeypatch)
    dispose_engines()
    get_settings.cache_clear()


@dataclass
class Api:
    """A TestClient that speaks as one user at a time."""

    client: object
    keys: dict

    def as_(self, user: str) -> dict:
        return {"Authorization": f"Bearer {self.keys[user]}"}

    def __getattr__(self, verb):
        def call(path, user="desk", headers=None, **kw):
            h = self.as_(user) | (headers or {})
            return getattr(self.client, verb)(f"/api/v1{path}", headers=h, **kw)

        return call


@pytest.fixture
def world(db):
    from tests.world import make

    return make()


@pytest.fixture
def api(world):
    from fastapi.testclient import TestClient

    from o2c.web.app import create_app

    with TestClient(create_app(), raise_server_exceptions=False) as client:
        yield Api(client, world["keys"])
