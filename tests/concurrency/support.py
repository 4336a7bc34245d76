"""What the concurrency tests share: jobs started together in threads, a count of the transactions the
database made us retry, a pool wide enough for their threads, and an equipped API client."""
from __future__ import annotations

import threading
from contextlib import contextmanager

from o2c.core import db as o2c_db


def at_once(jobs) -> tuple[list, list[BaseException]]:
    """Run the jobs in threads released together by a barrier; return what they returned and what
    they raised (the test says which it expects)."""
    start = threading.Barrier(len(jobs))
    results, errors = [], []

    def run(job):
        start.wait()
        try:
            results.append(job())
        except Exception as exc:  # collected for the test to judge
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(j,)) for j in jobs]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    return results, errors


def count_retries(monkeypatch) -> list[str]:
    """Wraps o2c.core.db.is_retryable for the test: every error it calls retryable (a deadlock, a
    serialization failure) is appended to the returned list, by SQLSTATE where the driver gives one,
    so a test can say which it must never see (e.g. "40P01", a deadlock)."""
    retried: list[str] = []
    original = o2c_db.is_retryable

    def counting(exc):
        found = original(exc)
        if found:
            retried.append(getattr(getattr(exc, "orig", None), "sqlstate", None) or str(exc)[:40])
        return found

    monkeypatch.setattr(o2c_db, "is_retryable", counting)
    return retried


def wide_pool(monkeypatch, size: int = 10) -> None:
    """A connection pool wide enough for the test's threads (fresh engines: the old ones are disposed)."""
    from o2c.core.db import dispose_engines
    from o2c.core.settings import get_settings

    monkeypatch.setenv("O2C_POOL_SIZE", str(size))
    get_settings.cache_clear()
    dispose_engines()


@contextmanager
def equipped_api(world: dict):
    """An API client speaking as the world's users, the warehouse equipped (carriers, boxes, bins)."""
    from fastapi.testclient import TestClient

    from o2c.web.app import create_app
    from tests.conftest import Api
    from tests.shipping_world import equip

    with TestClient(create_app(), raise_server_exceptions=False) as client:
        api = Api(client, world["keys"])
        equip(api)
        yield api
