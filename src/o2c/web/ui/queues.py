"""Queues: orders held for validation, pricing, credit, compliance and fraud, each decided with a reason."""
from __future__ import annotations

from fastapi import APIRouter

router = APIRouter(include_in_schema=False)
