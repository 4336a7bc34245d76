"""Rendering: the template environment, its formats (money, quantities, times in the company's zone),
and the two answers a page gives: a page (or an htmx fragment) and a redirect after a write."""
from __future__ import annotations

from datetime import date, datetime, timezone
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path
from urllib.parse import quote, unquote

from babel.numbers import format_currency, format_decimal
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from jinja2 import Environment, FileSystemLoader, select_autoescape

from o2c.core.money import plain
from o2c.web.ui import sessions
from o2c.web.ui.context import Ui
from o2c.web.ui.nav import sections

TEMPLATES = Path(__file__).resolve().parent.parent / "templates"
STATIC = Path(__file__).resolve().parent.parent / "static"
FLASH = "o2c_flash"
# Characters a Location header may carry as they are (Starlette's RedirectResponse quotes the rest); an
# HX-Redirect is quoted the same way, so a tab or newline in a path can never make a browser read "//host".
URL_SAFE = ":/%#?=@[]!$&'()*+,;"

# Scripts and styles come from this site's files only: nothing inline (a script, an event handler, a style
# attribute, a <style>) runs. Behaviours live in static/o2c.js, styles in static/*.css.
CSP = ("default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; "
       "form-action 'self'; frame-ancestors 'none'; base-uri 'none'; object-src 'none'")
SECURITY_HEADERS = {"X-Content-Type-Options": "nosniff", "Referrer-Policy": "same-origin",
                    "X-Frame-Options": "DENY"}


class SecurityHeaders:
    """ASGI middleware: every answer outside the JSON API (pages, fragments, redirects, downloads, static
    files, error pages) says nosniff, same-origin referrers and never in a frame; an HTML answer also
    carries the content security policy, and any answer but a static file is kept out of caches unless it
    says otherwise (an invoice PDF holds personal data). The API (and its Swagger page) is left as it is."""

    def __init__(self, app):
        self.app = app

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http" or scope["path"].startswith("/api/"):
            return await self.app(scope, receive, send)

        async def start(message):
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                have = {k.lower() for k, _ in headers}
                extra = dict(SECURITY_HEADERS)
                ctype = next((v for k, v in headers if k.lower() == b"content-type"), b"")
                if ctype.startswith(b"text/html"):
                    extra["Content-Security-Policy"] = CSP
                if not scope["path"].startswith("/static/"):
                    extra["Cache-Control"] = "no-store"
                headers += [(k.lower().encode(), v.encode()) for k, v in extra.items()
                            if k.lower().encode() not in have]
                message = {**message, "headers": headers}
            await send(message)

        return await self.app(scope, receive, start)


env = Environment(loader=FileSystemLoader(TEMPLATES), autoescape=select_autoescape(["html"]),
                  trim_blocks=True, lstrip_blocks=True)


def money(amount, currency: str | None = None) -> str:
    """1234.5, 'USD' -> '$1,234.50'; the currency's own minor units (JPY has none). Never via float."""
    if amount is None or amount == "":
        return ""
    return format_currency(Decimal(str(amount)), currency or "USD", locale="en_US")


def qty(value) -> str:
    """A quantity without trailing zeros: 12.000 -> '12', 2.50 -> '2.5'."""
    if value is None or value == "":
        return ""
    return plain(Decimal(str(value)))


def number(value, digits: int = 1) -> str:
    if value is None:
        return "–"
    return format_decimal(Decimal(str(value)), format=f"#,##0.{'0' * digits}" if digits else "#,##0", locale="en_US")


def pct(value, digits: int = 1) -> str:
    """A ratio 0.953 -> '95.3%'."""
    if value is None:
        return "–"
    return number(Decimal(str(value)) * 100, digits) + "%"


def _local(value, ui: Ui | None):
    if isinstance(value, str):
        try:
            value = datetime.fromisoformat(value)
        except ValueError:
            return value
    if isinstance(value, datetime) and ui is not None:
        if value.tzinfo is None:
            value = value.replace(tzinfo=timezone.utc)
        value = value.astimezone(ui.tz)
    return value


def when(value, ui: Ui | None = None) -> str:
    """A timestamp in the company's time zone: '2026-11-26 14:05'."""
    if value is None or value == "":
        return ""
    value = _local(value, ui)
    if isinstance(value, datetime):
        return value.strftime("%Y-%m-%d %H:%M")
    if isinstance(value, date):
        return value.isoformat()
    return str(value)


def day(value, ui: Ui | None = None) -> str:
    if value is None or value == "":
        return ""
    value = _local(value, ui)
    if isinstance(value, datetime):
        return value.date().isoformat()
    return value.isoformat() if isinstance(value, date) else str(value)


def nonzero(value) -> bool:
    """A template test for an amount ('0.00', Decimal, None), compared as Decimal, never float."""
    if value is None or value == "":
        return False
    return Decimal(str(value).replace(",", "")) != 0


def whole(value) -> int:
    """An amount rounded to whole units (half up) for a chart's bar, through Decimal."""
    if value is None or value == "":
        return 0
    return int(Decimal(str(value).replace(",", "")).quantize(Decimal(1), rounding=ROUND_HALF_UP))


def label(value) -> str:
    """A code as words: 'ship_partial' -> 'Ship partial'."""
    if value is None:
        return ""
    text = str(value).replace("_", " ")
    return text[:1].upper() + text[1:]


env.filters.update(money=money, qty=qty, number=number, pct=pct, label=label, whole=whole)
env.tests.update(nonzero=nonzero)
env.globals.update(when=when, day=day, quote=quote)


def render(ui: Ui | None, name: str, **context) -> str:
    return env.get_template(name).render(ui=ui, nav=sections(ui) if ui else [], **context)


def _keep_session(ui: Ui, response: Response) -> Response:
    """Re-issue the cookie so the idle clock restarts (and the company choice sticks)."""
    response.set_cookie(value=sessions.encode(ui.ws), **sessions.cookie_args(ui.request.url.scheme == "https"))
    response.headers["Cache-Control"] = "no-store"
    return response


_FLASH_SAFE = " ,.:;()!?'/-+#=@_"


def flash_cookie(text: str) -> str:
    """The one-time message as a cookie value: percent-encoded, since a cookie carries only Latin-1 (a
    '€' amount or a name typed in another script would fail the response after its write was kept)."""
    return quote(text[:300], safe=_FLASH_SAFE)


def flash_text(value: str | None) -> str | None:
    """The message a flash cookie holds (it is shown escaped, like any text)."""
    return unquote(value) if value else value


def page(ui: Ui, name: str, status: int = 200, **context) -> HTMLResponse:
    """A whole page, or only its `content` block when htmx asks for a fragment of `name`."""
    ui.flash = flash_text(ui.flash)
    response = HTMLResponse(render(ui, name, **context), status_code=status)
    if ui.flash:
        response.delete_cookie(FLASH, path="/")
    return _keep_session(ui, response)


def fragment(ui: Ui, name: str, status: int = 200, *, activity: bool = True, **context) -> HTMLResponse:
    """A piece of a page for htmx to swap in (a template without the layout). A poll that refreshes a page
    left open is not the user's activity (`activity=False`): it must not keep an idle session alive."""
    response = HTMLResponse(render(ui, name, **context), status_code=status)
    return _keep_session(ui, response) if activity else response


def download(body: bytes | str, media: str, filename: str, *, inline: bool = True) -> Response:
    """A document for the browser: shown in it (PDF) or saved (ZPL, XML), never kept in a cache. `filename`
    is one o2c made (a document number), so it needs no quoting."""
    disposition = "inline" if inline else "attachment"
    return Response(body, media_type=media, headers={"Content-Disposition": f'{disposition}; filename="{filename}"',
                                                     "Cache-Control": "no-store"})


def redirect(ui: Ui, url: str, flash: str | None = None) -> Response:
    """After a write: go to `url` (303, so a reload does not post again), with a one-time message."""
    if ui.request.headers.get("HX-Request") and not ui.request.headers.get("HX-Boosted"):
        response: Response = Response(status_code=204, headers={"HX-Redirect": quote(url, safe=URL_SAFE)})
    else:
        response = RedirectResponse(url, status_code=303)
    if flash:
        response.set_cookie(FLASH, flash_cookie(flash), path="/", httponly=True, samesite="lax", max_age=60)
    return _keep_session(ui, response)
