"""The migrations build exactly the schema the models describe, on SQLite and on PostgreSQL,
and can be rolled back to nothing."""
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import create_engine, inspect

from o2c.core.migrate import downgrade, upgrade
from o2c.models import metadata


def _diff(url):
    engine = create_engine(url)
    with engine.connect() as conn:
        ctx = MigrationContext.configure(conn, opts={"compare_type": True})
        diff = compare_metadata(ctx, metadata)
    engine.dispose()
    return diff


def test_migrated_schema_matches_the_models(db):
    assert _diff(db) == []


def test_downgrade_removes_every_table_and_upgrade_restores_them(db):
    downgrade(db, "base")
    engine = create_engine(db)
    assert [t for t in inspect(engine).get_table_names() if t != "alembic_version"] == []
    upgrade(db)
    assert set(metadata.tables) <= set(inspect(engine).get_table_names())
    engine.dispose()
    assert _diff(db) == []
