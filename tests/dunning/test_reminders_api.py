"""Reminders through the API, beyond the story: bad input refused naming the field with nothing
changed, who may do what, a portal user's view, a dry run that changes nothing, a customer without an
email address, a redelivered letter, and the `o2c remind` command."""
from __future__ import annotations

import pytest
from sqlalchemy import func, select
from typer.testing import CliRunner

from o2c.billing.models import InvoiceDispute
from o2c.cli import app as cli
from o2c.core.auth import create_user, issue_api_key
from o2c.core.db import read_session, transaction
from o2c.core import clock
from o2c.core.events import LEASE, dispatch_pending
from o2c.core.models import AuditRecord, OutboxEvent
from o2c.dunning.models import DunningLevel, Reminder, ReminderItem
from o2c.ledger.models import JournalEntry
from tests.api import assert_problem, refused
from tests.billing.test_story_invoicing import redeliver
from tests.dunning.support import invoiced, on, remind
from tests.fulfillment.flow import changed, everything, ok
from tests.outbox import event_row
from tests.shipping_world import equip
from tests.test_notifications import SmtpServer, free_port, point_smtp_at


@pytest.fixture
def due(api, world):
    """BIGBUY's and LOYAL's invoices of 30 November (net 30, due 30 December); the clock on 6 January,
    when both are due their first reminder (the friendly note was never sent)."""
    on(2026, 11, 30)
    equip(api)
    a = invoiced(api, "BIGBUY", [("WIDGET", "12")], "6.2")
    b = invoiced(api, "LOYAL", [("WIDGET", "10")], "5.2")
    on(2027, 1, 6)
    return api, world["ids"], a, b


def state() -> dict:
    """What a dunning request could change."""
    counted = {"reminders": Reminder, "items": ReminderItem, "levels": DunningLevel, "disputes": InvoiceDispute,
               "audit": AuditRecord, "outbox": OutboxEvent, "journal": JournalEntry}
    with read_session() as s:
        out = {name: s.scalar(select(func.count()).select_from(model)) for name, model in counted.items()}
        out["open_disputes"] = s.scalar(select(func.count()).select_from(InvoiceDispute)
                                        .where(InvoiceDispute.resolved_at.is_(None)))
        out["level_rows"] = sorted(map(str, s.execute(select(DunningLevel.rank, DunningLevel.code,
                                                             DunningLevel.days_overdue, DunningLevel.fee))))
    return out


def levels(*rows) -> dict:
    return {"levels": [dict(zip(("rank", "code", "days_overdue", "fee", "interest_pct_year"), r)) for r in rows]}


GOOD = [(0, "friendly", -3, "0", "0"), (1, "first", 7, "0", "0"), (2, "final", 21, "5.00", "8")]


def test_bad_input_is_refused_naming_the_field_and_changes_nothing(due):
    api, ids, a, _ = due
    ok(api.put("/dunning-levels", user="biller", json=levels(*GOOD)))
    dispute = ok(api.post(f"/invoices/{a['id']}/disputes", user="biller", json={"reason": "price"}), 201)
    closed = ok(api.post(f"/invoices/{a['id']}/disputes", user="biller", json={"reason": "x"}), 409)
    assert closed["dispute_id"] == dispute["id"]
    cases = [
        # label, method, path, body, status, field
        ("run: as_of not a date", "post", "/reminders/run", {"as_of": "6 Jan"}, 422, "as_of"),
        ("run: as_of in the future", "post", "/reminders/run", {"as_of": "2027-01-07"}, 422, "as_of"),
        ("run: dry_run not a bool", "post", "/reminders/run", {"dry_run": "perhaps"}, 422, "dry_run"),
        ("run: unknown field", "post", "/reminders/run", {"customer": "BIGBUY"}, 422, "customer"),
        ("levels: none", "put", "/dunning-levels", {"levels": []}, 422, "levels"),
        ("levels: missing", "put", "/dunning-levels", {}, 422, "levels"),
        ("levels: ranks not ascending", "put", "/dunning-levels",
         levels((0, "a", 1, "0", "0"), (0, "b", 2, "0", "0")), 422, "levels[1].rank"),
        ("levels: days not ascending", "put", "/dunning-levels",
         levels((0, "a", 10, "0", "0"), (1, "b", 5, "0", "0")), 422, "levels[1].days_overdue"),
        ("levels: code twice", "put", "/dunning-levels",
         levels((0, "a", 1, "0", "0"), (1, "a", 5, "0", "0")), 422, "levels[1].code"),
        ("levels: code with capitals", "put", "/dunning-levels", levels((0, "First", 1, "0", "0")), 422,
         "levels[0].code"),
        ("levels: negative fee", "put", "/dunning-levels", levels((0, "a", 1, "-1", "0")), 422, "levels[0].fee"),
        ("levels: fee in tenths of a cent", "put", "/dunning-levels", levels((0, "a", 1, "1.005", "0")), 422,
         "levels[0].fee"),
        ("levels: fee not a number", "put", "/dunning-levels", levels((0, "a", 1, "five", "0")), 422,
         "levels[0].fee"),
        ("levels: interest above 100 %", "put", "/dunning-levels", levels((0, "a", 1, "0", "100.5")), 422,
         "levels[0].interest_pct_year"),
        ("levels: negative interest", "put", "/dunning-levels", levels((0, "a", 1, "0", "-2")), 422,
         "levels[0].interest_pct_year"),
        ("levels: days far before the due date", "put", "/dunning-levels", levels((0, "a", -60, "0", "0")), 422,
         "levels[0].days_overdue"),
        ("levels: missing days", "put", "/dunning-levels", {"levels": [{"rank": 0, "code": "a"}]}, 422,
         "levels[0].days_overdue"),
        ("dispute: no reason", "post", f"/invoices/{a['id']}/disputes", {}, 422, "reason"),
        ("dispute: blank reason", "post", f"/invoices/{a['id']}/disputes", {"reason": "   "}, 422, "reason"),
        ("dispute: reason too long", "post", f"/invoices/{a['id']}/disputes", {"reason": "x" * 401}, 422, "reason"),
        ("dispute: unknown invoice", "post", "/invoices/999999/disputes", {"reason": "x"}, 404, None),
        ("dispute: second open one", "post", f"/invoices/{a['id']}/disputes", {"reason": "again"}, 409, None),
        ("resolve: no resolution", "post", f"/disputes/{dispute['id']}/resolve", {}, 422, "resolution"),
        ("resolve: blank resolution", "post", f"/disputes/{dispute['id']}/resolve", {"resolution": ""}, 422,
         "resolution"),
        ("resolve: unknown dispute", "post", "/disputes/999999/resolve", {"resolution": "x"}, 404, None),
        ("reminder: unknown", "get", "/reminders/999999", None, 404, None),
        ("reminders: customer id not a number", "get", "/reminders?customer_id=abc", None, 422, "customer_id"),
    ]
    failures: list[str] = []
    for label, method, path, body, status, field in cases:
        with refused(label, failures, state):
            kw = {"json": body} if body is not None else {}
            assert_problem(getattr(api, method)(path, user="biller", **kw), status, field)
    assert failures == []
    #    A resolved dispute cannot be resolved again; a new one may then be opened.
    ok(api.post(f"/disputes/{dispute['id']}/resolve", user="biller", json={"resolution": "price confirmed"}))
    with refused("resolve twice", failures, state):
        assert_problem(api.post(f"/disputes/{dispute['id']}/resolve", user="biller", json={"resolution": "again"}), 409)
    assert failures == []
    ok(api.post(f"/invoices/{a['id']}/disputes", user="biller", json={"reason": "quantity"}), 201)
    assert [(d["reason"], d["status"]) for d in ok(api.get(f"/invoices/{a['id']}/disputes", user="biller"))] == [
        ("price", "resolved"), ("quantity", "open")]


def test_who_may_run_reminders_set_levels_and_handle_disputes(due):
    api, ids, a, _ = due
    failures: list[str] = []
    for user in ("desk", "keeper", "viewer"):  # none of them has dunning.write
        for label, call in (("run", lambda: api.post("/reminders/run", user=user, json={})),
                            ("levels", lambda: api.put("/dunning-levels", user=user, json=levels(*GOOD))),
                            ("dispute", lambda: api.post(f"/invoices/{a['id']}/disputes", user=user,
                                                         json={"reason": "x"}))):
            with refused(f"{user} {label}", failures, state):
                assert_problem(call(), 403)
    assert failures == []
    #    Billing and receivables both remind; anyone who reads sees the levels and the reminders.
    assert len(ok(api.post("/reminders/run", user="cashier", json={"dry_run": True}))["reminders"]) == 2
    assert ok(api.get("/dunning-levels", user="viewer"))["defaults"] is True
    assert len(remind(api)) == 2
    assert len(ok(api.get("/reminders", user="viewer"))["items"]) == 2


def test_a_portal_user_sees_their_own_reminders_only(due):
    api, ids, a, b = due
    sent = remind(api)

    def portal(session):
        user = create_user(session, "bigbuy", ["customer"], [ids["company"]], customer_id=ids["BIGBUY"])
        return issue_api_key(session, user)

    api.keys["bigbuy"] = transaction(portal)
    mine = ok(api.get("/reminders", user="bigbuy"))["items"]
    assert [r["customer_id"] for r in mine] == [ids["BIGBUY"]]
    assert ok(api.get("/reminders", user="bigbuy", params={"customer_id": ids["LOYAL"]}))["items"] == []
    loyal = next(r for r in sent if r["customer_id"] == ids["LOYAL"])
    assert_problem(api.get(f"/reminders/{loyal['id']}", user="bigbuy"), 404)
    assert_problem(api.get(f"/invoices/{b['id']}/disputes", user="bigbuy"), 404)
    assert ok(api.get(f"/invoices/{a['id']}/disputes", user="bigbuy")) == []


def test_a_dry_run_changes_nothing_and_matches_the_run_that_follows(due):
    api, ids, a, b = due
    before = everything()
    planned = ok(api.post("/reminders/run", user="biller", json={"dry_run": True}))
    assert changed(before, everything()) == []
    ahead = ok(api.post("/reminders/run", user="biller", json={"dry_run": True, "as_of": "2027-01-20"}))
    assert [r["level"] for r in ahead["reminders"]] == ["second", "second"]  # a dry run may look ahead
    sent = remind(api)
    strip = lambda r: {k: v for k, v in r.items() if k not in ("id", "number", "journal_entry_id", "created_at")}  # noqa: E731
    assert [strip(r) for r in planned["reminders"]] == [strip(r) for r in sent]
    assert ok(api.post("/reminders/run", user="biller", json={"dry_run": True}))["reminders"] == []


def test_a_customer_without_an_email_address_is_reminded_on_record_and_gets_no_mail(due, monkeypatch):
    api, ids, a, b = due
    ok(api.patch(f"/customers/{ids['BIGBUY']}", user="admin", json={"email": None}))
    server = SmtpServer(free_port())
    point_smtp_at(monkeypatch, server.port)
    server.start()
    try:
        sent = remind(api)
        assert [(r["customer_id"], r["email"]) for r in sent] == [(ids["BIGBUY"], None),
                                                                  (ids["LOYAL"], "buyer@loyal.example")]
        subjects = [m["Subject"] for rcpt, m in server.messages if " reminder REM" in m["Subject"]]
        assert subjects == ["First reminder REM00000002: $90.84 overdue (1 invoice)"]
        assert event_row("reminder.sent", sent[0]["id"]).processed_at is not None  # done, not retried
        #    A redelivered event (a crash before its delivery was recorded) sends the same message again.
        redeliver("reminder.sent", "o2c.dunning.notifications.send_reminder")
        clock.freeze(clock.now() + LEASE)  # past the lease the first delivery took
        dispatch_pending()
        again = [m for rcpt, m in server.messages if " reminder REM" in m["Subject"]]
        assert len(again) == 2 and again[0]["Message-ID"] == again[1]["Message-ID"]
    finally:
        server.stop()


def test_the_remind_command_runs_for_cron_and_a_second_run_sends_nothing(due):
    runner = CliRunner()
    dry = runner.invoke(cli, ["remind", "--dry-run"])
    assert dry.exit_code == 0, dry.output
    assert "(dry run)" in dry.output and "BIGBUY" in dry.output and "2 reminder(s) would be sent (dry run) for 2027-01-06" in dry.output
    first = runner.invoke(cli, ["remind"])
    assert first.exit_code == 0, first.output
    lines = first.output.splitlines()
    assert lines[0].split()[:5] == ["REM00000001", "BIGBUY", "first", "USD", "114.75"]
    assert lines[-1] == "2 reminder(s) sent for 2027-01-06"
    again = runner.invoke(cli, ["remind", "--as-of", "2027-01-06"])
    assert again.exit_code == 0 and again.output.strip() == "0 reminder(s) sent for 2027-01-06"
    ahead = runner.invoke(cli, ["remind", "--as-of", "2027-01-07"])
    assert ahead.exit_code == 2 and "after today" in ahead.output
    nobody = runner.invoke(cli, ["remind", "--user", "nobody"])
    assert nobody.exit_code == 2 and "no active user named 'nobody'" in nobody.output
    desk = runner.invoke(cli, ["remind", "--user", "desk"])
    assert desk.exit_code == 2 and "dunning.write" in desk.output


def test_a_letter_in_another_currency_carries_no_fee_and_a_missed_day_is_caught_up(api, world):
    """EURO is invoiced in euros, BIGBUY in dollars (the company's currency). The job did not run on
    20 January; on the 25th the biller runs it for the 20th: both get the second level as of that day,
    and only the dollar letter carries the 5.00 fee (o2c keeps no exchange rates)."""
    on(2026, 11, 30)
    equip(api)
    invoiced(api, "EURO", [("WIDGET", "2")], "1.2")
    invoiced(api, "BIGBUY", [("WIDGET", "2")], "1.2")
    on(2027, 1, 25)
    sent = ok(api.post("/reminders/run", user="biller", json={"as_of": "2027-01-20"}))["reminders"]
    assert [(r["customer_id"], r["currency"], r["level"], r["sent_on"], r["items"][0]["days_overdue"], r["fee"],
             r["total"]) for r in sent] == [
        (world["ids"]["BIGBUY"], "USD", "second", "2027-01-20", 21, "5.00", "26.25"),
        (world["ids"]["EURO"], "EUR", "second", "2027-01-20", 21, "0.00", "20.19")]
    [tb] = [t for t in ok(api.get("/ledger/trial-balance", user="biller")) if t["currency"] == "USD"]
    assert {a["code"]: a["balance"] for a in tb["accounts"]}["4800"] == "-5.00"
    assert ok(api.post("/reminders/run", user="biller", json={}))["reminders"] == []  # the 25th: nothing new
