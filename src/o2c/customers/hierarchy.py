"""Account hierarchy: a global parent with its regional subsidiaries (Customer.parent_id).

The tree is global like the customer master; credit rolls up through it (o2c.credit uses group_root and
group_members: the exposure of a group is that of its root and everything below, and of the duplicates
merged into them, checked against the root account's group_credit_limit). A parent may not sit below its
own child (a cycle), a merged record is in no tree, and the tree is never deeper than MAX_DEPTH (a guard
against bad data, not a business rule).
"""
from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from o2c.core import audit, events, masterdata
from o2c.core.auth import Actor, require
from o2c.core.errors import Conflict, FieldError, ValidationFailed
from o2c.customers import service
from o2c.customers.models import Customer

MAX_DEPTH = 20


def _conflict(message: str, field: str, code: str = "state", **extra) -> Conflict:
    """A 409 whose errors name the field, like a 422 does."""
    return Conflict(message, [FieldError(field, code, message)], **extra)


def _parent_of(session: Session, customer_id: int) -> int | None:
    return session.scalar(select(Customer.parent_id).where(Customer.id == customer_id))


def ancestors(session: Session, customer_id: int) -> list[int]:
    """The parent, its parent, ... up to the root (not the customer itself)."""
    out: list[int] = []
    current = _parent_of(session, customer_id)
    while current is not None and current not in out and len(out) <= MAX_DEPTH:
        out.append(current)
        current = _parent_of(session, current)
    return out


def group_root(session: Session, customer_id: int) -> int:
    """The top of the customer's group (the customer itself when it has no parent)."""
    up = ancestors(session, customer_id)
    return up[-1] if up else customer_id


def _children(session: Session, parent_ids: list[int]) -> list[tuple[int, int]]:
    return list(session.execute(select(Customer.id, Customer.parent_id)
                                .where(Customer.parent_id.in_(parent_ids)).order_by(Customer.id)))


def group_members(session: Session, root_id: int, with_merged: bool = True) -> list[int]:
    """`root_id` and all customers below it, root first then level by level (one query per level); then,
    unless with_merged is False, the duplicates merged into any of them (o2c.customers.merge): their open
    items stay on their own ids and are the group's exposure all the same."""
    members, level = [root_id], [root_id]
    seen = {root_id}
    for _ in range(MAX_DEPTH):
        level = [cid for cid, _ in _children(session, level) if cid not in seen]
        if not level:
            break
        seen.update(level)
        members.extend(level)
    if with_merged:
        wave = list(members)
        while wave:  # a record merged into one that was merged in turn
            wave = [cid for cid in session.scalars(select(Customer.id).where(Customer.merged_into_id.in_(wave))
                                                   .order_by(Customer.id)) if cid not in seen]
            seen.update(wave)
            members.extend(wave)
    return members


def set_parent(session: Session, actor: Actor, company_id: int, customer_id: int, parent_id: int | None,
               reason: str | None = None) -> dict:
    """Put the customer below `parent_id` (None: make it a root). Both must be the company's customers
    and not merged; 409 when the parent is the customer or one of its descendants (a cycle)."""
    require(actor, "masterdata.write")
    c, _ = service.load(session, company_id, customer_id)
    if c.merged_into_id is not None:
        raise _conflict(f"customer {c.code} was merged into customer {c.merged_into_id}", field="customer_id")
    if parent_id is not None:
        found = service.find(session, company_id, customer_id=parent_id)
        if found is None:
            raise ValidationFailed.one("parent_id", "not_found", f"customer {parent_id} not found")
        parent = found[0]
        if parent.merged_into_id is not None:
            raise _conflict(f"customer {parent.code} was merged into customer {parent.merged_into_id}: "
                           "name the golden record as parent", field="parent_id")
        if parent.id == c.id or c.id in ancestors(session, parent.id):
            raise _conflict(f"customer {parent.code} is {c.code} or below it: a customer cannot be its own "
                           "ancestor", field="parent_id", code="cycle")
        if len(ancestors(session, parent.id)) + 1 + _height(session, c.id) > MAX_DEPTH:
            raise _conflict(f"the group would be deeper than {MAX_DEPTH} levels", field="parent_id")
    before = c.parent_id
    if before == parent_id:
        return tree(session, company_id, group_root(session, c.id))
    c.parent_id = parent_id
    session.flush()
    data = {"parent_id": parent_id, "before": before}
    audit.record(session, actor, "customer", c.id, "parent_set", company_id=company_id, reason=reason, data=data)
    events.emit(session, "customer.parent_changed", {"customer_id": c.id, **data},
                company_id=company_id, entity_id=c.id)
    masterdata.bump(session, company_id)
    return tree(session, company_id, group_root(session, c.id))


def _height(session: Session, customer_id: int) -> int:
    """Levels below the customer (0 for a leaf)."""
    height, level = 0, [customer_id]
    while level and height <= MAX_DEPTH:
        level = [cid for cid, _ in _children(session, level)]
        if level:
            height += 1
    return height


def tree(session: Session, company_id: int, root_id: int) -> dict:
    """The group under `root_id` as nested nodes: id, code, legal_name, children. Customers without an
    account in this company still show (the tree is global), marked in_company False."""
    service.load(session, company_id, root_id)
    ids = group_members(session, root_id, with_merged=False)
    rows = {c.id: c for c in session.scalars(select(Customer).where(Customer.id.in_(ids)))}
    in_company = {cid for cid in ids if service.find(session, company_id, customer_id=cid) is not None}
    nodes = {cid: {"id": cid, "code": rows[cid].code, "legal_name": rows[cid].legal_name,
                   "parent_id": rows[cid].parent_id, "in_company": cid in in_company, "children": []}
             for cid in ids}
    for cid in ids[1:]:
        nodes[rows[cid].parent_id]["children"].append(nodes[cid])
    return nodes[root_id]


def hierarchy(session: Session, company_id: int, customer_id: int) -> dict:
    """The customer's whole group, from its root, with the customer's path to the root."""
    service.load(session, company_id, customer_id)
    root = group_root(session, customer_id)
    return {"customer_id": customer_id, "root_id": root,
            "path": [customer_id] + ancestors(session, customer_id), "tree": tree(session, company_id, root)}
