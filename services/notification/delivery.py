"""The delivery dispatcher: sends what is owed in `deliveries`, by e-mail
(`channels/mail.py`) or as a Standard Webhooks call (`channels/webhook.py`), retries
what may pass, and dead-letters what cannot be delivered.

A pipeline, not rounds, so that no slow send holds any other:

1. claim (a Worker pass: when woken by new deliveries or by a send that ended, else every
   `delivery_poll_interval_s`): what ended is recorded first; then due pending rows get a
   lease (`lease_until`), as many as there is room for — at most `delivery_batch_size`
   under way in all, at most `delivery_webhook_host_concurrency` per webhook host, none
   for a peer whose circuit breaker holds it back (`breakers.py`). `FOR UPDATE SKIP
   LOCKED` lets several instances claim side by side; a lease left by a crashed instance
   expires and the row is claimed again.
2. send: each claimed row on a task of its own, at most `delivery_concurrency` at once.
3. record: each outcome as soon as its send ends (`delivery_record.py`); what it means
   (delivered, retried after a backoff, given up) is decided in `delivery_policy.py`.

The lease a row was claimed with is its fencing token: an outcome is recorded only while
the row is still pending under that same lease. So a delivered row is never claimed, sent
or changed again, and an instance that lost its lease cannot overwrite what the new owner
recorded.

Delivery is at least once: a kill -9 between a send and its record sends again once the
lease expires (what was on the wire, and what ended in the last few milliseconds).
Receivers can tell: the webhook-id and the e-mail Message-ID are the delivery id, the
same on every attempt.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import asdict
from datetime import UTC, datetime
from uuid import UUID

import asyncpg
from opentelemetry import trace
from pydantic import ValidationError

from contracts.notices import OutgoingMessage
from services.common.sealing import sealer_from
from services.common.settings import Settings
from services.common.telemetry import current_trace_headers
from services.common.timeouts import running_time_limit
from services.common.worker import Worker
from services.notification.breakers import Admission, Breakers, Change
from services.notification.channels import Sent
from services.notification.channels.mail import MailChannel, RenderEmail
from services.notification.channels.webhook import WebhookChannel
from services.notification.delivery_policy import judge
from services.notification.delivery_record import (
    Claimed, Counts, HoldBack, Outcome, OutcomeRecorder, Release, Resume,
)
from services.notification.signing import WebhookSecrets

log = logging.getLogger(__name__)

EMAIL = "email"
WEBHOOK = "webhook"
SENT_CHANNELS = [EMAIL, WEBHOOK]  # feed items are read, not sent
# A send may only start while its lease still covers it with this much to spare, so
# that the lease cannot run out while the send is under way.
LEASE_SPARE_S = 5.0
# Once woken (a send ended), the claim waits this long for more sends to end, so that a
# busy stream claims in groups, not a row per statement.
CLAIM_LINGER_S = 0.01


class DeliveryDispatcher:
    """Sends pending deliveries in the background; see the module's docstring."""

    def __init__(
        self,
        pool: asyncpg.Pool,
        settings: Settings,
        service_name: str,
        *,
        on_commit=lambda: None,
        render_email: RenderEmail | None = None,
        on_delivered: Callable[[str, float], None] = lambda _channel, _seconds: None,
    ) -> None:
        """`on_delivered`: told the channel of each delivery made, and how long it was
        owed (from becoming pending to its outcome written; for metrics)."""
        self._pool = pool
        self._on_delivered = on_delivered
        self._settings = settings
        # The longest a send may take: once started it must end before the lease does.
        self._send_budget_s = max(settings.webhook_timeout_s, settings.smtp_timeout_s) + 1.0
        # A claimed row may start its send for as long as its lease covers the whole send
        # with room to spare; that window must be long enough to reach a free slot.
        if settings.delivery_lease_s < self._send_budget_s + 2 * LEASE_SPARE_S:
            raise ValueError(
                f"delivery_lease_s ({settings.delivery_lease_s}) must exceed the longest send "
                f"({self._send_budget_s}s) by at least {2 * LEASE_SPARE_S}s"
            )
        self._slots = asyncio.Semaphore(settings.delivery_concurrency)
        self._mail = MailChannel(settings, render_email)
        self._webhooks = WebhookChannel(settings)
        self._webhook_secrets = WebhookSecrets(sealer_from(settings))
        self.breakers = Breakers(settings.delivery_breaker_failures, settings.delivery_breaker_pause_s)
        self._recorder = OutcomeRecorder(pool, settings, service_name, on_commit=on_commit)
        self._held: dict[UUID, Claimed] = {}  # claimed, and not yet handed to the recorder
        self._sends: set[asyncio.Task] = set()
        self._worker = Worker(
            f"{service_name}-delivery",
            self._claim_pass,
            poll_interval_s=settings.delivery_poll_interval_s,
            backoff_initial_s=settings.retry_backoff_initial_s,
            backoff_max_s=settings.retry_backoff_max_s,
            linger_s=CLAIM_LINGER_S,
        )

    @property
    def totals(self) -> Counts:
        return self._recorder.totals

    def wake(self) -> None:
        """Called after a transaction that added pending deliveries commits, to send at once."""
        self._worker.wake()

    async def start(self) -> None:
        self._recorder.worker.start()
        self._worker.start()

    async def stop(self) -> None:
        """Claim nothing more, let the sends under way end (they are bounded), record
        them, stop. What cannot be recorded now is sent again after its lease."""
        await self._worker.stop(grace_s=LEASE_SPARE_S)
        if self._sends:
            await asyncio.wait(list(self._sends), timeout=self._send_budget_s)
        for task in list(self._sends):
            task.cancel()
        await asyncio.gather(*self._sends, return_exceptions=True)
        await self._recorder.worker.stop()
        try:
            await asyncio.wait_for(self._recorder.flush(), LEASE_SPARE_S)
        except Exception as error:  # noqa: BLE001 - stopping; said in the log
            log.warning("%d delivery outcomes not recorded at stop (%r); sent again after their lease",
                        self._recorder.queued, error)
        await self._mail.close()
        await self._webhooks.close()

    async def dispatch_once(self) -> int:
        """One claim, its sends awaited and their outcomes recorded; returns how many
        deliveries were claimed. For tests and tools; the service runs the pipeline."""
        await self._recorder.flush()
        claimed = await self._claim_and_send()
        while self._sends:  # each send waits for its outcome to be written: write them
            await asyncio.wait(list(self._sends), timeout=0.005)
            await self._recorder.flush()
        await self._recorder.flush()
        return claimed

    async def health(self) -> dict:
        """How delivery is doing, for /health: per channel, the deliveries not yet sent
        and how long the oldest has waited; the peers held back by an open circuit breaker
        (since when, why, the next probe); the claim and record workers."""
        body: dict = {
            "claiming": asdict(self._worker.health()),
            "recording": asdict(self._recorder.worker.health()),
            "sending": len(self._held),
            "unrecorded": self._recorder.queued,
            "open_breakers": [
                {"peer": b.peer, "since": b.since.isoformat(), "reason": b.reason,
                 "next_probe_at": b.next_probe_at.isoformat()}
                for b in self.breakers.open_breakers()
            ],
        }
        try:
            async with self._pool.acquire(timeout=2) as conn:
                rows = await conn.fetch(
                    "SELECT channel, count(*) AS pending,"
                    "  count(*) FILTER (WHERE next_attempt_at <= now()) AS due,"
                    "  extract(epoch FROM now() - min(pending_since))::float8 AS oldest_pending_s,"
                    "  extract(epoch FROM now() - min(next_attempt_at) FILTER (WHERE next_attempt_at <= now()))::float8"
                    "   AS oldest_due_s"
                    " FROM deliveries WHERE status = 'pending' AND channel = ANY($1::text[]) GROUP BY channel",
                    SENT_CHANNELS, timeout=2,
                )
            body["channels"] = {
                channel: {"pending": 0, "due": 0, "oldest_pending_s": None, "oldest_due_s": None}
                for channel in SENT_CHANNELS
            } | {row["channel"]: {k: row[k] for k in ("pending", "due", "oldest_pending_s", "oldest_due_s")}
                 for row in rows}
        except Exception as error:  # noqa: BLE001 - reported, not raised
            body["channels"] = f"unknown: {type(error).__name__}: {error}"
        return body

    # --- claim -------------------------------------------------------------------------

    async def _claim_pass(self) -> bool:
        # What ended is recorded before anything new is claimed: while the database is
        # away this fails, and the Worker tries again after a backoff.
        await self._recorder.flush()
        claimed = await self._claim_and_send()
        return claimed > 0 and len(self._held) < self._settings.delivery_batch_size

    async def _claim_and_send(self) -> int:
        room = self._settings.delivery_batch_size - len(self._held)
        # While sends are under way, claim in groups of a quarter batch at least: a claim
        # per freed slot costs a transaction per delivery or two.
        if room <= 0 or (self._held and room < self._settings.delivery_batch_size // 4):
            return 0
        loop = asyncio.get_running_loop()
        claimed_at = loop.time()
        claimed, secrets = await self._claim(room)
        # Sends waiting for a slot may only start while the lease covers them whole.
        start_by = claimed_at + self._settings.delivery_lease_s - self._send_budget_s - LEASE_SPARE_S
        for row in claimed:
            self._held[row.delivery_id] = row
            task = asyncio.create_task(self._deliver(row, secrets.get(row.subscription_id, []), claimed_at, start_by))
            self._sends.add(task)
            task.add_done_callback(self._sends.discard)
        return len(claimed)

    def _peer_rooms(self) -> tuple[list[str], dict[str, int]]:
        """The peers none of whose deliveries may be claimed now, and how many more of
        each other webhook host's (or of a peer due a probe: one) may be."""
        rooms: dict[str, int] = {}
        busy: set[str] = set()
        for row in self._held.values():
            busy.add(row.peer)
            if row.channel == WEBHOOK:
                rooms[row.peer] = rooms.get(row.peer, self._settings.delivery_webhook_host_concurrency) - 1
        for peer in self.breakers.probing_allowed():
            rooms[peer] = 0 if peer in busy else 1
        closed = set(self.breakers.held_back()) | {peer for peer, room in rooms.items() if room <= 0}
        return sorted(closed), {peer: room for peer, room in rooms.items() if room > 0}

    async def _claim(self, limit: int) -> tuple[list[Claimed], dict[UUID, list[str]]]:
        closed, rooms = self._peer_rooms()
        # One transaction: rows claimed without their secrets would sit leased, unsent.
        async with self._pool.acquire() as conn, conn.transaction():
            rows = await conn.fetch(
                "WITH candidate AS ("
                "  SELECT delivery_id, channel, coalesce(peer, '') AS peer, next_attempt_at FROM deliveries"
                "  WHERE status = 'pending' AND channel = ANY($3::text[]) AND next_attempt_at <= now()"
                "    AND (lease_until IS NULL OR lease_until < now())"
                # not what this instance still holds: after a pause (a stalled process,
                # a frozen VM) its leases may have run out with its sends under way
                "    AND delivery_id <> ALL($9::uuid[])"
                # a peer held back keeps its deliveries, except those past their horizon: they give up
                "    AND (coalesce(peer, '') <> ALL($4::text[]) OR pending_since + make_interval(secs => $5) <= now())"
                "  ORDER BY next_attempt_at LIMIT $2 FOR UPDATE SKIP LOCKED),"
                " ranked AS ("
                "  SELECT delivery_id, channel, peer, row_number() OVER (PARTITION BY peer ORDER BY next_attempt_at) AS place"
                "  FROM candidate),"
                " chosen AS ("
                "  SELECT ranked.delivery_id FROM ranked"
                "  LEFT JOIN unnest($6::text[], $7::int[]) AS room(peer, n) ON room.peer = ranked.peer"
                "  WHERE ranked.place <= coalesce(room.n, CASE ranked.channel WHEN 'webhook' THEN $8 ELSE $2 END))"
                " UPDATE deliveries d SET lease_until = now() + make_interval(secs => $1)"
                " FROM chosen WHERE d.delivery_id = chosen.delivery_id"
                " RETURNING d.delivery_id, d.subscription_id, d.recipient_key, d.channel, d.destination,"
                "  coalesce(d.peer, '') AS peer,"
                "  d.message::text AS message, d.attempts,"
                "  extract(epoch FROM now() - d.pending_since)::float8 AS pending_for_s, d.lease_until",
                self._settings.delivery_lease_s,
                limit,
                SENT_CHANNELS,
                closed,
                self._settings.delivery_give_up_after_s,
                list(rooms),
                list(rooms.values()),
                self._settings.delivery_webhook_host_concurrency,
                list(self._held),
            )
            claimed = [Claimed(**dict(row)) for row in rows]
            hooked = {row.subscription_id for row in claimed if row.channel == WEBHOOK and row.subscription_id}
            secrets = await self._webhook_secrets.valid_of(conn, list(hooked)) if hooked else {}
        return claimed, secrets

    # --- send --------------------------------------------------------------------------

    async def _deliver(self, row: Claimed, secrets: list[str], claimed_at: float, start_by: float) -> None:
        loop = asyncio.get_running_loop()
        try:
            async with self._slots:
                if loop.time() > start_by:
                    self._recorder.add(Release(row))
                    return
                if self.breakers.admit(row.peer) is Admission.HOLD:
                    self._hold(row, loop.time() - claimed_at)
                    return
                outcome = await self._attempt(row, secrets, loop.time() - claimed_at)
                change = self.breakers.record(row.peer, outcome.sent.peer, outcome.sent.error)
                if change is Change.OPENED:
                    hold_s = self.breakers.hold_for_s(row.peer)
                    log.warning("deliveries to %s held back for %.0fs: %s", row.peer, hold_s, outcome.sent.error)
                elif change is Change.CLOSED:
                    log.info("deliveries to %s resumed: it answers again", row.peer)
                # The slot is kept until the outcome is written: sent but unrecorded is
                # then never more than the slots, whatever a kill -9 interrupts.
                await self._recorder.write(outcome)
                if outcome.verdict.result == "delivered":
                    self._on_delivered(row.channel, row.pending_for_s + loop.time() - claimed_at)
                if change is Change.OPENED:
                    self._recorder.add(HoldBack(row.peer, self.breakers.hold_for_s(row.peer)))
                elif change is Change.CLOSED:
                    self._recorder.add(Resume(row.peer))
        finally:
            self._held.pop(row.delivery_id, None)
            self._worker.wake()  # room for another claim

    def _hold(self, row: Claimed, held_s: float) -> None:
        """A delivery whose peer is held back waits for the probe, attempts unspent;
        past its horizon it gives up, unsent."""
        now = datetime.now(UTC)
        sent = Sent(ok=False, peer=None, error=f"not sent: {row.peer} is held back after failing: "
                    + next((b.reason or "" for b in self.breakers.open_breakers() if b.peer == row.peer), ""))
        verdict = judge(sent, attempt=row.attempts + 1, pending_for_s=row.pending_for_s + held_s,
                        settings=self._settings)
        if verdict.result != "gave-up":
            self._recorder.add(Release(row, self.breakers.hold_for_s(row.peer)))
            return
        self._recorder.add(Outcome(row, sent, verdict, attempted_at=now, done_at=now, message=None,
                                   trace_headers=current_trace_headers()))

    async def _attempt(self, row: Claimed, secrets: list[str], held_s: float) -> Outcome:
        attempted_at = datetime.now(UTC)
        message: OutgoingMessage | None = None
        with trace.get_tracer("redthread").start_as_current_span(
            f"notification deliver {row.channel}",
            kind=trace.SpanKind.CLIENT,
            attributes={"redthread.delivery_id": str(row.delivery_id), "redthread.channel": row.channel},
        ):
            try:
                message = OutgoingMessage.model_validate_json(row.message)
                async with running_time_limit(self._send_budget_s):
                    if row.channel == EMAIL:
                        sent = await self._mail.send(message, row.destination)
                    else:
                        sent = await self._webhooks.send(row.destination, row.delivery_id, message, secrets)
            except ValidationError as error:
                sent = Sent(ok=False, peer=None, error=f"the stored message is not an OutgoingMessage: {error}",
                            permanent=True)
            except TimeoutError:
                sent = Sent(ok=False, peer="down", error=f"no answer within {self._send_budget_s:g}s")
            except Exception as error:  # noqa: BLE001 - a surprise fails this attempt, not the others
                log.warning("delivery %s: unexpected failure", row.delivery_id, exc_info=True)
                sent = Sent(ok=False, peer=None, error=f"{type(error).__name__}: {error}")
            trace_headers = current_trace_headers()
        done_at = datetime.now(UTC)
        pending_for_s = row.pending_for_s + held_s + (done_at - attempted_at).total_seconds()
        verdict = judge(sent, attempt=row.attempts + 1, pending_for_s=pending_for_s, settings=self._settings)
        return Outcome(row, sent, verdict, attempted_at=attempted_at, done_at=done_at, message=message,
                       trace_headers=trace_headers)
