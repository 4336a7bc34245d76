"""Whether the user on a queue page may take an action, and if not, why: the same permission and
segregation-of-duties rules the services enforce (o2c.core.auth, o2c.core.sod), asked without raising, so
the page shows a disabled button with its reason instead of a button that is refused."""
from __future__ import annotations

from sqlalchemy.orm import Session

from o2c.core import sod
from o2c.core.auth import ROLES, Actor


def lacks(actor: Actor, permission: str) -> str | None:
    """The missing permission in words, with the roles that hold it; None when the actor has it."""
    if actor.can(permission):
        return None
    roles = sorted(r for r, perms in ROLES.items() if permission in perms and r != "admin")
    return f"needs the {permission} permission ({', '.join(roles) or 'admin'})"


def entered_conflict(session: Session, actor: Actor, duty: str, entered_by: int | None) -> str | None:
    """The segregation-of-duties rule that keeps the user who entered the order from `duty` on it."""
    rule = sod.conflict(session, actor, duty, "enter_order", [entered_by])
    return None if rule is None else f"You entered this order: segregation of duties — {rule.title}"


def refusal(session: Session, actor: Actor, permission: str, duty: str | None = None,
            entered_by: int | None = None) -> str | None:
    """Why the actor may not act (permission first, then the order-entry conflict, as the services check)."""
    return lacks(actor, permission) or (entered_conflict(session, actor, duty, entered_by) if duty else None)
