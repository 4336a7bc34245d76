"""The ledger stored: each company's chart made once, entries posted with gap-free numbers and never
changed, and the trial balance read through the API."""
from __future__ import annotations

from datetime import date
from decimal import Decimal as D

import pytest
from sqlalchemy import func, select

from o2c.core.auth import SYSTEM
from o2c.core.db import read_session, transaction
from o2c.core.errors import Conflict, ValidationFailed
from o2c.ledger import rules, service
from o2c.ledger.models import JournalEntry, JournalLine, LedgerAccount

DAY = date(2026, 12, 1)


def invoice(number: str, customer_id: int, net: str, tax: str) -> rules.Entry:
    return rules.invoice_issued(rules.DEFAULT_CHART, rules.Document(
        number, str(customer_id), DAY, "USD", (rules.DocLine(D(net), D(tax)),)))


def count(model) -> int:
    with read_session() as s:
        return s.scalar(select(func.count()).select_from(model))


def test_the_chart_is_made_once_from_the_default(world):
    cid = world["ids"]["company"]
    first = transaction(lambda s: service.chart(s, cid))
    again = transaction(lambda s: service.chart(s, cid))
    assert [a.code for a in first] == [a.code for a in again] == sorted(a.code for a in rules.DEFAULT_ACCOUNTS)
    assert count(LedgerAccount) == len(rules.DEFAULT_ACCOUNTS)
    assert again.code(rules.RECEIVABLES) == "1100"


def test_an_unbalanced_entry_is_refused_and_stores_nothing(world):
    cid, bigbuy = world["ids"]["company"], world["ids"]["BIGBUY"]
    good = invoice("INV-1", bigbuy, "100.00", "6.25")
    lopsided = rules.Entry(DAY, "typo", ("invoice", "INV-X"), (
        rules.EntryLine("1100", debit=D("106.25"), customer_id=str(bigbuy), open_item="INV-X"),
        rules.EntryLine("4000", credit=D("100.00"))), "USD")
    with pytest.raises(ValidationFailed) as exc:
        transaction(lambda s: service.post(s, SYSTEM, cid, lopsided))
    assert [(e.field, e.code) for e in exc.value.errors] == [("lines", "unbalanced")]
    unknown = rules.Entry(DAY, "typo", ("invoice", "INV-Y"), (
        rules.EntryLine("1999", debit=D("1.00")), rules.EntryLine("4000", credit=D("1.00"))), "USD")
    with pytest.raises(ValidationFailed) as exc:
        transaction(lambda s: service.post(s, SYSTEM, cid, unknown))
    assert [(e.field, e.code) for e in exc.value.errors] == [("lines[0].account_code", "unknown")]
    assert count(JournalEntry) == count(JournalLine) == 0
    # the refused postings took no number: the first entry stored is number 1
    assert transaction(lambda s: service.post(s, SYSTEM, cid, good).number) == 1


def test_a_posted_entry_is_never_edited_or_deleted(world):
    cid = world["ids"]["company"]
    entry_id = transaction(lambda s: service.post(s, SYSTEM, cid, invoice("INV-1", world["ids"]["TIDY"], "10.00", "0.73")).id)

    def edit(s):
        s.get(JournalEntry, entry_id).memo = "changed"
        s.flush()

    def remove(s):
        s.delete(s.get(JournalEntry, entry_id).lines[0])
        s.flush()

    for change in (edit, remove):
        with pytest.raises(Conflict):
            transaction(change)
    with read_session() as s:
        assert s.get(JournalEntry, entry_id).memo == "Invoice INV-1" and len(s.get(JournalEntry, entry_id).lines) == 3


def test_the_trial_balance_and_the_receivables_check_through_the_api(api, world):
    cid, ids = world["ids"]["company"], world["ids"]
    assert len(api.get("/ledger/accounts", user="admin").json()) == len(rules.DEFAULT_ACCOUNTS)
    assert api.get("/ledger/trial-balance", user="admin").json() == []  # nothing posted yet
    for number, customer, net, tax in (("INV-1", "BIGBUY", "100.00", "6.25"), ("INV-2", "TIDY", "50.00", "3.63"),
                                       ("INV-3", "BIGBUY", "0.10", "0.01")):
        transaction(lambda s: service.post(s, SYSTEM, cid, invoice(number, ids[customer], net, tax)))
    r = api.get("/ledger/trial-balance", user="admin")
    assert r.status_code == 200, r.text
    [tb] = r.json()
    assert [(a["code"], a["name"], a["debit"], a["credit"], a["balance"]) for a in tb["accounts"]] == [
        ("1100", "Trade receivables", "159.99", "0.00", "159.99"),
        ("2100", "Sales tax payable", "0.00", "9.89", "-9.89"),
        ("4000", "Sales revenue: goods", "0.00", "150.10", "-150.10")]
    assert (tb["debits"], tb["credits"], tb["balanced"]) == ("159.99", "159.99", True)
    assert tb["receivables"] == {"control": "159.99", "subledger": "159.99", "agrees": True,
                                 "customers": {str(ids["BIGBUY"]): "106.36", str(ids["TIDY"]): "53.63"}}
    page = api.get("/ledger/entries", user="admin", params={"limit": 2}).json()
    assert [e["number"] for e in page["items"]] == [3, 2] and page["next_cursor"] == "2"
    rest = api.get("/ledger/entries", user="admin", params={"limit": 2, "cursor": page["next_cursor"]}).json()
    assert [e["number"] for e in rest["items"]] == [1] and rest["next_cursor"] is None
    # reading the books needs ledger.read: the order desk and the warehouse have it not
    for user in ("desk", "keeper", "viewer"):
        assert api.get("/ledger/trial-balance", user=user).status_code == 403
        assert api.get("/ledger/journal.csv", user=user).status_code == 403
