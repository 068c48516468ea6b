"""`make bench-matching`: matching one new event against everything open, with the
matching engine (services/matching/engine.py) and with a PostgreSQL full-text baseline,
on the same generated corpus in the same run.

- corpus: BENCH_MATCHING_DOCS (default 100,000) open needs and as many published outputs
  from tests/bench/corpus.py, plus BENCH_MATCHING_QUERIES (default 200) new needs and new
  outputs to match, and a few more to warm up with.
- redthread: an Engine of outputs and an Engine of needs, as the matching service holds
  both. Index build time; the process's resident memory (VmRSS) before and after the
  build: the growth is the two indexes, the total is what the service would need; then
  need_document + engine_outputs.search(limit=5) for each new need and output_document +
  engine_needs.search(limit=50) for each new output, one after the other.
- baseline: tables needs and outputs in a database of their own, with a stored tsvector
  in the document's language (swedish / english / norwegian; title A, keywords B, text C)
  and a GIN index, loaded with COPY; for each new need the top 5 outputs by ts_rank_cd
  for an OR of the need's words in the need's language, and for each new output the top
  50 needs, over one connection, one after the other. A direction stops early (and says
  so) after BENCH_MATCHING_BASELINE_BUDGET_S seconds (default 150).

Targets (issue): p95 ≤ 50 ms per event, ≥ 5× the baseline's throughput, the matching
service's memory ≤ 2 GB.

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

from services.matching.engine import Document, Engine, need_document, output_document
from services.matching.text import default_thesaurus
from tests.bench import corpus
from tests.bench.harness import bench_environment

DOCS = int(os.environ.get("BENCH_MATCHING_DOCS", "100000"))
QUERIES = int(os.environ.get("BENCH_MATCHING_QUERIES", "200"))
WARMUP = 20
BASELINE_BUDGET_S = float(os.environ.get("BENCH_MATCHING_BASELINE_BUDGET_S", "150"))
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
    started = time.perf_counter()
    step = max(1, len(documents) // 5)
    for i, document in enumerate(documents, 1):
        engine.add(document)
        if i % step == 0 and i < len(documents):
            took = time.perf_counter() - started
            progress(f"  {label}: {i:,} indexed, {i / took:,.0f} docs/s")
    return time.perf_counter() - started


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
_CFG = "CASE language WHEN 'en' THEN 'english'::regconfig WHEN 'no' THEN 'norwegian'::regconfig ELSE 'swedish'::regconfig END"
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


def baseline_sql(table: str) -> str:
    return (
        f"SELECT id, ts_rank_cd(tsv, q) AS rank FROM {table}, to_tsquery($1::regconfig, $2) AS q"
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


async def baseline_run(conn: asyncpg.Connection, table: str, events: Sequence[Document], limit: int) -> Run:
    statement = await conn.prepare(baseline_sql(table))
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
    with profiled("build"):
        build_outputs = build(engine_outputs, published, "outputs")
        build_needs = build(engine_needs, open_needs, "needs")
    gc.collect()
    rss_after, peak = memory_mb()
    progress(f"redthread: built in {build_outputs + build_needs:.1f} s; RSS {rss_after:,.0f} MiB (peak {peak:,.0f})")

    def need_search(need):
        return engine_outputs.search(need_document(str(need.need_id), need), limit=NEED_LIMIT)

    def output_search(output):
        return engine_needs.search(output_document(str(output.output_id), output), limit=OUTPUT_LIMIT)

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
            await baseline_run(conn, "outputs", need_queries[:WARMUP], NEED_LIMIT)
            await baseline_run(conn, "needs", output_queries[:WARMUP], OUTPUT_LIMIT)
            progress("baseline: warmed up")
            pg_need = await baseline_run(conn, "outputs", need_queries[WARMUP:], NEED_LIMIT)
            progress(f"baseline: {len(pg_need.samples)} needs matched, p95 {pg_need.ms(0.95):.1f} ms")
            pg_output = await baseline_run(conn, "needs", output_queries[WARMUP:], OUTPUT_LIMIT)
            progress(f"baseline: {len(pg_output.samples)} outputs matched, p95 {pg_output.ms(0.95):.1f} ms")
            matched_outputs = await matched_rows(conn, "outputs", need_queries[WARMUP : WARMUP + 5])
            matched_needs = await matched_rows(conn, "needs", output_queries[WARMUP : WARMUP + 5])
        finally:
            await conn.close()

    # ---- report ----
    docs = 2 * DOCS
    rt_build = build_outputs + build_needs
    pg_build = load_outputs["total"] + load_needs["total"]
    print(f"\nmatching, {DOCS:,} needs + {DOCS:,} outputs (corpus generated in {generated:.1f} s)\n")
    print(f"  {'':<38} {'redthread engine':>18} {'PostgreSQL FTS':>18} {'redthread/baseline':>19}")

    def line(name: str, ours: str, theirs: str, ratio: str = "") -> None:
        print(f"  {name:<38} {ours:>18} {theirs:>18} {ratio:>19}")

    line("index build, both sides", f"{rt_build:.1f} s", f"{pg_build:.1f} s", f"{pg_build / rt_build:.2f}× faster")
    line("  docs/s", f"{docs / rt_build:,.0f}", f"{docs / pg_build:,.0f}")
    line("  (baseline: COPY+tsvector / GIN / ANALYZE)", "",
         f"{load_outputs['copy'] + load_needs['copy']:.0f}/{load_outputs['index'] + load_needs['index']:.0f}/"
         f"{load_outputs['analyze'] + load_needs['analyze']:.0f} s")
    for title, ours, theirs in (
        (f"new need → top {NEED_LIMIT} outputs", rt_need, pg_need),
        (f"new output → top {OUTPUT_LIMIT} needs", rt_output, pg_output),
    ):
        note = f" ({len(theirs.samples)} of {QUERIES}: budget)" if theirs.stopped_early else ""
        line(title + note, "", "")
        for label, q in (("p50", 0.50), ("p95", 0.95), ("p99", 0.99)):
            line(f"  {label} ms", f"{ours.ms(q):.1f}", f"{theirs.ms(q):.1f}", f"{theirs.ms(q) / ours.ms(q):.1f}× faster")
        line("  events/s, sequential", f"{ours.rate:,.1f}", f"{theirs.rate:,.1f}", f"{ours.rate / theirs.rate:.1f}×")
        line("  mean hits returned", f"{ours.mean_hits:.1f}", f"{theirs.mean_hits:.1f}")
    line("rows the OR-query matches (mean of 5)", "", f"{matched_outputs:,.0f} / {matched_needs:,.0f}")
    line("first search after build (cold), ms", f"{1000 * cold_need.samples[0]:.0f} / {1000 * cold_output.samples[0]:.0f}", "")
    line("memory: RSS growth for both indexes", f"{rss_after - rss_before:,.0f} MiB", "")
    line("memory: process RSS after build", f"{rss_after:,.0f} MiB", "")
    line("memory: process peak (VmHWM)", f"{peak:,.0f} MiB", "")
    line("  (RSS at start / with the corpus)", f"{rss_start:,.0f} / {rss_before:,.0f}", "")

    checks = [
        (f"p95 ≤ {P95_TARGET_MS:.0f} ms, new need → outputs", f"{rt_need.ms(0.95):.1f} ms", rt_need.ms(0.95) <= P95_TARGET_MS),
        (f"p95 ≤ {P95_TARGET_MS:.0f} ms, new output → needs", f"{rt_output.ms(0.95):.1f} ms",
         rt_output.ms(0.95) <= P95_TARGET_MS),
        (f"throughput ≥ {THROUGHPUT_TARGET:.0f}× baseline, need → outputs", f"{rt_need.rate / pg_need.rate:.1f}×",
         rt_need.rate / pg_need.rate >= THROUGHPUT_TARGET),
        (f"throughput ≥ {THROUGHPUT_TARGET:.0f}× baseline, output → needs", f"{rt_output.rate / pg_output.rate:.1f}×",
         rt_output.rate / pg_output.rate >= THROUGHPUT_TARGET),
        (f"memory ≤ {MEMORY_TARGET_MB / 1024:.0f} GB (process RSS after build)", f"{rss_after / 1024:.2f} GB",
         rss_after <= MEMORY_TARGET_MB),
    ]
    print("\ntargets:")
    for name, value, ok in checks:
        print(f"  {name:<48} {value:>10}  {verdict(ok)}")
    progress("done")
    return 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
