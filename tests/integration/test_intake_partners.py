"""Intake as a front door for many partners: each sees and changes only its own, within
its scope, at its rate, and every refusal says why."""

from __future__ import annotations

import asyncio
import json

import httpx
import pytest
from aiokafka.admin import AIOKafkaAdminClient, NewTopic

from contracts.events import NeedUpdated
from contracts.topics import DEAD_LETTERS, NEEDS, PARTNER_NEEDS, own_topic
from services.common.kafka_security import ADMIN, client_options
from tests.conftest import a_need, headers_of, publish_event, read_topic, register_partner

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
async def client(intake):
    transport = httpx.ASGITransport(app=intake.http_app)
    async with httpx.AsyncClient(transport=transport, base_url="http://intake") as client:
        yield client


def body(model) -> dict:
    return json.loads(model.model_dump_json(exclude_none=True))


def bearer(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


async def test_a_partner_cannot_read_change_or_withdraw_another_partners_need(intake, client):
    alice = bearer(await register_partner(intake, "iuc-alice"))
    bob = bearer(await register_partner(intake, "iuc-bob"))
    need = a_need()
    assert (await client.post("/v1/needs", json=body(need), headers=bob)).status_code == 202

    update = body(need) | {"revision": 2, "title": "Kapad"}
    read = await client.get(f"/v1/needs/{need.need_id}", headers=alice)
    changed = await client.put(f"/v1/needs/{need.need_id}", json=update, headers=alice)
    withdrawn = await client.post(
        f"/v1/needs/{need.need_id}/withdrawal", json={"need_id": str(need.need_id), "revision": 2}, headers=alice
    )
    resubmitted = await client.post("/v1/needs", json=body(need), headers=alice)

    assert [r.status_code for r in (read, changed, withdrawn, resubmitted)] == [404, 404, 404, 404]
    assert all(r.headers["content-type"] == "application/problem+json" for r in (read, changed, withdrawn))
    own = (await client.get(f"/v1/needs/{need.need_id}", headers=bob)).json()
    assert (own["revision"], own["status"], own["data"]["title"]) == (1, "open", need.title)


async def test_scope_limits_event_types_and_companies(intake, client):
    feedback_only = bearer(await register_partner(intake, "feedback-tool", may_send="feedback"))
    one_company = bearer(
        await register_partner(intake, "crm-one-company", org_numbers=frozenset({"5560360793"}))
    )
    wrong_type = await client.post("/v1/needs", json=body(a_need()), headers=feedback_only)
    other_company = await client.post(
        "/v1/needs", json=body(a_need(company={"org_number": "212000-0142", "name": "Annat AB"})), headers=one_company
    )
    own_company = await client.post("/v1/needs", json=body(a_need()), headers=one_company)

    assert wrong_type.status_code == 403 and "may not send redthread.need.submitted" in wrong_type.json()["detail"]
    assert other_company.status_code == 403 and "2120000142" in other_company.json()["detail"]
    assert own_company.status_code == 202


async def test_revisions_supersede_and_late_ones_change_nothing(intake, client):
    coach = bearer(await register_partner(intake, "coach-revisions"))
    need = a_need()
    url = f"/v1/needs/{need.need_id}"
    assert (await client.post("/v1/needs", json=body(need), headers=coach)).status_code == 202
    assert (await client.put(url, json=body(need) | {"revision": 3, "title": "Rev 3"}, headers=coach)).status_code == 202
    late = await client.put(url, json=body(need) | {"revision": 2, "title": "Rev 2"}, headers=coach)
    withdrawn = await client.post(
        f"{url}/withdrawal", json={"need_id": str(need.need_id), "revision": 4, "reason": "löst internt"}, headers=coach
    )
    after_withdrawal = await client.put(url, json=body(need) | {"revision": 5}, headers=coach)
    stored = (await client.get(url, headers=coach)).json()

    assert late.status_code == 409 and "not newer" in late.json()["detail"]
    assert withdrawn.status_code == 202
    assert after_withdrawal.status_code == 409 and "withdrawn" in after_withdrawal.json()["detail"]
    assert (stored["revision"], stored["status"], stored["data"]["title"]) == (4, "withdrawn", "Rev 3")


async def test_a_late_revision_on_kafka_is_ignored_not_dead_lettered(intake, settings, producer):
    await register_partner(intake, "kafka-revisions")
    need = a_need()
    topic = settings.topic(PARTNER_NEEDS.name)
    source = "/partners/kafka-revisions"

    key = str(need.need_id)  # one partition: revision 2 really arrives after revision 3
    await publish_event(producer, topic, need, source=source, key=key)
    await publish_event(producer, topic, NeedUpdated(**(need.model_dump() | {"revision": 3, "title": "Tre"})), source=source, key=key)
    await publish_event(producer, topic, NeedUpdated(**(need.model_dump() | {"revision": 2, "title": "Två"})), source=source, key=key)

    canonical = await read_topic(
        settings, settings.topic(NEEDS.name), at_least=3, timeout_s=8, where=lambda r: r.key == str(need.need_id).encode()
    )
    letters = await read_topic(
        settings, settings.topic(DEAD_LETTERS.name), timeout_s=2, where=lambda r: str(need.need_id).encode() in r.value
    )
    assert [json.loads(r.value)["title"] for r in canonical] == [need.title, "Tre"]
    assert letters == []


async def test_an_unregistered_source_on_kafka_is_dead_lettered(intake, settings, producer):
    need = a_need()
    await publish_event(producer, settings.topic(PARTNER_NEEDS.name), need, source="/partners/nobody-we-know")
    letters = await read_topic(
        settings, settings.topic(DEAD_LETTERS.name), where=lambda r: str(need.need_id).encode() in r.value
    )
    assert "not a registered partner" in headers_of(letters[0])["dlq_reason"]


async def test_idempotency_key_replays_the_first_answer(intake, client):
    coach = bearer(await register_partner(intake, "coach-idempotent"))
    need = a_need()
    headers = coach | {"Idempotency-Key": "crm-row-17"}
    first = await client.post("/v1/needs", json=body(need), headers=headers)
    repeat = await client.post("/v1/needs", json=body(need), headers=headers)
    different = await client.post("/v1/needs", json=body(a_need()), headers=headers)

    assert first.status_code == repeat.status_code == 202
    assert repeat.json() == first.json()
    assert different.status_code == 422 and different.json()["type"].endswith("idempotency-key-reused")


async def test_the_language_is_detected_when_not_given(intake, client):
    coach = bearer(await register_partner(intake, "coach-language"))
    english = a_need(
        title="Long changeover times on our presses",
        description="We need help to reduce the changeover time and we want to try SMED.",
        language=None,
    )
    assert (await client.post("/v1/needs", json=body(english), headers=coach)).status_code == 202
    stored = (await client.get(f"/v1/needs/{english.need_id}", headers=coach)).json()
    assert stored["data"]["language"] == "en"
    assert stored["data"]["company"]["region"]  # placed from its county


async def test_oversized_bodies_and_rate_limits_are_refused_clearly(intake, client):
    slow = bearer(await register_partner(intake, "slow-partner", requests_per_minute=2))
    huge = body(a_need()) | {"description": "x" * (intake.settings.max_request_bytes + 1)}
    too_large = await client.post("/v1/needs", json=huge, headers=slow)
    answers = [await client.post("/v1/needs", json=body(a_need()), headers=slow) for _ in range(3)]

    assert too_large.status_code == 413 and too_large.headers["content-type"] == "application/problem+json"
    assert [a.status_code for a in answers] == [202, 202, 429]
    assert int(answers[-1].headers["Retry-After"]) >= 1


async def test_a_partner_can_ask_who_it_is(intake, client):
    key = await register_partner(intake, "whoami", may_send="needs,feedback")
    me = (await client.get("/v1/partners/me", headers={"X-API-Key": key})).json()
    assert me["partner_id"] == "whoami"
    assert "redthread.feedback.submitted" in me["event_types"]
    assert (await client.get("/v1/partners/me", headers={"X-API-Key": key + "x"})).status_code == 401


async def test_own_topics_bind_a_partner_to_its_kafka_principal(intake, settings, producer):
    """partner.<id>.* is writable only by the partner's principal (ACL, docs/partner-access.md):
    intake accepts on it only that partner's source, and refuses that partner's source
    on the shared topic, where anyone could have written it."""
    await register_partner(intake, "iuc-own", own_kafka_topics=True)
    await register_partner(intake, "iuc-other")
    own = settings.topic(own_topic(PARTNER_NEEDS, "iuc-own"))
    admin = AIOKafkaAdminClient(**client_options(settings, ADMIN))
    await admin.start()
    await admin.create_topics([NewTopic(own, num_partitions=1, replication_factor=1)])
    await admin.close()
    await asyncio.sleep(settings.kafka_metadata_max_age_ms / 1000 + 2)  # intake's pattern finds the new topic

    genuine, impostor, off_topic = a_need(title="Eget ämne"), a_need(), a_need()
    await publish_event(producer, own, genuine, source="/partners/iuc-own")
    await publish_event(producer, own, impostor, source="/partners/iuc-other")
    await publish_event(producer, settings.topic(PARTNER_NEEDS.name), off_topic, source="/partners/iuc-own")

    accepted = await read_topic(settings, settings.topic(NEEDS.name), where=lambda r: r.key == str(genuine.need_id).encode())
    refused = await read_topic(
        settings, settings.topic(DEAD_LETTERS.name), at_least=2,
        where=lambda r: any(str(n.need_id).encode() in r.value for n in (impostor, off_topic)),
    )
    reason = {
        ("impostor" if str(impostor.need_id).encode() in r.value else "off-topic"): headers_of(r)["dlq_reason"]
        for r in refused
    }
    assert len(accepted) == 1
    assert "carries only events from /partners/iuc-own" in reason["impostor"]
    assert "shared topic partner.needs.v1 is not trusted" in reason["off-topic"]
