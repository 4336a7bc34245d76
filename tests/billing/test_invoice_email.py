"""The customer gets each invoice by email, the PDF attached, once; a paid refund is announced."""
from __future__ import annotations

from decimal import Decimal as D

from o2c.billing.notifications import refund_notice
from o2c.core import clock
from o2c.core.events import dispatch_pending
from tests.billing.test_story_invoicing import invoices_of, pick
from tests.fulfillment.flow import MONDAY, ok, pack, place, release, ship, shipment_of
from tests.shipping_world import equip
from tests.test_notifications import smtp, smtp_port  # noqa: F401 (fixtures)


def test_the_invoice_goes_to_the_customer_by_email_with_its_pdf_once(api, smtp):  # noqa: F811
    clock.freeze(MONDAY)
    equip(api)
    ok(api.patch("/company", user="admin", json={"iban": "DE02120300000000202051", "legal_name": "Acme Supply Inc."}))
    order = place(api, "BIGBUY", [("WIDGET", "20"), ("GADGET", "2")], po_number="PO-77")
    dispatch_pending()  # the order confirmation
    confirmations = len(smtp.messages)
    wave = release(api, order_ids=[order["id"]])
    pick(api, wave, {"WIDGET": "19"})
    sh = shipment_of(api, order["id"])
    pack(api, sh["id"], [("WIDGET", 19), ("GADGET", 2)], "12.3", box="M")
    ship(api, sh["id"])
    for _ in range(3):  # shipped -> invoiced -> emailed; the event arrives again: no second email
        dispatch_pending()
    [inv] = invoices_of(api, order["id"])
    mails = [m for _, m in smtp.messages[confirmations:] if m["Subject"].startswith("Invoice")]
    assert len(mails) == 1
    msg = mails[0]
    assert msg["To"] == "buyer@bigbuy.example" and msg["Subject"] == f"Invoice {inv['number']} from Acme Supply Inc."
    body = msg.get_body(("plain",)).get_content()
    assert "PO-77" in body and "WIDGET" in body and "$216.00" in body and "$13.50" in body and "$229.50" in body
    assert f"by {inv['due_date']} to DE02120300000000202051, quoting {inv['number']}" in body
    [pdf] = list(msg.iter_attachments())
    assert pdf.get_filename() == f"{inv['number']}.pdf" and pdf.get_content_type() == "application/pdf"
    assert pdf.get_content().startswith(b"%PDF")


def test_the_refund_notice_says_how_much_how_and_for_which_return():
    subject, body = refund_notice(customer_name="BIGBUY Inc.", seller="Acme Supply Inc.", number="RF00000003",
                                  amount=D("10.63"), currency="USD", method="card", rma="RMA-000004")
    assert subject == "Refund RF00000003: $10.63 paid"
    assert "we have paid you $10.63 for your return RMA-000004 to the card you paid with" in body
