"""Notification: a proposed match becomes an e-mail to the company's coach."""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from uuid import UUID

import aiosmtplib

from contracts.envelope import CloudEvent, derived_event_id, new_event
from contracts.events import MatchProposed, NotificationDispatched
from contracts.topics import NOTIFICATIONS
from services.common.consumer import HandlerContext, Rejected, TransientError
from services.notification.messages import match_email, subject_for

log = logging.getLogger(__name__)
SOURCE = "/redthread/notification"
CHANNEL = "email"


async def notify_coach(ctx: HandlerContext, event: CloudEvent[MatchProposed]) -> None:
    match = event.data
    if match.coach is None:
        log.info("match %s has no coach to tell; it stays visible in reporting", match.match_id)
        return
    recipient = str(match.coach.email)
    already = await ctx.conn.fetchval(
        "SELECT true FROM notifications WHERE match_id = $1 AND channel = $2 AND recipient = $3",
        match.match_id, CHANNEL, recipient,
    )
    if already:
        return
    notification_id = UUID(derived_event_id("notification", match.match_id, CHANNEL, recipient))
    message = match_email(
        match, notification_id=str(notification_id), sender=ctx.settings.mail_from, recipient=recipient
    )
    try:
        await aiosmtplib.send(message, hostname=ctx.settings.smtp_host, port=ctx.settings.smtp_port, timeout=10)
    except aiosmtplib.SMTPRecipientsRefused as refused:
        raise Rejected(f"the mail server refused {recipient}: {refused}") from None
    except (aiosmtplib.SMTPException, OSError) as error:
        raise TransientError(f"mail server {ctx.settings.smtp_host}:{ctx.settings.smtp_port}: {error}") from error

    dispatched = NotificationDispatched(
        notification_id=notification_id,
        match_id=match.match_id,
        need_id=match.need_id,
        company_org_number=match.company.org_number if match.company else None,
        channel=CHANNEL,
        recipient=recipient,
        subject=subject_for(match),
        dispatched_at=datetime.now(UTC),
        confidentiality=match.confidentiality,
    )
    await ctx.conn.execute(
        "INSERT INTO notifications (notification_id, match_id, need_id, channel, recipient, subject, dispatched_at)"
        " VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT DO NOTHING",
        notification_id, match.match_id, match.need_id, CHANNEL, recipient, dispatched.subject, dispatched.dispatched_at,
    )
    await ctx.publish(
        NOTIFICATIONS.name,
        str(match.need_id),
        new_event(dispatched, source=SOURCE, subject=str(match.match_id), caused_by=event, event_id=str(notification_id)),
    )


HANDLERS = {MatchProposed.EVENT_TYPE: notify_coach}
