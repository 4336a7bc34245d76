"""The customer portal's ordering side: catalogue with the customer's prices, cart, orders, reorder, tracking."""
from __future__ import annotations

from fastapi import APIRouter

router = APIRouter(include_in_schema=False)
