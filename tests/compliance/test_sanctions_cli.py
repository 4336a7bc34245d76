"""`o2c sanctions load DIR`: the list loaded from a folder with the counts printed; a broken row named
with its file and line, exit 1, nothing stored."""
from __future__ import annotations

import shutil
from pathlib import Path

from sqlalchemy import func, select
from typer.testing import CliRunner

from o2c.cli import app as cli
from o2c.compliance.models import SanctionsListLoad
from o2c.core.db import read_session

SUBSET = Path(__file__).resolve().parents[1] / "fixtures" / "sanctions" / "ofac-sdn-subset"


def loads() -> int:
    with read_session() as s:
        return s.scalar(select(func.count()).select_from(SanctionsListLoad))


def test_the_command_loads_a_folder_and_refuses_a_broken_row(world, tmp_path):
    runner = CliRunner()
    broken = tmp_path / "broken"
    shutil.copytree(SUBSET, broken)
    with (broken / "add.csv").open("a", encoding="utf-8") as f:
        f.write('44525,66399,"1 Main St","Miami"\n')
    r = runner.invoke(cli, ["sanctions", "load", str(broken), "--user", "compliance"])
    assert r.exit_code == 1, r.output
    assert "add.csv line 29: 4 fields, expected 6" in r.output
    assert loads() == 0

    r = runner.invoke(cli, ["sanctions", "load", str(SUBSET), "--user", "desk"])
    assert r.exit_code == 1 and "screening.write" in r.output
    r = runner.invoke(cli, ["sanctions", "load", str(tmp_path / "nowhere"), "--user", "compliance"])
    assert r.exit_code == 2
    assert loads() == 0

    r = runner.invoke(cli, ["sanctions", "load", str(SUBSET), "--user", "compliance"])
    assert r.exit_code == 0, r.output
    assert "17 entries, 13 aliases, 24 addresses" in r.output
    assert "5 customers screened again, 0 hit(s) opened" in r.output
    assert loads() == 1
