"""Events through the transactional outbox, and the dispatcher that delivers them.

`emit` writes the event in the caller's transaction, so it exists exactly when the change does.
The dispatcher hands each event to every subscriber wired in `o2c.process`, records the delivery per
(event, subscriber) in the subscriber's own savepoint, and retries failures with backoff. Delivery is
at least once: a subscriber may see an event again after a crash, so every subscriber is idempotent
(a database subscriber is made so by the delivery row committed with its work).
Several workers may run against PostgreSQL: each claims events with FOR UPDATE SKIP LOCKED.
"""
from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Mapping, Sequence
from datetime import timedelta

from sqlalchemy import exists, select
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session

from o2c.core import clock
from o2c.core.db import get_engine, transaction
from o2c.core.models import OutboxDelivery, OutboxEvent

log = logging.getLogger("o2c.events")

Subscriber = Callable[[Session, OutboxEvent], None]


def emit(session: Session, topic: str, payload: dict, *, company_id: int | None, entity_id: int | None) -> None:
    now = clock.now()
    session.add(
        OutboxEvent(
            company_id=company_id,
            topic=topic,
            entity_id=entity_id,
            payload=payload,
            created_at=now,
            available_at=now,
            attempts=0,
        )
    )


def subscriber_name(fn: Subscriber) -> str:
    return f"{fn.__module__}.{fn.__qualname__}"


def _backoff(attempts: int) -> timedelta:
    return timedelta(seconds=min(3600, 2 ** min(attempts, 12)))


def _deliver_one(session: Session, subscribers: Mapping[str, Sequence[Subscriber]]) -> bool:
    event = session.scalars(
        select(OutboxEvent)
        .where(OutboxEvent.processed_at.is_(None), OutboxEvent.available_at <= clock.now())
        .order_by(OutboxEvent.id)
        .limit(1)
        .with_for_update(skip_locked=True)
    ).first()
    if event is None:
        return False
    failures = []
    for fn in subscribers.get(event.topic, ()):
        name = subscriber_name(fn)
        done = session.scalar(
            select(exists().where(OutboxDelivery.event_id == event.id, OutboxDelivery.subscriber == name))
        )
        if done:
            continue
        savepoint = session.begin_nested()
        try:
            fn(session, event)
            session.add(OutboxDelivery(event_id=event.id, subscriber=name, delivered_at=clock.now()))
            savepoint.commit()
        except Exception as exc:  # a failing subscriber must not stop the others
            savepoint.rollback()
            log.warning("event %s (%s) failed in %s: %s", event.id, event.topic, name, exc)
            failures.append(f"{name}: {exc}")
    if failures:
        event.attempts += 1
        event.last_error = "; ".join(failures)[:4000]
        event.available_at = clock.now() + _backoff(event.attempts)
    else:
        event.processed_at = clock.now()
    return True


def dispatch_pending(
    subscribers: Mapping[str, Sequence[Subscriber]] | None = None,
    engine: Engine | None = None,
    limit: int = 10_000,
) -> int:
    """Deliver events that are due, one transaction per event; return how many were handled."""
    if subscribers is None:
        from o2c.process import SUBSCRIBERS as subscribers
    engine = engine or get_engine()
    handled = 0
    while handled < limit:
        if not transaction(lambda s: _deliver_one(s, subscribers), engine=engine):
            break
        handled += 1
    return handled


class Dispatcher(threading.Thread):
    """Polls the outbox until stopped: the in-process dispatcher of `serve`, and `o2c worker`."""

    def __init__(self, engine: Engine | None = None, poll_seconds: float = 1.0):
        super().__init__(name="o2c-dispatcher", daemon=True)
        self.engine = engine
        self.poll_seconds = poll_seconds
        self._stop_event = threading.Event()

    def run(self) -> None:
        while not self._stop_event.is_set():
            try:
                dispatch_pending(engine=self.engine, limit=500)
            except Exception:  # keep polling: the next round retries
                log.exception("dispatcher round failed")
            self._stop_event.wait(self.poll_seconds)

    def stop(self) -> None:
        self._stop_event.set()
