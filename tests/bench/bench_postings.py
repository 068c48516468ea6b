"""`make bench-postings`: the search in words at 100,000 outputs, interleaved A/B.

A sums the postings of each new need's words over the dicts in Python, as the search did
before services/matching/postings.py (the accumulation alone, no ranking). B is what
the search does now: sums in numpy over the compiled postings and picks the 50 leaders.
Each query runs both, in alternating order; B's leaders are checked against the plain
sum's. BENCH_POSTINGS_DOCS (default 100,000) outputs, 200 needs after 20 to warm up.
"""

from __future__ import annotations

import os
import statistics
import time
from collections import defaultdict

from services.matching.engine import CANDIDATES, COMMON_FLOOR, COMMON_SHARE, Engine, need_document, output_document
from tests.bench import corpus
from tests.unit.test_matching_postings import plain_leaders

DOCS = int(os.environ.get("BENCH_POSTINGS_DOCS", "100000"))
QUERIES, WARMUP = 200, 20


def main() -> None:
    print(f"postings A/B: {DOCS:,} outputs, {QUERIES} needs (after {WARMUP} to warm up)", flush=True)
    engine = Engine()
    engine.add_all([output_document(str(o.output_id), o) for o in corpus.iter_outputs(DOCS, seed="published")])
    queries = [need_document(str(n.need_id), n) for n in corpus.needs(QUERIES + WARMUP, seed="new")]
    vectors = [searched(engine, query) for query in queries]
    for vector in vectors[:WARMUP]:
        engine.postings.leaders(vector, CANDIDATES)
        dict_sums(engine, vector)
    a: list[float] = []
    b: list[float] = []
    for n, vector in enumerate(vectors[WARMUP:]):
        for which in ("ab" if n % 2 == 0 else "ba"):
            started = time.perf_counter()
            dict_sums(engine, vector) if which == "a" else engine.postings.leaders(vector, CANDIDATES)
            (a if which == "a" else b).append(time.perf_counter() - started)
        expected = plain_leaders(engine.postings, vector, CANDIDATES)
        assert list(engine.postings.leaders(vector, CANDIDATES)[0].items()) == list(expected.items())
    read = statistics.mean(sum(len(engine.postings[f]) for f in vector) for vector in vectors)
    print(f"postings read per search, mean: {read:,.0f}")
    for name, samples in (("A: sums over the dicts (accumulation only)", a), ("B: numpy sums + 50 leaders", b)):
        print(f"  {name:<45} p50 {ms(samples, 0.5):6.1f} ms   p95 {ms(samples, 0.95):6.1f} ms")
    print(f"  B is {ms(a, 0.5) / ms(b, 0.5):.1f}× faster at p50, {ms(a, 0.95) / ms(b, 0.95):.1f}× at p95")


def searched(engine: Engine, query) -> dict[str, float]:
    """The query's words as Engine.search weighs them, the commonest left out."""
    _, weights, _ = engine._weights(query)  # noqa: SLF001 - the search's own weighing
    size = len(engine.entries)
    return {feature: weight * engine.idf(feature) for feature, weight in weights.items()
            if engine.postings.get(feature)
            and len(engine.postings[feature]) <= max(COMMON_FLOOR, COMMON_SHARE[feature[0]] * size)}


def dict_sums(engine: Engine, vector: dict[str, float]) -> dict[str, float]:
    sums: dict[str, float] = defaultdict(float)
    for feature, query_weight in vector.items():
        for doc_id, weight in engine.postings[feature].items():
            sums[doc_id] += query_weight * weight
    return sums


def ms(samples: list[float], quantile: float) -> float:
    return sorted(samples)[int(quantile * (len(samples) - 1))] * 1000


if __name__ == "__main__":
    main()
