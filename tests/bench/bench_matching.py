"""`make bench-matching`: matching one new event against everything open, with the
matching engine (services/matching/engine.py) and with a PostgreSQL full-text baseline,
on the same generated corpus in the same run.

- corpus: BENCH_MATCHING_DOCS (default 100,000) open needs and as many published outputs
  from tests/bench/corpus.py, plus BENCH_MATCHING_QUERIES (default 200) new needs and new
  outputs to match, and a few more to warm up with.
- redthread: an Engine of outputs and an Engine of needs, as the matching service holds
  both, each with a stored vector per document (services/matching/meaning.py). The
  service makes a document's vector once, when it arrives, and keeps it; making 200,000
  here would take hours, so the corpus's stored vectors are random unit vectors, which
  cost the same to search (but are near nothing: the meaning model proposes few of the
  generated pairs, so "mean hits returned" is low; every candidate is judged either way). Index build time; the process's resident memory (VmRSS)
  before and after the build: the growth is the two indexes and their vectors, the total
  is what the service would need (with the embedding model loaded); then, for each new
  need and output, one after the other:
  - embed: the real model makes its vector (need_document / output_document + embedded),
    as the service does on arrival;
  - match: engine_outputs.propose(limit=5) for a need, engine_needs.propose(limit=50)
    for an output (ranking by words and meaning, and the decision to propose);
  - per event: the two together, what an arriving event costs.
- baseline: tables needs and outputs in a database of their own, with a stored tsvector
  in the document's language (swedish / english / norwegian; title A, keywords B, text C)
  and a GIN index, loaded with COPY; for each new need the top 5 outputs by ts_rank_cd
  for an OR of the need's words in the need's language, and for each new output the top
  50 needs, over one connection, one after the other. The same again ranked by ts_rank,
  which is about ten times cheaper than ts_rank_cd on these queries and so the stricter
  baseline. Each direction of each ranking stops early (and says so) after
  BENCH_MATCHING_BASELINE_BUDGET_S seconds (default 100).

Targets (issue): p95 ≤ 50 ms per event, ≥ 5× the baseline's throughput, the matching
service's memory ≤ 2 GB. The p95 and throughput are checked for the match and for the
whole event (embed + match).

BENCH_MATCHING_PROFILE=build|search runs that phase of the engine under cProfile and
prints the top functions.
"""

from __future__ import annotations

import asyncio
import cProfile
import gc
import os
import pstats
import re
import statistics
import sys
import time
import uuid
from collections.abc import Callable, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field

import asyncpg

import numpy as np

from services.matching import meaning
from services.matching.engine import Document, Engine, embedded, need_document, output_document
from services.matching.text import default_thesaurus
from tests.bench import corpus
from tests.bench.harness import bench_environment

DOCS = int(os.environ.get("BENCH_MATCHING_DOCS", "100000"))
QUERIES = int(os.environ.get("BENCH_MATCHING_QUERIES", "200"))
WARMUP = 20  # engine searches before measuring; the baseline warms up with BASELINE_WARMUP
BASELINE_WARMUP = 3
BASELINE_BUDGET_S = float(os.environ.get("BENCH_MATCHING_BASELINE_BUDGET_S", "100"))
PROFILE = os.environ.get("BENCH_MATCHING_PROFILE", "")
NEED_LIMIT, OUTPUT_LIMIT = 5, 50  # outputs proposed per new need, needs per new output

P95_TARGET_MS = 50.0
THROUGHPUT_TARGET = 5.0
MEMORY_TARGET_MB = 2048.0

STARTED = time.perf_counter()


def progress(message: str) -> None:
    print(f"[{time.perf_counter() - STARTED:7.1f} s] {message}", flush=True)


def memory_mb() -> tuple[float, float]:
    """(VmRSS, VmHWM) of this process in MiB."""
    values = {}
    with open("/proc/self/status") as status:
        for line in status:
            key, _, rest = line.partition(":")
            if key in ("VmRSS", "VmHWM"):
                values[key] = int(rest.split()[0]) / 1024
    return values["VmRSS"], values["VmHWM"]


@dataclass
class Run:
    """Latencies (seconds) of events handled one after the other."""

    samples: list[float] = field(default_factory=list)
    hits: list[int] = field(default_factory=list)
    wall: float = 0.0
    stopped_early: bool = False

    def ms(self, q: float) -> float:
        ordered = sorted(self.samples)
        return 1000 * ordered[min(len(ordered) - 1, max(0, round(q * len(ordered)) - 1))]

    @property
    def rate(self) -> float:
        return len(self.samples) / self.wall if self.wall else 0.0

    @property
    def mean_hits(self) -> float:
        return statistics.fmean(self.hits) if self.hits else 0.0

    def plus(self, before: list[float]) -> Run:
        """The same events with what happened before each (its embedding) added."""
        samples = [a + b for a, b in zip(self.samples, before, strict=True)]
        return Run(samples, self.hits, self.wall + sum(before))


@contextmanager
def profiled(phase: str):
    if PROFILE != phase:
        yield
        return
    profiler = cProfile.Profile()
    profiler.enable()
    try:
        yield
    finally:
        profiler.disable()
        print(f"\ncProfile of the engine's {phase} (top 18 by own time):")
        pstats.Stats(profiler, stream=sys.stdout).sort_stats("tottime").print_stats(18)


# ---------------------------------------------------------------------------------------
# redthread
# ---------------------------------------------------------------------------------------


def build(engine: Engine, documents: Sequence[Document], label: str) -> float:
    """Index everything as the service does at start: in one go when the engine can."""
    started = time.perf_counter()
    add_all = getattr(engine, "add_all", None)
    if add_all is not None:
        add_all(list(documents))
    else:
        for document in documents:
            engine.add(document)
    took = time.perf_counter() - started
    how = "add_all" if add_all is not None else "add, one by one"
    progress(f"  {label}: {len(documents):,} indexed ({how}) in {took:.1f} s, {len(documents) / took:,.0f} docs/s")
    return took


# A need's best cosine with any output, which the service stores beside its vector:
# finding it for 100,000 random stand-ins would take minutes; 0.25 is above the cosines of
# random vectors in 384 dimensions (their deviation is about 0.05), as a real best is.
STAND_IN_BEST = 0.25


def stored_vectors(engine: Engine, documents: Sequence[Document], label: str) -> float:
    """Random unit vectors standing in for the ones the service stores (see the top)."""
    started = time.perf_counter()
    rng = np.random.default_rng(2030)
    for start in range(0, len(documents), 10_000):
        chunk = documents[start:start + 10_000]
        vectors = rng.standard_normal((len(chunk), meaning.DIMENSIONS), dtype=np.float32)
        vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
        for document, vector in zip(chunk, vectors, strict=True):
            engine.vectors.put(document.doc_id, vector, best=STAND_IN_BEST if document.kind == "need" else None)
    took = time.perf_counter() - started
    progress(f"  {label}: {len(documents):,} stored vectors put in {took:.1f} s")
    return took


@dataclass
class Embedded:
    """Vectors made for arriving documents, one at a time, and what each took."""

    documents: list[Document]
    samples: list[float]

    def ms(self, q: float) -> float:
        return Run(self.samples).ms(q)

    def tail(self, count: int) -> list[float]:
        return self.samples[-count:]


def embed_run(embedder: meaning.Embedder, documents: Sequence[Document]) -> Embedded:
    made, samples = [], []
    for document in documents:
        t0 = time.perf_counter()
        made.extend(embedded([document], embedder))
        samples.append(time.perf_counter() - t0)
    return Embedded(made, samples)


def adds(engine: Engine, documents: Sequence[Document]) -> Run:
    """Engine.add of each new document to its own side's index, as the service does
    before it searches the other side."""
    return engine_run(lambda document: [engine.add(document)], documents)


def engine_run(search: Callable[[object], list], events: Sequence) -> Run:
    run = Run()
    started = time.perf_counter()
    for event in events:
        t0 = time.perf_counter()
        hits = search(event)
        run.samples.append(time.perf_counter() - t0)
        run.hits.append(len(hits))
    run.wall = time.perf_counter() - started
    return run


# ---------------------------------------------------------------------------------------
# PostgreSQL full-text baseline
# ---------------------------------------------------------------------------------------

CONFIGS = {"sv": "swedish", "en": "english", "no": "norwegian"}
_CFG = (
    "CASE language WHEN 'en' THEN 'english'::regconfig WHEN 'no' THEN 'norwegian'::regconfig"
    " ELSE 'swedish'::regconfig END"
)
_LETTERS = re.compile(r"[^\W\d_]+")


def table_sql(name: str) -> str:
    return f"""
        CREATE TABLE {name} (
            id uuid PRIMARY KEY,
            language text NOT NULL,
            title text NOT NULL,
            keywords text NOT NULL,
            body text NOT NULL,
            tsv tsvector GENERATED ALWAYS AS (
                setweight(to_tsvector({_CFG}, title), 'A')
                || setweight(to_tsvector({_CFG}, keywords), 'B')
                || setweight(to_tsvector({_CFG}, body), 'C')
            ) STORED
        )"""


def rows(documents: Sequence[Document]) -> list[tuple]:
    return [
        (uuid.UUID(d.doc_id), d.language or "sv", d.title, ", ".join(d.keywords), d.text) for d in documents
    ]


def or_query(document: Document) -> tuple[str, str]:
    """(config, 'w1 | w2 | …') from the document's words: letters only, so nothing in it
    is tsquery syntax; to_tsquery stems each word and drops stop words."""
    text = " ".join([document.title, *document.keywords, document.text]).lower()
    words = dict.fromkeys(w for w in _LETTERS.findall(text) if len(w) > 1)
    return CONFIGS.get(document.language or "sv", "swedish"), " | ".join(words) or "x"


RANKINGS = ("ts_rank_cd", "ts_rank")


def baseline_sql(table: str, ranking: str = "ts_rank_cd") -> str:
    return (
        f"SELECT id, {ranking}(tsv, q) AS rank FROM {table}, to_tsquery($1::regconfig, $2) AS q"
        " WHERE tsv @@ q ORDER BY rank DESC LIMIT $3"
    )


async def load(conn: asyncpg.Connection, table: str, documents: Sequence[Document]) -> dict[str, float]:
    await conn.execute(table_sql(table))
    records = rows(documents)
    t0 = time.perf_counter()
    await conn.copy_records_to_table(table, records=records, columns=["id", "language", "title", "keywords", "body"])
    t1 = time.perf_counter()
    progress(f"  {table}: COPY with tsvectors {t1 - t0:.1f} s")
    await conn.execute(f"CREATE INDEX {table}_tsv ON {table} USING gin (tsv)")
    t2 = time.perf_counter()
    progress(f"  {table}: GIN index {t2 - t1:.1f} s")
    await conn.execute(f"ANALYZE {table}")
    t3 = time.perf_counter()
    return {"copy": t1 - t0, "index": t2 - t1, "analyze": t3 - t2, "total": t3 - t0}


async def baseline_run(
    conn: asyncpg.Connection, table: str, events: Sequence[Document], limit: int, ranking: str
) -> Run:
    statement = await conn.prepare(baseline_sql(table, ranking))
    run = Run()
    started = time.perf_counter()
    for event in events:
        t0 = time.perf_counter()
        config, query = or_query(event)
        found = await statement.fetch(config, query, limit)
        run.samples.append(time.perf_counter() - t0)
        run.hits.append(len(found))
        if time.perf_counter() - started > BASELINE_BUDGET_S:
            run.stopped_early = True
            break
    run.wall = time.perf_counter() - started
    return run


async def matched_rows(conn: asyncpg.Connection, table: str, events: Sequence[Document]) -> float:
    counts = []
    for event in events:
        config, query = or_query(event)
        counts.append(await conn.fetchval(f"SELECT count(*) FROM {table} WHERE tsv @@ to_tsquery($1::regconfig, $2)",
                                          config, query))
    return statistics.fmean(counts)


# ---------------------------------------------------------------------------------------
# The run
# ---------------------------------------------------------------------------------------


def faster(ours: float, theirs: float) -> str:
    """How much less time ours takes than theirs, in words."""
    return f"{theirs / ours:.1f}× faster" if ours <= theirs else f"{ours / theirs:.1f}× slower"


def verdict(ok: bool) -> str:
    return "PASS" if ok else "MISS"


async def main() -> int:
    print(f"matching benchmark: {DOCS:,} open needs and {DOCS:,} outputs; {QUERIES} new needs and {QUERIES} new "
          f"outputs to match (after {WARMUP} warm-up events each way)")
    default_thesaurus()  # read once at start-up by the service too
    rss_start, _ = memory_mb()

    t0 = time.perf_counter()
    open_needs = [need_document(str(n.need_id), n) for n in corpus.iter_needs(DOCS, seed="open")]
    published = [output_document(str(o.output_id), o) for o in corpus.iter_outputs(DOCS, seed="published")]
    new_needs = corpus.needs(QUERIES + WARMUP, seed="new")
    new_outputs = corpus.outputs(QUERIES + WARMUP, seed="new")
    generated = time.perf_counter() - t0
    progress(f"corpus generated: {2 * DOCS + 2 * (QUERIES + WARMUP):,} documents in {generated:.1f} s")

    # ---- redthread ----
    gc.collect()
    rss_before, _ = memory_mb()
    progress(f"redthread: building the indexes (RSS {rss_before:,.0f} MiB with the corpus in memory)")
    engine_outputs, engine_needs = Engine(), Engine()
    embedder = meaning.embedder()
    embedder.needs(["warm"])  # the model is loaded at start-up by the service too
    with profiled("build"):
        build_outputs = build(engine_outputs, published, "outputs")
        build_needs = build(engine_needs, open_needs, "needs")
        build_outputs += stored_vectors(engine_outputs, published, "outputs")
        build_needs += stored_vectors(engine_needs, open_needs, "needs")
    gc.collect()
    rss_after, peak = memory_mb()
    progress(f"redthread: built in {build_outputs + build_needs:.1f} s; RSS {rss_after:,.0f} MiB (peak {peak:,.0f})")

    # What the service does for each event: make its vector, then rank and decide.
    embed_need = embed_run(embedder, [need_document(str(n.need_id), n) for n in new_needs])
    embed_output = embed_run(embedder, [output_document(str(o.output_id), o) for o in new_outputs])
    progress(f"redthread: vectors made on arrival, p95 {embed_need.ms(0.95):.1f} ms (need), "
             f"{embed_output.ms(0.95):.1f} ms (output)")
    arrived_needs = {document.doc_id: document for document in embed_need.documents}
    arrived_outputs = {document.doc_id: document for document in embed_output.documents}

    # As the matching service does (services/matching/handlers.py): the nearness in
    # meaning once, for the search and for the needs' best in meaning.
    def need_search(need):
        document = arrived_needs[str(need.need_id)]
        nearness = engine_outputs.vectors.near(meaning.from_bytes(document.vector))
        engine_needs.vectors.set_best(document.doc_id, nearness.nearest(1)[0][1])
        return engine_outputs.propose(document, limit=NEED_LIMIT, nearness=nearness)[0]

    def output_search(output):
        document = arrived_outputs[str(output.output_id)]
        nearness = engine_needs.vectors.near(meaning.from_bytes(document.vector))
        proposed = engine_needs.propose(document, limit=OUTPUT_LIMIT, nearness=nearness)[0]
        engine_needs.vectors.raise_best(nearness)
        return proposed

    cold_need = engine_run(need_search, new_needs[:1])
    cold_output = engine_run(output_search, new_outputs[:1])
    engine_run(need_search, new_needs[1:WARMUP])
    engine_run(output_search, new_outputs[1:WARMUP])
    progress(f"redthread: first search {1000 * cold_need.samples[0]:.0f} ms (need → outputs), "
             f"{1000 * cold_output.samples[0]:.0f} ms (output → needs); warmed up")
    with profiled("search"):
        rt_need = engine_run(need_search, new_needs[WARMUP:])
        progress(f"redthread: {len(rt_need.samples)} needs matched, p95 {rt_need.ms(0.95):.1f} ms")
        rt_output = engine_run(output_search, new_outputs[WARMUP:])
        progress(f"redthread: {len(rt_output.samples)} outputs matched, p95 {rt_output.ms(0.95):.1f} ms")
    gc.collect()
    rss_searched, _ = memory_mb()  # with the postings the searches compiled (services/matching/postings.py)
    rt_need_event = rt_need.plus(embed_need.tail(len(rt_need.samples)))
    rt_output_event = rt_output.plus(embed_output.tail(len(rt_output.samples)))
    add_need = adds(engine_needs, list(arrived_needs.values()))
    add_output = adds(engine_outputs, list(arrived_outputs.values()))
    reweigh_s = None
    if hasattr(engine_outputs, "reweigh"):  # what an add costs when the index has drifted by a tenth
        t0 = time.perf_counter()
        engine_outputs.reweigh()
        reweigh_s = time.perf_counter() - t0
    _, peak = memory_mb()
    del engine_outputs, engine_needs
    gc.collect()

    # ---- PostgreSQL FTS ----
    need_queries = [need_document(str(n.need_id), n) for n in new_needs]
    output_queries = [output_document(str(o.output_id), o) for o in new_outputs]
    async with bench_environment() as settings:
        conn = await asyncpg.connect(settings.database_url)
        try:
            await conn.execute("SET maintenance_work_mem = '256MB'")
            server = await conn.fetchval("SHOW server_version")
            progress(f"baseline: PostgreSQL {server}, loading with COPY")
            load_outputs = await load(conn, "outputs", published)
            load_needs = await load(conn, "needs", open_needs)
            await baseline_run(conn, "outputs", need_queries[:BASELINE_WARMUP], NEED_LIMIT, "ts_rank")
            await baseline_run(conn, "needs", output_queries[:BASELINE_WARMUP], OUTPUT_LIMIT, "ts_rank")
            progress("baseline: warmed up")
            pg: dict[str, tuple[Run, Run]] = {}
            for ranking in RANKINGS:
                need_run = await baseline_run(conn, "outputs", need_queries[WARMUP:], NEED_LIMIT, ranking)
                progress(f"baseline {ranking}: {len(need_run.samples)} needs matched, p95 {need_run.ms(0.95):.1f} ms")
                output_run = await baseline_run(conn, "needs", output_queries[WARMUP:], OUTPUT_LIMIT, ranking)
                progress(f"baseline {ranking}: {len(output_run.samples)} outputs matched, "
                         f"p95 {output_run.ms(0.95):.1f} ms")
                pg[ranking] = (need_run, output_run)
            matched_outputs = await matched_rows(conn, "outputs", need_queries[WARMUP : WARMUP + 3])
            matched_needs = await matched_rows(conn, "needs", output_queries[WARMUP : WARMUP + 3])
        finally:
            await conn.close()

    # ---- report ----
    docs = 2 * DOCS
    rt_build = build_outputs + build_needs
    pg_build = load_outputs["total"] + load_needs["total"]
    print(f"\nmatching, {DOCS:,} needs + {DOCS:,} outputs (corpus generated in {generated:.1f} s)\n")
    columns = ["redthread", "FTS ts_rank_cd", "FTS ts_rank", "vs ts_rank_cd", "vs ts_rank"]
    print(f"  {'':<38}" + "".join(f"{c:>15}" for c in columns))

    def line(name: str, *cells: str) -> None:
        print(f"  {name:<38}" + "".join(f"{c:>15}" for c in cells))

    line("index build, both sides (same tables)", f"{rt_build:.1f} s", f"{pg_build:.1f} s", f"{pg_build:.1f} s",
         faster(rt_build, pg_build), faster(rt_build, pg_build))
    line("  docs/s", f"{docs / rt_build:,.0f}", f"{docs / pg_build:,.0f}", f"{docs / pg_build:,.0f}")
    line("  (FTS: COPY+tsvector/GIN/ANALYZE s)", "",
         f"{load_outputs['copy'] + load_needs['copy']:.1f}/{load_outputs['index'] + load_needs['index']:.1f}/"
         f"{load_outputs['analyze'] + load_needs['analyze']:.1f}")
    directions = ((0, f"new need → top {NEED_LIMIT} outputs"), (1, f"new output → top {OUTPUT_LIMIT} needs"))
    for index, title in directions:
        ours = rt_need if index == 0 else rt_output
        cd, plain = pg["ts_rank_cd"][index], pg["ts_rank"][index]
        line(title)
        for label, q in (("p50", 0.50), ("p95", 0.95), ("p99", 0.99)):
            line(f"  {label} ms", f"{ours.ms(q):.1f}", f"{cd.ms(q):.1f}", f"{plain.ms(q):.1f}",
                 faster(ours.ms(q), cd.ms(q)), faster(ours.ms(q), plain.ms(q)))
        line("  events/s, sequential", f"{ours.rate:,.1f}", f"{cd.rate:,.2f}", f"{plain.rate:,.2f}",
             f"{ours.rate / cd.rate:.1f}×", f"{ours.rate / plain.rate:.1f}×")
        line("  events measured", f"{len(ours.samples)}", f"{len(cd.samples)}{'*' if cd.stopped_early else ''}",
             f"{len(plain.samples)}{'*' if plain.stopped_early else ''}")
        line("  mean hits returned", f"{ours.mean_hits:.1f}", f"{cd.mean_hits:.1f}", f"{plain.mean_hits:.1f}")
        embed = embed_need if index == 0 else embed_output
        event = rt_need_event if index == 0 else rt_output_event
        line("  embed on arrival, p50/p95 ms", f"{embed.ms(0.5):.1f}/{embed.ms(0.95):.1f}")
        for label, q in (("p50", 0.50), ("p95", 0.95)):
            line(f"  per event (embed + match) {label} ms", f"{event.ms(q):.1f}", f"{cd.ms(q):.1f}", f"{plain.ms(q):.1f}",
                 faster(event.ms(q), cd.ms(q)), faster(event.ms(q), plain.ms(q)))
        line("  per event, events/s", f"{event.rate:,.1f}", f"{cd.rate:,.2f}", f"{plain.rate:,.2f}",
             f"{event.rate / cd.rate:.1f}×", f"{event.rate / plain.rate:.1f}×")
    if any(run.stopped_early for runs in pg.values() for run in runs):
        print(f"  * stopped after the {BASELINE_BUDGET_S:.0f} s budget of that direction")
    line("rows an OR-query matches (mean of 3)", "", f"{matched_outputs:,.0f} / {matched_needs:,.0f}")
    line("first search after build (cold) ms",
         f"{1000 * cold_need.samples[0]:.0f} / {1000 * cold_output.samples[0]:.0f}")
    line("add to own index, p50/p95/max ms")
    for label, run in (("  new need → needs index", add_need), ("  new output → outputs index", add_output)):
        line(label, f"{run.ms(0.5):.1f}/{run.ms(0.95):.1f}/{1000 * max(run.samples):.0f}")
    if reweigh_s is not None:
        line("  full reweigh of the outputs index s", f"{reweigh_s:.1f}")
    line("memory: RSS growth, both indexes", f"{rss_after - rss_before:,.0f} MiB")
    line("memory: process RSS after build", f"{rss_after:,.0f} MiB")
    line("memory: process RSS after the searches", f"{rss_searched:,.0f} MiB")
    line("memory: process peak (VmHWM)", f"{peak:,.0f} MiB")
    line("  (RSS at start / with the corpus)", f"{rss_start:,.0f} / {rss_before:,.0f}")

    measured = (("match", rt_need, rt_output), ("per event", rt_need_event, rt_output_event))
    checks = [
        *(
            (f"p95 ≤ {P95_TARGET_MS:.0f} ms, {what}, {direction}", f"{run.ms(0.95):.1f} ms", run.ms(0.95) <= P95_TARGET_MS)
            for what, need_run, output_run in measured
            for direction, run in (("need → outputs", need_run), ("output → needs", output_run))
        ),
        *(
            (f"throughput ≥ {THROUGHPUT_TARGET:.0f}× FTS {ranking}, {what}, {direction}",
             f"{ours.rate / theirs.rate:.1f}×", ours.rate / theirs.rate >= THROUGHPUT_TARGET)
            for ranking in RANKINGS
            for what, need_run, output_run in measured
            for direction, ours, theirs in (("need → outputs", need_run, pg[ranking][0]),
                                            ("output → needs", output_run, pg[ranking][1]))
        ),
        (f"memory ≤ {MEMORY_TARGET_MB / 1024:.0f} GB (process RSS after build and searches)",
         f"{max(rss_after, rss_searched) / 1024:.2f} GB", max(rss_after, rss_searched) <= MEMORY_TARGET_MB),
    ]
    print("\ntargets:")
    for name, value, ok in checks:
        print(f"  {name:<68} {value:>10}  {verdict(ok)}")
    progress("done")
    return 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
