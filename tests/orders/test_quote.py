"""Quoting before ordering: the catalogue at a customer's own prices, and a cart priced exactly as the
order capture would price it (the order placed afterwards comes to the same figures)."""
from __future__ import annotations

from decimal import Decimal as D

import pytest
from sqlalchemy import select

from o2c.core.auth import actor_for_user
from o2c.core.db import read_session
from o2c.core.errors import NotFound
from o2c.core.models import User
from o2c.orders import quote as quoting
from tests.world import LA


def actor(session, username):
    return actor_for_user(session, session.scalar(select(User).where(User.username == username)))


def test_the_catalogue_has_each_customers_own_prices_and_breaks(world):
    ids = world["ids"]
    with read_session() as s:
        currency, offers = quoting.offers(s, actor(s, "buyer"), ids["company"], ids["BIGBUY"])
        by_sku = {o.sku: o for o in offers}
        assert currency == "USD" and "OLD" not in by_sku  # inactive products are not offered
        assert by_sku["GADGET"].breaks == [(D(1), D("22.50"))]
        assert by_sku["WIDGET"].breaks == [(D(1), D(10)), (D(10), D(9)), (D(100), D(8))]
        _, tidy = quoting.offers(s, actor(s, "tidybuyer"), ids["company"], ids["TIDY"], q="gadget")
        assert [(o.sku, o.breaks) for o in tidy] == [("GADGET", [(D(1), D(25))])]
        with pytest.raises(NotFound):  # a portal user asking for another customer's prices
            quoting.offers(s, actor(s, "tidybuyer"), ids["company"], ids["BIGBUY"])


def test_a_quote_prices_like_an_order_with_breaks_discount_and_tax(world, api):
    ids = world["ids"]
    with read_session() as s:
        q = quoting.quote(s, actor(s, "desk"), ids["company"], ids["LOYAL"], [("WIDGET", D(10)), ("FLOUR", D("2.5"))])
    widget, flour = q.lines
    assert (widget.unit_price, widget.discount_pct, widget.net, widget.tax) == (D(9), D(5), D("85.50"), D("5.34"))
    assert (flour.unit_price, flour.net, flour.tax) == (D("2.345"), D("5.57"), D("0.06"))
    assert q.ok and q.tax_known and q.total == D("85.50") + D("5.57") + D("5.34") + D("0.06")
    order = api.post("/orders", user="desk", json={"customer_code": "LOYAL", "channel": "phone", "lines": [
        {"sku": "WIDGET", "quantity": "10"}, {"sku": "FLOUR", "quantity": "2.5"}]}).json()
    assert D(order["total"]) == q.total and D(order["tax_total"]) == q.tax


def test_the_ship_to_decides_the_tax_and_a_tax_exempt_customer_pays_none(world):
    ids = world["ids"]
    with read_session() as s:
        desk = actor(s, "desk")
        assert quoting.quote(s, desk, ids["company"], ids["BIGBUY"], [("WIDGET", D(1))], LA).tax == D("0.73")
        assert quoting.quote(s, desk, ids["company"], ids["EXEMPT"], [("WIDGET", D(1))]).tax == 0
        abroad = quoting.quote(s, desk, ids["company"], ids["BIGBUY"], [("WIDGET", D(1))], {"country": "CA"})
        assert not abroad.tax_known and abroad.lines[0].net == D(10)


def test_a_quote_names_what_an_order_would_be_held_or_refused_for_line_by_line(world):
    ids = world["ids"]
    with read_session() as s:
        q = quoting.quote(s, actor(s, "buyer"), ids["company"], ids["BIGBUY"], [
            ("BOLT", D(30)), ("OLD", D(1)), ("NOPE", D(1)), ("WIDGET", D(0)), ("WIDGET", D("1.5")),
            ("FLOUR", D("1.25")), ("GADGET", D(2_000_000))])
    assert [li.error for li in q.lines] == [
        "BOLT is sold in multiples of 12 EA; 30 is not one",
        "product OLD is no longer sold (inactive)",
        "no product with SKU 'NOPE'",
        "enter a quantity above 0",
        "quantity 1.5 has more than 0 decimals allowed for unit EA",
        None,
        "at most 1,000,000 on one line",
    ]
    assert not q.ok and q.total == D("2.93") + D("0.03")  # only the flour is priced: 1.25 x 2.345, 1% tax
    with read_session() as s:
        euro = quoting.quote(s, actor(s, "desk"), ids["company"], ids["EURO"], [("GADGET", D(1)), ("WIDGET", D(1))])
    assert [li.error for li in euro.lines] == ["GADGET has no price for you; ask us for a quote", None]
    assert euro.currency == "EUR" and euro.lines[1].unit_price == D("9.50")
