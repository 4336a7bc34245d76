"""The order confirmation reaches the customer by real SMTP, through the outbox.

A local SMTP server (aiosmtpd) listens on 127.0.0.1 on a free port; the product is pointed at it with
O2C_SMTP_HOST / O2C_SMTP_PORT, and each test reads the messages the server received.
"""
from __future__ import annotations

import asyncio
import email
import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from datetime import date, timedelta
from email import policy
from pathlib import Path

import pytest
from aiosmtpd.controller import Controller

from o2c.core import clock
from o2c.core.events import dispatch_pending
from o2c.core.settings import get_settings
from tests.outbox import deliveries, event_row, pending

SEND = "o2c.process.send_order_confirmation"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Inbox:
    """An SMTP handler that keeps every message it is given."""

    def __init__(self) -> None:
        self.messages: list[tuple[list[str], email.message.EmailMessage]] = []

    async def handle_DATA(self, server, session, envelope):
        msg = email.message_from_bytes(envelope.original_content or envelope.content, policy=policy.default)
        self.messages.append((list(envelope.rcpt_tos), msg))
        return "250 Message accepted for delivery"

    def wait_for(self, n: int, seconds: float) -> bool:
        end = time.monotonic() + seconds
        while len(self.messages) < n and time.monotonic() < end:
            time.sleep(0.05)
        return len(self.messages) >= n


class SmtpServer:
    def __init__(self, port: int) -> None:
        self.port = port
        self.inbox = Inbox()
        self.controller: Controller | None = None

    def start(self) -> None:
        self.controller = Controller(self.inbox, hostname="127.0.0.1", port=self.port)
        self.controller.start()

    def stop(self) -> None:
        if self.controller is not None:
            self.controller.stop()
            self.controller = None

    @property
    def messages(self):
        return self.inbox.messages


def point_smtp_at(monkeypatch, port: int) -> None:
    monkeypatch.setenv("O2C_SMTP_HOST", "127.0.0.1")
    monkeypatch.setenv("O2C_SMTP_PORT", str(port))
    get_settings.cache_clear()


@pytest.fixture
def smtp_port(monkeypatch):
    """A free local port the product sends mail to; nothing listens on it until a server is started."""
    port = free_port()
    point_smtp_at(monkeypatch, port)
    yield port
    get_settings.cache_clear()


@pytest.fixture
def smtp(smtp_port):
    """A running local SMTP server the product is configured to use."""
    server = SmtpServer(smtp_port)
    server.start()
    yield server
    server.stop()


@pytest.fixture(autouse=True)
def _running_clock():
    yield
    clock.freeze(None)


# ------------------------------------------------------------------ the confirmation email


def test_confirmation_email_tells_the_customer_what_was_confirmed(api, smtp):
    """BIGBUY orders 120 widgets (the 100+ break: $8.00) and 2 gadgets (its contract price $22.50) for
    Chicago (IL tax 6.25%). The buyer gets one email with the order number, each line, the totals and
    the expected date; dispatching again sends nothing more."""
    requested = date.today() + timedelta(days=30)
    r = api.post("/orders", json={
        "customer_code": "BIGBUY", "channel": "email", "po_number": "PO-7781",
        "requested_date": requested.isoformat(),
        "lines": [{"sku": "WIDGET", "quantity": "120"}, {"sku": "GADGET", "quantity": "2"}],
    })
    assert r.status_code == 201, r.text
    order = r.json()
    assert order["status"] == "confirmed"
    assert smtp.messages == []  # nothing leaves before the dispatcher runs

    assert dispatch_pending() >= 1
    assert len(smtp.messages) == 1
    rcpt, msg = smtp.messages[0]
    number = order["number"]
    assert rcpt == ["buyer@bigbuy.example"]
    assert msg["To"] == "buyer@bigbuy.example"
    assert msg["From"] == get_settings().smtp_sender
    assert msg["Subject"] == f"Order confirmation {number} (your PO PO-7781)"
    event = event_row("order.confirmed", order["id"])
    assert msg["Message-ID"] == f"<order-{order['id']}-event-{event.id}@o2c>"

    body = msg.get_content()
    assert f"thank you for your order {number} (your PO PO-7781)" in body
    lines = [ln for ln in body.splitlines() if "WIDGET" in ln or "GADGET" in ln]
    assert len(lines) == 2
    # 120 x $8.00 = $960.00; 2 x $22.50 = $45.00
    assert "WIDGET" in lines[0] and "Widget, steel" in lines[0]
    assert "120 EA x $8.00 = $960.00" in lines[0]
    assert "GADGET" in lines[1] and "2 EA x $22.50 = $45.00" in lines[1]
    # tax: 960.00 x 6.25% = 60.00; 45.00 x 6.25% = 2.8125 -> 2.81
    assert "Subtotal:  $1,005.00" in body
    assert "Discount:  $0.00" in body
    assert "Tax:       $62.81" in body
    assert "Total:     $1,067.81" in body
    assert order["total"] == "1067.8100" or order["total"].rstrip("0").rstrip(".") == "1067.81"
    assert order["expected_date"] == requested.isoformat()
    assert f"Expected delivery: {requested.isoformat()}." in body
    assert "backorder" not in body

    # at least once, but not twice when nothing failed
    assert dispatch_pending() == 0
    assert len(smtp.messages) == 1
    assert event_row("order.confirmed", order["id"]).processed_at is not None
    assert deliveries(event.id) == [SEND]


def test_backordered_lines_are_named_in_the_email(api, smtp):
    """Only 5 gadgets are in stock: BIGBUY (ship partial) orders 8; the email says 3 are on backorder.
    Bolts cost $0.3333 each: the email shows that price, not a rounded $0.33 that would not add up."""
    r = api.post("/orders", json={"customer_code": "BIGBUY", "channel": "web",
                                  "lines": [{"sku": "GADGET", "quantity": "8"}, {"sku": "BOLT", "quantity": "24"}]})
    assert r.status_code == 201, r.text
    assert r.json()["status"] == "backordered"
    dispatch_pending()
    assert len(smtp.messages) == 1
    body = smtp.messages[0][1].get_content()
    assert "8 EA x $22.50 = $180.00   (3 on backorder)" in body
    assert "24 EA x $0.3333 = $8.00" in body  # 7.9992 rounded once, on the line
    assert "backordered items follow as soon as they arrive" in body
    assert smtp.messages[0][1]["Subject"] == f"Order confirmation {r.json()['number']}"


def test_held_order_sends_no_confirmation(api, smtp):
    r = api.post("/orders", json={"customer_code": "BIGBUY", "channel": "phone",
                                  "lines": [{"sku": "WIDGET", "quantity": "1", "unit_price": "5.00"}]})
    assert r.status_code == 201, r.text
    assert r.json()["status"] == "held"
    dispatch_pending()
    assert smtp.messages == []
    assert pending() == 0  # the held event was delivered (no subscriber sends anything for it)


def test_smtp_server_down_keeps_the_event_pending_until_it_is_back(api, smtp_port):
    r = api.post("/orders", json={"customer_code": "TIDY", "channel": "b2b_portal",
                                  "lines": [{"sku": "WIDGET", "quantity": "3"}]})
    assert r.status_code == 201, r.text
    order_id = r.json()["id"]
    t0 = clock.now()
    clock.freeze(t0)
    dispatch_pending()
    event = event_row("order.confirmed", order_id)
    assert event.processed_at is None
    assert event.attempts == 1
    assert SEND in event.last_error
    assert "refused" in event.last_error.lower()
    assert event.available_at == t0 + timedelta(seconds=2)
    assert deliveries(event.id) == []

    server = SmtpServer(smtp_port)
    server.start()
    try:
        assert dispatch_pending() == 0  # not due yet: backoff
        assert server.messages == []
        clock.freeze(t0 + timedelta(seconds=3))
        assert dispatch_pending() == 1
        assert len(server.messages) == 1
        assert server.messages[0][0] == ["buyer@tidy.example"]
        event = event_row("order.confirmed", order_id)
        assert event.processed_at is not None
        assert event.attempts == 1
        assert deliveries(event.id) == [SEND]
    finally:
        server.stop()


def test_no_stale_confirmation_for_an_order_cancelled_before_the_mail_went_out(api, smtp_port):
    """The mail server was down when the order was confirmed; the customer cancelled in the meantime.
    When the server is back, the customer is not told that a cancelled order is confirmed."""
    r = api.post("/orders", json={"customer_code": "BIGBUY", "channel": "phone",
                                  "lines": [{"sku": "WIDGET", "quantity": "5"}]})
    assert r.status_code == 201 and r.json()["status"] == "confirmed", r.text
    order_id = r.json()["id"]
    t0 = clock.now()
    clock.freeze(t0)
    dispatch_pending()  # fails: nothing listens
    assert event_row("order.confirmed", order_id).attempts == 1
    assert api.post(f"/orders/{order_id}/cancel", json={"reason": "customer called to cancel"}).status_code == 200

    server = SmtpServer(smtp_port)
    server.start()
    try:
        clock.freeze(t0 + timedelta(minutes=5))
        dispatch_pending()
        assert server.messages == []
        event = event_row("order.confirmed", order_id)
        assert event.processed_at is not None  # decided, not retried forever
        assert deliveries(event.id) == [SEND]
    finally:
        server.stop()


def test_crash_after_sending_resends_the_same_message(api, smtp, monkeypatch):
    """The mail went out but the dispatcher died before recording it: once its lease on the event ends,
    the event is delivered again (at least once) with the same Message-ID, so the customer's mail client
    can tell it is one message."""
    from o2c.core.events import LEASE
    from o2c.integrations import email as mail

    r = api.post("/orders", json={"customer_code": "LOYAL", "channel": "sales_rep",
                                  "lines": [{"sku": "WIDGET", "quantity": "2"}]})
    assert r.status_code == 201, r.text
    real_send = mail.send
    killed = []

    def send_then_die(*args, **kw):
        real_send(*args, **kw)
        if not killed:
            killed.append(True)
            raise SystemExit("dispatcher killed right after sending")

    monkeypatch.setattr(mail, "send", send_then_die)
    t0 = clock.now()
    clock.freeze(t0)
    with pytest.raises(SystemExit):
        dispatch_pending()
    assert len(smtp.messages) == 1
    event = event_row("order.confirmed", r.json()["id"])
    assert event.processed_at is None and deliveries(event.id) == []

    clock.freeze(t0 + LEASE - timedelta(seconds=1))
    dispatch_pending()
    assert len(smtp.messages) == 1  # still leased to the dispatcher that died
    clock.freeze(t0 + LEASE)
    dispatch_pending()
    assert len(smtp.messages) == 2
    assert smtp.messages[0][1]["Message-ID"] == smtp.messages[1][1]["Message-ID"]
    assert deliveries(event.id) == [SEND]
    assert event_row("order.confirmed", r.json()["id"]).processed_at is not None
    dispatch_pending()
    assert len(smtp.messages) == 2


class SlowInbox(Inbox):
    async def handle_DATA(self, server, session, envelope):
        await asyncio.sleep(2.5)
        return await super().handle_DATA(server, session, envelope)


def test_a_slow_mail_server_does_not_hold_up_order_entry(api, smtp_port):
    """While the dispatcher waits on a slow mail server, the desk keeps entering orders at full speed
    (on SQLite a write transaction locks the whole database, so the mail must go out outside one)."""
    controller = Controller(SlowInbox(), hostname="127.0.0.1", port=smtp_port)
    controller.start()
    try:
        r = api.post("/orders", json={"customer_code": "BIGBUY", "channel": "web",
                                      "lines": [{"sku": "WIDGET", "quantity": "1"}]})
        assert r.status_code == 201
        sender = threading.Thread(target=dispatch_pending, kwargs={"limit": 2})  # validated, confirmed
        sender.start()
        time.sleep(0.3)  # the dispatcher is now waiting for the mail server
        started = time.monotonic()
        r = api.post("/orders", json={"customer_code": "BIGBUY", "channel": "web",
                                      "lines": [{"sku": "GADGET", "quantity": "1"}]})
        took = time.monotonic() - started
        assert r.status_code == 201, r.text
        assert sender.is_alive()  # the mail was still on its way while the order went in
        assert took < 1.5
        sender.join(30)
    finally:
        controller.stop()
    assert len(controller.handler.messages) == 1


# ------------------------------------------------------------------ `o2c worker` as a process


def test_worker_process_delivers_a_confirmation(api, smtp, db):
    r = api.post("/orders", json={"customer_code": "EXEMPT", "channel": "edi",
                                  "lines": [{"sku": "WIDGET", "quantity": "4"}]})
    assert r.status_code == 201, r.text
    number = r.json()["number"]
    exe = shutil.which("o2c", path=str(Path(sys.executable).parent)) or "o2c"
    env = os.environ | {"O2C_DATABASE_URL": db, "O2C_SMTP_HOST": "127.0.0.1", "O2C_SMTP_PORT": str(smtp.port)}
    proc = subprocess.Popen([exe, "worker", "--poll", "0.2"], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        assert smtp.inbox.wait_for(1, 20), "the worker sent no confirmation"
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            out, _ = proc.communicate(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            out, _ = proc.communicate()
    assert proc.returncode == 0, out
    assert "worker running" in out
    rcpt, msg = smtp.messages[0]
    assert rcpt == ["buyer@exempt.example"]
    assert msg["Subject"] == f"Order confirmation {number}"
    assert "Tax:       $0.00" in msg.get_content()  # a tax-exempt customer
    assert pending() == 0
    assert len(smtp.messages) == 1
