"""Matching on the real broker and database: both directions, never a pair twice,
retractions, and indexes that come back from the database after a restart."""

from __future__ import annotations

import json
import uuid

import pytest

from contracts.events import FeedbackSubmitted, NeedUpdated, NeedWithdrawn, ResearchOutputWithdrawn
from contracts.topics import FEEDBACK, MATCHES, NEEDS, RESEARCH_OUTPUTS
from services.matching.service import build
from tests.integration.conftest import eventually_true
from tests.conftest import a_need, an_output, headers_of, opened, publish_event, read_topic

pytestmark = pytest.mark.integration

SOURCE = "/partners/test"


def of_type(event_type: str, **fields):
    def check(record) -> bool:
        if headers_of(record).get("ce_type") != event_type:
            return False
        body = json.loads(record.value)
        return all(body.get(k) == str(v) for k, v in fields.items())

    return check


async def test_both_directions_and_never_the_same_pair_twice(matching, settings, producer):
    need = a_need()
    output = an_output()
    await publish_event(producer, settings.topic(NEEDS.name), need, source=SOURCE, key=str(need.need_id))
    await publish_event(producer, settings.topic(RESEARCH_OUTPUTS.name), output, source=SOURCE, key=str(output.output_id))
    # A second need, arriving after the output, is matched against the stored outputs.
    later = a_need(title="Ställtider i stansen", description="Omställningen av stansen tar för lång tid, vi vill prova SMED.")
    await publish_event(producer, settings.topic(NEEDS.name), later, source=SOURCE, key=str(later.need_id))
    # The same output again (a redelivery with a new id) proposes nothing new.
    await publish_event(producer, settings.topic(RESEARCH_OUTPUTS.name), output, source=SOURCE, key=str(output.output_id))

    first = await read_topic(settings, settings.topic(MATCHES.name), where=of_type(
        "redthread.match.proposed", need_id=need.need_id, output_id=output.output_id))
    second = await read_topic(settings, settings.topic(MATCHES.name), where=of_type(
        "redthread.match.proposed", need_id=later.need_id, output_id=output.output_id))
    assert len(first) == 1 and len(second) == 1
    proposal = opened(first[0])
    assert any(r["kind"] == "confidence" and "Bedömd chans" in r["explanation"] for r in proposal["reasons"])
    assert proposal["coach"]["email"] == need.coach.email
    assert any(r["kind"] == "shared-concepts" for r in proposal["reasons"])
    async with matching.pool.acquire() as conn:  # who wrote the output is not matching's to keep
        stored = await conn.fetchval("SELECT data::text FROM research_outputs WHERE output_id = $1", output.output_id)
    assert output.contact_researchers and "contact_researchers" not in stored and "@" not in stored


async def test_withdrawals_and_changes_retract(matching, settings, producer):
    need = a_need()
    output = an_output()
    other = an_output(title="SMED i formsprutning", summary="Snabbare omställning och kortare ställtid i formsprutor.")
    for item, topic in ((need, NEEDS), (output, RESEARCH_OUTPUTS), (other, RESEARCH_OUTPUTS)):
        await publish_event(producer, settings.topic(topic.name), item, source=SOURCE)
    await read_topic(settings, settings.topic(MATCHES.name), at_least=2,
                     where=of_type("redthread.match.proposed", need_id=need.need_id))

    # The output is withdrawn: its match with the need is taken back.
    withdrawn = ResearchOutputWithdrawn(output_id=output.output_id, revision=2)
    await publish_event(producer, settings.topic(RESEARCH_OUTPUTS.name), withdrawn, source=SOURCE, key=str(output.output_id))
    retracted = await read_topic(settings, settings.topic(MATCHES.name), where=of_type(
        "redthread.match.retracted", need_id=need.need_id, output_id=output.output_id))
    assert "dragits tillbaka" in json.loads(retracted[0].value)["reason"]

    # The need changes to something else entirely: the remaining match no longer fits.
    changed = NeedUpdated(**(need.model_dump() | {
        "revision": 2, "title": "Ergonomi vid tunga lyft", "description": "Förslitningsskador vid manuell hantering.",
        "keywords": ["ergonomi"], "focus_areas": ["P4"]}))
    await publish_event(producer, settings.topic(NEEDS.name), changed, source=SOURCE, key=str(need.need_id))
    no_longer = await read_topic(settings, settings.topic(MATCHES.name), where=of_type(
        "redthread.match.retracted", need_id=need.need_id, output_id=other.output_id))
    assert "ändrats" in json.loads(no_longer[0].value)["reason"]

    # Withdrawn needs are not offered to new outputs.
    await publish_event(producer, settings.topic(NEEDS.name), NeedWithdrawn(need_id=need.need_id, revision=3), source=SOURCE,
                        key=str(need.need_id))
    await eventually_true(matching, "SELECT status = 'closed' FROM needs WHERE need_id = $1", need.need_id)
    newcomer = an_output(title="Ergonomi vid tunga lyft i monteringen", keywords=["ergonomi", "lyft"], focus_areas=["P4"])
    await publish_event(producer, settings.topic(RESEARCH_OUTPUTS.name), newcomer, source=SOURCE)
    late = await read_topic(settings, settings.topic(MATCHES.name), timeout_s=4, where=of_type(
        "redthread.match.proposed", need_id=need.need_id, output_id=newcomer.output_id))
    assert late == []


async def test_an_output_a_company_found_not_useful_is_not_proposed_to_it_again(matching, settings, producer):
    output = an_output()
    first = a_need()
    await publish_event(producer, settings.topic(RESEARCH_OUTPUTS.name), output, source=SOURCE, key=str(output.output_id))
    await publish_event(producer, settings.topic(NEEDS.name), first, source=SOURCE, key=str(first.need_id))
    [proposed] = await read_topic(settings, settings.topic(MATCHES.name), where=of_type(
        "redthread.match.proposed", need_id=first.need_id, output_id=output.output_id))
    match_id = json.loads(proposed.value)["match_id"]
    answer = FeedbackSubmitted(feedback_id=uuid.uuid4(), match_id=match_id, company_org_number="5560360793",
                               reporter=first.coach, verdict="not-useful", reason="already-known")
    await publish_event(producer, settings.topic(FEEDBACK.name), answer, source="/redthread/intake", key=match_id)
    await eventually_true(matching, "SELECT true FROM answers WHERE match_id = $1", uuid.UUID(match_id))
    # The answer joins the output's track record, read against the chance the pair was proposed at.
    async with matching.pool.acquire() as conn:
        chance = await conn.fetchval("SELECT chance FROM proposed_matches WHERE match_id = $1", uuid.UUID(match_id))
    assert 0 < chance < 1
    lesson = matching.http_app.state.matcher.outputs.lessons[str(output.output_id)]
    assert lesson.record == ((pytest.approx(chance), False),)

    # The same company's next need on the same subject does not get it again; another company's
    # does, told what the answer taught the index.
    again = a_need(title="Ställtider i stansen", description="Omställningen av stansen tar för lång tid, vi vill prova SMED.")
    elsewhere = a_need(title="Ställtider i stansen", description="Omställningen av stansen tar för lång tid, vi vill prova SMED.",
                       company={"org_number": "212000-0142", "name": "Annat Verkstads AB", "county": "Jönköpings län"})
    for need in (again, elsewhere):
        await publish_event(producer, settings.topic(NEEDS.name), need, source=SOURCE, key=str(need.need_id))
    [told] = await read_topic(settings, settings.topic(MATCHES.name), where=of_type(
        "redthread.match.proposed", need_id=elsewhere.need_id, output_id=output.output_id))
    reasons = {reason["kind"]: reason["explanation"] for reason in json.loads(told.value)["reasons"]}
    assert reasons["answers"].startswith("Inte till nytta för ett företag")
    assert "svaren om resultatet sänker chansen från" in reasons["confidence"]
    assert await read_topic(settings, settings.topic(MATCHES.name), timeout_s=3, where=of_type(
        "redthread.match.proposed", need_id=again.need_id, output_id=output.output_id)) == []


async def test_the_indexes_come_back_from_the_database(matching, settings):
    live = matching.http_app.state.matcher
    restarted = build(settings)
    await restarted.start()
    try:
        rebuilt = restarted.http_app.state.matcher
        async with restarted.pool.acquire() as conn:
            published = await conn.fetchval("SELECT count(*) FROM research_outputs WHERE status = 'published'")
            open_needs = await conn.fetchval("SELECT count(*) FROM needs WHERE status = 'open'")
        assert len(rebuilt.outputs) == published == len(live.outputs) > 0
        assert len(rebuilt.needs) == open_needs == len(live.needs)
        assert rebuilt.outputs.lessons == live.outputs.lessons  # what answers taught, learnt again
        # Vectors and each need's best in meaning come back as stored, not made again.
        assert len(rebuilt.needs.vectors) == len(live.needs.vectors) == open_needs
        for need_id in live.needs.entries:
            assert rebuilt.needs.vectors.get(need_id) == pytest.approx(live.needs.vectors.get(need_id))
            assert rebuilt.needs.vectors.best(need_id) == pytest.approx(live.needs.vectors.best(need_id))
    finally:
        await restarted.stop()
