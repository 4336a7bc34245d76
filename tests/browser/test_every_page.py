"""Every page of the back office and the portal, in a real browser, at 1280 px and at phone width (390 px):
it answers, nothing is wider than the screen, every form field, button and link has a name a screen reader
can say, only buttons, links and forms are clickable, it has one heading of its own, and "Skip to content" is the first Tab
stop and lands in the page's main part. The pages are found in the routers themselves: a new page whose
path names an id this world has no example of fails here until the world gets one.

A form is filled and sent with the keyboard alone, and its refusal is told beside the field at fault.
"""
from __future__ import annotations

import re
from datetime import date, datetime, timezone
from itertools import product

import pytest

from o2c.core.events import dispatch_pending
from o2c.demo_bank import Entry, statement
from o2c.web.ui.queues import QUEUES
from o2c.web.ui.screens import routers
from tests.browser.conftest import DESKTOP, PHONE
from tests.credit.support import order, set_limit
from tests.fulfillment.flow import ok, pick_all, release, shipment_of
from tests.payments.card_world import deliver, invoices, ship_wave
from tests.payments.card_world import stripe  # noqa: F401  (the card form of the portal's pay page)
from tests.payments.test_story_card_order import _returned
from tests.shipping_world import equip
from tests.web.test_customers_pages import apply, upload

# Downloads (PDF, XML, ZPL, a stored document) and the fragments the pages poll are not pages.
NOT_PAGES = re.compile(r"(\.pdf|\.xml|\.zpl|/content|/live)$")
PARAM = re.compile(r"{(\w+)(?::\w+)?}")
# Pages that need a query to be a form rather than a way back to where it is chosen.
QUERIES = {"/portal/returns/new": "?order_id={order_id}"}

# Pages also seen by the person who works there, beside the administrator who sees them all.
WORKERS = {
    "keeper": ("/app/warehouse", "/app/warehouse/pick-lists/{pick_list_id}", "/app/warehouse/pack/{shipment_id}",
               "/app/warehouse/ship/{shipment_id}"),
    "cashier": ("/app/billing/payments/new", "/app/billing/reconciliation", "/app/billing/statements/{statement_id}"),
    "analyst": ("/app/queues/credit", "/app/customers/{customer_id}"),
    "onboarder": ("/app/customers/applications/new", "/app/customers/{customer_id}"),
}

# One script per page: what a person using a keyboard or a screen reader, or a phone, would trip over.
PROBLEMS = """() => {
  const out = [];
  const width = window.innerWidth;
  if (document.documentElement.scrollWidth > width) {
    const wide = [...document.querySelectorAll('main *')].filter(e => e.getBoundingClientRect().right > width + 1)
      .map(e => e.tagName.toLowerCase() + (e.id ? '#' + e.id : '') + (e.className ? '.' + e.className : ''));
    out.push(`${document.documentElement.scrollWidth}px wide on a ${width}px screen: ${wide.slice(0, 5).join(', ')}`);
  }
  for (const el of document.querySelectorAll('input, select, textarea')) {
    if (el.type === 'hidden') continue;
    const named = el.labels.length > 0 || el.getAttribute('aria-label') || el.getAttribute('aria-labelledby');
    if (!named) out.push(`unlabelled ${el.tagName.toLowerCase()} name=${el.name || '?'}`);
  }
  for (const el of document.querySelectorAll('[onclick]')) {
    if (!['A', 'BUTTON'].includes(el.tagName)) out.push(`clickable ${el.tagName.toLowerCase()} (onclick)`);
  }
  const sends = ['A', 'BUTTON', 'FORM', 'INPUT', 'SELECT', 'TEXTAREA'];
  for (const el of document.querySelectorAll('[hx-get], [hx-post]')) {
    const polled = /^(every |load)/.test(el.getAttribute('hx-trigger') || '');
    if (!polled && !sends.includes(el.tagName)) out.push(`clickable ${el.tagName.toLowerCase()} (htmx)`);
  }
  for (const el of document.querySelectorAll('a[href], button')) {
    if (!el.textContent.trim() && !el.getAttribute('aria-label') && !el.querySelector('img[alt]'))
      out.push(`nameless ${el.tagName.toLowerCase()} ${el.getAttribute('href') || ''}`);
  }
  const h1 = document.querySelectorAll('h1').length;
  if (h1 !== 1) out.push(`${h1} <h1> headings`);
  return out;
}"""


def page_paths() -> list[str]:
    """The GET paths of every screen, as the routers declare them."""
    return [r.path for router in routers() for r in router.routes
            if "GET" in r.methods and not NOT_PAGES.search(r.path)]


def filled(path: str, ids: dict[str, list]) -> list[str]:
    """The path with each parameter replaced by each example of it."""
    path += QUERIES.get(path, "")
    names = PARAM.findall(path)
    missing = [n for n in names if n not in ids]
    assert not missing, f"{path}: the world has no example of {missing}; add one to `everything`"
    urls = []
    for values in product(*(ids[n] for n in names)):
        url = path
        for name, value in zip(names, values):
            url = re.sub(r"{%s(?::\w+)?}" % name, str(value), url)
        urls.append(url)
    return urls


@pytest.fixture
def everything(api, world, stripe):  # noqa: F811
    """Something on every screen: an order waved, picked, packed, shipped, invoiced, delivered, partly paid
    and partly returned; another picked and waiting at the pack station; one held for credit; a customer
    application with a document; a change waiting for a second person; a bank statement. The examples of
    each path parameter, by name."""
    equip(api)
    big = world["ids"]["BIGBUY"]
    shipped_id = order(api, "BIGBUY", [("WIDGET", 10)])["id"]
    shipped = ship_wave(api, shipped_id)
    deliver(api, shipped, datetime.now(timezone.utc))
    [inv] = invoices(api, shipped_id)
    ok(api.post("/payments", user="cashier", json={"customer_id": big, "method": "bank_transfer", "currency": "USD",
                                                   "amount": "50.00",
                                                   "applications": [{"invoice_id": inv["id"], "amount": "50.00"}]}),
       201)
    _returned(api, shipped_id, line_no=1, quantity="2")
    dispatch_pending()
    [note] = ok(api.get("/credit-notes", user="admin"))["items"]

    waiting_id = order(api, "TIDY", [("GADGET", 1)])["id"]
    wave = release(api, order_ids=[waiting_id])
    pick_all(api, wave)
    waiting = shipment_of(api, waiting_id)

    set_limit(api, big, credit_limit="100")
    held = order(api, "BIGBUY", [("WIDGET", 12)])
    assert held["status"] == "held", held
    ok(api.put(f"/credit/customers/{world['ids']['TIDY']}/limit", user="analyst",
               json={"credit_limit": "900", "reason": "more orders coming"}), 202)

    applicant = apply(api)["id"]
    upload(api, applicant, "registry_extract", "onboarder")
    camt = statement([Entry("21.25", "BIGBUY Inc.", "DE89370400440532013000", "widgets"),
                      Entry("15.00", "Someone", None, "deposit")], day=date.today())
    [st] = ok(api.post("/bank-statements", user="cashier", content=camt), 201)["statements"]
    return {"order_id": [shipped_id, held["id"]], "kind": list(QUEUES), "pick_list_id": wave["pick_lists"],
            "shipment_id": [shipped["id"], waiting["id"]], "invoice_id": [inv["id"]], "note_id": [note["id"]],
            "statement_id": [st["id"]], "customer_id": [big, applicant]}


def skip_link_problems(page) -> list[str]:
    """The first Tab stop is "Skip to content", and Enter on it puts the focus in <main>."""
    page.keyboard.press("Tab")
    first = page.evaluate("document.activeElement.textContent.trim()")
    if first != "Skip to content":
        return [f"the first Tab stop is {first!r}, not 'Skip to content'"]
    page.keyboard.press("Enter")
    if page.evaluate("document.activeElement.tagName") != "MAIN":
        return ["'Skip to content' does not move the focus to <main>"]
    return []


def sweep(open_as, user: str, viewport: dict, urls: list[str]) -> list[str]:
    """Each page in one logged-in browser of this user at this width; the problems found, each named."""
    page = open_as(user, viewport=viewport, path=urls[0])
    where = f"{user} at {viewport['width']}px"
    problems = [f"{where} {urls[0]}: {p}" for p in skip_link_problems(page)]
    for url in urls:
        answer = page.goto(url)
        if answer.status != 200 or not page.url.endswith(url):
            problems.append(f"{where} {url}: answered {answer.status} at {page.url}")
            continue
        problems += [f"{where} {url}: {p}" for p in page.evaluate(PROBLEMS)]
    return problems


def test_every_page_is_usable_on_a_desktop_and_a_phone_by_keyboard_and_screen_reader(everything, open_as):
    paths = page_paths()
    staff = [u for p in paths if p.startswith("/app") for u in filled(p, everything)]
    portal = [u for p in paths if p.startswith("/portal") for u in filled(p, everything)]
    assert len(staff) > 30 and len(portal) > 8, (staff, portal)
    assert all(p.startswith(("/app", "/portal")) for p in paths), paths
    problems = []
    for viewport in (DESKTOP, PHONE):
        problems += sweep(open_as, "admin", viewport, staff)
        problems += sweep(open_as, "buyer", viewport, portal)
        for user, worked in WORKERS.items():
            problems += sweep(open_as, user, viewport, [u for p in worked for u in filled(p, everything)])
    assert not problems, "\n".join(problems)


def tab_to(page, label: str, tries: int = 80) -> None:
    """Press Tab until the field labelled `label` has the focus, as a person without a mouse does."""
    for _ in range(tries):
        page.keyboard.press("Tab")
        if page.evaluate("(el => el.labels && el.labels.length ? el.labels[0].textContent.trim() : '')"
                         "(document.activeElement)").rstrip(" *") == label:
            return
    raise AssertionError(f"no Tab stop is labelled {label!r}")


def test_an_application_is_filled_and_sent_by_keyboard_and_its_refusal_is_told_beside_the_field(world, open_as):
    page = open_as("onboarder", path="/app/customers/applications/new")
    typed = {"Customer code": "FJORD", "Legal name": "Fjord Handel GmbH", "VAT number": "DE136695977",
             "Currency": "USD", "Name on the address": "Fjord Handel GmbH", "Street and number": "Kehrwieder 2",
             "Postal code": "20457", "City": "Hamburg", "Country (2 letters)": "DE"}
    for label, text in typed.items():
        tab_to(page, label)
        page.keyboard.type(text)
    with page.expect_response(lambda r: r.request.method == "POST") as sent:
        page.keyboard.press("Enter")
    page.wait_for_load_state()
    assert sent.value.status == 422

    vat = page.get_by_label("VAT number")
    assert vat.get_attribute("aria-invalid") == "true" and vat.input_value() == "DE136695977"
    error = page.locator(f"#{vat.get_attribute('aria-describedby')}")
    assert error.inner_text().strip(), "the refusal is not told"
    assert error.evaluate("(e, field) => e.parentElement === field.parentElement", vat.element_handle())
    assert page.get_by_label("Legal name").input_value() == "Fjord Handel GmbH"  # what was typed is kept

    tab_to(page, "VAT number")
    page.keyboard.press("Control+A")
    page.keyboard.type("DE136695976")
    with page.expect_response(lambda r: r.request.method == "POST") as sent:
        page.keyboard.press("Enter")
    page.wait_for_load_state()
    assert sent.value.status == 303, page.locator("main").inner_text()
    assert "FJORD" in page.locator("#messages").inner_text() or "FJORD" in page.locator("main").inner_text()
