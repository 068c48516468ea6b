"""Reporting's read models are a function of the events alone: what the live service
projected, in whatever order the topics interleaved, is what a replay from offset 0
rebuilds, row for row — and projecting a batch again changes nothing."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime, timedelta

import asyncpg
import pytest

from contracts.envelope import decode, new_event
from contracts.events import (
    FeedbackSubmitted,
    MatchProposed,
    NeedUpdated,
    NeedWithdrawn,
    NotificationDispatched,
    PersonErased,
    person_id,
)
from contracts.topics import FEEDBACK, MATCHES, NEEDS, NOTIFICATIONS
from services.common.consumer import BatchContext
from services.common.db import apply_migrations, create_pool
from services.reporting.projections import erase_again, project_batch
from services.reporting.replay import replay
from services.reporting.service import build as build_reporting
from tests.bench.bench_reporting import StreamRecord, mixed_stream
from tests.conftest import a_need, publish_event

pytestmark = pytest.mark.integration

# Every read model, by primary key.
READ_MODELS = {
    "companies": "org_number",
    "participations": "participation_id",
    "needs": "need_id",
    "research_outputs": "output_id",
    "need_matches": "match_id",
    "company_timeline": "event_id",
    "feedback_answers": "feedback_id",
    # the board's summaries (migration 007), recomputed at the end of each batch
    "output_uptake": "output_id, grouping, grp",
    "output_credits": "output_id, credit, name, organisation",
    "output_credit_companies": "output_id, credit, name, organisation, company_org_number",
}
T0 = datetime(2026, 3, 2, 8, 0, tzinfo=UTC)


@pytest.fixture(scope="module")
async def reporting(settings):
    service = build_reporting(settings)
    await service.start()
    yield service
    await service.stop()


def consumed(service) -> int:
    totals = service.consumers["reporting"].totals
    return totals.handled + totals.duplicates + totals.dead_lettered + totals.skipped


async def until_consumed(service, count: int, timeout_s: float = 60) -> None:
    deadline = asyncio.get_running_loop().time() + timeout_s
    while consumed(service) < count:
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"reporting consumed {consumed(service)} of {count} within {timeout_s}s")
        await asyncio.sleep(0.1)


async def send_all(producer, settings, records: list[StreamRecord]) -> None:
    sent = [
        await producer.send(settings.topic(r.topic), value=r.value, key=r.key, headers=r.headers) for r in records
    ]
    await asyncio.gather(*sent)


async def read_models(conn: asyncpg.Connection, schema: str) -> dict[str, list[dict]]:
    return {
        table: [dict(row) for row in await conn.fetch(f'SELECT * FROM "{schema}".{table} ORDER BY {key}')]
        for table, key in READ_MODELS.items()
    }


# Each stored summary of migration 007 against what its view computes from the base rows
# now: a summary the projections failed to recompute after a change shows up here.
STALE_SUMMARIES = {
    "research_outputs": """SELECT count(*) FROM "{schema}".research_outputs o
        JOIN "{schema}".computed_output_summaries s USING (output_id)
        WHERE (o.matches, o.useful_matches, o.adopted_matches, o.first_matched_at, o.first_notified_at,
               o.first_useful_at, o.first_adopted_at, o.companies_told)
              IS DISTINCT FROM (s.matches, s.useful_matches, s.adopted_matches, s.first_matched_at,
                                s.first_notified_at, s.first_useful_at, s.first_adopted_at, s.companies_told)""",
    "needs": """SELECT count(*) FROM "{schema}".needs n JOIN "{schema}".computed_need_summaries s USING (need_id)
        WHERE (n.matches, n.matches_told, n.best_standing_score)
              IS DISTINCT FROM (s.matches, s.matches_told, s.best_standing_score)""",
    **{
        table: f"""SELECT count(*) FROM (
            (SELECT {columns} FROM "{{schema}}".{table} EXCEPT ALL SELECT {columns} FROM "{{schema}}".computed_{table})
            UNION ALL
            (SELECT {columns} FROM "{{schema}}".computed_{table} EXCEPT ALL SELECT {columns} FROM "{{schema}}".{table})
        ) differing"""
        for table, columns in (
            ("output_uptake", "output_id, grouping, grp, published_at, first_matched_at, first_notified_at,"
                              " first_adopted_at"),
            ("output_credits", "*"),
            ("output_credit_companies", "*"),
        )
    },
}


async def assert_summaries_current(conn: asyncpg.Connection, schema: str) -> None:
    stale = {table: await conn.fetchval(sql.format(schema=schema)) for table, sql in STALE_SUMMARIES.items()}
    assert stale == dict.fromkeys(STALE_SUMMARIES, 0)
    summarised = await conn.fetchrow(
        f'SELECT (SELECT count(*) FROM "{schema}".research_outputs WHERE matches > 0) AS outputs,'
        f' (SELECT count(*) FROM "{schema}".needs WHERE matches_told > 0) AS needs,'
        f' (SELECT count(*) FROM "{schema}".output_uptake WHERE grouping = \'region\') AS by_region,'
        f' (SELECT count(*) FROM "{schema}".output_uptake WHERE grouping = \'initiative\') AS by_initiative,'
        f' (SELECT count(*) FROM "{schema}".output_credit_companies) AS credited_companies'
    )
    assert all(summarised.values()), f"the stream should give every summary something: {dict(summarised)}"


def assert_same(live: dict[str, list[dict]], rebuilt: dict[str, list[dict]]) -> None:
    for table in READ_MODELS:
        assert len(rebuilt[table]) == len(live[table]), table
        for was, now in zip(live[table], rebuilt[table], strict=True):
            assert now == was, f"{table}: a row differs"


async def answers_before_their_match(reporting, producer, settings) -> dict[str, uuid.UUID]:
    """A match whose notifications and two answers (useful, then not useful) are
    projected before the match itself; and a second match whose answers arrive newest
    first. Each is projected before the next is sent, so none meet in one batch."""
    need_id, early, late = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
    coach = {"name": "Karin Lindqvist", "email": "karin.replay@example.se"}
    first_answer, second_answer = uuid.uuid4(), uuid.uuid4()

    async def told(match_id, recipient, minutes):
        before = consumed(reporting)
        await publish_event(
            producer, settings.topic(NOTIFICATIONS.name),
            NotificationDispatched(notification_id=uuid.uuid4(), match_id=match_id, need_id=need_id, channel="email",
                                   recipient=recipient, subject="Forskning som kan hjälpa",
                                   dispatched_at=T0 + timedelta(minutes=minutes)),
            source="/redthread/notification", key=str(need_id), time=T0 + timedelta(minutes=minutes),
        )
        await until_consumed(reporting, before + 1)

    async def answer(feedback_id, match_id, revision, verdict, days):
        before = consumed(reporting)
        await publish_event(
            producer, settings.topic(FEEDBACK.name),
            FeedbackSubmitted(feedback_id=feedback_id, revision=revision, match_id=match_id, reporter=coach,
                              verdict=verdict),
            source="/partners/coach-tool", key=str(match_id), time=T0 + timedelta(days=days),
        )
        await until_consumed(reporting, before + 1)

    await told(early, coach["email"], 1)
    await told(early, "https://crm.example.se/hooks/redthread", 5)  # a subscriber, told later
    await answer(first_answer, early, 1, "useful", 7)
    await answer(first_answer, early, 2, "not-useful", 14)
    await answer(second_answer, late, 2, "adopted", 21)  # the newer answer comes first …
    await answer(second_answer, late, 1, "useful", 10)  # … and the older one cannot undo it
    return {"need_id": need_id, "early": early, "late": late}


async def a_need_backwards(reporting, producer, settings) -> uuid.UUID:
    """A need's withdrawal (revision 3), update (2) and submission (1), in that order,
    each projected before the next: as if intake's events had come late."""
    submitted = a_need(title="Gjuteriets energianvändning")
    updated = NeedUpdated.model_validate(
        submitted.model_dump() | {"revision": 2, "title": "Gjuteriets energianvändning och spillvärme"}
    )
    withdrawn = NeedWithdrawn(need_id=submitted.need_id, revision=3, company_org_number="5560360793")
    for data, day in ((withdrawn, 30), (updated, 10), (submitted, 1)):
        before = consumed(reporting)
        await publish_event(producer, settings.topic(NEEDS.name), data, key=str(submitted.need_id),
                            time=T0 + timedelta(days=day))
        await until_consumed(reporting, before + 1)
    return submitted.need_id


async def their_matches(producer, settings, case: dict[str, uuid.UUID]) -> None:
    for match_id in (case["early"], case["late"]):
        await publish_event(
            producer, settings.topic(MATCHES.name),
            MatchProposed(match_id=match_id, need_id=case["need_id"], output_id=uuid.uuid4(), score=0.71,
                          method="lexical-v1", reasons=[{"kind": "shared-terms", "explanation": "Båda handlar om: ställtid"}],
                          need_title="Långa ställtider", output_title="SMED-metod", output_summary="En metod.",
                          confidentiality="public"),
            source="/redthread/matching", key=str(case["need_id"]), time=T0,
        )


async def test_a_replay_rebuilds_what_the_live_service_projected(reporting, producer, settings):
    stream = mixed_stream(40, seed=7)
    kinds = {dict(r.headers)["ce_type"].decode() for r in stream}
    assert len(kinds) == 12, f"the stream should hold every kind of event reporting projects: {sorted(kinds)}"

    # Notifications and feedback first, projected before any match they are about exists.
    answers_first = [r for r in stream if r.topic in (NOTIFICATIONS.name, FEEDBACK.name)]
    case = await answers_before_their_match(reporting, producer, settings)
    backwards = await a_need_backwards(reporting, producer, settings)
    await send_all(producer, settings, answers_first)
    await until_consumed(reporting, len(answers_first) + 9)
    async with reporting.pool.acquire() as conn:
        assert await conn.fetchval("SELECT count(*) FROM need_matches WHERE proposed_at IS NULL") > 0
    await send_all(producer, settings, [r for r in stream if r not in answers_first])
    await their_matches(producer, settings, case)
    total = len(stream) + 11
    await until_consumed(reporting, total)
    assert reporting.consumers["reporting"].totals.dead_lettered == 0

    async with reporting.pool.acquire() as conn:
        live = await read_models(conn, "reporting")
        early = await conn.fetchrow("SELECT * FROM need_matches WHERE match_id = $1", case["early"])
        late = await conn.fetchrow("SELECT * FROM need_matches WHERE match_id = $1", case["late"])
        need = await conn.fetchrow("SELECT * FROM needs WHERE need_id = $1", backwards)
        unproposed = await conn.fetchval("SELECT count(*) FROM need_matches WHERE proposed_at IS NULL")
        leaked = await conn.fetchval("SELECT count(*) FROM company_timeline WHERE summary LIKE '%@%'")
        researchers = await conn.fetchval("SELECT count(*) FROM research_outputs WHERE researchers::text LIKE '%@%'")
        closed = await conn.fetchval("SELECT count(*) FROM needs WHERE status <> 'open' AND title IS NOT NULL")
        replaced = await conn.fetchval("SELECT count(*) FROM need_matches WHERE feedback_revision = 2")
    # The answers that came before their match are all there once it came, newest kept.
    assert (early["output_title"], early["notified_to"], early["feedback"], early["feedback_revision"]) == (
        "SMED-metod", "karin.replay@example.se", "not-useful", 2
    )
    assert early["first_useful_at"] == T0 + timedelta(days=7) and early["adopted_at"] is None
    assert (late["feedback"], late["feedback_revision"]) == ("adopted", 2)
    assert late["first_useful_at"] == T0 + timedelta(days=10) and late["adopted_at"] == T0 + timedelta(days=21)
    # A later revision never loses to an earlier one, whichever comes first.
    assert (need["title"], need["status"], need["revision"], need["content_revision"]) == (
        "Gjuteriets energianvändning och spillvärme", "withdrawn", 3, 2
    )
    assert (need["submitted_at"], need["closed_at"]) == (T0 + timedelta(days=1), T0 + timedelta(days=30))
    assert unproposed == 0 and leaked == 0 and researchers == 0 and closed > 0 and replaced > 0

    result = await replay(settings, "reporting_check", batch_size=97)
    assert result.events == total and result.outcome.handled == total and result.refused_again == 0
    async with reporting.pool.acquire() as conn:
        await assert_summaries_current(conn, "reporting")
        assert_same(live, await read_models(conn, "reporting_check"))


def events_of(records: list[StreamRecord]):
    return [decode({k: v.decode() for k, v in r.headers}, r.value) for r in records]


@pytest.fixture
async def scratch(settings):
    """A schema of its own for projecting by hand, without Kafka."""
    schema = "reporting_scratch"
    conn = await asyncpg.connect(settings.database_url)
    await conn.execute(f"DROP SCHEMA IF EXISTS {schema} CASCADE")
    await conn.close()
    pool = await create_pool(settings.database_url, schema)
    await apply_migrations(pool, "services.common", "services.reporting")
    yield pool, schema
    await pool.close()


async def project(pool, settings, events, batch_size: int) -> None:
    for start in range(0, len(events), batch_size):
        async with pool.acquire() as conn, conn.transaction():
            await project_batch(BatchContext(conn, settings), events[start:start + batch_size])


async def clear(pool) -> None:
    async with pool.acquire() as conn:
        await conn.execute(f"TRUNCATE {', '.join(READ_MODELS)}")


async def test_projecting_a_batch_again_changes_nothing(scratch, settings):
    pool, schema = scratch
    events = events_of(mixed_stream(12, seed=3))
    await project(pool, settings, events, batch_size=len(events))
    async with pool.acquire() as conn:
        once = await read_models(conn, schema)
    await project(pool, settings, events, batch_size=len(events))  # redelivered, past the inbox
    await project(pool, settings, events, batch_size=7)  # and again, cut differently
    async with pool.acquire() as conn:
        assert_same(once, await read_models(conn, schema))
    assert len(once["need_matches"]) > 10 and len(once["company_timeline"]) == len(events) - sum(
        1 for e in events if e.envelope.type.startswith("redthread.research-output")
    )


async def test_topics_may_interleave_in_any_order(scratch, settings):
    """Per key the order is the partition's; across topics anything goes."""
    pool, schema = scratch
    records = mixed_stream(15, seed=5)
    topics = list(dict.fromkeys(r.topic for r in records))
    await project(pool, settings, events_of(records), batch_size=50)
    async with pool.acquire() as conn:
        in_stream_order = await read_models(conn, schema)
    await clear(pool)
    topic_by_topic_backwards = [r for topic in reversed(topics) for r in records if r.topic == topic]
    await project(pool, settings, events_of(topic_by_topic_backwards), batch_size=33)
    async with pool.acquire() as conn:
        await assert_summaries_current(conn, schema)
        assert_same(in_stream_order, await read_models(conn, schema))


async def test_a_person_erased_before_their_events_are_projected_is_erased_again_at_the_end(scratch, settings):
    """A replay reads the erasures topic beside the others, in no particular order: it can
    project a person's events after their erasure. The replay's last step erases again."""
    pool, schema = scratch
    coach = "karin.order@example.se"
    need = a_need(coach={"name": "Karin Lindqvist", "email": coach})
    match_id = uuid.uuid4()
    erasure = new_event(PersonErased(person_id=person_id(coach), erased_at=datetime.now(UTC)), source="/partners/ops")
    told = new_event(NotificationDispatched(
        notification_id=uuid.uuid4(), match_id=match_id, need_id=need.need_id, channel="email", recipient=coach,
        subject="Forskning för ert behov", dispatched_at=datetime.now(UTC),
    ), source="/redthread/notification")
    await project(pool, settings, [erasure], batch_size=1)
    await project(pool, settings, [new_event(need, source="/partners/iuc"), told], batch_size=2)

    async with pool.acquire() as conn:
        assert await conn.fetchval("SELECT count(*) FROM need_matches WHERE notified_to = $1", coach) == 1
        await erase_again(conn)  # the replay's last step
        assert await conn.fetchval("SELECT count(*) FROM need_matches WHERE notified_to = $1", coach) == 0
