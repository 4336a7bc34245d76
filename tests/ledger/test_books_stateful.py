"""The books through the real services, driven by hypothesis: random sequences of invoicing (whole and
partial shipments), payments (exact, partial, over, on account, several invoices at once, by any method),
credit applied, short payments written off, credit notes (also on invoices already paid), and payments
bounced (with or without a fee; refused, changing nothing, when their credit was spent). After every
step, on SQLite and on PostgreSQL:

- the trial balance balances in every currency;
- the receivables subledger (per customer) equals its control accounts;
- each invoice's open amount (billing) equals its open item on the receivables account (ledger);
- each customer's unapplied credit (payments) equals its open items on the unapplied credits account;
- no invoice is ever open below zero or above its gross.
"""
from __future__ import annotations

from decimal import Decimal as D
from typing import NamedTuple

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, precondition, rule, run_state_machine_as_test
from sqlalchemy import select, update

from o2c.billing import service as billing
from o2c.billing.models import Invoice
from o2c.billing.schemas import CreditLineIn, CreditNoteIn
from o2c.core import clock
from o2c.core.auth import SYSTEM
from o2c.core.db import read_session, transaction
from o2c.core.errors import Conflict
from o2c.core.models import Company
from o2c.core.money import ZERO
from o2c.fulfillment.models import Shipment, ShipmentLine
from o2c.ledger import rules as ledger_rules
from o2c.ledger import service as ledger
from o2c.orders import service as orders
from o2c.orders.models import OrderLine
from o2c.orders.schemas import OrderIn
from o2c.payments import bounces
from o2c.payments import service as payments
from o2c.payments.models import Payment
from o2c.core.masterdata import CACHE
from o2c.web import deps
from tests.conftest import _empty
from tests.fulfillment.flow import MONDAY
from tests.world import make

CUSTOMERS = ("BIGBUY", "LOYAL", "EXEMPT", "TIDY")
SKUS = ("WIDGET", "BOLT", "GADGET")
METHODS = ("bank_transfer", "cheque", "cash", "direct_debit")
TOLERANCE = D("5.00")


class Open(NamedTuple):
    id: int
    number: str
    customer_id: int
    order_id: int
    currency: str
    gross: D
    open: D


class Books(RuleBasedStateMachine):
    """One company's books, built afresh for each sequence (the same start makes each replayable)."""

    url = ""

    @initialize()
    def start(self):
        _empty(self.url)
        CACHE.clear()
        deps.clear_caches()
        self.world = make()
        clock.freeze(MONDAY)
        self.cid = self.world["ids"]["company"]
        transaction(lambda s: s.execute(update(Company).where(Company.id == self.cid)
                                        .values(write_off_tolerance=TOLERANCE)))

    # ---------------------------------------------------------------- reading the books

    def _invoices(self) -> list[Open]:
        with read_session() as s:
            invs = list(s.scalars(select(Invoice).where(Invoice.company_id == self.cid).order_by(Invoice.id)))
            amounts = billing.open_amounts(s, [i.id for i in invs])
            return [Open(i.id, i.number, i.customer_id, i.order_id, i.currency, i.gross_total, amounts[i.id])
                    for i in invs]

    def _open(self) -> list[Open]:
        return [inv for inv in self._invoices() if inv.open > 0]

    def _customer(self, code: str) -> int:
        return self.world["ids"][code]

    def _credits(self, customer_id: int) -> list[tuple[str, D]]:
        with read_session() as s:
            held = payments.unapplied_credit(s, self.cid, customer_id)
        return [(i["item"], i["amount"]) for i in held["items"]]

    # ---------------------------------------------------------------- invoicing

    def _ship(self, order_id: int, shares: list[D]) -> None:
        """A shipped shipment of the order: each line's share of what it has left to ship, then its
        invoice, as the shipment.shipped subscriber makes it."""
        def work(s):
            lines = list(s.scalars(select(OrderLine).where(OrderLine.order_id == order_id).order_by(OrderLine.id)))
            done = billing._already_invoiced(s, [li.id for li in lines])
            order = orders.get_order(s, SYSTEM, self.cid, order_id)
            sh = Shipment(company_id=self.cid, order_id=order_id, warehouse_id=self.world["ids"]["CHI"], kind="order",
                          status="shipped", shipped_at=clock.now(), created_at=clock.now(), updated_at=clock.now(),
                          **order.ship_to_columns())
            for li, share in zip(lines, shares):
                qty = ((li.quantity - D(done.get(li.id, 0))) * share).to_integral_value()
                if qty > 0:
                    sh.lines.append(ShipmentLine(order_line_id=li.id, product_id=li.product_id, sku=li.sku,
                                                 quantity=qty, picked_qty=qty, packed_qty=qty, shipped_qty=qty))
            if not sh.lines:
                return None
            s.add(sh)
            s.flush()
            return billing.invoice_shipment(s, SYSTEM, self.cid, sh.id)
        transaction(work)

    @rule(customer=st.sampled_from(CUSTOMERS),
          lines=st.lists(st.tuples(st.sampled_from(SKUS), st.integers(1, 30)), min_size=1, max_size=3,
                         unique_by=lambda t: t[0]),
          shares=st.lists(st.sampled_from([D("0.5"), D("1")]), min_size=3, max_size=3))
    def invoice_an_order(self, customer, lines, shares):
        data = OrderIn(customer_code=customer, channel="web", confirm=False,
                       lines=[{"sku": sku, "quantity": qty * (12 if sku == "BOLT" else 1)} for sku, qty in lines])
        order_id = transaction(lambda s: orders.capture(s, SYSTEM, self.cid, data).id)
        self._ship(order_id, shares)

    @precondition(lambda self: self._invoices())
    @rule(data=st.data())
    def ship_the_rest(self, data):
        order_ids = sorted({inv.order_id for inv in self._invoices()})
        self._ship(data.draw(st.sampled_from(order_ids)), [D(1)] * 3)

    # ---------------------------------------------------------------- cash

    def _open_of(self, data) -> tuple[int, list[Open]]:
        open_ = self._open()
        customer_id = data.draw(st.sampled_from(sorted({inv.customer_id for inv in open_})))
        return customer_id, [inv for inv in open_ if inv.customer_id == customer_id]

    @precondition(lambda self: self._open())
    @rule(data=st.data(), method=st.sampled_from(METHODS), how=st.sampled_from(["exact", "part", "short", "over"]),
          short=st.integers(1, 499))
    def pay(self, data, method, how, short):
        """Paid in full, a third, a few cents to a few dollars short (left to write off), or over."""
        customer_id, open_ = self._open_of(data)
        chosen = data.draw(st.lists(st.sampled_from(open_), min_size=1, max_size=3, unique_by=lambda inv: inv.id))
        if how == "part":
            applications = [(inv.id, max(D("0.01"), (inv.open / 3).quantize(D("0.01")))) for inv in chosen]
        elif how == "short":
            applications = [(inv.id, max(D("0.01"), inv.open - D(short) / 100)) for inv in chosen]
        else:
            applications = [(inv.id, inv.open) for inv in chosen]
        amount = sum((a for _, a in applications), ZERO) + (D("12.34") if how == "over" else ZERO)
        transaction(lambda s: payments.record_payment(
            s, SYSTEM, self.cid, customer_id=customer_id, method=method, currency="USD", amount=amount,
            applications=applications))

    @rule(customer=st.sampled_from(CUSTOMERS), cents=st.integers(1, 50_000))
    def pay_on_account(self, customer, cents):
        transaction(lambda s: payments.record_payment(
            s, SYSTEM, self.cid, customer_id=self._customer(customer), method="bank_transfer", currency="USD",
            amount=D(cents) / 100))

    @precondition(lambda self: self._open())
    @rule(data=st.data())
    def apply_credit(self, data):
        customer_id, open_ = self._open_of(data)
        credits = self._credits(customer_id)
        if not credits:
            return
        item, available = data.draw(st.sampled_from(credits))
        inv = data.draw(st.sampled_from(open_))
        transaction(lambda s: payments.apply_credit(s, SYSTEM, self.cid, customer_id, item,
                                                    [(inv.id, min(available, inv.open))]))

    @precondition(lambda self: any(inv.open <= TOLERANCE for inv in self._open()))
    @rule(data=st.data())
    def write_off(self, data):
        inv = data.draw(st.sampled_from([inv for inv in self._open() if inv.open <= TOLERANCE]))
        transaction(lambda s: payments.write_off(s, SYSTEM, self.cid, inv.id, inv.open, "short payment"))

    @precondition(lambda self: self._invoices())
    @rule(data=st.data(), by=st.sampled_from(["quantity", "amount"]))
    def credit_note(self, data, by):
        """A correction of one line: one unit back, or a tenth of its net (paid invoices too: what was
        paid for goes to unapplied credit)."""
        inv = data.draw(st.sampled_from(self._invoices()))
        with read_session() as s:
            full = billing.get_invoice(s, SYSTEM, self.cid, inv.id)
            done = billing.credited(s, [inv.id])
            left = [(n, li.net_amount) for n, li in enumerate(full.lines, 1)
                    if li.quantity - done.get(li.id, (ZERO, ZERO, ZERO))[0] >= 1
                    and li.net_amount - done.get(li.id, (ZERO, ZERO, ZERO))[1] >= D("1.00")]
        if not left:
            return
        n, net = data.draw(st.sampled_from(left))
        line = (CreditLineIn(line_no=n, quantity=D(1)) if by == "quantity"
                else CreditLineIn(line_no=n, amount=(net / 10).quantize(D("0.01"))))
        transaction(lambda s: billing.credit_invoice(s, SYSTEM, self.cid, inv.id,
                                                     CreditNoteIn(reason="price correction", lines=[line])))

    def _payments(self) -> list[int]:
        with read_session() as s:
            return list(s.scalars(select(Payment.id).where(Payment.company_id == self.cid,
                                                           Payment.bounced_at.is_(None)).order_by(Payment.id)))

    @precondition(lambda self: self._payments())
    @rule(data=st.data(), fee=st.sampled_from([None, D("15.00")]))
    def bounce(self, data, fee):
        """A payment that did not clear: undone, or refused with nothing changed when the credit it left
        (or a later credit note's on its invoices) was spent since."""
        payment_id = data.draw(st.sampled_from(self._payments()))
        before = self._invoices()
        try:
            transaction(lambda s: bounces.bounce_payment(s, SYSTEM, self.cid, payment_id, "returned unpaid", fee))
        except Conflict as exc:
            assert "reverse that" in exc.detail, exc.detail
            assert self._invoices() == before
            return
        with read_session() as s:
            assert s.get(Payment, payment_id).bounced_at is not None
        after = {inv.id: inv.open for inv in self._invoices()}
        assert all(after[inv.id] >= inv.open for inv in before)

    # ---------------------------------------------------------------- what must always hold

    @invariant()
    def books_agree(self):
        if not hasattr(self, "cid"):
            return
        with read_session() as s:
            assert all(tb["balanced"] for tb in ledger.trial_balance(s, self.cid))
            assert all(check["agrees"] for check in ledger.ar_check(s, self.cid))
            receivable = ledger.open_item_balances(s, self.cid, ledger_rules.RECEIVABLES)
            held = ledger.open_item_balances(s, self.cid, ledger_rules.UNAPPLIED_CREDITS)
            credit_by_customer = {}
            for code in CUSTOMERS:
                cust = self._customer(code)
                found = payments.unapplied_credit(s, self.cid, cust)
                credit_by_customer[cust] = {i["item"]: i["amount"] for i in found["items"]}
        for inv in self._invoices():
            assert ZERO <= inv.open <= inv.gross, inv
            assert receivable.get((inv.customer_id, inv.currency, inv.number), ZERO) == inv.open, inv
        for (cust, _, item), balance in held.items():
            assert credit_by_customer[cust].get(item) == -balance, (cust, item)
        assert sum(len(v) for v in credit_by_customer.values()) == len(held)


def test_random_sequences_of_billing_and_cash_keep_the_books_agreeing(db):
    Books.url = db
    try:
        run_state_machine_as_test(Books, settings=settings(
            max_examples=6, stateful_step_count=16, deadline=None,
            suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture]))
    finally:
        clock.freeze(None)
