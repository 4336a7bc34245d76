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


def test_a_database_with_data_upgrades_to_the_hash_chain_and_its_records_are_sealed(db):
    """An o2c database from before issue 5 (revision 0008) holding a customer, its address, an order and
    timeline records: the upgrade rebuilds the customers table under rows that refer to it (on SQLite a
    batch migration copies, drops and renames it), keeps every row and reference, starts the customer
    as active, and seals the old audit records into the chain, which then verifies."""
    from sqlalchemy import text

    from o2c.core import audit
    from o2c.core.db import dispose_engines, read_session

    downgrade(db, "0008")
    engine = create_engine(db)
    now = "2026-01-05 10:00:00+00:00"
    with engine.begin() as c:
        if db.startswith("sqlite"):
            c.exec_driver_sql("PRAGMA foreign_keys=ON")
        c.execute(text("INSERT INTO companies (id, code, name, currency, country, timezone, price_override_threshold_pct,"
                       " default_lead_days, return_window_days, masterdata_version, created_at) "
                       "VALUES (1, 'OLD', 'Old Co', 'USD', 'US', 'UTC', 10, 3, 30, 0, :t)"), {"t": now})
        c.execute(text("INSERT INTO customers (id, code, legal_name, created_at) VALUES (1, 'C1', 'Old Customer', :t)"),
                  {"t": now})
        c.execute(text("INSERT INTO customer_addresses (id, customer_id, kind, is_default, country) "
                       "VALUES (1, 1, 'billing', true, 'US')"))
        for i in (1, 2):
            c.execute(text("INSERT INTO audit_log (id, company_id, at, actor, entity, entity_id, action) "
                           "VALUES (:i, 1, :t, 'admin', 'customer', 1, 'created')"), {"i": i, "t": now})
    engine.dispose()
    dispose_engines()

    upgrade(db)

    engine = create_engine(db)
    with engine.connect() as c:
        assert c.execute(text("SELECT code, status, compliance_hold FROM customers")).all() == [("C1", "active", False)]
        assert c.execute(text("SELECT customer_id FROM customer_addresses")).scalars().all() == [1]
        assert c.execute(text("SELECT id, seq FROM audit_log ORDER BY id")).all() == [(1, 1), (2, 2)]
        if db.startswith("sqlite"):
            assert c.exec_driver_sql("PRAGMA foreign_key_check").all() == []
    engine.dispose()
    assert _diff(db) == []
    with read_session() as s:
        report = audit.verify(s)
    assert report.ok and report.records == 2
