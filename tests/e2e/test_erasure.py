"""A person asks to be forgotten, against the running platform.

A coach's need meets a researcher's result and the coach is told by e-mail. Then the
coach and the researcher ask the programme office to erase them: one request, and every
service removes what it kept about them and destroys their key. The topics still hold
the events until their retention, but the people in them were sealed under those keys
from the start: a replay of reporting's read models from the topics finds them erased."""

from __future__ import annotations

import asyncio
import json
import re

import asyncpg
import httpx
import pytest

from contracts.events import PersonKeyDestroyed, person_id
from contracts.topics import ALL_TOPICS, PERSON_KEYS, SERVICES
from deploy.demo.partners import provision
from services.intake.admin import event_types
from services.intake.partners import Partner
from services.reporting.replay import replay
from tests.conftest import a_need, an_output, headers_of, read_topic
from tests.e2e.test_story import addressed_to, eventually, post

pytestmark = pytest.mark.e2e

COACH = "karin.erasure@example.se"
COMMENT = "Vi provar gärna, ring Karin Lindqvist på 070-123 45 67"
RESEARCHER = "anders.erasure@ri.example.se"
DPO = Partner("dataskydd", "Programkontoret, dataskydd", event_types("none"), operator=True)


def erase(platform, email: str, key: str) -> httpx.Response:
    return httpx.post(platform.url("intake") + "/v1/erasures", json={"email": email, "reason": "Begäran (ärende 4711)"},
                      headers={"Authorization": f"Bearer {key}"}, timeout=10)


async def kept_about(database_url: str, email: str, schema_of_reporting: str = "reporting") -> dict[str, int]:
    """Rows that still hold the address (or the person id of reporting's researchers), by place."""
    person = person_id(email)
    conn = await asyncpg.connect(database_url)
    try:
        queries = {
            "intake.needs": "SELECT count(*) FROM intake.needs WHERE data::text ILIKE '%' || $1 || '%'",
            "intake.research_outputs": "SELECT count(*) FROM intake.research_outputs WHERE data::text ILIKE '%' || $1 || '%'",
            "intake.feedback": "SELECT count(*) FROM intake.feedback WHERE data::text ILIKE '%' || $1 || '%'",
            "matching.needs": "SELECT count(*) FROM matching.needs WHERE data::text ILIKE '%' || $1 || '%'",
            "matching.research_outputs": "SELECT count(*) FROM matching.research_outputs WHERE data::text ILIKE '%' || $1 || '%'",
            "notification.deliveries": "SELECT count(*) FROM notification.deliveries"
                                       " WHERE destination ILIKE $1 OR message::text ILIKE '%' || $1 || '%'",
            "notification.coach_recipients": "SELECT count(*) FROM notification.coach_recipients WHERE email ILIKE $1",
            "notification.answer_links": "SELECT count(*) FROM notification.answer_links WHERE reporter::text ILIKE '%' || $1 || '%'",
            "notification.known_matches": "SELECT count(*) FROM notification.known_matches WHERE notice::text ILIKE '%' || $1 || '%'",
            f"{schema_of_reporting}.need_matches": f"SELECT count(*) FROM {schema_of_reporting}.need_matches WHERE notified_to ILIKE $1",
            **{f"{service}.person_keys": f"SELECT count(*) FROM {service}.person_keys WHERE person_id = intake.person_id($1::text)"
               for service in SERVICES},
        }
        kept = {place: await conn.fetchval(query, email) for place, query in queries.items()}
        kept[f"{schema_of_reporting}.research_outputs"] = await conn.fetchval(
            f"SELECT count(*) FROM {schema_of_reporting}.research_outputs WHERE researchers::text LIKE '%' || $1 || '%'", person
        )
        return kept
    finally:
        await conn.close()


async def records_on_the_services_topics(settings) -> list:
    """Every record on the topics where services write persons."""
    found = []
    for topic in ALL_TOPICS:
        if topic.seals_persons:
            found += await read_topic(settings, settings.topic(topic.name), at_least=10**9, timeout_s=3)
    return found


def test_a_person_erased_on_request_is_gone_from_every_service_and_stays_gone_on_replay(platform, inbox, settings):
    keys = asyncio.run(provision(settings, (DPO,)))
    # The project follows what companies say about its results, in a feed.
    def subscribed():
        """the project's key works at notification, and its feed is made"""
        return httpx.post(platform.url("notification") + "/v1/subscriptions", timeout=5,
                          headers={"Authorization": f"Bearer {platform.keys['produktion2030']}"},
                          json={"about": "feedback", "channel": "atom", "subscriber": {"name": "Projektregistret"}},
                          ).status_code == 201

    eventually(subscribed)
    # A coach's need, a researcher's answer to it, and the e-mail that tells the coach,
    # who answers through its link in words that name her.
    need = a_need(coach={"name": "Karin Lindqvist", "email": COACH})
    output = an_output(contact_researchers=[{"name": "Anders Berg", "email": RESEARCHER, "organisation": "RISE"}])
    assert post(platform, "/v1/needs", need, "iuc-smaland").status_code == 202
    assert post(platform, "/v1/research-outputs", output, "produktion2030").status_code == 202
    mail = eventually(lambda: next((m for m in inbox.messages if addressed_to(COACH)(m)), None))
    answer_url = re.search(r"(http://\S+/v1/answers/[\w-]+)\?verdict=useful", mail.get_body(("plain",)).get_content())
    answered = httpx.post(answer_url.group(1), data={"verdict": "useful", "comment": COMMENT}, timeout=5)
    assert answered.status_code == 200

    def comment_in_the_feed():
        """the project's feed holds the coach's comment"""
        return asyncio.run(kept_about(settings.database_url, COMMENT))["notification.deliveries"]

    eventually(comment_in_the_feed)

    async def told_in_reporting():
        conn = await asyncpg.connect(settings.database_url)
        try:
            return await conn.fetchval("SELECT notified_to FROM reporting.need_matches WHERE need_id = $1", need.need_id)
        finally:
            await conn.close()

    assert eventually(lambda: asyncio.run(told_in_reporting())) == "coach"  # who, never where
    before = asyncio.run(kept_about(settings.database_url, COACH))
    assert all(before[place] for place in ("intake.needs", "matching.needs", "notification.deliveries",
                                           "notification.coach_recipients",
                                           *(f"{service}.person_keys" for service in SERVICES)))
    # On the topics, the coach and the researcher travel sealed under keys of their own.
    written = asyncio.run(records_on_the_services_topics(settings))
    assert any(r.key == str(need.need_id).encode() for r in written)
    assert not [r for r in written for email in (COACH, RESEARCHER) if email.encode() in (r.value or b"")]

    # Only an operator may ask; then one request per person.
    assert erase(platform, COACH, platform.keys["iuc-smaland"]).status_code == 403
    for email in (COACH, RESEARCHER):
        answer = erase(platform, email, keys[DPO.partner_id])
        assert answer.status_code == 202, answer.text
        assert answer.json()["person_id"] == person_id(email) and email not in answer.text

    def forgotten():
        """no service keeps the coach's address, what she wrote, or the researcher's address"""
        kept = {email: asyncio.run(kept_about(settings.database_url, email)) for email in (COACH, RESEARCHER, COMMENT)}
        return all(not any(places.values()) for places in kept.values()) or None

    eventually(forgotten, timeout_s=60)
    # Their keys are destroyed: the latest word on the compacted key topic, for each.
    keys_now = asyncio.run(read_topic(settings, settings.topic(PERSON_KEYS.name), at_least=1))
    for email in (COACH, RESEARCHER):
        latest = [headers_of(r)["ce_type"] for r in keys_now if r.key == person_id(email).encode()][-1]
        assert latest == PersonKeyDestroyed.EVENT_TYPE

    # The need itself stays, without its coach; the partner that sent it reads it so.
    stored = httpx.get(f"{platform.url('intake')}/v1/needs/{need.need_id}",
                       headers={"Authorization": f"Bearer {platform.keys['iuc-smaland']}"}, timeout=5).json()
    assert stored["data"]["title"] == need.title and "coach" not in stored["data"]
    assert COACH not in json.dumps(stored)

    # A replay of reporting's read models from the topics, which still hold the events
    # (until their retention), finds both erased: what was sealed with their keys opens
    # as an erased person now.
    replayed = asyncio.run(replay(settings, into="reporting_erasure_replay"))
    assert replayed.events > 0
    for email in (COACH, RESEARCHER):
        after = asyncio.run(kept_about(settings.database_url, email, schema_of_reporting="reporting_erasure_replay"))
        assert not after["reporting_erasure_replay.need_matches"] and not after["reporting_erasure_replay.research_outputs"]
