"""The customer portal's money side: invoices and credit notes, statement of account, card payment, returns."""
from __future__ import annotations

from fastapi import APIRouter

router = APIRouter(include_in_schema=False)
