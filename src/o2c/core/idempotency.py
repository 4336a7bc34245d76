"""Idempotency-Key handling for POSTs that create something.

The key is stored with a hash of the request and the response, in the same transaction as the
creation itself: a retry with the same key and body gets the first response back; with another body it
is refused; two retries racing each other cannot both create, because the second one's insert of the
key waits on the first one's (unique index) and then finds it.
"""
from __future__ import annotations

import hashlib
import json
from collections.abc import Callable

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from o2c.core import clock
from o2c.core.auth import Actor
from o2c.core.db import read_session, transaction
from o2c.core.errors import FieldError, IdempotencyMismatch, ValidationFailed
from o2c.core.models import IdempotencyKey

Work = Callable[[Session], tuple[int, dict]]


def request_hash(method: str, path: str, body: bytes) -> str:
    try:
        canonical = json.dumps(json.loads(body or b"null"), sort_keys=True, separators=(",", ":"))
    except ValueError:
        canonical = body.decode("utf-8", "replace")
    return hashlib.sha256(f"{method} {path}\n{canonical}".encode()).hexdigest()


def _stored(session: Session, user_id: int, key: str) -> IdempotencyKey | None:
    return session.scalar(select(IdempotencyKey).where(IdempotencyKey.user_id == user_id, IdempotencyKey.key == key))


def _replay(row: IdempotencyKey, req_hash: str) -> tuple[int, dict, bool]:
    if row.request_hash != req_hash:
        message = "this Idempotency-Key was used for a different request; use a new key for a new request"
        raise IdempotencyMismatch(message, [FieldError("Idempotency-Key", "reused", message)],
                                  field="Idempotency-Key")
    return row.status_code, row.response, True


def run(actor: Actor, key: str | None, req_hash: str, work: Work) -> tuple[int, dict, bool]:
    """Run `work` once per key; returns (status, body, replayed)."""
    if key is None:
        status, body = transaction(work)
        return status, body, False
    if not (1 <= len(key) <= 255):
        raise ValidationFailed.one("Idempotency-Key", "length", "Idempotency-Key must be 1 to 255 characters")
    if actor.user_id is None:
        raise ValidationFailed.one("Idempotency-Key", "no_user", "Idempotency-Key needs an authenticated user")

    def once(session: Session):
        row = _stored(session, actor.user_id, key)
        if row is not None:
            return _replay(row, req_hash)
        status, body = work(session)
        session.add(IdempotencyKey(user_id=actor.user_id, key=key, request_hash=req_hash, status_code=status,
                                   response=body, created_at=clock.now()))
        session.flush()
        return status, body, False

    try:
        return transaction(once)
    except IntegrityError:
        with read_session() as session:  # a concurrent request with this key won the race
            row = _stored(session, actor.user_id, key)
            if row is None:
                raise
            return _replay(row, req_hash)
