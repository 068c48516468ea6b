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
