from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from typing import Annotated

from pydantic import Field

from o2c.core.schemas import (
    Code, CountryCode, CurrencyCode, DecimalStr, OutModel, PctStr, PriceStr, QtyStr, RecordId, StrictModel,
)

Sku = Annotated[str, Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9][A-Za-z0-9._\-/]*$")]
Qty = Annotated[Decimal, Field(gt=0, max_digits=13, decimal_places=3)]
Price = Annotated[Decimal, Field(ge=0, max_digits=15, decimal_places=4)]
Dim = Annotated[Decimal, Field(ge=0, max_digits=10, decimal_places=3)]


class ProductIn(StrictModel):
    sku: Sku
    name: str = Field(min_length=1, max_length=200)
    uom: str = Field("EA", min_length=1, max_length=10)
    uom_decimals: int = Field(0, ge=0, le=3)
    order_multiple: Qty | None = None
    weight_kg: Dim | None = None
    length_cm: Annotated[Decimal, Field(ge=0, max_digits=8, decimal_places=1)] | None = None
    width_cm: Annotated[Decimal, Field(ge=0, max_digits=8, decimal_places=1)] | None = None
    height_cm: Annotated[Decimal, Field(ge=0, max_digits=8, decimal_places=1)] | None = None
    tax_class: str = Field("standard", min_length=1, max_length=20)
    gtin: str | None = Field(None, min_length=8, max_length=14, pattern=r"^[0-9]+$")
    active: bool = True


class ProductPatch(StrictModel):
    name: str | None = Field(None, min_length=1, max_length=200)
    uom_decimals: int | None = Field(None, ge=0, le=3)
    order_multiple: Qty | None = None
    weight_kg: Dim | None = None
    tax_class: str | None = Field(None, min_length=1, max_length=20)
    gtin: str | None = Field(None, min_length=8, max_length=14, pattern=r"^[0-9]+$")
    active: bool | None = None


class ProductOut(OutModel):
    id: int
    sku: str
    name: str
    uom: str
    uom_decimals: int
    order_multiple: QtyStr | None
    weight_kg: DecimalStr | None
    length_cm: DecimalStr | None
    width_cm: DecimalStr | None
    height_cm: DecimalStr | None
    tax_class: str
    gtin: str | None
    active: bool


class PriceItemIn(StrictModel):
    sku: Sku
    min_qty: Qty = Decimal(1)
    unit_price: Price


class PriceListIn(StrictModel):
    name: str = Field(min_length=1, max_length=100)
    currency: CurrencyCode
    customer_id: RecordId | None = None
    valid_from: date | None = None
    valid_to: date | None = None
    items: list[PriceItemIn] = Field(default_factory=list, max_length=100_000)


class PriceItemOut(OutModel):
    sku: str
    min_qty: QtyStr
    unit_price: PriceStr


class PriceListOut(OutModel):
    id: int
    name: str
    currency: str
    customer_id: int | None
    valid_from: date | None
    valid_to: date | None
    active: bool
    items: list[PriceItemOut]


class TaxRateIn(StrictModel):
    country: CountryCode
    region: str | None = Field(None, max_length=100)
    tax_class: str = Field("standard", min_length=1, max_length=20)
    rate_pct: Annotated[Decimal, Field(ge=0, le=100, max_digits=8, decimal_places=4)]
    name: str = Field(min_length=1, max_length=60)
    valid_from: date


class TaxRateOut(OutModel):
    id: int
    country: str
    region: str | None
    tax_class: str
    rate_pct: PctStr
    name: str
    valid_from: date
    created_at: datetime


__all__ = ["Code"]
