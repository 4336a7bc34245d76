"""Orders: search and filters, and one order's whole life on one page."""
from __future__ import annotations

from fastapi import APIRouter

router = APIRouter(include_in_schema=False)
