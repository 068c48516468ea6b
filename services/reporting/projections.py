"""Projections: each event updates the read models. Idempotent by construction (every
row is keyed by the event or aggregate it came from), so replaying changes nothing."""

from __future__ import annotations

import json

from contracts.envelope import CloudEvent
from contracts.events import (
    FeedbackSubmitted,
    MatchProposed,
    MatchRetracted,
    NeedResolved,
    NeedSubmitted,
    NeedUpdated,
    NeedWithdrawn,
    NotificationDispatched,
    ParticipationRecorded,
    ResearchOutputPublished,
    ResearchOutputUpdated,
    ResearchOutputWithdrawn,
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


async def project_need_update(ctx: HandlerContext, event: CloudEvent[NeedUpdated]) -> None:
    need = event.data
    org = need.company.org_number if need.company else None
    await ctx.conn.execute(
        "UPDATE needs SET title = $2, revision = $3 WHERE need_id = $1 AND revision < $3",
        need.need_id, need.title, need.revision,
    )
    await _timeline(ctx, event, org, "need-updated", f"Behovet ändrat: {need.title}", need_id=need.need_id)


async def project_need_closed(ctx: HandlerContext, event: CloudEvent[NeedWithdrawn | NeedResolved]) -> None:
    closed = event.data
    state, words = ("withdrawn", "Behovet drogs tillbaka") if isinstance(closed, NeedWithdrawn) else ("resolved", "Behovet löst")
    title = await ctx.conn.fetchval(
        "UPDATE needs SET status = $2, revision = $3 WHERE need_id = $1 AND revision < $3 RETURNING title",
        closed.need_id, state, closed.revision,
    )
    await _timeline(ctx, event, closed.company_org_number, f"need-{state}", f"{words}: {title or closed.need_id}",
                    need_id=closed.need_id)


async def project_output(ctx: HandlerContext, event: CloudEvent[ResearchOutputPublished | ResearchOutputUpdated]) -> None:
    output = event.data
    await ctx.conn.execute(
        "INSERT INTO research_outputs (output_id, title, project, published_at, revision) VALUES ($1, $2, $3, $4, $5)"
        " ON CONFLICT (output_id) DO UPDATE SET title = $2, project = $3, revision = $5"
        " WHERE research_outputs.revision < $5",
        output.output_id, output.title, output.project, output.published_at, output.revision,
    )


async def project_output_withdrawn(ctx: HandlerContext, event: CloudEvent[ResearchOutputWithdrawn]) -> None:
    await ctx.conn.execute(
        "UPDATE research_outputs SET status = 'withdrawn', revision = $2 WHERE output_id = $1 AND revision < $2",
        event.data.output_id, event.data.revision,
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


async def project_retraction(ctx: HandlerContext, event: CloudEvent[MatchRetracted]) -> None:
    r = event.data
    title = await ctx.conn.fetchval(
        "UPDATE need_matches SET retracted_at = $2, retraction_reason = $3 WHERE match_id = $1 RETURNING output_title",
        r.match_id, event.envelope.time, r.reason,
    )
    await _timeline(
        ctx, event, r.company_org_number, "match-retracted", f"Förslaget {title or r.output_id} drogs tillbaka: {r.reason}",
        need_id=r.need_id, match_id=r.match_id,
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
    NeedUpdated.EVENT_TYPE: project_need_update,
    NeedWithdrawn.EVENT_TYPE: project_need_closed,
    NeedResolved.EVENT_TYPE: project_need_closed,
    ResearchOutputPublished.EVENT_TYPE: project_output,
    ResearchOutputUpdated.EVENT_TYPE: project_output,
    ResearchOutputWithdrawn.EVENT_TYPE: project_output_withdrawn,
    ParticipationRecorded.EVENT_TYPE: project_participation,
    MatchProposed.EVENT_TYPE: project_match,
    MatchRetracted.EVENT_TYPE: project_retraction,
    NotificationDispatched.EVENT_TYPE: project_notification,
    FeedbackSubmitted.EVENT_TYPE: project_feedback,
}
