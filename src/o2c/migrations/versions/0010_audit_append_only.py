"""audit log append-only: triggers refusing DELETE and any UPDATE but sealing and redaction

Revision ID: 0010
Revises: 0009
Create Date: 2026-11-26

Allowed updates of an audit record (o2c.core.audit):
- sealing: seq goes from NULL to a value with prev_hash, data_hash and hash; nothing else changes;
- redaction: a sealed record's data is replaced and redacted_at set; its position and hashes stay.
DELETE is refused. On SQLite, the oldest record may be deleted (only ever the first of the table), so an
emptied database (`DELETE FROM audit_log`, which deletes oldest first) stays possible; verify reports a
chain that no longer starts at seq 1. PostgreSQL's TRUNCATE (a table owner's statement) is not a row
delete and is not refused; verify then reports the head that no longer matches.
"""
from alembic import op

revision = '0010'
down_revision = '0009'
branch_labels = None
depends_on = None

_CONTENT = ("id", "company_id", "at", "actor_id", "actor", "entity", "entity_id", "action", "from_status",
            "to_status", "reason")
_HASHES = ("seq", "prev_hash", "data_hash", "hash")
_MESSAGE = "audit_log is append-only: a record can only be sealed or redacted"


def _same(cols, sep, fmt):
    return sep.join(fmt.format(c=c) for c in cols)


def _sqlite() -> None:
    same_content = _same(_CONTENT, " AND ", "NEW.{c} IS OLD.{c}")
    same_hashes = _same(_HASHES, " AND ", "NEW.{c} IS OLD.{c}")
    op.execute(f"""
        CREATE TRIGGER audit_log_no_update BEFORE UPDATE ON audit_log
        WHEN NOT (
            ({same_content} AND NEW.data IS OLD.data AND NEW.redacted_at IS OLD.redacted_at
             AND OLD.seq IS NULL AND NEW.seq IS NOT NULL AND NEW.prev_hash IS NOT NULL
             AND NEW.data_hash IS NOT NULL AND NEW.hash IS NOT NULL)
            OR
            ({same_content} AND {same_hashes} AND OLD.seq IS NOT NULL AND NEW.redacted_at IS NOT NULL)
        )
        BEGIN SELECT RAISE(ABORT, '{_MESSAGE}'); END
    """)
    op.execute("""
        CREATE TRIGGER audit_log_no_delete BEFORE DELETE ON audit_log
        WHEN EXISTS (SELECT 1 FROM audit_log WHERE id < OLD.id)
        BEGIN SELECT RAISE(ABORT, 'audit_log is append-only: records cannot be deleted'); END
    """)


def _postgresql() -> None:
    new = _same(_CONTENT, ", ", "NEW.{c}")
    old = _same(_CONTENT, ", ", "OLD.{c}")
    new_h = _same(_HASHES, ", ", "NEW.{c}")
    old_h = _same(_HASHES, ", ", "OLD.{c}")
    op.execute(f"""
        CREATE FUNCTION audit_log_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            IF TG_OP = 'DELETE' THEN
                RAISE EXCEPTION 'audit_log is append-only: records cannot be deleted';
            END IF;
            IF ROW({new}) IS NOT DISTINCT FROM ROW({old}) THEN
                IF OLD.seq IS NULL AND NEW.seq IS NOT NULL AND NEW.prev_hash IS NOT NULL
                   AND NEW.data_hash IS NOT NULL AND NEW.hash IS NOT NULL
                   AND NEW.data::text IS NOT DISTINCT FROM OLD.data::text
                   AND NEW.redacted_at IS NOT DISTINCT FROM OLD.redacted_at THEN
                    RETURN NEW;  -- sealing
                END IF;
                IF OLD.seq IS NOT NULL AND NEW.redacted_at IS NOT NULL
                   AND ROW({new_h}) IS NOT DISTINCT FROM ROW({old_h}) THEN
                    RETURN NEW;  -- redaction
                END IF;
            END IF;
            RAISE EXCEPTION '{_MESSAGE}';
        END $$
    """)
    op.execute("""
        CREATE TRIGGER audit_log_append_only BEFORE UPDATE OR DELETE ON audit_log
        FOR EACH ROW EXECUTE FUNCTION audit_log_append_only()
    """)


def upgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        _postgresql()
    else:
        _sqlite()


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP TRIGGER IF EXISTS audit_log_append_only ON audit_log")
        op.execute("DROP FUNCTION IF EXISTS audit_log_append_only()")
    else:
        op.execute("DROP TRIGGER IF EXISTS audit_log_no_update")
        op.execute("DROP TRIGGER IF EXISTS audit_log_no_delete")
