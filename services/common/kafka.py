"""Kafka wiring shared by every service: the FastStream broker and its subscribers
(topics and ACLs are provisioned by services/common/kafka_provisioning.py)."""

from __future__ import annotations

import dataclasses
import logging
import re
from collections.abc import Callable, Sequence

from aiokafka import ConsumerRecord
from faststream import AckPolicy
from faststream.kafka import KafkaBroker, KafkaMessage
from faststream.kafka.subscriber.usecase import LogicSubscriber as KafkaSubscriber
from faststream.kafka.opentelemetry import KafkaTelemetryMiddleware
from opentelemetry.trace import TracerProvider

from contracts.topics import Topic
from services.common.consumer import EventConsumer
from services.common.kafka_security import broker_security, service_principal
from services.common.settings import Settings
from services.common.telemetry import exporting

log = logging.getLogger(__name__)


def make_broker(settings: Settings, service: str, tracer_provider: TracerProvider) -> KafkaBroker:
    return KafkaBroker(
        settings.bootstrap_servers,
        security=broker_security(settings, service_principal(service)),
        client_id=f"redthread-{service}",
        acks="all",
        enable_idempotence=True,
        # Topics come from the registry (`make up`), never from a client's guess.
        allow_auto_create_topics=False,
        metadata_max_age_ms=settings.kafka_metadata_max_age_ms,
        # FastStream's own consume span per batch, only when spans are exported: it reads
        # every record's headers for links and baggage, a cost per event for nothing
        # otherwise. EventConsumer keeps each event's trace context either way.
        middlewares=[KafkaTelemetryMiddleware(tracer_provider=tracer_provider)] if exporting() else [],
        logger=logging.getLogger(f"redthread.{service}.kafka"),
    )


def _readable_headers(record: ConsumerRecord) -> ConsumerRecord:
    """FastStream decodes every header as UTF-8 and fails the whole batch on one that is
    not; repair such values (U+FFFD) so the record can reach EventConsumer and become a
    dead letter, instead of a parse error that no one sees."""
    headers = record.headers or ()
    try:
        for _, value in headers:
            value.decode()
        return record
    except (UnicodeDecodeError, AttributeError):
        repaired = [(name, (value or b"").decode("utf-8", "replace").encode()) for name, value in headers]
        return dataclasses.replace(record, headers=repaired)


async def _tolerant_parser(records: tuple[ConsumerRecord, ...], parse: Callable) -> object:
    try:
        return await parse(records)
    except (UnicodeDecodeError, AttributeError):  # rare: repair only then
        return await parse(tuple(_readable_headers(record) for record in records))


async def _raw_bodies(message: KafkaMessage) -> object:
    """Leave decoding to EventConsumer, so that a body that is not JSON becomes a dead
    letter with a reason instead of an error inside FastStream."""
    return message.body


def subscribe(
    broker: KafkaBroker,
    settings: Settings,
    consumer: EventConsumer,
    topics: Sequence[Topic],
    *,
    partner_topics_by_pattern: bool = False,
    max_batch: int | None = None,
) -> KafkaSubscriber:
    """One batch subscriber for `consumer` over `topics` — or, for intake, over every
    partner topic, shared or a partner's own, by pattern — committing only after the
    batch's transaction (NACK_ON_ERROR: a transient failure rewinds to the batch's first
    record)."""

    async def handle_batch(message: KafkaMessage) -> None:
        await consumer.consume(message.raw_message, message.batch_headers)

    handle_batch.__name__ = f"{consumer.name.replace('-', '_')}_batch"
    where = (
        {"pattern": re.escape(settings.topic("partner.")) + ".*"}
        if partner_topics_by_pattern
        else {}
    )
    subscriber = broker.subscriber(
        *(() if partner_topics_by_pattern else (settings.topic(t.name) for t in topics)),
        **where,
        group_id=settings.group_id(consumer.name),
        batch=True,
        max_records=max_batch or settings.consumer_batch_size,
        batch_timeout_ms=settings.consumer_batch_timeout_ms,
        fetch_max_wait_ms=settings.consumer_fetch_max_wait_ms,
        max_poll_interval_ms=settings.consumer_max_poll_interval_ms,
        session_timeout_ms=settings.consumer_session_timeout_ms,
        auto_offset_reset="earliest",
        ack_policy=AckPolicy.NACK_ON_ERROR,
        parser=_tolerant_parser,
        decoder=_raw_bodies,
        title=f"{consumer.name}:{'+'.join(t.name for t in topics)}",
        description="; ".join(t.description for t in topics),
    )
    subscriber(handle_batch)
    return subscriber


async def records_waiting(subscriber: KafkaSubscriber) -> int | None:
    """Records on the broker that the subscriber's consumer has not fetched yet, over its
    assigned partitions, as of its last fetch; None when it has no consumer or no
    partitions yet."""
    consumer = getattr(subscriber, "consumer", None)
    if consumer is None or not (assigned := consumer.assignment()):
        return None
    waiting = 0
    for partition in assigned:
        highwater = consumer.highwater(partition)
        if highwater is not None:
            waiting += max(0, highwater - await consumer.position(partition))
    return waiting
