"""A company's chart of accounts can be changed, as long as what the journal holds stays readable: an
account with postings keeps its kind and stays, and the customer accounts stay where they were posted."""
from __future__ import annotations

from dataclasses import replace
from decimal import Decimal as D

import pytest

from o2c.core.auth import SYSTEM, Actor
from o2c.core.db import read_session, transaction
from o2c.core.errors import Forbidden, ValidationFailed
from o2c.ledger import rules, service
from tests.ledger.test_ledger_service import DAY, invoice


def chart_of(cid: int) -> list[rules.Account]:
    with read_session() as s:
        return list(service.chart(s, cid))


def codes(errors) -> list[tuple[str, str]]:
    return [(e.field, e.code) for e in errors]


def test_revenue_moves_to_a_new_account_and_later_invoices_post_there(world):
    cid, tidy = world["ids"]["company"], world["ids"]["TIDY"]
    transaction(lambda s: service.post(s, SYSTEM, cid, invoice("INV-1", tidy, "100.00", "7.25")))
    wanted = [replace(a, role=None) if a.role == rules.REVENUE_ROLE else a for a in rules.DEFAULT_ACCOUNTS]
    wanted.append(rules.Account("4020", "Sales revenue: online shop", rules.REVENUE, rules.REVENUE_ROLE))
    wanted = [replace(a, name="Bank: First Chicago") if a.code == "1000" else a for a in wanted]
    transaction(lambda s: service.configure_chart(s, SYSTEM, cid, wanted))

    chart = chart_of(cid)
    by_code = {a.code: a for a in chart}
    assert by_code["4020"].role == rules.REVENUE_ROLE and by_code["4000"].role is None
    assert by_code["1000"].name == "Bank: First Chicago"

    def post_second(s):
        entry = rules.invoice_issued(service.chart(s, cid), rules.Document(
            "INV-2", str(tidy), DAY, "USD", (rules.DocLine(D("50.00"), D("0.00")),)))
        return service.post(s, SYSTEM, cid, entry)

    transaction(post_second)
    with read_session() as s:
        tb = {a["code"]: a for a in service.trial_balance(s, cid)[0]["accounts"]}
        assert (tb["4000"]["credit"], tb["4020"]["credit"]) == (100, 50)
        assert all(check["agrees"] for check in service.ar_check(s, cid))


def test_what_the_journal_uses_cannot_be_removed_retyped_or_moved(world):
    cid, tidy = world["ids"]["company"], world["ids"]["TIDY"]
    transaction(lambda s: service.post(s, SYSTEM, cid, invoice("INV-1", tidy, "100.00", "7.25")))
    before = chart_of(cid)

    without_revenue = [a for a in rules.DEFAULT_ACCOUNTS if a.code != "4000"]
    without_revenue.append(rules.Account("4020", "Sales revenue: online shop", rules.REVENUE, rules.REVENUE_ROLE))
    moved_receivables = [replace(a, role=None) if a.code == "1100" else a for a in rules.DEFAULT_ACCOUNTS]
    moved_receivables.append(rules.Account("1105", "Receivables (new)", rules.ASSET, rules.RECEIVABLES))
    retyped = [replace(a, kind=rules.EXPENSE, role=None) if a.code == "4000" else a for a in rules.DEFAULT_ACCOUNTS]
    retyped.append(rules.Account("4020", "Sales revenue: online shop", rules.REVENUE, rules.REVENUE_ROLE))
    for wanted, expected in [
        (without_revenue, [("accounts", "in_use")]),
        (moved_receivables, [(f"accounts[{len(moved_receivables) - 1}].role", "in_use")]),
        (retyped, [("accounts[9].kind", "in_use")]),
        ([a for a in rules.DEFAULT_ACCOUNTS if a.role != rules.CASH], [("roles.cash", "missing")]),
    ]:
        with pytest.raises(ValidationFailed) as exc:
            transaction(lambda s, w=wanted: service.configure_chart(s, SYSTEM, cid, w))
        assert codes(exc.value.errors) == expected
    assert chart_of(cid) == before  # every refusal changed nothing


def test_only_a_user_allowed_to_configure_the_ledger_may_change_the_chart(world):
    cid = world["ids"]["company"]
    biller = Actor(user_id=world["ids"]["biller"], username="biller", roles=frozenset({"billing"}),
                   company_ids=frozenset({cid}))
    with pytest.raises(Forbidden):
        transaction(lambda s: service.configure_chart(s, biller, cid, list(rules.DEFAULT_ACCOUNTS)))


def test_the_chart_is_configured_through_the_api_and_a_bad_one_is_refused_naming_the_account(api):
    accounts = [{"code": a.code, "name": a.name, "kind": a.kind, "role": a.role} for a in rules.DEFAULT_ACCOUNTS]
    accounts.append({"code": "4020", "name": "Sales revenue: online shop", "kind": "revenue", "role": None})
    r = api.put("/ledger/accounts", user="admin", json={"accounts": accounts})
    assert r.status_code == 200, r.text
    assert {"code": "4020", "name": "Sales revenue: online shop", "kind": "revenue", "role": None} in r.json()
    assert "4020" in [a["code"] for a in api.get("/ledger/accounts", user="biller").json()]

    twice = accounts + [{"code": "1105", "name": "Second receivables", "kind": "asset", "role": "receivables"}]
    r = api.put("/ledger/accounts", user="admin", json={"accounts": twice})
    assert r.status_code == 422 and r.headers["content-type"].startswith("application/problem+json")
    assert [e["field"] for e in r.json()["errors"]] == [f"accounts[{len(twice) - 1}].role"]
    assert api.put("/ledger/accounts", user="biller", json={"accounts": accounts}).status_code == 403
    assert len(api.get("/ledger/accounts", user="admin").json()) == len(accounts)
