"""Customers: applications and KYC, screening hits, credit profiles, hierarchy, pending sensitive changes."""
from __future__ import annotations

from fastapi import APIRouter

router = APIRouter(include_in_schema=False)
