"""Email over SMTP to the configured server (O2C_SMTP_HOST / O2C_SMTP_PORT)."""
from __future__ import annotations

import smtplib
from email.message import EmailMessage
from email.utils import formatdate

from o2c.core.settings import get_settings


def send(to: str, subject: str, body: str, *, message_id: str,
         attachments: list[tuple[str, bytes, str]] = ()) -> None:
    """Send one plain-text message, with `attachments` as (filename, content, MIME type). `message_id`
    is stable per event, so a re-delivery after a crash carries the same Message-ID and a mail client can
    tell it is the same message."""
    s = get_settings()
    msg = EmailMessage()
    msg["From"] = s.smtp_sender
    msg["To"] = to
    msg["Subject"] = subject
    msg["Date"] = formatdate(localtime=False)
    msg["Message-ID"] = f"<{message_id}@o2c>"
    msg.set_content(body)
    for filename, content, mime in attachments:
        maintype, subtype = mime.split("/", 1)
        msg.add_attachment(content, maintype=maintype, subtype=subtype, filename=filename)
    with smtplib.SMTP(s.smtp_host, s.smtp_port, timeout=s.smtp_timeout_seconds) as smtp:
        smtp.send_message(msg)
