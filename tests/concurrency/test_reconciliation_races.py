"""On PostgreSQL, two people deciding the same statement line at the same moment: the line's row lock
makes the second wait, then see the first's decision (409): one payment, never two. The same file
imported by two people at once is stored once; the second is told of the first import. The first
transaction is held open while the second is sent through the API, so the interleaving is fixed."""
from __future__ import annotations

from datetime import timedelta

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from o2c.core import clock
from o2c.core.auth import actor_for_user
from o2c.core.db import dispose_engines, read_session
from o2c.core.models import User
from o2c.core.settings import get_settings
from o2c.payments.models import Payment
from o2c.receivables import service
from o2c.receivables.models import BankStatement
from o2c.web.app import create_app
from tests.books import assert_ledger_agrees
from tests.concurrency.test_fulfilment_races import finished, held_open, meanwhile
from tests.conftest import Api
from tests.fulfillment.flow import MONDAY, ok
from o2c.demo_bank import Entry, statement
from tests.receivables.support import invoice_of, open_amounts
from tests.shipping_world import equip
from tests.world import make

pytestmark = pytest.mark.postgres_only


@pytest.fixture
def desk(pg):
    """Two invoices of LOYAL of the same amount, a statement line paying one of them (suggested), and
    the cashier as an actor."""
    clock.freeze(MONDAY)
    world = make()
    with read_session() as s:
        cashier = actor_for_user(s, s.get(User, world["ids"]["cashier"]))
    with TestClient(create_app(), raise_server_exceptions=False) as client:
        api = Api(client, world["keys"])
        equip(api)
        invoices = {k: invoice_of(api, "LOYAL", (("WIDGET", "2"),)) for k in ("first", "second")}
        clock.freeze(MONDAY + timedelta(days=7))
        yield api, cashier, world["ids"], invoices
    clock.freeze(None)
    dispose_engines()
    get_settings.cache_clear()


def payments() -> int:
    with read_session() as s:
        return s.scalar(select(func.count()).select_from(Payment))


def test_two_people_confirming_the_same_line_make_one_payment(desk):
    api, cashier, ids, invoices = desk
    camt = statement([Entry("20.19", "LOYAL Inc.", "FR1420041010050500013M02606", "widgets")])
    [st] = ok(api.post("/bank-statements", user="cashier", content=camt), 201)["statements"]
    [line] = ok(api.get("/reconciliation", user="cashier"))["items"]
    assert line["statement_id"] == st["id"] and line["status"] == "suggested"

    with held_open(lambda s: service.confirm(s, cashier, ids["company"], line["id"])):
        thread, answer = meanwhile(lambda: api.post(f"/reconciliation/lines/{line['id']}/confirm", user="admin"))
    second = finished(thread, answer)
    assert second.status_code == 409 and "confirmed by cashier" in second.json()["detail"]
    assert payments() == 1
    assert open_amounts(invoices) == {"first": "0.00", "second": "20.19"}
    done = ok(api.get(f"/reconciliation/lines/{line['id']}", user="admin"))
    assert (done["status"], done["decided_by"]) == ("confirmed", "cashier")

    # The same when the second person matches the line to the other invoice instead.
    camt2 = statement([Entry("20.19", "Somebody", None, "x")], stmt_id="STMT-2", sequence=2)
    ok(api.post("/bank-statements", user="cashier", content=camt2), 201)
    [other] = ok(api.get("/reconciliation", user="cashier"))["items"]
    with held_open(lambda s: service.match(s, cashier, ids["company"], other["id"],
                                           [service.Pick(invoices["second"]["id"])])):
        thread, answer = meanwhile(lambda: api.post(f"/reconciliation/lines/{other['id']}/match", user="admin",
                                                    json={"customer_id": ids["LOYAL"]}))
    assert finished(thread, answer).status_code == 409
    assert payments() == 2
    assert open_amounts(invoices) == {"first": "0.00", "second": "0.00"}
    assert_ledger_agrees(ids["company"])


def test_the_same_file_imported_twice_at_once_is_stored_once(desk):
    api, cashier, ids, invoices = desk
    camt = statement([Entry("20.19", "LOYAL Inc.", None, f"Invoice {invoices['first']['number']}")])
    with held_open(lambda s: service.import_statement(s, cashier, ids["company"], camt, "dec04.xml")):
        thread, answer = meanwhile(lambda: api.post("/bank-statements", user="admin", content=camt))
    second = finished(thread, answer)
    assert second.status_code == 409 and second.json()["earlier"][0]["imported_by"] == "cashier"
    with read_session() as s:
        assert s.scalar(select(func.count()).select_from(BankStatement)) == 1
    assert payments() == 1
    assert open_amounts(invoices) == {"first": "0.00", "second": "20.19"}
    assert_ledger_agrees(ids["company"])


def test_an_invoice_paid_by_an_import_meanwhile_leaves_the_others_line_for_a_person(desk):
    """Two different statements both pay the same invoice (the customer paid twice), imported at the
    same moment: the second waits for the invoice, finds it paid, and keeps its line as a suggestion."""
    api, cashier, ids, invoices = desk
    number = invoices["first"]["number"]
    one = statement([Entry("20.19", "LOYAL Inc.", None, f"Invoice {number}")], stmt_id="BANK-A")
    two = statement([Entry("20.19", "LOYAL Inc.", None, f"Invoice {number}")], stmt_id="BANK-B")
    with held_open(lambda s: service.import_statement(s, cashier, ids["company"], one, "a.xml")):
        thread, answer = meanwhile(lambda: api.post("/bank-statements", user="admin", content=two))
    second = finished(thread, answer)
    assert second.status_code == 201, second.text
    [st] = second.json()["statements"]
    assert st["counts"]["auto"] == 0 and st["counts"]["suggested"] == 1
    [line] = ok(api.get("/reconciliation", user="cashier"))["items"]
    assert f"{number} was settled meanwhile: 0 is open now" in line["reasons"]
    assert payments() == 1
    r = api.post(f"/reconciliation/lines/{line['id']}/confirm", user="cashier")
    assert r.status_code == 409 and "settled meanwhile" in r.json()["detail"]
    assert ok(api.post(f"/reconciliation/lines/{line['id']}/match", user="cashier",
                       json={"customer_id": ids["LOYAL"]}))["status"] == "confirmed"  # kept as credit
    assert payments() == 2
    assert_ledger_agrees(ids["company"])
