"""Every shape of record a careless or hostile partner can put on a topic, in one batch
with a valid event, through EventConsumer on the real database: the valid event is
handled, every other record becomes a dead letter that fits the broker, and nothing
raises — no shape can stop the consumer."""

from __future__ import annotations

import asyncpg
import pytest
from aiokafka import ConsumerRecord

from contracts.envelope import encode, new_event
from contracts.topics import NEEDS
from services.common.consumer import EventConsumer, Rejected, per_event
from services.common.db import apply_migrations, create_pool
from services.common.dead_letters import MAX_DEAD_LETTER_BYTES
from tests.conftest import a_need

pytestmark = pytest.mark.integration

SUBMITTED = "redthread.need.submitted"


@pytest.fixture
async def pool(settings):
    pool = await create_pool(settings.database_url, "hostile_shapes")
    await apply_migrations(pool, "services.common")
    yield pool
    async with pool.acquire() as conn:
        await conn.execute("DELETE FROM outbox")
        await conn.execute("DELETE FROM inbox")
    await pool.close()


def raw(topic: str, offset: int, value: bytes | None, headers: list[tuple[str, bytes]], key: bytes | None = None):
    return ConsumerRecord(topic, 0, offset, 0, 0, key, value, None, len(key or b""), len(value or b""), headers)


def as_headers(headers: dict[str, str]) -> list[tuple[str, bytes]]:
    return [(k, v.encode()) for k, v in headers.items()]


def a_record() -> tuple[bytes, list[tuple[str, bytes]]]:
    value, headers = encode(new_event(a_need(), source="/partners/hostile"))
    return value, as_headers(headers)


def changed(headers: list[tuple[str, bytes]], name: str, value: bytes | None) -> list[tuple[str, bytes]]:
    return [(k, value if k == name else v) for k, v in headers]


def refused_shapes(topic: str) -> list[ConsumerRecord]:
    """Records that cannot be taken for an event: each must become a dead letter."""
    shapes = []
    for make in (
        lambda v, h: (None, h),  # no value at all
        lambda v, h: (b"", h),  # an empty value
        lambda v, h: (b"\xff\xfe\x00 invalid utf-8", h),
        lambda v, h: (b"[" * 200_000 + b"]" * 200_000, h),  # JSON nested 200,000 deep
        lambda v, h: (b'{"a":' * 5_000 + b"1" + b"}" * 5_000, h),
        lambda v, h: (v, changed(h, "ce_id", b"x" * 300_000)),  # an id of 300 kB
        lambda v, h: (v, changed(h, "ce_id", b"")),  # an empty id
        lambda v, h: (v, changed(h, "ce_type", b"redthread.nothing.v9")),  # a type that does not belong here
        lambda v, h: (v.replace(b'"title":"', b'"title":"' + b"\x01" * 700_000), h),  # 700 kB of control characters
        lambda v, h: (b"\x00" * 900_000, h),  # 900 kB of NUL: base64 in the dead letter, cut to fit
        lambda v, h: (v, []),  # no headers at all
    ):
        shapes.append(make(*a_record()))
    return [raw(topic, offset, value, headers) for offset, (value, headers) in enumerate(shapes)]


def odd_but_readable_shapes(topic: str, first_offset: int) -> list[ConsumerRecord]:
    """Records odd in their wrapping only: handled or dead-lettered, as their data says."""
    shapes = []
    for make in (
        lambda v, h: (v, changed(h, "ce_source", b"/partners/\xff\xfe"), None),  # a header not UTF-8
        lambda v, h: (v, h + [(f"x-extra-{i}", b"y" * 1000) for i in range(500)], None),  # 500 extra headers
        lambda v, h: (v, h + [("x-null", None)], None),  # a header without a value
        lambda v, h: (v, h, b"k" * 500_000),  # a key of 500 kB
        lambda v, h: (v, h + [("traceparent", b"0" * 100_000)], None),  # a trace header of 100 kB
    ):
        shapes.append(make(*a_record()))
    return [raw(topic, first_offset + i, value, headers, key) for i, (value, headers, key) in enumerate(shapes)]


async def test_every_shape_is_handled_or_dead_lettered_within_bounds(pool, settings):
    topic = settings.topic(NEEDS.name)
    handled: list[str] = []

    async def submitted(_ctx, event):
        handled.append(event.id)

    consumer = EventConsumer("hostile-shapes", pool, settings, {SUBMITTED}, per_event({SUBMITTED: submitted}), (NEEDS,))
    refused = refused_shapes(topic)
    odd = odd_but_readable_shapes(topic, len(refused))
    valid, headers = a_record()
    batch = [*refused, *odd, raw(topic, len(refused) + len(odd), valid, headers)]

    outcome = await consumer.consume(batch)

    assert dict(headers)["ce_id"].decode() in handled
    assert outcome.handled + outcome.dead_lettered == len(batch), outcome
    assert outcome.dead_lettered >= len(refused)
    async with pool.acquire() as conn:
        letters = await conn.fetch(
            "SELECT length(value) AS size, headers::text AS headers, headers->>'dlq_source_offset' AS offset FROM outbox"
        )
    assert {int(letter["offset"]) for letter in letters} >= set(range(len(refused)))
    assert max(letter["size"] for letter in letters) <= MAX_DEAD_LETTER_BYTES
    assert max(len(letter["headers"]) for letter in letters) < 16_000


class _InboxRefusing(EventConsumer):
    """A consumer whose inbox refuses one key for good, as PostgreSQL refused a key too
    long to index: the mechanism itself fails, not a handler."""

    async def _claim(self, conn, items):
        if any("poison" in item.inbox_key for item in items):
            raise asyncpg.PostgresError.new({"C": "54000", "M": "index row size exceeds btree version 4 maximum"})
        return await super()._claim(conn, items)


async def test_a_record_the_mechanism_cannot_take_is_dead_lettered_alone_and_the_rest_handled(pool, settings):
    topic = settings.topic(NEEDS.name)
    handled: list[str] = []

    async def submitted(_ctx, event):
        handled.append(event.id)

    consumer = _InboxRefusing("inbox-refusing", pool, settings, {SUBMITTED}, per_event({SUBMITTED: submitted}), (NEEDS,))
    events = [new_event(a_need(), source="/partners/hostile", event_id=f"event-{i}") for i in range(5)]
    events[2] = new_event(a_need(), source="/partners/hostile", event_id="poison")
    batch = [raw(topic, i, encode(e)[0], as_headers(encode(e)[1])) for i, e in enumerate(events)]

    outcome = await consumer.consume(batch)

    assert sorted(handled) == sorted(e.id for i, e in enumerate(events) if i != 2)
    assert (outcome.handled, outcome.dead_lettered) == (4, 1)
    async with pool.acquire() as conn:
        reason = await conn.fetchval("SELECT headers->>'dlq_reason' FROM outbox")
    assert "index row size" in reason


async def test_a_key_twice_in_one_batch_meets_what_became_of_the_first(pool, settings):
    topic = settings.topic(NEEDS.name)
    handled: list[str] = []

    async def submitted(_ctx, event):
        if event.data.title == "refuse me":
            raise Rejected("the title says so")
        handled.append(event.data.title)

    consumer = EventConsumer("key-twice", pool, settings, {SUBMITTED}, per_event({SUBMITTED: submitted}), (NEEDS,))

    def sent(event_id: str, title: str) -> tuple[bytes, list[tuple[str, bytes]]]:
        value, headers = encode(new_event(a_need(title=title), source="/partners/hostile", event_id=event_id))
        return value, as_headers(headers)

    shapes = [
        sent("refused-then-corrected", "refuse me"),
        sent("refused-then-corrected", "corrected"),  # sent again right after its refusal
        sent("accepted", "first"),
        sent("accepted", "another under the same id"),
        sent("accepted", "first"),  # the very same again
    ]
    batch = [raw(topic, offset, value, headers) for offset, (value, headers) in enumerate(shapes)]
    # the very same record (same content) again needs the same bytes
    batch[4] = raw(topic, 4, batch[2].value, batch[2].headers)

    outcome = await consumer.consume(batch)

    assert handled == ["corrected", "first"]
    assert (outcome.handled, outcome.dead_lettered, outcome.duplicates) == (2, 2, 1), outcome
    async with pool.acquire() as conn:
        reasons = sorted(await conn.fetchval("SELECT array_agg(headers->>'dlq_reason') FROM outbox"))
    assert reasons[0].startswith("a different event was already accepted") and reasons[1] == "the title says so"
