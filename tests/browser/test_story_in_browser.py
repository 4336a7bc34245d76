"""The whole flow in a real browser, as the people who do it each day, each logged in on their own:

A buyer of BIGBUY orders twelve widgets in the portal (clicking "Place order" twice: one order). The order
desk finds it, held for credit: BIGBUY's limit is 100 USD. A credit analyst, not the buyer, approves it
with a reason. The warehouse releases a wave, confirms the picks, packs at the station by scanning (a
barcode nobody knows is refused, with the low buzz), and ships with a label. The shipment is invoiced
(the dispatcher in the server does it); the invoice appears in the portal, the buyer pays it by card,
the carrier reports the delivery, and the buyer's order shows delivered and paid.

The pictures in the README are taken here (O2C_SCREENSHOTS_DIR).
"""
from __future__ import annotations

import re
import time
from datetime import datetime, timezone
from decimal import Decimal as D
from types import SimpleNamespace

from sqlalchemy import select

from o2c.billing import service as billing
from o2c.billing.models import Invoice
from o2c.core.db import read_session
from o2c.orders.models import Order
from tests.browser.conftest import PHONE
from tests.credit.support import set_limit
from tests.fulfillment.flow import ok
from tests.payments.card_world import stripe  # noqa: F401  (the local Stripe the card payment goes to)
from tests.shipping_world import equip

WIDGET_GTIN = "04006381333931"
PO = "PO-BROWSER-1"


def _orders_of(customer_id: int) -> list[SimpleNamespace]:
    with read_session() as s:
        return [SimpleNamespace(id=o.id, number=o.number, po_number=o.po_number, channel=o.channel,
                                status=o.status, total=o.total)
                for o in s.scalars(select(Order).where(Order.customer_id == customer_id))]


def _wait_for(fn, what: str, seconds: float = 20):
    deadline = time.monotonic() + seconds
    while True:
        got = fn()
        if got:
            return got
        assert time.monotonic() < deadline, f"waited {seconds}s for {what}"
        time.sleep(0.2)


def test_an_order_from_the_portal_to_cash_in_the_browser(api, world, open_as, shots, stripe):  # noqa: F811
    equip(api)  # carriers, boxes, bins: the warehouse can ship
    bigbuy = world["ids"]["BIGBUY"]
    set_limit(api, bigbuy, credit_limit="100")

    # 1. The buyer orders in the portal: the catalogue shows BIGBUY's prices.
    buyer = open_as("buyer")
    assert buyer.url.endswith("/portal")
    shots.take(buyer, "portal-catalogue")
    buyer.get_by_label("Quantity of WIDGET").fill("12")
    buyer.get_by_label("Quantity of WIDGET").press("Enter")
    buyer.wait_for_load_state()
    buyer.goto("/portal/cart")
    buyer.get_by_label("Your PO number").fill(PO)
    shots.take(buyer, "portal-cart")
    buyer.get_by_role("button", name="Place order").dblclick()
    buyer.wait_for_url(re.compile(r"/portal/orders/\d+"))
    [order] = _orders_of(bigbuy)  # a double click places one order
    assert order.po_number == PO and order.channel == "b2b_portal" and order.status == "held"
    assert order.total > D("100")
    number = order.number
    assert number in buyer.content()

    # 2. The order desk finds it and sees what it waits for, and who must act.
    desk = open_as("desk")
    desk.goto(f"/app/orders?q={PO}")
    desk.get_by_role("link", name=number).click()
    waits = desk.locator(".waits").inner_text()
    assert "Credit" in waits and "credit analyst" in waits.lower()
    shots.take(desk, "back-office-order")

    # 3. A credit analyst approves it with a reason (the buyer who entered it could not).
    analyst = open_as("analyst")
    analyst.goto("/app/queues/credit")
    row = analyst.locator(f"tr#row-{order.id}")
    assert "$" in row.inner_text()
    shots.take(analyst, "queue-credit")
    row.get_by_label("Reason").fill("long-standing customer, paid on time")
    row.get_by_role("button", name="Approve").click()
    _wait_for(lambda: _orders_of(bigbuy)[0].status == "confirmed", "the approval to confirm the order")
    assert number not in analyst.locator("main").inner_text() or "approved" in analyst.content().lower()

    # 4. The warehouse: a wave, the picks, the pack station with scans, the shipment with its label.
    keeper = open_as("keeper")
    keeper.goto("/app/warehouse")
    shots.take(keeper, "warehouse")
    keeper.get_by_role("button", name="Release a wave").click()
    keeper.wait_for_load_state()
    assert "Released wave" in keeper.locator("#messages").inner_text()
    keeper.locator("a[href^='/app/warehouse/pick-lists/']").first.click()
    shots.take(keeper, "pick-list")
    keeper.get_by_role("button", name="Confirm all open lines").click()
    keeper.wait_for_load_state()
    shipment_id = ok(api.get("/shipments", user="keeper", params={"order_id": order.id}))["items"][0]["id"]
    keeper.goto(f"/app/warehouse/pack/{shipment_id}")
    scan = keeper.get_by_label("Scan item barcode")
    assert scan.evaluate("el => el === document.activeElement")  # ready for the scanner
    keeper.evaluate("window.settled = 0; document.addEventListener('htmx:afterSettle', () => window.settled++)")

    def scan_in(code: str, feedback: str) -> None:
        """A keyboard-wedge scanner: it types the code, then Enter; wait until the answer is in place."""
        done = keeper.evaluate("window.settled")
        keeper.keyboard.type(code)
        keeper.keyboard.press("Enter")
        # Polled from here: the pages' policy forbids eval, which wait_for_function's predicate needs.
        _wait_for(lambda: keeper.evaluate("window.settled") > done, "the scan's answer")
        assert keeper.evaluate("document.body.dataset.lastScan") == feedback  # the beep's tone

    scan_in(WIDGET_GTIN, "ok")
    assert keeper.locator(".scan-result.ok").count() == 1
    scan_in("0000000000000", "refused")  # nobody's barcode
    assert "Unknown barcode 0000000000000" in keeper.locator(".scan-result.bad").inner_text()
    assert keeper.locator("tr[data-sku=WIDGET] .scanned").inner_text() == "1"  # the refusal counted nothing
    keeper.get_by_label("Units in this scan").fill("11")
    keeper.get_by_label("Scan item barcode").focus()
    scan_in(WIDGET_GTIN, "ok")
    assert keeper.locator("tr[data-sku=WIDGET] .scanned").inner_text() == "12"
    shots.take(keeper, "pack-station")
    keeper.get_by_label("Weight on the scale (kg)").fill("6.2")  # 12 x 0.5 kg and the small box
    keeper.get_by_role("button", name="Close parcel").click()
    keeper.wait_for_load_state()
    keeper.goto(f"/app/warehouse/ship/{shipment_id}")
    keeper.get_by_role("button", name="Confirm and print labels").click()
    keeper.wait_for_load_state()
    tracking = keeper.locator("dd.tracking").inner_text()
    assert tracking not in ("", "–")
    label = keeper.locator("a[href$='label.pdf']").first.get_attribute("href")
    assert keeper.request.get(label).body()[:4] == b"%PDF"
    shots.take(keeper, "ship-confirmation")

    # 5. The shipment is invoiced by the server's dispatcher; the invoice appears in the portal.
    invoice = _wait_for(lambda: _invoice_of(order.id), "the shipment's invoice")
    buyer.goto("/portal/invoices")
    assert invoice.number in buyer.content()
    shots.take(buyer, "portal-invoices")

    # 6. The buyer pays it by card.
    buyer.goto(f"/portal/invoices/{invoice.id}/pay")
    buyer.get_by_label("Card").fill("pm_card_visa")
    buyer.get_by_role("button", name="Pay").click()
    buyer.wait_for_url(re.compile(rf"/portal/invoices/{invoice.id}$"))
    assert "Paid" in buyer.locator("main").inner_text()
    assert _invoice_of(order.id).open_amount == 0

    # 7. The carrier reports the delivery; the buyer's order, on a phone, shows delivered and paid.
    ok(api.post("/tracking-events", user="keeper", json={
        "tracking_number": tracking.split(",")[0].strip(), "kind": "delivered", "location": "front desk",
        "occurred_at": datetime.now(timezone.utc).isoformat()}), 201)
    phone = open_as("buyer", viewport=PHONE, path=f"/portal/orders/{order.id}")
    page = phone.locator("main").inner_text()
    assert "Delivered" in page and "Paid" in page, page
    assert phone.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
    shots.take(phone, "portal-order-phone")

    # The back office sees the same: the order's timeline runs from capture to payment.
    desk.goto(f"/app/orders/{order.id}")
    timeline = desk.locator(".timeline").inner_text()
    for step in ("Credit approval given", "packed", "handed to", "Invoice INV", "paid by card in the portal",
                 "delivered"):
        assert step.lower() in timeline.lower(), (step, timeline)
    shots.take(desk, "back-office-order-done")
    dash = open_as("admin")
    shots.take(dash, "dashboard")


def _invoice_of(order_id: int) -> SimpleNamespace | None:
    with read_session() as s:
        inv = s.scalar(select(Invoice).where(Invoice.order_id == order_id))
        if inv is None:
            return None
        return SimpleNamespace(id=inv.id, number=inv.number, open_amount=billing.open_amounts(s, [inv.id])[inv.id])
