"""Warehouse: waves, pick lists, the pack station with its scanner field, ship confirmation and labels."""
from __future__ import annotations

from fastapi import APIRouter

router = APIRouter(include_in_schema=False)
