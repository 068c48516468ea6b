"""Projections: each event updates the read models. Idempotent by construction (every
row is keyed by the event or aggregate it came from), so replaying changes nothing."""

from __future__ import annotations

import json

from contracts.envelope import CloudEvent
from contracts.events import (
    FeedbackSubmitted,
    MatchProposed,
    NeedSubmitted,
    NotificationDispatched,
    ParticipationRecorded,
    ResearchOutputPublished,
)
from services.common.consumer import HandlerContext


async def _timeline(
    ctx: HandlerContext,
    event: CloudEvent,
    org_number: str | None,
    kind: str,
    summary: str,
    need_id=None,
    match_id=None,
) -> None:
    if org_number is None:
        return
    await ctx.conn.execute(
        "INSERT INTO company_timeline (event_id, company_org_number, occurred_at, kind, summary, need_id, match_id, source)"
        " VALUES ($1, $2, $3, $4, $5, $6, $7, $8) ON CONFLICT (event_id) DO NOTHING",
        event.id, org_number, event.envelope.time, kind, summary[:500], need_id, match_id, event.envelope.source,
    )


async def project_need(ctx: HandlerContext, event: CloudEvent[NeedSubmitted]) -> None:
    need = event.data
    org = need.company.org_number if need.company else None
    await ctx.conn.execute(
        "INSERT INTO needs (need_id, company_org_number, title, submitted_at) VALUES ($1, $2, $3, $4)"
        " ON CONFLICT (need_id) DO NOTHING",
        need.need_id, org, need.title, event.envelope.time,
    )
    await _timeline(ctx, event, org, "need-submitted", f"Behov: {need.title}", need_id=need.need_id)


async def project_output(ctx: HandlerContext, event: CloudEvent[ResearchOutputPublished]) -> None:
    output = event.data
    await ctx.conn.execute(
        "INSERT INTO research_outputs (output_id, title, project, published_at) VALUES ($1, $2, $3, $4)"
        " ON CONFLICT (output_id) DO NOTHING",
        output.output_id, output.title, output.project, output.published_at,
    )


async def project_participation(ctx: HandlerContext, event: CloudEvent[ParticipationRecorded]) -> None:
    p = event.data
    phase = f", {p.phase}" if p.phase else ""
    await _timeline(
        ctx, event, p.company.org_number, "participation-recorded",
        f"Deltar i {p.initiative.name} ({p.initiative.owner}{phase}) från {p.started_on.isoformat()}",
    )


async def project_match(ctx: HandlerContext, event: CloudEvent[MatchProposed]) -> None:
    match = event.data
    await ctx.conn.execute(
        "INSERT INTO need_matches (match_id, need_id, output_id, output_title, score, reasons, proposed_at)"
        " VALUES ($1, $2, $3, $4, $5, $6::jsonb, $7) ON CONFLICT (match_id) DO NOTHING",
        match.match_id, match.need_id, match.output_id, match.output_title, match.score,
        json.dumps([r.model_dump() for r in match.reasons]), event.envelope.time,
    )
    await _timeline(
        ctx, event, match.company.org_number if match.company else None, "match-proposed",
        f"Förslag: {match.output_title} för behovet {match.need_title} ({match.score:.0%})",
        need_id=match.need_id, match_id=match.match_id,
    )


async def project_notification(ctx: HandlerContext, event: CloudEvent[NotificationDispatched]) -> None:
    n = event.data
    await ctx.conn.execute(
        "UPDATE need_matches SET notified_at = $2, notified_to = $3 WHERE match_id = $1",
        n.match_id, n.dispatched_at, n.recipient,
    )
    await _timeline(
        ctx, event, n.company_org_number, "notification-dispatched",
        f"Meddelat {n.recipient} via {n.channel}: {n.subject}", need_id=n.need_id, match_id=n.match_id,
    )


async def project_feedback(ctx: HandlerContext, event: CloudEvent[FeedbackSubmitted]) -> None:
    f = event.data
    row = await ctx.conn.fetchrow(
        "SELECT m.need_id, n.company_org_number FROM need_matches m LEFT JOIN needs n USING (need_id)"
        " WHERE m.match_id = $1",
        f.match_id,
    )
    await ctx.conn.execute("UPDATE need_matches SET feedback = $2 WHERE match_id = $1", f.match_id, f.verdict.value)
    org = f.company_org_number or (row["company_org_number"] if row else None)
    await _timeline(
        ctx, event, org, "feedback-submitted", f"Återkoppling från {f.reporter.name}: {f.verdict.value}",
        need_id=row["need_id"] if row else None, match_id=f.match_id,
    )


HANDLERS = {
    NeedSubmitted.EVENT_TYPE: project_need,
    ResearchOutputPublished.EVENT_TYPE: project_output,
    ParticipationRecorded.EVENT_TYPE: project_participation,
    MatchProposed.EVENT_TYPE: project_match,
    NotificationDispatched.EVENT_TYPE: project_notification,
    FeedbackSubmitted.EVENT_TYPE: project_feedback,
}
