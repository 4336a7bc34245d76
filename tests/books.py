"""The stock books, read straight from the database, for tests that must show a use case kept them
straight: what each stock row and order line says is reserved is what the reservations hold."""
from __future__ import annotations

from collections import defaultdict
from decimal import Decimal as D

from sqlalchemy import func, select

from o2c.catalog.models import Product
from o2c.core.db import read_session
from o2c.inventory.models import Reservation, Stock, Warehouse
from o2c.orders.models import OrderLine


def assert_books_agree() -> None:
    """Every stock row's reserved figure is the sum of its reservations, and within what is on hand;
    every order line's reserved quantity is the sum of its reservations."""
    with read_session() as s:
        held = defaultdict(D)
        for p, w, q in s.execute(select(Reservation.product_id, Reservation.warehouse_id, Reservation.quantity)):
            held[(p, w)] += q
        for row in s.scalars(select(Stock)):
            assert row.reserved == held.get((row.product_id, row.warehouse_id), D(0)), row.id
            assert D(0) <= row.reserved <= row.on_hand, row.id
        per_line = dict(s.execute(select(Reservation.order_line_id, func.sum(Reservation.quantity))
                                  .group_by(Reservation.order_line_id)).all())
        for li in s.scalars(select(OrderLine)):
            assert li.reserved_qty == D(per_line.get(li.id, 0)), li.id


def stock() -> dict[tuple[str, str], tuple[D, D]]:
    """(SKU, warehouse) -> (on hand, reserved)."""
    with read_session() as s:
        rows = s.execute(select(Product.sku, Warehouse.code, Stock.on_hand, Stock.reserved)
                         .join(Product, Product.id == Stock.product_id)
                         .join(Warehouse, Warehouse.id == Stock.warehouse_id))
        return {(sku, wh): (on_hand, reserved) for sku, wh, on_hand, reserved in rows}


def assert_ledger_agrees(company_id: int) -> None:
    """The books of money: the trial balance balances in every currency, the customer subledger equals
    its control accounts, and every invoice's open amount is what its receivables open item holds."""
    from o2c.billing import service as billing
    from o2c.billing.models import Invoice
    from o2c.ledger import rules, service as ledger

    with read_session() as s:
        for tb in ledger.trial_balance(s, company_id):
            assert tb["balanced"], tb
        for ar in ledger.ar_check(s, company_id):
            assert ar["agrees"], ar
        held = ledger.open_item_balances(s, company_id, rules.RECEIVABLES)
        invoices = list(s.scalars(select(Invoice).where(Invoice.company_id == company_id)))
        opens = billing.open_amounts(s, [inv.id for inv in invoices])
        for inv in invoices:
            assert opens[inv.id] == held.get((inv.customer_id, inv.currency, inv.number), D(0)), inv.number
