"""E-invoices of stored documents, as a story: BIGBUY's first parcel is invoiced (INV-2026-000001,
229.50); until the company has told o2c what a PEPPOL invoice needs of a seller, and BIGBUY its
electronic address, the export is refused naming each field and where to set it. Once they are set,
the invoice and its credit notes come out as UBL 2.1 that the official UBL schema and the EN 16931 and
PEPPOL BIS 3.0 rule sets accept, saying to the cent what was issued and posted.

Then the harder documents, also made through the real flow: per-line tax that differs by a cent from
tax per rate (the e-invoice states the tax posted), a discounted customer, a tax-exempt customer, a
euro customer paying by SEPA transfer with early-payment terms.
"""
from __future__ import annotations

from decimal import Decimal as D

import pytest
from lxml import etree

from o2c.billing.einvoice import price, terms_text
from o2c.billing.terms import Terms
from o2c.core import clock
from o2c.core.auth import create_user, issue_api_key
from o2c.core.db import transaction
from o2c.core.events import dispatch_pending
from tests.billing.test_story_credit_notes import delivered_and_invoiced
from tests.billing.test_story_invoicing import invoices_of
from tests.customers.support import terms_approved
from tests.fulfillment.flow import MONDAY, everything, ok, pack, pick_all, place, release, ship, shipment_of

from .validation import compile_rule_sets, schematron_failures, xsd_errors

NS = {"cac": "urn:oasis:names:specification:ubl:schema:xsd:CommonAggregateComponents-2",
      "cbc": "urn:oasis:names:specification:ubl:schema:xsd:CommonBasicComponents-2"}

SELLER = {"legal_name": "Acme Supply Inc.", "vat_id": "US 04-3456789", "registration_id": "IL-CORP-5512",
          "endpoint_id": "4000001000005", "endpoint_scheme": "0088", "street": "100 W Randolph St",
          "city": "Chicago", "postal_code": "60601", "iban": "DE89 3704 0044 0532 0130 00", "bic": "COBADEFFXXX"}


@pytest.fixture(scope="module", autouse=True)
def _rules():
    compile_rule_sets()  # about a second, once


def valid(xml: bytes) -> etree._Element:
    """The document, after the UBL 2.1 schema and the EN 16931 and PEPPOL rules found nothing to say."""
    assert xsd_errors(xml) == []
    assert schematron_failures(xml) == []  # not even a warning
    return etree.fromstring(xml)


def text(root, path: str) -> str:
    return root.findtext(path, namespaces=NS)


def texts(root, path: str) -> list[str]:
    return [e.text for e in root.iterfind(path, NS)]


def seller_ready(api) -> None:
    ok(api.patch("/company", user="admin", json=SELLER))


def endpoint(api, customer_id: int, gln: str | None) -> None:
    ok(api.patch(f"/customers/{customer_id}", user="admin",
                 json={"endpoint_id": gln, "endpoint_scheme": "0088" if gln else None}))


def portal_user(world, name: str, customer: str) -> str:
    def work(s):
        return issue_api_key(s, create_user(s, name, ["customer"], [world["ids"]["company"]],
                                            customer_id=world["ids"][customer]))
    return transaction(work)


def ship_order(api, customer: str, lines: list[tuple[str, str]], weight: str, **extra) -> tuple[dict, dict]:
    """An order placed, picked in full, packed in one L box (its weight: the goods and 0.8 kg of box),
    shipped and invoiced."""
    order = place(api, customer, lines, **extra)
    pick_all(api, release(api, order_ids=[order["id"]]))
    sh = shipment_of(api, order["id"])
    pack(api, sh["id"], [(sku, qty) for sku, qty in lines], weight, box="L")
    ship(api, sh["id"])
    dispatch_pending()
    [inv] = invoices_of(api, order["id"])
    return order, inv


def test_an_invoice_and_its_credit_notes_become_peppol_documents_once_the_parties_are_known(api, world):
    order, inv = delivered_and_invoiced(api)
    big = world["ids"]["BIGBUY"]
    url = f"/invoices/{inv['id']}.xml"

    # 1. Nothing is made up: without the seller's details and BIGBUY's electronic address, 409 naming each.
    r = api.get(url, user="biller")
    assert r.status_code == 409, r.text
    missing = r.json()["missing"]
    assert {"company.street", "company.city", "company.vat_id", "company.endpoint_id",
            "customer.endpoint_id"} <= set(missing)
    why = {e["field"]: e["message"] for e in r.json()["errors"]}
    assert "PATCH /company" in why["company.vat_id"]
    assert f"PATCH /customers/{big}" in why["customer.endpoint_id"]

    # 2. The company's seller details: bad ones are refused naming the field, and change nothing.
    before = ok(api.get("/company", user="admin"))
    r = api.patch("/company", user="admin", json={**SELLER, "vat_id": "DE136695977", "iban": "DE89 3704 0044 0532 0130 01",
                                                  "bic": "COBAXXFF", "endpoint_scheme": "9999"})
    assert r.status_code == 422, r.text
    assert {e["field"] for e in r.json()["errors"]} == {"vat_id", "iban", "bic", "endpoint_scheme"}
    r = api.patch("/company", user="admin", json={"endpoint_id": "4000001000006", "endpoint_scheme": "0088"})
    assert r.status_code == 422 and [e["field"] for e in r.json()["errors"]] == ["endpoint_id"]  # GLN check digit
    r = api.patch("/company", user="admin", json={"endpoint_id": "4000001000005"})
    assert r.status_code == 422 and [e["field"] for e in r.json()["errors"]] == ["endpoint_scheme"]
    assert api.patch("/company", user="biller", json=SELLER).status_code == 403
    assert ok(api.get("/company", user="admin")) == before
    seller_ready(api)
    company = ok(api.get("/company", user="admin"))
    assert (company["vat_id"], company["iban"], company["bic"]) == ("US043456789", "DE89370400440532013000", "COBADEFFXXX")

    # 3. Still refused for the buyer alone, then exported.
    r = api.get(url, user="biller")
    assert r.status_code == 409 and r.json()["missing"] == ["customer.endpoint_id"]
    endpoint(api, big, "4000001000012")
    r = api.get(url, user="biller")
    assert r.status_code == 200 and r.headers["content-type"] == "application/xml", r.text
    root = valid(r.content)
    assert etree.QName(root).localname == "Invoice" and text(root, "cbc:InvoiceTypeCode") == "380"
    assert (text(root, "cbc:ID"), text(root, "cbc:IssueDate"), text(root, "cbc:DueDate")) == (
        "INV-2026-000001", inv["issue_date"], inv["due_date"])
    assert text(root, "cbc:BuyerReference") == order["number"]  # no PO number: our order number
    assert texts(root, ".//cbc:EndpointID") == ["4000001000005", "4000001000012"]
    assert text(root, "cac:AccountingSupplierParty//cac:PartyTaxScheme/cbc:CompanyID") == "US043456789"
    assert text(root, "cac:AccountingCustomerParty//cbc:RegistrationName") == "BIGBUY Inc."
    #    The figures are the invoice's, to the cent.
    assert (text(root, "cac:TaxTotal/cbc:TaxAmount"), text(root, "cac:LegalMonetaryTotal/cbc:TaxExclusiveAmount"),
            text(root, "cac:LegalMonetaryTotal/cbc:PayableAmount")) == (
        inv["tax_total"], inv["net_total"], inv["gross_total"])
    assert [(text(ln, "cbc:InvoicedQuantity"), text(ln, "cbc:LineExtensionAmount"), text(ln, "cac:Price/cbc:PriceAmount"))
            for ln in root.iterfind("cac:InvoiceLine", NS)] == [("19", "171.00", "9.00"), ("2", "45.00", "22.50")]
    #    Paid by transfer to the company's account, quoting the invoice number.
    means = root.find("cac:PaymentMeans", NS)
    assert (text(means, "cbc:PaymentMeansCode"), text(means, "cbc:PaymentID"),
            text(means, "cac:PayeeFinancialAccount/cbc:ID")) == ("30", "INV-2026-000001", "DE89370400440532013000")
    assert text(root, "cac:PaymentTerms/cbc:Note") == f"net 30: 229.50 USD due by {inv['due_date']}"

    # 4. A credit note by quantity and one by price: both name the invoice and pass the same checks.
    by_qty = ok(api.post(f"/invoices/{inv['id']}/credit-notes", user="biller",
                         json={"reason": "two widgets scratched", "lines": [{"line_no": 1, "quantity": "2"}]}), 201)
    by_price = ok(api.post(f"/invoices/{inv['id']}/credit-notes", user="biller",
                           json={"reason": "gadget price agreed lower", "lines": [{"line_no": 2, "amount": "5.00"}]}), 201)
    for cn, (qty, net, unit) in ((by_qty, ("2", "18.00", "9.00")), (by_price, ("2", "5.00", "2.50"))):
        r = api.get(f"/credit-notes/{cn['id']}.xml", user="biller")
        assert r.status_code == 200, r.text
        root = valid(r.content)
        assert etree.QName(root).localname == "CreditNote" and text(root, "cbc:CreditNoteTypeCode") == "381"
        assert text(root, "cac:BillingReference/cac:InvoiceDocumentReference/cbc:ID") == "INV-2026-000001"
        assert text(root, "cbc:Note") == cn["reason"]
        assert text(root, "cac:LegalMonetaryTotal/cbc:PayableAmount") == cn["gross_total"]
        assert text(root, "cac:TaxTotal/cbc:TaxAmount") == cn["tax_total"]
        [line] = root.iterfind("cac:CreditNoteLine", NS)
        assert (text(line, "cbc:CreditedQuantity"), text(line, "cbc:LineExtensionAmount"),
                text(line, "cac:Price/cbc:PriceAmount")) == (qty, net, unit)

    # 5. A portal user gets their own customer's e-invoices, and nobody else's.
    api.keys["bigbuy"] = portal_user(world, "bigbuy_ap", "BIGBUY")
    api.keys["tidy"] = portal_user(world, "tidy_ap", "TIDY")
    assert api.get(url, user="bigbuy").status_code == 200
    assert api.get(url, user="tidy").status_code == 404
    assert api.get(f"/credit-notes/{by_qty['id']}.xml", user="tidy").status_code == 404

    # 6. Clearing the buyer's address again: refused, naming it; nothing is stored by an export.
    endpoint(api, big, None)
    before = everything()
    r = api.get(url, user="biller")
    assert r.status_code == 409 and r.json()["missing"] == ["customer.endpoint_id"]
    assert everything() == before


def test_the_e_invoice_states_the_tax_as_posted_when_per_line_rounding_differs_from_per_rate(api):
    """LOYAL (5 % standing discount) buys a widget and a gadget: 9.50 and 23.75, tax 0.59 and 1.48 per
    line (6.25 % of each, rounded) = 2.07 posted, where 6.25 % of 33.25 is 2.08. The e-invoice states
    2.07 and a payable of 35.32, which BR-CO-17 accepts (within one unit of the currency)."""
    from tests.shipping_world import equip

    clock.freeze(MONDAY)
    equip(api)
    seller_ready(api)
    loyal = ok(api.get("/customers", params={"q": "LOYAL"}))["items"][0]
    endpoint(api, loyal["id"], "4000001000029")
    _, inv = ship_order(api, "LOYAL", [("WIDGET", "1"), ("GADGET", "1")], "2.5", po_number="LOY-9")
    assert [(li["net_amount"], li["tax_amount"]) for li in inv["lines"]] == [("9.50", "0.59"), ("23.75", "1.48")]
    root = valid(ok_xml(api, f"/invoices/{inv['id']}.xml"))
    assert (text(root, "cac:TaxTotal/cbc:TaxAmount"), text(root, "cac:LegalMonetaryTotal/cbc:PayableAmount")) == (
        "2.07", "35.32") == (inv["tax_total"], inv["gross_total"])
    assert (text(root, "cac:OrderReference/cbc:ID"), text(root, "cbc:BuyerReference")) == ("LOY-9", "LOY-9")
    #    The discounted prices: the net per unit (10.00 less 5 %).
    assert texts(root, "cac:InvoiceLine/cac:Price/cbc:PriceAmount") == ["9.50", "23.75"]


def test_a_tax_exempt_customer_and_a_euro_customer_with_early_payment_terms(api):
    from tests.shipping_world import equip

    clock.freeze(MONDAY)
    equip(api)
    seller_ready(api)
    customers = {c["code"]: c for c in ok(api.get("/customers", params={"limit": 50}))["items"]}
    for code, gln in (("EXEMPT", "4000001000036"), ("EURO", "4000001000043")):
        endpoint(api, customers[code]["id"], gln)

    # Exempt: no tax; VAT category E with the customer's exemption certificate as the reason.
    _, inv = ship_order(api, "EXEMPT", [("WIDGET", "3")], "2.3")
    root = valid(ok_xml(api, f"/invoices/{inv['id']}.xml"))
    sub = root.find("cac:TaxTotal/cac:TaxSubtotal", NS)
    assert (text(sub, "cac:TaxCategory/cbc:ID"), text(sub, "cbc:TaxAmount"), text(sub, "cac:TaxCategory/cbc:TaxExemptionReason")) == (
        "E", "0.00", "Tax-exempt customer, certificate IL-EX-0042")

    # EURO pays 2/10 net 30 in euros: a SEPA transfer, the discount spelt out in the terms.
    terms_approved(api, customers["EURO"]["id"], {"early_discount_pct": "2", "early_discount_days": 10})
    _, inv = ship_order(api, "EURO", [("WIDGET", "10")], "5.8")
    assert inv["currency"] == "EUR" and inv["terms"] == "2/10 net 30"
    root = valid(ok_xml(api, f"/invoices/{inv['id']}.xml"))
    assert text(root, "cbc:DocumentCurrencyCode") == "EUR"
    assert text(root, "cac:PaymentMeans/cbc:PaymentMeansCode") == "58"
    assert text(root, "cac:PaymentMeans/cac:PayeeFinancialAccount/cac:FinancialInstitutionBranch/cbc:ID") == "COBADEFFXXX"
    gross = inv["gross_total"]
    off = (D(gross) * D("0.02")).quantize(D("0.01"))
    assert text(root, "cac:PaymentTerms/cbc:Note") == (
        f"2/10 net 30: 2 % ({off} EUR) off if paid by 2026-12-10; {gross} EUR due by 2026-12-30")


def ok_xml(api, url: str) -> bytes:
    r = api.get(url, user="biller")
    assert r.status_code == 200, r.text
    return r.content


# --- the pure parts -------------------------------------------------------------------------------


def test_a_price_is_the_unit_price_or_the_net_per_unit_or_the_net_for_the_whole_quantity():
    assert price(D("19"), D("9.0000"), D("171.00")) == (D("9.0000"), None)  # no discount: the unit price
    assert price(D("1"), D("10.0000"), D("9.50")) == (D("9.5000"), None)  # 5 % off: the net per unit
    # 1200 bolts at 0.3333 less 5 %: 379.96; 0.3166 x 1200 = 379.92 is 0.04 off, beyond R120's 0.02,
    # so the price is given for the whole quantity (BT-149 base quantity).
    assert price(D("1200"), D("0.3333"), D("379.96")) == (D("379.96"), D("1200"))


def test_terms_text_spells_out_the_early_payment_discount():
    from datetime import date

    issued, due = date(2026, 12, 1), date(2026, 12, 31)
    assert terms_text(Terms(30), issued, due, D("100.00"), "USD") == "net 30: 100.00 USD due by 2026-12-31"
    assert terms_text(Terms(30, D("2"), 10), issued, due, D("229.50"), "USD") == (
        "2/10 net 30: 2 % (4.59 USD) off if paid by 2026-12-11; 229.50 USD due by 2026-12-31")
