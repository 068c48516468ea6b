"""What reporting takes from each event, before any SQL: no contact data in its rows
except who a match was told to, and times from the events."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

from contracts.envelope import decode, new_event
from contracts.events import FeedbackSubmitted, FeedbackVerdict, NotificationDispatched, ResearchOutputPublished, person_id
from services.reporting.projections import PROJECTED_TYPES, Projection
from tests.bench.bench_reporting import mixed_stream

AT = datetime(2026, 5, 4, 9, 30, tzinfo=UTC)


def events(records):
    return [decode({k: v.decode() for k, v in r.headers}, r.value) for r in records]


def test_a_notification_names_its_recipient_only_in_the_match():
    told = NotificationDispatched(
        notification_id=uuid.uuid4(), match_id=uuid.uuid4(), need_id=uuid.uuid4(), channel="email",
        recipient="karin.lindqvist@example.se", subject="Forskning som kan hjälpa", dispatched_at=AT,
    )
    projection = Projection.of([new_event(told, source="/redthread/notification", time=AT)])
    [moment] = projection.timeline
    assert moment["summary"] == "Meddelat via e-post: Forskning som kan hjälpa"
    assert "karin" not in str(moment)
    assert projection.notifications == [
        {"match_id": told.match_id, "need_id": told.need_id, "notified_at": AT, "notified_to": "karin.lindqvist@example.se"}
    ]


def test_researchers_are_kept_without_their_e_mail():
    output = ResearchOutputPublished.model_validate(
        {
            "output_id": str(uuid.uuid4()), "project": "Produktion2030", "output_type": "method", "title": "SMED",
            "summary": "En metod.", "trl": 6, "published_at": AT.isoformat(),
            "contact_researchers": [{"name": "Anders Berg", "email": "anders@example.org", "organisation": "RISE",
                                     "orcid": "0000-0002-1825-0097"}],
        }
    )
    [row] = Projection.of([new_event(output, source="/partners/rise")]).output_contents
    assert row["researchers"] == [{"name": "Anders Berg", "organisation": "RISE", "orcid": "0000-0002-1825-0097",
                                   "person_id": person_id("anders@example.org")}]  # to be found by an erasure
    assert "anders@example.org" not in str(row)


def test_every_event_but_an_output_is_a_moment_of_the_red_thread_at_its_own_time():
    stream = events(mixed_stream(20, seed=11))
    projection = Projection.of(stream)
    about_companies = [e for e in stream if not e.envelope.type.startswith("redthread.research-output")]
    assert [m["event_id"] for m in projection.timeline] == [e.id for e in about_companies]
    assert [m["occurred_at"] for m in projection.timeline] == [e.envelope.time for e in about_companies]
    assert not any("@" in m["summary"] for m in projection.timeline)
    assert {e.envelope.type for e in stream} <= PROJECTED_TYPES


def test_a_feedback_reads_its_verdict_in_swedish():
    words = {}
    for verdict in FeedbackVerdict:
        answer = FeedbackSubmitted(
            feedback_id=uuid.uuid4(), match_id=uuid.uuid4(), verdict=verdict,
            reporter={"name": "Karin Lindqvist", "email": "karin.lindqvist@example.se"},
        )
        [moment] = Projection.of([new_event(answer, source="/partners/coach-tool", time=AT)]).timeline
        assert "Karin" not in moment["summary"]  # who answered is not the board's to read
        words[verdict.value] = moment["summary"].removeprefix("Återkoppling: ")
    assert words == {"useful": "användbart", "not-useful": "inte användbart", "adopted": "infört",
                     "new-question": "ny forskningsfråga"}
