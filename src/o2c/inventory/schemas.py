from __future__ import annotations

from decimal import Decimal
from typing import Annotated

from pydantic import Field

from o2c.catalog.schemas import Sku
from o2c.core.schemas import Code, OutModel, QtyStr, StrictModel
from o2c.customers.schemas import AddressIn, AddressOut


class WarehouseIn(StrictModel):
    code: Code
    address: AddressIn
    latitude: Annotated[Decimal, Field(ge=-90, le=90, decimal_places=6)] | None = None
    longitude: Annotated[Decimal, Field(ge=-180, le=180, decimal_places=6)] | None = None


class WarehouseOut(OutModel):
    id: int
    code: str
    address: AddressOut
    latitude: QtyStr | None
    longitude: QtyStr | None
    active: bool


class StockSet(StrictModel):
    sku: Sku
    warehouse: Code
    on_hand: Annotated[Decimal, Field(ge=0, max_digits=13, decimal_places=3)]
    reason: str = Field(min_length=3, max_length=200)


class StockOut(OutModel):
    sku: str
    warehouse: str
    on_hand: QtyStr
    reserved: QtyStr
    available: QtyStr
