"""Logging in and out, the home redirect, the company switch, and how the web pages answer errors."""
from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable
from functools import lru_cache
from typing import Annotated

from fastapi import APIRouter, FastAPI, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from sqlalchemy import select

from o2c.core.auth import check_password, hash_password
from o2c.core.db import read_session
from o2c.core.errors import O2CError
from o2c.core.models import User
from o2c.web.ui import sessions
from o2c.web.ui.context import BadFormToken, LoginRequired, UiDep, load, login_url, safe_next
from o2c.web.ui.nav import home
from o2c.web.ui.pages import STATIC, SecurityHeaders, redirect, render

router = APIRouter(include_in_schema=False)

MAX_FAILURES = 5  # failed logins of one username within WINDOW_SECONDS before it is refused for a while
WINDOW_SECONDS = 300
LOCK_SECONDS = 300


class LoginThrottle:
    """Failed logins per username, in this process's memory: once MAX_FAILURES fall within WINDOW_SECONDS
    the username is refused (even with the right password) until LOCK_SECONDS after the last of them.
    Unknown usernames count the same, so the refusal never tells whether a user exists. Each server
    process counts its own failures."""

    MAX_NAMES = 10_000  # a flood of made-up usernames must not grow memory without end

    def __init__(self, clock: Callable[[], float] = time.monotonic):
        self.clock = clock
        self._failures: dict[str, deque[float]] = {}
        self._lock = threading.Lock()

    @staticmethod
    def _key(username: str) -> str:
        return username.strip().casefold()

    def wait_seconds(self, username: str) -> int:
        """0 when the username may try now; else the seconds until it may."""
        with self._lock:
            times = self._failures.get(self._key(username))
            if not times or len(times) < MAX_FAILURES or times[-1] - times[0] > WINDOW_SECONDS:
                return 0
            left = times[-1] + LOCK_SECONDS - self.clock()
            return max(1, int(left + 0.999)) if left > 0 else 0

    def failed(self, username: str) -> None:
        with self._lock:
            now = self.clock()
            if len(self._failures) >= self.MAX_NAMES:  # forget what no longer counts first, then the oldest
                stale = [k for k, t in self._failures.items() if now - t[-1] > max(WINDOW_SECONDS, LOCK_SECONDS)]
                for k in stale or [next(iter(self._failures))]:
                    del self._failures[k]
            self._failures.setdefault(self._key(username), deque(maxlen=MAX_FAILURES)).append(now)

    def succeeded(self, username: str) -> None:
        with self._lock:
            self._failures.pop(self._key(username), None)


@lru_cache(maxsize=1)
def _dummy_hash() -> str:
    """A password hash to check against when the username is unknown, so that answer costs as long as a
    wrong password (the time taken does not tell which usernames exist)."""
    return hash_password("o2c-no-such-user")


def _throttle(request: Request) -> LoginThrottle:
    return request.app.state.login_throttle


def _login_page(next_path: str, username: str = "", errors: dict | None = None, status: int = 200,
                notice: str | None = None) -> HTMLResponse:
    html = render(None, "login.html", next=next_path, values={"username": username}, errors=errors or {},
                  notice=notice)
    return HTMLResponse(html, status_code=status, headers={"Cache-Control": "no-store"})


@router.get("/login")
def login_form(request: Request, next: str = "/"):
    notice = None
    if request.cookies.get(sessions.COOKIE):
        notice = "Your session has ended. Log in again to go on where you were."
    return _login_page(safe_next(next), notice=notice)


@router.post("/login")
def login(request: Request, username: Annotated[str, Form(max_length=80)] = "",
          password: Annotated[str, Form(max_length=200)] = "", next: Annotated[str, Form(max_length=2000)] = "/"):
    username = username.strip()
    errors = {}
    if not username:
        errors["username"] = "enter your username"
    if not password:
        errors["password"] = "enter your password"
    if errors:
        return _login_page(safe_next(next), username, errors, 422)
    throttle = _throttle(request)
    wait = throttle.wait_seconds(username)
    if wait:
        minutes = -(-wait // 60)
        return _login_page(safe_next(next), username, {"password": (
            f"too many failed logins for this username: try again in {minutes} minute{'s' if minutes > 1 else ''}"
        )}, 429)
    with read_session() as s:
        user = s.scalar(select(User).where(User.username == username))
        stored = user.password_hash if user is not None and user.password_hash else _dummy_hash()
        ok = check_password(password, stored) and user is not None and user.active
        uid = user.id if ok else None
    if uid is None:
        throttle.failed(username)
        return _login_page(safe_next(next), username, {"password": "the username or password is wrong"}, 422)
    throttle.succeeded(username)
    ws = sessions.new(uid, None)
    ui = load(request, ws)
    if ui is None:
        return _login_page(safe_next(next), username, {"username": "this user works for no company yet"}, 422)
    target = safe_next(next, home(ui))
    if target == "/":
        target = home(ui)
    return redirect(ui, target)


@router.post("/logout")
def logout(ui: UiDep):
    response = RedirectResponse("/login", status_code=303)
    response.delete_cookie(sessions.COOKIE, path="/")
    return response


@router.post("/switch-company")
def switch_company(ui: UiDep, company_id: Annotated[int, Form()]):
    if company_id in ui.actor.company_ids:
        ui.ws = sessions.WebSession(ui.ws.user_id, company_id, ui.ws.csrf, ui.ws.started)
    return redirect(ui, home(ui))


@router.get("/")
def root(request: Request):
    ws = sessions.decode(request.cookies.get(sessions.COOKIE))
    ui = load(request, ws) if ws else None
    return RedirectResponse(home(ui) if ui else "/login", status_code=303)


def is_page(request: Request) -> bool:
    """A request for a web page (not the API), answered in HTML."""
    path = request.url.path
    return not (path.startswith("/api/") or path == "/health")


def error_page(request: Request, status: int, title: str, detail: str, errors: list | None = None) -> Response:
    html = render(None, "error.html", status=status, title=title, detail=detail, errors=errors or [])
    if request.headers.get("HX-Request"):
        # htmx swaps only 2xx answers by default: show the refusal where the action was.
        return HTMLResponse(render(None, "_error_fragment.html", title=title, detail=detail, errors=errors or []),
                            status_code=200, headers={"HX-Retarget": "#messages", "HX-Reswap": "innerHTML"})
    return HTMLResponse(html, status_code=status)


def o2c_error_page(request: Request, exc: O2CError) -> Response:
    return error_page(request, exc.status, exc.title, exc.detail, [e.as_dict() for e in exc.errors])


def install(app: FastAPI) -> None:
    from o2c.web.ui import screens

    app.state.login_throttle = LoginThrottle()
    app.add_middleware(SecurityHeaders)
    app.mount("/static", StaticFiles(directory=STATIC), name="static")
    app.include_router(router)
    for r in screens.routers():
        app.include_router(r)

    @app.exception_handler(LoginRequired)
    async def _login(request: Request, exc: LoginRequired):
        url = login_url(request)
        if request.headers.get("HX-Request"):
            return Response(status_code=204, headers={"HX-Redirect": url})
        return RedirectResponse(url, status_code=303)

    @app.exception_handler(BadFormToken)
    async def _csrf(request: Request, exc: BadFormToken):
        return error_page(request, 403, "The form has expired",
                          "This form belongs to an earlier session. Reload the page and send it again; nothing "
                          "was changed.")
