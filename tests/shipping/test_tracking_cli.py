"""`o2c import tracking FILE`: a carrier's file is recorded all or nothing, a bad row named by its line."""
from __future__ import annotations

from typer.testing import CliRunner

from o2c.cli import app


def test_a_file_with_an_unknown_tracking_number_is_refused_naming_its_line(world, tmp_path):
    f = tmp_path / "scans.csv"
    f.write_text("tracking_number,kind,occurred_at\n1Z999AA10123456784,delivered,2026-12-01T10:00:00Z\n")
    r = CliRunner().invoke(app, ["import", "tracking", str(f), "--company", "ACME", "--user", "keeper"])
    assert r.exit_code == 1
    assert "line 2" in r.output and "1Z999AA10123456784" in r.output


def test_a_file_without_the_kind_column_is_refused(world, tmp_path):
    f = tmp_path / "scans.csv"
    f.write_text("tracking_number,occurred_at\n1Z999AA10123456784,2026-12-01T10:00:00Z\n")
    r = CliRunner().invoke(app, ["import", "tracking", str(f), "--company", "ACME", "--user", "keeper"])
    assert r.exit_code == 1 and "kind" in r.output


def test_an_unknown_company_is_named(world, tmp_path):
    f = tmp_path / "scans.csv"
    f.write_text("tracking_number,kind,occurred_at\n")
    r = CliRunner().invoke(app, ["import", "tracking", str(f), "--company", "NOPE"])
    assert r.exit_code == 2 and "NOPE" in r.output
