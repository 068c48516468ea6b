"""The operators' console keeps every dead letter as it comes (services/operations), on the
real broker and database:

- what its page filters and counts from that copy is what `python -m services.ops
  dead-letters` chooses from the topic itself, filter for filter;
- a record on the dead-letter topic that it cannot read is logged and left there, never
  dead-lettered again (a letter about a letter would be refused in turn, without end),
  and the letters behind it are kept."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime, timedelta

from contracts.events import DeadLetterRecord
from contracts.topics import DEAD_LETTERS
from services.ops import dead_letters
from tests.conftest import publish_event, publish_raw, read_topic


def a_letter(consumer: str, topic: str, reason: str, minutes_ago: float) -> DeadLetterRecord:
    return DeadLetterRecord(
        consumer=consumer, reason=reason, source_topic=topic, source_partition=0, source_offset=1,
        original_headers={"ce_id": str(uuid.uuid4())}, original_value="{}", original_value_encoding="utf-8",
        failed_at=datetime.now(UTC) - timedelta(minutes=minutes_ago),
    )


async def kept_count(console) -> int:
    async with console.pool.acquire() as conn:
        return await conn.fetchval("SELECT count(*) FROM dead_letters")


async def test_the_console_filters_its_copy_as_the_command_filters_the_topic(console, settings, producer):
    topic = settings.topic(DEAD_LETTERS.name)
    letters = [
        a_letter("intake", settings.topic("partner.needs.v1"), "source '/partners/a' is not a registered partner", 90),
        a_letter("intake", settings.topic("partner.needs.v1"), "source '/partners/b' is not a registered partner", 30),
        a_letter("matching", settings.topic("redthread.needs.v1"), "the CloudEvents headers are missing", 10),
        a_letter("reporting", settings.topic("redthread.feedback.v1"), "could not be handled: KeyError", 1),
    ]
    for letter in letters:
        await publish_event(producer, topic, letter, source="/redthread/test", key=letter.source_topic)
    for _ in range(100):
        if await kept_count(console) >= len(letters):
            break
        await asyncio.sleep(0.2)
    from_topic = await dead_letters.read_letters(settings)
    assert len(from_topic) == len(letters)
    some_id = from_topic[1].dead_letter_id[:10]
    for filters in ({}, {"consumer": "intake"}, {"source_topic": "redthread.needs.v1"}, {"reason": "REGISTERED"},
                    {"since": datetime.now(UTC) - timedelta(minutes=45)}, {"ids": [some_id]},
                    {"consumer": "intake", "reason": "partner", "since": datetime.now(UTC) - timedelta(hours=2)}):
        chosen = dead_letters.chosen(from_topic, settings, **filters)
        async with console.pool.acquire() as conn:
            kept = await dead_letters.kept_letters(conn, settings, **filters)
        assert [letter.dead_letter_id for letter in kept.newest] == [l.dead_letter_id for l in reversed(chosen)], filters
        assert kept.total == len(chosen) and kept.reasons == dead_letters.reasons(chosen), filters
        assert [letter.letter for letter in kept.newest] == [l.letter for l in reversed(chosen)]
    async with console.pool.acquire() as conn:
        every = await dead_letters.kept_letters(conn, settings, most=2)
    assert len(every.newest) == 2 and every.total == 4
    assert every.consumers == ["intake", "matching", "reporting"]
    assert every.source_topics == ["partner.needs.v1", "redthread.feedback.v1", "redthread.needs.v1"]


async def test_an_unreadable_record_on_the_dead_letter_topic_is_not_dead_lettered_again(console, settings, producer):
    topic = settings.topic(DEAD_LETTERS.name)
    before = await kept_count(console)
    await publish_raw(producer, topic, b"not a dead letter", {"ce_id": "garbled"}, key="k")
    behind = a_letter("intake", settings.topic("partner.needs.v1"), "behind the garbled record", 0)
    await publish_event(producer, topic, behind, source="/redthread/test", key="k")  # same key: same partition, after it
    for _ in range(100):
        if await kept_count(console) > before:
            break
        await asyncio.sleep(0.2)
    async with console.pool.acquire() as conn:
        assert await conn.fetchval("SELECT count(*) FROM dead_letters WHERE reason = 'behind the garbled record'") == 1
    await asyncio.sleep(1.0)  # time for a letter about the garbled record, were one written
    on_topic = await read_topic(settings, topic, at_least=10**6, timeout_s=2)
    assert not [r for r in on_topic if b"not a dead letter" in r.value and r.value != b"not a dead letter"]
    assert sum(1 for r in on_topic if r.value == b"not a dead letter") == 1  # left where it was, once
