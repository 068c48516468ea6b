"""Asking again: a coach told of a match that nobody has answered is asked once more,
3 and 6 months after the message reached them — one short mail with the answer links.

Never twice for one period (the follow-up is a delivery whose notice key,
`followup:<match>:<months>`, is unique per coach), and not at all once anyone has
answered about the match (through a link or a partner's tool), once the match was
retracted, once the coach opted out of messages, or when their answer link was revoked.
A message older than its period by more than WINDOW is not followed up for that period:
starting this service does not ask about last year's matches all at once.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from uuid import UUID

import asyncpg

from contracts.envelope import derived_event_id
from contracts.notices import OutgoingMessage
from services.common.worker import Worker

log = logging.getLogger(__name__)

FOLLOW_UP_MONTHS = (3, 6)
WINDOW = timedelta(days=30)
INTERVAL_S = 600.0

_DUE = """
SELECT d.about_id AS match_id, d.recipient_key, d.destination, d.message::text AS message, p.months
FROM deliveries d
CROSS JOIN unnest($2::int[]) AS p(months)
JOIN known_matches k ON k.match_id = d.about_id AND NOT k.retracted
WHERE d.recipient_key LIKE 'coach:%' AND d.notice_key = 'match:' || d.about_id AND d.status = 'delivered'
  AND d.delivered_at <= $1::timestamptz - make_interval(months => p.months)
  AND d.delivered_at > $1::timestamptz - make_interval(months => p.months) - $3::interval
  AND NOT EXISTS (SELECT FROM answers a WHERE a.match_id = d.about_id)
  AND NOT EXISTS (SELECT FROM feedback_authors f WHERE f.match_id = d.about_id)
  AND NOT EXISTS (SELECT FROM coach_recipients c
                  WHERE c.email = substr(d.recipient_key, 7) AND c.unsubscribed_at IS NOT NULL)
  AND NOT EXISTS (SELECT FROM deliveries f
                  WHERE f.recipient_key = d.recipient_key AND f.notice_key = 'followup:' || d.about_id || ':' || p.months)
ORDER BY d.delivered_at
LIMIT 500
"""


async def owe_follow_ups(pool: asyncpg.Pool, now: datetime | None = None) -> int:
    """Owe the follow-ups due at `now`; returns how many were owed."""
    now = now or datetime.now(UTC)
    owed = 0
    async with pool.acquire() as conn, conn.transaction():
        for row in await conn.fetch(_DUE, now, list(FOLLOW_UP_MONTHS), WINDOW):
            owed += await _owe(conn, row, now)
    return owed


async def _owe(conn: asyncpg.Connection, row: asyncpg.Record, now: datetime) -> int:
    coach = row["recipient_key"].removeprefix("coach:")
    # The answer link is renewed, so that it is valid for as long as a new one would be;
    # a revoked link stays revoked, and its coach is not asked.
    renewed = await conn.fetchval(
        "UPDATE answer_links SET created_at = $3 WHERE match_id = $1 AND lower(reporter ->> 'email') = $2"
        " AND revoked_at IS NULL RETURNING true",
        row["match_id"], coach, now,
    )
    if not renewed:
        return 0
    notice_key = f"followup:{row['match_id']}:{row['months']}"
    delivery_id = UUID(derived_event_id("delivery", row["recipient_key"], notice_key))
    message = OutgoingMessage.model_validate_json(row["message"]).model_copy(
        update={"message_id": delivery_id, "created_at": now, "follow_up_months": row["months"]}
    )
    inserted = await conn.fetchval(
        "INSERT INTO deliveries (delivery_id, recipient_key, notice_key, about_id, channel, destination, message, status)"
        " VALUES ($1, $2, $3, $4, 'email', $5, $6, 'pending') ON CONFLICT (recipient_key, notice_key) DO NOTHING"
        " RETURNING true",
        delivery_id, row["recipient_key"], notice_key, row["match_id"], row["destination"], message.model_dump_json(),
    )
    if inserted:
        log.info("match %s: nobody answered in %d months; its coach is asked again", row["match_id"], row["months"])
    return int(bool(inserted))


def follow_up_worker(pool: asyncpg.Pool, settings, on_owed: Callable[[], None]) -> Worker:
    """Owes the due follow-ups every INTERVAL_S on a Worker (which backs off while the
    database is away); `on_owed` wakes the dispatcher to send them."""

    async def owe_due() -> bool:
        if await owe_follow_ups(pool):
            on_owed()
        return False  # nothing more until the next interval

    return Worker("notification-follow-ups", owe_due, poll_interval_s=INTERVAL_S,
                  backoff_initial_s=settings.retry_backoff_initial_s, backoff_max_s=settings.retry_backoff_max_s)
