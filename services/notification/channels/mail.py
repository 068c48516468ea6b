"""E-mail over SMTP: renders a message and hands it to the mail server.

A reply code tells what a failure is (RFC 5321): 5yz refuses this message for good (the
delivery gives up at once, with the reply as the reason), 4yz and a connection that fails
or times out may pass (the delivery is retried, and the mail server counts as down)."""

from __future__ import annotations

import asyncio

import socket
from collections.abc import Callable
from email.message import EmailMessage

import aiosmtplib

from contracts.notices import OutgoingMessage
from services.common.failures import smtp_reply_is_permanent
from services.common.settings import Settings
from services.notification.channels import Sent

RenderEmail = Callable[..., EmailMessage]
LOCAL_HOSTNAME = socket.gethostname()


class SmtpConnections:
    """Connections to the mail server kept open between mails: a new connection (and its
    EHLO) per mail costs more than the mail itself. A connection that fails in any way is
    closed and never reused; one the server closed while idle is replaced once."""

    def __init__(self, settings: Settings) -> None:
        self._settings = settings
        self._idle: list[aiosmtplib.SMTP] = []

    async def _connect(self) -> aiosmtplib.SMTP:
        client = aiosmtplib.SMTP(
            hostname=self._settings.smtp_host,
            port=self._settings.smtp_port,
            # None: the dispatcher bounds each send in the time the process runs; a
            # timer of aiosmtplib's own would fire after a pause before the reply is read.
            timeout=None,
            # Named once: otherwise aiosmtplib looks up this machine's name per connection.
            local_hostname=LOCAL_HOSTNAME,
        )
        await client.connect()
        return client

    async def send(self, email: EmailMessage, recipient: str) -> None:
        client = self._idle.pop() if self._idle else None
        if client is not None:
            try:
                await client.send_message(email, recipients=[recipient])
            except aiosmtplib.SMTPServerDisconnected:
                # Closed by the server while idle; nothing was accepted, so sending again is safe.
                client.close()
            except BaseException:
                client.close()
                raise
            else:
                self._idle.append(client)
                return
        client = await self._connect()
        try:
            await client.send_message(email, recipients=[recipient])
        except BaseException:
            client.close()
            raise
        self._idle.append(client)

    async def close(self) -> None:
        while self._idle:
            client = self._idle.pop()
            try:
                async with asyncio.timeout(self._settings.smtp_timeout_s):
                    await client.quit()
            except (aiosmtplib.SMTPException, OSError, TimeoutError):
                client.close()


class MailChannel:
    def __init__(self, settings: Settings, render_email: RenderEmail | None = None) -> None:
        self._settings = settings
        self._render_email = render_email  # None: services.notification.templates.render_email
        self._connections = SmtpConnections(settings)

    async def send(self, message: OutgoingMessage, recipient: str) -> Sent:
        """Send `message` to `recipient`, the envelope recipient whatever its headers say."""
        render = self._render_email or _templates_render_email()
        try:
            email = render(message, sender=self._settings.mail_from)
        except Exception as error:  # noqa: BLE001 - rendering is deterministic: retrying gives the same
            return Sent(
                ok=False, peer=None, error=f"cannot be rendered as e-mail: {type(error).__name__}: {error}",
                permanent=True,
            )
        subject = str(email["Subject"] or "")
        try:
            await self._connections.send(email, recipient)
        except aiosmtplib.SMTPRecipientsRefused as refused:
            codes = [r.code for r in refused.recipients]
            # The server works; it refuses this recipient (5xx: no such mailbox) or not yet
            # (4xx: greylisting, a full mailbox).
            return Sent(
                ok=False,
                peer="up",
                status_code=codes[0] if codes else None,
                error=f"the mail server refused {recipient}: "
                + "; ".join(f"{r.code} {r.message}" for r in refused.recipients),
                permanent=bool(codes) and all(smtp_reply_is_permanent(code) for code in codes),
                subject=subject,
            )
        except aiosmtplib.SMTPResponseException as error:
            permanent = smtp_reply_is_permanent(error.code)
            return Sent(
                ok=False,
                # A 5xx refuses the message, from a server that works; a 4xx (421 closing,
                # 451 local error) says the server cannot take mail now.
                peer="up" if permanent else "down",
                status_code=error.code,
                error=f"mail server: {error.code} {error.message}",
                permanent=permanent,
                subject=subject,
            )
        except (aiosmtplib.SMTPException, OSError, TimeoutError) as error:
            where = f"{self._settings.smtp_host}:{self._settings.smtp_port}"
            return Sent(ok=False, peer="down", error=f"mail server {where}: {type(error).__name__}: {error}",
                        subject=subject)
        return Sent.delivered(subject=subject)

    async def close(self) -> None:
        await self._connections.close()


def _templates_render_email() -> RenderEmail:
    # Imported when first needed: the templates live beside this module and change
    # independently of it.
    from services.notification.templates import render_email

    return render_email
