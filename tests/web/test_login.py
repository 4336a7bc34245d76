"""Logging in to the web pages: the form, wrong passwords, where it leads, sessions that end, form tokens."""
from __future__ import annotations

import time

from fastapi.testclient import TestClient

from o2c.core.settings import get_settings
from tests.web.support import log_in
from tests.world import PASSWORD


def _client(app):
    return TestClient(app, raise_server_exceptions=False)


def test_a_page_without_a_session_goes_to_login_and_back_to_it(app):
    c = _client(app)
    r = c.get("/app?since=today", follow_redirects=False)
    assert r.status_code == 303
    assert r.headers["location"] == "/login?next=/app%3Fsince%3Dtoday"
    form = c.get(r.headers["location"])
    assert 'name="next" value="/app?since=today"' in form.text
    r = c.post("/login", data={"username": "desk", "password": PASSWORD, "next": "/app?since=today"},
               follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"] == "/app?since=today"


def test_a_wrong_password_is_refused_next_to_the_field_and_keeps_the_username(app):
    c = _client(app)
    r = c.post("/login", data={"username": "desk", "password": "nope", "next": "/"})
    assert r.status_code == 422
    assert 'value="desk"' in r.text
    assert 'id="f-password-error"' in r.text and "the username or password is wrong" in r.text
    assert "o2c_session" not in r.cookies
    r = c.post("/login", data={"username": "", "password": "", "next": "/"})
    assert 'id="f-username-error"' in r.text and 'id="f-password-error"' in r.text


def test_login_never_sends_the_user_to_another_site(app):
    c = _client(app)
    for evil in ("https://evil.example/", "//evil.example/x", "/\\evil.example"):
        r = c.post("/login", data={"username": "desk", "password": PASSWORD, "next": evil}, follow_redirects=False)
        assert r.headers["location"] == "/app", evil


def test_staff_land_in_the_back_office_and_customers_in_the_portal(app):
    c = _client(app)
    r = c.post("/login", data={"username": "buyer", "password": PASSWORD, "next": "/"}, follow_redirects=False)
    assert r.headers["location"] == "/portal"
    assert c.get("/app", follow_redirects=False).status_code == 403  # staff pages are not for customers
    staff = log_in(app, "desk")
    assert staff.get("/portal").status_code == 403


def test_the_menu_shows_what_the_role_may_use(app):
    keeper = log_in(app, "keeper").get("/app").text
    assert 'href="/app/warehouse"' in keeper and 'href="/app/billing"' not in keeper
    cashier = log_in(app, "cashier").get("/app").text
    assert 'href="/app/billing"' in cashier and 'href="/app/warehouse"' not in cashier


def test_an_expired_session_returns_to_login_and_then_to_the_page(app, monkeypatch):
    b = log_in(app, "desk")
    get_settings().session_idle_minutes = 0  # every session is now idle too long
    try:
        time.sleep(1.1)
        r = b.get("/app?since=today", follow_redirects=False)
        assert r.status_code == 303 and r.headers["location"] == "/login?next=/app%3Fsince%3Dtoday"
        form = b.get(r.headers["location"])
        assert "Your session has ended" in form.text
        # an htmx request is told where to go instead of swapping the login page into a fragment
        r = b.htmx("/logout", {}, headers={"HX-Current-URL": "http://testserver/app?since=today"})
        assert r.headers["HX-Redirect"] == "/login?next=/app%3Fsince%3Dtoday"
    finally:
        get_settings().session_idle_minutes = 30
    r = b.client.post("/login", data={"username": "desk", "password": PASSWORD, "next": "/app"}, follow_redirects=False)
    assert r.headers["location"] == "/app"


def test_a_forged_or_tampered_cookie_is_no_session(app):
    c = _client(app)
    c.cookies.set("o2c_session", "eyJ1IjoxfQ.forged.sig")
    assert c.get("/app", follow_redirects=False).status_code == 303


def test_a_write_without_the_form_token_changes_nothing(app):
    b = log_in(app, "desk")
    r = b.client.post("/logout", data={}, follow_redirects=False)
    assert r.status_code == 403 and "The form has expired" in r.text
    assert b.get("/app", follow_redirects=False).status_code == 200  # still logged in
    r = b.post("/logout")
    assert r.status_code == 303
    b.client.cookies.clear()
    assert b.get("/app", follow_redirects=False).status_code == 303


def test_a_deactivated_user_is_logged_out(app):
    from o2c.core.db import transaction
    from o2c.core.models import User
    from sqlalchemy import update

    b = log_in(app, "viewer")
    transaction(lambda s: s.execute(update(User).where(User.username == "viewer").values(active=False)))
    assert b.get("/app", follow_redirects=False).status_code == 303


def test_pages_answer_errors_in_html_and_the_api_keeps_problem_json(app, api):
    b = log_in(app, "desk")
    r = b.get("/app/no-such-page")
    assert r.status_code == 404 and r.headers["content-type"].startswith("text/html")
    assert api.get("/orders/999999").headers["content-type"] == "application/problem+json"


def test_static_files_are_served_from_the_package(app):
    c = _client(app)
    r = c.get("/static/htmx.min.js")
    assert r.status_code == 200 and "htmx" in r.text[:2000]
    assert c.get("/static/o2c.css").status_code == 200


# --- failed logins: the same cost for an unknown user, and a throttle per username ---------------------


class _Clock:
    def __init__(self):
        self.now = 1000.0

    def __call__(self):
        return self.now


def _try(c, user, password):
    return c.post("/login", data={"username": user, "password": password, "next": "/"}, follow_redirects=False)


def test_an_unknown_username_costs_a_password_check_like_a_wrong_password(app, monkeypatch):
    from o2c.web.ui import routes

    checked = []
    real = routes.check_password
    monkeypatch.setattr(routes, "check_password", lambda pw, stored: checked.append(stored) or real(pw, stored))
    c = _client(app)
    r = _try(c, "nobody-at-all", "whatever")
    assert r.status_code == 422 and "the username or password is wrong" in r.text
    assert len(checked) == 1 and checked[0].startswith("scrypt$")  # a real hash was checked, not skipped
    r = _try(c, "desk", "wrong")
    assert r.status_code == 422 and "the username or password is wrong" in r.text and len(checked) == 2


def test_five_failures_refuse_the_username_for_a_while_even_with_the_right_password(app):
    from o2c.web.ui.routes import LOCK_SECONDS, MAX_FAILURES

    clock = _Clock()
    app.state.login_throttle.clock = clock
    c = _client(app)
    for _ in range(MAX_FAILURES):
        clock.now += 10
        assert _try(c, "viewer", "wrong").status_code == 422
    r = _try(c, "viewer", PASSWORD)
    assert r.status_code == 429 and "too many failed logins for this username: try again in 5 minutes" in r.text
    assert "o2c_session" not in r.cookies
    assert _try(c, "desk", PASSWORD).status_code == 303  # another username is not affected
    clock.now += LOCK_SECONDS + 1
    assert _try(c, "viewer", PASSWORD).status_code == 303


def test_an_unknown_username_is_throttled_the_same_way(app):
    from o2c.web.ui.routes import MAX_FAILURES

    app.state.login_throttle.clock = _Clock()
    c = _client(app)
    for _ in range(MAX_FAILURES):
        assert _try(c, "Ghost", "wrong").status_code == 422
    r = _try(c, "ghost", "wrong")  # the username counts as typed, whatever its case
    assert r.status_code == 429 and "too many failed logins" in r.text


def test_failures_spread_out_or_before_a_good_login_do_not_lock(app):
    from o2c.web.ui.routes import MAX_FAILURES, WINDOW_SECONDS

    clock = _Clock()
    app.state.login_throttle.clock = clock
    c = _client(app)
    for _ in range(MAX_FAILURES - 1):
        assert _try(c, "biller", "wrong").status_code == 422
    assert _try(c, "biller", PASSWORD).status_code == 303  # a good login starts the count again
    for _ in range(MAX_FAILURES - 1):
        assert _try(c, "biller", "wrong").status_code == 422
    assert _try(c, "biller", PASSWORD).status_code == 303
    for _ in range(MAX_FAILURES):  # five failures over more than the window: not locked
        clock.now += WINDOW_SECONDS / (MAX_FAILURES - 1) + 1
        assert _try(c, "biller", "wrong").status_code == 422
    assert _try(c, "biller", PASSWORD).status_code == 303


def test_an_htmx_redirect_is_quoted_as_a_location_is(app):
    c = _client(app)
    for evil in ("/\t/evil.example/", "/\n/evil.example/"):  # a browser drops the tab: never "//evil.example"
        r = c.post("/login", data={"username": "desk", "password": PASSWORD, "next": evil},
                   headers={"HX-Request": "true"}, follow_redirects=False)
        assert r.status_code == 204 and r.headers["HX-Redirect"] == "/app", evil
    typed = "/app/orders?q=Zoë & co"
    plain = c.post("/login", data={"username": "desk", "password": PASSWORD, "next": typed}, follow_redirects=False)
    r = c.post("/login", data={"username": "desk", "password": PASSWORD, "next": typed},
               headers={"HX-Request": "true"}, follow_redirects=False)
    assert r.headers["HX-Redirect"] == plain.headers["location"] == "/app/orders?q=Zo%C3%AB%20&%20co"


def test_the_throttle_forgets_old_failures_before_a_username_still_locked():
    from o2c.web.ui.routes import LOCK_SECONDS, MAX_FAILURES, LoginThrottle

    clock = _Clock()
    throttle = LoginThrottle(clock)
    throttle.MAX_NAMES = 3
    throttle.failed("old-1")
    throttle.failed("old-2")
    clock.now += LOCK_SECONDS + 1
    for _ in range(MAX_FAILURES):
        throttle.failed("target")
    throttle.failed("flood-1")  # full: the two old names go, the locked one stays
    throttle.failed("flood-2")
    assert throttle.wait_seconds("target") == LOCK_SECONDS
    assert throttle.wait_seconds("old-1") == 0


def test_without_a_configured_key_one_is_made_once_and_kept_private(tmp_path, monkeypatch):
    import os
    import stat

    from o2c.web.ui import sessions

    monkeypatch.setenv("O2C_SECRET_FILE", str(tmp_path / "secret"))
    get_settings.cache_clear()
    try:
        first = sessions._secret()
        assert len(first) >= 40 and sessions._secret() == first  # made once, then read
        assert stat.S_IMODE(os.stat(tmp_path / "secret").st_mode) == 0o600
        assert [p.name for p in tmp_path.iterdir()] == ["secret"]  # no temporary file left behind
    finally:
        get_settings.cache_clear()
