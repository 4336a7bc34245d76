"""The outbox: events are delivered at least once to every subscriber, and each subscriber's
database work happens once (its delivery row commits with it). Custom subscriber maps stand in for
process.py so each property is seen on its own."""
from __future__ import annotations

import threading
import time
from collections import Counter
from datetime import timedelta

import pytest
from sqlalchemy import func, select

from o2c.core import audit, clock
from o2c.core.auth import SYSTEM
from o2c.core.db import read_session, transaction
from o2c.core.events import _backoff, dispatch_pending, emit, external, subscriber_name
from o2c.core.models import AuditRecord, OutboxDelivery, OutboxEvent
from tests.outbox import deliveries, event_row, pending


@pytest.fixture(autouse=True)
def _running_clock():
    yield
    clock.freeze(None)


def _emit(topic: str, n: int = 1) -> list[int]:
    def go(s):
        for i in range(n):
            emit(s, topic, {"i": i}, company_id=None, entity_id=i + 1)
        s.flush()

    transaction(go)
    with read_session() as s:
        return list(s.scalars(select(OutboxEvent.id).where(OutboxEvent.topic == topic).order_by(OutboxEvent.id)))


def _audit_count(action: str) -> int:
    with read_session() as s:
        return s.scalar(select(func.count(AuditRecord.id)).where(AuditRecord.action == action))


def _db_effect(session, event):
    """A subscriber with a database side effect: it writes one audit record per event it handles."""
    audit.record(session, SYSTEM, "test", event.entity_id or 0, "handled", data={"event": event.id})


def test_a_failing_subscriber_is_retried_with_backoff_and_the_others_run_once(db):
    calls = {"flaky": 0}

    def flaky(session, event):
        calls["flaky"] += 1
        if calls["flaky"] <= 2:
            raise ConnectionError(f"downstream unavailable (try {calls['flaky']})")

    subs = {"thing.happened": [_db_effect, flaky]}
    [event_id] = _emit("thing.happened")
    t0 = clock.now()
    clock.freeze(t0)

    assert dispatch_pending(subscribers=subs) == 1
    e = event_row("thing.happened")
    assert (e.attempts, e.processed_at) == (1, None)
    assert "flaky" in e.last_error and "downstream unavailable (try 1)" in e.last_error
    assert e.available_at == t0 + timedelta(seconds=2)
    assert _audit_count("handled") == 1
    assert deliveries(event_id) == [subscriber_name(_db_effect)]

    assert dispatch_pending(subscribers=subs) == 0  # waits out the backoff
    assert calls["flaky"] == 1

    clock.freeze(t0 + timedelta(seconds=2))
    assert dispatch_pending(subscribers=subs) == 1
    e = event_row("thing.happened")
    assert (e.attempts, e.processed_at) == (2, None)
    assert "try 2" in e.last_error
    assert e.available_at == t0 + timedelta(seconds=2 + 4)  # backoff doubles

    clock.freeze(t0 + timedelta(seconds=6))
    assert dispatch_pending(subscribers=subs) == 1
    e = event_row("thing.happened")
    assert e.processed_at == t0 + timedelta(seconds=6)
    assert e.attempts == 2
    assert calls["flaky"] == 3
    assert _audit_count("handled") == 1  # the database subscriber ran exactly once
    assert len(deliveries(event_id)) == 2
    assert dispatch_pending(subscribers=subs) == 0


def test_crash_before_commit_redelivers_but_the_database_effect_happens_once(db, monkeypatch):
    from sqlalchemy.orm import Session

    sent = []

    def external(session, event):
        sent.append(event.id)  # a side effect outside the database (like an email)

    subs = {"thing.happened": [_db_effect, external]}
    [event_id] = _emit("thing.happened")
    real_commit = Session.commit
    state = {"crash": True}

    def commit(self):
        if state["crash"] and any(isinstance(o, OutboxEvent) for o in self.identity_map.values()):
            state["crash"] = False
            raise RuntimeError("killed between side effect and commit")
        return real_commit(self)

    monkeypatch.setattr(Session, "commit", commit)
    with pytest.raises(RuntimeError):
        dispatch_pending(subscribers=subs)
    assert sent == [event_id]
    assert _audit_count("handled") == 0  # rolled back with the delivery rows
    assert deliveries(event_id) == []
    assert pending() == 1

    assert dispatch_pending(subscribers=subs) == 1
    assert sent == [event_id, event_id]  # at least once: the outside effect repeats
    assert _audit_count("handled") == 1  # the database effect does not
    assert dispatch_pending(subscribers=subs) == 0
    assert _audit_count("handled") == 1 and sent == [event_id, event_id]


def test_dispatching_twice_delivers_once(db):
    seen = []
    subs = {"a": [lambda s, e: seen.append(e.id)]}
    ids = _emit("a", 5)
    assert dispatch_pending(subscribers=subs) == 5
    assert dispatch_pending(subscribers=subs) == 0
    assert seen == ids
    assert pending() == 0


def test_racing_dispatchers_deliver_each_event_once_per_subscriber(pg):
    """Four dispatchers on PostgreSQL drain 120 events of two topics; every (event, subscriber) pair is
    handled exactly once, by whichever dispatcher claimed it."""
    lock = threading.Lock()
    seen: Counter = Counter()

    @external  # claimed with a lease, run outside the transaction
    def outside(session, event):
        time.sleep(0.001)
        with lock:
            seen[(event.id, "outside")] += 1

    def other(session, event):
        with lock:
            seen[(event.id, "other")] += 1

    subs = {"x": [_db_effect, outside], "y": [outside, other]}
    xs = _emit("x", 60)
    ys = _emit("y", 60)
    handled = [0] * 4
    errors = []
    start = threading.Barrier(4)

    def run(i):
        try:
            start.wait()
            handled[i] = dispatch_pending(subscribers=subs)
        except Exception as exc:  # surfaced by the assertion below
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(i,)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert errors == []
    assert sum(handled) == 120
    assert sum(1 for h in handled if h) >= 2  # the work was really shared
    assert pending() == 0
    assert set(seen.values()) == {1}
    assert set(seen) == {(e, "outside") for e in xs + ys} | {(e, "other") for e in ys}
    assert _audit_count("handled") == 60
    with read_session() as s:
        assert s.scalar(select(func.count()).select_from(OutboxDelivery)) == 60 * 2 + 60 * 2


def test_an_event_exists_exactly_when_its_change_commits(db):
    def change_then_fail(s):
        audit.record(s, SYSTEM, "test", 1, "changed")
        emit(s, "thing.changed", {}, company_id=None, entity_id=1)
        s.flush()
        raise ValueError("the use case failed after emitting")

    with pytest.raises(ValueError):
        transaction(change_then_fail)
    assert pending() == 0 and _audit_count("changed") == 0

    transaction(lambda s: (audit.record(s, SYSTEM, "test", 1, "changed"),
                           emit(s, "thing.changed", {"n": 1}, company_id=None, entity_id=1)))
    assert pending() == 1 and _audit_count("changed") == 1
    assert event_row("thing.changed").payload == {"n": 1}


def test_an_event_nobody_subscribes_to_is_closed_and_backoff_is_capped(db):
    _emit("nobody.listens")
    assert dispatch_pending(subscribers={}) == 1
    assert event_row("nobody.listens").processed_at is not None
    assert [_backoff(n).total_seconds() for n in (1, 2, 3, 11, 12, 40)] == [2, 4, 8, 2048, 3600, 3600]
