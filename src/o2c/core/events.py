"""Events through the transactional outbox, and the dispatcher that delivers them.

`emit` writes the event in the caller's transaction, so it exists exactly when the change does.
The dispatcher hands each event to every subscriber wired in `o2c.process`, records the delivery per
(event, subscriber), and retries failures with backoff. Delivery is at least once: a subscriber may
see an event again after a crash, so every subscriber is idempotent (a database subscriber is made so
by the delivery row committed with its work in one savepoint; an outside one, marked `@external`,
carries an id derived from the event, like an email's Message-ID).
Outside side effects run with no write transaction open: the event is claimed with a short lease
first, so a slow mail server never stalls the writers (on SQLite the write lock is the whole database).
Several workers may run against PostgreSQL: each claims events with FOR UPDATE SKIP LOCKED.
"""
from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Mapping, Sequence
from datetime import timedelta

from sqlalchemy import select
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session

from o2c.core import clock
from o2c.core.db import get_engine, read_session, transaction
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


def external(fn: Subscriber) -> Subscriber:
    """Mark a subscriber whose side effect leaves the database (an email, a webhook). It runs outside
    any write transaction, so a slow mail server never holds a write lock (on SQLite: the whole
    database, and every order entry with it). It must not write to the database; its delivery row is
    recorded right after it returns."""
    fn.o2c_external = True  # type: ignore[attr-defined]
    return fn


def _is_external(fn: Subscriber) -> bool:
    return getattr(fn, "o2c_external", False)


# How long a dispatcher may take over the outside side effects of an event it claimed; if it dies
# meanwhile, another dispatcher takes the event over once the lease ends (at least once).
LEASE = timedelta(minutes=5)


def _backoff(attempts: int) -> timedelta:
    return timedelta(seconds=min(3600, 2 ** min(attempts, 12)))


def _delivered(session: Session, event_id: int) -> set[str]:
    return set(session.scalars(select(OutboxDelivery.subscriber).where(OutboxDelivery.event_id == event_id)))


def _finish(session: Session, event: OutboxEvent, subs: Sequence[Subscriber], sent: Sequence[str],
            failures: list[str], failed: list[str]) -> None:
    """Record what the outside subscribers did, run the database subscribers (each in a savepoint with
    its delivery row), and close the event or schedule its retry."""
    done = _delivered(session, event.id)
    now = clock.now()
    for name in sent:
        if name not in done:
            session.add(OutboxDelivery(event_id=event.id, subscriber=name, delivered_at=now))
            done.add(name)
    for fn in subs:
        name = subscriber_name(fn)
        if _is_external(fn) or name in done:
            continue
        savepoint = session.begin_nested()
        try:
            fn(session, event)
            session.add(OutboxDelivery(event_id=event.id, subscriber=name, delivered_at=clock.now()))
            savepoint.commit()
        except Exception as exc:  # a failing subscriber must not stop the others
            savepoint.rollback()
            log.info("event %s (%s) failed in %s: %s", event.id, event.topic, name, exc)
            failures.append(f"{name}: {exc}")
    if failures:
        failed.append(f"event {event.id} ({event.topic}): {failures[0]}")
        event.attempts += 1
        event.last_error = "; ".join(failures)[:4000]
        event.available_at = clock.now() + _backoff(event.attempts)
    else:
        event.processed_at = clock.now()


# Events claimed by one transaction: the ones with only database subscribers are delivered in it (one
# commit for many), the others leased for their outside side effects. On SQLite a write transaction
# locks the whole database, so its batches are small: order entry never waits long behind one.
BATCH = {"postgresql": 50, "sqlite": 10}


def _claim(session: Session, subscribers: Mapping[str, Sequence[Subscriber]], failed: list[str],
           size: int) -> tuple[int, list[int]]:
    """Take up to `size` due events, oldest first. Those with only database subscribers are delivered
    here and now, each in savepoints of its own (o2c.core.events._finish); those with outside subscribers
    are leased (pushed out of the others' reach). Returns how many were taken, and the leased ids."""
    events = session.scalars(
        select(OutboxEvent)
        .where(OutboxEvent.processed_at.is_(None), OutboxEvent.available_at <= clock.now())
        .order_by(OutboxEvent.id)
        .limit(size)
        .with_for_update(skip_locked=True)
    ).all()
    leased = []
    for event in events:
        subs = subscribers.get(event.topic, ())
        outside = {subscriber_name(fn) for fn in subs if _is_external(fn)}
        if not outside or not outside - _delivered(session, event.id):
            _finish(session, event, subs, (), [], failed)
        else:
            event.available_at = clock.now() + LEASE
            leased.append(event.id)
    return len(events), leased


def _run_outside(event_id: int, subscribers: Mapping[str, Sequence[Subscriber]], engine: Engine):
    """Run the outside subscribers of a leased event, holding no write lock; return who succeeded and
    what failed."""
    sent, failures = [], []
    with read_session(engine) as session:
        event = session.get(OutboxEvent, event_id)
        done = _delivered(session, event_id)
        for fn in subscribers.get(event.topic, ()):
            name = subscriber_name(fn)
            if not _is_external(fn) or name in done:
                continue
            try:
                fn(session, event)
                sent.append(name)
            except Exception as exc:
                log.info("event %s (%s) failed in %s: %s", event.id, event.topic, name, exc)
                failures.append(f"{name}: {exc}")
    return sent, failures


def _settle(session: Session, event_id: int, subscribers, sent, failures, failed: list[str]) -> None:
    event = session.scalars(select(OutboxEvent).where(OutboxEvent.id == event_id).with_for_update()).first()
    if event is None or event.processed_at is not None:
        return  # another dispatcher finished it after our lease ran out
    _finish(session, event, subscribers.get(event.topic, ()), sent, list(failures), failed)


def dispatch_pending(
    subscribers: Mapping[str, Sequence[Subscriber]] | None = None,
    engine: Engine | None = None,
    limit: int = 10_000,
) -> int:
    """Deliver events that are due; return how many were handled. An event with only database
    subscribers takes one transaction; one with outside subscribers takes a short one to claim it,
    the side effects outside any transaction, and a short one to record them."""
    if subscribers is None:
        from o2c.process import SUBSCRIBERS as subscribers
    engine = engine or get_engine()
    handled = 0
    failed: list[str] = []  # one line per event that will be retried (details at INFO)
    while handled < limit:
        size = min(BATCH.get(engine.dialect.name, 10), limit - handled)
        taken, leased = transaction(lambda s: _claim(s, subscribers, failed, size), engine=engine)
        if not taken:
            break
        for event_id in leased:
            sent, failures = _run_outside(event_id, subscribers, engine)
            transaction(lambda s: _settle(s, event_id, subscribers, sent, failures, failed), engine=engine)
        handled += taken
    if failed:
        log.warning("%d of %d events not delivered yet, retried with backoff; first: %s",
                    len(failed), handled, failed[0])
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
