"""`o2c fraud train`: trains the company's model with progress and prints precision and recall on
held-out orders; a user without fraud.train, or a company without history, gets a clear error."""
from __future__ import annotations

from sqlalchemy import select
from typer.testing import CliRunner

from o2c.cli import app
from o2c.core.db import read_session
from o2c.fraud.models import FraudModel
from tests.fraud import support


def run(*args: str):
    return CliRunner().invoke(app, ["fraud", "train", *args])


def test_training_from_the_command_line(world):
    r = run("--user", "desk")
    assert r.exit_code == 2 and "fraud.train" in r.output, r.output
    r = run("--user", "fraudcop")
    assert r.exit_code == 2 and "training needs 50" in r.output, r.output

    history = support.build(world, days=40, frauds=6)
    support.label(world, history.fraud, "fraud")
    r = run("--user", "fraudcop", "--company", "ACME", "--trees", "50", "--seed", "2")
    assert r.exit_code == 0, r.output
    assert "fraud model 1 trained on" in r.output
    assert "Isolation trees" in r.output  # the progress bar
    with read_session() as s:
        metrics = s.scalar(select(FraudModel.metrics))
    for name in ("labelled", "planted"):  # the table's rows are the stored metrics
        both, alone = metrics[name]["model_and_rules"], metrics[name]["rules_only"]
        row = next(ln for ln in r.output.splitlines() if ln.startswith(f"│ {name} "))
        cells = [c.strip() for c in row.strip("│").split("│")]
        assert cells == [name, str(both["cases"]), str(both["fraud"]), str(both["flagged"]),
                         f"{both['precision']:.3f}", f"{both['recall']:.3f}",
                         f"{alone['precision']:.3f} / {alone['recall']:.3f}"], row
    r = run("--user", "fraudcop", "--company", "NOPE")
    assert r.exit_code == 2 and "has no company 'NOPE'" in r.output
