from __future__ import annotations

from fastapi import APIRouter, Query

from o2c.catalog import service
from o2c.catalog.schemas import PriceListIn, PriceListOut, ProductIn, ProductOut, ProductPatch, TaxRateIn, TaxRateOut
from o2c.core.db import read_session
from o2c.core.errors import NotFound
from o2c.core.schemas import CountryCode, IdPath, Page
from o2c.web.deps import CtxDep, IdemKey, ReaderDep, cursor_to_id
from o2c.web.responses import change, create

router = APIRouter(tags=["catalog"])


@router.post("/products", status_code=201, response_model=ProductOut)
def create_product(data: ProductIn, ctx: CtxDep, idempotency_key: IdemKey = None):
    return create(ctx, idempotency_key, "/products", data, ProductOut,
                  lambda s: service.create_product(s, ctx.actor, ctx.company_id, data))


@router.get("/products", response_model=Page[ProductOut])
def list_products(ctx: ReaderDep, q: str | None = Query(None, max_length=200), active: bool | None = None,
                  cursor: str | None = None, limit: int = Query(50, ge=1, le=500)):
    with read_session() as s:
        items = service.list_products(s, ctx.company_id, cursor_to_id(cursor) or 0, limit, q, active)
        return Page[ProductOut](items=[ProductOut.model_validate(p) for p in items],
                                next_cursor=str(items[-1].id) if len(items) == limit else None)


@router.get("/products/{product_id}", response_model=ProductOut)
def get_product(product_id: IdPath, ctx: ReaderDep):
    with read_session() as s:
        return ProductOut.model_validate(service.get_product(s, ctx.company_id, product_id))


@router.patch("/products/{product_id}", response_model=ProductOut)
def update_product(product_id: IdPath, patch: ProductPatch, ctx: CtxDep):
    return change(ProductOut, lambda s: service.update_product(s, ctx.actor, ctx.company_id, product_id, patch))


@router.post("/price-lists", status_code=201, response_model=PriceListOut)
def create_price_list(data: PriceListIn, ctx: CtxDep, idempotency_key: IdemKey = None):
    def work(s):
        pl = service.create_price_list(s, ctx.actor, ctx.company_id, data)
        return service.price_list_view(s, ctx.company_id, pl.id)

    return create(ctx, idempotency_key, "/price-lists", data, PriceListOut, work)


@router.get("/price-lists", response_model=list[PriceListOut])
def list_price_lists(ctx: ReaderDep):
    with read_session() as s:
        return [PriceListOut.model_validate(v) for v in service.list_price_lists(s, ctx.company_id) if _visible(ctx, v)]


@router.get("/price-lists/{price_list_id}", response_model=PriceListOut)
def get_price_list(price_list_id: IdPath, ctx: ReaderDep):
    with read_session() as s:
        view = service.price_list_view(s, ctx.company_id, price_list_id)
        if not _visible(ctx, view):  # another customer's contract prices: not there for this portal user
            raise NotFound(f"price list {price_list_id} not found")
        return PriceListOut.model_validate(view)


def _visible(ctx, price_list: dict) -> bool:
    """A customer's portal user sees the general lists and their own, never another customer's."""
    return ctx.actor.customer_id is None or price_list["customer_id"] in (None, ctx.actor.customer_id)


@router.post("/tax-rates", status_code=201, response_model=TaxRateOut)
def create_tax_rate(data: TaxRateIn, ctx: CtxDep, idempotency_key: IdemKey = None):
    return create(ctx, idempotency_key, "/tax-rates", data, TaxRateOut,
                  lambda s: service.create_tax_rate(s, ctx.actor, ctx.company_id, data))


@router.get("/tax-rates", response_model=list[TaxRateOut])
def list_tax_rates(ctx: ReaderDep, country: CountryCode | None = None):
    with read_session() as s:
        return [TaxRateOut.model_validate(r) for r in service.list_tax_rates(s, ctx.company_id, country)]
