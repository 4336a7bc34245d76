"""Writing audit records: one per change, in the transaction of the change."""
from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from o2c.core import clock
from o2c.core.auth import Actor
from o2c.core.models import AuditRecord


def record(
    session: Session,
    actor: Actor,
    entity: str,
    entity_id: int,
    action: str,
    *,
    company_id: int | None = None,
    from_status: str | None = None,
    to_status: str | None = None,
    reason: str | None = None,
    data: dict | None = None,
) -> None:
    session.add(
        AuditRecord(
            company_id=company_id,
            at=clock.now(),
            actor_id=actor.user_id,
            actor=actor.username,
            entity=entity,
            entity_id=entity_id,
            action=action,
            from_status=from_status,
            to_status=to_status,
            reason=reason,
            data=data,
        )
    )


def history(session: Session, entity: str, entity_id: int) -> list[AuditRecord]:
    return list(
        session.scalars(
            select(AuditRecord)
            .where(AuditRecord.entity == entity, AuditRecord.entity_id == entity_id)
            .order_by(AuditRecord.id)
        )
    )
