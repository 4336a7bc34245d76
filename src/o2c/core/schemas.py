"""Shapes shared by every API: strict input models (unknown fields refused) and pages."""
from __future__ import annotations

from decimal import Decimal
from typing import Annotated, Generic, TypeVar

from fastapi import Path
from pydantic import BaseModel, ConfigDict, Field, PlainSerializer, field_validator

T = TypeVar("T")


class StrictModel(BaseModel):
    """Input: unknown fields are an error, never silently dropped; strings are trimmed and may not
    carry NUL characters (PostgreSQL cannot store them; SQLite would, so refuse them on both)."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    @field_validator("*", mode="after")
    @classmethod
    def _no_nul(cls, value):
        if isinstance(value, str) and "\x00" in value:
            raise ValueError("text may not contain NUL (0x00) characters")
        return value


class OutModel(BaseModel):
    model_config = ConfigDict(from_attributes=True)


# Decimals leave the API as strings ("12.50"), so no client parses money into a float by accident.
DecimalStr = Annotated[Decimal, PlainSerializer(lambda d: format(d, "f"), return_type=str, when_used="json")]

# Quantities and percentages leave the API without trailing zeros ("12", "12.5", "6.25"), however
# they were stored.
QtyStr = Annotated[
    Decimal, PlainSerializer(lambda d: format(d.normalize(), "f"), return_type=str, when_used="json")
]
PctStr = QtyStr

# Unit prices always with their 4 stored decimals ("8.5000").
PriceStr = Annotated[
    Decimal, PlainSerializer(lambda d: format(d.quantize(Decimal("0.0001")), "f"), return_type=str, when_used="json")
]

# A record id: the databases keep 64-bit signed integers, so anything larger is bad input, not a 500.
MAX_ID = 2**63 - 1
RecordId = Annotated[int, Field(ge=1, le=MAX_ID)]
IdPath = Annotated[int, Path(ge=1, le=MAX_ID)]

Code = Annotated[str, Field(min_length=1, max_length=40, pattern=r"^[A-Za-z0-9][A-Za-z0-9._\-/]*$")]
CurrencyCode = Annotated[str, Field(min_length=3, max_length=3, pattern=r"^[A-Z]{3}$")]
CountryCode = Annotated[str, Field(min_length=2, max_length=2, pattern=r"^[A-Z]{2}$")]
Percent = Annotated[Decimal, Field(ge=0, le=100, max_digits=9, decimal_places=4)]


class Page(BaseModel, Generic[T]):
    items: list[T]
    next_cursor: str | None = None
