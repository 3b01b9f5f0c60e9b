"""Sending a notification e-mail through the SMTP server of the settings (stdlib smtplib,
in a worker thread so the event loop never waits on the network).

smtplib's and the socket's exceptions stop here, turned into the outcome's status (the
SMTP reply code, when there was one) and error text.
"""

from __future__ import annotations

import asyncio
import smtplib
import ssl
from dataclasses import dataclass
from email.message import EmailMessage
from email.utils import formatdate, make_msgid
from typing import Final

from farmbridge.domain.notifications import Delivery, Outcome
from farmbridge.egress.mail_text import render
from farmbridge.egress.signature import DELIVERY_HEADER, TOPIC_HEADER

MAX_ERROR_CHARS: Final = 500
NOT_CONFIGURED: Final = "no SMTP server configured (FARMBRIDGE_SMTP_HOST)"


@dataclass(frozen=True, slots=True)
class SmtpOptions:
    """Where and how to send: the FARMBRIDGE_SMTP_* settings."""

    host: str
    port: int
    sender: str
    user: str | None = None
    password: str | None = None
    starttls: bool = True
    timeout_s: float = 10.0


def compose(options: SmtpOptions, address: str, delivery: Delivery, farm_name: str) -> EmailMessage:
    """The message for one recipient: plain text (UTF-8), its delivery id in a header."""
    subject, body = render(delivery.topic, delivery.payload, farm_name)
    msg = EmailMessage()
    msg["From"] = options.sender
    msg["To"] = address
    msg["Subject"] = subject
    msg["Date"] = formatdate(delivery.created_ms / 1000, usegmt=True)
    msg["Message-ID"] = make_msgid(f"farmbridge-delivery-{delivery.id}")
    msg[DELIVERY_HEADER] = str(delivery.id)
    msg[TOPIC_HEADER] = delivery.topic
    msg.set_content(body, charset="utf-8")
    return msg


class SmtpSender:
    """A connection per message: notifications are rare, and a held connection would
    time out on the server between them."""

    def __init__(self, options: SmtpOptions) -> None:
        self._options = options

    async def send(self, address: str, delivery: Delivery, farm_name: str) -> Outcome:
        msg = compose(self._options, address, delivery, farm_name)
        try:
            await asyncio.to_thread(self._send, msg)
        except smtplib.SMTPResponseException as exc:
            text = (
                exc.smtp_error.decode(errors="replace")
                if isinstance(exc.smtp_error, bytes)
                else str(exc.smtp_error)
            )
            return Outcome(
                ok=False,
                status=exc.smtp_code,
                error=f"SMTP {exc.smtp_code}: {text}"[:MAX_ERROR_CHARS],
            )
        except smtplib.SMTPRecipientsRefused as exc:
            code, reply = next(iter(exc.recipients.values()), (None, b""))
            return Outcome(
                ok=False, status=code, error=f"recipient refused: {reply!r}"[:MAX_ERROR_CHARS]
            )
        except (smtplib.SMTPException, OSError) as exc:
            return Outcome(ok=False, error=f"{type(exc).__name__}: {exc}"[:MAX_ERROR_CHARS])
        return Outcome(ok=True, status=250)

    def _send(self, msg: EmailMessage) -> None:
        o = self._options
        with smtplib.SMTP(o.host, o.port, timeout=o.timeout_s) as smtp:
            if o.starttls:
                smtp.starttls(context=ssl.create_default_context())
            if o.user:
                smtp.login(o.user, o.password or "")
            smtp.send_message(msg)

    async def aclose(self) -> None:
        return None


class NoSmtp:
    """The sender when no SMTP server is configured: every e-mail fails at once, saying so."""

    async def send(self, address: str, delivery: Delivery, farm_name: str) -> Outcome:
        return Outcome(ok=False, error=NOT_CONFIGURED, final=True)

    async def aclose(self) -> None:
        return None
