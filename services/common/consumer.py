"""The one way redthread consumes Kafka: in batches, exactly-once in effect.

For each batch, in ONE PostgreSQL transaction: claim every record in the inbox (a
record already claimed is a redelivery and is skipped), apply each new event's effect in
its own savepoint, and stage the resulting events, or a dead letter, in the outbox. The
offsets are committed only after that transaction. So:

- a crash anywhere before the commit redelivers the batch, and the inbox makes that harmless;
- a record that can never be handled (bad envelope, invalid data, a rule it breaks, a bug
  in its handler) becomes a dead letter with the reason, and the batch goes on: no silent
  drop, no poison loop;
- a failure that may pass (database or broker unreachable, a deadlock, SMTP down) fails
  the whole batch, which is redelivered after an exponential backoff.
"""

from __future__ import annotations

import asyncio
import base64
import logging
import traceback
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime

import asyncpg
from aiokafka import ConsumerRecord
from opentelemetry import trace

from contracts.envelope import CloudEvent, EnvelopeError, decode, encode, new_event
from contracts.events import DeadLetterRecord, ValidationProblem
from contracts.topics import DEAD_LETTERS, Topic
from services.common.outbox import add_raw_to_outbox, add_to_outbox
from services.common.settings import Settings
from services.common.telemetry import span_continuing

log = logging.getLogger(__name__)


class Rejected(Exception):
    """The event breaks a rule: dead-letter it with this reason, do not retry."""

    def __init__(self, reason: str, problems: list[tuple[str, str]] | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.problems = problems or []


class TransientError(Exception):
    """A failure that may pass (a peer is down): retry the batch after a backoff."""


TRANSIENT_ERRORS: tuple[type[BaseException], ...] = (
    TransientError,
    OSError,
    TimeoutError,
    asyncpg.PostgresConnectionError,
    asyncpg.InterfaceError,
    asyncpg.DeadlockDetectedError,
    asyncpg.SerializationError,
    asyncpg.CannotConnectNowError,
)


@dataclass
class HandlerContext:
    """What a handler may touch: the open transaction and the outbox within it."""

    conn: asyncpg.Connection
    settings: Settings
    event: CloudEvent
    staged: list[str] = field(default_factory=list)

    async def publish(self, topic: str, key: str | None, event: CloudEvent) -> None:
        await add_to_outbox(self.conn, self.settings.topic(topic), key, event)
        self.staged.append(event.id)


Handler = Callable[[HandlerContext, CloudEvent], Awaitable[None]]


@dataclass
class _Item:
    record: ConsumerRecord
    headers: dict[str, str]
    inbox_key: str
    event: CloudEvent | None = None
    failure: Rejected | None = None


@dataclass
class BatchOutcome:
    handled: int = 0
    duplicates: int = 0
    dead_lettered: int = 0
    skipped: int = 0


class EventConsumer:
    def __init__(
        self,
        name: str,
        pool: asyncpg.Pool,
        settings: Settings,
        handlers: dict[str, Handler],
        topics: Sequence[Topic],
        on_commit: Callable[[], None] = lambda: None,
    ) -> None:
        self.name = name
        # The registry says which event types belong on which topic; anything else on a
        # topic is refused. A type that belongs there but that this consumer has no
        # handler for is none of its business and is skipped.
        self._accepted_types = {settings.topic(topic.name): set(topic.event_types) for topic in topics}
        self._pool = pool
        self._settings = settings
        self._handlers = handlers
        self._on_commit = on_commit
        self._backoff = settings.retry_backoff_initial_s
        self.totals = BatchOutcome()

    async def consume(self, records: Sequence[ConsumerRecord]) -> BatchOutcome:
        """Handle a batch; raises only for transient failures, after backing off."""
        try:
            outcome = await self._consume(records)
        except TRANSIENT_ERRORS as error:
            log.warning("%s: transient failure, batch redelivered in %.1fs: %r", self.name, self._backoff, error)
            await asyncio.sleep(self._backoff)
            self._backoff = min(self._backoff * 2, self._settings.retry_backoff_max_s)
            raise
        self._backoff = self._settings.retry_backoff_initial_s
        self.totals.handled += outcome.handled
        self.totals.duplicates += outcome.duplicates
        self.totals.dead_lettered += outcome.dead_lettered
        self.totals.skipped += outcome.skipped
        return outcome

    async def _consume(self, records: Sequence[ConsumerRecord]) -> BatchOutcome:
        outcome = BatchOutcome()
        items = []
        for item in map(self._read, records):
            if item.event is not None and item.event.envelope.type not in self._handlers:
                outcome.skipped += 1
            else:
                items.append(item)
        async with self._pool.acquire() as conn:
            async with conn.transaction():
                fresh = set(
                    await conn.fetchval(
                        "WITH claimed AS ("
                        " INSERT INTO inbox (consumer, message_key) SELECT $1, unnest($2::text[])"
                        " ON CONFLICT DO NOTHING RETURNING message_key)"
                        " SELECT coalesce(array_agg(message_key), '{}') FROM claimed",
                        self.name,
                        [item.inbox_key for item in items],
                    )
                )
                for item in items:
                    if item.inbox_key not in fresh:
                        outcome.duplicates += 1
                        continue
                    fresh.discard(item.inbox_key)  # a key twice in one batch is handled once
                    if await self._handle(conn, item):
                        outcome.handled += 1
                    else:
                        outcome.dead_lettered += 1
        self._on_commit()
        return outcome

    def _read(self, record: ConsumerRecord) -> _Item:
        headers = {k: (v or b"").decode("utf-8", "replace") for k, v in record.headers or ()}
        fallback_key = f"{record.topic}/{record.partition}/{record.offset}"
        try:
            event = decode(headers, record.value, self._accepted_types.get(record.topic, set()))
        except EnvelopeError as error:
            key = headers.get("ce_id") or fallback_key
            return _Item(record, headers, f"{headers.get('ce_source', '')}|{key}", failure=Rejected(error.reason, error.problems))
        # The same id from two sources is two events (CloudEvents: source + id is unique).
        return _Item(record, headers, f"{event.envelope.source}|{event.id}", event=event)

    async def _handle(self, conn: asyncpg.Connection, item: _Item) -> bool:
        """Apply one event; False when it was dead-lettered instead."""
        if item.failure is not None:
            await self._dead_letter(conn, item, item.failure)
            return False
        event = item.event
        assert event is not None
        with span_continuing(
            f"{self.name} handle {event.envelope.type}",
            item.headers,
            trace.SpanKind.CONSUMER,
            {"messaging.system": "kafka", "messaging.source.name": item.record.topic, "cloudevents.event_id": event.id},
        ) as span:
            try:
                async with conn.transaction():  # a savepoint: a failed event leaves no trace
                    await self._handlers[event.envelope.type](HandlerContext(conn, self._settings, event), event)
                return True
            except TRANSIENT_ERRORS:
                raise
            except Rejected as rejection:
                span.set_status(trace.Status(trace.StatusCode.ERROR, rejection.reason))
                await self._dead_letter(conn, item, rejection)
            except Exception as error:  # noqa: BLE001 - a bug must not stop the stream
                log.exception("%s: handler failed on %s", self.name, event.id)
                span.record_exception(error)
                where = traceback.extract_tb(error.__traceback__)[-1]
                await self._dead_letter(
                    conn, item, Rejected(f"handler error {type(error).__name__}: {error} (at {where.name}:{where.lineno})")
                )
            return False

    async def _dead_letter(self, conn: asyncpg.Connection, item: _Item, rejection: Rejected) -> None:
        record = item.record
        log.warning(
            "%s: dead-lettering %s/%d/%d: %s", self.name, record.topic, record.partition, record.offset, rejection.reason
        )
        value = record.value or b""
        try:
            text, encoding = value.decode("utf-8"), "utf-8"
        except UnicodeDecodeError:
            text, encoding = base64.b64encode(value).decode(), "base64"
        letter = DeadLetterRecord(
            consumer=self.name,
            reason=rejection.reason[:2000],
            problems=[ValidationProblem(location=loc, message=msg) for loc, msg in rejection.problems[:50]],
            source_topic=record.topic,
            source_partition=record.partition,
            source_offset=record.offset,
            original_key=record.key.decode("utf-8", "replace") if record.key else None,
            original_headers=item.headers,
            original_value=text,
            original_value_encoding=encoding,
            failed_at=datetime.now(UTC),
        )
        event = new_event(letter, source=f"/redthread/{self.name}", subject=record.topic)
        body, headers = encode(event)
        headers |= {
            "dlq_reason": letter.reason,
            "dlq_consumer": self.name,
            "dlq_source_topic": record.topic,
            "dlq_source_partition": str(record.partition),
            "dlq_source_offset": str(record.offset),
        }
        await add_raw_to_outbox(conn, self._settings.topic(DEAD_LETTERS.name), record.topic, body, headers)
