"""E-invoices of issued documents: a stored invoice or credit note as UBL 2.1 following PEPPOL BIS Billing
3.0 (EN 16931), written by o2c.billing.ubl from the document, its order, the company (the seller) and the
customer (the buyer).

The e-invoice says what was issued and posted, to the cent: lines at their stored net amounts, and each
VAT group's tax as the sum of its lines' tax as charged (BR-CO-17 accepts it within one unit of taxable
x rate), so the amount due is the invoice's gross, the receivable in the books.

What EN 16931 or PEPPOL needs and o2c does not have (the seller's VAT id, either party's electronic
address, an address line) refuses the export with 409, one error per missing field, named where it is
set: `company.vat_id` (PATCH /company), `customer.endpoint_id` (PATCH /customers/{id}),
`customer.billing_address.city`. Nothing is ever made up: a placeholder address would route nowhere.
"""
from __future__ import annotations

import re
from collections.abc import Iterable
from datetime import date, datetime
from decimal import ROUND_HALF_UP, Decimal
from zoneinfo import ZoneInfo

from sqlalchemy.orm import Session

from o2c.billing import service, ubl
from o2c.billing.models import CreditNote, Invoice, InvoiceLine
from o2c.billing.terms import Terms, discount_amount, discount_deadline, parse_terms
from o2c.core.auth import Actor
from o2c.core.companies import get as get_company
from o2c.core.errors import Conflict, FieldError, ValidationFailed
from o2c.core.models import Company
from o2c.core.money import ZERO, plain, round_money
from o2c.customers import service as customers
from o2c.fulfillment import service as fulfillment
from o2c.orders import service as orders

# Units as o2c products name them, in UN/ECE Recommendation 20 (with Rec. 21 package codes, X-prefixed)
# where they differ; any other unit is written as it is and must be a Rec. 20 code already (EA, C62, KGM).
UNIT_CODES = {
    "PC": "H87", "PCS": "H87", "PCE": "H87", "PIECE": "H87", "KG": "KGM", "G": "GRM", "L": "LTR", "M": "MTR",
    "M2": "MTK", "M3": "MTQ", "CS": "XCS", "CASE": "XCS", "BX": "XBX", "BOX": "XBX", "PK": "XPK", "PACK": "XPK",
    "H": "HUR", "HR": "HUR", "HOUR": "HUR", "DAY": "DAY", "PAIR": "PR", "DOZEN": "DZN",
}

# Where each party field of ubl.Document is set in o2c: (name in the 409, how to set it).
_WHERE = {
    "seller.name": ("company.legal_name", "PATCH /company"),
    "seller.street": ("company.street", "PATCH /company"),
    "seller.city": ("company.city", "PATCH /company"),
    "seller.postal_code": ("company.postal_code", "PATCH /company"),
    "seller.country": ("company.country", "the company's country, set when it was created"),
    "seller.vat_id": ("company.vat_id", "PATCH /company"),
    "seller.company_id": ("company.registration_id", "PATCH /company"),
    "seller.endpoint_id": ("company.endpoint_id", "PATCH /company (with endpoint_scheme)"),
    "seller.endpoint_scheme": ("company.endpoint_scheme", "PATCH /company"),
    "payment_means": ("company.iban", "PATCH /company"),
    "payment_means.iban": ("company.iban", "PATCH /company"),
    "payment_means.bic": ("company.bic", "PATCH /company"),
    "buyer.name": ("customer.legal_name", "PATCH /customers/{id}"),
    "buyer.street": ("customer.billing_address.line1", "the customer's billing address"),
    "buyer.city": ("customer.billing_address.city", "the customer's billing address"),
    "buyer.postal_code": ("customer.billing_address.postal_code", "the customer's billing address"),
    "buyer.country": ("customer.billing_address.country", "the customer's billing address"),
    "buyer.vat_id": ("customer.tax_id", "PATCH /customers/{id}"),
    "buyer.endpoint_id": ("customer.endpoint_id", "PATCH /customers/{id} (with endpoint_scheme)"),
    "buyer.endpoint_scheme": ("customer.endpoint_scheme", "PATCH /customers/{id}"),
}
_VAT_ID = re.compile(r"[A-Z]{2}[0-9A-Za-z+*.]{2,}")  # BR-CO-09: a VAT id starts with its country prefix
_QUARTER_CENT = Decimal("0.0001")


def unit_code(uom: str) -> str:
    code = (uom or "").strip().upper()
    return UNIT_CODES.get(code, code)


def price(quantity: Decimal, unit_price: Decimal, net: Decimal) -> tuple[Decimal, Decimal | None]:
    """(net price, base quantity) that give the line's net amount (PEPPOL-EN16931-R120, within 0.02): the
    stored unit price when it does (no discount on the line), else the net per unit to 4 decimals, else,
    where no 4-decimal price per unit is close enough (many units at a discounted price), the whole net
    amount as the price of the line's quantity (BT-149 base quantity)."""
    if quantity and abs(net - quantity * unit_price) <= ubl.LINE_SLACK and unit_price == unit_price.quantize(_QUARTER_CENT):
        return unit_price, None
    per_unit = (net / quantity).quantize(_QUARTER_CENT, ROUND_HALF_UP)
    if abs(net - quantity * per_unit) <= ubl.LINE_SLACK:
        return per_unit, None
    return net, quantity


def terms_text(terms: Terms, issued: date, due: date, gross: Decimal, currency: str) -> str:
    """Payment terms for people (BT-20), with the early-payment discount spelt out when there is one:
    "2/10 net 30: 2 % (4.59 USD) off if paid by 2026-12-10; 229.50 USD due by 2026-12-30"."""
    money = lambda d: f"{round_money(d, currency):f} {currency}"  # noqa: E731 (in minor units: 229.50 USD)
    if terms.has_discount:
        off = discount_amount(gross, terms, invoice_date=issued, paid_on=issued, currency=currency)
        return (f"{terms}: {plain(terms.discount_pct)} % ({money(off)}) off if paid by "
                f"{discount_deadline(issued, terms).isoformat()}; {money(gross)} due by {due.isoformat()}")
    return f"{terms}: {money(gross)} due by {due.isoformat()}"


def _business_date(at: datetime, timezone: str) -> date:
    """A stored UTC time as the business date in the company's time zone."""
    return at.astimezone(ZoneInfo(timezone)).date()


def _vat(rate: Decimal, exempt: bool) -> str:
    """The VAT category of a line: standard rated with tax, else exempt for a tax-exempt customer, else zero rated."""
    if rate > 0:
        return ubl.STANDARD
    return ubl.EXEMPT if exempt else ubl.ZERO_RATED


def _seller(company: Company) -> ubl.Party:
    return ubl.Party(name=company.legal_name or company.name, street=company.street, city=company.city,
                     postal_code=company.postal_code or "", country=company.country, vat_id=company.vat_id,
                     company_id=company.registration_id, endpoint_id=company.endpoint_id,
                     endpoint_scheme=company.endpoint_scheme)


def _buyer(session: Session, company_id: int, customer_id: int) -> tuple[ubl.Party, object]:
    """The customer as buyer (its billing address), and its account with the company."""
    customer, account = customers.load(session, company_id, customer_id)
    a = customers.customer_view(session, company_id, customer_id)["billing_address"]
    tax_id = re.sub(r"[\s\-]", "", customer.tax_id or "").upper() or None
    is_vat = tax_id is not None and _VAT_ID.fullmatch(tax_id) is not None
    street = ", ".join(p for p in ((a.line1, a.line2) if a else ()) if p)
    return ubl.Party(name=customer.legal_name, street=street, city=a.city if a else None,
                     postal_code=(a.postal_code if a else None) or "", country=a.country if a else None,
                     vat_id=tax_id if is_vat else None,
                     company_id=None if is_vat else tax_id,  # a tax number of no VAT shape: its legal registration
                     endpoint_id=customer.endpoint_id, endpoint_scheme=customer.endpoint_scheme,
                     contact_email=customer.email), account


def _references(order) -> dict:
    """The buyer's purchase order number (BT-13) when the order has one; the buyer reference (BT-10) is that
    number too, or else our order number, so the buyer can always match the document (PEPPOL-EN16931-R003)."""
    return {"order_reference": order.po_number or None, "buyer_reference": order.po_number or order.number}


def _vat_amounts(parts: Iterable[tuple[str, Decimal, Decimal]]) -> dict[tuple[str, Decimal], Decimal]:
    out: dict[tuple[str, Decimal], Decimal] = {}
    for category, rate, tax in parts:
        out[(category, rate)] = out.get((category, rate), ZERO) + tax
    return out


def _line(n: int, li: InvoiceLine, quantity: Decimal, net: Decimal, category: str, currency: str,
          name: str | None = None) -> ubl.DocLine:
    net = round_money(net, currency)  # exact: stored in minor units
    unit_price, base = price(quantity, li.unit_price, net)
    return ubl.DocLine(line_id=str(n), sku=li.sku, name=name or li.description or li.sku, quantity=quantity,
                       unit_code=unit_code(li.uom), unit_price=unit_price, base_quantity=base, net_amount=net,
                       vat_category=category, vat_rate_pct=li.tax_rate_pct.normalize())


def _exemptions(account, categories: set[str]) -> dict[str, str]:
    if ubl.EXEMPT not in categories:
        return {}
    ref = (account.tax_exemption_ref or "").strip()
    return {ubl.EXEMPT: f"Tax-exempt customer, certificate {ref}" if ref else "Tax-exempt customer"}


def invoice_document(session: Session, actor: Actor, company_id: int, inv: Invoice) -> ubl.Document:
    """The EN 16931 invoice of an issued invoice. Its payment means are a credit transfer to the company's
    account (SEPA for EUR), with the invoice number as remittance information."""
    company = get_company(session, company_id)
    order = orders.get_order(session, actor, company_id, inv.order_id)
    buyer, account = _buyer(session, company_id, inv.customer_id)
    cur = inv.currency
    lines = [_line(n, li, li.quantity, li.net_amount, _vat(li.tax_rate_pct, account.tax_exempt), cur)
             for n, li in enumerate(inv.lines, 1)]
    try:
        terms = parse_terms(inv.terms)
    except ValidationFailed:  # terms stored by an older version: shown as they were written
        terms = None
    gross = round_money(inv.gross_total, cur)
    shipped = fulfillment.get_shipment(session, actor, company_id, inv.shipment_id).shipped_at
    means = None
    if company.iban:
        means = ubl.PaymentMeans(code="58" if cur == "EUR" else "30", iban=company.iban, bic=company.bic,
                                 account_name=company.legal_name or company.name, payment_id=inv.number)
    return ubl.Document(
        kind=ubl.INVOICE, number=inv.number, issue_date=inv.issue_date, due_date=inv.due_date, currency=cur,
        seller=_seller(company), buyer=buyer, lines=lines, **_references(order),
        payment_terms_text=terms_text(terms, inv.issue_date, inv.due_date, gross, cur) if terms else inv.terms,
        payment_means=means,
        vat_amounts=_vat_amounts((ln.vat_category, ln.vat_rate_pct, round_money(li.tax_amount, cur))
                                 for ln, li in zip(lines, inv.lines)),
        vat_exemption_reasons=_exemptions(account, {ln.vat_category for ln in lines}),
        delivery=ubl.Delivery(date=_business_date(shipped, company.timezone)) if shipped else None)


def credit_note_document(session: Session, actor: Actor, company_id: int, note: CreditNote) -> ubl.Document:
    """The EN 16931 credit note of an issued credit note, naming the invoice it corrects (BG-3), with its
    reason as the note (BT-22). A line that took an amount off the price (no quantity) is written as that
    price reduction over the invoice line's quantity."""
    company = get_company(session, company_id)
    inv = service.get_invoice(session, actor, company_id, note.invoice_id)
    order = orders.get_order(session, actor, company_id, note.order_id)
    buyer, account = _buyer(session, company_id, note.customer_id)
    by_id = {li.id: li for li in inv.lines}
    cur = note.currency
    lines = []
    for n, cl in enumerate(note.lines, 1):
        li = by_id[cl.invoice_line_id]
        category = _vat(li.tax_rate_pct, account.tax_exempt)
        if cl.quantity:
            lines.append(_line(n, li, cl.quantity, cl.net_amount, category, cur))
        else:
            lines.append(_line(n, li, li.quantity, cl.net_amount, category, cur,
                               name=f"Price reduction: {li.description or li.sku}"))
    return ubl.Document(
        kind=ubl.CREDIT_NOTE, number=note.number, issue_date=note.issue_date, due_date=None, currency=cur,
        seller=_seller(company), buyer=buyer, lines=lines, **_references(order),
        billing_reference=ubl.BillingReference(number=inv.number, issue_date=inv.issue_date),
        note=note.reason,
        vat_amounts=_vat_amounts((ln.vat_category, ln.vat_rate_pct, round_money(cl.tax_amount, cur))
                                 for ln, cl in zip(lines, note.lines)),
        vat_exemption_reasons=_exemptions(account, {ln.vat_category for ln in lines}))


def _refusal(what: str, errors: list[FieldError], customer_id: int) -> Conflict:
    """409 naming each field EN 16931 / PEPPOL needs, as o2c calls it, and where it is set."""
    named = []
    for e in errors:
        field, how = _WHERE.get(e.field, (e.field, None))
        how = how and how.replace("{id}", str(customer_id))
        named.append(FieldError(field, e.code, f"{e.message}; set it with {how}" if how else e.message))
    fields = list(dict.fromkeys(e.field for e in named))
    return Conflict(f"{what} cannot be written as a PEPPOL BIS 3.0 e-invoice until these are set: "
                    + ", ".join(fields), named, missing=fields)


def _xml(doc: ubl.Document, what: str, customer_id: int) -> bytes:
    errors = ubl.check_document(doc)
    if errors:
        raise _refusal(what, errors, customer_id)
    return ubl.to_ubl(doc)


def invoice_xml(session: Session, actor: Actor, company_id: int, invoice_id: int) -> bytes:
    """The invoice as UBL 2.1 (PEPPOL BIS Billing 3.0); 409 naming what is missing. A portal user gets
    their own customer's invoices only."""
    inv = service.get_invoice(session, actor, company_id, invoice_id)
    return _xml(invoice_document(session, actor, company_id, inv), f"invoice {inv.number}", inv.customer_id)


def credit_note_xml(session: Session, actor: Actor, company_id: int, note_id: int) -> bytes:
    """The credit note as UBL 2.1 (PEPPOL BIS Billing 3.0); 409 naming what is missing."""
    note = service.get_credit_note(session, actor, company_id, note_id)
    return _xml(credit_note_document(session, actor, company_id, note), f"credit note {note.number}",
                note.customer_id)
