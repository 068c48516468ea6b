"""Transactional outbox: events are written with the state change that caused them and
relayed to Kafka by a background task that retries until the broker has them."""

from __future__ import annotations

import asyncio
import json
import logging
import random
from collections.abc import Sequence
from dataclasses import dataclass

import asyncpg
import pydantic_core
from aiokafka import AIOKafkaProducer
from murmurhash2 import murmurhash2
from opentelemetry import trace

from contracts.envelope import CloudEvent, encode
from services.common.settings import Settings
from services.common.telemetry import current_trace_headers, span_continuing

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
    """Stage one event for `topic` inside the caller's transaction, continuing the current trace."""
    value, headers = encode(event)
    await stage_rows(conn, [OutboxRow(topic, key.encode() if key else None, value, headers | current_trace_headers())])


def kafka_producer(settings: Settings, client_id: str) -> AIOKafkaProducer:
    """A producer that loses nothing: every in-sync replica acknowledges, and the broker
    drops the duplicates a retry would otherwise write."""
    return AIOKafkaProducer(
        bootstrap_servers=settings.kafka_bootstrap_servers,
        client_id=client_id,
        acks="all",
        enable_idempotence=True,
        linger_ms=5,
        # aiokafka's default (16 KiB) holds a dozen of our events: a relay pass of
        # hundreds would go out as dozens of produce requests, one after the other.
        max_batch_size=MAX_BATCH_BYTES,
    )


MAX_BATCH_BYTES = 256 * 1024


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
    it, so a crash in between means a redelivery, never a loss."""

    def __init__(self, pool: asyncpg.Pool, settings: Settings, service: str) -> None:
        self._pool = pool
        self._settings = settings
        self._service = service
        self._producer = kafka_producer(settings, f"{service}-outbox-relay")
        self._wake = asyncio.Event()
        self._task: asyncio.Task | None = None
        self._listen = False
        self._listener: asyncpg.Connection | None = None
        self.relayed = 0

    def wake(self) -> None:
        """Called after a transaction that wrote outbox rows commits, to relay at once."""
        self._wake.set()

    async def start(self, *, listen: bool = False) -> None:
        """Relay from now on. `listen`: also wake on the notifications the outbox sends at
        each commit that added rows (migration 005), for a relay in its own process; one
        running in the service's process is woken by the service itself (`wake`)."""
        await self._producer.start()
        self._listen = listen
        self._task = asyncio.create_task(self._run(), name=f"{self._service}-outbox-relay")

    async def stop(self) -> None:
        if self._task:
            self._task.cancel()
            try:
                await self._task
            except asyncio.CancelledError:
                pass
        if self._listener is not None:
            await self._listener.close()
        # One last pass, so that a clean shutdown leaves nothing behind.
        try:
            while await self.relay_once():
                pass
        except Exception:  # noqa: BLE001 - the rows stay and are relayed at next start
            log.warning("outbox rows left for the next start", exc_info=True)
        await self._producer.stop()

    async def _run(self) -> None:
        backoff = self._settings.retry_backoff_initial_s
        while True:
            if self._listen:
                await self._keep_listening()
            # Cleared before the pass, not after: a commit that wakes the relay during a
            # pass gets a pass of its own at once, not after the poll interval.
            self._wake.clear()
            try:
                relayed = await self.relay_once()
                backoff = self._settings.retry_backoff_initial_s
            except asyncio.CancelledError:
                raise
            except Exception as error:  # noqa: BLE001 - any failure: keep the rows, retry later
                log.warning("outbox relay failed, retrying in %.1fs: %s", backoff, error)
                await self._record_failure(str(error))
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, self._settings.retry_backoff_max_s)
                continue
            if relayed < self._settings.outbox_batch_size:
                try:
                    await asyncio.wait_for(self._wake.wait(), self._settings.outbox_poll_interval_s)
                except TimeoutError:
                    continue
                if self._listen:
                    # Woken by another process's commit: let the commits of the next few
                    # milliseconds join this pass. Commits of one row each (an HTTP
                    # request) would otherwise each get a pass of their own, whose queries
                    # and produce request cost several times the row.
                    await asyncio.sleep(self._settings.outbox_relay_linger_ms / 1000)

    async def _keep_listening(self) -> None:
        """LISTEN on this outbox's channel, again after the connection was lost (until
        then, and if it cannot be had, the relay polls every outbox_poll_interval_s)."""
        if self._listener is not None and not self._listener.is_closed():
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
        async with self._pool.acquire() as conn, conn.transaction():
            rows = await conn.fetch(
                "SELECT id, topic, key, value, headers FROM outbox ORDER BY id LIMIT $1 FOR UPDATE SKIP LOCKED",
                self._settings.outbox_batch_size,
            )
            if not rows:
                return 0
            await self._send(rows)
            await conn.execute("DELETE FROM outbox WHERE id = ANY($1::bigint[])", [r["id"] for r in rows])
        self.relayed += len(rows)
        return len(rows)

    async def _send(self, rows: Sequence[asyncpg.Record]) -> None:
        """Send rows in record batches of one partition each, in outbox order, and wait
        until the broker has acknowledged all of them. The partition is the one the
        producer's default partitioner would choose, so a key keeps its partition."""
        tracing = spans_recorded()
        batches: dict[tuple[str, int], list] = {}
        partitions: dict[str, list[int]] = {}
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
            batches.setdefault((topic, partition_for(key, partitions[topic])), []).append(
                (key, row["value"], [(k, v.encode()) for k, v in headers.items()])
            )
        deliveries = []
        for (topic, partition), records in batches.items():
            batch = self._producer.create_batch()
            for key, value, headers in records:
                if batch.append(key=key, value=value, timestamp=None, headers=headers) is None:  # full
                    deliveries.append(await self._producer.send_batch(batch, topic, partition=partition))
                    batch = self._producer.create_batch()
                    batch.append(key=key, value=value, timestamp=None, headers=headers)
            batch.close()
            deliveries.append(await self._producer.send_batch(batch, topic, partition=partition))
        await asyncio.gather(*deliveries)

    async def _record_failure(self, error: str) -> None:
        try:
            async with self._pool.acquire() as conn:
                await conn.execute(
                    "UPDATE outbox SET attempts = attempts + 1, last_error = $1"
                    " WHERE id IN (SELECT id FROM outbox ORDER BY id LIMIT $2)",
                    error[:1000],
                    self._settings.outbox_batch_size,
                )
        except Exception:  # noqa: BLE001 - bookkeeping only; the database may be the failure
            log.debug("could not record the outbox failure", exc_info=True)


def spans_recorded() -> bool:
    """Whether spans are recorded (telemetry.setup_tracing installed an exporting
    provider). When they are not, a span per event or row would change nothing but the
    cost: the trace context travels in the headers all the same."""
    return not isinstance(trace.get_tracer_provider(), (trace.ProxyTracerProvider, trace.NoOpTracerProvider))
