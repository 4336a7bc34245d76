"""Web sessions in a signed cookie: who is logged in, for which company, and the form token.

The cookie holds the user id, the company, a CSRF token and two times; it is signed (itsdangerous), never
encrypted, so it holds nothing secret. A session ends after `session_idle_minutes` without a request or
`session_max_hours` after login; each request re-issues the cookie, so the idle clock restarts.
"""
from __future__ import annotations

import os
import secrets
import time
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from itsdangerous import BadSignature, URLSafeTimedSerializer

from o2c.core.settings import get_settings

COOKIE = "o2c_session"


@dataclass(frozen=True)
class WebSession:
    user_id: int
    company_id: int | None
    csrf: str
    started: float  # epoch seconds of the login


def _secret() -> str:
    s = get_settings()
    if s.secret_key is not None:
        return s.secret_key.get_secret_value()
    path = Path(s.secret_file)
    if not path.exists():
        # Written whole under a temporary name, then linked into place: a process racing this one either
        # links first (and its key is everyone's) or finds the file complete, never half written.
        tmp = path.with_name(f"{path.name}.{os.getpid()}.tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write(secrets.token_urlsafe(48))
        try:
            os.link(tmp, path)
        except FileExistsError:
            pass  # another process linked its key first: that one is used
        finally:
            os.unlink(tmp)
    return path.read_text().strip()


@lru_cache(maxsize=4)
def _serializer(secret: str) -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(secret, salt="o2c-web-session")


def new(user_id: int, company_id: int | None) -> WebSession:
    return WebSession(user_id, company_id, secrets.token_urlsafe(24), time.time())


def encode(ws: WebSession) -> str:
    return _serializer(_secret()).dumps([ws.user_id, ws.company_id, ws.csrf, ws.started])


def decode(token: str | None) -> WebSession | None:
    """The session in the cookie, or None when it is missing, forged, idle too long or too old."""
    if not token:
        return None
    s = get_settings()
    try:
        uid, cid, csrf, started = _serializer(_secret()).loads(token, max_age=s.session_idle_minutes * 60)
    except (BadSignature, ValueError, TypeError):
        return None
    if time.time() - started > s.session_max_hours * 3600:
        return None
    return WebSession(int(uid), cid, str(csrf), float(started))


def cookie_args(secure: bool) -> dict:
    return {"key": COOKIE, "httponly": True, "samesite": "lax", "secure": secure, "path": "/",
            "max_age": get_settings().session_max_hours * 3600}
