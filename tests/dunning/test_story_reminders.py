"""Reminders, as a story. On Monday 30 November 2026 four invoices are issued on net 30 terms, all due
on Wednesday 30 December:

    INV-2026-000001  BIGBUY  12 widgets at 9.00 + IL tax 6.25 %      114.75
    INV-2026-000002  BIGBUY   2 gadgets at 22.50 + tax                47.81   disputed on 20 December
    INV-2026-000003  LOYAL   10 widgets at 9.00 less 5 % + tax        90.84   paid on 8 January
    INV-2026-000004  TIDY     3 widgets at 10.00 + CA tax 7.25 %      32.18   TIDY has opted out

The clock walks forward and the biller runs the reminders each day that matters: a friendly note three
days before the due date, the first reminder 7 days after it, the second (fee 5.00, posted to the
ledger) at 21 days, and the final at 35 days, by which time the company charges 8 % a year interest and
a 10.00 fee on the final level. The disputed invoice gets nothing while the dispute is open, then joins
BIGBUY's letters at the level it is due for; TIDY never gets a letter; LOYAL's paid invoice stops; a
part payment lowers what the final reminder and its interest are reckoned on. Every
letter reaches the buyer by email and is checked figure by figure; each is on the customer's and the
order's timeline; the books balance throughout.
"""
from __future__ import annotations

from decimal import Decimal as D

import pytest

from tests.books import assert_books_agree
from tests.dunning.support import invoiced, on, remind
from tests.fulfillment.flow import ok
from tests.shipping_world import equip
from tests.test_notifications import SmtpServer, free_port, point_smtp_at

IBAN = "DE89370400440532013000"


def letters(smtp, since: int = 0) -> list:
    """The reminder letters the mail server received (not the order and shipping mail), from the
    `since`-th on."""
    return [m for _, m in smtp.messages if " reminder REM" in m["Subject"]][since:]


def summary(reminders: list[dict]) -> list[tuple]:
    return [(r["customer_id"], r["level"], [(it["invoice_number"], it["rank"], it["days_overdue"]) for it in r["items"]],
             r["open_total"], r["fee"], r["interest"], r["total"]) for r in reminders]


def ledger(api) -> tuple[dict, dict]:
    [tb] = ok(api.get("/ledger/trial-balance", user="biller"))
    assert tb["balanced"] is True and tb["receivables"]["agrees"] is True
    return {a["code"]: a["balance"] for a in tb["accounts"]}, tb["receivables"]["customers"]


@pytest.fixture
def smtp(monkeypatch):
    server = SmtpServer(free_port())
    point_smtp_at(monkeypatch, server.port)
    server.start()
    yield server
    server.stop()


def test_reminders_climb_the_levels_skip_disputes_opt_outs_and_paid_invoices(api, world, smtp):
    ids = world["ids"]
    big, loyal, tidy = ids["BIGBUY"], ids["LOYAL"], ids["TIDY"]
    on(2026, 11, 30)
    equip(api)
    ok(api.patch("/company", user="admin", json={"legal_name": "Acme Supply Inc.", "iban": IBAN, "bic": "COBADEFFXXX"}))
    ok(api.patch(f"/customers/{tidy}", user="admin", json={"dunning_opt_out": True}))

    # 1. Four invoices, all due on 30 December.
    a = invoiced(api, "BIGBUY", [("WIDGET", "12")], "6.2")
    b = invoiced(api, "BIGBUY", [("GADGET", "2")], "2.6")
    c = invoiced(api, "LOYAL", [("WIDGET", "10")], "5.2")
    d = invoiced(api, "TIDY", [("WIDGET", "3")], "1.7")
    assert [(i["number"], i["gross_total"], i["due_date"]) for i in (a, b, c, d)] == [
        ("INV-2026-000001", "114.75", "2026-12-30"), ("INV-2026-000002", "47.81", "2026-12-30"),
        ("INV-2026-000003", "90.84", "2026-12-30"), ("INV-2026-000004", "32.18", "2026-12-30")]

    # 2. The company's levels are the defaults: nobody has set any.
    levels = ok(api.get("/dunning-levels", user="biller"))
    assert levels["defaults"] is True and [(lv["code"], lv["days_overdue"], lv["fee"], lv["interest_pct_year"])
                                           for lv in levels["levels"]] == [
        ("friendly", -3, "0.00", "0"), ("first", 7, "0.00", "0"), ("second", 21, "5.00", "0"), ("final", 35, "10.00", "0")]

    # 3. 20 December: BIGBUY disputes the gadgets invoice. Nothing is due yet (the friendly note comes
    #    3 days before the due date), and a dry run one week ahead shows what the 27th will send.
    on(2026, 12, 20)
    dispute = ok(api.post(f"/invoices/{b['id']}/disputes", user="cashier",
                          json={"reason": "one gadget arrived broken"}), 201)
    assert dispute["status"] == "open" and dispute["invoice_number"] == "INV-2026-000002"
    assert remind(api) == []
    ahead = ok(api.post("/reminders/run", user="biller", json={"as_of": "2026-12-27", "dry_run": True}))
    assert ahead["dry_run"] is True and [r["id"] for r in ahead["reminders"]] == [None, None]
    assert summary(ahead["reminders"]) == [
        (big, "friendly", [("INV-2026-000001", 0, -3)], "114.75", "0.00", "0.00", "114.75"),
        (loyal, "friendly", [("INV-2026-000003", 0, -3)], "90.84", "0.00", "0.00", "90.84")]
    assert ok(api.get("/reminders", user="biller"))["items"] == []  # a dry run stores nothing

    # 4. 27 December: friendly notes to BIGBUY (not the disputed invoice) and LOYAL; none to TIDY.
    on(2026, 12, 27)
    sent = remind(api)
    assert summary(sent) == summary(ahead["reminders"])
    assert [r["number"] for r in sent] == ["REM00000001", "REM00000002"]
    mails = letters(smtp, 0)
    assert sorted(m["To"] for m in mails) == ["buyer@bigbuy.example", "buyer@loyal.example"]
    note = next(m for m in mails if m["To"] == "buyer@bigbuy.example")
    text = note.get_content()
    assert note["Subject"] == ("Friendly reminder REM00000001: $114.75 due soon (1 invoice)")
    assert "INV-2026-000001    2026-12-30   due in 3 days" in text and "$114.75" in text
    assert "INV-2026-000002" not in text  # disputed: held
    assert "Reminder fee" not in text and "Late interest" not in text
    assert "IBAN DE89 3704 0044 0532 0130 00, BIC COBADEFFXXX, quoting REM00000001 and INV-2026-000001" in text
    assert note["Message-ID"] == f"<reminder-{sent[0]['id']}-event-{_event_id(sent[0]['id'])}@o2c>"
    #    The same day again: every level due has been sent; nothing new, no mail.
    assert remind(api) == [] and len(letters(smtp)) == 2

    # 5. 6 January: the first reminders, no fee.
    on(2027, 1, 6)
    sent = remind(api)
    assert summary(sent) == [
        (big, "first", [("INV-2026-000001", 1, 7)], "114.75", "0.00", "0.00", "114.75"),
        (loyal, "first", [("INV-2026-000003", 1, 7)], "90.84", "0.00", "0.00", "90.84")]
    first = next(m for m in letters(smtp, 2) if m["To"] == "buyer@bigbuy.example")
    assert first["Subject"] == "First reminder REM00000003: $114.75 overdue (1 invoice)"
    assert "INV-2026-000001    2026-12-30   7 days overdue" in first.get_content()

    # 6. LOYAL pays its invoice in full by bank transfer: nothing is open on it.
    on(2027, 1, 8)
    pay(api, loyal, "90.84", c)

    # 7. 11 January: BIGBUY's dispute is resolved, and that day's run reminds the gadgets invoice at the
    #    level it is due for, the first (12 days overdue): it never gets the friendly note it missed.
    on(2027, 1, 11)
    resolved = ok(api.post(f"/disputes/{dispute['id']}/resolve", user="cashier",
                           json={"resolution": "carrier confirmed delivery intact; claim declined"}))
    assert resolved["status"] == "resolved" and resolved["resolution"].startswith("carrier confirmed")
    sent = remind(api)
    assert summary(sent) == [(big, "first", [("INV-2026-000002", 1, 12)], "47.81", "0.00", "0.00", "47.81")]
    assert [m["To"] for m in letters(smtp, 4)] == ["buyer@bigbuy.example"]

    # 8. 20 January, 21 days overdue: BIGBUY's second reminder carries both invoices, fee 5.00. LOYAL's
    #    settled invoice gets nothing.
    on(2027, 1, 20)
    sent = remind(api)
    assert summary(sent) == [
        (big, "second", [("INV-2026-000001", 2, 21), ("INV-2026-000002", 2, 21)], "162.56", "5.00", "0.00", "167.56")]
    second = letters(smtp, 5)
    assert [m["To"] for m in second] == ["buyer@bigbuy.example"]
    text = second[0].get_content()
    assert second[0]["Subject"] == "Second reminder REM00000006: $167.56 overdue (2 invoices)"
    for fragment in ("INV-2026-000001    2026-12-30   21 days overdue", "INV-2026-000002    2026-12-30   21 days overdue",
                     "$114.75", "$47.81", "Open amount:            $162.56", "Reminder fee:             $5.00",
                     "Total due:              $167.56", "Please transfer $167.56 to Acme Supply Inc."):
        assert fragment in text, fragment
    #    The fee is a new open item on BIGBUY's account: receivables up by 5.00, fee income 5.00.
    balances, customers = ledger(api)
    assert balances["4800"] == "-5.00"
    assert D(customers[str(big)]) == D("114.75") + D("47.81") + D("5.00")
    fee_entry = ok(api.get("/ledger/entries", user="biller", params={"source_id": "REM00000006"}))["items"]
    assert [(e["source_kind"], [(ln["account_code"], ln["debit"], ln["credit"], ln["open_item"]) for ln in e["lines"]])
            for e in fee_entry] == [("fee", [("1100", "5.00", "0.00", "REM00000006"), ("4800", "0.00", "5.00", None)])]
    assert sent[0]["journal_entry_id"] == fee_entry[0]["id"]
    assert ok(api.get(f"/reminders/{sent[0]['id']}", user="biller")) == sent[0]  # as stored, as the run said

    # 9. 25 January: BIGBUY pays 50.00 towards the widgets invoice; 64.75 of it is still open.
    on(2027, 1, 25)
    pay(api, big, "50.00", a)

    # 10. The company sets its own levels: the final reminder now charges 8 % a year late interest.
    ok(api.put("/dunning-levels", user="biller", json={"levels": [
        {"rank": 0, "code": "friendly", "days_overdue": -3},
        {"rank": 1, "code": "first", "days_overdue": 7},
        {"rank": 2, "code": "second", "days_overdue": 21, "fee": "5.00"},
        {"rank": 3, "code": "final", "days_overdue": 35, "fee": "10.00", "interest_pct_year": "8"}]}))

    # 11. 3 February, 35 days overdue: the final reminder, on what is open now. Interest, simple, ACT/365,
    #     on each open amount for the days overdue: 64.75 x 8 % x 35/365 = 0.4967 -> 0.50;
    #     47.81 x 8 % x 35/365 = 0.3668 -> 0.37.
    on(2027, 2, 3)
    sent = remind(api)
    assert summary(sent) == [
        (big, "final", [("INV-2026-000001", 3, 35), ("INV-2026-000002", 3, 35)], "112.56", "10.00", "0.87", "123.43")]
    assert [(it["open_amount"], it["interest"]) for it in sent[0]["items"]] == [("64.75", "0.50"), ("47.81", "0.37")]
    [final] = letters(smtp, 6)
    text = final.get_content()
    for fragment in ("INV-2026-000001    2026-12-30   35 days overdue              $64.75        $0.50",
                     "Reminder fee:            $10.00", "Late interest:            $0.87   (8 % a year",
                     "Total due:              $123.43"):
        assert fragment in text, fragment
    balances, customers = ledger(api)
    assert (balances["4800"], balances["4810"]) == ("-15.00", "-0.87")
    entries = ok(api.get("/ledger/entries", user="biller", params={"source_kind": "interest"}))["items"]
    assert [[(ln["account_code"], ln["debit"], ln["credit"], ln["open_item"]) for ln in e["lines"]] for e in entries] == [
        [("1100", "0.87", "0.00", "REM00000007-INT"), ("4810", "0.00", "0.87", None)]]  # apart from the fee's item
    assert D(customers[str(big)]) == D("112.56") + D("15.00") + D("0.87")  # the invoices, both fees, the interest

    # 12. Past the last level nothing more is sent, however late; TIDY never got a letter.
    on(2027, 3, 31)
    assert remind(api) == [] and len(letters(smtp)) == 7
    history = ok(api.get("/reminders", user="biller", params={"customer_id": big}))["items"]
    assert [(r["number"], r["level"], r["sent_on"]) for r in history] == [
        ("REM00000007", "final", "2027-02-03"), ("REM00000006", "second", "2027-01-20"),
        ("REM00000005", "first", "2027-01-11"), ("REM00000003", "first", "2027-01-06"),
        ("REM00000001", "friendly", "2026-12-27")]
    assert ok(api.get("/reminders", user="biller", params={"customer_id": tidy}))["items"] == []
    assert ok(api.get("/reminders/6", user="biller")) == history[1]

    # 13. The timelines: BIGBUY's shows the dispute, each reminder with its figures, and the payment;
    #     LOYAL's its two notes; TIDY's none. Each order's timeline shows its invoice's reminders.
    def timeline(customer_id):
        return [(e["action"], (e["data"] or {}).get("reminder") or (e["data"] or {}).get("invoice"))
                for e in ok(api.get(f"/customers/{customer_id}/timeline", user="biller"))
                if e["action"] in ("reminder_sent", "invoice_disputed", "invoice_dispute_resolved", "payment_recorded")]

    assert [(action, ref) if action != "payment_recorded" else (action,) for action, ref in timeline(big)] == [
        ("invoice_disputed", "INV-2026-000002"), ("reminder_sent", "REM00000001"), ("reminder_sent", "REM00000003"),
        ("invoice_dispute_resolved", "INV-2026-000002"), ("reminder_sent", "REM00000005"),
        ("reminder_sent", "REM00000006"), ("payment_recorded",), ("reminder_sent", "REM00000007")]
    final_record = ok(api.get(f"/customers/{big}/timeline", user="biller"))[-1]
    assert final_record["actor"] == "biller" and final_record["data"] == {
        "reminder": "REM00000007", "level": "final", "currency": "USD", "open_total": "112.56", "fee": "10.00",
        "interest": "0.87", "total": "123.43", "invoices": ["INV-2026-000001", "INV-2026-000002"]}
    assert [ref for action, ref in timeline(loyal) if action == "reminder_sent"] == ["REM00000002", "REM00000004"]
    assert [a for a, _ in timeline(tidy)] == []
    gadgets = [e["data"] for e in ok(api.get(f"/orders/{b['order_id']}/timeline")) if e["action"] == "reminder_sent"]
    assert [(e["reminder"], e["level"], e["invoices"]) for e in gadgets] == [
        ("REM00000005", "first", ["INV-2026-000002"]), ("REM00000006", "second", ["INV-2026-000002"]),
        ("REM00000007", "final", ["INV-2026-000002"])]
    assert_books_agree()


def pay(api, customer_id: int, amount: str, invoice: dict) -> dict:
    """The cashier records a bank transfer applied to the invoice."""
    return ok(api.post("/payments", user="cashier", json={
        "customer_id": customer_id, "method": "bank_transfer", "currency": "USD", "amount": amount,
        "applications": [{"invoice_id": invoice["id"], "amount": amount}]}), 201)


def _event_id(reminder_id: int) -> int:
    from tests.outbox import event_row

    return event_row("reminder.sent", reminder_id).id
