"""The one way redthread consumes Kafka: in batches, exactly-once in effect.

For each batch, in ONE PostgreSQL transaction: claim every record in the inbox (a
record already claimed is a redelivery and is skipped), apply the new events, and stage
the resulting events, or dead letters, in the outbox with one statement. The offsets are
committed only after that transaction. So:

- a crash anywhere before the commit redelivers the batch, and the inbox makes that harmless;
- a record that can never be handled (bad envelope, invalid data, a rule it breaks, a bug
  in its handler) becomes a dead letter with the reason, and the batch goes on: no silent
  drop, no poison loop;
- a failure that may pass (services.common.failures.is_transient: database or broker
  unreachable, a deadlock, a statement timeout, disk full) fails the whole batch, which
  is redelivered after an exponential backoff;
- a permanent failure outside the handlers (a record the inbox or outbox cannot take)
  splits the batch and retries it record by record, and the one record that still fails
  becomes a dead letter: no single record, whatever its shape or size, stops the stream.

The inbox key is the CloudEvents source and id (hashed when it is too long to index),
stored with a digest of the record. A record that was refused may be sent again under
the same id, corrected, and is handled like a new one; a different record under an id
already accepted is refused with that reason. The refused record itself, redelivered,
is not dead-lettered again (the inbox keeps where it was), and its dead letter's id is
derived from that place, so a copy would be the same dead letter to whoever reads them.

Handling is fast when nothing goes wrong: the whole batch runs in one savepoint. Only if
a handler fails is that savepoint rolled back and the batch replayed one event at a time,
each in its own savepoint, so that exactly the failing events are dead-lettered.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import time
import traceback
from collections import Counter
from collections.abc import Awaitable, Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field

import asyncpg
from aiokafka import ConsumerRecord
from opentelemetry import propagate, trace

from contracts.envelope import CloudEvent, EnvelopeError, decode, derived_event_id, encode
from contracts.events import CONTRACTS_BY_TYPE
from contracts.topics import DEAD_LETTERS, Topic, partner_topic_owner
from services.common.db import transaction
from services.common.dead_letters import Origin, dead_letter
from services.common.failures import TransientError, is_transient
from services.common.logs import about_event
from services.common.outbox import OutboxRow, spans_recorded, stage_rows
from services.common.person_keys import KEY_WAIT_S, Keyring, PersonKeyNotYetKnown, PersonKeys, key_has_waited
from services.common.settings import Settings
from services.common.telemetry import current_trace_headers, event_attributes

log = logging.getLogger(__name__)


class Rejected(Exception):
    """The event breaks a rule: dead-letter it with this reason, do not retry."""

    def __init__(self, reason: str, problems: list[tuple[str, str]] | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.problems = problems or []


__all__ = ["BatchContext", "EventConsumer", "HandlerContext", "Rejected", "TransientError", "per_event"]

# Inbox keys longer than this are stored as their SHA-256: PostgreSQL cannot index a key
# of a few kilobytes (a btree entry must fit a third of a page), and a partner's id may
# be as long as a record.
INBOX_KEY_MAX_CHARS = 512


class BatchContext:
    """What handlers may touch while a batch is handled: the open transaction, the
    outbox (staged rows are written in one statement at the end), and the trace span of
    each event, so that what an event causes continues its trace."""

    def __init__(self, conn: asyncpg.Connection, settings: Settings, person_keys: PersonKeys | None = None) -> None:
        self.conn = conn
        self.settings = settings
        self.person_keys = person_keys or PersonKeys(settings, issuer=False)
        self.staged: list[OutboxRow] = []
        self.rejections: dict[str, Rejected] = {}
        self.topic_of: dict[str, str] = {}  # event id -> the registry name of the topic it came on
        self._undo: list[Callable[[], None]] = []
        self._spans: dict[str, trace.Span] = {}
        self._trace_headers: dict[str, dict[str, str]] = {}  # event id -> traceparent of its span

    def publish(self, topic: str, key: str | None, event: CloudEvent, cause: CloudEvent | None = None) -> None:
        """Stage `event` for the registry topic `topic`; `cause` names the event whose
        trace it continues (the current span when None)."""
        value, headers = encode(event)
        self.publish_record(topic, key, value, headers, cause)

    def publish_record(
        self, topic: str, key: str | None, value: bytes, headers: dict[str, str], cause: CloudEvent | None = None
    ) -> None:
        """Stage an event already encoded as contracts.envelope.encode encodes it (for a
        handler that builds its records directly); otherwise as `publish`."""
        if cause is not None and cause.id in self._trace_headers:
            headers |= self._trace_headers[cause.id]
        else:
            headers |= current_trace_headers()
        self.staged.append(OutboxRow(self.settings.topic(topic), key.encode() if key else None, value, headers))

    async def write_outbox(self) -> None:
        """Write what was staged into the outbox, with the persons it carries sealed."""
        await stage_rows(self.conn, await self.person_keys.seal_rows(self.conn, self.staged))

    def on_rollback(self, undo: Callable[[], None]) -> None:
        """Register how to undo a change to in-memory state (an index, a cache) made
        while handling, should the database work it belongs to be rolled back."""
        self._undo.append(undo)

    def roll_back_memory(self, to: int = 0) -> None:
        """Undo in-memory changes registered after mark `to`, newest first."""
        while len(self._undo) > to:
            self._undo.pop()()

    @property
    def undo_mark(self) -> int:
        return len(self._undo)

    def reject(self, event: CloudEvent, rejection: Rejected) -> None:
        """Dead-letter `event` with this reason, without failing the rest of the batch."""
        self.rejections[event.id] = rejection

    @contextmanager
    def span_of(self, event: CloudEvent) -> Iterator[None]:
        """Inside, `event`'s span is the current one, and log lines name the event."""
        span = self._spans.get(event.id)
        with about_event(event.id, event.envelope.type):
            if span is None:
                yield
                return
            with trace.use_span(span, end_on_exit=False):
                yield


@dataclass
class HandlerContext:
    """A per-event handler's view of the batch: its transaction, and publishing on
    behalf of the event it handles."""

    batch: BatchContext
    event: CloudEvent

    @property
    def conn(self) -> asyncpg.Connection:
        return self.batch.conn

    @property
    def settings(self) -> Settings:
        return self.batch.settings

    async def publish(self, topic: str, key: str | None, event: CloudEvent) -> None:
        self.batch.publish(topic, key, event, cause=self.event)


Handler = Callable[[HandlerContext, CloudEvent], Awaitable[None]]
BatchHandler = Callable[[BatchContext, list[CloudEvent]], Awaitable[None]]


def per_event(handlers: dict[str, Handler]) -> BatchHandler:
    """A batch handler that gives each event to the handler of its type, in order."""

    async def handle(batch: BatchContext, events: list[CloudEvent]) -> None:
        for event in events:
            with batch.span_of(event):
                await handlers[event.envelope.type](HandlerContext(batch, event), event)

    return handle


@dataclass
class _Item:
    record: ConsumerRecord
    headers: dict[str, str]
    inbox_key: str
    event: CloudEvent | None = None
    failure: Rejected | None = None

    @property
    def digest(self) -> bytes:
        """What the inbox keeps of the record to tell a redelivery from a different
        event under the same key: its type and value."""
        content = hashlib.blake2b(self.headers.get("ce_type", "").encode(), digest_size=16)
        content.update(b"\x00")
        content.update(self.record.value or b"")
        return content.digest()

    @property
    def place(self) -> str:
        """Where the record is on the broker: a redelivery comes from the same place."""
        return f"{self.record.topic}/{self.record.partition}/{self.record.offset}"


@dataclass(frozen=True)
class _Claim:
    """What the inbox said of a batch's keys."""

    new: set[str]  # claimed now: handle them
    conflicting: set[str]  # accepted before with other content: refuse them


def _type_of(item: _Item) -> str:
    """An item's event type for the metrics: one the registry knows, else "unreadable"
    (a label must not take whatever a partner writes in a header)."""
    return item.headers.get("ce_type") if item.headers.get("ce_type") in CONTRACTS_BY_TYPE else "unreadable"


@dataclass
class BatchOutcome:
    handled: int = 0
    duplicates: int = 0
    dead_lettered: int = 0
    skipped: int = 0
    replayed_one_by_one: int = 0
    # (outcome, event type) -> count, for the metrics; a record too broken to have a type
    # counts under "unreadable"
    by_type: Counter = field(default_factory=Counter)

    def add(self, other: BatchOutcome) -> BatchOutcome:
        for name in vars(self):
            setattr(self, name, getattr(self, name) + getattr(other, name))
        return self


class EventConsumer:
    def __init__(
        self,
        name: str,
        pool: asyncpg.Pool,
        settings: Settings,
        handles: set[str],
        handler: BatchHandler,
        topics: Sequence[Topic],
        on_commit: Callable[[], None] = lambda: None,
        person_keys: PersonKeys | None = None,
        on_batch: Callable[[str, BatchOutcome, float], None] = lambda name, outcome, seconds: None,
    ) -> None:
        self.name = name
        self._on_batch = on_batch  # (consumer, outcome, seconds) after each batch: the metrics
        self._person_keys = person_keys or PersonKeys(settings, issuer=False)
        self._pool = pool
        self._settings = settings
        self._handles = handles
        self._handler = handler
        self._on_commit = on_commit
        # The registry says which event types belong on which topic; anything else on a
        # topic is refused. A type that belongs there but that this consumer does not
        # handle is none of its business and is skipped.
        self._accepted_types = {settings.topic(topic.name): set(topic.event_types) for topic in topics}
        self._topics = tuple(topics)
        self._backoff = settings.retry_backoff_initial_s
        self.totals = BatchOutcome()
        # What /health judges progress by (time.monotonic()).
        self.busy_since: float | None = None  # a batch is being handled since
        self.failing_since: float | None = None  # batches keep failing (transiently) since
        self.last_error: str | None = None
        self.last_batch_at = time.monotonic()  # its start, before its first batch

    async def consume(
        self, records: Sequence[ConsumerRecord], headers: Sequence[dict[str, str]] | None = None
    ) -> BatchOutcome:
        """Handle a batch; raises only for transient failures, after backing off.
        `headers`: the records' headers as FastStream decoded them, if it has."""
        self.busy_since = started = time.monotonic()
        try:
            outcome = await self._consume_or_split(records, headers)
        except Exception as error:
            if not is_transient(error):
                raise
            self.failing_since = self.failing_since or time.monotonic()
            self.last_error = f"{type(error).__name__}: {error}"[:500]
            log.warning("%s: transient failure, batch redelivered in %.1fs: %r", self.name, self._backoff, error)
            await asyncio.sleep(self._backoff)
            self._backoff = min(self._backoff * 2, self._settings.retry_backoff_max_s)
            raise
        finally:
            self.busy_since = None
        self._backoff = self._settings.retry_backoff_initial_s
        self.failing_since = self.last_error = None
        self.last_batch_at = time.monotonic()
        self.totals.add(outcome)
        self._on_batch(self.name, outcome, self.last_batch_at - started)
        return outcome

    async def _consume_or_split(
        self, records: Sequence[ConsumerRecord], headers: Sequence[dict[str, str]] | None
    ) -> BatchOutcome:
        """The batch at once; after a permanent failure of the mechanism itself (not of
        a handler, which dead-letters its own), record by record, so that the one record
        causing it is dead-lettered and the others are handled."""
        try:
            return await self._consume(records, headers)
        except Exception as error:
            if is_transient(error):
                raise
            if len(records) == 1:
                return await self._dead_letter_alone(records[0], headers[0] if headers else None, error)
            log.warning("%s: batch of %d failed (%r); handling it record by record", self.name, len(records), error)
        total = BatchOutcome()
        for i, record in enumerate(records):
            outcome = await self._consume_or_split([record], [headers[i]] if headers else None)
            total.add(outcome)
        return total

    async def _dead_letter_alone(
        self, record: ConsumerRecord, decoded: dict[str, str] | None, error: Exception
    ) -> BatchOutcome:
        """Dead-letter a record that fails the mechanism even alone, in a transaction of
        its own that claims its inbox key if the inbox can take it."""
        headers, key = self._headers(record, decoded)
        item = _Item(record, headers, key)
        where = traceback.extract_tb(error.__traceback__)[-1]
        rejection = Rejected(f"could not be handled: {type(error).__name__}: {error} (at {where.name}:{where.lineno})")
        async with self._pool.acquire() as conn, conn.transaction():
            try:
                async with conn.transaction():
                    await self._claim(conn, [item])
                    await self._remember_refusals(conn, [item])
            except Exception as claim_error:
                if is_transient(claim_error):
                    raise
            await stage_rows(conn, [row for row in [self._dead_letter(item, rejection)] if row])
        self._on_commit()
        return BatchOutcome(dead_lettered=1)

    async def _consume(
        self, records: Sequence[ConsumerRecord], decoded: Sequence[dict[str, str]] | None
    ) -> BatchOutcome:
        outcome = BatchOutcome()
        if decoded is None:
            read = [self._headers(record) for record in records]
        else:
            read = [self._headers(record, headers) for record, headers in zip(records, decoded, strict=True)]
        if (repeat := _first_repeat([key for _, key in read])) is not None:
            # A key twice in one batch (say, an event sent again corrected right after its
            # refusal): the second must meet what became of the first, so the batch is
            # handled in turns, each key once in a turn.
            outcome = await self._consume(records[:repeat], decoded[:repeat] if decoded else None)
            return outcome.add(await self._consume(records[repeat:], decoded[repeat:] if decoded else None))
        early = [
            _Item(record, headers, key)
            for record, (headers, key) in zip(records, read, strict=True)
            if headers.get("ce_type") in self._handles
        ]
        keyring = await self._person_keys.keyring_for_records(self._pool, [record.value for record in records])
        if not early:  # nothing of ours, unless unreadable: perhaps no transaction at all
            items = self._read_all(records, read, keyring)
            if all(map(self._skipped, items)):
                outcome.skipped = len(items)
                outcome.by_type.update(("skipped", _type_of(item)) for item in items)
                return outcome
        async with transaction(self._pool) as conn:
            claim = _Claim(set(), set())
            if early:
                items, claim = await self._read_while_claiming(conn, records, read, early, keyring)
            candidates = [item for item in items if not self._skipped(item)]
            outcome.skipped = len(items) - len(candidates)
            outcome.by_type.update(("skipped", _type_of(item)) for item in items if self._skipped(item))
            # Unreadable records of a type not handled here become dead letters too.
            if late := [item for item in candidates if item.headers.get("ce_type") not in self._handles]:
                late_claim = await self._claim(conn, late)
                claim.new.update(late_claim.new)
                claim.conflicting.update(late_claim.conflicting)
            todo: list[_Item] = []
            conflicts: list[tuple[_Item, Rejected]] = []
            for item in candidates:
                if item.inbox_key in claim.new:
                    todo.append(item)
                elif item.inbox_key in claim.conflicting:
                    conflicts.append((item, _conflict(item)))
                else:
                    outcome.duplicates += 1
                    outcome.by_type["duplicates", _type_of(item)] += 1
            batch = BatchContext(conn, self._settings, self._person_keys)
            names = {topic: self._settings.registry_name(topic) for topic in {i.record.topic for i in todo}}
            batch.topic_of = {i.event.id: names[i.record.topic] for i in todo if i.event}
            unreadable = [(item, item.failure) for item in todo if item.failure is not None]
            valid = [item for item in todo if item.event is not None]
            try:
                with self._spans(batch, valid):
                    refused = await self._handle(batch, valid, outcome)
                for item, rejection in unreadable + refused + conflicts:
                    if row := self._dead_letter(item, rejection):
                        batch.staged.append(row)
                if unreadable or refused:
                    await self._remember_refusals(conn, [item for item, _ in unreadable + refused])
                outcome.handled = len(valid) - len(refused)
                outcome.dead_lettered = len(unreadable) + len(refused) + len(conflicts)
                refused_ids = {id(item) for item, _ in refused}
                outcome.by_type.update(("handled", item.event.envelope.type) for item in valid if id(item) not in refused_ids)
                outcome.by_type.update(("dead_lettered", _type_of(item)) for item, _ in unreadable + refused + conflicts)
                await batch.write_outbox()
            except BaseException:
                batch.roll_back_memory()  # the transaction is lost, so is what memory learnt in it
                raise
        self._on_commit()
        return outcome

    async def _handle(self, batch: BatchContext, items: list[_Item], outcome: BatchOutcome) -> list[tuple[_Item, Rejected]]:
        """Handle all items; returns those to dead-letter, with why."""
        if not items:
            return []
        try:
            async with batch.conn.transaction():  # fast path: the whole batch at once
                await self._handler(batch, [item.event for item in items])
        except Exception as error:  # noqa: BLE001 - find the culprits one by one
            if is_transient(error):
                raise
            log.info("%s: batch of %d failed (%r); replaying one event at a time", self.name, len(items), error)
            batch.roll_back_memory()
            batch.staged.clear()
            batch.rejections.clear()
            outcome.replayed_one_by_one += len(items)
            return [letter for item in items if (letter := await self._handle_alone(batch, item))]
        return [(item, batch.rejections[item.event.id]) for item in items if item.event.id in batch.rejections]

    async def _handle_alone(self, batch: BatchContext, item: _Item) -> tuple[_Item, Rejected] | None:
        staged_before = len(batch.staged)
        undo_mark = batch.undo_mark
        try:
            async with batch.conn.transaction():  # a savepoint: a failed event leaves no trace
                await self._handler(batch, [item.event])
            rejection = batch.rejections.pop(item.event.id, None)
        except Rejected as rejected:
            rejection = rejected
        except Exception as error:  # noqa: BLE001 - a bug must not stop the stream
            if is_transient(error):
                raise
            log.exception("%s: handler failed on %s", self.name, item.event.id)
            where = traceback.extract_tb(error.__traceback__)[-1]
            rejection = Rejected(f"handler error {type(error).__name__}: {error} (at {where.name}:{where.lineno})")
        if rejection is None:
            return None
        del batch.staged[staged_before:]  # nothing the failed event staged may leave
        batch.roll_back_memory(undo_mark)
        with batch.span_of(item.event):
            trace.get_current_span().set_status(trace.Status(trace.StatusCode.ERROR, rejection.reason))
        return item, rejection

    @contextmanager
    def _spans(self, batch: BatchContext, items: list[_Item]) -> Iterator[None]:
        """One span per event, continuing the trace its record carries. When spans are
        not recorded, only that trace context is kept, for what the event causes."""
        if not spans_recorded():
            trace_fields = propagate.get_global_textmap().fields
            for item in items:
                carrier: dict[str, str] = {}
                if not trace_fields.isdisjoint(item.headers):
                    propagate.inject(carrier, context=propagate.extract(item.headers))
                batch._trace_headers[item.event.id] = carrier  # noqa: SLF001 - the consumer owns the batch's spans
            yield
            return
        tracer = trace.get_tracer("redthread")
        spans = []
        for item in items:
            parent = propagate.extract(item.headers)
            span = tracer.start_span(
                f"{self.name} handle {item.event.envelope.type}",
                context=parent,
                kind=trace.SpanKind.CONSUMER,
                attributes={
                    "messaging.system": "kafka",
                    "messaging.source.name": item.record.topic,
                    **event_attributes(item.event),
                },
            )
            with trace.use_span(span, end_on_exit=False):
                trace_headers = current_trace_headers()
            batch._spans[item.event.id] = span  # noqa: SLF001 - the consumer owns the batch's spans
            batch._trace_headers[item.event.id] = trace_headers  # noqa: SLF001
            spans.append(span)
        try:
            yield
        finally:
            for span in spans:
                span.end()

    def _types_on(self, topic: str) -> set[str]:
        """The event types the registry allows on `topic`, a partner's own topic included."""
        if topic in self._accepted_types:
            return self._accepted_types[topic]
        family = partner_topic_owner(self._settings.registry_name(topic))
        return set(family[0].event_types) if family and family[0] in self._topics else set()

    async def _read_while_claiming(
        self, conn: asyncpg.Connection, records: Sequence[ConsumerRecord], read: list, early: list[_Item],
        keyring: Keyring,
    ) -> tuple[list[_Item], _Claim]:
        """Decode the batch while PostgreSQL inserts its inbox rows (the keys and digests
        come from the headers and raw values alone)."""
        claim = asyncio.ensure_future(self._claim(conn, early))
        try:
            await asyncio.sleep(0)  # the claim is on its way
            items = self._read_all(records, read, keyring)
        except BaseException:
            await asyncio.wait([claim])  # the connection must be idle before the rollback
            raise
        return items, await claim

    def _read_all(self, records: Sequence[ConsumerRecord], read: list, keyring: Keyring) -> list[_Item]:
        return [
            self._read(record, headers, key, keyring) for record, (headers, key) in zip(records, read, strict=True)
        ]

    def _skipped(self, item: _Item) -> bool:
        """A valid event of a type this consumer does not handle: none of its business."""
        return item.event is not None and item.event.envelope.type not in self._handles

    async def _claim(self, conn: asyncpg.Connection, items: list[_Item]) -> _Claim:
        """Claim the items' keys in the inbox: new keys, and keys whose record was refused
        before (unless this is that same record again, from the same place), are claimed
        now; a key accepted before is a redelivery, or a conflict when its record differs
        from the one accepted (looked up only for the keys not claimed, which are rare)."""
        first = {item.inbox_key: item for item in items}  # a batch holds each key once (see _consume)
        new = set(
            await conn.fetchval(
                "WITH incoming AS ("
                "  SELECT * FROM unnest($2::text[], $3::bytea[], $4::text[]) AS i(message_key, digest, place)),"
                " claimed AS ("
                "  INSERT INTO inbox AS b (consumer, message_key, digest) SELECT $1, message_key, digest FROM incoming"
                "  ON CONFLICT (consumer, message_key) DO UPDATE"
                "   SET digest = EXCLUDED.digest, refused = false, handled_at = now()"
                "   WHERE b.refused AND b.digest IS DISTINCT FROM (SELECT decode(md5(place), 'hex') FROM incoming"
                "    WHERE incoming.message_key = EXCLUDED.message_key)"
                "  RETURNING b.message_key)"
                " SELECT coalesce(array_agg(message_key), '{}') FROM claimed",
                self.name,
                list(first),
                [item.digest for item in first.values()],
                [item.place for item in first.values()],
            )
        )
        if len(new) == len(first):
            return _Claim(new, set())
        taken = [item for key, item in first.items() if key not in new]
        conflicting = await conn.fetchval(
            "SELECT coalesce(array_agg(b.message_key), '{}') FROM inbox b"
            " JOIN unnest($2::text[], $3::bytea[]) AS i(message_key, digest) ON b.message_key = i.message_key"
            " WHERE b.consumer = $1 AND NOT b.refused AND b.digest <> i.digest",
            self.name,
            [item.inbox_key for item in taken],
            [item.digest for item in taken],
        )
        return _Claim(new, set(conflicting))

    async def _remember_refusals(self, conn: asyncpg.Connection, items: list[_Item]) -> None:
        """Mark these claimed keys refused, so that a corrected record may claim them
        again; the digest of a refused key holds the place of the record refused."""
        await conn.execute(
            # The place's MD5, as the claim compares it (PostgreSQL computes it only for
            # the rare rows that need it).
            "UPDATE inbox b SET refused = true, digest = decode(md5(r.place), 'hex')"
            " FROM unnest($2::text[], $3::text[]) AS r(message_key, place)"
            " WHERE b.consumer = $1 AND b.message_key = r.message_key",
            self.name,
            [item.inbox_key for item in items],
            [item.place for item in items],
        )

    @staticmethod
    def _headers(record: ConsumerRecord, decoded: dict[str, str] | None = None) -> tuple[dict[str, str], str]:
        """The record's headers as text (`decoded`, when FastStream has decoded them
        already), and its inbox key. NUL cannot be stored in PostgreSQL text: it is
        replaced in both, and refused by the contracts' validation. The same id from two
        sources is two events (CloudEvents: source + id is unique); for a valid event,
        ce_source and ce_id are its envelope's source and id."""
        headers = decoded if decoded is not None else {
            k: (v or b"").decode("utf-8", "replace") for k, v in record.headers or ()
        }
        if "\x00" in "".join(headers.values()):
            headers = {k: v.replace("\x00", "\ufffd") for k, v in headers.items()}
        event_id = headers.get("ce_id") or f"{record.topic}/{record.partition}/{record.offset}"
        key = f"{headers.get('ce_source', '')}|{event_id}"
        if len(key) > INBOX_KEY_MAX_CHARS:
            key = "sha256:" + hashlib.sha256(key.encode()).hexdigest()
        return headers, key

    def _read(self, record: ConsumerRecord, headers: dict[str, str], inbox_key: str, keyring: Keyring) -> _Item:
        try:
            event = decode(headers, record.value, self._types_on(record.topic), keyring.open)
        except EnvelopeError as error:
            return _Item(record, headers, inbox_key, failure=Rejected(error.reason, error.problems))
        except PersonKeyNotYetKnown as waiting:
            if not key_has_waited(record.timestamp):
                raise  # transient: the batch is redelivered, by when the key has come
            reason = f"{waiting}, {KEY_WAIT_S:.0f} s after the record was written: it was sealed with a key never issued"
            return _Item(record, headers, inbox_key, failure=Rejected(reason))
        return _Item(record, headers, inbox_key, event=event)

    def _dead_letter(self, item: _Item, rejection: Rejected) -> OutboxRow | None:
        """The dead letter for a refused record; none for a record of the dead-letter topic
        itself (the operators' console reads it): a letter about a letter refused in turn
        would be refused again, without end. That one is logged, and stays where it is."""
        record = item.record
        if self._settings.registry_name(record.topic) == DEAD_LETTERS.name:
            log.error("%s: refused %s/%d/%d, a dead letter itself; left on its topic: %s",
                      self.name, record.topic, record.partition, record.offset, rejection.reason)
            return None
        return dead_letter(
            self._settings,
            consumer=self.name,
            source=f"/redthread/{self.name}",
            reason=rejection.reason,
            problems=rejection.problems,
            origin=Origin(record.topic, record.value or b"", record.partition, record.offset, record.key, item.headers),
            # The same record refused again (a redelivery) is the same dead letter.
            event_id=derived_event_id("dead-letter", self.name, record.topic, record.partition, record.offset),
        )


def _first_repeat(keys: list[str]) -> int | None:
    """The index of the first key seen before it in `keys`, if any."""
    seen: set[str] = set()
    for index, key in enumerate(keys):
        if key in seen:
            return index
        seen.add(key)
    return None


def _conflict(item: _Item) -> Rejected:
    return Rejected(
        f"a different event was already accepted under source {item.headers.get('ce_source', '')!r} and id "
        f"{item.headers.get('ce_id', '')[:200]!r}; an event id names one event: send a change as a new event "
        "with an id of its own"
    )
