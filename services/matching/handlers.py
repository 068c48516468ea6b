"""Matching in both directions: a new need against the stored outputs, a new output
against the open needs. Each new pair above the threshold becomes a MatchProposed."""

from __future__ import annotations

from uuid import UUID

from contracts.envelope import CloudEvent, derived_event_id, new_event
from contracts.events import MatchProposed, MatchReason, NeedSubmitted, ResearchOutputPublished
from contracts.topics import MATCHES
from services.common.consumer import HandlerContext
from services.matching import lexical

SOURCE = "/redthread/matching"


def need_text(need: NeedSubmitted) -> str:
    return " ".join([need.title, need.description, *need.keywords])


def output_text(output: ResearchOutputPublished) -> str:
    return " ".join([output.title, output.summary, *output.keywords])


def need_profile(need: NeedSubmitted) -> lexical.Profile:
    return lexical.Profile(need_text(need), frozenset(need.focus_areas), need.min_trl)


def output_profile(output: ResearchOutputPublished) -> lexical.Profile:
    return lexical.Profile(output_text(output), frozenset(output.focus_areas), output.trl)


async def match_new_need(ctx: HandlerContext, event: CloudEvent[NeedSubmitted]) -> None:
    need = event.data
    await ctx.conn.execute(
        "INSERT INTO needs (need_id, data, terms, focus_areas, min_trl) VALUES ($1, $2, $3, $4, $5)"
        " ON CONFLICT (need_id) DO NOTHING",
        need.need_id, need.model_dump_json(), lexical.terms(need_text(need)), list(need.focus_areas), need.min_trl,
    )
    rows = await ctx.conn.fetch(
        "SELECT data FROM research_outputs WHERE terms && $1", lexical.terms(need_text(need))
    )
    profile = need_profile(need)
    outputs = {str(o.output_id): o for o in (ResearchOutputPublished.model_validate_json(r["data"]) for r in rows)}
    candidates = [(key, lexical.score(profile, output_profile(o))) for key, o in outputs.items()]
    for key, scored in _best(ctx, candidates):
        await _propose(ctx, event, need, outputs[key], scored)


async def match_new_output(ctx: HandlerContext, event: CloudEvent[ResearchOutputPublished]) -> None:
    output = event.data
    await ctx.conn.execute(
        "INSERT INTO research_outputs (output_id, data, terms, focus_areas, trl) VALUES ($1, $2, $3, $4, $5)"
        " ON CONFLICT (output_id) DO NOTHING",
        output.output_id, output.model_dump_json(), lexical.terms(output_text(output)), list(output.focus_areas),
        output.trl,
    )
    rows = await ctx.conn.fetch(
        "SELECT data FROM needs WHERE status = 'open' AND terms && $1", lexical.terms(output_text(output))
    )
    profile = output_profile(output)
    needs = {str(n.need_id): n for n in (NeedSubmitted.model_validate_json(r["data"]) for r in rows)}
    # Each need keeps its own best few: an output is proposed to every need it answers well.
    for key, need in needs.items():
        scored = lexical.score(need_profile(need), profile)
        if scored.value >= ctx.settings.match_threshold:
            await _propose(ctx, event, need, output, scored)


def _best(ctx: HandlerContext, candidates: list[tuple[str, lexical.Score]]) -> list[tuple[str, lexical.Score]]:
    return lexical.best(candidates, ctx.settings.match_threshold, ctx.settings.matches_per_event)


async def _propose(
    ctx: HandlerContext,
    cause: CloudEvent,
    need: NeedSubmitted,
    output: ResearchOutputPublished,
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
    NeedSubmitted.EVENT_TYPE: match_new_need,
    ResearchOutputPublished.EVENT_TYPE: match_new_output,
}
