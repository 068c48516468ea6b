"""EventConsumer on the real database: what it claims in the inbox, skips, handles and
dead-letters in one batch, and that the same batch again changes nothing."""

from __future__ import annotations

import uuid

import pytest
from aiokafka import ConsumerRecord

from contracts.envelope import encode, new_event
from contracts.events import NeedWithdrawn
from contracts.topics import NEEDS
from services.common.consumer import EventConsumer, per_event
from services.common.db import apply_migrations, create_pool
from tests.conftest import a_need

pytestmark = pytest.mark.integration


@pytest.fixture
async def pool(settings):
    pool = await create_pool(settings.database_url, "consumer_test")
    await apply_migrations(pool, "services.common")
    yield pool
    await pool.close()


def record(topic: str, offset: int, value: bytes | None, headers: dict[str, str], partition: int = 0) -> ConsumerRecord:
    return ConsumerRecord(
        topic, partition, offset, 0, 0, None, value, None, 0, len(value or b""), [(k, v.encode()) for k, v in headers.items()]
    )


async def test_a_batch_is_claimed_skipped_handled_and_dead_lettered_once(pool, settings):
    topic = settings.topic(NEEDS.name)
    handled: list[str] = []

    async def submitted(ctx, event):
        handled.append(event.id)

    consumer = EventConsumer(
        "consumer-test", pool, settings, {"redthread.need.submitted"}, per_event({"redthread.need.submitted": submitted}),
        (NEEDS,),
    )
    need = new_event(a_need(), source="/test/consumer")
    withdrawn = new_event(NeedWithdrawn(need_id=uuid.uuid4(), revision=2), source="/test/consumer")
    broken_withdrawal = encode(new_event(NeedWithdrawn(need_id=uuid.uuid4(), revision=2), source="/test/consumer"))
    records = [
        record(topic, 0, *encode(need)),
        record(topic, 1, *encode(withdrawn)),  # valid, not handled here: skipped
        record(topic, 2, b"{not json", encode(new_event(a_need(), source="/test/consumer"))[1]),  # ours, unreadable
        record(topic, 3, b"{not json", broken_withdrawal[1]),  # not ours, but unreadable: a dead letter too
        record(topic, 4, b"{}", {"content-type": "application/json"}),  # no envelope at all
        record(topic, 5, *encode(need)),  # the first again, in the same batch
    ]

    first = await consumer.consume(records)
    again = await consumer.consume(records)

    assert handled == [need.id]
    assert (first.handled, first.skipped, first.dead_lettered, first.duplicates) == (1, 1, 3, 1)
    assert (again.handled, again.skipped, again.dead_lettered, again.duplicates) == (0, 1, 0, 5)
    async with pool.acquire() as conn:
        letters = await conn.fetchval("SELECT count(*) FROM outbox WHERE topic = $1", settings.topic("redthread.dead-letters.v1"))
        await conn.execute("DELETE FROM outbox")
        await conn.execute("DELETE FROM inbox WHERE consumer = 'consumer-test'")
    assert letters == 3


async def test_a_batch_of_types_not_handled_here_needs_no_transaction(pool, settings):
    topic = settings.topic(NEEDS.name)
    consumer = EventConsumer("consumer-test", pool, settings, {"redthread.need.submitted"}, per_event({}), (NEEDS,))
    withdrawn = new_event(NeedWithdrawn(need_id=uuid.uuid4(), revision=2), source="/test/consumer")

    outcome = await consumer.consume([record(topic, 0, *encode(withdrawn))])

    assert (outcome.handled, outcome.skipped) == (0, 1)
    async with pool.acquire() as conn:
        assert await conn.fetchval("SELECT count(*) FROM inbox WHERE consumer = 'consumer-test'") == 0
