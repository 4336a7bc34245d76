"""Setting a user's web password from the command line (`o2c user password`)."""
from __future__ import annotations

from sqlalchemy import select
from typer.testing import CliRunner

from o2c.cli import app as cli
from o2c.core.db import read_session
from o2c.core.models import AuditRecord


def test_a_password_set_from_the_command_line_logs_in_and_a_weak_one_is_refused(app, world):
    from tests.web.support import log_in

    runner = CliRunner()
    r = runner.invoke(cli, ["user", "password", "viewer"], input="short\nshort\n")
    assert r.exit_code != 0 and "at least 10 characters" in str(r.exception)
    r = runner.invoke(cli, ["user", "password", "viewer"], input="viewer\nviewer\n")
    assert r.exit_code != 0
    r = runner.invoke(cli, ["user", "password", "viewer"], input="a long enough secret\na long enough secret\n")
    assert r.exit_code == 0, r.output
    log_in(app, "viewer", "a long enough secret")
    with read_session() as s:
        rec = s.scalar(select(AuditRecord).where(AuditRecord.action == "password_set"))
        assert rec.entity == "user" and "secret" not in str(rec.data)
    r = runner.invoke(cli, ["user", "password", "nobody"], input="a long enough secret\na long enough secret\n")
    assert r.exit_code != 0 and "no user 'nobody'" in str(r.exception)
