"""A small trading company to run stories against: users of every role, customers, products, prices,
tax rates, two warehouses with stock. Built through the services, as an administrator would."""
from __future__ import annotations

from datetime import date
from functools import lru_cache
from decimal import Decimal as D

from o2c.catalog import service as catalog
from o2c.catalog.schemas import PriceListIn, ProductIn, TaxRateIn
from o2c.core.auth import SYSTEM, create_user, hash_password, issue_api_key
from o2c.core.db import transaction
from o2c.core.setup import create_company
from o2c.customers import service as customers
from o2c.customers.schemas import CustomerIn
from o2c.inventory import service as inventory
from o2c.inventory.schemas import StockSet, WarehouseIn

ROLES = {
    "admin": ["admin"],
    "desk": ["order_desk"],
    "desk2": ["order_desk"],
    "approver": ["pricing_approver"],
    "desk_approver": ["order_desk", "pricing_approver"],
    "viewer": ["viewer"],
    "keeper": ["warehouse"],
    "biller": ["billing"],
    "cashier": ["receivables"],
    "onboarder": ["master_data"],
    "steward": ["data_steward"],
    "compliance": ["compliance_officer"],
    "analyst": ["credit_analyst"],
    "analyst2": ["credit_analyst"],
    "manager": ["credit_manager"],
    "manager2": ["credit_manager"],
    "fraudcop": ["fraud_analyst"],
    "auditor": ["auditor"],
}

CHICAGO = {"name": "Receiving", "line1": "100 W Randolph St", "city": "Chicago", "region": "IL",
           "postal_code": "60601", "country": "US"}
LA = {"name": "Dock 4", "line1": "200 N Spring St", "city": "Los Angeles", "region": "CA",
      "postal_code": "90012", "country": "US"}


PASSWORD = "correct horse battery staple"
# Portal users: a customer's buyer sees that customer only.
PORTAL_USERS = {"buyer": "BIGBUY", "tidybuyer": "TIDY"}


@lru_cache(maxsize=1)
def password_hash() -> str:
    return hash_password(PASSWORD)  # scrypt once per test run, not once per user


def build(session) -> dict:
    company, _ = create_company(session, "ACME", "Acme Supply Inc.", "USD", "US", "America/Chicago", admin=None)
    cid = company.id
    keys, ids = {}, {"company": cid}
    for name, roles in ROLES.items():
        user = create_user(session, name, roles, [cid])
        user.password_hash = password_hash()  # the web pages log in with PASSWORD
        keys[name] = issue_api_key(session, user)
        ids[name] = user.id

    def customer(code, **kw):
        data = CustomerIn(code=code, legal_name=kw.pop("legal_name", f"{code} Inc."),
                          email=kw.pop("email", f"buyer@{code.lower()}.example"),
                          currency=kw.pop("currency", "USD"), billing_address=CHICAGO,
                          shipping_addresses=[kw.pop("ship", CHICAGO)], **kw)
        ids[code] = customers.create_customer(session, SYSTEM, cid, data)["id"]

    customer("BIGBUY", ship_preference="ship_partial")
    customer("TIDY", ship_preference="ship_complete", ship=LA)
    customer("EXEMPT", tax_exempt=True, tax_exemption_ref="IL-EX-0042")
    customer("LOYAL", discount_pct=D("5"))
    customer("EURO", currency="EUR")
    for name, code in PORTAL_USERS.items():
        user = create_user(session, name, ["customer"], [cid], customer_id=ids[code])
        user.password_hash = password_hash()
        keys[name] = issue_api_key(session, user)
        ids[name] = user.id

    for p in [
        ProductIn(sku="WIDGET", name="Widget, steel", weight_kg=D("0.5"), gtin="04006381333931"),
        ProductIn(sku="GADGET", name="Gadget, deluxe", weight_kg=D("1.2")),
        ProductIn(sku="BOLT", name="Bolt M8 (case of 12)", order_multiple=D(12)),
        ProductIn(sku="FLOUR", name="Flour, bulk", uom="KG", uom_decimals=3, tax_class="reduced"),
        ProductIn(sku="OLD", name="Discontinued thing", active=False),
    ]:
        ids[p.sku] = catalog.create_product(session, SYSTEM, cid, p).id

    catalog.create_price_list(session, SYSTEM, cid, PriceListIn(name="USD list", currency="USD", items=[
        {"sku": "WIDGET", "min_qty": 1, "unit_price": "10.00"},
        {"sku": "WIDGET", "min_qty": 10, "unit_price": "9.00"},
        {"sku": "WIDGET", "min_qty": 100, "unit_price": "8.00"},
        {"sku": "GADGET", "min_qty": 1, "unit_price": "25.00"},
        {"sku": "BOLT", "min_qty": 1, "unit_price": "0.3333"},
        {"sku": "FLOUR", "min_qty": 1, "unit_price": "2.345"},
        {"sku": "OLD", "min_qty": 1, "unit_price": "1.00"},
    ]))
    catalog.create_price_list(session, SYSTEM, cid, PriceListIn(
        name="BIGBUY contract", currency="USD", customer_id=ids["BIGBUY"],
        items=[{"sku": "GADGET", "min_qty": 1, "unit_price": "22.50"}]))
    catalog.create_price_list(session, SYSTEM, cid, PriceListIn(name="EUR list", currency="EUR", items=[
        {"sku": "WIDGET", "min_qty": 1, "unit_price": "9.50"}]))

    for country, region, klass, rate, since in [
        ("US", "IL", "standard", "6.25", date(2000, 1, 1)),
        ("US", "IL", "reduced", "1", date(2000, 1, 1)),
        ("US", "CA", "standard", "7.25", date(2000, 1, 1)),
        ("US", "CA", "reduced", "0", date(2000, 1, 1)),
    ]:
        catalog.create_tax_rate(session, SYSTEM, cid, TaxRateIn(
            country=country, region=region, tax_class=klass, rate_pct=D(rate), name=f"{region} {klass}",
            valid_from=since))

    for code, addr in (("CHI", CHICAGO), ("LAX", LA)):
        ids[code] = inventory.create_warehouse(session, SYSTEM, cid, WarehouseIn(code=code, address=addr)).id
    for sku, wh, qty in [("WIDGET", "CHI", 100), ("WIDGET", "LAX", 50), ("GADGET", "CHI", 5),
                         ("BOLT", "CHI", 1200), ("FLOUR", "LAX", 500), ("OLD", "CHI", 10)]:
        inventory.set_on_hand(session, SYSTEM, cid, StockSet(sku=sku, warehouse=wh, on_hand=D(qty), reason="opening count"))
    return {"keys": keys, "ids": ids}


def make() -> dict:
    return transaction(build)
