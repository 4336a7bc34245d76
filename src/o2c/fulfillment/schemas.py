"""API shapes of fulfilment: waves, pick lists, parcels, shipments."""
from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from typing import Annotated, Literal

from pydantic import Field

from o2c.core.schemas import Code, DecimalStr, OutModel, QtyStr, RecordId, StrictModel

Qty = Annotated[Decimal, Field(gt=0, max_digits=13, decimal_places=3)]
Length = Annotated[Decimal, Field(gt=0, le=1000, max_digits=6, decimal_places=1)]
Weight = Annotated[Decimal, Field(ge=0, le=10000, max_digits=9, decimal_places=3)]
Reason = Annotated[str, Field(min_length=3, max_length=500)]


class WaveIn(StrictModel):
    order_ids: list[RecordId] | None = Field(None, max_length=20000, description="only these orders; default: all waiting")
    max_orders: int = Field(500, ge=1, le=20000)
    pickers: int | None = Field(None, ge=1, le=100)
    max_lines: int | None = Field(None, ge=1, le=1000, description="most stops on one pick list")


class WaveOut(OutModel):
    id: int
    number: str
    status: str
    report: dict
    created_at: datetime
    pick_lists: list[int]
    shipments: list[str]


class PickTaskOut(OutModel):
    task_id: int
    shipment: str
    quantity: QtyStr
    picked_qty: QtyStr | None


class StopOut(OutModel):
    seq: int
    bin: str | None
    sku: str
    description: str
    quantity: QtyStr
    picked: QtyStr
    tasks: list[PickTaskOut]


class PickListOut(OutModel):
    id: int
    number: str
    wave_id: int
    warehouse: str
    status: str
    picker: str | None
    length_m: QtyStr
    unsorted_length_m: QtyStr
    stops: list[StopOut]


class PickIn(StrictModel):
    task_id: RecordId
    quantity: Annotated[Decimal, Field(ge=0, max_digits=13, decimal_places=3)]


class PicksIn(StrictModel):
    picker: str | None = Field(None, max_length=80)
    picks: list[PickIn] = Field(min_length=1, max_length=5000)


class ScanIn(StrictModel):
    barcode: str = Field(min_length=1, max_length=100)
    quantity: Qty = Decimal(1)


class ScanOut(OutModel):
    package_id: int
    sku: str
    packed: QtyStr
    expected: QtyStr
    sku_complete: bool
    all_packed: bool
    missing: dict[str, QtyStr]


class CloseIn(StrictModel):
    weight_kg: Weight
    box_code: Code | None = None
    all_items: bool = Field(False, description="refuse to close while any picked item is not in a parcel")


class ReviewIn(StrictModel):
    decision: Literal["release", "reopen"]
    reason: Reason


class PackageItemOut(OutModel):
    sku: str
    quantity: QtyStr


class PackageOut(OutModel):
    id: int
    shipment_id: int
    status: str
    box_code: str | None
    expected_weight_kg: QtyStr | None
    weighed_weight_kg: QtyStr | None
    qc_message: str | None
    sscc: str | None
    tracking_number: str | None
    items: list[PackageItemOut]


class BoxSuggestion(OutModel):
    package_id: int
    box: str | None
    message: str


class ShipmentLineOut(OutModel):
    id: int
    line_no: int
    sku: str
    quantity: QtyStr
    picked_qty: QtyStr
    packed_qty: QtyStr
    shipped_qty: QtyStr
    returned_qty: QtyStr


class ShipmentOut(OutModel):
    id: int
    number: str
    order_id: int
    order_number: str
    warehouse: str
    wave_id: int | None
    kind: str
    status: str
    promised_date: date | None
    estimated_delivery: date | None
    shipped_at: datetime | None
    delivered_at: datetime | None
    on_time: bool | None
    carrier: str | None
    service: str | None
    shipping_cost: DecimalStr | None
    tracking_url: str | None
    ship_to: dict
    lines: list[ShipmentLineOut]
    packages: list[PackageOut]


class BoxIn(StrictModel):
    code: Code
    inner_length_cm: Length
    inner_width_cm: Length
    inner_height_cm: Length
    max_weight_kg: Annotated[Decimal, Field(gt=0, le=10000, max_digits=9, decimal_places=3)]
    tare_kg: Weight


class BoxOut(OutModel):
    id: int
    code: str
    inner_length_cm: QtyStr
    inner_width_cm: QtyStr
    inner_height_cm: QtyStr
    max_weight_kg: QtyStr
    tare_kg: QtyStr


class PolicyIn(StrictModel):
    channel: str = Field(min_length=1, max_length=20)
    policy: Literal["cost", "speed", "fewest_parcels"]


class PolicyOut(OutModel):
    channel: str
    policy: str


class ReasonIn(StrictModel):
    reason: Reason
