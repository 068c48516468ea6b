"""Who may do what on the broker, tried for real against `make up`'s broker, which
authenticates every client (SASL/SCRAM) and authorizes every request (ACLs from the
topic registry). A partner tries the doors of another partner and of the services; each
service tries to write what is not its own."""

from __future__ import annotations

import asyncio

import pytest
from pydantic import SecretStr
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.errors import GroupAuthorizationFailedError, KafkaError, TopicAuthorizationFailedError

from contracts.topics import ALL_TOPICS, NEED_FEED, NEEDS, PARTNER_ACCESS, PARTNER_FAMILIES, PARTNER_NEEDS, own_topic
from services.common.kafka_acls import SERVICES, writers
from services.common.kafka_provisioning import provision_partner, set_partner_password
from services.common.kafka_security import ADMIN, client_options, service_principal
from services.common.settings import Settings

pytestmark = pytest.mark.integration


def as_principal(settings: Settings, principal: str, password: str | None = None) -> dict:
    if password is not None:
        settings = settings.model_copy(update={"kafka_password": SecretStr(password)})
    return client_options(settings, principal)


async def may_write(options: dict, topic: str) -> bool:
    producer = AIOKafkaProducer(**options, acks="all", enable_idempotence=True, request_timeout_ms=10_000)
    await asyncio.wait_for(producer.start(), 20)
    try:
        await asyncio.wait_for(producer.send_and_wait(topic, b"{}", key=b"probe"), 20)
        return True
    except TopicAuthorizationFailedError:
        return False
    finally:
        await producer.stop()


async def may_read(options: dict, topic: str, group: str | None = None, within_s: float = 6) -> bool:
    """Whether the client gets the record `seeded` put on the topic's partition 0. A
    broker that refuses says so only in its log (aiokafka retries the metadata), so a
    refusal is a read that brings nothing in `within_s`."""
    consumer = AIOKafkaConsumer(**options, group_id=group, enable_auto_commit=False, auto_offset_reset="earliest")
    await asyncio.wait_for(consumer.start(), 20)
    try:
        if group is None:
            consumer.assign([TopicPartition(topic, 0)])
        else:
            consumer.subscribe([topic])
        deadline = asyncio.get_running_loop().time() + within_s
        while asyncio.get_running_loop().time() < deadline:
            if any((await consumer.getmany(timeout_ms=500)).values()):
                return True
        return False
    except (TopicAuthorizationFailedError, GroupAuthorizationFailedError):
        return False
    finally:
        await consumer.stop()


@pytest.fixture(scope="module")
async def seeded(settings: Settings, partners) -> None:
    """One record on partition 0 of every topic, written as admin."""
    producer = AIOKafkaProducer(**client_options(settings, ADMIN), acks="all")
    await producer.start()
    try:
        names = [t.name for t in ALL_TOPICS] + [own_topic(PARTNER_NEEDS, partner) for partner in partners]
        for name in names:
            await producer.send_and_wait(settings.topic(name), b"{}", key=b"seed", partition=0)
    finally:
        await producer.stop()


@pytest.fixture(scope="module")
async def partners(settings: Settings) -> dict[str, str]:
    """Two partners with their own topics and principals: id -> password."""
    passwords = {}
    for partner in ("kafka-a", "kafka-b"):
        await provision_partner(settings, partner)
        passwords[partner] = await set_partner_password(settings, partner)
    return passwords


async def test_a_client_without_credentials_is_not_served(settings: Settings):
    anonymous = settings.model_copy(update={"kafka_security": "plaintext"})
    producer = AIOKafkaProducer(**client_options(anonymous, "anyone"), request_timeout_ms=5000)
    with pytest.raises((KafkaError, asyncio.TimeoutError)):
        await asyncio.wait_for(producer.start(), 20)
    await producer.stop()


async def test_a_wrong_password_is_refused(settings: Settings, partners):
    producer = AIOKafkaProducer(**as_principal(settings, "kafka-a", partners["kafka-b"]), request_timeout_ms=5000)
    with pytest.raises((KafkaError, asyncio.TimeoutError)):
        await asyncio.wait_for(producer.start(), 20)
    await producer.stop()


async def test_a_partner_writes_its_own_topics_and_no_one_elses(settings: Settings, partners):
    a = as_principal(settings, "kafka-a", partners["kafka-a"])
    for family in PARTNER_FAMILIES:
        assert await may_write(a, settings.topic(own_topic(family, "kafka-a"))), family.name
    assert not await may_write(a, settings.topic(own_topic(PARTNER_NEEDS, "kafka-b")))
    # The shared topics cannot tell who wrote a record: partners may not write them.
    assert not await may_write(a, settings.topic(PARTNER_NEEDS.name))
    # The attack of the issue: a partner announcing itself the board role.
    assert not await may_write(a, settings.topic(PARTNER_ACCESS.name))
    assert not await may_write(a, settings.topic(NEEDS.name))


async def test_a_partner_reads_the_need_feed_and_nothing_internal(settings: Settings, partners, seeded):
    a = as_principal(settings, "kafka-a", partners["kafka-a"])
    feed = settings.topic(NEED_FEED.name)
    probes = {
        "need feed": may_read(a, feed),
        "need feed in a group of its own": may_read(a, feed, group=settings.topic("partner.kafka-a.feed-reader")),
        "accepted needs": may_read(a, settings.topic(NEEDS.name)),
        "partner access": may_read(a, settings.topic(PARTNER_ACCESS.name)),
        "the other partner's needs": may_read(a, settings.topic(own_topic(PARTNER_NEEDS, "kafka-b"))),
        # Joining a service's consumer group would take its partitions away from it.
        "need feed in intake's group": may_read(a, feed, group=settings.group_id("intake")),
    }
    allowed = dict(zip(probes, await asyncio.gather(*probes.values()), strict=True))
    assert allowed == {
        "need feed": True, "need feed in a group of its own": True, "accepted needs": False, "partner access": False,
        "the other partner's needs": False, "need feed in intake's group": False,
    }


@pytest.mark.parametrize("service", SERVICES)
async def test_a_service_writes_exactly_the_topics_the_registry_gives_it(settings: Settings, service: str):
    options = client_options(settings, service_principal(service))
    allowed = {topic.name: await may_write(options, settings.topic(topic.name)) for topic in ALL_TOPICS}
    assert allowed == {topic.name: service in writers(topic) for topic in ALL_TOPICS}


@pytest.mark.parametrize("service", SERVICES)
async def test_a_service_reads_exactly_the_topics_the_registry_gives_it(settings: Settings, service: str, seeded):
    options = client_options(settings, service_principal(service))
    reads = await asyncio.gather(*(may_read(options, settings.topic(topic.name)) for topic in ALL_TOPICS))
    assert dict(zip((t.name for t in ALL_TOPICS), reads, strict=True)) == {t.name: service in t.readers for t in ALL_TOPICS}
