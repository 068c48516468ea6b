"""Matching on the real broker and database: both directions, never a pair twice,
retractions, and indexes that come back from the database after a restart."""

from __future__ import annotations

import json

import pytest

from contracts.events import NeedUpdated, NeedWithdrawn, ResearchOutputWithdrawn
from contracts.topics import MATCHES, NEEDS, RESEARCH_OUTPUTS
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
    finally:
        await restarted.stop()
