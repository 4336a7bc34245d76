"""API shapes of shipping: carriers, rate quotes, shipping a shipment, tracking events."""
from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from typing import Annotated, Literal

from pydantic import Field

from o2c.core.schemas import Code, CountryCode, OutModel, QtyStr, StrictModel

Dim = Annotated[Decimal, Field(ge=0, le=1000, max_digits=6, decimal_places=1)]


class CarrierIn(StrictModel):
    code: Code
    name: str = Field(min_length=1, max_length=100)
    tracking_format: str = Field(min_length=2, max_length=20, description="see o2c.shipping.tracking.FORMATS")
    account: str | None = Field(None, max_length=20, description="shipper number printed in tracking numbers")
    webhook_secret: str | None = Field(None, min_length=16, max_length=100)
    rate_table: dict = Field(description="docs/shipping-rates.md")


class RateTableIn(StrictModel):
    rate_table: dict
    reason: str = Field(min_length=3, max_length=200)


class ServiceOut(OutModel):
    code: str
    name: str
    on_time_rate: QtyStr | None
    delivered: int


class CarrierOut(OutModel):
    id: int
    code: str
    name: str
    tracking_format: str
    account: str | None
    active: bool
    currency: str
    services: list[ServiceOut]


class ParcelIn(StrictModel):
    weight_kg: Annotated[Decimal, Field(gt=0, le=1000, max_digits=8, decimal_places=3)]
    length_cm: Dim = Decimal(0)
    width_cm: Dim = Decimal(0)
    height_cm: Dim = Decimal(0)


class RateRequest(StrictModel):
    warehouse: Code
    country: CountryCode
    postal_code: str = Field(min_length=1, max_length=20)
    parcels: list[ParcelIn] = Field(min_length=1, max_length=100)
    residential: bool = False
    ship_date: date | None = None
    promise_date: date | None = None


class ShipIn(StrictModel):
    carrier: Code | None = Field(None, description="default: rate shopping across every active carrier")
    service: Code | None = None


class TrackingIn(StrictModel):
    tracking_number: str = Field(min_length=4, max_length=40)
    kind: Literal["shipped", "in_transit", "out_for_delivery", "delivered", "exception"]
    occurred_at: datetime
    location: str | None = Field(None, max_length=200)
    description: str | None = Field(None, max_length=500)
    event_id: str | None = Field(None, max_length=120, description="the carrier's id of this event: repeats are absorbed")


class TrackingOut(OutModel):
    id: int
    shipment_id: int
    shipment_number: str
    tracking_number: str
    kind: str
    occurred_at: datetime
    location: str | None
    description: str | None
    source: str
    duplicate: bool


class TrackingFileOut(OutModel):
    created: int
    duplicates: int
