"""The outbox relay on the real broker: rows reach Kafka with key and headers, are
removed only once acknowledged, and stay while the broker cannot be reached."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys

import asyncpg
import httpx
import pytest
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from opentelemetry import context, propagate

from contracts.envelope import new_event
from contracts.topics import NEEDS
from services.common.kafka_security import ADMIN, client_options
from services.common.db import apply_migrations, create_pool
from services.common.outbox import OutboxRelay, add_to_outbox
from services.common.settings import Settings
from services.matching.service import build as build_matching
from tests.conftest import a_need, headers_of, read_topic
from tests.peers import free_port

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def settings(settings: Settings) -> Settings:
    """The outbox relayed here is a test's own, not a service's: it writes as admin."""
    return settings.model_copy(update={"kafka_principal": ADMIN})


@pytest.fixture
async def pool(settings):
    pool = await create_pool(settings.database_url, "outbox_test")
    await apply_migrations(pool, "services.common")
    yield pool
    async with pool.acquire() as conn:
        await conn.execute("DELETE FROM outbox")
    await pool.close()


TRACE_ID = "4bf92f3577b34da6a3ce929d0e0e4736"


async def stage(pool: asyncpg.Pool, settings: Settings, count: int) -> list[str]:
    """Stage `count` events as if within a request whose trace is TRACE_ID."""
    ids = []
    token = context.attach(propagate.extract({"traceparent": f"00-{TRACE_ID}-00f067aa0ba902b7-01"}))
    async with pool.acquire() as conn, conn.transaction():
        for _ in range(count):
            event = new_event(a_need(coach=None), source="/test/outbox")
            await add_to_outbox(conn, settings.topic("redthread.needs.v1"), str(event.data.need_id), event)
            ids.append(event.id)
    context.detach(token)
    return ids


async def test_rows_are_relayed_in_batches_and_removed(pool, settings):
    ids = await stage(pool, settings, 30)
    relay = OutboxRelay(pool, settings.model_copy(update={"outbox_batch_size": 8}), "outbox_test")
    await relay.start()
    await relay.stop()  # stopping drains what is left

    records = await read_topic(
        settings, settings.topic(NEEDS.name), at_least=30, where=lambda r: headers_of(r)["ce_source"] == "/test/outbox"
    )
    relayed = {headers_of(r)["ce_id"]: r for r in records}
    assert set(ids) == set(relayed)
    sample = relayed[ids[0]]
    assert headers_of(sample)["ce_type"] == "redthread.need.submitted"
    assert headers_of(sample)["traceparent"].split("-")[1] == TRACE_ID  # the trace survived PostgreSQL
    assert sample.key is not None
    async with pool.acquire() as conn:
        assert await conn.fetchval("SELECT count(*) FROM outbox") == 0


async def test_rows_stay_while_kafka_is_unreachable(pool, settings):
    await stage(pool, settings, 3)
    unreachable = settings.model_copy(update={"kafka_bootstrap_servers": "127.0.0.1:1", "retry_backoff_initial_s": 0.05})
    relay = OutboxRelay(pool, unreachable, "outbox_test")
    with pytest.raises(Exception):  # noqa: B017,PT011 - any connection error will do
        await relay.start()
    async with pool.acquire() as conn:
        assert await conn.fetchval("SELECT count(*) FROM outbox") == 3


async def test_rows_stay_when_the_broker_does_not_acknowledge(pool, settings):
    await stage(pool, settings, 3)
    relay = OutboxRelay(pool, settings, "outbox_test")

    async def unacknowledged(rows):
        raise RuntimeError("no acknowledgement")

    relay._send = unacknowledged  # noqa: SLF001 - the send fails after the rows were taken
    with pytest.raises(RuntimeError):
        await relay.relay_once()
    async with pool.acquire() as conn:
        assert await conn.fetchval("SELECT count(*) FROM outbox") == 3


async def test_a_relay_in_its_own_process_is_woken_by_each_commit(pool, settings, tmp_path):
    """`python -m services.common.relay`, as compose runs one beside each service: it polls
    only once a minute here, so only the commit's notification can make it send a row
    within seconds; SIGTERM stops it after a last pass."""
    log_path = tmp_path / "relay.log"
    env = {
        **os.environ,
        "DATABASE_URL": settings.database_url,
        "REDTHREAD_NAMESPACE": settings.namespace,
        "REDTHREAD_KAFKA_BOOTSTRAP_SERVERS": settings.kafka_bootstrap_servers,
        "REDTHREAD_OUTBOX_POLL_INTERVAL_S": "60",
        "REDTHREAD_KAFKA_PRINCIPAL": ADMIN,
        "REDTHREAD_HTTP_PORT": str(metrics_port := free_port()),
    }
    with open(log_path, "wb") as log:
        relay = subprocess.Popen(
            [sys.executable, "-m", "services.common.relay", "outbox_test"], env=env, stdout=log, stderr=subprocess.STDOUT
        )
    try:
        for _ in range(200):  # until it listens and has made its first pass
            if "woken by notifications on outbox_test.outbox" in log_path.read_text() or relay.poll() is not None:
                break
            await asyncio.sleep(0.1)
        assert relay.poll() is None, log_path.read_text()
        await asyncio.sleep(1)

        [event_id] = await stage(pool, settings, 1)
        [record] = await read_topic(
            settings, settings.topic(NEEDS.name), at_least=1, timeout_s=10,
            where=lambda r: headers_of(r)["ce_id"] == event_id,
        )
        assert headers_of(record)["ce_source"] == "/test/outbox"
        metrics = httpx.get(f"http://127.0.0.1:{metrics_port}/metrics", timeout=5).text
        assert "redthread_outbox_relay_seconds_count 1.0" in metrics  # its latency, for Prometheus
    finally:
        relay.send_signal(signal.SIGTERM)
        assert relay.wait(timeout=20) == 0, log_path.read_text()
    assert "outbox_test's relay stopped after 1 rows" in log_path.read_text()
    async with pool.acquire() as conn:
        assert await conn.fetchval("SELECT count(*) FROM outbox") == 0  # deleted once acknowledged


async def test_no_relay_runs_in_a_service_whose_outbox_has_its_own(settings):
    service = build_matching(settings.model_copy(update={"outbox_relay": "own-process"}))
    await service.start()
    try:
        health = await service.health()
        assert health.status_code == 200
        assert json.loads(health.body)["outbox_relayed"] is None  # no relay of its own to count
        service.wake_relay()  # after a commit: nothing to wake, nothing fails
        async with service.pool.acquire() as conn:
            await conn.executemany("INSERT INTO outbox (topic, value, headers) VALUES ('nowhere', $1, '{}')",
                                   [(b"x",)] * 3)
            try:
                metrics = (await service.metrics_now()).body.decode()
            finally:
                await conn.execute("DELETE FROM outbox WHERE topic = 'nowhere'")
        assert "redthread_outbox_waiting 3.0" in metrics  # the backlog its relay process has yet to send
    finally:
        await service.stop()


async def test_a_row_the_broker_refuses_is_parked_and_the_rows_behind_it_are_relayed(pool, settings):
    before = await stage(pool, settings, 2)
    topic = settings.topic(NEEDS.name)
    async with pool.acquire() as conn:  # larger than the broker takes (message.max.bytes, 1 MiB): never sendable
        await conn.execute(
            "INSERT INTO outbox (topic, key, value, headers) VALUES ($1, $2, $3, '{\"ce_id\": \"too-large\"}')",
            topic, b"one-key", b"x" * 1_500_000,
        )
    after = await stage(pool, settings, 2)
    relay = OutboxRelay(pool, settings, "outbox_test")
    await relay.start()
    try:
        records = await read_topic(
            settings, topic, at_least=4, where=lambda r: headers_of(r).get("ce_id") in set(before + after)
        )
        assert {headers_of(r)["ce_id"] for r in records} == set(before + after)
        for _ in range(100):  # the pass commits just after the broker's acknowledgement
            async with pool.acquire() as conn:
                parked = await conn.fetchrow("SELECT length(value) AS size, reason FROM outbox_parked")
                left = await conn.fetch("SELECT id, topic, headers::text, attempts, last_error FROM outbox")
            if parked and not left:
                break
            await asyncio.sleep(0.1)
        assert not left, left
        assert parked["size"] == 1_500_000 and "the broker takes at most" in parked["reason"]
        # The producer goes on sending after the refusal (its sequence numbers stay right).
        later = await stage(pool, settings, 3)
        relay.wake()
        records = await read_topic(settings, topic, at_least=3, where=lambda r: headers_of(r).get("ce_id") in set(later))
        assert len(records) == 3
    finally:
        await relay.stop()
        async with pool.acquire() as conn:
            await conn.execute("DELETE FROM outbox_parked")


async def test_a_row_refused_by_the_broker_itself_is_parked_and_the_producer_goes_on(pool, settings):
    # A topic that takes records of at most 2,000 bytes: the broker, not the relay, refuses.
    topic = settings.topic("outbox-test-small-records")
    admin = AIOKafkaAdminClient(**client_options(settings, ADMIN))
    await admin.start()
    try:
        await admin.create_topics([NewTopic(topic, 1, 1, topic_configs={"max.message.bytes": "2000"})])
    finally:
        await admin.close()
    async with pool.acquire() as conn:
        await conn.executemany(
            "INSERT INTO outbox (topic, key, value, headers) VALUES ($1, 'k', $2, $3)",
            [(topic, b"small", '{"ce_id": "before"}'), (topic, b"y" * 5000, '{"ce_id": "refused"}'),
             (topic, b"small", '{"ce_id": "after"}')],
        )
    relay = OutboxRelay(pool, settings, "outbox_test")
    await relay.start()
    try:
        for _ in range(100):
            async with pool.acquire() as conn:
                parked = await conn.fetchval("SELECT reason FROM outbox_parked WHERE headers->>'ce_id' = 'refused'")
                left = await conn.fetchval("SELECT count(*) FROM outbox")
            if parked and not left:
                break
            await asyncio.sleep(0.1)
        assert "MessageSizeTooLarge" in parked and left == 0
        records = await read_topic(settings, topic, at_least=2)
        assert [headers_of(r)["ce_id"] for r in records] == ["before", "after"]
    finally:
        await relay.stop()
        async with pool.acquire() as conn:
            await conn.execute("DELETE FROM outbox_parked")
