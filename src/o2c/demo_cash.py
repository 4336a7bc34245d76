"""The demo's days after shipping: invoices, a backorder shipped and invoiced again, cash coming in by
cheque, by transfer and through the bank statement, a reminder to a customer who is late.

Everything goes through the services, as the company's people would use them: the dispatcher invoices
each shipment when it ships; goods arrive for a short-picked line and its second shipment is invoiced
on its own; the receivables clerk records a cheque and a transfer that pays too much (kept as credit and
applied later), imports the bank's camt.053 statement (most lines match themselves; the clerk confirms
a suggestion and matches an unknown payer by hand), and runs the reminders on the last day: a customer on
due-on-receipt terms who has not paid gets the first reminder by email.
"""
from __future__ import annotations

import logging
import random
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from decimal import Decimal as D

from sqlalchemy import select

from o2c import demo_bank
from o2c.core import clock
from o2c.core.auth import Actor
from o2c.core.db import read_session, transaction
from o2c.core.errors import Conflict, ValidationFailed

# Customers who pay from a known account (their IBAN on file): the statement finds them by it.
KNOWN_ACCOUNTS = {"C001": "DE89370400440532013000", "C002": "GB33BUKB20201555555555",
                  "C005": "FR7630006000011234567890189", "C011": "NL91ABNA0417164300"}


@dataclass
class CashReport:
    invoices: int = 0
    invoiced_twice: list[str] = field(default_factory=list)  # orders whose second shipment was invoiced
    payments: int = 0
    statement: dict = field(default_factory=dict)  # lines by status and the auto-match rate
    reminded: list[str] = field(default_factory=list)
    unapplied_credit: D = D(0)
    failures: list[str] = field(default_factory=list)


def _dispatch() -> None:
    """Deliver what is due: invoices are made here. Emails that cannot go yet (no SMTP) wait in the
    outbox and are retried by `o2c serve` or `o2c worker`."""
    from o2c.core.events import dispatch_pending

    events = logging.getLogger("o2c.events")
    level, events.level = events.level, logging.ERROR  # a missing mail server is said once, by the demo
    try:
        while dispatch_pending(limit=200):
            pass
    finally:
        events.setLevel(level)


def _try(report: CashReport, what: str, fn: Callable[[], object]):
    try:
        return fn()
    except (ValidationFailed, Conflict) as exc:
        report.failures.append(f"{what}: {exc}")
        return None


def _customer_ids(codes) -> dict[str, int]:
    from o2c.customers.models import Customer

    with read_session() as s:
        return dict(s.execute(select(Customer.code, Customer.id).where(Customer.code.in_(list(codes)))).all())


def _open_invoices(cid: int) -> list[dict]:
    """Open invoices in US dollars (the currency of the company's bank account), oldest first, with what
    is open on each."""
    from o2c.billing import service as billing
    from o2c.billing.models import Invoice

    with read_session() as s:
        invs = list(s.scalars(select(Invoice).where(Invoice.company_id == cid, Invoice.currency == "USD")
                              .order_by(Invoice.id)))
        amounts = billing.open_amounts(s, [i.id for i in invs])
        return [{"id": i.id, "number": i.number, "customer_id": i.customer_id, "order_id": i.order_id,
                 "open": amounts[i.id], "gross": i.gross_total} for i in invs if amounts[i.id] > 0]


def _second_shipment(cid: int, actors: dict[str, Actor], report: CashReport, when: datetime) -> None:
    """Goods arrive for the backordered rest of a partly shipped order: the receipt reserves them for it,
    a wave ships them, and billing invoices that second shipment on its own."""
    from o2c import demo_warehouse
    from o2c.fulfillment import service as fulfillment
    from o2c.fulfillment.models import Shipment
    from o2c.fulfillment.schemas import WaveIn
    from o2c.inventory import service as inventory
    from o2c.inventory.schemas import ReceiptIn
    from o2c.orders.models import Order, OrderLine

    clock.freeze(when)
    keeper = actors["keeper"]
    with read_session() as s:
        # The backorders in the order a receipt serves them (o2c.orders.service.allocate_backorders).
        queue = s.execute(select(Order.id, Order.shipment_state, OrderLine.sku, OrderLine.backordered_qty)
                          .join(OrderLine, OrderLine.order_id == Order.id)
                          .where(Order.company_id == cid, Order.status == "backordered", OrderLine.backordered_qty > 0)
                          .order_by(Order.priority.desc(), Order.order_date, Order.id)).all()
        target = next((o for o, state, _, _ in queue if state == "partial"), None)
        warehouse = s.scalar(select(Shipment.warehouse_id).where(Shipment.order_id == target).limit(1))
        code = inventory.get_warehouse(s, cid, warehouse).code if warehouse else None
    if target is None or code is None:
        return
    # Enough for the first partly shipped order in line (and those before it): it gets its rest, the
    # orders behind it keep waiting.
    at = max(i for i, (o, *_) in enumerate(queue) if o == target)
    need: dict[str, D] = {}
    for o, _, sku, qty in queue[: at + 1]:
        if sku in {k for t, _, k, _ in queue if t == target}:
            need[sku] = need.get(sku, D(0)) + qty
    transaction(lambda s: inventory.receive(s, keeper, cid, ReceiptIn(
        warehouse=code, reference="PO-DEMO-REPLENISH", note="replenishment for backorders",
        lines=[{"sku": sku, "quantity": qty} for sku, qty in need.items()])))
    order_ids = [target]
    wave = _try(report, "second wave", lambda: transaction(lambda s: fulfillment.wave_view(
        s, fulfillment.release_wave(s, keeper, cid, WaveIn(order_ids=order_ids, max_orders=len(order_ids))))))
    if wave is None:
        return
    demo_warehouse.pick(cid, keeper, wave)
    shipped, _ = demo_warehouse.pack_and_ship(cid, keeper, [int(n[2:]) for n in wave["shipments"]],
                                              random.Random(1), report.failures)
    _dispatch()
    from o2c.billing.models import Invoice

    with read_session() as s:
        for sh in shipped:
            if len(list(s.scalars(select(Invoice.id).where(Invoice.order_id == sh["order_id"])))) >= 2:
                report.invoiced_twice.append(f"SO{sh['order_id']:08d}")


def _slow_payer(cid: int, actors: dict[str, Actor]) -> int | None:
    """Finance moves the customer with the most parcels on the road to due-on-receipt terms before
    billing invoices them: by the last day of the demo their invoices are a week overdue."""
    from sqlalchemy import func

    from o2c.customers import service as customers
    from o2c.customers.schemas import CustomerPatch
    from o2c.fulfillment.models import Shipment
    from o2c.orders.models import Order

    with read_session() as s:
        found = s.execute(select(Order.customer_id, func.count()).join(Shipment, Shipment.order_id == Order.id)
                          .where(Order.company_id == cid, Shipment.shipped_at.is_not(None))
                          .group_by(Order.customer_id).order_by(func.count().desc(), Order.customer_id)
                          .limit(1)).first()
    if found is None:
        return None
    view = transaction(lambda s: customers.update_customer(s, actors["admin"], cid, found[0],
                                                           CustomerPatch(payment_terms_days=0)))
    _approve(cid, actors, view.get("pending_changes", []))
    return found[0]


def _approve(cid: int, actors: dict[str, Actor], pending: list[dict]) -> None:
    """Sensitive customer changes wait for a second user: the data steward approves the demo's."""
    from o2c.customers import changes

    for ch in pending:
        transaction(lambda s, ch=ch: changes.approve_change(s, actors["steward"], cid, ch["id"], "demo set-up"))


def _setup_receivables(cid: int, actors: dict[str, Actor]) -> None:
    """The company's bank details (for invoices and the statement) and customers' known accounts."""
    from o2c.core import companies
    from o2c.customers import changes
    from o2c.receivables import bank_accounts

    admin, cashier = actors["admin"], actors["cashier"]
    transaction(lambda s: companies.update(s, admin, cid, companies.CompanyPatch(
        legal_name="Demo Office & Industrial Supply Inc.", iban=demo_bank.ACCOUNT, bic="MARKDEF1120",
        street="233 S Wacker Dr", city="Chicago", postal_code="60606", write_off_tolerance=D("2.00"))))
    ids = _customer_ids(KNOWN_ACCOUNTS)
    for code, iban in KNOWN_ACCOUNTS.items():
        with read_session() as s:
            if bank_accounts.find(s, ids[code], iban) is not None:  # on file since an earlier demo run
                continue
        change = transaction(lambda s, code=code, iban=iban: changes.view(
            s, bank_accounts.add_account(s, cashier, cid, ids[code], iban)))
        _approve(cid, actors, [change])


def _payments(cid: int, actors: dict[str, Actor], report: CashReport, when: datetime, late: int | None) -> set[int]:
    """A cheque for one invoice; a transfer that pays two invoices and 50.00 too much (kept as credit,
    then applied to a third invoice of the same customer). Returns the invoices settled here."""
    from o2c.payments import service as payments

    clock.freeze(when)
    cashier = actors["cashier"]
    open_ = [inv for inv in _open_invoices(cid) if inv["customer_id"] != late]
    done: set[int] = set()
    if open_:
        inv = open_[0]
        _try(report, "cheque", lambda: transaction(lambda s: payments.record_payment(
            s, cashier, cid, customer_id=inv["customer_id"], method="cheque", currency="USD", amount=inv["open"],
            reference="cheque 004512", applications=[(inv["id"], inv["open"])])))
        done.add(inv["id"])
        report.payments += 1
    by_customer: dict[int, list[dict]] = {}
    for inv in open_[1:]:
        by_customer.setdefault(inv["customer_id"], []).append(inv)
    several = next((invs for invs in by_customer.values() if len(invs) >= 3), None)
    if several:
        first, second, third = several[:3]
        paid = _try(report, "transfer", lambda: transaction(lambda s: payments.record_payment(
            s, cashier, cid, customer_id=first["customer_id"], method="bank_transfer", currency="USD",
            amount=first["open"] + second["open"] + D("50.00"), reference=f"{first['number']} {second['number']}",
            applications=[(first["id"], first["open"]), (second["id"], second["open"])]).number))
        if paid:
            report.payments += 1
            done |= {first["id"], second["id"]}
            _try(report, "credit applied", lambda: transaction(lambda s: payments.apply_credit(
                s, cashier, cid, first["customer_id"], paid, [(third["id"], min(D("50.00"), third["open"]))])))
    return done


def _bank_statement(cid: int, actors: dict[str, Actor], report: CashReport, when: datetime, skip: set[int],
                    late: int | None) -> None:
    """The bank's statement of the day: payments quoting their invoice number, payments found by the
    payer's account and amount, one whose reference is unclear (suggested, confirmed by the clerk), one
    from an unknown payer (matched by hand), and the bank's fee."""
    from o2c.receivables import service as receivables
    from o2c.receivables.service import Pick

    clock.freeze(when)
    cashier = actors["cashier"]
    known = {v: k for k, v in _customer_ids(KNOWN_ACCOUNTS).items()}
    names = _names(cid)
    open_ = [inv for inv in _open_invoices(cid) if inv["id"] not in skip and inv["customer_id"] != late]
    day = when.date()
    entries, used = [], set()
    for inv in open_[: max(1, len(open_) * 2 // 3)]:
        code = known.get(inv["customer_id"])
        if code and inv["customer_id"] not in used:  # amount and known account, no reference
            used.add(inv["customer_id"])
            entries.append(demo_bank.Entry(str(inv["open"]), names[inv["customer_id"]], KNOWN_ACCOUNTS[code],
                                           "payment thank you", booked=day))
        else:
            entries.append(demo_bank.Entry(str(inv["open"]), names[inv["customer_id"]], None,
                                           f"Invoice {inv['number']}", booked=day))
    rest = open_[len(entries):]
    unclear = rest[0] if rest else None
    stranger = rest[1] if len(rest) > 1 else None
    if unclear:  # the number with a typo and a different amount: a suggestion for a person
        typo = unclear["number"][:-1] + str((int(unclear["number"][-1]) + 1) % 10)
        entries.append(demo_bank.Entry(str(unclear["open"] - D("1.00")), names[unclear["customer_id"]], None,
                                       f"inv {typo} less bank charges", booked=day))
    if stranger:
        entries.append(demo_bank.Entry(str(stranger["open"]), "J. Smith (private)", None, "order payment", booked=day))
    entries.append(demo_bank.Entry("-12.50", "Bank", None, "account maintenance fee", booked=day))
    from o2c.receivables.models import BankStatement

    with read_session() as s:
        serial = 1 + len(list(s.scalars(select(BankStatement.id).where(BankStatement.company_id == cid))))
    data = demo_bank.statement(entries, stmt_id=f"DEMO-{day.isoformat()}-{serial}", sequence=serial, day=day,
                               opening="25000.00")
    imported = _try(report, "statement", lambda: transaction(lambda s: receivables.import_statement(
        s, cashier, cid, data, filename="demo.camt053.xml")))
    if imported is None:
        return
    [st] = imported.statements
    counts = dict(imported.counts[st.id])
    with read_session() as s:
        queue = receivables.lines(s, cid, statement_id=st.id, statuses=["suggested", "unmatched"])
        waiting = [(ln.id, ln.status, ln.counterparty_name) for ln in queue]
    for line_id, status, payer in waiting:
        if status == "suggested":
            _try(report, "confirm", lambda: transaction(lambda s: receivables.confirm(s, cashier, cid, line_id)))
        elif stranger and payer == "J. Smith (private)":  # the clerk calls the customer and finds the invoice
            _try(report, "match", lambda: transaction(lambda s: receivables.match(
                s, cashier, cid, line_id, [Pick(stranger["id"])])))
    report.statement = {"lines": sum(counts.values()), **counts,
                        "auto_rate": str(receivables.auto_rate(counts))}


def _names(cid: int) -> dict[int, str]:
    from o2c.customers.models import Customer

    with read_session() as s:
        return dict(s.execute(select(Customer.id, Customer.legal_name)).all())


def _remind(cid: int, actors: dict[str, Actor], report: CashReport, when: datetime) -> None:
    from o2c.customers.models import Customer
    from o2c.dunning import service as dunning

    clock.freeze(when)
    sent = _try(report, "reminders", lambda: transaction(lambda s: dunning.run(s, actors["cashier"], cid)))
    if sent:
        with read_session() as s:
            codes = dict(s.execute(select(Customer.id, Customer.code)).all())
        report.reminded = sorted({f"{codes[r['customer_id']]} ({r['level']})" for r in sent["reminders"]})
    _dispatch()


def run(cid: int, actors: dict[str, Actor], start: datetime) -> CashReport:
    """From the evening of the shipping day (start + 1) to the last day of the demo (start + 10, or now
    if that is earlier)."""
    from o2c.payments import service as payments

    report = CashReport()
    day = lambda n, hour: start.replace(hour=hour) + timedelta(days=n)  # noqa: E731 (times in UTC)
    clock.freeze(day(1, 23))
    late = _slow_payer(cid, actors)
    _dispatch()  # shipment.shipped -> one invoice per shipment
    _setup_receivables(cid, actors)
    _second_shipment(cid, actors, report, day(3, 15))
    settled = _payments(cid, actors, report, day(5, 16), late)
    _bank_statement(cid, actors, report, day(8, 16), settled, late)
    _remind(cid, actors, report, min(day(10, 15), datetime.now(timezone.utc)))
    from o2c.billing.models import Invoice
    from o2c.payments.models import Payment

    with read_session() as s:
        report.invoices = len(list(s.scalars(select(Invoice.id).where(Invoice.company_id == cid))))
        report.payments = len(list(s.scalars(select(Payment.id).where(Payment.company_id == cid))))
        report.unapplied_credit = sum(
            (D(payments.unapplied_credit(s, cid, c)["total"]) for c in
             set(s.scalars(select(Payment.customer_id).where(Payment.company_id == cid)))), D(0))
    return report
