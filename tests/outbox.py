"""Reading the outbox in tests: an event's row, its deliveries, what is still pending."""
from __future__ import annotations

from sqlalchemy import func, select

from o2c.core.db import read_session
from o2c.core.models import OutboxDelivery, OutboxEvent


def event_row(topic: str, entity_id: int | None = None):
    """The one event of this topic (for this entity), as a row of its columns."""
    t = OutboxEvent.__table__
    stmt = select(t).where(t.c.topic == topic)
    if entity_id is not None:
        stmt = stmt.where(t.c.entity_id == entity_id)
    with read_session() as s:
        return s.execute(stmt).one()


def deliveries(event_id: int) -> list[str]:
    with read_session() as s:
        return sorted(s.scalars(select(OutboxDelivery.subscriber).where(OutboxDelivery.event_id == event_id)))


def pending() -> int:
    with read_session() as s:
        return s.scalar(select(func.count(OutboxEvent.id)).where(OutboxEvent.processed_at.is_(None)))
