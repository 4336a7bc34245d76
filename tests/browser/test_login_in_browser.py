"""Logging in with a real browser: keyboard only, errors beside the field, back to the page asked for."""
from __future__ import annotations

from tests.browser.conftest import PHONE
from tests.world import PASSWORD


def test_login_by_keyboard_with_the_error_beside_the_field_and_back_to_the_page(chromium, server, shots):
    ctx = chromium.new_context(viewport=PHONE, base_url=server)
    page = ctx.new_page()
    page.goto("/app?since=today")
    assert "/login" in page.url
    # The username field has the focus; Tab moves to the password, Enter sends the form.
    page.keyboard.type("desk")
    page.keyboard.press("Tab")
    page.keyboard.type("not the password")
    page.keyboard.press("Enter")
    page.wait_for_load_state()
    error = page.locator("#f-password-error")
    assert error.inner_text() == "the username or password is wrong"
    assert page.get_by_label("Password").get_attribute("aria-invalid") == "true"
    assert page.evaluate("document.activeElement.id") == "f-password"  # the cursor waits in the refused field
    assert page.get_by_label("Username").input_value() == "desk"  # what was typed is kept
    shots.take(page, "login-error-phone")
    page.get_by_label("Password").fill(PASSWORD)
    page.keyboard.press("Enter")
    page.wait_for_url("**/app?since=today")
    # Nothing on the page is wider than a phone's screen.
    assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
    ctx.close()


def test_an_expired_session_returns_to_login_and_then_to_the_page(open_as):
    from o2c.core.settings import get_settings

    page = open_as("desk")
    settings = get_settings()  # the server runs in this process: the same settings object
    settings.session_idle_minutes = 0
    try:
        page.wait_for_timeout(1100)  # idle for longer than the (now zero) idle time
        page.goto("/app/orders?status=held")
        assert "/login" in page.url
        assert "Your session has ended" in page.locator("main").inner_text()
    finally:
        settings.session_idle_minutes = 30
    page.get_by_label("Username").fill("desk")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_label("Password").press("Enter")
    page.wait_for_url("**/app/orders?status=held")
    assert page.locator("h1").inner_text() == "Orders"
