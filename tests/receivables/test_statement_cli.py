"""`o2c import statement FILE`: the statement is imported and reconciled, with the lines per status
and the auto-match rate printed; a file that cannot be imported exits 1 with the reason."""
from __future__ import annotations

from datetime import timedelta

from typer.testing import CliRunner

from o2c.cli import app
from o2c.core import clock
from tests.fulfillment.flow import MONDAY, ok
from o2c.demo_bank import Entry, statement
from tests.receivables.support import invoice_of, open_amounts
from tests.receivables.test_reconciliation import MT940_BROKEN
from tests.shipping_world import equip


def run(*args: str):
    return CliRunner().invoke(app, ["import", "statement", *args])


def test_a_statement_is_imported_from_the_command_line_and_refused_the_second_time(api, world, tmp_path):
    clock.freeze(MONDAY)
    equip(api)
    inv = invoice_of(api, "BIGBUY", (("WIDGET", "2"),))
    clock.freeze(MONDAY + timedelta(days=7))
    f = tmp_path / "dec04.xml"
    f.write_bytes(statement([Entry("21.25", "BIGBUY Inc.", None, f"Invoice {inv['number']}"),
                             Entry("9.99", "Someone", None, "?"), Entry("-4.00", "Bank", None, "fees")]))

    r = run(str(f), "--company", "ACME", "--user", "cashier")
    assert r.exit_code == 0, r.output
    assert "3 lines (1 auto, 1 unmatched, 1 not_incoming); auto-match rate 50.0% of 2 incoming" in r.output
    assert "Imported 1 statement from dec04.xml" in r.output
    assert open_amounts({"inv": inv}) == {"inv": "0.00"}
    [st] = ok(api.get("/bank-statements", user="cashier"))["items"]
    assert (st["filename"], st["imported_by"]) == ("dec04.xml", "cashier")

    r = run(str(f), "--user", "cashier")  # the user works for one company: no need to name it
    assert r.exit_code == 1 and "imported already, as bank statement" in r.output and "by cashier" in r.output
    assert len(ok(api.get("/bank-statements", user="cashier"))["items"]) == 1


def test_a_broken_file_or_a_user_who_may_not_import_is_refused(world, tmp_path):
    f = tmp_path / "broken.sta"
    f.write_bytes(MT940_BROKEN)
    r = run(str(f), "--company", "ACME", "--user", "cashier")
    assert r.exit_code == 1 and "line 5 (:61:): amount '21,,25' is not a number" in r.output
    r = run(str(f), "--company", "ACME", "--user", "keeper")
    assert r.exit_code == 1 and "reconciliation.write" in r.output
    assert run(str(f), "--user", "nobody").exit_code == 2
    assert run(str(f), "--company", "NOPE", "--user", "cashier").exit_code == 2
    assert run(str(tmp_path / "missing.xml"), "--user", "cashier").exit_code == 2
