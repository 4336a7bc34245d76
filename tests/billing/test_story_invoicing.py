"""Billing's story: BIGBUY orders 20 widgets and 2 gadgets; the bin holds 19 widgets, so the first
parcel ships 19 + 2 and the last widget follows a week later. Each shipment is invoiced for what it
shipped, never for what was ordered, and posted to the ledger; the two invoices add up to the order to
the cent; numbers run without a gap; the books balance.
"""
from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal as D

from sqlalchemy import delete, select, update

from o2c.core import clock
from o2c.core.db import transaction
from o2c.core.events import dispatch_pending
from o2c.core.models import OutboxDelivery, OutboxEvent
from tests.fulfillment.flow import MONDAY, ok, pack, pick_lists, place, release, ship, shipment_of
from tests.customers.support import terms_approved
from tests.shipping_world import equip


def pick(api, wave: dict, short: dict[str, str]) -> None:
    """Every task of the wave picked in full, except the SKUs in `short`, picked at that quantity."""
    for pl in pick_lists(api, wave):
        picks = [{"task_id": t["task_id"], "quantity": short.get(stop["sku"], t["quantity"])}
                 for stop in pl["stops"] for t in stop["tasks"]]
        ok(api.post(f"/pick-lists/{pl['id']}/picks", user="keeper", json={"picks": picks}))


def redeliver(topic: str, subscriber: str) -> None:
    """Make the events of a topic due again, as if the subscriber had never recorded their delivery."""
    def work(s):
        ids = select(OutboxEvent.id).where(OutboxEvent.topic == topic)
        s.execute(delete(OutboxDelivery).where(OutboxDelivery.event_id.in_(ids),
                                               OutboxDelivery.subscriber == subscriber))
        s.execute(update(OutboxEvent).where(OutboxEvent.topic == topic).values(processed_at=None))
    transaction(work)


def invoices_of(api, order_id: int) -> list[dict]:
    return list(reversed(ok(api.get("/invoices", params={"order_id": order_id}))["items"]))  # oldest first


def test_a_short_shipment_and_its_remainder_are_invoiced_separately_and_add_up_to_the_order(api):
    clock.freeze(MONDAY)  # Monday 30 November 2026, 09:00 in Chicago
    equip(api)
    big = ok(api.get("/customers", params={"q": "BIGBUY"}))["items"][0]
    terms_approved(api, big["id"], {"payment_terms_days": 45})  # admin asks, the data steward approves

    # 1. The order: 20 widgets at 9.00 and 2 gadgets at BIGBUY's 22.50, Illinois tax 6.25 %.
    order = place(api, "BIGBUY", [("WIDGET", "20"), ("GADGET", "2")], po_number="PO-77")
    assert (order["subtotal"], order["tax_total"], order["total"]) == ("225.00", "14.06", "239.06")

    # 2. The first shipment: the bin has 19 widgets; 19 + 2 are packed and shipped.
    wave = release(api, order_ids=[order["id"]])
    pick(api, wave, {"WIDGET": "19"})
    sh1 = shipment_of(api, order["id"])
    pack(api, sh1["id"], [("WIDGET", 19), ("GADGET", 2)], "12.3", box="M")
    ship(api, sh1["id"])
    assert invoices_of(api, order["id"]) == []  # billing reacts to the event, not inside the ship

    dispatch_pending()
    [inv1] = invoices_of(api, order["id"])
    assert inv1["number"] == "INV-2026-000001" and inv1["shipment_id"] == sh1["id"]
    assert [(li["sku"], li["quantity"], li["net_amount"], li["tax_amount"]) for li in inv1["lines"]] == [
        ("WIDGET", "19", "171.00", "10.69"),  # 180.00 x 19/20; 11.25 x 19/20 = 10.6875
        ("GADGET", "2", "45.00", "2.81")]
    assert (inv1["net_total"], inv1["tax_total"], inv1["gross_total"]) == ("216.00", "13.50", "229.50")
    assert inv1["issue_date"] == "2026-11-30" and inv1["terms"] == "net 45"
    assert inv1["due_date"] == str(date(2026, 11, 30) + timedelta(days=45))

    # 3. A week later the last widget ships; its invoice takes exactly what the first one left.
    clock.freeze(MONDAY + timedelta(days=7))
    wave2 = release(api, order_ids=[order["id"]])
    pick(api, wave2, {})
    sh2 = next(s for s in ok(api.get("/shipments", user="keeper", params={"order_id": order["id"]}))["items"]
               if s["id"] != sh1["id"])
    pack(api, sh2["id"], [("WIDGET", 1)], "0.7", box="S")
    ship(api, sh2["id"])
    dispatch_pending()
    inv1_again, inv2 = invoices_of(api, order["id"])
    assert inv1_again == inv1  # an issued invoice never changes
    assert inv2["number"] == "INV-2026-000002" and inv2["issue_date"] == "2026-12-07"
    assert [(li["sku"], li["quantity"], li["net_amount"], li["tax_amount"]) for li in inv2["lines"]] == [
        ("WIDGET", "1", "9.00", "0.56")]  # what the first invoice left of the line: 180.00 - 171.00, 11.25 - 10.69
    #    Together: the order to the cent.
    order_now = ok(api.get(f"/orders/{order['id']}"))
    for inv_field, order_value in (("net_total", D(order_now["subtotal"]) - D(order_now["discount_total"])),
                                   ("tax_total", D(order_now["tax_total"])), ("gross_total", D(order_now["total"]))):
        assert D(inv1[inv_field]) + D(inv2[inv_field]) == order_value, inv_field

    # 4. The books: receivables carry both invoices, for BIGBUY, and the trial balance balances.
    [tb] = ok(api.get("/ledger/trial-balance", user="admin"))
    assert tb["currency"] == "USD" and tb["balanced"] is True
    balances = {a["code"]: a["balance"] for a in tb["accounts"]}
    assert balances == {"1100": "239.06", "2100": "-14.06", "4000": "-225.00"}
    gross = D(inv1["gross_total"]) + D(inv2["gross_total"])
    ar = tb["receivables"]
    assert D(ar["control"]) == D(ar["subledger"]) == gross and ar["agrees"] is True
    assert {int(k): D(v) for k, v in ar["customers"].items()} == {big["id"]: gross}
    entries = ok(api.get("/ledger/entries", user="admin"))["items"]
    assert [(e["number"], e["source_id"]) for e in entries] == [(2, "INV-2026-000002"), (1, "INV-2026-000001")]
    csv = api.get("/ledger/journal.csv", user="admin")
    assert csv.status_code == 200 and "INV-2026-000002" in csv.text and ",1100,Trade receivables,9.56,0.00," in csv.text

    # 5. Events are delivered at least once: delivering the shipments' events again (as after a crash
    #    before their delivery was recorded), or asking by hand, makes nothing new.
    redeliver("shipment.shipped", "o2c.process.invoice_shipment")
    assert dispatch_pending() == 2
    r = api.post(f"/invoices/from-shipment/{sh1['id']}", user="admin")
    assert r.status_code == 200 and r.json() == inv1
    assert invoices_of(api, order["id"]) == [inv1, inv2]
    assert len(ok(api.get("/ledger/entries", user="admin"))["items"]) == 2

    # 6. The order's timeline shows both invoices; who may do what.
    invoiced = [e["data"] for e in ok(api.get(f"/orders/{order['id']}/timeline")) if e["action"] == "invoiced"]
    assert [(d["invoice"], d["gross"]) for d in invoiced] == [("INV-2026-000001", "229.50"), ("INV-2026-000002", "9.56")]
    assert api.get("/ledger/trial-balance").status_code == 403  # the order desk does not read the ledger
    assert api.post(f"/invoices/from-shipment/{sh1['id']}", user="keeper").status_code == 403
    r = api.get(f"/invoices/{inv1['id']}.xml")
    assert r.status_code == 409 and "company.endpoint_id" in r.json()["missing"]
