"""Browser tests: the real server on a loopback port, driven by Debian's Chromium through Playwright.

Playwright never downloads a browser here: it launches /usr/bin/chromium (package `chromium`, which
scripts/test installs). Without it the tests are skipped on a developer machine and fail on CI.
Screenshots go to $O2C_SCREENSHOTS_DIR when it is set (the README's pictures come from there).
"""
from __future__ import annotations

import os
import socket
import threading
import time
from pathlib import Path

import pytest

from o2c.core.settings import get_settings
from tests.world import PASSWORD

CHROMIUM = os.environ.get("O2C_CHROMIUM", "/usr/bin/chromium")
DESKTOP = {"width": 1280, "height": 860}
PHONE = {"width": 390, "height": 844}


@pytest.fixture(scope="session")
def chromium():
    if not Path(CHROMIUM).exists():
        reason = f"{CHROMIUM} is not installed (apt-get install chromium)"
        if os.environ.get("CI"):
            pytest.fail(reason)
        pytest.skip(reason)
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, headless=True,
                                    args=["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage"])
        yield browser
        browser.close()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def server(world, monkeypatch):
    """The application served by uvicorn in a thread over the test world, with its event dispatcher
    running (shipments get invoiced, as on the embedded default)."""
    import uvicorn

    from o2c.web.app import create_app

    monkeypatch.setenv("O2C_DISPATCHER_IN_PROCESS", "true")
    monkeypatch.setenv("O2C_DISPATCHER_POLL_SECONDS", "0.2")
    get_settings.cache_clear()
    port = _free_port()
    srv = uvicorn.Server(uvicorn.Config(create_app(), host="127.0.0.1", port=port, log_level="warning",
                                        lifespan="on"))
    thread = threading.Thread(target=srv.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not srv.started:
        assert time.monotonic() < deadline, "the server did not start"
        time.sleep(0.05)
    yield f"http://127.0.0.1:{port}"
    srv.should_exit = True
    thread.join(timeout=15)


class Shots:
    """Screenshots of pages, named for the README; nothing is written unless a directory is given."""

    def __init__(self) -> None:
        d = os.environ.get("O2C_SCREENSHOTS_DIR")
        self.dir = Path(d) if d else None
        if self.dir:
            self.dir.mkdir(parents=True, exist_ok=True)

    def take(self, page, name: str, full_page: bool = True) -> None:
        if self.dir is not None:
            page.screenshot(path=str(self.dir / f"{name}.png"), full_page=full_page)


@pytest.fixture
def shots():
    return Shots()


def _trouble(message) -> bool:
    """A console error, except the one Chromium logs for a form refused on purpose (422: the page shows it)."""
    return message.type == "error" and "status of 422" not in message.text


@pytest.fixture
def open_as(chromium, server):
    """open_as(user, viewport=DESKTOP) -> a logged-in Playwright page of its own browser context."""
    contexts, problems = [], []

    def open_(user: str, viewport: dict = DESKTOP, path: str = "/"):
        ctx = chromium.new_context(viewport=viewport, base_url=server)
        ctx.set_default_timeout(15_000)
        contexts.append(ctx)
        page = ctx.new_page()
        # Anything the browser complains of (a script error, a file not found, a refusal by the content
        # security policy) fails the test: the pages must run cleanly, not just look right.
        page.on("console", lambda m: problems.append(f"{user}: {m.text}") if _trouble(m) else None)
        page.on("pageerror", lambda e: problems.append(f"{user}: {e}"))
        page.goto(path)
        page.get_by_label("Username").fill(user)
        page.get_by_label("Password").fill(PASSWORD)
        page.get_by_role("button", name="Log in").click()
        page.wait_for_load_state()
        assert "/login" not in page.url, page.content()[:500]
        return page

    yield open_
    for ctx in contexts:
        ctx.close()
    assert not problems, problems
