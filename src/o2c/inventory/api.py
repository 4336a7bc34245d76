from __future__ import annotations

from typing import Literal

from fastapi import APIRouter, Query

from o2c.core.db import read_session, transaction
from o2c.core.schemas import IdPath, Page
from o2c.inventory import service
from o2c.inventory.rules import MOVE_KINDS
from o2c.inventory.schemas import (
    AdjustmentIn, AdjustmentOut, BinSet, CountIn, CountOut, MoveOut, ReceiptIn, ReceiptOut, StockOut, StockSet,
    WarehouseIn, WarehouseOut,
)
from o2c.web.deps import CtxDep, IdemKey, ReaderDep, cursor_to_id
from o2c.web.responses import change, create

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
    """Set the quantity on hand of a product in a warehouse, with a reason: recorded as a count move.
    Goods arriving go through POST /stock/receipts, which also serves waiting backorders."""
    return StockOut.model_validate(transaction(lambda s: service.set_on_hand(s, ctx.actor, ctx.company_id, data)))


@router.post("/stock/receipts", status_code=201, response_model=ReceiptOut)
def receive(data: ReceiptIn, ctx: CtxDep, idempotency_key: IdemKey = None):
    """Goods received into a warehouse: on hand goes up, waiting backorders get the stock (by priority,
    then order date), and the answer says which orders got how much."""
    return create(ctx, idempotency_key, "/stock/receipts", data, ReceiptOut,
                  lambda s: service.receive(s, ctx.actor, ctx.company_id, data))


@router.post("/stock/adjustments", status_code=201, response_model=AdjustmentOut)
def adjust(data: AdjustmentIn, ctx: CtxDep, idempotency_key: IdemKey = None):
    """A signed change of on hand with a reason code (damaged, expired, lost, sample, found, correction)."""
    return create(ctx, idempotency_key, "/stock/adjustments", data, AdjustmentOut,
                  lambda s: service.adjust(s, ctx.actor, ctx.company_id, data))


@router.post("/stock/counts", status_code=201, response_model=CountOut)
def count(data: CountIn, ctx: CtxDep, idempotency_key: IdemKey = None):
    """A cycle count: the counted figures become on hand; each line's difference is recorded."""
    return create(ctx, idempotency_key, "/stock/counts", data, CountOut,
                  lambda s: service.count(s, ctx.actor, ctx.company_id, data))


@router.put("/stock/bins", response_model=StockOut)
def set_bin(data: BinSet, ctx: CtxDep):
    """Where a product is kept in a warehouse (ZONE-AISLE-BAY-LEVEL, e.g. A-03-12-2); null clears it."""
    return change(StockOut, lambda s: service.set_bin(s, ctx.actor, ctx.company_id, data.sku, data.warehouse, data.bin))


@router.get("/stock/moves", response_model=Page[MoveOut])
def list_moves(ctx: ReaderDep, sku: str | None = Query(None, max_length=64),
               warehouse: str | None = Query(None, max_length=40),
               kind: Literal[MOVE_KINDS] | None = None, reference: str | None = Query(None, max_length=60),
               cursor: str | None = None, limit: int = Query(100, ge=1, le=1000)):
    """Every change of on hand, oldest first: what moved, by how much, why, and who booked it."""
    with read_session() as s:
        rows = service.list_moves(s, ctx.company_id, sku=sku, warehouse=warehouse, kind=kind, reference=reference,
                                  after=cursor_to_id(cursor) or 0, limit=limit)
        return Page[MoveOut](items=[MoveOut.model_validate(r) for r in rows],
                             next_cursor=str(rows[-1]["id"]) if len(rows) == limit else None)
