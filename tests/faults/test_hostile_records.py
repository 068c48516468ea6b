"""Hostile records of every shape on every partner topic while valid traffic flows: ids,
sources, types, headers and values from empty to the broker's maximum size, invalid UTF-8,
deep JSON, duplicates with other content. The valid workload must lose nothing and double
nothing (no partition blocked behind a poison record), and every hostile record must have
an outcome: a dead letter that names it, or — for an event refused and then sent again
corrected under the same id — acceptance."""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from dataclasses import dataclass

import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition

from contracts.topics import DEAD_LETTERS, PARTNER_FEEDBACK, PARTNER_NEEDS, PARTNER_PARTICIPATIONS, PARTNER_RESEARCH_OUTPUTS
from services.common.kafka_security import ADMIN, client_options
from tests.faults.checker import unanswered
from tests.faults.harness import Workload, assert_clean

PARTNER_TOPICS = (PARTNER_NEEDS, PARTNER_RESEARCH_OUTPUTS, PARTNER_PARTICIPATIONS, PARTNER_FEEDBACK)
SOURCE = "/partners/faults-kafka"
# The broker's default message.max.bytes is 1,048,588; a record's framing takes the rest.
BROKER_MAX = 1_000_000
SIZES = (0, 1, 1024, 8 * 1024, 100 * 1024, BROKER_MAX)


@dataclass
class Hostile:
    label: str
    topic: str  # the registry's name
    key: bytes | None
    value: bytes | None
    headers: list[tuple[str, bytes]]
    accepted_need: str | None = None  # an event that must be accepted, not dead-lettered
    either_need: str | None = None  # accepted, or dead-lettered: anything but silence


def ce(event_id: str = "", source: str = SOURCE, type_: str = "redthread.need.submitted", **more: str) -> dict[str, str]:
    headers = {"ce_id": event_id or str(uuid.uuid4()), "ce_source": source, "ce_type": type_, "ce_specversion": "1.0",
               "ce_time": "2026-11-24T09:00:00Z", "content-type": "application/json"}
    return headers | more


def as_headers(headers: dict[str, str | bytes]) -> list[tuple[str, bytes]]:
    return [(k, v if isinstance(v, bytes) else v.encode()) for k, v in headers.items()]


def hostile_records(template: dict) -> list[Hostile]:
    def need(**changes) -> dict:
        return template | {"need_id": str(uuid.uuid4())} | changes

    last_need: list[str] = []

    def valid_value() -> bytes:
        """A valid need: what carries it may still be acceptable (an odd key, a long id)."""
        value = need()
        last_need.append(value["need_id"])
        return json.dumps(value).encode()

    records: list[Hostile] = []
    for index, registry in enumerate(PARTNER_TOPICS):
        topic = registry.name
        type_ = registry.event_types[0]
        letter = "abcd"[index]  # ids differ from topic to topic

        def add(label: str, value: bytes | None, headers: dict | list, key: bytes | None = b"k") -> None:
            listed = headers if isinstance(headers, list) else as_headers(headers)
            # A valid need may be accepted (on the needs topic) or refused: only silence is wrong.
            either = last_need.pop() if last_need else None
            records.append(Hostile(f"{topic}: {label}", topic, key, value, listed, either_need=either))

        add("no headers at all", b"{}", [])
        add("a tombstone (no value)", None, ce(type_=type_))
        add("invalid UTF-8 value", b"\xff\xfe\xfa not json \xc3\x28", ce(type_=type_))
        add("JSON of another shape", b'{"hello": ["world", 1, null]}', ce(type_=type_))
        add("JSON nested 100,000 deep", b"[" * 100_000 + b"]" * 100_000, ce(type_=type_))
        add("a JSON string of the broker's maximum size", json.dumps("x" * (BROKER_MAX - 2)).encode(), ce(type_=type_))
        for size in SIZES:
            add(f"ce_id of {size} bytes", valid_value(), ce(type_=type_) | {"ce_id": letter * size})
            add(f"ce_source of {size} bytes", valid_value(), ce(source="/" * size, type_=type_))
            add(f"ce_type of {size} bytes", valid_value(), ce(type_="t" * size))
            add(f"key of {size} bytes", valid_value(), ce(type_=type_), key=b"k" * size)
        add("ce_id of invalid UTF-8", valid_value(), as_headers(ce(type_=type_)) [1:] + [("ce_id", b"\xff\xfe\xc3\x28")])
        add("ce_source of invalid UTF-8", valid_value(), [h for h in as_headers(ce(type_=type_)) if h[0] != "ce_source"]
            + [("ce_source", b"/partners/\xff\xfe")])
        add("ce_id with NUL", valid_value(), ce("a\x00b", type_=type_))
        add("an unregistered source", valid_value(), ce(source="/partners/nobody-we-know", type_=type_))
        add("a type from another topic", valid_value(), ce(type_="redthread.match.proposed"))
        add("specversion 0.3", valid_value(), ce(type_=type_, ce_specversion="0.3"))
        add("ce_id twice with other values", valid_value(), as_headers(ce(type_=type_)) + [("ce_id", b"another")])
        add("a header of 100 kB", valid_value(), ce(type_=type_, x_filler="h" * 100_000))
        add("500 headers", valid_value(), as_headers(ce(type_=type_)) + [(f"x-{i}", b"v") for i in range(500)])

    # Duplicates with other content, on the needs topic. Refused, then sent again
    # corrected under the same id: the corrected event must be accepted.
    fixed = need()
    refused_id = str(uuid.uuid4())
    broken = fixed | {"company": fixed["company"] | {"org_number": "556036-0794"}}  # fails its Luhn check
    key = fixed["need_id"].encode()
    records.append(Hostile("needs: refused (bad org number)", PARTNER_NEEDS.name, key,
                           json.dumps(broken).encode(), as_headers(ce(refused_id))))
    records.append(Hostile("needs: the same id again, corrected", PARTNER_NEEDS.name, key,
                           json.dumps(fixed).encode(), as_headers(ce(refused_id)), accepted_need=fixed["need_id"]))
    # Accepted, then another need under the same id: accepted or dead-lettered, not dropped.
    first, second = need(), need()
    same_id = str(uuid.uuid4())
    records.append(Hostile("needs: accepted", PARTNER_NEEDS.name, first["need_id"].encode(),
                           json.dumps(first).encode(), as_headers(ce(same_id)), accepted_need=first["need_id"]))
    records.append(Hostile("needs: another need under the id of an accepted one", PARTNER_NEEDS.name,
                           first["need_id"].encode(), json.dumps(second).encode(), as_headers(ce(same_id)),
                           either_need=second["need_id"]))
    return records


@dataclass
class Sent:
    hostile: Hostile
    partition: int
    offset: int


async def send_all(kafka: dict, namespace: str, records: list[Hostile]) -> list[Sent]:
    producer = AIOKafkaProducer(**kafka, acks="all", enable_idempotence=True,
                                max_request_size=4 * 1024 * 1024)
    await producer.start()
    sent = []
    try:
        for record in records:
            try:
                metadata = await producer.send_and_wait(f"{namespace}.{record.topic}", value=record.value,
                                                        key=record.key, headers=record.headers)
            except Exception as error:  # noqa: BLE001 - a record the broker refuses reaches nobody
                print(f"  the broker refused {record.label!r}: {type(error).__name__}")
                continue
            sent.append(Sent(record, metadata.partition, metadata.offset))
    finally:
        await producer.stop()
    return sent


async def dead_lettered(kafka: dict, topic: str) -> set[tuple[str, int, int]]:
    """(source topic, partition, offset) of every dead letter so far."""
    consumer = AIOKafkaConsumer(**kafka, enable_auto_commit=False,
                                max_partition_fetch_bytes=8 * 1024 * 1024, fetch_max_bytes=64 * 1024 * 1024)
    await consumer.start()
    try:
        partitions = [TopicPartition(topic, p) for p in (consumer.partitions_for_topic(topic) or ())]
        if not partitions:
            await consumer._client.force_metadata_update()  # noqa: SLF001 - aiokafka has no public refresh
            partitions = [TopicPartition(topic, p) for p in consumer.partitions_for_topic(topic) or ()]
        consumer.assign(partitions)
        await consumer.seek_to_beginning(*partitions)
        ends = await consumer.end_offsets(partitions)
        found = set()
        deadline = time.monotonic() + 30
        async def behind() -> bool:
            return any([await consumer.position(p) < ends[p] for p in partitions])

        while time.monotonic() < deadline and await behind():
            for records in (await consumer.getmany(timeout_ms=500)).values():
                for record in records:
                    headers = {k: v.decode("utf-8", "replace") for k, v in record.headers}
                    if "dlq_source_offset" in headers:
                        found.add((headers["dlq_source_topic"], int(headers["dlq_source_partition"]),
                                   int(headers["dlq_source_offset"])))
        return found
    finally:
        await consumer.stop()


@pytest.mark.fault_timeout(900)
def test_hostile_records_on_every_partner_topic(platform):
    settings = platform.settings
    records = hostile_records(platform.templates[0])
    workload = Workload(platform).start()
    workload.wait_acknowledged(0.2)
    sent = asyncio.run(send_all(client_options(settings, ADMIN), settings.namespace, records))
    healed_at = time.monotonic()
    for s in sent:
        if s.hostile.accepted_need:
            workload.acknowledged[s.hostile.accepted_need] = healed_at

    def hostile_without_outcome() -> dict[str, list[str]]:
        letters = asyncio.run(dead_lettered(client_options(settings, ADMIN), settings.topic(DEAD_LETTERS.name)))
        letters |= {(settings.registry_name(topic), p, o) for topic, p, o in letters}
        needs = platform.observe().reporting_needs
        return {"hostile-without-outcome": unanswered(
            [(s.hostile.label, s.hostile.topic, s.partition, s.offset, s.hostile.accepted_need, s.hostile.either_need)
             for s in sent],
            letters, needs)}

    result = platform.verify(f"{len(sent)} hostile records on {len(PARTNER_TOPICS)} partner topics", workload,
                             healed_at, also=hostile_without_outcome)
    assert len(sent) == len(records), "the broker refused some of the hostile records (see above)"
    assert_clean(result)
