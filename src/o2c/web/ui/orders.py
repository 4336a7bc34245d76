"""Orders: search and filters, and one order's whole life on one page (o2c.reports.order_story)."""
from __future__ import annotations

from datetime import date
from urllib.parse import urlencode

from fastapi import APIRouter

from o2c.core.db import read_session
from o2c.core.schemas import IdPath
from o2c.customers import service as customers
from o2c.orders import search
from o2c.orders.rules import CHANNELS, STATUSES
from o2c.reports import order_story
from o2c.reports.kpis import HOLD_KINDS
from o2c.web.ui.context import BackOfficeDep, Ui
from o2c.web.ui.forms import Errors
from o2c.web.ui.pages import page

router = APIRouter(include_in_schema=False)
HOME = "/app/orders"
FILTERS = ("q", "status", "hold", "channel", "customer", "from", "to")
PAGE = 50
OPTIONS = {name: [(v, v.replace("_", " ").capitalize()) for v in choices]
           for name, choices in (("status", STATUSES), ("hold", HOLD_KINDS), ("channel", CHANNELS))}


def _date(typed: dict, name: str, errors: Errors) -> date | None:
    if not typed.get(name):
        return None
    try:
        return date.fromisoformat(typed[name])
    except ValueError:
        errors[name] = "enter a date as YYYY-MM-DD"
        return None


def _choice(typed: dict, name: str, allowed: tuple[str, ...], errors: Errors) -> str | None:
    value = typed.get(name) or None
    if value is not None and value not in allowed:
        errors[name] = f"choose one of: {', '.join(allowed)}"
        return None
    return value


def _query(s, ui: Ui, typed: dict) -> tuple[search.OrderQuery, Errors]:
    """The filters as typed, checked: each bad one is named beside its field."""
    errors: Errors = {}
    customer_id = None
    if typed.get("customer"):
        found = customers.find(s, ui.company_id, code=typed["customer"].strip())
        if found is None:
            errors["customer"] = f"no customer with code {typed['customer'].strip()!r}"
        else:
            customer_id = found[0].id
    q = search.OrderQuery(
        text=typed.get("q") or None, status=_choice(typed, "status", STATUSES, errors),
        hold_kind=_choice(typed, "hold", HOLD_KINDS, errors), channel=_choice(typed, "channel", CHANNELS, errors),
        customer_id=customer_id, date_from=_date(typed, "from", errors), date_to=_date(typed, "to", errors))
    if q.date_from and q.date_to and q.date_from > q.date_to:
        errors["to"] = "the end date is before the start date"
    return q, errors


def _cursor(raw: str | None) -> int | None:
    return int(raw) if raw and raw.isascii() and raw.isdigit() and len(raw) <= 18 else None


def _limit(raw: str | None) -> int:
    return min(int(raw), 200) if raw and raw.isascii() and raw.isdigit() and int(raw) > 0 else PAGE


@router.get(HOME)
def order_list(ui: BackOfficeDep):
    params = ui.request.query_params
    typed = {k: params.get(k, "").strip() for k in FILTERS}
    limit = _limit(params.get("limit"))
    with read_session() as s:  # the page is drawn while the orders are still attached to the session
        q, errors = _query(s, ui, typed)
        found = [] if errors else search.search(s, ui.actor, ui.company_id, q, before_id=_cursor(params.get("before")),
                                                limit=limit)
        names = customers.labels(s, ui.company_id, {o.customer_id for o in found})
        waits = order_story.waits_brief(s, found) if found else {}
        rows = [{"order": o, "customer": names.get(o.customer_id, ("?", "?")), "waits": waits.get(o.id, "")}
                for o in found]
        next_url = None
        if len(found) == limit:
            kept = {k: v for k, v in typed.items() if v} | ({"limit": str(limit)} if limit != PAGE else {})
            next_url = f"{HOME}?{urlencode(kept | {'before': found[-1].id})}"
        return page(ui, "app/orders/index.html", 422 if errors else 200, active=HOME, title="Orders", rows=rows,
                    values=typed, errors=errors, next_url=next_url, options=OPTIONS, filtered=any(typed.values()))


@router.get(HOME + "/{order_id}")
def order_page(order_id: IdPath, ui: BackOfficeDep):
    with read_session() as s:
        story = order_story.story(s, ui.actor, ui.company_id, order_id)
        return page(ui, "app/orders/show.html", active=HOME, title=f"Order {story['order'].number}", **story)
