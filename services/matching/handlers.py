"""Matching in both directions: a new need against the stored outputs, a new output
against the open needs. Each new pair above the threshold becomes a MatchProposed."""

from __future__ import annotations

from uuid import UUID

from contracts.envelope import CloudEvent, derived_event_id, new_event
from contracts.events import (
    MatchProposed,
    MatchReason,
    NeedContent,
    NeedResolved,
    NeedSubmitted,
    NeedUpdated,
    NeedWithdrawn,
    ResearchOutputContent,
    ResearchOutputPublished,
    ResearchOutputUpdated,
    ResearchOutputWithdrawn,
)
from contracts.topics import MATCHES
from services.common.consumer import HandlerContext
from services.matching import lexical

SOURCE = "/redthread/matching"


def need_text(need: NeedContent) -> str:
    return " ".join([need.title, need.description, *need.keywords])


def output_text(output: ResearchOutputContent) -> str:
    return " ".join([output.title, output.summary, *output.keywords])


def need_profile(need: NeedContent) -> lexical.Profile:
    return lexical.Profile(need_text(need), frozenset(need.focus_areas), need.min_trl)


def output_profile(output: ResearchOutputContent) -> lexical.Profile:
    return lexical.Profile(output_text(output), frozenset(output.focus_areas), output.trl)


async def match_need(ctx: HandlerContext, event: CloudEvent[NeedSubmitted | NeedUpdated]) -> None:
    """A new need, or a new revision of one, against the stored outputs."""
    need = event.data
    stored = await ctx.conn.fetchval(
        "INSERT INTO needs (need_id, data, terms, focus_areas, min_trl, revision) VALUES ($1, $2, $3, $4, $5, $6)"
        " ON CONFLICT (need_id) DO UPDATE SET data = $2, terms = $3, focus_areas = $4, min_trl = $5, revision = $6"
        " WHERE needs.status = 'open' AND needs.revision < $6 RETURNING true",
        need.need_id, need.model_dump_json(), lexical.terms(need_text(need)), list(need.focus_areas), need.min_trl,
        need.revision,
    )
    if not stored:
        return  # a closed need, or an older revision than the one we have
    rows = await ctx.conn.fetch(
        "SELECT data FROM research_outputs WHERE status = 'published' AND terms && $1", lexical.terms(need_text(need))
    )
    profile = need_profile(need)
    outputs = {str(o.output_id): o for o in (ResearchOutputUpdated.model_validate_json(r["data"]) for r in rows)}
    candidates = [(key, lexical.score(profile, output_profile(o))) for key, o in outputs.items()]
    for key, scored in _best(ctx, candidates):
        await _propose(ctx, event, need, outputs[key], scored)


async def match_output(ctx: HandlerContext, event: CloudEvent[ResearchOutputPublished | ResearchOutputUpdated]) -> None:
    """A new output, or a new revision of one, against the open needs."""
    output = event.data
    stored = await ctx.conn.fetchval(
        "INSERT INTO research_outputs (output_id, data, terms, focus_areas, trl, revision) VALUES ($1, $2, $3, $4, $5, $6)"
        " ON CONFLICT (output_id) DO UPDATE SET data = $2, terms = $3, focus_areas = $4, trl = $5, revision = $6"
        " WHERE research_outputs.status = 'published' AND research_outputs.revision < $6 RETURNING true",
        output.output_id, output.model_dump_json(), lexical.terms(output_text(output)), list(output.focus_areas),
        output.trl, output.revision,
    )
    if not stored:
        return
    rows = await ctx.conn.fetch(
        "SELECT data FROM needs WHERE status = 'open' AND terms && $1", lexical.terms(output_text(output))
    )
    profile = output_profile(output)
    needs = {str(n.need_id): n for n in (NeedUpdated.model_validate_json(r["data"]) for r in rows)}
    # Each need keeps its own best few: an output is proposed to every need it answers well.
    for key, need in needs.items():
        scored = lexical.score(need_profile(need), profile)
        if scored.value >= ctx.settings.match_threshold:
            await _propose(ctx, event, need, output, scored)


def _best(ctx: HandlerContext, candidates: list[tuple[str, lexical.Score]]) -> list[tuple[str, lexical.Score]]:
    return lexical.best(candidates, ctx.settings.match_threshold, ctx.settings.matches_per_event)


async def close_need(ctx: HandlerContext, event: CloudEvent[NeedWithdrawn | NeedResolved]) -> None:
    """A withdrawn or resolved need gets no more proposals."""
    await ctx.conn.execute(
        "UPDATE needs SET status = 'closed', revision = $2 WHERE need_id = $1 AND revision < $2",
        event.data.need_id, event.data.revision,
    )


async def withdraw_output(ctx: HandlerContext, event: CloudEvent[ResearchOutputWithdrawn]) -> None:
    await ctx.conn.execute(
        "UPDATE research_outputs SET status = 'withdrawn', revision = $2 WHERE output_id = $1 AND revision < $2",
        event.data.output_id, event.data.revision,
    )


async def _propose(
    ctx: HandlerContext,
    cause: CloudEvent,
    need: NeedContent,
    output: ResearchOutputContent,
    scored: lexical.Score,
) -> None:
    match_id = UUID(derived_event_id("match", need.need_id, output.output_id))
    is_new = await ctx.conn.fetchval(
        "INSERT INTO proposed_matches (need_id, output_id, match_id, score) VALUES ($1, $2, $3, $4)"
        " ON CONFLICT DO NOTHING RETURNING true",
        need.need_id, output.output_id, match_id, scored.value,
    )
    if not is_new:
        return
    proposal = MatchProposed(
        match_id=match_id,
        need_id=need.need_id,
        output_id=output.output_id,
        score=scored.value,
        method=lexical.METHOD,
        reasons=[MatchReason(kind=r.kind, explanation=r.explanation[:300]) for r in scored.reasons],
        need_title=need.title,
        output_title=output.title,
        output_summary=output.summary,
        company=need.company,
        coach=need.coach,
        confidentiality=need.confidentiality,
    )
    await ctx.publish(
        MATCHES.name,
        str(need.need_id),
        new_event(proposal, source=SOURCE, subject=str(need.need_id), caused_by=cause, event_id=str(match_id)),
    )


HANDLERS = {
    NeedSubmitted.EVENT_TYPE: match_need,
    NeedUpdated.EVENT_TYPE: match_need,
    NeedWithdrawn.EVENT_TYPE: close_need,
    NeedResolved.EVENT_TYPE: close_need,
    ResearchOutputPublished.EVENT_TYPE: match_output,
    ResearchOutputUpdated.EVENT_TYPE: match_output,
    ResearchOutputWithdrawn.EVENT_TYPE: withdraw_output,
}
