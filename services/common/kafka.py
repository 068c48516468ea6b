"""Kafka wiring shared by every service: the FastStream broker, its subscribers, and
topic creation from the registry."""

from __future__ import annotations

import logging
from collections.abc import Sequence

from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import TopicAlreadyExistsError
from faststream import AckPolicy
from faststream.kafka import KafkaBroker, KafkaMessage
from faststream.kafka.opentelemetry import KafkaTelemetryMiddleware
from opentelemetry.sdk.trace import TracerProvider

from contracts.topics import ALL_TOPICS, Topic
from services.common.consumer import EventConsumer
from services.common.settings import Settings

log = logging.getLogger(__name__)


def make_broker(settings: Settings, service: str, tracer_provider: TracerProvider) -> KafkaBroker:
    return KafkaBroker(
        settings.kafka_bootstrap_servers,
        client_id=f"redthread-{service}",
        acks="all",
        enable_idempotence=True,
        # Topics come from the registry (`make up`), never from a client's guess.
        allow_auto_create_topics=False,
        middlewares=[KafkaTelemetryMiddleware(tracer_provider=tracer_provider)],
        logger=logging.getLogger(f"redthread.{service}.kafka"),
    )


async def _raw_bodies(message: KafkaMessage) -> object:
    """Leave decoding to EventConsumer, so that a body that is not JSON becomes a dead
    letter with a reason instead of an error inside FastStream."""
    return message.body


def subscribe(broker: KafkaBroker, settings: Settings, consumer: EventConsumer, topics: Sequence[Topic]) -> None:
    """One batch subscriber for `consumer` over `topics`, committing only after the batch's
    transaction (NACK_ON_ERROR: a transient failure rewinds to the batch's first record)."""

    async def handle_batch(message: KafkaMessage) -> None:
        await consumer.consume(message.raw_message)

    handle_batch.__name__ = f"{consumer.name.replace('-', '_')}_batch"
    broker.subscriber(
        *(settings.topic(t.name) for t in topics),
        group_id=settings.group_id(consumer.name),
        batch=True,
        max_records=settings.consumer_batch_size,
        batch_timeout_ms=settings.consumer_batch_timeout_ms,
        auto_offset_reset="earliest",
        ack_policy=AckPolicy.NACK_ON_ERROR,
        decoder=_raw_bodies,
        title=f"{consumer.name}:{'+'.join(t.name for t in topics)}",
        description="; ".join(t.description for t in topics),
    )(handle_batch)


async def ensure_topics(settings: Settings, topics: Sequence[Topic] = ALL_TOPICS, replication_factor: int = 1) -> list[str]:
    """Create missing topics from the registry; returns the names created."""
    admin = AIOKafkaAdminClient(bootstrap_servers=settings.kafka_bootstrap_servers, client_id="redthread-admin")
    await admin.start()
    try:
        existing = set(await admin.list_topics())
        missing = [
            NewTopic(settings.topic(t.name), num_partitions=t.partitions, replication_factor=replication_factor)
            for t in topics
            if settings.topic(t.name) not in existing
        ]
        if missing:
            try:
                await admin.create_topics(missing)
            except TopicAlreadyExistsError:
                pass
        return [t.name for t in missing]
    finally:
        await admin.close()
