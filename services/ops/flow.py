"""`flow`: how many records each of redthread's topics took in the last hour (or any
span), in equal slices, read from the broker's own index of record times
(offsets_for_times), so nothing is consumed to count them."""

from __future__ import annotations

import argparse
import time
from dataclasses import dataclass

from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient

from contracts.topics import ALL_TOPICS, partner_topic_owner
from services.common.kafka_security import ADMIN, client_options
from services.common.settings import Settings

SLICES = 12


@dataclass(frozen=True)
class TopicFlow:
    topic: str  # the registry's name (without the namespace)
    per_slice: tuple[int, ...]  # records written in each slice, oldest first

    @property
    def total(self) -> int:
        return sum(self.per_slice)


def register(groups: argparse._SubParsersAction) -> None:
    parser = groups.add_parser("flow", help="records written per topic in the last hour, in 5-minute slices")
    parser.add_argument("--minutes", type=int, default=60, help="how far back (default 60)")
    parser.set_defaults(run=show_flow)


def is_redthreads(settings: Settings, topic: str) -> bool:
    """A topic of this namespace that the registry knows, or a partner's own topic."""
    if settings.namespace and not topic.startswith(settings.namespace + "."):
        return False
    name = settings.registry_name(topic)
    return any(name == known.name for known in ALL_TOPICS) or partner_topic_owner(name) is not None


async def topic_flow(settings: Settings, minutes: int = 60, slices: int = SLICES) -> tuple[float, list[TopicFlow]]:
    """(seconds per slice, the flow of every topic of this namespace, by name)."""
    admin = AIOKafkaAdminClient(**client_options(settings, ADMIN))
    consumer = AIOKafkaConsumer(**client_options(settings, ADMIN), enable_auto_commit=False)
    await admin.start()
    await consumer.start()
    try:
        topics = sorted(t for t in await admin.list_topics() if is_redthreads(settings, t))
        described = await admin.describe_topics(topics) if topics else []
        partitions = sorted(TopicPartition(d["topic"], p["partition"]) for d in described for p in d["partitions"])
        if not partitions:
            return minutes * 60 / slices, []
        now_ms = int(time.time() * 1000)
        slice_ms = minutes * 60_000 // slices
        ends = await consumer.end_offsets(partitions)
        # The first offset written at or after each boundary; none yet: the end.
        boundaries = []
        for n in range(slices):
            found = await consumer.offsets_for_times({tp: now_ms - (slices - n) * slice_ms for tp in partitions})
            boundaries.append({tp: found[tp].offset if found.get(tp) else ends[tp] for tp in partitions})
        boundaries.append(ends)
        flows = []
        for topic in topics:
            mine = [tp for tp in partitions if tp.topic == topic]
            flows.append(TopicFlow(settings.registry_name(topic), tuple(
                sum(boundaries[n + 1][tp] - boundaries[n][tp] for tp in mine) for n in range(slices)
            )))
        return slice_ms / 1000, flows
    finally:
        await consumer.stop()
        await admin.close()


async def show_flow(args: argparse.Namespace, settings: Settings) -> int:
    slice_s, flows = await topic_flow(settings, args.minutes)
    bars = " ▁▂▃▄▅▆▇█"
    top = max((max(f.per_slice) for f in flows), default=0) or 1
    for flow in flows:
        spark = "".join(bars[0 if n == 0 else max(1, round(n / top * 8))] for n in flow.per_slice)
        print(f"{flow.topic:<40} {flow.total:>9,}  {spark}")
    print(f"last {args.minutes} min in slices of {slice_s / 60:g} min; {sum(f.total for f in flows):,} records in all")
    return 0
