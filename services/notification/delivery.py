"""The delivery dispatcher: sends what is owed in `deliveries`, by e-mail or as a Standard
Webhooks call, retries with backoff, and dead-letters what cannot be delivered.

A round, repeated every `delivery_poll_interval_s` or when woken:

1. claim: due pending rows get a lease (`lease_until`) in one statement. `FOR UPDATE SKIP
   LOCKED` lets several instances claim side by side; a lease left by a crashed instance
   expires and the row is claimed again.
2. send: the claimed rows concurrently, at most `delivery_concurrency` at once.
3. record: every outcome of the round in one transaction, with the attempt rows and the
   events it causes (NotificationDispatched, or a dead letter) staged in the outbox.

The lease a row was claimed with is its fencing token: an outcome is recorded only while
the row is still pending under that same lease. So a delivered row is never claimed, sent
or changed again, and an instance that lost its lease (it stalled past the lease) cannot
overwrite what the new owner recorded.

Delivery is at least once: a crash between sending and recording sends again once the
lease expires. Receivers can tell: the webhook-id and the e-mail Message-ID are the
delivery id, the same on every attempt.
"""

from __future__ import annotations

import asyncio
import socket
import logging
import random
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from email.message import EmailMessage
from typing import Literal
from uuid import UUID

import aiosmtplib
import asyncpg
import httpx
from opentelemetry import trace
from pydantic import ValidationError

from contracts.envelope import derived_event_id, encode, new_event
from contracts.events import Confidentiality, NotificationDispatched
from contracts.notices import MatchNotice, OutgoingMessage
from contracts.topics import NOTIFICATIONS
from services.common.dead_letters import Origin, dead_letter
from services.common.outbox import OutboxRow, stage_rows
from services.common.settings import Settings
from services.common.telemetry import current_trace_headers
from services.notification.signing import signature_header, valid_secrets_of

log = logging.getLogger(__name__)

EMAIL = "email"
WEBHOOK = "webhook"
USER_AGENT = "redthread-notification"
SMTP_TIMEOUT_S = 10.0
LOCAL_HOSTNAME = socket.gethostname()
# Dead letters name where the failed item came from; deliveries come from a table, not a
# topic, so they carry this name and no partition or offset (-1).
DELIVERIES_SOURCE = "notification.deliveries"
ERROR_MAX_CHARS = 1000
# A webhook receiver's 2xx answer is read (and dropped) up to this size, so that its
# connection can be used again; a longer one costs the connection, nothing else.
SUCCESS_BODY_MAX_BYTES = 64 * 1024
# A send may only start while its lease still covers it with this much to spare, so
# that the lease cannot run out while the send is under way.
LEASE_SPARE_S = 5.0

RenderEmail = Callable[..., EmailMessage]
Result = Literal["delivered", "failed", "gave-up"]


@dataclass(frozen=True)
class Claimed:
    delivery_id: UUID
    subscription_id: UUID | None
    channel: str
    destination: str
    message: str  # the OutgoingMessage as stored (JSON)
    attempts: int  # before this attempt
    lease_until: datetime  # the fencing token


@dataclass(frozen=True)
class Sent:
    """What one attempt came to, before it is judged against the attempts left."""

    ok: bool
    status_code: int | None = None
    error: str | None = None
    permanent: bool = False  # retrying cannot help (a refused recipient, a broken message)
    subject: str | None = None  # of the e-mail sent


@dataclass(frozen=True)
class Outcome:
    claimed: Claimed
    sent: Sent
    result: Result
    retry_in_s: float | None
    attempted_at: datetime
    done_at: datetime
    message: OutgoingMessage | None
    trace_headers: dict[str, str]


@dataclass
class RoundCounts:
    delivered: int = 0
    failed: int = 0
    gave_up: int = 0
    released: int = 0  # claimed, but the lease was too short to start; claimable at once
    lost: int = 0  # sent, but the lease had passed to another instance: not recorded


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
            timeout=SMTP_TIMEOUT_S,
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
                await client.quit()
            except (aiosmtplib.SMTPException, OSError, TimeoutError):
                client.close()


class DeliveryDispatcher:
    """Sends pending deliveries in the background; see the module's docstring."""

    def __init__(
        self,
        pool: asyncpg.Pool,
        settings: Settings,
        service_name: str,
        *,
        on_commit: Callable[[], None] = lambda: None,
        render_email: RenderEmail | None = None,
    ) -> None:
        self._pool = pool
        self._settings = settings
        self._service = service_name
        self._on_commit = on_commit  # wakes the outbox relay after events were staged
        self._render_email = render_email  # None: services.notification.templates.render_email
        self._source = f"/redthread/{service_name}"
        self._consumer = f"{service_name}-delivery"
        # The longest a send may take: once started it must end before the lease does.
        self._send_budget_s = max(settings.webhook_timeout_s, SMTP_TIMEOUT_S) + 1.0
        if settings.delivery_lease_s < self._send_budget_s + LEASE_SPARE_S:
            raise ValueError(
                f"delivery_lease_s ({settings.delivery_lease_s}) must exceed the longest send "
                f"({self._send_budget_s}s) by at least {LEASE_SPARE_S}s"
            )
        self._slots = asyncio.Semaphore(settings.delivery_concurrency)
        self._http = httpx.AsyncClient(
            timeout=settings.webhook_timeout_s,
            # A redirect is the receiver's answer, not ours to follow: it counts as a failure.
            follow_redirects=False,
            limits=httpx.Limits(max_connections=settings.delivery_concurrency),
            headers={"user-agent": USER_AGENT},
        )
        self._smtp = SmtpConnections(settings)
        self._wake = asyncio.Event()
        self._stopping = False
        self._task: asyncio.Task | None = None
        self.totals = RoundCounts()

    def wake(self) -> None:
        """Called after a transaction that added pending deliveries commits, to send at once."""
        self._wake.set()

    async def start(self) -> None:
        self._stopping = False
        self._task = asyncio.create_task(self._run(), name=f"{self._service}-delivery")

    async def stop(self) -> None:
        """Let the round under way finish (its sends are bounded), then stop. A round cut
        short keeps its leases, and its rows are sent again once they expire."""
        self._stopping = True
        self._wake.set()
        if self._task:
            try:
                await asyncio.wait_for(self._task, self._send_budget_s + LEASE_SPARE_S)
            except (TimeoutError, asyncio.CancelledError):
                log.warning("delivery round cut short at stop; its rows are sent again after their lease")
            self._task = None
        await self._http.aclose()
        await self._smtp.close()

    async def _run(self) -> None:
        backoff = self._settings.retry_backoff_initial_s
        while not self._stopping:
            # Cleared before the round, so that a wake during the round starts the next at once.
            self._wake.clear()
            try:
                claimed = await self.dispatch_once()
                backoff = self._settings.retry_backoff_initial_s
            except asyncio.CancelledError:
                raise
            except Exception as error:  # noqa: BLE001 - the loop must outlive any failure
                log.warning("delivery round failed, next in %.1fs: %r", backoff, error, exc_info=True)
                await self._nap(backoff)
                backoff = min(backoff * 2, self._settings.retry_backoff_max_s)
                continue
            if claimed < self._settings.delivery_batch_size:
                await self._nap(self._settings.delivery_poll_interval_s)

    async def _nap(self, seconds: float) -> None:
        try:
            await asyncio.wait_for(self._wake.wait(), seconds)
        except TimeoutError:
            pass

    async def dispatch_once(self) -> int:
        """One round: claim, send, record. Returns how many deliveries were claimed."""
        claimed_at = asyncio.get_running_loop().time()
        claimed, secrets = await self._claim()
        if not claimed:
            return 0
        # Sends waiting for a slot may only start while the lease covers them whole.
        start_by = claimed_at + self._settings.delivery_lease_s - self._send_budget_s - LEASE_SPARE_S
        outcomes = await asyncio.gather(*(self._attempt(row, secrets, start_by) for row in claimed))
        attempted = [outcome for outcome in outcomes if outcome is not None]
        released = [row for row, outcome in zip(claimed, outcomes, strict=True) if outcome is None]
        counts = await self._record_with_retries(attempted, released)
        log.info(
            "deliveries: %d delivered, %d failed and retried later, %d gave up%s%s",
            counts.delivered, counts.failed, counts.gave_up,
            f", {counts.released} left for the next round" if counts.released else "",
            f", {counts.lost} not recorded (lease lost)" if counts.lost else "",
        )
        for name in vars(counts):
            setattr(self.totals, name, getattr(self.totals, name) + getattr(counts, name))
        return len(claimed)

    # --- claim -------------------------------------------------------------------------

    async def _claim(self) -> tuple[list[Claimed], dict[UUID, list[str]]]:
        async with self._pool.acquire() as conn:
            rows = await conn.fetch(
                "UPDATE deliveries SET lease_until = now() + make_interval(secs => $1)"
                " WHERE delivery_id IN ("
                "  SELECT delivery_id FROM deliveries"
                "  WHERE status = 'pending' AND channel = ANY($3::text[]) AND next_attempt_at <= now()"
                "    AND (lease_until IS NULL OR lease_until < now())"
                "  ORDER BY next_attempt_at LIMIT $2 FOR UPDATE SKIP LOCKED)"
                " RETURNING delivery_id, subscription_id, channel, destination, message::text AS message,"
                "  attempts, lease_until",
                self._settings.delivery_lease_s,
                self._settings.delivery_batch_size,
                [EMAIL, WEBHOOK],  # feed items are read, not sent
            )
            claimed = [Claimed(**dict(row)) for row in rows]
            hooked = {row.subscription_id for row in claimed if row.channel == WEBHOOK and row.subscription_id}
            secrets = await valid_secrets_of(conn, list(hooked)) if hooked else {}
        return claimed, secrets

    # --- send --------------------------------------------------------------------------

    async def _attempt(self, row: Claimed, secrets: dict[UUID, list[str]], start_by: float) -> Outcome | None:
        """Send one claimed delivery; None when its lease no longer covers a send."""
        async with self._slots:
            if asyncio.get_running_loop().time() > start_by:
                return None
            attempted_at = datetime.now(UTC)
            message: OutgoingMessage | None = None
            with trace.get_tracer("redthread").start_as_current_span(
                f"notification deliver {row.channel}",
                kind=trace.SpanKind.CLIENT,
                attributes={"redthread.delivery_id": str(row.delivery_id), "redthread.channel": row.channel},
            ):
                try:
                    message = OutgoingMessage.model_validate_json(row.message)
                    async with asyncio.timeout(self._send_budget_s):
                        sent = await self._send(row, message, secrets)
                except ValidationError as error:
                    sent = Sent(ok=False, error=f"the stored message is not an OutgoingMessage: {error}", permanent=True)
                except Exception as error:  # noqa: BLE001 - a surprise fails this attempt, not the round
                    log.warning("delivery %s: unexpected failure", row.delivery_id, exc_info=True)
                    sent = Sent(ok=False, error=f"{type(error).__name__}: {error}")
                trace_headers = current_trace_headers()
        attempt = row.attempts + 1
        if sent.ok:
            result: Result = "delivered"
        elif sent.permanent or attempt >= self._settings.delivery_max_attempts:
            result = "gave-up"
        else:
            result = "failed"
        return Outcome(
            claimed=row,
            sent=sent,
            result=result,
            retry_in_s=self._backoff(attempt) if result == "failed" else None,
            attempted_at=attempted_at,
            done_at=datetime.now(UTC),
            message=message,
            trace_headers=trace_headers,
        )

    def _backoff(self, attempt: int) -> float:
        """Exponential, capped, with full jitter: retries of many deliveries that failed
        together (a receiver was down) spread out instead of arriving together."""
        ceiling = min(self._settings.delivery_backoff_max_s, self._settings.delivery_backoff_initial_s * 2 ** (attempt - 1))
        return random.uniform(0, ceiling)  # noqa: S311 - jitter, not a secret

    async def _send(self, row: Claimed, message: OutgoingMessage, secrets: dict[UUID, list[str]]) -> Sent:
        if row.channel == EMAIL:
            return await self._send_email(row, message)
        signing = secrets.get(row.subscription_id) if row.subscription_id else None
        if not signing:
            # Never unsigned: a secret may yet be added, so this is an ordinary failed attempt.
            return Sent(ok=False, error="no valid webhook secret for the subscription")
        return await self._send_webhook(row, message, signing)

    async def _send_email(self, row: Claimed, message: OutgoingMessage) -> Sent:
        render = self._render_email or _templates_render_email()
        try:
            email = render(message, sender=self._settings.mail_from)
        except Exception as error:  # noqa: BLE001 - rendering is deterministic: retrying gives the same
            return Sent(ok=False, error=f"cannot be rendered as e-mail: {type(error).__name__}: {error}", permanent=True)
        subject = str(email["Subject"] or "")
        try:
            # The row's destination is the envelope recipient, whatever the headers say.
            await self._smtp.send(email, row.destination)
        except aiosmtplib.SMTPRecipientsRefused as refused:
            codes = [recipient.code for recipient in refused.recipients]
            # 5xx: the mailbox does not exist or will not take it. 4xx (greylisting, a
            # full mailbox) may pass, so it is retried like a connection problem.
            return Sent(
                ok=False,
                status_code=codes[0] if codes else None,
                error=f"the mail server refused {row.destination}: "
                + "; ".join(f"{r.code} {r.message}" for r in refused.recipients),
                permanent=bool(codes) and all(code >= 500 for code in codes),
                subject=subject,
            )
        except aiosmtplib.SMTPResponseException as error:
            return Sent(ok=False, status_code=error.code, error=f"mail server: {error.code} {error.message}", subject=subject)
        except (aiosmtplib.SMTPException, OSError, TimeoutError) as error:
            where = f"{self._settings.smtp_host}:{self._settings.smtp_port}"
            return Sent(ok=False, error=f"mail server {where}: {type(error).__name__}: {error}", subject=subject)
        return Sent(ok=True, subject=subject)

    async def _send_webhook(self, row: Claimed, message: OutgoingMessage, secrets: list[str]) -> Sent:
        body = message.model_dump_json().encode()  # exactly the bytes signed
        msg_id = str(row.delivery_id)
        timestamp = datetime.now(UTC).replace(microsecond=0)
        headers = {
            "webhook-id": msg_id,
            "webhook-timestamp": str(int(timestamp.timestamp())),
            "webhook-signature": signature_header(secrets, msg_id, timestamp, body),
            "content-type": "application/json",
        }
        answered: Sent | None = None  # a 2xx: delivered, whatever happens to the connection after it
        try:
            # httpx's timeout bounds each step; this bounds the whole call, so that a
            # receiver answering a byte at a time cannot hold a slot.
            async with asyncio.timeout(self._settings.webhook_timeout_s):
                async with self._http.stream("POST", row.destination, content=body, headers=headers) as response:
                    if response.is_success:
                        answered = Sent(ok=True, status_code=response.status_code)
                        # Read the (usually empty) answer to its end, within bounds: a
                        # response left unread closes its connection, and every call
                        # would open a new one (and, over https, a new TLS session).
                        await _read_at_most(response, SUCCESS_BODY_MAX_BYTES)
                        return answered
                    excerpt = await _read_at_most(response, 300)
                    return Sent(
                        ok=False,
                        status_code=response.status_code,
                        error=f"HTTP {response.status_code}: {excerpt}".rstrip(": "),
                    )
        except (httpx.UnsupportedProtocol, httpx.InvalidURL) as error:
            return Sent(ok=False, error=f"webhook URL {row.destination!r} cannot be called: {error}", permanent=True)
        except (httpx.HTTPError, OSError, TimeoutError) as error:
            return answered or Sent(ok=False, error=f"{type(error).__name__}: {error}".rstrip(": "))

    # --- record ------------------------------------------------------------------------

    async def _record_with_retries(self, attempted: list[Outcome], released: list[Claimed]) -> RoundCounts:
        """Record the round; a database hiccup is retried while the leases last, since
        the messages have left and an unrecorded round is sent again."""
        pause = 0.2
        for _ in range(3):
            try:
                return await self._record(attempted, released)
            except (OSError, asyncpg.PostgresConnectionError, asyncpg.InterfaceError,
                    asyncpg.DeadlockDetectedError, asyncpg.SerializationError) as error:
                log.warning("recording %d delivery outcomes failed, retrying: %r", len(attempted), error)
                await asyncio.sleep(pause)
                pause *= 4
        return await self._record(attempted, released)

    async def _record(self, attempted: list[Outcome], released: list[Claimed]) -> RoundCounts:
        counts = RoundCounts(released=len(released))
        staged: list[OutboxRow] = []
        async with self._pool.acquire() as conn, conn.transaction():
            if attempted:
                recorded = set(
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
                        [o.claimed.delivery_id for o in attempted],
                        [o.claimed.lease_until for o in attempted],
                        [o.result for o in attempted],
                        [o.sent.status_code for o in attempted],
                        [_truncated(o.sent.error) for o in attempted],
                        [o.retry_in_s for o in attempted],
                        [o.attempted_at for o in attempted],
                        [o.done_at for o in attempted],
                    )
                )
                kept = [o for o in attempted if o.claimed.delivery_id in recorded]
                counts.lost = len(attempted) - len(kept)
                delivered = [o for o in kept if o.result == "delivered"]
                facts = await _match_facts(conn, delivered)
                for outcome in kept:
                    if outcome.result == "delivered":
                        counts.delivered += 1
                        staged += self._dispatched_events(outcome, facts)
                    elif outcome.result == "gave-up":
                        counts.gave_up += 1
                        staged.append(self._dead_letter(outcome))
                    else:
                        counts.failed += 1
                await stage_rows(conn, staged)
            if released:
                await conn.execute(
                    "UPDATE deliveries d SET lease_until = NULL"
                    " FROM unnest($1::uuid[], $2::timestamptz[]) AS r(delivery_id, lease_until)"
                    " WHERE d.delivery_id = r.delivery_id AND d.status = 'pending' AND d.lease_until = r.lease_until",
                    [row.delivery_id for row in released],
                    [row.lease_until for row in released],
                )
        if counts.lost:
            log.warning(
                "%d deliveries were sent after their lease had passed to another instance; their outcome is not"
                " recorded here", counts.lost,
            )
        if staged:
            self._on_commit()
        return counts

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
                recipient=row.destination[:300],
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
            f"{row.channel} delivery to {row.destination} gave up after {attempts} attempt"
            f"{'s' if attempts != 1 else ''}{' (permanent failure)' if sent.permanent else ''}: {sent.error}"
        )
        return dead_letter(
            self._settings,
            consumer=self._consumer,
            source=self._source,
            reason=reason,
            origin=Origin(
                DELIVERIES_SOURCE,
                row.message,
                key=str(row.delivery_id),
                headers={
                    "delivery_id": str(row.delivery_id),
                    "subscription_id": str(row.subscription_id or ""),
                    "channel": row.channel,
                    "destination": row.destination,
                    "attempts": str(attempts),
                    **({"status_code": str(sent.status_code)} if sent.status_code is not None else {}),
                },
            ),
            event_id=derived_event_id("delivery-dead-letter", row.delivery_id),
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


def _templates_render_email() -> RenderEmail:
    # Imported when first needed: the templates live beside this module and change
    # independently of it.
    from services.notification.templates import render_email

    return render_email


async def _read_at_most(response: httpx.Response, limit: int) -> str:
    """The start of a response body, for the error text; never the whole of a large one."""
    chunks = bytearray()
    async for chunk in response.aiter_bytes():
        chunks += chunk
        if len(chunks) >= limit:
            break
    return chunks[:limit].decode("utf-8", "replace").replace("\x00", "\ufffd").strip()


def _truncated(text: str | None) -> str | None:
    return text.replace("\x00", "\ufffd")[:ERROR_MAX_CHARS] if text else text
