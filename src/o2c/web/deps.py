"""Request context: who is calling (API key) and for which company."""
from __future__ import annotations

import hashlib
import time
from dataclasses import dataclass
from threading import Lock
from typing import Annotated

from fastapi import Depends, Header
from sqlalchemy import select

from o2c.core.auth import Actor, actor_for_key, require
from o2c.core.db import read_session
from o2c.core.errors import Forbidden, Unauthorized, ValidationFailed
from o2c.core.models import Company

_CACHE_SECONDS = 10.0  # a revoked key stops working within this
_cache: dict[str, tuple[float, Actor]] = {}
_companies: dict[str, int] = {}
_lock = Lock()


def clear_caches() -> None:
    with _lock:
        _cache.clear()
        _companies.clear()


def _actor(key: str) -> Actor:
    h = hashlib.sha256(key.encode()).hexdigest()
    now = time.monotonic()
    with _lock:
        hit = _cache.get(h)
    if hit and hit[0] > now:
        return hit[1]
    with read_session() as session:
        actor = actor_for_key(session, key)
    with _lock:
        _cache[h] = (now + _CACHE_SECONDS, actor)
    return actor


def current_actor(
    authorization: Annotated[str | None, Header()] = None,
    x_api_key: Annotated[str | None, Header()] = None,
) -> Actor:
    key = x_api_key
    if authorization and authorization.lower().startswith("bearer "):
        key = authorization[7:].strip()
    if not key:
        raise Unauthorized("send your API key as 'Authorization: Bearer <key>' or 'X-API-Key: <key>'")
    return _actor(key)


@dataclass(frozen=True)
class Ctx:
    actor: Actor
    company_id: int


def _company_id(code: str) -> int | None:
    with _lock:
        if code in _companies:
            return _companies[code]
    with read_session() as session:
        cid = session.scalar(select(Company.id).where(Company.code == code))
    if cid is not None:
        with _lock:
            _companies[code] = cid
    return cid


def context(
    actor: Annotated[Actor, Depends(current_actor)],
    o2c_company: Annotated[str | None, Header(alias="O2C-Company", max_length=20)] = None,
) -> Ctx:
    if o2c_company:
        cid = _company_id(o2c_company)
        if cid is None:
            raise ValidationFailed.one("O2C-Company", "unknown", f"no company with code {o2c_company!r}")
        if cid not in actor.company_ids:
            raise Forbidden(f"user {actor.username!r} has no access to company {o2c_company}")
        return Ctx(actor, cid)
    if len(actor.company_ids) == 1:
        return Ctx(actor, next(iter(actor.company_ids)))
    raise ValidationFailed.one(
        "O2C-Company", "required", "this user works for several companies: name one in the O2C-Company header"
    )


def reader(ctx: Annotated[Ctx, Depends(context)]) -> Ctx:
    require(ctx.actor, "read")
    return ctx


CtxDep = Annotated[Ctx, Depends(context)]
ReaderDep = Annotated[Ctx, Depends(reader)]
IdemKey = Annotated[str | None, Header(alias="Idempotency-Key", max_length=255)]


def cursor_to_id(cursor: str | None) -> int | None:
    if cursor is None:
        return None
    if not (cursor.isascii() and cursor.isdigit() and len(cursor) <= 18):  # "²" is a digit to Python
        raise ValidationFailed.one("cursor", "invalid", "cursor must be the next_cursor of a previous page")
    return int(cursor)
