"""Who is on the page: the logged-in user as an Actor, their company, and the session's form token.

`BackOfficeDep` is for the company's own staff, `PortalDep` for a customer's users; a page of the other kind
is refused. Writes (POST) must carry the session's CSRF token, as a form field or an htmx header.
"""
from __future__ import annotations

import secrets as _secrets
from dataclasses import dataclass, field
from typing import Annotated
from urllib.parse import quote, urlsplit
from zoneinfo import ZoneInfo

from fastapi import Depends, Request
from sqlalchemy import select

from o2c.core.auth import Actor, actor_for_user
from o2c.core.db import read_session
from o2c.core.errors import Forbidden
from o2c.core.models import Company, User
from o2c.web.ui import sessions
from o2c.web.ui.sessions import WebSession


class LoginRequired(Exception):
    """No valid session: the page answers with the login form, which then returns to `next`."""

    def __init__(self, next_path: str):
        super().__init__(next_path)
        self.next_path = next_path


class BadFormToken(Exception):
    """A write without this session's CSRF token: refused, nothing changed."""


@dataclass
class Ui:
    request: Request
    actor: Actor
    ws: WebSession
    company_id: int
    company_code: str
    company_name: str
    currency: str
    tz: ZoneInfo
    display_name: str
    companies: list[tuple[int, str]] = field(default_factory=list)
    flash: str | None = None

    @property
    def csrf(self) -> str:
        return self.ws.csrf

    @property
    def is_portal(self) -> bool:
        return self.actor.customer_id is not None

    def can(self, *permissions: str) -> bool:
        """True if the user holds any of `permissions`."""
        return any(self.actor.can(p) for p in permissions)

    def require_any(self, *permissions: str) -> None:
        if not self.can(*permissions):
            raise Forbidden(f"user {self.actor.username!r} may not open this page "
                            f"(it needs one of: {', '.join(permissions)})")


def safe_next(path: str | None, default: str = "/") -> str:
    """Only a path on this site: never another host (an open redirect)."""
    if not path or not path.startswith("/") or path.startswith("//") or "\\" in path:
        return default
    parts = urlsplit(path)
    if parts.scheme or parts.netloc:
        return default
    return path


def _here(request: Request) -> str:
    """Where to come back to after logging in: this page, or for a form post the page that held the form."""
    if request.method in ("GET", "HEAD") and not request.headers.get("HX-Request"):
        q = f"?{request.url.query}" if request.url.query else ""
        return request.url.path + q
    for header in ("HX-Current-URL", "Referer"):
        ref = request.headers.get(header)
        if ref:
            parts = urlsplit(ref)
            if parts.netloc in ("", request.url.netloc):
                return safe_next(parts.path + (f"?{parts.query}" if parts.query else ""), request.url.path)
    return request.url.path


def login_url(request: Request) -> str:
    return "/login?next=" + quote(_here(request), safe="/")


async def _check_csrf(request: Request, ws: WebSession) -> None:
    if request.method in ("GET", "HEAD", "OPTIONS"):
        return
    sent = request.headers.get("X-CSRF-Token")
    if sent is None and request.headers.get("content-type", "").startswith(
            ("application/x-www-form-urlencoded", "multipart/form-data")):
        sent = (await request.form()).get("csrf")
    if not isinstance(sent, str) or not _secrets.compare_digest(sent, ws.csrf):
        raise BadFormToken()


def load(request: Request, ws: WebSession) -> Ui | None:
    with read_session() as s:
        user = s.get(User, ws.user_id)
        if user is None or not user.active:
            return None
        actor = actor_for_user(s, user)
        companies = list(s.execute(select(Company.id, Company.code).where(Company.id.in_(actor.company_ids))
                                   .order_by(Company.code)))
        if not companies:
            return None
        cid = ws.company_id if ws.company_id in actor.company_ids else companies[0][0]
        company = s.get(Company, cid)
        return Ui(request=request, actor=actor, ws=WebSession(ws.user_id, cid, ws.csrf, ws.started),
                  company_id=cid, company_code=company.code, company_name=company.name,
                  currency=company.currency, tz=ZoneInfo(company.timezone or "UTC"),
                  display_name=user.display_name, companies=[(c[0], c[1]) for c in companies])


async def ui_context(request: Request) -> Ui:
    ws = sessions.decode(request.cookies.get(sessions.COOKIE))
    ui = load(request, ws) if ws else None
    if ui is None:
        raise LoginRequired(_here(request))
    await _check_csrf(request, ui.ws)
    ui.flash = request.cookies.get("o2c_flash")
    return ui


def back_office(ui: Annotated[Ui, Depends(ui_context)]) -> Ui:
    if ui.is_portal:
        raise Forbidden("this page is for the company's staff; customers use the portal at /portal")
    ui.require_any("read")
    return ui


def portal(ui: Annotated[Ui, Depends(ui_context)]) -> Ui:
    if not ui.is_portal:
        raise Forbidden("the portal is for customers' users; staff use the back office at /app")
    return ui


UiDep = Annotated[Ui, Depends(ui_context)]
BackOfficeDep = Annotated[Ui, Depends(back_office)]
PortalDep = Annotated[Ui, Depends(portal)]
