"""Records a careless or hostile partner sends on the shared partner topic, against intake
as a real process on the real broker: none of them stops the partition it came on, each
gets an answer (accepted, or a dead letter with the reason), and the valid events sent
after them still flow.

These are the records the inbox and the dead letters once choked on: an id too long to
index, a record so large that its dead letter would not fit the broker, an event sent
again corrected after a refusal, and a different event under an id already accepted."""

from __future__ import annotations

import asyncio
import hashlib
import json
import uuid

import pytest

from contracts.envelope import encode, new_event
from contracts.topics import DEAD_LETTERS, NEEDS, PARTNER_NEEDS
from deploy.demo.partners import provision
from services.common.dead_letters import MAX_DEAD_LETTER_BYTES
from services.intake.admin import event_types
from services.intake.partners import Partner
from tests.conftest import a_need, headers_of, publish_raw, read_topic

pytestmark = pytest.mark.integration

CARELESS = Partner("careless", "A careless partner", event_types("needs"), requests_per_minute=1_000_000)
LATE = Partner("late", "A partner registered after its first event", event_types("needs"))


@pytest.fixture(scope="module")
def intake(intake_process, settings):
    asyncio.run(provision(settings, (CARELESS,)))
    return intake_process


def a_partner_need(source: str = "/partners/careless", event_id: str | None = None, **changes):
    event = new_event(a_need(**changes), source=source, event_id=event_id)
    return event, *encode(event)


async def accepted(settings, partner_event_id: str, timeout_s: float = 30) -> list:
    """The canonical events intake published for a partner's event."""
    return await read_topic(
        settings,
        settings.topic(NEEDS.name),
        where=lambda record: headers_of(record).get("ce_causationid") == partner_event_id,
        timeout_s=timeout_s,
    )


async def dead_letters(settings, ce_id: str, at_least: int = 1, timeout_s: float = 30) -> list[dict]:
    """The dead letters of records that carried this ce_id, as (headers, body)."""

    def about(record) -> bool:
        return json.loads(record.value).get("original_headers", {}).get("ce_id", "").startswith(ce_id[:500])

    records = await read_topic(settings, settings.topic(DEAD_LETTERS.name), where=about, timeout_s=timeout_s, at_least=at_least)
    return [(headers_of(record), json.loads(record.value), len(record.value)) for record in records]


async def test_an_id_too_long_to_index_is_refused_and_the_partition_goes_on(intake, settings, producer):
    topic = settings.topic(PARTNER_NEEDS.name)
    _, value, headers = a_partner_need()
    long_id = "x" * 6000  # as an inbox key: far past PostgreSQL's btree limit of 2704 bytes
    after, after_value, after_headers = a_partner_need()
    await publish_raw(producer, topic, value, headers | {"ce_id": long_id}, key="same-partition")
    await publish_raw(producer, topic, after_value, after_headers, key="same-partition")

    assert await accepted(settings, after.id), "the event behind the long id was never accepted"
    [(letter_headers, letter, _)] = await dead_letters(settings, long_id)
    assert "/id" in json.dumps(letter["problems"]) or "id" in letter_headers["dlq_reason"]
    assert len(letter["original_headers"]["ce_id"]) < 2000 and letter["original_truncated"] is True


async def test_a_record_near_the_broker_limit_is_dead_lettered_whole_enough_to_find(intake, settings, producer):
    topic = settings.topic(PARTNER_NEEDS.name)
    event, value, headers = a_partner_need()
    # 900 kB of control characters inside the text: not valid JSON as it stands, and
    # six bytes each once the dead letter's own JSON escapes them.
    huge = value.replace(b'"description":"', b'"description":"' + b"\x01" * 900_000)
    after, after_value, after_headers = a_partner_need()
    await publish_raw(producer, topic, huge, headers, key="big")
    await publish_raw(producer, topic, after_value, after_headers, key="big")

    assert await accepted(settings, after.id), "the event behind the large record was never accepted"
    [(letter_headers, letter, size)] = await dead_letters(settings, event.id)
    assert size <= MAX_DEAD_LETTER_BYTES
    assert letter["original_truncated"] is True
    assert letter["original_value_bytes"] == len(huge)
    assert letter["original_value_sha256"] == hashlib.sha256(huge).hexdigest()
    assert (letter["source_topic"], letter["source_offset"] >= 0) == (topic, True)
    assert "JSON" in letter_headers["dlq_reason"]


async def test_a_refused_event_sent_again_once_its_cause_is_fixed_is_accepted(intake, settings, producer):
    topic = settings.topic(PARTNER_NEEDS.name)
    event, value, headers = a_partner_need(source="/partners/late")
    await publish_raw(producer, topic, value, headers, key="late")
    [(letter_headers, _, _)] = await dead_letters(settings, event.id)
    assert "late" in letter_headers["dlq_reason"]

    await provision(settings, (LATE,))  # the cause: the partner was not registered yet
    await asyncio.sleep(settings.partner_cache_s * 2)  # intake's partner cache must see it
    await publish_raw(producer, topic, value, headers, key="late")  # the very same record, again

    assert await accepted(settings, event.id), "the corrected event was dropped"


async def test_a_different_event_under_an_accepted_id_is_refused_with_the_reason(intake, settings, producer):
    topic = settings.topic(PARTNER_NEEDS.name)
    event, value, headers = a_partner_need()
    await publish_raw(producer, topic, value, headers, key="reuse")
    assert await accepted(settings, event.id)

    _, other_value, _ = a_partner_need(title="Något helt annat", need_id=uuid.uuid4())
    await publish_raw(producer, topic, other_value, headers, key="reuse")  # same source and id
    await publish_raw(producer, topic, value, headers, key="reuse")  # the first again: a duplicate, silent

    [(letter_headers, letter, _)] = await dead_letters(settings, event.id)
    assert "already accepted" in letter_headers["dlq_reason"]
    assert json.loads(letter["original_value"])["title"] == "Något helt annat"
    assert len(await accepted(settings, event.id, timeout_s=3)) == 1
