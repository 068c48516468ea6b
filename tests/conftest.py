"""Fixtures for tests on the real Kafka broker and PostgreSQL (`make up` starts both).

Every test module gets its own namespace: topics and consumer groups are prefixed with
it, and it gets a database of its own, so a module never sees a demo's, another run's or
another module's events. Both are removed at the end."""

from __future__ import annotations

import asyncio
import base64
import json
import os
import secrets
import time
import uuid
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime

import asyncpg
import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, ConsumerRecord, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from contracts.envelope import encode, new_event
from contracts.events import (
    CONTRACTS_BY_TYPE, Confidentiality, MatchProposed, MatchReason, NeedSubmitted, PersonKeyIssued,
    ResearchOutputPublished, person_id,
)
from contracts.personal_data import has_persons, open_record, persons_in, seal_record
from contracts.topics import ALL_TOPICS, PERSON_KEYS, Topic
from services.common.person_keys import Keyring
from services.common.sealing import sealer_from
from services.common.kafka_security import ADMIN, client_options
from services.common.kafka_provisioning import provision_broker
from services.common.settings import Settings


def _server_url() -> str:
    url = os.environ.get("DATABASE_URL")
    if not url:
        pytest.fail("DATABASE_URL is not set: run the suite with `make test` (it starts PostgreSQL and Kafka)")
    return url


@pytest.fixture(scope="module")
def namespace() -> str:
    return "t" + secrets.token_hex(4)


@pytest.fixture(scope="module")
async def database_url(namespace: str) -> AsyncIterator[str]:
    server_url = _server_url()
    name = f"redthread_{namespace}"
    conn = await asyncpg.connect(server_url)
    await conn.execute(f'CREATE DATABASE "{name}"')
    await conn.close()
    base, _, _ = server_url.rpartition("/")
    yield f"{base}/{name}"
    conn = await asyncpg.connect(server_url)
    await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    await conn.close()


@pytest.fixture(scope="module")
async def settings(namespace: str, database_url: str) -> AsyncIterator[Settings]:
    settings = Settings(
        namespace=namespace,
        database_url=database_url,
        retry_backoff_initial_s=0.1,
        retry_backoff_max_s=1.0,
        outbox_poll_interval_s=0.2,
        partner_cache_s=0.5,
        kafka_metadata_max_age_ms=1000,
    )
    try:
        await asyncio.wait_for(provision_broker(settings), 30)
    except Exception as error:  # noqa: BLE001 - turned into a clear instruction
        pytest.fail(f"Kafka at {settings.kafka_bootstrap_servers} is not reachable ({error!r}): run `make up`")
    yield settings
    admin = AIOKafkaAdminClient(**client_options(settings, ADMIN))
    await admin.start()
    try:
        ours = [t for t in await admin.list_topics() if t.startswith(namespace + ".")]
        if ours:
            await admin.delete_topics(ours)
    finally:
        await admin.close()


@pytest.fixture(scope="module")
async def producer(settings: Settings) -> AsyncIterator[AIOKafkaProducer]:
    producer = AIOKafkaProducer(**client_options(settings, ADMIN), acks="all", enable_idempotence=True)
    await producer.start()
    yield producer
    await producer.stop()


async def publish_raw(
    producer: AIOKafkaProducer, topic: str, value: bytes | None, headers: dict[str, str], key: str | None = None
) -> None:
    await producer.send_and_wait(
        topic, value=value, key=key.encode() if key else None, headers=[(k, v.encode()) for k, v in headers.items()]
    )


async def publish_event(
    producer: AIOKafkaProducer, topic: str, data, source: str = "/partners/test", key: str | None = None, **kwargs
) -> str:
    """Publish `data` on `topic`; on the services' own topics, with its persons sealed as
    intake seals them."""
    event = new_event(data, source=source, **kwargs)
    value, headers = encode(event)
    value = await _sealed_as_intake(producer, topic, type(data), value)
    await publish_raw(producer, topic, value, headers, key=key)
    return event.id


# --- playing intake's part ---------------------------------------------------------------
# Tests that publish on the services' own topics stand in for intake, which seals the
# persons it writes under keys it announces on redthread.person-keys.v1
# (services/common/person_keys.py). So do these helpers: one key per person and
# namespace, kept for the session, so that a test can also open what the services write.

_TEST_KEYS: dict[tuple[str, str], bytes] = {}  # (namespace prefix, person id) -> key


def _split(topic: str) -> tuple[str, Topic | None]:
    """(namespace prefix, registry topic) of a full topic name."""
    for registered in ALL_TOPICS:
        if topic.endswith(registered.name):
            return topic.removesuffix(registered.name), registered
    return "", None


async def _sealed_as_intake(producer: AIOKafkaProducer, topic: str, contract, value: bytes) -> bytes:
    prefix, registered = _split(topic)
    if registered is None or not registered.seals_persons or not has_persons(contract, value):
        return value  # a partner's topic, or nothing to seal
    master = sealer_from(Settings())
    keys = {person_id(person["email"]): None for person in persons_in(contract, json.loads(value))}
    for whose in keys:
        if (prefix, whose) not in _TEST_KEYS:
            raw = secrets.token_bytes(32)
            issued = PersonKeyIssued(
                person_id=whose, key=master.seal(base64.urlsafe_b64encode(raw).decode(), whose), issued_at=datetime.now(UTC)
            )
            await publish_raw(producer, prefix + PERSON_KEYS.name, *encode(new_event(issued, source="/redthread/intake")),
                              key=whose)
            _TEST_KEYS[prefix, whose] = raw
        keys[whose] = AESGCM(_TEST_KEYS[prefix, whose])
    return seal_record(contract, value, Keyring(keys).seal)


def opened(record: ConsumerRecord) -> dict:
    """A record's data as JSON, with the persons it carries opened with the tests' keys."""
    prefix, _ = _split(record.topic)
    contract = CONTRACTS_BY_TYPE[headers_of(record)["ce_type"]]
    keyring = Keyring({whose: AESGCM(key) for (space, whose), key in _TEST_KEYS.items() if space == prefix})
    return open_record(contract, record.value, keyring.open)


async def give_intake_the_test_keys(intake_pool: asyncpg.Pool, settings: Settings) -> None:
    """Intake keeps the keys it issued; for persons these helpers issued keys for instead
    (a match published as if matching had proposed it), intake is given them."""
    master = sealer_from(Settings())
    prefix = settings.topic(PERSON_KEYS.name).removesuffix(PERSON_KEYS.name)
    async with intake_pool.acquire() as conn:
        await conn.executemany(
            "INSERT INTO person_keys (person_id, sealed_key) VALUES ($1, $2) ON CONFLICT DO NOTHING",
            [(whose, master.seal(base64.urlsafe_b64encode(key).decode(), whose))
             for (space, whose), key in _TEST_KEYS.items() if space == prefix],
        )


async def read_topic(
    settings: Settings,
    topic: str,
    *,
    at_least: int = 1,
    where: Callable[[ConsumerRecord], bool] = lambda record: True,
    timeout_s: float = 30,
) -> list[ConsumerRecord]:
    """The records of `topic` that satisfy `where`, from the beginning, waiting until
    there are `at_least` of them (or the timeout passes)."""
    consumer = AIOKafkaConsumer(**client_options(settings, ADMIN), enable_auto_commit=False)
    await consumer.start()
    try:
        partitions = [TopicPartition(topic, p) for p in (consumer.partitions_for_topic(topic) or await _partitions(consumer, topic))]
        consumer.assign(partitions)
        await consumer.seek_to_beginning(*partitions)
        records: list[ConsumerRecord] = []
        deadline = time.monotonic() + timeout_s
        while len(records) < at_least and time.monotonic() < deadline:
            batch = await consumer.getmany(timeout_ms=300)
            for part in batch.values():
                records.extend(record for record in part if where(record))
        return records
    finally:
        await consumer.stop()


async def _partitions(consumer: AIOKafkaConsumer, topic: str) -> set[int]:
    await consumer._client.force_metadata_update()  # noqa: SLF001 - aiokafka has no public refresh
    return consumer.partitions_for_topic(topic) or set()


def headers_of(record: ConsumerRecord) -> dict[str, str]:
    return {k: v.decode() for k, v in record.headers}


def a_need(**changes) -> NeedSubmitted:
    fields = dict(
        need_id=uuid.uuid4(),
        company={"org_number": "556036-0793", "name": "Värnamo Pressgjuteri AB", "county": "Jönköpings län"},
        coach={"name": "Karin Lindqvist", "email": "karin.lindqvist@example.se"},
        title="Långa ställtider i pressverkstaden",
        description="Omställning mellan artiklar tar över två timmar. Vi vill korta ställtiden med SMED.",
        need_type="process",
        focus_areas=["P2"],
        keywords=["ställtid", "omställning", "SMED"],
        min_trl=5,
    )
    return NeedSubmitted.model_validate(fields | changes)


def a_match(*, coach_email: str | None = None, confidentiality=Confidentiality.public, output_id=None, language="sv",
            need: NeedSubmitted | None = None) -> MatchProposed:
    """A match as matching proposes it, for `need` (default: a new one) in Småland."""
    need = need or a_need()
    return MatchProposed(
        match_id=uuid.uuid4(),
        need_id=need.need_id,
        output_id=output_id or uuid.uuid4(),
        score=0.72,
        method="concepts-tfidf-v1",
        reasons=[MatchReason(kind="shared-concepts", explanation="Båda handlar om: ställtid, SMED")],
        need_title=need.title,
        output_title="SMED i pressverkstaden: en metod för kortare ställtider",
        output_summary="En steg-för-steg-metod för att korta omställningstider i små verkstäder.",
        company=need.company.model_copy(update={"region": "Småland och öarna", "iuc": "IUC Sjuhärad"}),
        coach={"name": "Karin Lindqvist", "email": coach_email} if coach_email else None,
        confidentiality=confidentiality,
        language=language,
        focus_areas=["P2"],
    )


def an_output(**changes) -> ResearchOutputPublished:
    fields = dict(
        output_id=uuid.uuid4(),
        project="Produktion2030: Snabba omställningar",
        output_type="method",
        title="SMED-metod för kortare ställtider i pressar",
        summary="En beprövad metod för att korta ställtiden vid omställning i pressar och formsprutor.",
        trl=7,
        focus_areas=["P2"],
        keywords=["ställtid", "omställning", "SMED"],
        contact_researchers=[{"name": "Anders Berg", "email": "anders.berg@example.org"}],
        published_at="2026-10-01T09:00:00Z",
    )
    return ResearchOutputPublished.model_validate(fields | changes)


async def register_partner(intake, partner_id: str, **scope) -> str:
    """A partner of the running intake service with the given scope (default: may send
    anything); returns a fresh API key."""
    from services.intake.admin import event_types
    from contracts.topics import PARTNER_ACCESS
    from services.intake.partners import Partner, issue_key, save_partner

    access_topic = intake.settings.topic(PARTNER_ACCESS.name)
    async with intake.pool.acquire() as conn, conn.transaction():
        await save_partner(
            conn,
            Partner(
                partner_id=partner_id,
                name=scope.pop("name", partner_id),
                event_types=event_types(scope.pop("may_send", "all")),
                **scope,
            ),
            access_topic=access_topic,
        )
        key = await issue_key(conn, partner_id, access_topic=access_topic)
    intake.http_app.state.partner_directory.invalidate()
    return key
