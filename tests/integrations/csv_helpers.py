"""Helpers for the CSV import tests: run an import as a user, read back what it left."""
from __future__ import annotations

import io
from pathlib import Path

from sqlalchemy import select

from o2c.core.auth import actor_for_user
from o2c.core.db import get_engine, read_session
from o2c.core.models import User
from o2c.integrations.csv_orders import import_orders
from o2c.models import metadata

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "orders"


def fixture(name: str) -> bytes:
    return (FIXTURES / name).read_bytes()


def actor(username: str = "desk"):
    with read_session() as s:
        return actor_for_user(s, s.scalar(select(User).where(User.username == username)))


def run(world, data: bytes | str, user: str = "desk", **kw):
    if isinstance(data, str):
        data = data.encode()
    return import_orders(io.BytesIO(data), actor(user), world["ids"]["company"], **kw)


def rows(table: str, **where) -> list[dict]:
    t = metadata.tables[table]
    stmt = select(t).order_by(t.c.id)
    for k, v in where.items():
        stmt = stmt.where(t.c[k] == v)
    with get_engine().connect() as c:
        return [dict(r._mapping) for r in c.execute(stmt)]


def count(table: str) -> int:
    return len(rows(table))


def stock(sku: str, warehouse: str) -> tuple[str, str]:
    """(on hand, reserved) of one stock row, as strings ('5', '2')."""
    p, w, s = (metadata.tables[n] for n in ("products", "warehouses", "stock"))
    with get_engine().connect() as c:
        r = c.execute(select(s.c.on_hand, s.c.reserved).join(p, p.c.id == s.c.product_id)
                      .join(w, w.c.id == s.c.warehouse_id).where(p.c.sku == sku, w.c.code == warehouse)).one()
    return format(r.on_hand.normalize(), "f"), format(r.reserved.normalize(), "f")


def errors(result) -> list[tuple[int, str, str]]:
    return [(e.row, e.field, e.code) for e in result.errors]
