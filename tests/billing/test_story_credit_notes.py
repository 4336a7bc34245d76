"""Credit notes, as a story: BIGBUY's first parcel (19 widgets, 2 gadgets) is invoiced and delivered;
two widgets come back and are refunded. An issued invoice is never edited: the refund becomes credit
note CN-2026-000001 referencing the invoice, for exactly the refund's net and tax, and the books still
balance. A redelivered refund makes nothing new; a manual credit above what is left is refused."""
from __future__ import annotations

from datetime import timedelta
from decimal import Decimal as D

from o2c.core import clock
from o2c.core.events import dispatch_pending
from tests.billing.test_story_invoicing import invoices_of, pick, redeliver
from tests.fulfillment.flow import MONDAY, ok, pack, place, release, ship, shipment_of
from tests.returns.delivery import events
from tests.shipping_world import equip


def delivered_and_invoiced(api) -> tuple[dict, dict]:
    """BIGBUY's 20 widgets and 2 gadgets; 19 + 2 ship, are invoiced (INV-2026-000001) and delivered."""
    clock.freeze(MONDAY)
    equip(api)
    order = place(api, "BIGBUY", [("WIDGET", "20"), ("GADGET", "2")])
    pick(api, release(api, order_ids=[order["id"]]), {"WIDGET": "19"})
    sh = shipment_of(api, order["id"])
    pack(api, sh["id"], [("WIDGET", 19), ("GADGET", 2)], "12.3", box="M")
    shipped = ship(api, sh["id"])
    ok(api.post("/tracking-events", user="keeper", json={
        "tracking_number": shipped["packages"][0]["tracking_number"], "kind": "delivered",
        "occurred_at": (MONDAY + timedelta(days=2)).isoformat(), "location": "dock 4"}), 201)
    dispatch_pending()
    [inv] = invoices_of(api, order["id"])
    return order, inv


def returned(api, order: dict, widgets: str) -> dict:
    """Widgets of line 1 asked back, authorised, received and inspected fit to restock (a refund)."""
    ret = ok(api.post("/returns", user="admin", json={"order_id": order["id"], "outcome": "refund", "lines": [
        {"line_no": 1, "quantity": widgets, "reason": "defective"}]}), 201)
    ok(api.post(f"/returns/{ret['id']}/authorise", user="admin", json={}))
    ok(api.post(f"/returns/{ret['id']}/receive", user="admin",
                json={"lines": [{"line_no": 1, "quantity": widgets}]}))
    return ok(api.post(f"/returns/{ret['id']}/inspect", user="admin",
                       json={"lines": [{"line_no": 1, "condition": "restock"}]}))


def notes(api, **params) -> list[dict]:
    return list(reversed(ok(api.get("/credit-notes", user="admin", params=params))["items"]))


def test_a_refunded_return_is_credited_against_its_invoice_and_the_books_balance(api):
    order, inv = delivered_and_invoiced(api)
    assert (inv["number"], inv["gross_total"]) == ("INV-2026-000001", "229.50")

    # 1. Two widgets come back on 7 December; the refund is 2/20 of the line's 180.00 and 11.25.
    clock.freeze(MONDAY + timedelta(days=7))
    ret = returned(api, order, "2")
    [due] = events("return.refund_due")
    assert (due["net"], due["tax"]) == ("18", "1.13")
    assert notes(api) == []  # billing reacts to the event
    dispatch_pending()

    # 2. The credit note: its own series, the refund's figures, the invoice it corrects.
    [cn] = notes(api)
    assert (cn["number"], cn["invoice_id"], cn["invoice_number"], cn["return_id"]) == (
        "CN-2026-000001", inv["id"], "INV-2026-000001", ret["id"])
    assert (cn["net_total"], cn["tax_total"], cn["gross_total"], cn["issue_date"]) == (
        "18.00", "1.13", "19.13", "2026-12-07")
    assert [(li["sku"], li["quantity"], li["net_amount"], li["tax_amount"]) for li in cn["lines"]] == [
        ("WIDGET", "2", "18.00", "1.13")]
    assert ok(api.get(f"/credit-notes/{cn['id']}", user="admin")) == cn
    # The invoice itself never changes; what is open on it is derived: its gross less the credit.
    assert ok(api.get(f"/invoices/{inv['id']}")) == inv | {"open_amount": "210.37", "payment_status": "open"}
    credited = [e["data"] for e in ok(api.get(f"/orders/{order['id']}/timeline")) if e["action"] == "credited"]
    assert [(d["credit_note"], d["invoice"], d["gross"]) for d in credited] == [("CN-2026-000001", "INV-2026-000001", "19.13")]
    [issued] = events("credit_note.issued")
    assert (issued["number"], issued["invoice"], issued["gross"]) == ("CN-2026-000001", "INV-2026-000001", "19.13")

    # 3. The books balance; receivables are the invoice less the credit, all on the invoice's open item.
    [tb] = ok(api.get("/ledger/trial-balance", user="admin"))
    assert tb["balanced"] is True
    balances = {a["code"]: a["balance"] for a in tb["accounts"]}
    assert balances == {"1100": "210.37", "2100": "-12.37", "4000": "-198.00"}  # 229.50 - 19.13; 13.50 - 1.13
    ar = tb["receivables"]
    assert D(ar["control"]) == D(ar["subledger"]) == D(inv["gross_total"]) - D(cn["gross_total"])
    entries = ok(api.get("/ledger/entries", user="admin"))["items"]
    assert [e["source_id"] for e in entries] == ["CN-2026-000001", "INV-2026-000001"]

    # 4. The refund delivered again (a crash before its delivery was recorded): nothing new.
    redeliver("return.refund_due", "o2c.process.credit_return")
    assert dispatch_pending() == 1
    assert notes(api) == [cn]
    assert len(ok(api.get("/ledger/entries", user="admin"))["items"]) == 2


def test_a_manual_credit_above_what_is_left_is_refused_and_stores_nothing(api):
    order, inv = delivered_and_invoiced(api)
    url = f"/invoices/{inv['id']}/credit-notes"

    # 17 of the 19 invoiced widgets can still be credited after a credit of 2; 18 cannot.
    first = api.post(url, user="admin", json={"reason": "two widgets scratched", "lines": [
        {"line_no": 1, "quantity": "2"}]}, headers={"Idempotency-Key": "cn-1"})
    again = api.post(url, user="admin", json={"reason": "two widgets scratched", "lines": [
        {"line_no": 1, "quantity": "2"}]}, headers={"Idempotency-Key": "cn-1"})
    assert first.status_code == again.status_code == 201, first.text
    assert again.json() == first.json() and again.headers["Idempotent-Replayed"] == "true"
    cn = first.json()
    assert (cn["number"], cn["net_total"], cn["tax_total"]) == ("CN-2026-000001", "18.00", "1.13")  # 10.69 x 2/19 = 1.1253

    r = api.post(url, user="admin", json={"reason": "too much", "lines": [{"line_no": 1, "quantity": "18"}]})
    assert r.status_code == 422, r.text
    assert [e["field"] for e in r.json()["errors"]] == ["lines[0].quantity"]
    r = api.post(url, user="admin", json={"reason": "price", "lines": [{"line_no": 2, "amount": "45.01"}]})
    assert r.status_code == 422 and [e["field"] for e in r.json()["errors"]] == ["lines[0].amount"]
    r = api.post(url, user="admin", json={"reason": "all of it", "lines": [
        {"line_no": 1, "amount": "153.00"}, {"line_no": 2, "amount": "45.00"}, {"line_no": 1, "quantity": "1"}]})
    assert r.status_code == 422 and [e["field"] for e in r.json()["errors"]] == ["lines"]  # above its invoice
    r = api.post(url, user="admin", json={"reason": " ", "lines": [{"line_no": 3, "quantity": "1"}]})
    assert r.status_code == 422 and {e["field"] for e in r.json()["errors"]} == {"reason"}
    assert api.post(url, user="keeper", json={"reason": "x", "lines": [{"line_no": 1, "quantity": "1"}]}).status_code == 403
    assert [n["number"] for n in notes(api)] == ["CN-2026-000001"]  # nothing stored by a refusal
    assert len(ok(api.get("/ledger/entries", user="admin"))["items"]) == 2


def test_invoice_and_credit_note_as_pdf(api):
    order, inv = delivered_and_invoiced(api)
    cn = ok(api.post(f"/invoices/{inv['id']}/credit-notes", user="admin",
                     json={"reason": "price agreed lower", "lines": [{"line_no": 2, "amount": "5.00"}]}), 201)
    r = api.get(f"/invoices/{inv['id']}.pdf")
    assert r.status_code == 200 and r.headers["content-type"] == "application/pdf"
    assert r.content.startswith(b"%PDF") and b"INV-2026-000001" in r.content
    r = api.get(f"/credit-notes/{cn['id']}.pdf", user="admin")
    assert r.status_code == 200 and r.content.startswith(b"%PDF")
    assert b"CN-2026-000001" in r.content and b"INV-2026-000001" in r.content
