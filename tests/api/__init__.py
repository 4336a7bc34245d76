"""API contract tests, and the small helpers they share.

`snapshot()` counts what a request could change (orders, lines, customers, products, stock figures,
reservations, idempotency keys, audit records, outbox events), so a test can prove that a refused
request changed nothing. `assert_problem()` checks the RFC 9457 problem+json shape and the field named.
`refused()` runs one refusal of a table-driven test, collecting its failures instead of stopping at the first.
"""
from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from decimal import Decimal

from sqlalchemy import func, select

from o2c.catalog.models import PriceList, PriceListItem, Product, TaxRate
from o2c.core.db import read_session
from o2c.core.models import AuditRecord, IdempotencyKey, OutboxEvent
from o2c.customers.models import Customer, CustomerAccount, CustomerAddress
from o2c.inventory.models import Reservation, Stock, Warehouse
from o2c.orders.models import Order, OrderHold, OrderLine

PROBLEM = "application/problem+json"


def snapshot() -> dict:
    """Everything a write could have touched, counted (and stock summed) in one read."""
    counted = {
        "orders": Order, "order_lines": OrderLine, "order_holds": OrderHold, "customers": Customer,
        "customer_accounts": CustomerAccount, "customer_addresses": CustomerAddress, "products": Product,
        "price_lists": PriceList, "price_list_items": PriceListItem, "tax_rates": TaxRate,
        "warehouses": Warehouse, "reservations": Reservation, "idempotency_keys": IdempotencyKey,
        "audit": AuditRecord, "outbox": OutboxEvent,
    }
    with read_session() as s:
        counts = s.execute(select(*(select(func.count()).select_from(model).scalar_subquery().label(name)
                                     for name, model in counted.items()))).one()
        out = dict(counts._mapping)
        out["stock"] = sorted(
            (r.product_id, r.warehouse_id, str(r.on_hand), str(r.reserved)) for r in s.scalars(select(Stock))
        )
        out["order_states"] = sorted((o.id, o.status, o.version) for o in s.scalars(select(Order)))
    return out


def problem_fields(body: dict) -> list[str]:
    return [e.get("field") for e in body.get("errors") or []]


def assert_problem(r, status: int, field: str | None = None) -> dict:
    """The response is problem+json with the given status and (if given) an `errors` entry for `field`."""
    assert r.status_code == status, f"expected {status}, got {r.status_code}: {r.text[:500]}"
    assert r.headers["content-type"].startswith(PROBLEM), r.headers["content-type"]
    body = r.json()
    for key in ("type", "title", "status", "detail"):
        assert key in body, f"problem+json lacks {key!r}: {body}"
    assert body["status"] == status
    assert isinstance(body["detail"], str) and body["detail"].strip(), body
    if field is not None:
        assert field in problem_fields(body), f"expected an error naming {field!r}, got {body}"
        for e in body["errors"]:
            assert e.get("message"), f"error without a message: {e}"
    return body


@contextmanager
def refused(label: str, failures: list[str], state: Callable[[], dict]) -> Iterator[None]:
    """Around one request that must be refused, and the checks of its answer: a failed check, and any
    difference in `state()` (a dict of what the request could change) between before and after, are
    added to `failures` led by `label`, so a loop over many cases reports every one that fails."""
    before = state()
    try:
        yield
    except AssertionError as exc:
        failures.append(f"{label}: {exc}")
    after = state()
    if after != before:
        failures.append(f"{label}: refused but changed {[k for k in before if before[k] != after[k]]}")


def order_body(customer: str = "BIGBUY", lines=None, **extra) -> dict:
    """A valid order for one of the world's customers (by code)."""
    return {"customer_code": customer, "channel": "web",
            "lines": lines if lines is not None else [{"sku": "WIDGET", "quantity": "2"}], **extra}


def stock_of(api, sku: str, warehouse: str) -> dict:
    r = api.get("/stock", user="admin", params={"sku": sku, "warehouse": warehouse})
    assert r.status_code == 200, r.text
    items = r.json()["items"]
    assert len(items) == 1, items
    return items[0]


def nums(*values) -> tuple:
    """Figures from the API (decimal strings) as Decimals, so a test compares values, not formatting."""
    return tuple(None if v is None else Decimal(v) for v in values)


def stock_figures(row: dict) -> tuple:
    """(on_hand, reserved, available) of a stock row, as Decimals."""
    return nums(row["on_hand"], row["reserved"], row["available"])
