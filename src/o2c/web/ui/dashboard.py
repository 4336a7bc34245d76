"""The back office's first page: today's orders, the holds waiting for someone, shipments due and
late, overdue receivables and the key figures of the process, with charts. Figures come from
o2c.reports.kpis; this module only shapes them for the page."""
from __future__ import annotations

from fastapi import APIRouter

from o2c.core.db import read_session
from o2c.reports import kpis
from o2c.web.ui.context import BackOfficeDep
from o2c.web.ui.pages import page

router = APIRouter(include_in_schema=False)


def _company_row(rows: list[dict] | None, currency: str) -> dict | None:
    """The company currency's row of a per-currency report (what the headline figures show)."""
    return next((r for r in rows or [] if r["currency"] == currency), None)


def charts(figures: dict, currency: str) -> dict:
    """The (label, number) pairs of the page's bar charts."""
    ageing = _company_row(figures["receivables"], currency)
    return {
        "holds": [(kind.capitalize(), n) for kind, n in figures["holds"].items()],
        "per_day": [(d.strftime("%a %d %b"), n) for d, n in figures["orders_per_day"]],
        "ageing": [(("Current" if b == "current" else f"{b} days"), v) for b, v in ageing["buckets"].items()]
        if ageing else [],
    }


@router.get("/app")
def dashboard(ui: BackOfficeDep):
    with read_session() as s:
        figures = kpis.dashboard(s, ui.actor, ui.company_id)
    return page(ui, "app/dashboard.html", active="/app", title="Dashboard", f=figures,
                charts=charts(figures, ui.currency), ageing=_company_row(figures["receivables"], ui.currency),
                dso=_company_row(figures["dso"], ui.currency))
