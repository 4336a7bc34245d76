"""Billing and receivables: invoices, credit notes, payments, bank reconciliation, reminders, ageing."""
from __future__ import annotations

from fastapi import APIRouter

router = APIRouter(include_in_schema=False)
