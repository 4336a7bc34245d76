"""Reference data kept in memory per process, correct by construction.

Order capture needs the customer and its account, products, price breaks, tax rates and the default
ship-to on every order; reading them each time costs more than the rest of the order. Every change to
them bumps the company's `masterdata_version` in the same transaction (`bump`). Capture reads the
company row anyway; entries cached under an older version are dropped, so an order is never priced
from data older than the company row its transaction read.

Cached values are read-only snapshots: ORM objects are detached from the session that loaded them as
soon as they are loaded (`detach`), so no rollback or commit of that session can expire them under
another thread. Never modify or re-attach them.
"""
from __future__ import annotations

import threading
from collections.abc import Callable, Hashable, Iterable
from typing import Any

from sqlalchemy import update
from sqlalchemy.orm import Session

from o2c.core.models import Company


def bump(session: Session, company_id: int) -> None:
    session.execute(
        update(Company).where(Company.id == company_id).values(masterdata_version=Company.masterdata_version + 1)
    )


def detach(session: Session, value: Any) -> Any:
    """Expunge the ORM objects in `value` (an object, a tuple of them, or a dict's values)."""
    items = value.values() if isinstance(value, dict) else value if isinstance(value, (tuple, list)) else (value,)
    for obj in items:
        if obj is not None and hasattr(obj, "_sa_instance_state") and obj in session:
            session.expunge(obj)
    return value


_MISSING = object()


class _CompanyCache:
    def __init__(self, version: int):
        self.version = version
        self.entries: dict[Hashable, Any] = {}


class Cache:
    """Per-process cache of reference data, per company and version. Bounded: a company's entries are
    dropped wholesale when they exceed `max_entries`."""

    def __init__(self, max_entries: int = 200_000):
        self._companies: dict[tuple[int, int], _CompanyCache] = {}
        self._lock = threading.Lock()
        self.max_entries = max_entries

    def _bucket(self, session: Session, company: Company) -> _CompanyCache:
        # one bucket per database (engine) and company: a process may talk to several databases
        key, version = (id(session.get_bind()), company.id), company.masterdata_version
        with self._lock:
            bucket = self._companies.get(key)
            if bucket is None or bucket.version < version or len(bucket.entries) > self.max_entries:
                bucket = self._companies[key] = _CompanyCache(version)
            return bucket

    def one(self, session: Session, company: Company, key: Hashable, load: Callable[[], Any]) -> Any:
        bucket = self._bucket(session, company)
        if bucket.version != company.masterdata_version:  # this transaction read an older company row: do not mix
            return load()
        value = bucket.entries.get(key, _MISSING)
        if value is _MISSING:
            value = load()
            bucket.entries[key] = value
        return value

    def many(self, session: Session, company: Company, kind: Hashable, keys: Iterable[Hashable],
             load: Callable[[list], dict]) -> dict:
        """Values for `keys` (missing ones loaded in one call of `load(missing_keys) -> {key: value}`;
        keys `load` does not return are cached as absent)."""
        keys = list(dict.fromkeys(keys))
        bucket = self._bucket(session, company)
        if bucket.version != company.masterdata_version:
            return load(keys)
        out, missing = {}, []
        for k in keys:
            v = bucket.entries.get((kind, k), _MISSING)
            if v is _MISSING:
                missing.append(k)
            elif v is not None:
                out[k] = v
        if missing:
            loaded = load(missing)
            for k in missing:
                bucket.entries[(kind, k)] = loaded.get(k)
            out.update({k: v for k, v in loaded.items() if v is not None})
        return out

    def clear(self) -> None:
        with self._lock:
            self._companies.clear()


CACHE = Cache()
