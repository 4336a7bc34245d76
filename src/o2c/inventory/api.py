from __future__ import annotations

from fastapi import APIRouter, Query

from o2c.core.db import read_session, transaction
from o2c.core.schemas import IdPath, Page
from o2c.inventory import service
from o2c.inventory.schemas import StockOut, StockSet, WarehouseIn, WarehouseOut
from o2c.web.deps import CtxDep, IdemKey, ReaderDep, cursor_to_id
from o2c.web.responses import create

router = APIRouter(tags=["inventory"])


@router.post("/warehouses", status_code=201, response_model=WarehouseOut)
def create_warehouse(data: WarehouseIn, ctx: CtxDep, idempotency_key: IdemKey = None):
    return create(ctx, idempotency_key, "/warehouses", data, WarehouseOut,
                  lambda s: service.warehouse_view(service.create_warehouse(s, ctx.actor, ctx.company_id, data)))


@router.get("/warehouses", response_model=list[WarehouseOut])
def list_warehouses(ctx: ReaderDep):
    with read_session() as s:
        return [WarehouseOut.model_validate(service.warehouse_view(w)) for w in service.list_warehouses(s, ctx.company_id)]


@router.get("/warehouses/{warehouse_id}", response_model=WarehouseOut)
def get_warehouse(warehouse_id: IdPath, ctx: ReaderDep):
    with read_session() as s:
        return WarehouseOut.model_validate(service.warehouse_view(service.get_warehouse(s, ctx.company_id, warehouse_id)))


@router.get("/stock", response_model=Page[StockOut])
def list_stock(ctx: ReaderDep, sku: str | None = Query(None, max_length=64), warehouse: str | None = Query(None, max_length=40),
               cursor: str | None = None, limit: int = Query(100, ge=1, le=1000)):
    with read_session() as s:
        rows = service.list_stock(s, ctx.company_id, sku, warehouse, cursor_to_id(cursor) or 0, limit)
        return Page[StockOut](items=[StockOut.model_validate(r) for r in rows],
                              next_cursor=str(rows[-1]["id"]) if len(rows) == limit else None)


@router.put("/stock", response_model=StockOut)
def set_stock(data: StockSet, ctx: CtxDep):
    """Set the quantity on hand of a product in a warehouse (a count or a receipt), with a reason."""
    return StockOut.model_validate(transaction(lambda s: service.set_on_hand(s, ctx.actor, ctx.company_id, data)))
