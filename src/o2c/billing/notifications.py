"""What the customer is told when billing acts: the invoice (with its PDF) and a refund paid. The texts
are pure (`invoice_notice`, `refund_notice`); the outbox subscribers that email them are wired in
o2c.process."""
from __future__ import annotations

from datetime import date
from decimal import Decimal

from babel.numbers import format_currency
from sqlalchemy.orm import Session

from o2c.core.events import external
from o2c.core.models import OutboxEvent


def _money(amount: Decimal, currency: str) -> str:
    return format_currency(amount, currency, locale="en_US")


def invoice_notice(*, customer_name: str, seller: str, number: str, order_number: str, po_number: str | None,
                   issue_date: date, due_date: date, terms: str, currency: str, net: Decimal, tax: Decimal,
                   gross: Decimal, lines: list[tuple[str, str, Decimal, Decimal]], iban: str | None,
                   by_card: bool) -> tuple[str, str]:
    """Subject and body of the invoice email: what was invoiced (the shipped lines), the totals, when it
    is due and how to pay; a card order is told the amount is taken from the card."""
    body = [f"Dear {customer_name},", "",
            f"please find attached invoice {number} of {issue_date.isoformat()} for the goods we shipped on "
            f"order {order_number}" + (f" (your reference {po_number})" if po_number else "") + ":", ""]
    body += [f"  {sku:<16} {description[:40]:<40} {qty:>8} {_money(amount, currency):>14}"
             for sku, description, qty, amount in lines]
    body += ["", f"  {'Net':<66}{_money(net, currency):>14}", f"  {'Tax':<66}{_money(tax, currency):>14}",
             f"  {'Total':<66}{_money(gross, currency):>14}", ""]
    if by_card:
        body.append("The total is charged to the card you paid with: there is nothing more to do.")
    else:
        body.append(f"Terms: {terms}. Please pay {_money(gross, currency)} by {due_date.isoformat()}"
                    + (f" to {iban}" if iban else "") + f", quoting {number}.")
    body += ["", seller]
    return f"Invoice {number} from {seller}", "\n".join(body)


def refund_notice(*, customer_name: str, seller: str, number: str, amount: Decimal, currency: str, method: str,
                  rma: str | None) -> tuple[str, str]:
    how = "to the card you paid with" if method == "card" else "by bank transfer"
    what = f" for your return {rma}" if rma else ""
    return (f"Refund {number}: {_money(amount, currency)} paid",
            "\n".join([f"Dear {customer_name},", "",
                       f"we have paid you {_money(amount, currency)}{what} {how} (refund {number}).",
                       "Depending on your bank it shows on your account within a few days.", "", seller]))


@external
def send_invoice(session: Session, event: OutboxEvent) -> None:
    """Invoice issued: the customer gets it by email, the PDF attached."""
    from o2c.billing.documents import invoice_document, invoice_pdf
    from o2c.billing.models import Invoice
    from o2c.core.models import Company
    from o2c.customers.models import Customer
    from o2c.integrations import email
    from o2c.orders.models import Order
    from o2c.payments.models import CardPayment

    inv = session.get(Invoice, event.payload["invoice_id"])
    customer = session.get(Customer, inv.customer_id)
    if not customer.email:
        return  # nobody to tell; the invoice is on the order's timeline and in the portal
    company = session.get(Company, inv.company_id)
    order = session.get(Order, inv.order_id)
    by_card = session.query(CardPayment.id).filter(CardPayment.order_id == inv.order_id).first() is not None
    subject, body = invoice_notice(
        customer_name=customer.legal_name, seller=company.legal_name or company.name, number=inv.number,
        order_number=order.number, po_number=order.po_number, issue_date=inv.issue_date, due_date=inv.due_date,
        terms=inv.terms, currency=inv.currency, net=inv.net_total, tax=inv.tax_total, gross=inv.gross_total,
        lines=[(li.sku, li.description, li.quantity, li.net_amount) for li in inv.lines], iban=company.iban,
        by_card=by_card)
    pdf = invoice_pdf(invoice_document(session, inv))
    email.send(customer.email, subject, body, message_id=f"invoice-{inv.id}-event-{event.id}",
               attachments=[(f"{inv.number}.pdf", pdf, "application/pdf")])


@external
def send_refund_notice(session: Session, event: OutboxEvent) -> None:
    """Refund paid: the customer learns how much, how, and for which return."""
    from o2c.core.models import Company
    from o2c.customers.models import Customer
    from o2c.integrations import email
    from o2c.payments.models import Refund
    from o2c.returns.models import Return

    refund = session.get(Refund, event.payload["refund_id"])
    customer = session.get(Customer, refund.customer_id)
    if not customer.email:
        return
    company = session.get(Company, refund.company_id)
    ret = session.get(Return, refund.return_id) if refund.return_id else None
    subject, body = refund_notice(customer_name=customer.legal_name, seller=company.legal_name or company.name,
                                  number=event.payload["number"], amount=refund.amount, currency=refund.currency,
                                  method=event.payload.get("method") or refund.method,
                                  rma=ret.rma_number if ret else None)
    email.send(customer.email, subject, body, message_id=f"refund-{refund.id}-event-{event.id}")
