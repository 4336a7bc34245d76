"""Bring a database's schema up to date with the migrations shipped in the package."""
from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config

MIGRATIONS = Path(__file__).resolve().parent.parent / "migrations"


def alembic_config(url: str) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    cfg.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return cfg


def upgrade(url: str, revision: str = "head") -> None:
    command.upgrade(alembic_config(url), revision)
    if revision == "head":
        _seal_audit_records(url)


def _seal_audit_records(url: str) -> None:
    """Chain the audit records that are not sealed yet: on a database upgraded to the hash chain, those
    written before it existed (the chain vouches for them from now on)."""
    from o2c.core import audit
    from o2c.core.db import get_engine, transaction

    transaction(audit.seal, engine=get_engine(url))


def downgrade(url: str, revision: str) -> None:
    command.downgrade(alembic_config(url), revision)
