"""Projections: the read models of reporting, built from the events alone.

A batch is projected in two steps: `Projection.of(events)` turns the events into rows per
table (no I/O), and `write` applies each table's rows with one set-wise statement.

Every statement is commutative, because the topics interleave differently live and in a
replay (a notification or a feedback may be projected before the match it is about):

- each event type writes only its own columns, with an upsert, so a row is created by
  whichever event about it comes first;
- content is kept by revision (needs, outputs, answers), descriptions by event time
  (companies), first facts by the earliest time (a match's proposal, notification,
  retraction, first useful answer, adoption); ties are broken on the values themselves;
- times are the events' own, never now().

Within one statement a key may occur only once (ON CONFLICT DO UPDATE cannot touch a row
twice), so each statement first reduces the batch's rows per key with the same rule it
uses against the stored row. Redelivering a batch therefore changes nothing, and neither
does the order of the batches.

The board's summaries (migration 007: per output and need, what their matches reached)
depend on rows of several tables and may shrink (a retraction can take a match out), so
they are not upserted but recomputed: after the batch's rows are written, every summary
the batch may have changed is recomputed from the base rows, set-wise (`refresh_summaries`).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from uuid import UUID

import asyncpg
import pydantic_core

from contracts.envelope import CloudEvent
from contracts.events import (
    CompanyRef,
    FeedbackSubmitted,
    FeedbackVerdict,
    MatchProposed,
    MatchRetracted,
    NeedResolved,
    NeedSubmitted,
    NeedUpdated,
    NeedWithdrawn,
    NotificationDispatched,
    ParticipationRecorded,
    PersonErased,
    ResearchOutputPublished,
    ResearchOutputUpdated,
    ResearchOutputWithdrawn,
    person_id,
)
from contracts.notices import PartnerAccessChanged
from contracts.topics import ERASURES, FEEDBACK, MATCHES, NEEDS, NOTIFICATIONS, PARTICIPATIONS, PARTNER_ACCESS, RESEARCH_OUTPUTS
from services.common.consumer import BatchContext
from services.common.partner_access import record_partner_access
from services.reporting.erasure import erase_person, persons_erased

PROJECTED_TOPICS = (NEEDS, RESEARCH_OUTPUTS, PARTICIPATIONS, MATCHES, NOTIFICATIONS, FEEDBACK, PARTNER_ACCESS, ERASURES)

Row = dict[str, Any]

# How a notification reached someone, for the timeline. The recipient itself (an e-mail
# address, a webhook URL) stays in need_matches.notified_to: the red thread is shown to
# people who must not see contact data.
CHANNEL_WORDS = {"email": "via e-post", "webhook": "via webhook", "feed": "i ett flöde", "kafka": "via Kafka"}

# A feedback's verdict in the red thread, which is read in Swedish. (Migration 008 gave the
# rows projected before these words the same ones, so that a replay matches them.)
VERDICT_WORDS = {
    FeedbackVerdict.useful: "användbart",
    FeedbackVerdict.not_useful: "inte användbart",
    FeedbackVerdict.adopted: "infört",
    FeedbackVerdict.new_question: "ny forskningsfråga",
}


@dataclass
class Projection:
    """The rows a batch of events writes, table by table."""

    companies: list[Row] = field(default_factory=list)
    need_contents: list[Row] = field(default_factory=list)
    need_closings: list[Row] = field(default_factory=list)
    output_contents: list[Row] = field(default_factory=list)
    output_withdrawals: list[Row] = field(default_factory=list)
    participations: list[Row] = field(default_factory=list)
    match_proposals: list[Row] = field(default_factory=list)
    match_retractions: list[Row] = field(default_factory=list)
    notifications: list[Row] = field(default_factory=list)
    answers: list[Row] = field(default_factory=list)
    timeline: list[Row] = field(default_factory=list)
    partner_access: list[PartnerAccessChanged] = field(default_factory=list)
    erasures: list[PersonErased] = field(default_factory=list)

    def match_ids(self) -> list:
        """Every match the batch writes about."""
        return [
            row["match_id"]
            for rows in (self.match_proposals, self.match_retractions, self.notifications, self.answers)
            for row in rows
        ]

    @classmethod
    def of(cls, events: list[CloudEvent]) -> Projection:
        projection = cls()
        for event in events:
            ROWS_OF[event.envelope.type](projection, event)
        return projection

    def company(self, company: CompanyRef | None, event: CloudEvent) -> None:
        if company is not None:
            self.companies.append(
                {
                    "org_number": company.org_number,
                    "name": company.name,
                    "country": company.country.value,
                    "county": company.county,
                    "municipality": company.municipality,
                    "region": company.region,
                    "iuc": company.iuc,
                    "described_at": event.envelope.time,
                }
            )

    def moment(
        self,
        event: CloudEvent,
        kind: str,
        summary: str,
        *,
        company_org_number: str | None,
        need_id=None,
        match_id=None,
    ) -> None:
        """A row of the red thread, from this event alone: what it says about other
        aggregates (the title of the need it closes, say) may not be projected yet, and
        is joined through need_id and match_id when read."""
        self.timeline.append(
            {
                "event_id": event.id,
                "company_org_number": company_org_number,
                "occurred_at": event.envelope.time,
                "kind": kind,
                "summary": summary,
                "need_id": need_id,
                "match_id": match_id,
                "source": event.envelope.source,
            }
        )


# --- events → rows (no I/O) ------------------------------------------------------------


def need_content_rows(p: Projection, event: CloudEvent[NeedSubmitted | NeedUpdated]) -> None:
    need = event.data
    submitted = isinstance(need, NeedSubmitted)
    org = need.company.org_number if need.company else None
    p.need_contents.append(
        {
            "need_id": need.need_id,
            "company_org_number": org,
            "title": need.title,
            "submitted_at": event.envelope.time if submitted else None,
            "revision": need.revision,
            "region": need.company.region if need.company else None,
            "iuc": need.company.iuc if need.company else None,
            "focus_areas": [area.value for area in need.focus_areas],
            "need_type": need.need_type.value,
            "confidentiality": need.confidentiality.value,
            "source": event.envelope.source,
        }
    )
    p.company(need.company, event)
    kind, words = ("need-submitted", "Behov") if submitted else ("need-updated", "Behovet ändrat")
    p.moment(event, kind, f"{words}: {need.title}", company_org_number=org, need_id=need.need_id)


def need_closing_rows(p: Projection, event: CloudEvent[NeedWithdrawn | NeedResolved]) -> None:
    closed = event.data
    if isinstance(closed, NeedWithdrawn):
        status, summary, why = "withdrawn", "Behovet drogs tillbaka", closed.reason
    else:
        status, summary, why = "resolved", "Behovet löst", closed.resolution
    p.need_closings.append(
        {
            "need_id": closed.need_id,
            "company_org_number": closed.company_org_number,
            "revision": closed.revision,
            "status": status,
            "closed_at": event.envelope.time,
        }
    )
    p.moment(
        event, f"need-{status}", f"{summary}: {why}" if why else summary,
        company_org_number=closed.company_org_number, need_id=closed.need_id,
    )


def output_content_rows(p: Projection, event: CloudEvent[ResearchOutputPublished | ResearchOutputUpdated]) -> None:
    output = event.data
    p.output_contents.append(
        {
            "output_id": output.output_id,
            "title": output.title,
            "project": output.project,
            "published_at": output.published_at,
            "revision": output.revision,
            "output_type": output.output_type.value,
            "trl": output.trl,
            "focus_areas": [area.value for area in output.focus_areas],
            # Who to ask, never how to reach them: no e-mail addresses in reporting.
            "researchers": [
                # The address is not kept; its person id is, so that an erasure finds them.
                {"name": r.name, "organisation": r.organisation, "orcid": r.orcid, "person_id": person_id(r.email)}
                for r in output.contact_researchers
            ],
            "source": event.envelope.source,
        }
    )


def output_withdrawal_rows(p: Projection, event: CloudEvent[ResearchOutputWithdrawn]) -> None:
    p.output_withdrawals.append({"output_id": event.data.output_id, "revision": event.data.revision})


def participation_rows(p: Projection, event: CloudEvent[ParticipationRecorded]) -> None:
    taking_part = event.data
    initiative = taking_part.initiative
    p.participations.append(
        {
            "participation_id": taking_part.participation_id,
            "company_org_number": taking_part.company.org_number,
            "initiative": initiative.name,
            "initiative_owner": initiative.owner,
            "phase": taking_part.phase,
            "started_on": taking_part.started_on,
            "ended_on": taking_part.ended_on,
            "status": taking_part.status,
            "recorded_at": event.envelope.time,
            "source": event.envelope.source,
        }
    )
    p.company(taking_part.company, event)
    phase = f", {taking_part.phase}" if taking_part.phase else ""
    p.moment(
        event, "participation-recorded",
        f"Deltar i {initiative.name} ({initiative.owner}{phase}) från {taking_part.started_on.isoformat()}",
        company_org_number=taking_part.company.org_number,
    )


def match_proposal_rows(p: Projection, event: CloudEvent[MatchProposed]) -> None:
    match = event.data
    p.match_proposals.append(
        {
            "match_id": match.match_id,
            "need_id": match.need_id,
            "output_id": match.output_id,
            "output_title": match.output_title,
            "score": match.score,
            "reasons": [reason.model_dump() for reason in match.reasons],
            "proposed_at": event.envelope.time,
        }
    )
    p.company(match.company, event)
    p.moment(
        event, "match-proposed", f"Förslag: {match.output_title} för behovet {match.need_title} ({match.score:.0%})",
        company_org_number=match.company.org_number if match.company else None,
        need_id=match.need_id, match_id=match.match_id,
    )


def match_retraction_rows(p: Projection, event: CloudEvent[MatchRetracted]) -> None:
    retraction = event.data
    p.match_retractions.append(
        {
            "match_id": retraction.match_id,
            "need_id": retraction.need_id,
            "output_id": retraction.output_id,
            "retracted_at": event.envelope.time,
            "retraction_reason": retraction.reason,
        }
    )
    p.moment(
        event, "match-retracted", f"Förslaget drogs tillbaka: {retraction.reason}",
        company_org_number=retraction.company_org_number, need_id=retraction.need_id, match_id=retraction.match_id,
    )


def notification_rows(p: Projection, event: CloudEvent[NotificationDispatched]) -> None:
    told = event.data
    p.notifications.append(
        {
            "match_id": told.match_id,
            "need_id": told.need_id,
            "notified_at": told.dispatched_at,
            "notified_to": told.recipient,
        }
    )
    p.moment(
        event, "notification-dispatched", f"Meddelat {CHANNEL_WORDS.get(told.channel, told.channel)}: {told.subject}",
        company_org_number=told.company_org_number, need_id=told.need_id, match_id=told.match_id,
    )


def answer_rows(p: Projection, event: CloudEvent[FeedbackSubmitted]) -> None:
    answer = event.data
    p.answers.append(
        {
            "feedback_id": answer.feedback_id,
            "match_id": answer.match_id,
            "revision": answer.revision,
            "verdict": answer.verdict.value,
            "reason": answer.reason.value if answer.reason else None,
            "new_question": answer.new_question,
            "answered_at": event.envelope.time,
            "source": event.envelope.source,
        }
    )
    # The feedback names its match only: its need and company are joined when read. Who
    # answered is not kept: the board reads the timeline, and the verdict is what counts.
    p.moment(
        event, "feedback-submitted", f"Återkoppling: {VERDICT_WORDS[answer.verdict]}",
        company_org_number=answer.company_org_number, match_id=answer.match_id,
    )


def partner_access_rows(p: Projection, event: CloudEvent[PartnerAccessChanged]) -> None:
    p.partner_access.append(event.data)


def erasure_rows(p: Projection, event: CloudEvent[PersonErased]) -> None:
    p.erasures.append(event.data)


ROWS_OF: dict[str, Callable[[Projection, CloudEvent], None]] = {
    NeedSubmitted.EVENT_TYPE: need_content_rows,
    NeedUpdated.EVENT_TYPE: need_content_rows,
    NeedWithdrawn.EVENT_TYPE: need_closing_rows,
    NeedResolved.EVENT_TYPE: need_closing_rows,
    ResearchOutputPublished.EVENT_TYPE: output_content_rows,
    ResearchOutputUpdated.EVENT_TYPE: output_content_rows,
    ResearchOutputWithdrawn.EVENT_TYPE: output_withdrawal_rows,
    ParticipationRecorded.EVENT_TYPE: participation_rows,
    MatchProposed.EVENT_TYPE: match_proposal_rows,
    MatchRetracted.EVENT_TYPE: match_retraction_rows,
    NotificationDispatched.EVENT_TYPE: notification_rows,
    FeedbackSubmitted.EVENT_TYPE: answer_rows,
    PartnerAccessChanged.EVENT_TYPE: partner_access_rows,
    PersonErased.EVENT_TYPE: erasure_rows,
}
PROJECTED_TYPES = frozenset(ROWS_OF)


# --- rows → tables (one statement per table and kind of event) -------------------------


def _newer_wins(table: str, columns: tuple[str, ...], newer: str) -> str:
    """SET clauses that take the incoming value of each column only when `newer` holds."""
    return ", ".join(f"{c} = CASE WHEN {newer} THEN EXCLUDED.{c} ELSE {table}.{c} END" for c in columns)


# A company's description as a row value, for "the latest description wins": the event
# time first, then the description itself, so equal times are settled the same in any order.
_DESCRIPTION = (
    "ROW({t}described_at, {t}name, {t}country, coalesce({t}county, ''), coalesce({t}municipality, ''),"
    " coalesce({t}region, ''), coalesce({t}iuc, ''))"
)

UPSERT_COMPANIES = f"""
INSERT INTO companies AS c (org_number, name, country, county, municipality, region, iuc, described_at)
SELECT DISTINCT ON (org_number) org_number, name, country, county, municipality, region, iuc, described_at
FROM json_to_recordset($1::json) AS r(org_number text, name text, country text, county text, municipality text,
                                      region text, iuc text, described_at timestamptz)
ORDER BY org_number, {_DESCRIPTION.format(t='')} DESC
ON CONFLICT (org_number) DO UPDATE SET
    name = EXCLUDED.name, country = EXCLUDED.country, county = EXCLUDED.county,
    municipality = EXCLUDED.municipality, region = EXCLUDED.region, iuc = EXCLUDED.iuc,
    described_at = EXCLUDED.described_at
WHERE {_DESCRIPTION.format(t='EXCLUDED.')} > {_DESCRIPTION.format(t='c.')}
RETURNING org_number
"""

NEED_CONTENT = ("company_org_number", "title", "region", "iuc", "focus_areas", "need_type", "confidentiality", "source",
                "content_revision")
UPSERT_NEED_CONTENTS = f"""
INSERT INTO needs AS n (need_id, submitted_at, revision, {", ".join(NEED_CONTENT)})
SELECT DISTINCT ON (need_id) need_id, min(submitted_at) OVER (PARTITION BY need_id), revision,
       company_org_number, title, region, iuc, focus_areas, need_type, confidentiality, source, revision
FROM json_to_recordset($1::json) AS r(need_id uuid, company_org_number text, title text, submitted_at timestamptz,
                                      revision integer, region text, iuc text, focus_areas text[], need_type text,
                                      confidentiality text, source text)
ORDER BY need_id, revision DESC, title DESC
ON CONFLICT (need_id) DO UPDATE SET
    submitted_at = least(n.submitted_at, EXCLUDED.submitted_at),
    revision = greatest(n.revision, EXCLUDED.revision),
    {_newer_wins("n", NEED_CONTENT, "EXCLUDED.content_revision > n.content_revision")}
"""

# Closing is final (intake refuses changes to a closed need), so the first close stands.
UPSERT_NEED_CLOSINGS = """
INSERT INTO needs AS n (need_id, company_org_number, revision, status, closed_at)
SELECT DISTINCT ON (need_id) need_id, company_org_number, revision, status, closed_at
FROM json_to_recordset($1::json) AS r(need_id uuid, company_org_number text, revision integer, status text,
                                      closed_at timestamptz)
ORDER BY need_id, closed_at, status
ON CONFLICT (need_id) DO UPDATE SET
    revision = greatest(n.revision, EXCLUDED.revision),
    company_org_number = coalesce(n.company_org_number, EXCLUDED.company_org_number),
    status = CASE WHEN n.closed_at IS NULL OR (EXCLUDED.closed_at, EXCLUDED.status) < (n.closed_at, n.status)
                  THEN EXCLUDED.status ELSE n.status END,
    closed_at = least(n.closed_at, EXCLUDED.closed_at)
"""

OUTPUT_CONTENT = ("title", "project", "published_at", "output_type", "trl", "focus_areas", "researchers", "source",
                  "content_revision")
UPSERT_OUTPUT_CONTENTS = f"""
INSERT INTO research_outputs AS o (output_id, revision, {", ".join(OUTPUT_CONTENT)})
SELECT DISTINCT ON (output_id) output_id, revision,
       title, project, published_at, output_type, trl, focus_areas, researchers, source, revision
FROM json_to_recordset($1::json) AS r(output_id uuid, title text, project text, published_at timestamptz,
                                      revision integer, output_type text, trl integer, focus_areas text[],
                                      researchers jsonb, source text)
ORDER BY output_id, revision DESC, title DESC
ON CONFLICT (output_id) DO UPDATE SET
    revision = greatest(o.revision, EXCLUDED.revision),
    {_newer_wins("o", OUTPUT_CONTENT, "EXCLUDED.content_revision > o.content_revision")}
"""

UPSERT_OUTPUT_WITHDRAWALS = """
INSERT INTO research_outputs AS o (output_id, revision, status)
SELECT output_id, max(revision), 'withdrawn'
FROM json_to_recordset($1::json) AS r(output_id uuid, revision integer)
GROUP BY output_id
ON CONFLICT (output_id) DO UPDATE SET revision = greatest(o.revision, EXCLUDED.revision), status = 'withdrawn'
"""

# A participation is recorded once (intake refuses other content under its id); should
# it come again, the later record wins.
UPSERT_PARTICIPATIONS = """
INSERT INTO participations AS p (participation_id, company_org_number, initiative, initiative_owner, phase,
                                 started_on, ended_on, status, recorded_at, source)
SELECT DISTINCT ON (participation_id) participation_id, company_org_number, initiative, initiative_owner, phase,
       started_on, ended_on, status, recorded_at, source
FROM json_to_recordset($1::json) AS r(participation_id uuid, company_org_number text, initiative text,
                                      initiative_owner text, phase text, started_on date, ended_on date,
                                      status text, recorded_at timestamptz, source text)
ORDER BY participation_id, recorded_at DESC, status DESC
ON CONFLICT (participation_id) DO UPDATE SET
    company_org_number = EXCLUDED.company_org_number, initiative = EXCLUDED.initiative,
    initiative_owner = EXCLUDED.initiative_owner, phase = EXCLUDED.phase, started_on = EXCLUDED.started_on,
    ended_on = EXCLUDED.ended_on, status = EXCLUDED.status, recorded_at = EXCLUDED.recorded_at,
    source = EXCLUDED.source
WHERE (EXCLUDED.recorded_at, EXCLUDED.status) > (p.recorded_at, p.status)
RETURNING company_org_number
"""

# A pair is proposed once; were it proposed again, the first proposal stands.
UPSERT_MATCH_PROPOSALS = """
INSERT INTO need_matches AS m (match_id, need_id, output_id, output_title, score, reasons, proposed_at)
SELECT DISTINCT ON (match_id) match_id, need_id, output_id, output_title, score, reasons, proposed_at
FROM json_to_recordset($1::json) AS r(match_id uuid, need_id uuid, output_id uuid, output_title text, score real,
                                      reasons jsonb, proposed_at timestamptz)
ORDER BY match_id, proposed_at, score
ON CONFLICT (match_id) DO UPDATE SET
    need_id = EXCLUDED.need_id, output_id = EXCLUDED.output_id, output_title = EXCLUDED.output_title,
    score = EXCLUDED.score, reasons = EXCLUDED.reasons, proposed_at = EXCLUDED.proposed_at
WHERE m.proposed_at IS NULL OR (EXCLUDED.proposed_at, EXCLUDED.score) < (m.proposed_at, m.score)
"""

UPSERT_MATCH_RETRACTIONS = """
INSERT INTO need_matches AS m (match_id, need_id, output_id, retracted_at, retraction_reason)
SELECT DISTINCT ON (match_id) match_id, need_id, output_id, retracted_at, retraction_reason
FROM json_to_recordset($1::json) AS r(match_id uuid, need_id uuid, output_id uuid, retracted_at timestamptz,
                                      retraction_reason text)
ORDER BY match_id, retracted_at, retraction_reason
ON CONFLICT (match_id) DO UPDATE SET
    need_id = coalesce(m.need_id, EXCLUDED.need_id),
    output_id = coalesce(m.output_id, EXCLUDED.output_id),
    retraction_reason = CASE
        WHEN m.retracted_at IS NULL
          OR (EXCLUDED.retracted_at, EXCLUDED.retraction_reason) < (m.retracted_at, m.retraction_reason)
        THEN EXCLUDED.retraction_reason ELSE m.retraction_reason END,
    retracted_at = least(m.retracted_at, EXCLUDED.retracted_at)
"""

# Who was told first, and when.
UPSERT_NOTIFICATIONS = """
INSERT INTO need_matches AS m (match_id, need_id, notified_at, notified_to)
SELECT DISTINCT ON (match_id) match_id, need_id, notified_at, notified_to
FROM json_to_recordset($1::json) AS r(match_id uuid, need_id uuid, notified_at timestamptz, notified_to text)
ORDER BY match_id, notified_at, notified_to
ON CONFLICT (match_id) DO UPDATE SET
    need_id = coalesce(m.need_id, EXCLUDED.need_id),
    notified_to = CASE
        WHEN m.notified_at IS NULL OR (EXCLUDED.notified_at, EXCLUDED.notified_to) < (m.notified_at, m.notified_to)
        THEN EXCLUDED.notified_to ELSE m.notified_to END,
    notified_at = least(m.notified_at, EXCLUDED.notified_at)
"""

# Each answer at its highest revision: answering again replaces the answer.
UPSERT_ANSWERS = """
INSERT INTO feedback_answers AS f (feedback_id, match_id, revision, verdict, reason, new_question, answered_at, source)
SELECT DISTINCT ON (feedback_id) feedback_id, match_id, revision, verdict, reason, new_question, answered_at, source
FROM json_to_recordset($1::json) AS r(feedback_id uuid, match_id uuid, revision integer, verdict text, reason text,
                                      new_question text, answered_at timestamptz, source text)
ORDER BY feedback_id, revision DESC, answered_at DESC, verdict DESC
ON CONFLICT (feedback_id) DO UPDATE SET
    match_id = EXCLUDED.match_id, revision = EXCLUDED.revision, verdict = EXCLUDED.verdict, reason = EXCLUDED.reason,
    new_question = EXCLUDED.new_question, answered_at = EXCLUDED.answered_at, source = EXCLUDED.source
WHERE (EXCLUDED.revision, EXCLUDED.answered_at, EXCLUDED.verdict) > (f.revision, f.answered_at, f.verdict)
"""

# The match shows the latest of its answers (whoever gave it), recomputed from all of
# them; the first useful answer and the first adoption are kept whatever came later.
UPSERT_MATCH_FEEDBACK = """
WITH answered AS (
    SELECT match_id,
           min(answered_at) FILTER (WHERE verdict IN ('useful', 'adopted')) AS first_useful_at,
           min(answered_at) FILTER (WHERE verdict = 'adopted') AS adopted_at
    FROM json_to_recordset($1::json) AS r(match_id uuid, verdict text, answered_at timestamptz)
    GROUP BY match_id
), latest AS (
    SELECT DISTINCT ON (match_id) match_id, verdict, revision, new_question
    FROM feedback_answers
    WHERE match_id IN (SELECT match_id FROM answered)
    ORDER BY match_id, answered_at DESC, feedback_id DESC
)
INSERT INTO need_matches AS m (match_id, feedback, feedback_revision, new_question, first_useful_at, adopted_at)
SELECT a.match_id, l.verdict, l.revision, l.new_question, a.first_useful_at, a.adopted_at
FROM answered a JOIN latest l USING (match_id)
ON CONFLICT (match_id) DO UPDATE SET
    feedback = EXCLUDED.feedback, feedback_revision = EXCLUDED.feedback_revision,
    new_question = EXCLUDED.new_question,
    first_useful_at = least(m.first_useful_at, EXCLUDED.first_useful_at),
    adopted_at = least(m.adopted_at, EXCLUDED.adopted_at)
"""

INSERT_TIMELINE = """
INSERT INTO company_timeline (event_id, company_org_number, occurred_at, kind, summary, need_id, match_id, source)
SELECT event_id, company_org_number, occurred_at, kind, left(summary, 500), need_id, match_id, source
FROM json_to_recordset($1::json) AS r(event_id text, company_org_number text, occurred_at timestamptz, kind text,
                                      summary text, need_id uuid, match_id uuid, source text)
ON CONFLICT (event_id) DO NOTHING
"""

# The feedback of a match is recomputed from the answers stored just before.
STATEMENTS: tuple[tuple[str, str], ...] = (
    ("companies", UPSERT_COMPANIES),
    ("need_contents", UPSERT_NEED_CONTENTS),
    ("need_closings", UPSERT_NEED_CLOSINGS),
    ("output_contents", UPSERT_OUTPUT_CONTENTS),
    ("output_withdrawals", UPSERT_OUTPUT_WITHDRAWALS),
    ("participations", UPSERT_PARTICIPATIONS),
    ("match_proposals", UPSERT_MATCH_PROPOSALS),
    ("match_retractions", UPSERT_MATCH_RETRACTIONS),
    ("notifications", UPSERT_NOTIFICATIONS),
    ("answers", UPSERT_ANSWERS),
    ("answers", UPSERT_MATCH_FEEDBACK),
    ("timeline", INSERT_TIMELINE),
)


# Statements whose RETURNING names what changed, for `refresh_summaries`: companies whose
# description changed, and companies whose participations did.
RETURNS_COMPANIES = ("companies", "participations")


async def write(conn: asyncpg.Connection, projection: Projection) -> None:
    keys_before = NOTHING_BEFORE
    if projection.match_ids() or projection.participations:
        keys_before = await conn.fetchrow(
            KEYS_BEFORE, projection.match_ids(), [r["participation_id"] for r in projection.participations]
        )
    changed_companies: dict[str, list[str]] = {name: [] for name in RETURNS_COMPANIES}
    for rows_name, statement in STATEMENTS:
        rows = getattr(projection, rows_name)
        if rows:
            returned = await conn.fetch(statement, pydantic_core.to_json(rows).decode())
            if rows_name in changed_companies:
                changed_companies[rows_name] += [row[0] for row in returned]
    await refresh_summaries(conn, projection, keys_before, **changed_companies)
    for access in projection.partner_access:  # rare, and kept in the order they came
        await record_partner_access(conn, access)
    # Last, so that nothing the batch wrote about the person outlives it.
    await erase(conn, [(erasure.person_id, erasure.erased_at) for erasure in projection.erasures])


async def erase_again(conn: asyncpg.Connection) -> None:
    """Everyone erased so far, once more: the end of a replay, which may have projected a
    person's events after their erasure."""
    await erase(conn, [(person, None) for person in await persons_erased(conn)])


async def erase(conn: asyncpg.Connection, persons: list[tuple[str, datetime | None]]) -> None:
    """Erase these persons (services/reporting/erasure.py) and recompute the credits of
    the outputs they were taken from."""
    outputs: set[UUID] = set()
    for person, erased_at in persons:
        outputs.update(await erase_person(conn, person, erased_at))
    if outputs:
        for statement in REFRESH_OUTPUT_ROWS:
            await conn.execute(statement, list(outputs))


# --- the board's summaries (migration 007) ----------------------------------------------

# Where the batch's matches and participations pointed before the batch was written: a
# proposal may name another need or output than a retraction projected before it, and a
# participation recorded again may name another company. The summaries on both sides of
# such a move are recomputed.
KEYS_BEFORE = """
SELECT array(SELECT need_id FROM need_matches WHERE match_id = ANY($1::uuid[]) AND need_id IS NOT NULL) AS needs,
       array(SELECT output_id FROM need_matches WHERE match_id = ANY($1::uuid[]) AND output_id IS NOT NULL) AS outputs,
       array(SELECT company_org_number FROM participations WHERE participation_id = ANY($2::uuid[])) AS companies
"""

NOTHING_BEFORE = {"needs": [], "outputs": [], "companies": []}

# Which summaries the batch may have changed, from what it wrote:
# - a need's summary reads its matches: the needs of the batch's matches (before and
#   after), and needs the batch wrote (the row may be new, its summary not yet computed);
# - an output's summary and its rows for time to uptake and reach read the output, its
#   matches, their needs' company and region, the company's region (for a need without
#   one) and the company's initiatives: the outputs the batch wrote, the outputs of the
#   batch's matches (before and after), and the outputs matched to needs whose company or
#   region may have changed (needs the batch wrote, needs without a region of their own
#   whose company was newly described, needs of a company whose participations changed).
# $1 the batch's match ids, $2 outputs written or matched before, $3 needs written,
# $4 needs matched before, $5 companies newly described, $6 companies whose
# participations changed (before and after).
TOUCHED = """
WITH batch_matches AS (SELECT need_id, output_id FROM need_matches WHERE match_id = ANY($1::uuid[])),
needs_changed AS (
    SELECT unnest($3::uuid[]) AS need_id
    UNION SELECT need_id FROM needs WHERE company_org_number = ANY($5::text[]) AND region IS NULL
    UNION SELECT need_id FROM needs WHERE company_org_number = ANY($6::text[])
)
SELECT array(SELECT unnest($2::uuid[])
             UNION SELECT output_id FROM batch_matches WHERE output_id IS NOT NULL
             UNION SELECT m.output_id FROM need_matches m JOIN needs_changed USING (need_id)
                   WHERE m.output_id IS NOT NULL) AS outputs,
       array(SELECT unnest($3::uuid[])
             UNION SELECT unnest($4::uuid[])
             UNION SELECT need_id FROM batch_matches WHERE need_id IS NOT NULL) AS needs
"""

# The stored summaries of the touched keys, made equal to the views of migration 007
# (rows that already are stay untouched, sparing the table dead rows). The views' GROUP BY
# key is filtered on directly, so that only the touched keys are aggregated.
_OUTPUT_SUMMARY = ("matches", "useful_matches", "adopted_matches", "first_matched_at", "first_notified_at",
                   "first_useful_at", "first_adopted_at", "companies_told")
REFRESH_OUTPUT_SUMMARIES = f"""
UPDATE research_outputs o SET {", ".join(f"{c} = s.{c}" for c in _OUTPUT_SUMMARY)}
FROM computed_output_summaries s
WHERE s.output_id = ANY($1::uuid[]) AND o.output_id = s.output_id
  AND ({", ".join(f"o.{c}" for c in _OUTPUT_SUMMARY)}) IS DISTINCT FROM ({", ".join(f"s.{c}" for c in _OUTPUT_SUMMARY)})
"""

_NEED_SUMMARY = ("matches", "matches_told", "best_standing_score")
REFRESH_NEED_SUMMARIES = f"""
UPDATE needs n SET {", ".join(f"{c} = s.{c}" for c in _NEED_SUMMARY)}
FROM computed_need_summaries s
WHERE s.need_id = ANY($1::uuid[]) AND n.need_id = s.need_id
  AND ({", ".join(f"n.{c}" for c in _NEED_SUMMARY)}) IS DISTINCT FROM ({", ".join(f"s.{c}" for c in _NEED_SUMMARY)})
"""

# The narrow rows of time to uptake and reach (per output and group, per output and
# credit) are replaced per output: a group or credit the output no longer has goes. They
# are made from the output's summary, so they come after it.
REFRESH_OUTPUT_ROWS = tuple(
    statement
    for table, columns in (
        ("output_uptake", "output_id, grouping, grp, published_at, first_matched_at, first_notified_at, first_adopted_at"),
        ("output_credits", "output_id, credit, name, organisation, published_at, matches, useful_matches, adopted_matches"),
        ("output_credit_companies", "output_id, credit, name, organisation, company_org_number, published_at"),
    )
    for statement in (
        f"DELETE FROM {table} WHERE output_id = ANY($1::uuid[])",
        f"INSERT INTO {table} ({columns}) SELECT {columns} FROM computed_{table} WHERE output_id = ANY($1::uuid[])",
    )
)


async def refresh_summaries(
    conn: asyncpg.Connection,
    projection: Projection,
    keys_before: Mapping[str, list],
    *,
    companies: list[str],
    participations: list[str],
) -> None:
    """Recompute the summaries the batch may have changed; `companies` were newly described,
    `participations` are the companies whose participations changed."""
    if not (projection.match_ids() or projection.output_contents or projection.output_withdrawals
            or projection.need_contents or projection.need_closings or companies or participations):
        return
    touched = await conn.fetchrow(
        TOUCHED,
        projection.match_ids(),
        [r["output_id"] for r in projection.output_contents + projection.output_withdrawals] + keys_before["outputs"],
        [r["need_id"] for r in projection.need_contents + projection.need_closings],
        keys_before["needs"],
        companies,
        participations + keys_before["companies"],
    )
    if touched["needs"]:
        await conn.execute(REFRESH_NEED_SUMMARIES, touched["needs"])
    if touched["outputs"]:
        await conn.execute(REFRESH_OUTPUT_SUMMARIES, touched["outputs"])
        for statement in REFRESH_OUTPUT_ROWS:
            await conn.execute(statement, touched["outputs"])


async def project_batch(batch: BatchContext, events: list[CloudEvent]) -> None:
    """The reporting consumer's batch handler."""
    await write(batch.conn, Projection.of(events))
