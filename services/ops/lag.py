"""`lag`: how far behind each of redthread's consumer groups is, per partition, in records
and in seconds (the age of the oldest record it has not yet committed past)."""

from __future__ import annotations

import argparse
import time

from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient

from services.common.kafka_security import ADMIN, client_options
from services.common.settings import Settings

AGE_TIMEOUT_MS = 2000


def register(groups: argparse._SubParsersAction) -> None:
    parser = groups.add_parser("lag", help="consumer lag per group and partition, in records and seconds")
    parser.add_argument("--all", action="store_true", help="partitions without lag too")
    parser.set_defaults(run=show_lag)


async def consumer_lag(settings: Settings) -> list[tuple[str, str, int, int, float | None]]:
    """(group, topic, partition, records behind, seconds behind) for the groups of this
    namespace's services, every partition they have committed on."""
    admin = AIOKafkaAdminClient(**client_options(settings, ADMIN))
    consumer = AIOKafkaConsumer(**client_options(settings, ADMIN), enable_auto_commit=False)
    await admin.start()
    await consumer.start()
    try:
        prefix = settings.group_id("")
        groups = sorted(group for group, _ in await admin.list_consumer_groups() if group.startswith(prefix))
        committed = {group: await admin.list_consumer_group_offsets(group) for group in groups}
        partitions = sorted({tp for offsets in committed.values() for tp in offsets})
        ends = await consumer.end_offsets(partitions) if partitions else {}
        rows = []
        for group in groups:
            for tp, offset in sorted(committed[group].items()):
                behind = max(0, ends[tp] - offset.offset)
                rows.append((group, tp.topic, tp.partition, behind, await _age(consumer, tp, offset.offset) if behind else 0.0))
        return rows
    finally:
        await consumer.stop()
        await admin.close()


async def _age(consumer: AIOKafkaConsumer, tp: TopicPartition, offset: int) -> float | None:
    """Seconds since the first record not yet committed past was written."""
    consumer.assign([tp])
    consumer.seek(tp, offset)
    found = await consumer.getmany(tp, timeout_ms=AGE_TIMEOUT_MS, max_records=1)
    records = found.get(tp)
    return time.time() - records[0].timestamp / 1000 if records else None


async def show_lag(args: argparse.Namespace, settings: Settings) -> int:
    rows = await consumer_lag(settings)
    shown = [row for row in rows if args.all or row[3]]
    for group, topic, partition, behind, seconds in shown:
        age = "?" if seconds is None else f"{seconds:,.1f} s"
        print(f"{group:<40} {topic}[{partition}]  {behind:>8,} records behind  oldest waiting {age}")
    total = sum(row[3] for row in rows)
    print(f"{len({row[0] for row in rows})} groups, {len(rows)} partitions, {total:,} records behind in all")
    return 0
