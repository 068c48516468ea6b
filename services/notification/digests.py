"""Daily and weekly digests: what was held for a subscription goes out as one message
when its period ends. The digest's id is derived from the subscription and the period,
and the held rows are marked in the same transaction, so a crash or a second instance
can never make two digests of one period or put an item in two."""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import UTC, datetime, time, timedelta
from uuid import UUID
from zoneinfo import ZoneInfo

import asyncpg

from contracts.envelope import derived_event_id
from contracts.notices import Cadence, OutgoingMessage
from services.common.worker import Worker

log = logging.getLogger(__name__)


def next_digest_at(cadence: Cadence, after: datetime, *, hour: int, timezone: str) -> datetime | None:
    """When the period running at `after` ends: the next `hour` o'clock local time
    (daily), or the next Monday at that hour (weekly). None for immediate delivery."""
    if cadence is Cadence.immediate:
        return None
    zone = ZoneInfo(timezone)
    local = after.astimezone(zone)
    candidate = datetime.combine(local.date(), time(hour), tzinfo=zone)
    if candidate <= local:
        candidate = datetime.combine(local.date() + timedelta(days=1), time(hour), tzinfo=zone)
    if cadence is Cadence.weekly:
        while candidate.weekday() != 0:
            candidate = datetime.combine(candidate.date() + timedelta(days=1), time(hour), tzinfo=zone)
    return candidate.astimezone(UTC)


def period_label(cadence: Cadence, ends_at: datetime, *, timezone: str) -> str:
    """The period a digest covers, named by the day (daily) or ISO week (weekly) it began:
    the digest of Wednesday morning is "yesterday's", Tuesday's."""
    length = timedelta(weeks=1) if cadence is Cadence.weekly else timedelta(days=1)
    began = (ends_at.astimezone(ZoneInfo(timezone)) - length).date()
    if cadence is Cadence.weekly:
        year, week, _ = began.isocalendar()
        return f"{year}-W{week:02d}"
    return began.isoformat()


async def compose_due_digests(pool: asyncpg.Pool, settings, now: datetime | None = None) -> int:
    """Turn the held messages of every subscription whose period has ended into one
    pending digest each; returns how many digests were composed."""
    now = now or datetime.now(UTC)
    composed = 0
    async with pool.acquire() as conn:
        due = await conn.fetch(
            "SELECT subscription_id FROM subscriptions WHERE cadence <> 'immediate' AND next_digest_at <= $1",
            now,
        )
        for row in due:
            async with conn.transaction():
                composed += await _compose(conn, settings, row["subscription_id"], now)
    return composed


async def _compose(conn: asyncpg.Connection, settings, subscription_id: UUID, now: datetime) -> int:
    subscription = await conn.fetchrow(
        "SELECT cadence, next_digest_at, status FROM subscriptions WHERE subscription_id = $1"
        " AND next_digest_at <= $2 FOR UPDATE SKIP LOCKED",
        subscription_id, now,
    )
    if subscription is None:
        return 0  # another instance has it, or it is no longer due
    cadence = Cadence(subscription["cadence"])
    ends_at = subscription["next_digest_at"]
    await conn.execute(
        "UPDATE subscriptions SET next_digest_at = $2 WHERE subscription_id = $1",
        subscription_id,
        next_digest_at(cadence, max(now, ends_at), hour=settings.digest_hour, timezone=settings.digest_timezone),
    )
    held = await conn.fetch(
        "SELECT delivery_id, channel, destination, message FROM deliveries"
        " WHERE subscription_id = $1 AND status = 'held' ORDER BY created_at, delivery_id FOR UPDATE",
        subscription_id,
    )
    if not held or subscription["status"] != "active":
        return 0  # nothing to tell (a paused subscription keeps its items for when it resumes)
    period = period_label(cadence, ends_at, timezone=settings.digest_timezone)
    recipient_key = f"subscription:{subscription_id}"
    digest_id = UUID(derived_event_id("delivery", recipient_key, f"digest:{period}"))
    messages = [OutgoingMessage.model_validate_json(row["message"]) for row in held]
    latest = messages[-1]
    digest = latest.model_copy(
        update={
            "message_id": digest_id,
            "cadence": cadence,
            "period": period,
            "notices": [notice for message in messages for notice in message.notices],
            "created_at": now,
        }
    )
    inserted = await conn.fetchval(
        "INSERT INTO deliveries (delivery_id, subscription_id, recipient_key, notice_key, channel, destination,"
        " message, status) VALUES ($1, $2, $3, $4, $5, $6, $7, 'pending')"
        " ON CONFLICT (recipient_key, notice_key) DO NOTHING RETURNING true",
        digest_id, subscription_id, recipient_key, f"digest:{period}", held[-1]["channel"], held[-1]["destination"],
        digest.model_dump_json(),
    )
    if not inserted:
        # This period's digest exists already: the rest waits for the next one.
        return 0
    await conn.execute(
        "UPDATE deliveries SET status = 'digested', digest_id = $2 WHERE delivery_id = ANY($1)",
        [row["delivery_id"] for row in held], digest_id,
    )
    log.info("digest %s for subscription %s: %d items", period, subscription_id, len(held))
    return 1


class DigestScheduler:
    """Composes due digests in the background, every `interval_s`, on a Worker (which
    backs off while the database is away)."""

    def __init__(self, pool: asyncpg.Pool, settings, interval_s: float = 30.0,
                 on_composed: Callable[[], None] = lambda: None) -> None:
        self._pool = pool
        self._settings = settings
        self._on_composed = on_composed  # wakes the dispatcher to send what was composed
        self.worker = Worker(
            "notification-digests",
            self._compose_pass,
            poll_interval_s=interval_s,
            backoff_initial_s=settings.retry_backoff_initial_s,
            backoff_max_s=settings.retry_backoff_max_s,
        )

    async def start(self) -> None:
        self.worker.start()

    async def stop(self) -> None:
        await self.worker.stop()

    async def _compose_pass(self) -> bool:
        if await compose_due_digests(self._pool, self._settings):
            self._on_composed()
        return False
