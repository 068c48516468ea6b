"""Attacks on intake's Kafka door: whatever arrives on a partner topic, mangled or
generated, is accepted or dead-lettered with the reason, never a crash, and nothing
accepted is lost. (Generated HTTP requests, for every service and role:
tests/e2e/test_owasp_api_top10.py.)

The generation is derandomized so that CI sees the same cases every run; to explore
further, set derandomize=False locally (random runs found the int32 overflow of
revisions and the NUL characters PostgreSQL cannot store)."""

from __future__ import annotations

import asyncio
import json
import uuid

import httpx
import pytest
from hypothesis import HealthCheck, given, settings as hypothesis_settings, strategies as st

from contracts.envelope import encode, new_event
from contracts.topics import DEAD_LETTERS, NEEDS, PARTNER_NEEDS
from deploy.demo.partners import provision
from services.common.kafka_security import ADMIN, client_options
from services.intake.admin import event_types
from services.intake.partners import Partner
from tests.conftest import a_need, headers_of, read_topic

pytestmark = pytest.mark.integration

ATTACKER = Partner("attacker", "Fuzzing partner", event_types("all"), requests_per_minute=1_000_000)


@pytest.fixture(scope="module")
def attacked(intake_process, settings):
    intake_process.key = asyncio.run(provision(settings, (ATTACKER,)))[ATTACKER.partner_id]
    return intake_process


# --- Kafka: mangled partner events ------------------------------------------------------

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=30),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=10), inner, max_size=3),
    max_leaves=8,
)


@st.composite
def mangled_events(draw) -> tuple[dict[str, str], bytes]:
    """A valid partner need, then some of: fields dropped, replaced or added, headers
    dropped or replaced, or the body swapped for arbitrary bytes."""
    need = json.loads(a_need().model_dump_json())
    value, headers = encode(new_event(a_need(), source="/partners/attacker"))
    body = json.loads(value) | {"need_id": need["need_id"]}
    for field in draw(st.lists(st.sampled_from(sorted(body)), max_size=3)):
        action = draw(st.sampled_from(["drop", "replace"]))
        if action == "drop":
            body.pop(field, None)
        else:
            body[field] = draw(json_values)
    if draw(st.booleans()):
        body[draw(st.text(min_size=1, max_size=12))] = draw(json_values)
    for header in draw(st.lists(st.sampled_from(sorted(headers)), max_size=2)):
        if draw(st.booleans()):
            headers.pop(header, None)
        else:
            headers[header] = draw(st.text(max_size=40))
    raw = draw(st.one_of(st.just(None), st.binary(max_size=64)))
    return headers, raw if raw is not None else json.dumps(body).encode()


@given(st.lists(mangled_events(), min_size=40, max_size=40))
@hypothesis_settings(max_examples=3, deadline=None, suppress_health_check=list(HealthCheck), database=None, derandomize=True)
def test_every_mangled_event_is_accepted_or_dead_lettered(attacked, settings, events):
    asyncio.run(_send_and_account(attacked, settings, events))


async def _send_and_account(intake_process, settings, events) -> None:
    from aiokafka import AIOKafkaProducer

    run = uuid.uuid4().hex
    producer = AIOKafkaProducer(**client_options(settings, ADMIN), acks="all", enable_idempotence=True)
    await producer.start()
    try:
        for number, (headers, value) in enumerate(events):
            tagged = headers | {"x-attack": f"{run}-{number}"}
            await producer.send(
                settings.topic(PARTNER_NEEDS.name), value=value, headers=[(k, v.encode()) for k, v in tagged.items()]
            )
        await producer.flush()
    finally:
        await producer.stop()

    sent_ids = {headers.get("ce_id") for headers, _ in events}

    def accepted(record) -> bool:
        return headers_of(record).get("ce_causationid") in sent_ids

    def dead(record) -> bool:
        original = json.loads(record.value).get("original_headers", {})
        return original.get("x-attack", "").startswith(run)

    # Records that repeat a ce_id already sent (mangled headers can collide) are
    # duplicates by design; everything else must come out on one side or the other.
    expected = len({(h.get("ce_source"), h.get("ce_id")) if h.get("ce_id") else i for i, (h, _) in enumerate(events)})
    deadline = asyncio.get_running_loop().time() + 60
    while True:
        ok = await read_topic(settings, settings.topic(NEEDS.name), where=accepted, timeout_s=1, at_least=len(events))
        letters = await read_topic(settings, settings.topic(DEAD_LETTERS.name), where=dead, timeout_s=1, at_least=len(events))
        if len(ok) + len(letters) >= expected or asyncio.get_running_loop().time() > deadline:
            break
    assert len(ok) + len(letters) == expected, (len(ok), len(letters), expected)
    assert all(headers_of(letter)["dlq_reason"] for letter in letters)
    health = httpx.get(intake_process.url("intake") + "/health", timeout=5)
    assert health.status_code == 200, health.text
