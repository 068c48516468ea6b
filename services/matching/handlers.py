"""Matching in both directions: a new need against the indexed outputs, a new output
against the indexed open needs. Each new pair above the threshold becomes a
MatchProposed; a need or output that is withdrawn, or changed so that a pair no longer
fits, retracts it with a MatchRetracted. A pair is never proposed twice.

The two indexes live in memory (services/matching/engine.py) and mirror the matching
schema: they are built from it at start and changed only alongside it, with an undo
registered for when the transaction is rolled back. So do the lessons companies'
answers teach (engine.Lesson): rebuilt from the `answers` table, which is itself
rebuilt from redthread.feedback.v1, so a replay learns the same.
"""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import replace
from uuid import UUID

import asyncpg
import numpy as np

from contracts.envelope import CloudEvent, derived_event_id, new_event
from contracts.events import (
    FeedbackSubmitted,
    MatchProposed,
    MatchReason,
    MatchRetracted,
    NeedContent,
    NeedResolved,
    NeedSubmitted,
    NeedUpdated,
    NeedWithdrawn,
    PersonErased,
    ResearchOutputPublished,
    ResearchOutputUpdated,
    ResearchOutputWithdrawn,
)
from contracts.topics import MATCHES
from services.common.consumer import Handler, HandlerContext
from services.common.erasure import remember_erased
from services.common.settings import Settings
from services.matching import meaning
from services.matching.decision import chance_from_evidence
from services.matching.engine import (
    METHOD,
    Document,
    Engine,
    Hit,
    Lesson,
    embedded,
    need_document,
    output_document,
    postings_for,
)
from services.matching.meaning import Nearness

log = logging.getLogger(__name__)
SOURCE = "/redthread/matching"
NEEDS_PER_OUTPUT = 200  # an output may answer many needs; a need gets its best few
EMBED_BATCH = 64  # documents embedded at a time when vectors are made at start


class Matcher:
    """The two indexes: outputs (searched by needs) and open needs (searched by outputs)."""

    def __init__(self) -> None:
        # The embedding model (meaning.py) unless settings.match_meaning is off; set at load.
        self.embedder: meaning.Embedder | None = None
        lessons: dict[str, Lesson] = {}  # by output: the outputs' index and output queries read the same
        self.outputs = Engine(lessons=lessons)
        self.needs = Engine(lessons=lessons)
        # Reweighing a large index takes long enough to starve the event loop (and the
        # consumer's heartbeats): it is computed in a thread and installed when done.
        self._reweighing: dict[int, asyncio.Task] = {}
        for engine in (self.outputs, self.needs):
            engine.on_drift = lambda engine=engine: self._reweigh_soon(engine)

    def _reweigh_soon(self, engine: Engine) -> None:
        if id(engine) not in self._reweighing:
            self._reweighing[id(engine)] = asyncio.get_running_loop().create_task(self._reweigh(engine))

    async def _reweigh(self, engine: Engine) -> None:
        try:
            snapshot = dict(engine.entries)
            engine.install(snapshot, await asyncio.to_thread(postings_for, snapshot))
        except Exception:  # noqa: BLE001 - the old weights serve until the next drift
            log.exception("reweighing an index failed")
        finally:
            del self._reweighing[id(engine)]

    async def load(self, pool: asyncpg.Pool, settings: Settings) -> None:
        started = time.perf_counter()
        self.embedder = meaning.embedder() if settings.match_meaning else None
        async with pool.acquire() as conn:
            # A vector made by another model than this one is made again.
            outputs = await conn.fetch(
                "SELECT output_id, data, CASE WHEN vector_model = $1 THEN vector END AS vector"
                " FROM research_outputs WHERE status = 'published'", meaning.MODEL,
            )
            needs = await conn.fetch(
                "SELECT need_id, data, CASE WHEN vector_model = $1 THEN vector END AS vector,"
                " CASE WHEN vector_model = $1 THEN nearest_output END AS nearest_output"
                " FROM needs WHERE status = 'open'", meaning.MODEL,
            )
            self.outputs.lessons.update(await lessons(conn))
        output_documents = [
            _with_stored_vector(output_document(str(r["output_id"]), ResearchOutputUpdated.model_validate_json(r["data"])), r)
            for r in outputs
        ]
        need_documents = [
            _with_stored_vector(need_document(str(r["need_id"]), NeedUpdated.model_validate_json(r["data"])), r)
            for r in needs
        ]
        if self.embedder is not None:
            output_documents = await self._embed_missing(pool, "research_outputs", "output_id", output_documents)
            need_documents = await self._embed_missing(pool, "needs", "need_id", need_documents)
        self.outputs.add_all(output_documents)
        self.needs.add_all(need_documents)
        if self.embedder is not None:
            await self._load_bests(pool, {str(r["need_id"]): r["nearest_output"] for r in needs})
        log.info(
            "indexes built from the database: %d outputs (%d taught by answers), %d open needs, %s, in %.1fs",
            len(self.outputs), len(self.outputs.lessons), len(self.needs),
            f"with meaning ({meaning.MODEL})" if self.embedder else "words only (REDTHREAD_MATCH_MEANING is off)",
            time.perf_counter() - started,
        )

    async def _embed_missing(self, pool: asyncpg.Pool, table: str, key: str, documents: list[Document]) -> list[Document]:
        """Documents stored before they had vectors (or before the model changed) are
        embedded once, in batches away from the event loop, and their vectors stored."""
        missing = [i for i, document in enumerate(documents) if document.vector is None]
        for done in range(0, len(missing), EMBED_BATCH):
            batch = missing[done:done + EMBED_BATCH]
            vectors = await asyncio.to_thread(embedded, [documents[i] for i in batch], self.embedder)
            async with pool.acquire() as conn:
                await conn.executemany(
                    f"UPDATE {table} SET vector = $2, vector_model = $3 WHERE {key} = $1",
                    [(UUID(d.doc_id), d.vector, meaning.MODEL) for d in vectors],
                )
            for i, document in zip(batch, vectors, strict=True):
                documents[i] = document
            log.info("%s: vectors made for %d of %d stored without one", table, done + len(batch), len(missing))
        return documents

    async def _load_bests(self, pool: asyncpg.Pool, stored: dict[str, float | None]) -> None:
        """Each open need's best cosine with an output (meaning.Vectors): as stored, or,
        for needs stored without one, computed against every output (in a thread)."""
        missing = [need_id for need_id, best in stored.items() if best is None and need_id in self.needs.vectors]
        for need_id, best in stored.items():
            if best is not None:
                self.needs.vectors.set_best(need_id, best)
        if not missing or not len(self.outputs.vectors):
            return
        vectors = np.stack([self.needs.vectors.get(need_id) for need_id in missing])
        bests = await asyncio.to_thread(self.outputs.vectors.nearest_cosines, vectors)
        for need_id, best in zip(missing, bests, strict=True):
            self.needs.vectors.set_best(need_id, float(best))
        async with pool.acquire() as conn:
            await conn.executemany(
                "UPDATE needs SET nearest_output = $2 WHERE need_id = $1",
                [(UUID(need_id), float(best)) for need_id, best in zip(missing, bests, strict=True)],
            )
        log.info("needs: the nearest output in meaning found for %d needs stored without it", len(missing))

    @staticmethod
    def near(index: Engine, document: Document) -> Nearness | None:
        """How near each document of `index` is to `document` in meaning (one matrix
        product), computed once for its search and for the needs' best in meaning."""
        if document.vector is None or not len(index.vectors):
            return None
        return index.vectors.near(meaning.from_bytes(document.vector))

    async def with_vector(self, document: Document) -> Document:
        """The document with its vector, made away from the event loop (unless meaning is off)."""
        if self.embedder is None:
            return document
        return (await asyncio.to_thread(embedded, [document], self.embedder))[0]

    def put(self, ctx: HandlerContext, engine: Engine, document: Document) -> None:
        saved = engine.saved(document.doc_id)
        engine.add(document)
        ctx.batch.on_rollback(lambda: engine.restore(document.doc_id, saved))

    def teach(self, ctx: HandlerContext, output_id: str, lesson: Lesson | None) -> None:
        previous = self.outputs.lessons.get(output_id)
        self.outputs.teach(output_id, lesson)
        ctx.batch.on_rollback(lambda: self.outputs.teach(output_id, previous))

    def drop(self, ctx: HandlerContext, engine: Engine, doc_id: str) -> None:
        saved = engine.saved(doc_id)
        engine.remove(doc_id)
        ctx.batch.on_rollback(lambda: engine.restore(doc_id, saved))


def _proposed(
    index: Engine, document: Document, limit: int, settings: Settings, nearness: Nearness | None
) -> list[Hit]:
    """What to propose for `document` from `index`; what is held back is logged with why."""
    proposed, held_back = index.propose(document, limit, settings.match_min_probability, nearness)
    if not proposed and held_back:
        best = held_back[0]
        log.info("%s %s: nothing proposed; the best, %s %s, %s", document.kind, document.doc_id,
                 "output" if document.kind == "need" else "need", best.doc_id, best.reasons[-1].explanation)
    return proposed


def build_handlers(matcher: Matcher) -> dict[str, Handler]:
    async def match_need(ctx: HandlerContext, event: CloudEvent[NeedSubmitted | NeedUpdated]) -> None:
        """A new need, or a new revision of one, against the indexed outputs."""
        need = event.data
        stored = await ctx.conn.fetchval(
            "INSERT INTO needs (need_id, data, focus_areas, min_trl, revision) VALUES ($1, $2, $3, $4, $5)"
            " ON CONFLICT (need_id) DO UPDATE SET data = $2, focus_areas = $3, min_trl = $4, revision = $5"
            " WHERE needs.status = 'open' AND needs.revision < $5 RETURNING true",
            need.need_id, need.model_dump_json(), list(need.focus_areas), need.min_trl, need.revision,
        )
        if not stored:
            return  # a closed need, or an older revision than the one we have
        document = await matcher.with_vector(need_document(str(need.need_id), need))
        await _store_vector(ctx, "needs", "need_id", need.need_id, document)
        matcher.put(ctx, matcher.needs, document)
        nearness = matcher.near(matcher.outputs, document)
        if nearness is not None and (closest := nearness.nearest(1)):
            matcher.needs.vectors.set_best(document.doc_id, closest[0][1])
            await ctx.conn.execute("UPDATE needs SET nearest_output = $2 WHERE need_id = $1", need.need_id,
                                   closest[0][1])
        hits = _proposed(matcher.outputs, document, ctx.settings.matches_per_event, ctx.settings, nearness)
        fitting = {UUID(hit.doc_id) for hit in hits}
        if isinstance(need, NeedUpdated):
            await _retract(ctx, event, "need_id = $1 AND NOT (output_id = ANY($2))", [need.need_id, list(fitting)],
                           "Behovet har ändrats och forskningsresultatet passar inte längre")
        for hit in hits:
            await _propose(ctx, event, need, matcher.outputs.entries[hit.doc_id].document, hit)

    async def match_output(ctx: HandlerContext, event: CloudEvent[ResearchOutputPublished | ResearchOutputUpdated]) -> None:
        """A new output, or a new revision of one, against the open needs."""
        output = event.data
        stored = await ctx.conn.fetchval(
            "INSERT INTO research_outputs (output_id, data, focus_areas, trl, revision) VALUES ($1, $2, $3, $4, $5)"
            " ON CONFLICT (output_id) DO UPDATE SET data = $2, focus_areas = $3, trl = $4, revision = $5"
            " WHERE research_outputs.status = 'published' AND research_outputs.revision < $5 RETURNING true",
            # Who to contact about it is not matching's to keep (personal data it never reads).
            output.output_id, output.model_dump_json(exclude={"contact_researchers"}), list(output.focus_areas),
            output.trl, output.revision,
        )
        if not stored:
            return
        document = await matcher.with_vector(output_document(str(output.output_id), output))
        await _store_vector(ctx, "research_outputs", "output_id", output.output_id, document)
        matcher.put(ctx, matcher.outputs, document)
        nearness = matcher.near(matcher.needs, document)
        hits = _proposed(matcher.needs, document, NEEDS_PER_OUTPUT, ctx.settings, nearness)
        if nearness is not None:  # the needs this output is now the nearest to
            rose = matcher.needs.vectors.raise_best(nearness)
            ctx.batch.on_rollback(lambda: [matcher.needs.vectors.set_best(n, old) for n, (old, _) in rose.items()])
            await ctx.conn.executemany("UPDATE needs SET nearest_output = $2 WHERE need_id = $1",
                                       [(UUID(need_id), best) for need_id, (_, best) in rose.items()])
        if isinstance(output, ResearchOutputUpdated):
            await _retract(ctx, event, "output_id = $1 AND NOT (need_id = ANY($2))",
                           [output.output_id, [UUID(h.doc_id) for h in hits]],
                           "Forskningsresultatet har ändrats och passar inte längre behovet")
        if not hits:
            return
        rows = await ctx.conn.fetch(
            "SELECT need_id, data FROM needs WHERE need_id = ANY($1)", [UUID(hit.doc_id) for hit in hits]
        )
        needs = {str(row["need_id"]): NeedUpdated.model_validate_json(row["data"]) for row in rows}
        for hit in hits:
            if hit.doc_id in needs:
                await _propose(ctx, event, needs[hit.doc_id], document, hit)

    async def close_need(ctx: HandlerContext, event: CloudEvent[NeedWithdrawn | NeedResolved]) -> None:
        """A withdrawn or resolved need gets no more proposals; a withdrawn one takes
        back those it had."""
        closed = await ctx.conn.fetchval(
            "UPDATE needs SET status = 'closed', revision = $2 WHERE need_id = $1 AND revision < $2 RETURNING true",
            event.data.need_id, event.data.revision,
        )
        if not closed:
            return
        matcher.drop(ctx, matcher.needs, str(event.data.need_id))
        if isinstance(event.data, NeedWithdrawn):
            await _retract(ctx, event, "need_id = $1", [event.data.need_id], "Behovet har dragits tillbaka")

    async def withdraw_output(ctx: HandlerContext, event: CloudEvent[ResearchOutputWithdrawn]) -> None:
        withdrawn = await ctx.conn.fetchval(
            "UPDATE research_outputs SET status = 'withdrawn', revision = $2"
            " WHERE output_id = $1 AND revision < $2 RETURNING true",
            event.data.output_id, event.data.revision,
        )
        if not withdrawn:
            return
        matcher.drop(ctx, matcher.outputs, str(event.data.output_id))
        await _retract(ctx, event, "output_id = $1", [event.data.output_id], "Forskningsresultatet har dragits tillbaka")

    async def erase(ctx: HandlerContext, event: CloudEvent[PersonErased]) -> None:
        """A need's coach is removed, so no later match carries them. Matching keeps no
        other person (not an output's researchers), and what it indexes is text."""
        person = event.data.person_id
        await ctx.conn.execute(
            "UPDATE needs SET data = data - 'coach' WHERE person_id(data -> 'coach' ->> 'email') = $1", person
        )
        await remember_erased(ctx.conn, person, event.data.erased_at)

    async def learn(ctx: HandlerContext, event: CloudEvent[FeedbackSubmitted]) -> None:
        """What a company answered about a match, kept by match (latest revision): an
        output it found not useful is not proposed to it again, and the answers about an
        output teach the index how to match it (engine.Lesson)."""
        feedback = event.data
        pair = await ctx.conn.fetchrow(
            "SELECT p.output_id, n.data -> 'company' ->> 'org_number' AS company FROM proposed_matches p"
            " JOIN needs n USING (need_id) WHERE p.match_id = $1",
            feedback.match_id,
        )
        if pair is None:
            log.info("feedback %s is about match %s, which matching did not propose", feedback.feedback_id, feedback.match_id)
            return
        await ctx.conn.execute(
            "INSERT INTO answers AS a (feedback_id, revision, match_id, output_id, company_org_number, verdict, reason)"
            " VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT (feedback_id) DO UPDATE SET revision = EXCLUDED.revision,"
            " verdict = EXCLUDED.verdict, reason = EXCLUDED.reason WHERE a.revision < EXCLUDED.revision",
            feedback.feedback_id, feedback.revision, feedback.match_id, pair["output_id"],
            feedback.company_org_number or pair["company"], feedback.verdict.value,
            feedback.reason.value if feedback.reason else None,
        )
        output_id = str(pair["output_id"])
        matcher.teach(ctx, output_id, (await lessons(ctx.conn, pair["output_id"])).get(output_id))

    return {
        FeedbackSubmitted.EVENT_TYPE: learn,
        PersonErased.EVENT_TYPE: erase,
        NeedSubmitted.EVENT_TYPE: match_need,
        NeedUpdated.EVENT_TYPE: match_need,
        NeedWithdrawn.EVENT_TYPE: close_need,
        NeedResolved.EVENT_TYPE: close_need,
        ResearchOutputPublished.EVENT_TYPE: match_output,
        ResearchOutputUpdated.EVENT_TYPE: match_output,
        ResearchOutputWithdrawn.EVENT_TYPE: withdraw_output,
    }


def _with_stored_vector(document: Document, row: asyncpg.Record) -> Document:
    return document if row["vector"] is None else replace(document, vector=row["vector"])


async def _store_vector(ctx: HandlerContext, table: str, key: str, doc_id: UUID, document: Document) -> None:
    if document.vector is not None:
        await ctx.conn.execute(
            f"UPDATE {table} SET vector = $2, vector_model = $3 WHERE {key} = $1", doc_id, document.vector, meaning.MODEL
        )


async def lessons(conn: asyncpg.Connection, output_id: UUID | None = None) -> dict[str, Lesson]:
    """What the answers teach, by output (one output's, or all): the needs each was
    answered useful or adopted for, and not useful for, and its track record (each
    answered proposal's chance, as proposed, and whether it proved useful). A new
    research question says neither."""
    rows = await conn.fetch(
        "SELECT a.output_id, a.verdict, p.chance, n.need_id, n.data FROM answers a"
        " JOIN proposed_matches p USING (match_id) JOIN needs n ON n.need_id = p.need_id"
        " WHERE a.verdict <> 'new-question' AND ($1::uuid IS NULL OR a.output_id = $1)"
        " ORDER BY a.output_id, n.need_id",
        output_id,
    )
    useful: dict[str, list[Document]] = {}
    not_useful: dict[str, list[Document]] = {}
    record: dict[str, list[tuple[float, bool]]] = {}
    for row in rows:
        output = str(row["output_id"])
        need = need_document(str(row["need_id"]), NeedUpdated.model_validate_json(row["data"]))
        was_useful = row["verdict"] != "not-useful"
        (useful if was_useful else not_useful).setdefault(output, []).append(need)
        if row["chance"] is not None:
            record.setdefault(output, []).append((row["chance"], was_useful))
    return {
        output: Lesson(tuple(useful.get(output, ())), tuple(not_useful.get(output, ())), tuple(record.get(output, ())))
        for output in useful.keys() | not_useful.keys()
    }


async def _propose(ctx: HandlerContext, cause: CloudEvent, need: NeedContent, output: Document, hit: Hit) -> None:
    need_id = getattr(need, "need_id")
    output_id = UUID(output.doc_id)
    if need.company is not None and await ctx.conn.fetchval(
        "SELECT true FROM answers WHERE company_org_number = $1 AND output_id = $2 AND verdict = 'not-useful' LIMIT 1",
        need.company.org_number, output_id,
    ):
        log.info("need %s: output %s held back: %s answered that it was not useful to them", need_id, output_id,
                 need.company.org_number)
        return
    match_id = UUID(derived_event_id("match", need_id, output_id))
    is_new = await ctx.conn.fetchval(
        "INSERT INTO proposed_matches (need_id, output_id, match_id, score, chance) VALUES ($1, $2, $3, $4, $5)"
        " ON CONFLICT DO NOTHING RETURNING true",
        need_id, output_id, match_id, hit.score, chance_from_evidence(hit.evidence),
    )
    if not is_new:
        return  # never the same pair twice
    proposal = MatchProposed(
        match_id=match_id,
        need_id=need_id,
        output_id=output_id,
        score=hit.score,
        method=METHOD,
        reasons=[MatchReason(kind=r.kind, explanation=r.explanation[:300]) for r in hit.reasons],
        need_title=need.title,
        output_title=output.title,
        output_summary=output.text,
        company=need.company,
        coach=need.coach,
        confidentiality=need.confidentiality,
        language=need.language,
        focus_areas=need.focus_areas,
    )
    await ctx.publish(
        MATCHES.name,
        str(need_id),
        new_event(proposal, source=SOURCE, subject=str(need_id), caused_by=cause, event_id=str(match_id)),
    )


async def _retract(ctx: HandlerContext, cause: CloudEvent, where: str, params: list, reason: str) -> None:
    rows = await ctx.conn.fetch(
        f"UPDATE proposed_matches SET retracted_at = now() WHERE retracted_at IS NULL AND {where}"
        " RETURNING match_id, need_id, output_id,"
        " (SELECT data::jsonb -> 'company' ->> 'org_number' FROM needs n WHERE n.need_id = proposed_matches.need_id)"
        " AS company_org_number",
        *params,
    )
    for row in rows:
        retraction = MatchRetracted(
            match_id=row["match_id"], need_id=row["need_id"], output_id=row["output_id"], reason=reason,
            company_org_number=row["company_org_number"],
        )
        await ctx.publish(
            MATCHES.name,
            str(row["need_id"]),
            new_event(retraction, source=SOURCE, subject=str(row["need_id"]), caused_by=cause,
                      event_id=derived_event_id("retraction", row["match_id"])),
        )
