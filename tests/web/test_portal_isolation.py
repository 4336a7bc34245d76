"""A customer's user gets nothing of another customer, on every portal route there is.

TIDY's buyer asks each /portal route with BIGBUY's records put wherever an id goes: the path, the query
and every id field a form could carry. Routes naming a record answer 404; lists, statements and PDFs show
none of BIGBUY's numbers; and nothing of BIGBUY's changes (no order, payment, return or card charge).
A new portal route is swept too; one whose path parameter this test cannot fill fails it, so it gets a
record here before it ships.
"""
from __future__ import annotations

import re

from fastapi.routing import APIRoute
from sqlalchemy import func, select

from o2c.core.db import read_session
from o2c.customers import service as customers
from o2c.orders.models import Order
from o2c.payments.models import Payment
from o2c.returns.models import Return
from tests.payments.card_world import stripe  # noqa: F401 (the fixture)
from tests.web.support import log_in
from tests.web.test_portal_account import bigbuy, shop  # noqa: F401 (fixtures: BIGBUY's records)

PARAMS = {"order_id": "order", "invoice_id": "invoice", "note_id": "note", "return_id": "return"}


def _portal_routes() -> list[tuple[str, str]]:
    from o2c.web.ui import screens

    out = []
    for router in screens.routers():
        for route in router.routes:
            if isinstance(route, APIRoute) and route.path.startswith("/portal"):
                out += [(m, route.path) for m in sorted(route.methods - {"HEAD"})]
    return out


def _counts(customer_id: int) -> tuple[int, int, int]:
    with read_session() as s:
        return tuple(s.scalar(select(func.count()).select_from(t).where(t.customer_id == customer_id))
                     for t in (Order, Payment, Return))


def test_every_portal_route_gives_another_customers_buyer_nothing(app, bigbuy, world, stripe):  # noqa: F811
    ids = {"order": bigbuy["order"], "invoice": bigbuy["invoice"], "note": bigbuy["note"],
           "return": bigbuy["return"]}
    with read_session() as s:
        address = customers.customer_view(s, world["ids"]["company"], world["ids"]["BIGBUY"])["shipping_addresses"][0].id
    form = {"order_id": ids["order"], "invoice_id": ids["invoice"], "note_id": ids["note"],
            "return_id": ids["return"], "ship_to_id": address, "amount": "1.00",
            "payment_method_token": "pm_card_visa", "idempotency_key": "k", "sku": "WIDGET", "quantity": "1",
            "lines[0].sku": "WIDGET", "lines[0].quantity": "1", "qty_1": "1", "reason_1": "defective",
            "outcome": "refund", "po_number": "PO-X"}
    before = _counts(world["ids"]["BIGBUY"])
    tidy = log_in(app, "tidybuyer")
    routes = _portal_routes()
    assert len(routes) >= 20
    for method, path in routes:
        names = re.findall(r"\{([^}:]+)(?::int)?\}", path)
        unknown = [n for n in names if n not in PARAMS]
        assert not unknown, f"{path}: give this test a BIGBUY record for {unknown}"
        url = re.sub(r"\{([^}:]+)(?::int)?\}", lambda m: str(ids[PARAMS[m.group(1)]]), path)
        url += f"?order_id={ids['order']}&invoice_id={ids['invoice']}"
        r = tidy.get(url) if method == "GET" else tidy.post(url, {k: str(v) for k, v in form.items()})
        shown = r.content.decode("latin-1")
        leaked = [s for s in bigbuy["secrets"] if s in shown]
        assert not leaked, (method, path, leaked)
        if names:
            assert r.status_code == 404, (method, path, r.status_code)
    assert _counts(world["ids"]["BIGBUY"]) == before
    assert stripe.requests == []
