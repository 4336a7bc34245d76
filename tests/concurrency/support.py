"""What the concurrency tests share: a count of the transactions the database made us retry."""
from __future__ import annotations

from o2c.core import db as o2c_db


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
