"""The back office's first page: today's orders and the holds waiting for someone."""
from __future__ import annotations

from fastapi import APIRouter

from o2c.web.ui.context import BackOfficeDep
from o2c.web.ui.pages import page

router = APIRouter(include_in_schema=False)


@router.get("/app")
def dashboard(ui: BackOfficeDep):
    return page(ui, "app/dashboard.html", active="/app", title="Dashboard")
