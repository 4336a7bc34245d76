"""The web layer's defences: security headers and the content security policy (and templates that need
nothing inline beyond it), one-time messages that carry any text, and out-of-range ids on a page."""
from __future__ import annotations

import re
from pathlib import Path

from fastapi.testclient import TestClient

from o2c.web.ui import pages
from tests.web.support import log_in

TEMPLATES = Path(pages.TEMPLATES)


def _csp(response) -> dict[str, str]:
    policy = response.headers["Content-Security-Policy"]
    return {d.split(" ", 1)[0]: d.split(" ", 1)[1] if " " in d else "" for d in (p.strip() for p in policy.split(";"))}


def test_pages_say_nosniff_same_origin_no_frames_and_allow_only_own_scripts(app):
    b = log_in(app, "desk")
    for r in (b.get("/app"), b.get("/app/orders/999999"), TestClient(app).get("/login")):
        assert r.headers["content-type"].startswith("text/html")
        assert r.headers["X-Content-Type-Options"] == "nosniff"
        assert r.headers["Referrer-Policy"] == "same-origin"
        assert r.headers["X-Frame-Options"] == "DENY"
        csp = _csp(r)
        assert csp["script-src"] == "'self'" and csp["frame-ancestors"] == "'none'"
        assert csp["style-src"].startswith("'self'") and "'unsafe-inline'" not in r.headers["Content-Security-Policy"]
    static = b.get("/static/o2c.js")
    assert static.headers["X-Content-Type-Options"] == "nosniff"
    assert "X-Frame-Options" not in b.get("/api/v1/openapi.json").headers  # the API is left as it is


def test_a_download_names_its_file_and_type_and_is_never_sniffed(app):
    r = log_in(app, "buyer").get("/portal/statement.pdf")
    assert r.status_code == 200 and r.headers["content-type"] == "application/pdf"
    assert re.fullmatch(r'inline; filename="statement-BIGBUY-\d{4}-\d{2}-\d{2}\.pdf"', r.headers["content-disposition"])
    assert r.headers["X-Content-Type-Options"] == "nosniff"
    assert "Content-Security-Policy" not in r.headers  # a policy on a PDF can stop the browser's viewer


def test_templates_need_no_inline_script_and_no_inline_style():
    for path in TEMPLATES.rglob("*.html"):
        text = path.read_text()
        name = path.relative_to(TEMPLATES)
        assert not re.search(r"<script(?![^>]*\bsrc=)", text), f"{name}: inline <script>"
        assert not re.search(r"\son[a-z]+\s*=", text), f"{name}: an inline event handler (use static/o2c.js)"
        assert "javascript:" not in text, f"{name}: a javascript: URL"
        assert "<style" not in text, f"{name}: a <style> element"
        assert not re.search(r"\sstyle=", text), f"{name}: a style attribute (refused by the policy: use o2c.css)"
        assert "|safe" not in text.replace(" ", ""), f"{name}: |safe"


def test_the_behaviours_that_were_inline_are_data_attributes_served_by_the_pages_script():
    js = (Path(pages.STATIC) / "o2c.js").read_text()
    for attribute in ("data-autosubmit", "data-print", "data-back"):
        assert attribute in js
    assert "data-autosubmit" in (TEMPLATES / "base.html").read_text()


def test_a_message_after_a_write_carries_any_text_and_is_shown_escaped(app):
    b = log_in(app, "buyer")
    for sku in ("€-Ж-早", '<script>alert("x")</script>; 5%'):
        r = b.post("/portal/cart/remove", {"remove": sku})
        assert r.status_code == 303
        page = b.get(r.headers["location"])
        assert page.status_code == 200
        shown = sku.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;").replace('"', "&#34;")
        assert f'<p class="flash">{shown} removed from your cart.</p>' in page.text
        assert "<script>alert" not in page.text
        assert "flash" not in b.get("/portal/cart").text.split('id="messages"')[1][:60]  # shown once


def test_an_id_too_large_for_the_database_answers_a_page_not_json(app):
    b = log_in(app, "buyer")
    for path in ("/portal/invoices?before=99999999999999999999999", "/portal/invoices/99999999999999999999999"):
        r = b.get(path)
        assert r.status_code == 422 and r.headers["content-type"].startswith("text/html"), path
        assert "A value is out of range" in r.text and "nothing was changed" in r.text


def test_amounts_are_compared_and_rounded_as_decimals():
    assert not pages.nonzero("0.00") and not pages.nonzero(None) and pages.nonzero("-0.01")
    assert pages.nonzero("1,234.50")
    assert pages.whole("12.5") == 13 and pages.whole("2.675") == 3 and pages.whole(None) == 0


def test_portal_writes_that_call_the_database_or_the_card_gateway_run_in_a_worker_thread():
    """An `async def` page would run its blocking database work and gateway call on the event loop, stalling
    every other request while a card is charged; these read their form through a dependency instead."""
    import inspect

    from o2c.web.ui import portal_account

    assert not inspect.iscoroutinefunction(portal_account.pay)
    assert not inspect.iscoroutinefunction(portal_account.request_return)


def _calls(dependant) -> set:
    """Every dependency function a route runs, however deep."""
    out = set()
    for d in dependant.dependencies:
        out.add(d.call)
        out |= _calls(d)
    return out


def test_every_page_checks_its_session_and_every_post_its_form_token_and_the_side_it_is_for():
    """Each POST runs ui_context (which refuses a missing CSRF token); back-office pages refuse portal users
    and portal pages refuse staff."""
    from fastapi.routing import APIRoute

    from o2c.web.ui import routes, screens
    from o2c.web.ui.context import back_office, portal, ui_context

    pages_ = [r for router in (routes.router, *screens.routers()) for r in router.routes
              if isinstance(r, APIRoute) and r.path not in ("/login", "/")]
    assert len(pages_) > 50
    for r in pages_:
        calls = _calls(r.dependant)
        assert ui_context in calls, f"{r.methods} {r.path} runs without a session check"
        if r.path.startswith("/app"):
            assert back_office in calls, f"{r.path} is not refused to portal users"
        if r.path.startswith("/portal"):
            assert portal in calls, f"{r.path} is not refused to staff"


def test_invoice_pdfs_are_named_typed_kept_out_of_caches_and_only_the_customer_s_own(app, api, world):
    from o2c.core import clock
    from tests.fulfillment.flow import MONDAY
    from tests.payments.support import invoiced
    from tests.shipping_world import equip

    clock.freeze(MONDAY)
    try:
        equip(api)
        inv = invoiced(api)
    finally:
        clock.freeze(None)
    for who, path in (("biller", f"/app/billing/invoices/{inv['id']}.pdf"),
                      ("buyer", f"/portal/invoices/{inv['id']}.pdf")):
        r = log_in(app, who).get(path)
        assert r.status_code == 200 and r.headers["content-type"] == "application/pdf", who
        assert r.headers["content-disposition"] == f'inline; filename="{inv["number"]}.pdf"'
        assert r.headers["cache-control"] == "no-store" and r.headers["X-Content-Type-Options"] == "nosniff"
    other = log_in(app, "tidybuyer").get(f"/portal/invoices/{inv['id']}.pdf")
    assert other.status_code == 404 and "application/pdf" not in other.headers["content-type"]
