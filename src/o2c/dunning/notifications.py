"""The reminder letter: its text (pure, `letter`) and the outbox subscriber that emails it
(`send_reminder`, wired to `reminder.sent` in o2c.process)."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from decimal import Decimal

from babel.numbers import format_currency
from sqlalchemy.orm import Session

from o2c.core.events import external
from o2c.core.models import OutboxEvent


@dataclass(frozen=True)
class Line:
    invoice: str
    due_date: date
    days_overdue: int
    open_amount: Decimal
    interest: Decimal = Decimal(0)
    interest_pct_year: Decimal = Decimal(0)


@dataclass(frozen=True)
class Letter:
    number: str
    level: str
    sent_on: date
    customer_name: str
    seller: str
    currency: str
    lines: tuple[Line, ...]
    fee: Decimal
    iban: str | None = None
    bic: str | None = None

    @property
    def open_total(self) -> Decimal:
        return sum((ln.open_amount for ln in self.lines), Decimal(0))

    @property
    def interest(self) -> Decimal:
        return sum((ln.interest for ln in self.lines), Decimal(0))

    @property
    def total(self) -> Decimal:
        return self.open_total + self.fee + self.interest


def _money(amount: Decimal, currency: str) -> str:
    return format_currency(amount, currency, locale="en_US")


def _iban(iban: str) -> str:
    """An IBAN as printed: groups of four (DE89 3704 0044 0532 0130 00)."""
    compact = iban.replace(" ", "").upper()
    return " ".join(compact[i:i + 4] for i in range(0, len(compact), 4))


def _overdue(days: int) -> str:
    if days < 0:
        return f"due in {-days} day{'s' if days != -1 else ''}"
    if days == 0:
        return "due today"
    return f"{days} day{'s' if days != 1 else ''} overdue"


def letter(r: Letter) -> tuple[str, str]:
    """Subject and body: each invoice (number, due date, days overdue, open amount, interest if any), the
    fee, the interest, the total, and how to pay (the seller's IBAN when it has one)."""
    money = lambda amount: _money(amount, r.currency)  # noqa: E731
    overdue = any(ln.days_overdue > 0 for ln in r.lines)
    many = len(r.lines) > 1
    if overdue:
        intro = (f"according to our records {'these invoices are' if many else 'this invoice is'} still open. "
                 "Please pay the total below now. If you have paid in the last few days, please disregard this letter.")
    else:
        intro = (f"a friendly reminder that {'these invoices fall' if many else 'this invoice falls'} due soon. "
                 "If you have already arranged payment, thank you, and please disregard this note.")
    charged = r.interest > 0
    head = f"  {'Invoice':<18} {'Due date':<12} {'Status':<20} {'Open amount':>14}" + (f" {'Interest':>12}" if charged else "")
    rows = [f"  {ln.invoice:<18} {ln.due_date.isoformat():<12} {_overdue(ln.days_overdue):<20} "
            f"{money(ln.open_amount):>14}" + (f" {money(ln.interest):>12}" if charged else "") for ln in r.lines]
    totals = [f"  Open amount:     {money(r.open_total):>14}"]
    if r.fee:
        totals.append(f"  Reminder fee:    {money(r.fee):>14}")
    if charged:
        rates = sorted({ln.interest_pct_year for ln in r.lines if ln.interest})
        rate = " and ".join(f"{p.normalize():f} %" for p in rates)
        totals.append(f"  Late interest:   {money(r.interest):>14}   ({rate} a year, simple, actual days / 365)")
    totals.append(f"  Total due:       {money(r.total):>14}")
    refs = ", ".join(ln.invoice for ln in r.lines)
    if r.iban:
        pay = (f"Please transfer {money(r.total)} to {r.seller}, IBAN {_iban(r.iban)}"
               + (f", BIC {r.bic}" if r.bic else "") + f", quoting {r.number} and {refs}.")
    else:
        pay = f"Please pay {money(r.total)} as usual, quoting {r.number} and {refs}."
    body = "\n".join([
        f"Dear {r.customer_name},", "",
        intro, "",
        head, *rows, "",
        *totals, "",
        pay, "",
        "If you disagree with an invoice, reply to this message and tell us why: we hold its reminders "
        "while we look into it.", "",
        r.seller,
        f"Reference {r.number}, {r.sent_on.isoformat()}",
    ])
    title = r.level.replace("_", " ").replace("-", " ").capitalize()
    subject = (f"{title} reminder {r.number}: {money(r.total)} "
               f"{'overdue' if overdue else 'due soon'} ({len(r.lines)} invoice{'s' if many else ''})")
    return subject, body


def from_payload(payload: dict, customer_name: str, seller: str, iban: str | None, bic: str | None) -> Letter:
    """The letter of a `reminder.sent` event: the figures as the run decided them."""
    return Letter(payload["number"], payload["level"], date.fromisoformat(payload["sent_on"]), customer_name, seller,
                  payload["currency"], tuple(
                      Line(it["invoice"], date.fromisoformat(it["due_date"]), it["days_overdue"],
                           Decimal(it["open_amount"]), Decimal(it["interest"]), Decimal(it["interest_pct_year"]))
                      for it in payload["items"]), Decimal(payload["fee"]), iban, bic)


@external
def send_reminder(session: Session, event: OutboxEvent) -> None:
    """Collect → Remind: the customer gets the letter at the address the reminder was made for, with the
    figures the run decided; its Message-ID comes from the reminder and the event, so a redelivery is the
    same message."""
    from o2c.core.models import Company
    from o2c.customers.models import Customer
    from o2c.integrations import email

    to = event.payload.get("email")
    if not to:
        return  # nobody to write to; the reminder is on the customer's timeline
    company = session.get(Company, event.company_id)
    customer = session.get(Customer, event.payload["customer_id"])
    subject, body = letter(from_payload(event.payload, customer.legal_name, company.legal_name or company.name,
                                        company.iban, company.bic))
    email.send(to, subject, body, message_id=f"reminder-{event.payload['reminder_id']}-event-{event.id}")
