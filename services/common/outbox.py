"""Transactional outbox: events are written with the state change that caused them and
relayed to Kafka by a background task that retries until the broker has them."""

from __future__ import annotations

import asyncio
import json
import logging
import random
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import asyncpg
import pydantic_core
from aiokafka import AIOKafkaProducer
from aiokafka.record.default_records import DefaultRecordBatchBuilder
from murmurhash2 import murmurhash2
from opentelemetry import trace

from contracts.envelope import CloudEvent, encode
from contracts.personal_data import has_persons
from services.common.failures import is_transient
from services.common.kafka_security import client_options, service_principal
from services.common.settings import Settings
from services.common.telemetry import current_trace_headers, span_continuing
from services.common.worker import Worker

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class OutboxRow:
    topic: str  # the full topic name, namespace included
    key: bytes | None
    value: bytes
    headers: dict[str, str]  # including the trace context to continue


async def stage_rows(conn: asyncpg.Connection, rows: list[OutboxRow]) -> None:
    """Write rows into the outbox inside the caller's transaction, in one binary COPY
    (about half the cost of an INSERT of the same rows, on both sides of the wire)."""
    if not rows:
        return
    await conn.copy_records_to_table(
        "outbox",
        records=[(r.topic, r.key, r.value, _headers_json(r.headers)) for r in rows],
        columns=("topic", "key", "value", "headers"),
    )


def _headers_json(headers: dict[str, str]) -> str:
    text = pydantic_core.to_json(headers).decode()
    if "\\u0000" in text:
        # A header carrying NUL (say, a dead letter's reason quoting the bad input) keeps
        # a visible U+FFFD in its place, as every consumer would make of it anyway; the
        # column then stays castable to jsonb for whoever inspects the outbox.
        text = json.dumps({k: v.replace("\x00", "\ufffd") for k, v in headers.items()})
    return text


async def add_to_outbox(conn: asyncpg.Connection, topic: str, key: str | None, event: CloudEvent) -> None:
    """Stage one event for `topic` inside the caller's transaction, continuing the current
    trace. Events that carry persons are staged through a BatchContext, which seals them."""
    value, headers = encode(event)
    if has_persons(type(event.data), value):
        raise TypeError(f"{event.envelope.type} carries persons: stage it with a BatchContext, which seals them")
    await stage_rows(conn, [OutboxRow(topic, key.encode() if key else None, value, headers | current_trace_headers())])


def kafka_producer(settings: Settings, service: str) -> AIOKafkaProducer:
    """A producer for `service`'s outbox that loses nothing: every in-sync replica
    acknowledges, and the broker drops the duplicates a retry would otherwise write."""
    return AIOKafkaProducer(
        **client_options(settings, service_principal(service)),
        client_id=f"{service}-outbox-relay",
        acks="all",
        enable_idempotence=True,
        linger_ms=5,
        # aiokafka's default (16 KiB) holds a dozen of our events: a relay pass of
        # hundreds would go out as dozens of produce requests, one after the other.
        max_batch_size=MAX_BATCH_BYTES,
    )


MAX_BATCH_BYTES = 256 * 1024
# The largest record the relay sends: under Kafka's default message.max.bytes (1,048,588)
# and the producer's max.request.size (1 MiB), with room for the batch's own header.
MAX_RECORD_BYTES = 1_000_000


# Kafka's key hash is MurmurHash2 (32 bit) with this seed (the Java client's
# Utils.murmur2, as aiokafka's DefaultPartitioner computes it in Python, ~2.5 µs a key).
KAFKA_MURMUR2_SEED = 0x9747B28C


def murmur2(key: bytes) -> int:
    """Kafka's hash of a record key."""
    return murmurhash2(key, KAFKA_MURMUR2_SEED)


def partition_for(key: bytes | None, partitions: Sequence[int]) -> int:
    """The partition the default partitioner picks for `key` (any one when None)."""
    if key is None:
        return random.choice(partitions)
    return partitions[(murmur2(key) & 0x7FFFFFFF) % len(partitions)]


class OutboxRelay:
    """Moves outbox rows to Kafka in batches. Rows are locked with SKIP LOCKED, so several
    instances can relay side by side; a row is deleted only after the broker acknowledged
    it, so a crash in between means a redelivery, never a loss.

    A row the broker refuses for what it is (too large, invalid: services.common.failures
    says which errors those are) is moved to `outbox_parked` with the reason, so that it
    cannot hold back the rows behind it; a failure that may pass (the broker is away)
    keeps the rows and retries after a backoff."""

    def __init__(
        self, pool: asyncpg.Pool, settings: Settings, service: str,
        on_sent: Callable[[float], None] = lambda _seconds: None,
    ) -> None:
        """`on_sent`: told, for each row the broker acknowledged, how long it took from
        its insert (the relay's latency, for metrics)."""
        self._pool = pool
        self._on_sent = on_sent
        self._settings = settings
        self._service = service
        self._producer = kafka_producer(settings, service)
        self._listen = False
        self._listener: asyncpg.Connection | None = None
        self.worker: Worker | None = None
        self.relayed = 0
        self.parked = 0

    def wake(self) -> None:
        """Called after a transaction that wrote outbox rows commits, to relay at once."""
        if self.worker is not None:
            self.worker.wake()

    async def start(self, *, listen: bool = False) -> None:
        """Relay from now on. `listen`: also wake on the notifications the outbox sends at
        each commit that added rows (migration 005), for a relay in its own process; one
        running in the service's process is woken by the service itself (`wake`)."""
        await self._producer.start()
        self._listen = listen
        self.worker = Worker(
            f"{self._service}-outbox-relay",
            self._pass,
            poll_interval_s=self._settings.outbox_poll_interval_s,
            backoff_initial_s=self._settings.retry_backoff_initial_s,
            backoff_max_s=self._settings.retry_backoff_max_s,
            # Woken by another process's commit: let the commits of the next few
            # milliseconds join the pass. Commits of one row each (an HTTP request) would
            # otherwise each get a pass of their own, whose queries and produce request
            # cost several times the row.
            linger_s=self._settings.outbox_relay_linger_ms / 1000 if listen else 0.0,
            before_pass=self._keep_listening,
        )
        self.worker.start()

    async def stop(self) -> None:
        if self.worker is not None:
            await self.worker.stop()
        if self._listener is not None:
            await self._listener.close()
        # One last pass, so that a clean shutdown leaves nothing behind.
        try:
            while await self.relay_once() >= self._settings.outbox_batch_size:
                pass
        except Exception:  # noqa: BLE001 - the rows stay and are relayed at next start
            log.warning("outbox rows left for the next start", exc_info=True)
        await self._producer.stop()

    async def _pass(self) -> bool:
        return await self.relay_once() >= self._settings.outbox_batch_size

    async def _keep_listening(self) -> None:
        """LISTEN on this outbox's channel, again after the connection was lost (until
        then, and if it cannot be had, the relay polls every outbox_poll_interval_s)."""
        if not self._listen or (self._listener is not None and not self._listener.is_closed()):
            return
        channel = f"{self._service}.outbox"
        listener = None
        try:
            listener = await asyncpg.connect(self._settings.database_url)
            await listener.add_listener(channel, lambda *_: self.wake())
        except (OSError, asyncpg.PostgresError) as error:
            if listener is not None:
                await listener.close()
            log.warning("cannot listen on %s, polling every %.1fs: %s", channel, self._settings.outbox_poll_interval_s, error)
            return
        self._listener = listener
        log.info("relaying %s's outbox, woken by notifications on %s", self._service, channel)
        self.wake()  # rows may have been added before the LISTEN

    async def relay_once(self) -> int:
        """One pass: send the oldest rows, delete those the broker acknowledged, park
        those it refused; returns how many rows the pass took. Raises (after recording
        the error on the rows) when some could not be sent for a reason that may pass."""
        async with self._pool.acquire() as conn, conn.transaction():
            rows = await conn.fetch(
                "SELECT id, topic, key, value, headers, extract(epoch FROM clock_timestamp() - created_at) AS waited_s"
                " FROM outbox ORDER BY id LIMIT $1 FOR UPDATE SKIP LOCKED",
                self._settings.outbox_batch_size,
            )
            if not rows:
                return 0
            sending_since = time.monotonic()
            sent, refused, failure = await self._send(rows)
            sending_s = time.monotonic() - sending_since
            await conn.execute("DELETE FROM outbox WHERE id = ANY($1::bigint[])", [r["id"] for r in sent])
            if refused:
                await _park(conn, refused)
            if failure is not None:
                done = {r["id"] for r in sent} | {r["id"] for r, _ in refused}
                kept = [r["id"] for r in rows if r["id"] not in done]
                await conn.execute(
                    "UPDATE outbox SET attempts = attempts + 1, last_error = $2 WHERE id = ANY($1::bigint[])",
                    kept,
                    f"{type(failure).__name__}: {failure}"[:1000],
                )
        self.relayed += len(sent)
        self.parked += len(refused)
        for row in sent:
            self._on_sent(float(row["waited_s"]) + sending_s)
        if failure is not None:
            raise failure
        return len(rows)

    async def _send(
        self, rows: Sequence[asyncpg.Record]
    ) -> tuple[list[asyncpg.Record], list[tuple[asyncpg.Record, str]], Exception | None]:
        """Send rows in record batches of one partition each, in outbox order, and wait
        for the broker's answer to each. The partition is the one the producer's default
        partitioner would choose, so a key keeps its partition. Returns the rows
        acknowledged, the rows refused for what they are (with why), and a failure that
        may pass, if there was one."""
        by_partition: dict[tuple[str, int], list[_Outgoing]] = {}
        refused: list[tuple[asyncpg.Record, str]] = []
        for outgoing in await self._outgoing(rows):
            size = DefaultRecordBatchBuilder.estimate_size_in_bytes(outgoing.key, outgoing.value, outgoing.headers)
            if size > MAX_RECORD_BYTES:  # sending it would only earn a refusal
                refused.append((outgoing.row, f"the record is {size} bytes; the broker takes at most {MAX_RECORD_BYTES}"))
                continue
            by_partition.setdefault((outgoing.topic, outgoing.partition), []).append(outgoing)
        sends: list[tuple[list[_Outgoing], asyncio.Future]] = []
        for (topic, partition), records in by_partition.items():
            batch, members = self._producer.create_batch(), []
            for record in records:
                if batch.append(key=record.key, value=record.value, timestamp=None, headers=record.headers) is None:
                    sends.append((members, await self._send_batch(batch, topic, partition)))
                    batch, members = self._producer.create_batch(), []
                    # The first record always fits a new batch, however large.
                    batch.append(key=record.key, value=record.value, timestamp=None, headers=record.headers)
                members.append(record)
            sends.append((members, await self._send_batch(batch, topic, partition)))
        results = await asyncio.gather(*(delivery for _, delivery in sends), return_exceptions=True)
        sent: list[asyncpg.Record] = []
        failure: Exception | None = None
        suspects: list[_Outgoing] = []
        for (members, _), result in zip(sends, results, strict=True):
            if not isinstance(result, Exception):
                sent += [record.row for record in members]
            elif is_transient(result):
                failure = result
            else:
                suspects += members
        if suspects and failure is None:
            # Which of them did the broker refuse? Each alone tells, on a new producer:
            # after a refusal an idempotent producer's sequence numbers for that
            # partition are spent, and it would fail every later batch there.
            for record in suspects:
                await self._restart_producer()
                batch = self._producer.create_batch()
                batch.append(key=record.key, value=record.value, timestamp=None, headers=record.headers)
                try:
                    await (await self._send_batch(batch, record.topic, record.partition))
                except Exception as error:  # noqa: BLE001 - judged here
                    if is_transient(error):
                        failure = error
                        break
                    refused.append((record.row, f"{type(error).__name__}: {error}"))
                else:
                    sent.append(record.row)
            await self._restart_producer()
        elif suspects:
            await self._restart_producer()  # the suspects stay, and are tried again next pass
        return sent, refused, failure

    async def _restart_producer(self) -> None:
        await self._producer.stop()
        self._producer = kafka_producer(self._settings, self._service)
        await self._producer.start()

    async def _outgoing(self, rows: Sequence[asyncpg.Record]) -> list[_Outgoing]:
        """The rows as records, with their partition and the trace context to continue."""
        tracing = spans_recorded()
        partitions: dict[str, list[int]] = {}
        outgoing = []
        for row in rows:
            topic = row["topic"]
            if topic not in partitions:
                partitions[topic] = sorted(await self._producer.partitions_for(topic))
            headers: dict[str, str] = pydantic_core.from_json(row["headers"])
            if tracing:
                with span_continuing(
                    f"{topic} publish",
                    headers,
                    trace.SpanKind.PRODUCER,
                    {"messaging.system": "kafka", "messaging.destination.name": topic},
                ):
                    headers.update(current_trace_headers())
            key = row["key"]
            outgoing.append(
                _Outgoing(row, topic, partition_for(key, partitions[topic]), key, row["value"],
                          [(k, v.encode()) for k, v in headers.items()])
            )
        return outgoing

    async def _send_batch(self, batch, topic: str, partition: int) -> asyncio.Future:  # noqa: ANN001 - aiokafka's BatchBuilder
        batch.close()
        return await self._producer.send_batch(batch, topic, partition=partition)


@dataclass(frozen=True)
class _Outgoing:
    row: asyncpg.Record
    topic: str
    partition: int
    key: bytes | None
    value: bytes
    headers: list[tuple[str, bytes]]


async def _park(conn: asyncpg.Connection, refused: list[tuple[asyncpg.Record, str]]) -> None:
    """Move rows the broker refused for what they are out of the way, with the reason."""
    ids = [row["id"] for row, _ in refused]
    reasons = [reason[:1000] for _, reason in refused]
    await conn.execute(
        "WITH gone AS (DELETE FROM outbox WHERE id = ANY($1::bigint[]) RETURNING *)"
        " INSERT INTO outbox_parked (id, topic, key, value, headers, created_at, reason)"
        " SELECT gone.id, topic, key, value, headers, created_at, r.reason"
        " FROM gone JOIN unnest($1::bigint[], $2::text[]) AS r(id, reason) ON r.id = gone.id",
        ids,
        reasons,
    )
    for row, reason in refused:
        log.error("outbox row %d for %s refused by the broker, parked in outbox_parked: %s", row["id"], row["topic"], reason)


def spans_recorded() -> bool:
    """Whether spans are recorded (telemetry.setup_tracing installed an exporting
    provider). When they are not, a span per event or row would change nothing but the
    cost: the trace context travels in the headers all the same."""
    return not isinstance(trace.get_tracer_provider(), (trace.ProxyTracerProvider, trace.NoOpTracerProvider))
