"""Web page tests: a logged-in browser per user (TestClient keeps each one's cookies)."""
from __future__ import annotations

import re
from dataclasses import dataclass

from fastapi.testclient import TestClient

from tests.world import PASSWORD

CSRF = re.compile(r'name="csrf" value="([^"]+)"')


@dataclass
class Browser:
    client: TestClient
    csrf: str

    def get(self, path: str, **kw):
        return self.client.get(path, **kw)

    def post(self, path: str, data: dict | None = None, **kw):
        """A form post with the session's token, as the page's form would send it."""
        return self.client.post(path, data={"csrf": self.csrf, **(data or {})}, follow_redirects=kw.pop(
            "follow_redirects", False), **kw)

    def htmx(self, path: str, data: dict | None = None, **kw):
        """A form post as htmx sends it: the token in a header."""
        headers = {"HX-Request": "true", "X-CSRF-Token": self.csrf} | kw.pop("headers", {})
        return self.client.post(path, data=data or {}, headers=headers, **kw)


def log_in(app, user: str, password: str = PASSWORD) -> Browser:
    client = TestClient(app, raise_server_exceptions=False, base_url="http://testserver")
    r = client.post("/login", data={"username": user, "password": password, "next": "/"}, follow_redirects=False)
    assert r.status_code == 303, (r.status_code, r.text[:400])
    home = client.get(r.headers["location"])
    assert home.status_code == 200, (home.status_code, home.text[:400])
    m = CSRF.search(home.text)
    assert m, "the logged-in page carries a form token"
    return Browser(client, m.group(1))
