"""`python -m services.ops lag`: a group that committed before three records were written
is three records behind, and the oldest has waited about as long as it has."""

from __future__ import annotations

import asyncio
import time

from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.structs import OffsetAndMetadata

from contracts.topics import NEEDS
from services.common.kafka_security import ADMIN, client_options
from services.ops.lag import consumer_lag


async def test_lag_counts_records_and_the_age_of_the_oldest_waiting(settings, producer):
    topic = settings.topic(NEEDS.name)
    group = settings.group_id("lag-probe")
    committer = AIOKafkaConsumer(**client_options(settings, ADMIN), group_id=group, enable_auto_commit=False)
    await committer.start()
    try:
        partition = TopicPartition(topic, 0)
        committer.assign([partition])
        end = (await committer.end_offsets([partition]))[partition]
        await committer.commit({partition: OffsetAndMetadata(end, "")})
    finally:
        await committer.stop()
    written = time.time()
    for n in range(3):
        await producer.send_and_wait(topic, f"record {n}".encode(), partition=0)
    await asyncio.sleep(1.0)

    rows = {(g, t, p): (behind, age) for g, t, p, behind, age in await consumer_lag(settings)}
    behind, age = rows[(group, topic, 0)]
    assert behind == 3
    assert 1.0 <= age <= time.time() - written + 1.0


async def test_two_groups_stopped_at_different_offsets_of_one_partition_each_get_their_own_age(settings, producer):
    """The oldest waiting record of each group is read in rounds, one offset per partition
    at a time: the group that stopped earlier has waited longer."""
    topic = settings.topic(NEEDS.name)
    partition = TopicPartition(topic, 1)
    early, late = settings.group_id("lag-early"), settings.group_id("lag-late")
    await _commit_at_end(settings, early, partition)
    first_written = time.time()
    await producer.send_and_wait(topic, b"first", partition=1)
    await asyncio.sleep(1.5)
    await _commit_at_end(settings, late, partition)
    second_written = time.time()
    await producer.send_and_wait(topic, b"second", partition=1)
    await asyncio.sleep(0.5)

    rows = {(g, t, p): (behind, age) for g, t, p, behind, age in await consumer_lag(settings)}
    early_behind, early_age = rows[(early, topic, 1)]
    late_behind, late_age = rows[(late, topic, 1)]
    assert (early_behind, late_behind) == (2, 1)
    assert time.time() - first_written - 1.0 <= early_age <= time.time() - first_written + 1.0
    assert time.time() - second_written - 1.0 <= late_age <= time.time() - second_written + 1.0
    assert early_age > late_age + 1.0


async def _commit_at_end(settings, group: str, partition: TopicPartition) -> None:
    committer = AIOKafkaConsumer(**client_options(settings, ADMIN), group_id=group, enable_auto_commit=False)
    await committer.start()
    try:
        committer.assign([partition])
        end = (await committer.end_offsets([partition]))[partition]
        await committer.commit({partition: OffsetAndMetadata(end, "")})
    finally:
        await committer.stop()
