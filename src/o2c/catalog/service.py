"""Catalogue use cases: products, price lists, tax rates; and the price/tax look-ups orders use."""
from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from datetime import date
from decimal import Decimal

from sqlalchemy import or_, select
from sqlalchemy.orm import Session
from stdnum import ean

from o2c.catalog.models import PriceList, PriceListItem, Product, TaxRate
from o2c.catalog.rules import TaxRateRow
from o2c.catalog.schemas import PriceListIn, ProductIn, ProductPatch, TaxRateIn
from o2c.core import audit, clock, masterdata
from o2c.core.auth import Actor, require
from o2c.core.errors import Conflict, ErrorList, NotFound, ValidationFailed
from o2c.core.money import known_currencies


def _check_gtin(gtin: str | None) -> None:
    """A GTIN (EAN-8, UPC-A, EAN-13, GTIN-14) must carry its GS1 check digit (python-stdnum)."""
    if gtin is not None and not ean.is_valid(gtin):
        raise ValidationFailed.one("gtin", "check_digit", f"GTIN {gtin} has a wrong check digit or length")


def create_product(session: Session, actor: Actor, company_id: int, data: ProductIn) -> Product:
    require(actor, "masterdata.write")
    _check_gtin(data.gtin)
    if session.scalar(select(Product.id).where(Product.company_id == company_id, Product.sku == data.sku)):
        raise Conflict(f"a product with SKU {data.sku!r} exists already", field="sku")
    p = Product(company_id=company_id, created_at=clock.now(), **data.model_dump())
    session.add(p)
    session.flush()
    audit.record(session, actor, "product", p.id, "created", company_id=company_id, data={"sku": p.sku})
    masterdata.bump(session, company_id)
    return p


def get_product(session: Session, company_id: int, product_id: int) -> Product:
    p = session.get(Product, product_id)
    if p is None or p.company_id != company_id:
        raise NotFound(f"product {product_id} not found")
    return p


def update_product(session: Session, actor: Actor, company_id: int, product_id: int, patch: ProductPatch) -> Product:
    require(actor, "masterdata.write")
    p = get_product(session, company_id, product_id)
    changes = patch.model_dump(exclude_unset=True)
    _check_gtin(changes.get("gtin"))
    for k, v in changes.items():
        setattr(p, k, v)
    audit.record(session, actor, "product", p.id, "updated", company_id=company_id,
                 data={k: str(v) for k, v in changes.items()})
    masterdata.bump(session, company_id)
    session.flush()
    return p


def list_products(session: Session, company_id: int, after: int, limit: int, q: str | None, active: bool | None):
    stmt = select(Product).where(Product.company_id == company_id, Product.id > after).order_by(Product.id).limit(limit)
    if q:
        stmt = stmt.where(or_(Product.sku == q, Product.name.ilike(f"%{q}%")))
    if active is not None:
        stmt = stmt.where(Product.active == active)
    return list(session.scalars(stmt))


def products_by_sku(session: Session, company_id: int, skus: Iterable[str]) -> dict[str, Product]:
    """Every product named, in one query."""
    wanted = sorted(set(skus))
    if not wanted:
        return {}
    rows = session.scalars(select(Product).where(Product.company_id == company_id, Product.sku.in_(wanted)))
    return {p.sku: p for p in rows}


def create_price_list(session: Session, actor: Actor, company_id: int, data: PriceListIn) -> PriceList:
    require(actor, "masterdata.write")
    errors = ErrorList()
    if data.currency not in known_currencies():
        errors.add("currency", "unknown", f"{data.currency} is not an ISO 4217 currency")
    if data.valid_from and data.valid_to and data.valid_to < data.valid_from:
        errors.add("valid_to", "before_start", "valid_to is before valid_from")
    products = products_by_sku(session, company_id, (i.sku for i in data.items))
    seen: set[tuple[str, Decimal]] = set()
    for n, item in enumerate(data.items):
        if item.sku not in products:
            errors.add(f"items[{n}].sku", "unknown", f"no product with SKU {item.sku!r}")
        if (item.sku, item.min_qty) in seen:
            errors.add(f"items[{n}].min_qty", "duplicate", f"{item.sku} has two prices from {item.min_qty}")
        seen.add((item.sku, item.min_qty))
    if data.customer_id is not None:
        from o2c.customers import service as customers

        try:
            customers.load(session, company_id, data.customer_id)
        except NotFound:
            errors.add("customer_id", "unknown", f"no customer {data.customer_id} in this company")
    errors.raise_if_any()
    pl = PriceList(
        company_id=company_id, name=data.name, currency=data.currency, customer_id=data.customer_id,
        valid_from=data.valid_from, valid_to=data.valid_to, active=True, created_at=clock.now(),
    )
    session.add(pl)
    session.flush()
    session.add_all(
        PriceListItem(price_list_id=pl.id, product_id=products[i.sku].id, min_qty=i.min_qty, unit_price=i.unit_price)
        for i in data.items
    )
    session.flush()
    audit.record(session, actor, "price_list", pl.id, "created", company_id=company_id,
                 data={"name": pl.name, "items": len(data.items)})
    masterdata.bump(session, company_id)
    return pl


def price_list_view(session: Session, company_id: int, price_list_id: int) -> dict:
    pl = session.get(PriceList, price_list_id)
    if pl is None or pl.company_id != company_id:
        raise NotFound(f"price list {price_list_id} not found")
    items = session.execute(
        select(Product.sku, PriceListItem.min_qty, PriceListItem.unit_price)
        .join(Product, Product.id == PriceListItem.product_id)
        .where(PriceListItem.price_list_id == pl.id)
        .order_by(Product.sku, PriceListItem.min_qty)
    )
    return {
        "id": pl.id, "name": pl.name, "currency": pl.currency, "customer_id": pl.customer_id,
        "valid_from": pl.valid_from, "valid_to": pl.valid_to, "active": pl.active,
        "items": [{"sku": s, "min_qty": q, "unit_price": p} for s, q, p in items],
    }


def list_price_lists(session: Session, company_id: int) -> list[dict]:
    ids = session.scalars(select(PriceList.id).where(PriceList.company_id == company_id).order_by(PriceList.id))
    return [price_list_view(session, company_id, i) for i in ids]


def price_breaks(
    session: Session, company_id: int, customer_id: int, currency: str, product_ids: Iterable[int], on: date
) -> dict[int, list[tuple[Decimal, Decimal]]]:
    """Quantity breaks per product from the price list that applies: the customer's own list where it
    prices the product, the general list otherwise. One query for all products."""
    ids = sorted(set(product_ids))
    if not ids:
        return {}
    rows = session.execute(
        select(PriceListItem.product_id, PriceListItem.min_qty, PriceListItem.unit_price, PriceList.customer_id)
        .join(PriceList, PriceList.id == PriceListItem.price_list_id)
        .where(
            PriceList.company_id == company_id,
            PriceList.currency == currency,
            PriceList.active.is_(True),
            or_(PriceList.customer_id.is_(None), PriceList.customer_id == customer_id),
            or_(PriceList.valid_from.is_(None), PriceList.valid_from <= on),
            or_(PriceList.valid_to.is_(None), PriceList.valid_to >= on),
            PriceListItem.product_id.in_(ids),
        )
    )
    general: dict[int, list] = defaultdict(list)
    own: dict[int, list] = defaultdict(list)
    for pid, min_qty, price, cust in rows:
        (own if cust is not None else general)[pid].append((min_qty, price))
    return {pid: own.get(pid) or general[pid] for pid in ids if own.get(pid) or general.get(pid)}


def create_tax_rate(session: Session, actor: Actor, company_id: int, data: TaxRateIn) -> TaxRate:
    require(actor, "masterdata.write")
    clash = session.scalar(
        select(TaxRate.id).where(
            TaxRate.company_id == company_id, TaxRate.country == data.country,
            TaxRate.region.is_(None) if data.region is None else TaxRate.region == data.region,
            TaxRate.tax_class == data.tax_class, TaxRate.valid_from == data.valid_from,
        )
    )
    if clash:
        raise Conflict("a rate for this jurisdiction, tax class and start date exists already", field="valid_from")
    r = TaxRate(company_id=company_id, created_at=clock.now(), **data.model_dump())
    session.add(r)
    session.flush()
    audit.record(session, actor, "tax_rate", r.id, "created", company_id=company_id,
                 data={"country": r.country, "region": r.region, "class": r.tax_class, "rate": str(r.rate_pct)})
    masterdata.bump(session, company_id)
    return r


def list_tax_rates(session: Session, company_id: int, country: str | None = None) -> list[TaxRate]:
    stmt = select(TaxRate).where(TaxRate.company_id == company_id).order_by(TaxRate.country, TaxRate.region, TaxRate.tax_class, TaxRate.valid_from)
    if country:
        stmt = stmt.where(TaxRate.country == country)
    return list(session.scalars(stmt))


def tax_rows(session: Session, company_id: int, country: str | None) -> list[TaxRateRow]:
    if not country:
        return []
    return [
        TaxRateRow(r.country, r.region, r.tax_class, r.rate_pct, r.valid_from)
        for r in session.scalars(select(TaxRate).where(TaxRate.company_id == company_id, TaxRate.country == country))
    ]
