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
        # (group, partition, the offset it stopped at, records behind)
        stopped = [(group, tp, offset.offset, max(0, ends[tp] - offset.offset))
                   for group in groups for tp, offset in sorted(committed[group].items())]
        written_at = await _written_at(consumer, {(tp, at) for _, tp, at, behind in stopped if behind})
        now = time.time()
        rows = []
        for group, tp, at, behind in stopped:
            waited = None if (tp, at) not in written_at else now - written_at[(tp, at)]
            rows.append((group, tp.topic, tp.partition, behind, waited if behind else 0.0))
        return rows
    finally:
        await consumer.stop()
        await admin.close()


async def _written_at(consumer: AIOKafkaConsumer, wanted: set[tuple[TopicPartition, int]]) -> dict:
    """When the record at each (partition, offset) was written (seconds since the epoch),
    read in rounds: each round fetches the first record at one wanted offset of every
    partition at once (groups that stopped at different offsets of one partition take a
    round each). What is not found within AGE_TIMEOUT_MS is left out."""
    found: dict[tuple[TopicPartition, int], float] = {}
    remaining = sorted(wanted, key=lambda item: (item[0].topic, item[0].partition, item[1]))
    deadline = time.monotonic() + AGE_TIMEOUT_MS / 1000
    while remaining and time.monotonic() < deadline:
        this_round = {tp: offset for tp, offset in remaining}  # one offset per partition
        consumer.assign(list(this_round))
        for tp, offset in this_round.items():
            consumer.seek(tp, offset)
        waiting = set(this_round)
        while waiting and time.monotonic() < deadline:
            timeout_ms = max(1, int((deadline - time.monotonic()) * 1000))
            for tp, records in (await consumer.getmany(*waiting, timeout_ms=timeout_ms, max_records=len(waiting))).items():
                if records and tp in waiting:
                    found[(tp, this_round[tp])] = records[0].timestamp / 1000
                    waiting.discard(tp)
        remaining = [item for item in remaining if item not in found and this_round.get(item[0]) != item[1]]
    return found


async def show_lag(args: argparse.Namespace, settings: Settings) -> int:
    rows = await consumer_lag(settings)
    shown = [row for row in rows if args.all or row[3]]
    for group, topic, partition, behind, seconds in shown:
        age = "?" if seconds is None else f"{seconds:,.1f} s"
        print(f"{group:<40} {topic}[{partition}]  {behind:>8,} records behind  oldest waiting {age}")
    total = sum(row[3] for row in rows)
    print(f"{len({row[0] for row in rows})} groups, {len(rows)} partitions, {total:,} records behind in all")
    return 0
