"""Recording what the dispatcher's sends came to, as soon as they end.

Each outcome is queued here the moment its send ends, and written within
`delivery_record_linger_ms` together with whatever else ended meanwhile: one transaction
with the attempt rows and the events the outcomes cause (NotificationDispatched, or a dead
letter), staged in the outbox. A send keeps its slot until its outcome is written, so
what a kill -9 leaves sent but unrecorded (and sends again) is never more than the send
slots: what was on the wire.

While the database is away, outcomes stay queued and are written when it is back, with
backoff, for as long as the process lives; the dispatcher claims nothing new before they
are. Their fence still holds then, however long it took: an outcome is recorded only
while its row is still pending under the lease it was claimed with, and only another
instance re-claiming the row (after the lease time) changes that lease.
"""

from __future__ import annotations

import json

import asyncio
import logging
from collections.abc import Callable
from dataclasses import dataclass, fields
from datetime import datetime
from uuid import UUID

import asyncpg

from contracts.envelope import derived_event_id, encode, new_event
from contracts.events import Confidentiality, NotificationDispatched
from contracts.notices import MatchNotice, OutgoingMessage
from contracts.topics import NOTIFICATIONS
from services.common.db import transaction
from services.common.dead_letters import Origin, dead_letter
from services.common.outbox import OutboxRow, stage_rows
from services.common.settings import Settings
from services.common.worker import Worker
from services.notification.channels import Sent
from services.notification.delivery_policy import Verdict

log = logging.getLogger(__name__)

EMAIL = "email"
# Dead letters name where the failed item came from; deliveries come from a table, not a
# topic, so they carry this name and no partition or offset (-1).
DELIVERIES_SOURCE = "notification.deliveries"
ERROR_MAX_CHARS = 1000


@dataclass(frozen=True)
class Claimed:
    """A delivery this instance holds the lease of."""

    delivery_id: UUID
    subscription_id: UUID | None
    recipient_key: str  # subscription:<id>, or coach:<e-mail>
    channel: str
    destination: str
    peer: str  # whom the send depends on: its circuit breaker
    message: str  # the OutgoingMessage as stored (JSON)
    attempts: int  # before this attempt
    pending_for_s: float  # since it became pending, when claimed

    @property
    def recipient(self) -> str:
        """Who the delivery is for, as events and dead letters name them: the subscription,
        or the need's coach, never an address (contracts.events.NotificationDispatched)."""
        return "coach" if self.recipient_key.startswith("coach:") else self.recipient_key

    @property
    def message_without_contact_data(self) -> str:
        """The stored message with its recipient named as `recipient` names them: what a
        dead letter keeps, for an operator who finds the delivery by its id."""
        message = json.loads(self.message)
        message["recipient"] = {"name": self.recipient}
        return json.dumps(message, ensure_ascii=False)
    lease_until: datetime  # the fencing token


@dataclass(frozen=True)
class Outcome:
    """An attempt that ended (or a delivery given up without one)."""

    claimed: Claimed
    sent: Sent
    verdict: Verdict
    attempted_at: datetime
    done_at: datetime
    message: OutgoingMessage | None
    trace_headers: dict[str, str]


@dataclass(frozen=True)
class Release:
    """A claimed delivery not attempted (its lease could no longer cover a send, or its
    peer is held back): its lease is given up, no attempt spent, due again after `in_s`."""

    claimed: Claimed
    in_s: float = 0.0


@dataclass(frozen=True)
class HoldBack:
    """A peer's breaker opened: its due deliveries wait until the probe, not claimed and
    passed over in every round meanwhile (never past their horizon, when they give up)."""

    peer: str
    for_s: float


@dataclass(frozen=True)
class Resume:
    """A peer's breaker closed: every delivery it held, or that waits out a backoff
    because of the outage, is due at once."""

    peer: str


Record = Outcome | Release | HoldBack | Resume


@dataclass
class Counts:
    delivered: int = 0
    failed: int = 0
    gave_up: int = 0
    released: int = 0  # claimed, not attempted; claimable again
    lost: int = 0  # sent, but the lease had passed to another instance: not recorded

    def add(self, other: Counts) -> None:
        for f in fields(self):
            setattr(self, f.name, getattr(self, f.name) + getattr(other, f.name))


class OutcomeRecorder:
    def __init__(self, pool: asyncpg.Pool, settings: Settings, service_name: str, *,
                 on_commit: Callable[[], None]) -> None:
        self._pool = pool
        self._settings = settings
        self._on_commit = on_commit  # wakes the outbox relay after events were staged
        self._source = f"/redthread/{service_name}"
        self._consumer = f"{service_name}-delivery"
        self._queued: list[tuple[Record, asyncio.Future | None]] = []  # with who waits for it written
        self._writing = asyncio.Lock()
        self.totals = Counts()
        self.worker = Worker(
            f"{service_name}-delivery-record",
            self._record_pass,
            poll_interval_s=settings.delivery_poll_interval_s,
            backoff_initial_s=settings.retry_backoff_initial_s,
            backoff_max_s=settings.retry_backoff_max_s,
            linger_s=settings.delivery_record_linger_ms / 1000,
        )

    @property
    def queued(self) -> int:
        return len(self._queued)

    def add(self, record: Record) -> None:
        """Queue `record` to be written soon."""
        self._queued.append((record, None))
        self.worker.wake()

    async def write(self, record: Record) -> None:
        """Queue `record` and return once it is written: while the database is away, that
        is when it is back (the record stays queued if the caller stops waiting)."""
        written = asyncio.get_running_loop().create_future()
        self._queued.append((record, written))
        self.worker.wake()
        await written

    async def _record_pass(self) -> bool:
        await self.flush()
        return False

    async def flush(self) -> Counts:
        """Write everything queued, in the order it happened. On a failure it all stays
        queued (and the error is raised), to be written by the next flush."""
        async with self._writing:
            queued, self._queued = self._queued, []
            if not queued:
                return Counts()
            try:
                counts, staged = await self._write([record for record, _ in queued])
            except BaseException:
                self._queued[:0] = queued
                raise
        for _, written in queued:
            if written is not None and not written.done():
                written.set_result(None)
        self.totals.add(counts)
        if staged:
            self._on_commit()
        if counts.delivered or counts.failed or counts.gave_up:
            log.info(
                "deliveries: %d delivered, %d failed and retried later, %d gave up%s",
                counts.delivered, counts.failed, counts.gave_up,
                f", {counts.released} released unsent" if counts.released else "",
            )
        if counts.lost:
            log.warning(
                "%d deliveries were sent after their lease had passed to another instance; their outcome is not"
                " recorded here", counts.lost,
            )
        return counts

    async def _write(self, records: list[Record]) -> tuple[Counts, bool]:
        outcomes = [r for r in records if isinstance(r, Outcome)]
        releases = [r for r in records if isinstance(r, Release)]
        counts = Counts(released=len(releases))
        staged: list[OutboxRow] = []
        async with transaction(self._pool) as conn:
            if outcomes:
                recorded = await self._record_outcomes(conn, outcomes)
                kept = [o for o in outcomes if o.claimed.delivery_id in recorded]
                counts.lost = len(outcomes) - len(kept)
                facts = await _match_facts(conn, [o for o in kept if o.verdict.result == "delivered"])
                for outcome in kept:
                    if outcome.verdict.result == "delivered":
                        counts.delivered += 1
                        staged += self._dispatched_events(outcome, facts)
                    elif outcome.verdict.result == "gave-up":
                        counts.gave_up += 1
                        staged.append(self._dead_letter(outcome))
                    else:
                        counts.failed += 1
                await stage_rows(conn, staged)
            if releases:
                await conn.execute(
                    "UPDATE deliveries d SET lease_until = NULL,"
                    "  next_attempt_at = greatest(d.next_attempt_at, now() + make_interval(secs => r.in_s))"
                    " FROM unnest($1::uuid[], $2::timestamptz[], $3::float8[]) AS r(delivery_id, lease_until, in_s)"
                    " WHERE d.delivery_id = r.delivery_id AND d.status = 'pending' AND d.lease_until = r.lease_until",
                    [r.claimed.delivery_id for r in releases],
                    [r.claimed.lease_until for r in releases],
                    [r.in_s for r in releases],
                )
            for record in records:
                if isinstance(record, HoldBack):
                    await conn.execute(
                        "UPDATE deliveries SET next_attempt_at = least(now() + make_interval(secs => $2),"
                        "   pending_since + make_interval(secs => $3))"
                        " WHERE status = 'pending' AND peer = $1 AND next_attempt_at < now() + make_interval(secs => $2)"
                        "  AND (lease_until IS NULL OR lease_until < now())",
                        record.peer, record.for_s, self._settings.delivery_give_up_after_s,
                    )
                elif isinstance(record, Resume):
                    await conn.execute(
                        "UPDATE deliveries SET next_attempt_at = now()"
                        " WHERE status = 'pending' AND peer = $1 AND next_attempt_at > now()",
                        record.peer,
                    )
        return counts, bool(staged)

    async def _record_outcomes(self, conn: asyncpg.Connection, outcomes: list[Outcome]) -> set[UUID]:
        """Record the attempts whose lease still fences their row; returns their ids."""
        return set(
            await conn.fetchval(
                "WITH outcome AS ("
                "  SELECT * FROM unnest($1::uuid[], $2::timestamptz[], $3::text[], $4::int[], $5::text[],"
                "   $6::float8[], $7::timestamptz[], $8::timestamptz[])"
                "  AS o(delivery_id, lease_until, result, status_code, error, retry_in_s, attempted_at, done_at)),"
                " recorded AS ("
                "  UPDATE deliveries d SET"
                "   attempts = d.attempts + 1,"
                "   status = CASE o.result WHEN 'delivered' THEN 'delivered'"
                "     WHEN 'gave-up' THEN 'failed' ELSE 'pending' END,"
                "   delivered_at = CASE WHEN o.result = 'delivered' THEN o.done_at ELSE d.delivered_at END,"
                "   next_attempt_at = CASE WHEN o.result = 'failed'"
                "     THEN now() + make_interval(secs => o.retry_in_s) ELSE d.next_attempt_at END,"
                "   lease_until = NULL,"
                "   last_error = CASE WHEN o.result = 'delivered' THEN NULL ELSE o.error END"
                "  FROM outcome o"
                # the fence: still pending, and still under the lease it was claimed with
                "  WHERE d.delivery_id = o.delivery_id AND d.status = 'pending' AND d.lease_until = o.lease_until"
                "  RETURNING d.delivery_id, d.attempts, o.result, o.status_code, o.error, o.attempted_at),"
                " attempt_rows AS ("
                "  INSERT INTO delivery_attempts (delivery_id, attempt, attempted_at, outcome, status_code, error)"
                "  SELECT delivery_id, attempts, attempted_at, result, status_code, error FROM recorded"
                "  RETURNING delivery_id)"
                " SELECT coalesce(array_agg(delivery_id), '{}') FROM attempt_rows",
                [o.claimed.delivery_id for o in outcomes],
                [o.claimed.lease_until for o in outcomes],
                [o.verdict.result for o in outcomes],
                [o.sent.status_code for o in outcomes],
                [_truncated(o.sent.error) for o in outcomes],
                [o.verdict.retry_in_s for o in outcomes],
                [o.attempted_at for o in outcomes],
                [o.done_at for o in outcomes],
            )
        )

    def _dispatched_events(self, outcome: Outcome, facts: dict[UUID, tuple[str | None, Confidentiality]]) -> list[OutboxRow]:
        """A NotificationDispatched per match the delivered message told about."""
        row, message = outcome.claimed, outcome.message
        assert message is not None  # delivered, so it was read
        staged = []
        for notice in message.notices:
            if not isinstance(notice, MatchNotice):
                continue
            org_number, confidentiality = facts.get(
                notice.match_id, (notice.company.org_number if notice.company else None, Confidentiality.public)
            )
            subject = outcome.sent.subject if row.channel == EMAIL else None
            subject = subject or f"{row.channel}: {notice.need_title}"
            notification_id = derived_event_id("notification-delivery", row.delivery_id, notice.match_id)
            dispatched = NotificationDispatched(
                notification_id=UUID(notification_id),
                match_id=notice.match_id,
                need_id=notice.need_id,
                company_org_number=org_number,
                channel=row.channel,
                recipient=row.recipient,
                subject=subject[:300],
                dispatched_at=outcome.done_at,
                confidentiality=confidentiality,
            )
            event = new_event(
                dispatched, source=self._source, subject=str(notice.match_id), event_id=notification_id,
                time=outcome.done_at,
            )
            value, headers = encode(event)
            staged.append(
                OutboxRow(
                    self._settings.topic(NOTIFICATIONS.name),
                    str(notice.need_id).encode(),
                    value,
                    headers | outcome.trace_headers,
                )
            )
        return staged

    def _dead_letter(self, outcome: Outcome) -> OutboxRow:
        row, sent = outcome.claimed, outcome.sent
        attempts = row.attempts + 1
        reason = (
            f"{row.channel} delivery {row.delivery_id} to {row.recipient} gave up after {attempts} attempt"
            f"{'s' if attempts != 1 else ''} ({outcome.verdict.gave_up_because}): {sent.error}"
        )
        return dead_letter(
            self._settings,
            consumer=self._consumer,
            source=self._source,
            reason=reason,
            origin=Origin(
                DELIVERIES_SOURCE,
                row.message_without_contact_data,
                key=str(row.delivery_id),
                headers={
                    "delivery_id": str(row.delivery_id),
                    "subscription_id": str(row.subscription_id or ""),
                    "channel": row.channel,
                    "recipient": row.recipient,
                    "attempts": str(attempts),
                    **({"status_code": str(sent.status_code)} if sent.status_code is not None else {}),
                },
            ),
            # One per giving up: a delivery resent by an operator may give up again.
            event_id=derived_event_id("delivery-dead-letter", row.delivery_id, attempts),
            failed_at=outcome.done_at,
            trace_headers=outcome.trace_headers,
            extra_headers={"dlq_delivery_id": str(row.delivery_id)},
        )


async def _match_facts(conn: asyncpg.Connection, delivered: list[Outcome]) -> dict[UUID, tuple[str | None, Confidentiality]]:
    """Organisation number and confidentiality of the delivered matches, from the
    MatchProposed notification keeps (a notice hides an anonymised company, and does not
    say how confidential its need is)."""
    match_ids = {
        notice.match_id
        for outcome in delivered
        for notice in (outcome.message.notices if outcome.message else [])
        if isinstance(notice, MatchNotice)
    }
    if not match_ids:
        return {}
    rows = await conn.fetch(
        "SELECT match_id, notice->'company'->>'org_number' AS org_number, notice->>'confidentiality' AS confidentiality"
        " FROM known_matches WHERE match_id = ANY($1::uuid[])",
        list(match_ids),
    )
    facts = {}
    for row in rows:
        try:
            confidentiality = Confidentiality(row["confidentiality"] or Confidentiality.public)
        except ValueError:
            confidentiality = Confidentiality.public
        facts[row["match_id"]] = (row["org_number"], confidentiality)
    return facts


def _truncated(text: str | None) -> str | None:
    return text.replace("\x00", "\ufffd")[:ERROR_MAX_CHARS] if text else text
