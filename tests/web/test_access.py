"""Who reaches which page, checked on every route the application has, so a new page cannot forget it:
no session -> the login form; a customer's user -> never a back-office page; staff -> never the portal."""
from __future__ import annotations

import re

from fastapi.routing import APIRoute

from tests.web.support import log_in


def _pages(app, prefix: str) -> list[tuple[str, str]]:
    """(method, path with every parameter filled) of each page route under `prefix`."""
    from o2c.web.ui import screens

    out = []
    for route in [r for router in screens.routers() for r in router.routes]:
        if not isinstance(route, APIRoute) or not (route.path == prefix or route.path.startswith(prefix + "/")):
            continue
        path = re.sub(r"\{[^}:]+(:int)?\}", "1", route.path)
        for method in sorted(route.methods - {"HEAD"}):
            out.append((method, path))
    return out


def test_every_page_asks_for_a_login_first(app):
    from fastapi.testclient import TestClient

    c = TestClient(app, raise_server_exceptions=False)
    pages = _pages(app, "/app") + _pages(app, "/portal")
    assert len(pages) > 40
    for method, path in pages:
        r = c.request(method, path, follow_redirects=False)
        assert r.status_code == 303 and r.headers["location"].startswith("/login?next="), (method, path, r.status_code)


def test_a_customers_user_reaches_no_back_office_page(app):
    buyer = log_in(app, "buyer")
    for method, path in _pages(app, "/app"):
        r = buyer.get(path) if method == "GET" else buyer.post(path)
        assert r.status_code == 403, (method, path, r.status_code)
        assert "BIGBUY" not in r.text and "TIDY" not in r.text


def test_staff_reach_no_portal_page(app):
    desk = log_in(app, "admin")
    for method, path in _pages(app, "/portal"):
        r = desk.get(path) if method == "GET" else desk.post(path)
        assert r.status_code == 403, (method, path, r.status_code)
