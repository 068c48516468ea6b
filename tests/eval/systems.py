"""The three systems the matching evaluation compares, behind one interface:

    rank(need)               -> [(output_id, score), …]  best first, at most LIMIT, score > 0
    proposed(need, ranking)  -> [output_id, …]           what the system would propose: the
                                                          results at or above its threshold
    threshold_rule                                        the fixed rule, in words

A need counts as *matched* when `proposed` is not empty.

The baselines' thresholds are fixed rules stated before any run on the set, the same
for every need; none was tuned against the judgements (choosing the value that
maximised F1 or no-answer accuracy on this set would flatter the baseline with
knowledge of the answers).

- PostgresFullText: PostgreSQL full-text search on a real server, in a database of its
  own that is dropped afterwards.
- Bm25: plain Okapi BM25 over lowercase words, written out here.
- Redthread: services.matching.engine as it is now, imported when the system is built.
"""

from __future__ import annotations

import asyncio
import math
import re
import secrets
from collections import Counter
from collections.abc import Sequence
from typing import Protocol

import asyncpg

from contracts.events import NeedSubmitted, ResearchOutputPublished

LIMIT = 10

Ranking = list[tuple[str, float]]


class System(Protocol):
    name: str
    threshold_rule: str

    def rank(self, need: NeedSubmitted) -> Ranking: ...

    def proposed(self, need: NeedSubmitted, ranking: Ranking) -> list[str]: ...


def need_text(need: NeedSubmitted) -> str:
    return "\n".join([need.title, need.description, " ".join(need.keywords)])


# ---------------------------------------------------------------------------------------
# PostgreSQL full-text search

TEXT_SEARCH_CONFIG = {"sv": "swedish", "en": "english", "no": "norwegian"}
FALLBACK_CONFIG = "simple"

_SCHEMA = """
CREATE TABLE outputs (
    output_id text PRIMARY KEY,
    config    regconfig NOT NULL,
    title     text NOT NULL,
    keywords  text NOT NULL,
    summary   text NOT NULL,
    document  tsvector GENERATED ALWAYS AS (
        setweight(to_tsvector(config, title), 'A')
        || setweight(to_tsvector(config, keywords), 'B')
        || setweight(to_tsvector(config, summary), 'C')
    ) STORED
);
CREATE INDEX outputs_document ON outputs USING gin (document);
"""

# ts_rank_cd normalization 32 maps the cover-density rank r to r / (r + 1), into [0, 1);
# it does not change the order within a need.
_SEARCH = """
SELECT output_id, ts_rank_cd(document, $1::text::tsquery, 32) AS rank
FROM outputs
WHERE document @@ $1::text::tsquery
ORDER BY rank DESC, output_id
LIMIT $2
"""


def text_search_config(language: str | None) -> str:
    return TEXT_SEARCH_CONFIG.get(language or "", FALLBACK_CONFIG)


def or_query(lexemes: Sequence[str]) -> str:
    """A tsquery literal that matches any of `lexemes`. The lexemes are already
    normalised, so they are quoted as they are instead of being run through
    to_tsquery's dictionaries a second time."""
    quoted = ("'" + lexeme.replace("\\", "\\\\").replace("'", "''") + "'" for lexeme in lexemes)
    return " | ".join(quoted)


class PostgresFullText:
    """Outputs in a table with a weighted tsvector (title A, keywords B, summary C) built
    with the text search configuration of the output's language, under a GIN index. A
    need becomes an OR of the lexemes of its title, description and keywords, normalised
    with its own language's configuration (plainto_tsquery would AND every word and find
    next to nothing for a need of a paragraph), and results are ordered by ts_rank_cd.

    Use as a context manager: it creates a database on the server at `server_url` and
    drops it on exit."""

    name = "postgres-fts"
    threshold = 0.1
    threshold_rule = (
        "ts_rank_cd(document, query, 32) ≥ 0.1, i.e. a raw cover-density rank ≥ 1/9; fixed in advance "
        "(the example rule in the issue brief), not tuned on the set"
    )

    def __init__(self, server_url: str, outputs: Sequence[ResearchOutputPublished]) -> None:
        self.server_url = server_url
        self.outputs = outputs
        self.database = "redthread_eval" + secrets.token_hex(3)
        self._runner: asyncio.Runner | None = None
        self._conn: asyncpg.Connection | None = None
        self._created = False

    def __enter__(self) -> PostgresFullText:
        self._runner = asyncio.Runner()
        try:
            self._runner.run(self._open())
        except BaseException:
            self.__exit__(None, None, None)
            raise
        return self

    def __exit__(self, *exc_info) -> None:
        if self._runner is None:
            return
        try:
            self._runner.run(self._close())
        finally:
            self._runner.close()
            self._runner = None

    async def _open(self) -> None:
        admin = await asyncpg.connect(self.server_url)
        try:
            await admin.execute(f'CREATE DATABASE "{self.database}"')
            self._created = True
        finally:
            await admin.close()
        self._conn = await asyncpg.connect(self.server_url.rpartition("/")[0] + "/" + self.database)
        await self._conn.execute(_SCHEMA)
        await self._conn.executemany(
            "INSERT INTO outputs (output_id, config, title, keywords, summary) VALUES ($1, $2::text::regconfig, $3, $4, $5)",
            [
                (
                    str(output.output_id),
                    text_search_config(output.language.value if output.language else None),
                    output.title,
                    ", ".join(output.keywords),
                    output.summary,
                )
                for output in self.outputs
            ],
        )
        await self._conn.execute("ANALYZE outputs")

    async def _close(self) -> None:
        if self._conn is not None:
            await self._conn.close()
            self._conn = None
        if not self._created:
            return
        admin = await asyncpg.connect(self.server_url)
        try:
            await admin.execute(f'DROP DATABASE IF EXISTS "{self.database}" WITH (FORCE)')
            self._created = False
        finally:
            await admin.close()

    def rank(self, need: NeedSubmitted) -> Ranking:
        if self._runner is None:
            raise RuntimeError("PostgresFullText is used outside its `with` block")
        return self._runner.run(self._rank(need))

    async def _rank(self, need: NeedSubmitted) -> Ranking:
        assert self._conn is not None
        config = text_search_config(need.language.value if need.language else None)
        rows = await self._conn.fetch("SELECT lexeme FROM unnest(to_tsvector($1::text::regconfig, $2))", config, need_text(need))
        if not rows:
            return []
        found = await self._conn.fetch(_SEARCH, or_query([row["lexeme"] for row in rows]), LIMIT)
        return [(row["output_id"], float(row["rank"])) for row in found if row["rank"] > 0]

    def proposed(self, need: NeedSubmitted, ranking: Ranking) -> list[str]:
        return [output_id for output_id, score in ranking if score >= self.threshold]


# ---------------------------------------------------------------------------------------
# Plain BM25

_WORD = re.compile(r"[^\W_]+")
# Only the commonest function words of the three languages; no stemming anywhere.
BM25_STOPWORDS = frozenset(
    """
    och o att i en ett det som på av för med är till om
    og er til for med det en et av på
    the and of to a an in for is on with
    """.split()
)


def words(text: str) -> list[str]:
    return [word for word in _WORD.findall(text.lower()) if word not in BM25_STOPWORDS]


class Bm25:
    """Okapi BM25 (k1 = 1.2, b = 0.75, idf = ln(1 + (N − df + 0.5) / (df + 0.5))) over the
    words of each output's title, keywords and summary as one field. A need's query is
    the set of distinct words of its title, description and keywords.

    Scores are reported normalised by the need's self-score: the BM25 score the need's
    own text would get as a document of this collection (its own word counts and length,
    the outputs' idf and average length). The order within a need is the raw BM25 order;
    the normalised score says how much of what the need says an output covers, on a scale
    that does not depend on how long or how wordy the need is."""

    name = "bm25"
    k1 = 1.2
    b = 0.75
    threshold = 0.1
    threshold_rule = (
        "BM25 ÷ the need's self-score (its own text scored as a document) ≥ 0.1; fixed in advance "
        "(the example rule in the issue brief), not tuned on the set"
    )

    def __init__(self, outputs: Sequence[ResearchOutputPublished]) -> None:
        self.documents: dict[str, Counter[str]] = {}
        self.lengths: dict[str, int] = {}
        for output in outputs:
            tokens = words(" ".join([output.title, " ".join(output.keywords), output.summary]))
            self.documents[str(output.output_id)] = Counter(tokens)
            self.lengths[str(output.output_id)] = len(tokens)
        self.count = len(self.documents)
        self.average_length = sum(self.lengths.values()) / self.count if self.count else 0.0
        self.document_frequency: Counter[str] = Counter()
        for terms in self.documents.values():
            self.document_frequency.update(terms.keys())

    def idf(self, term: str) -> float:
        df = self.document_frequency.get(term, 0)
        return math.log(1 + (self.count - df + 0.5) / (df + 0.5))

    def bm25(self, query: set[str], terms: Counter[str], length: int) -> float:
        norm = self.k1 * (1 - self.b + self.b * length / self.average_length)
        total = 0.0
        for term in query:
            tf = terms.get(term, 0)
            if tf:
                total += self.idf(term) * tf * (self.k1 + 1) / (tf + norm)
        return total

    def rank(self, need: NeedSubmitted) -> Ranking:
        tokens = words(need_text(need))
        query, own = set(tokens), Counter(tokens)
        self_score = self.bm25(query, own, len(tokens))
        if self_score <= 0:
            return []
        scored = [
            (output_id, self.bm25(query, terms, self.lengths[output_id]) / self_score)
            for output_id, terms in self.documents.items()
        ]
        scored = [(output_id, value) for output_id, value in scored if value > 0]
        scored.sort(key=lambda item: (-item[1], item[0]))
        return scored[:LIMIT]

    def proposed(self, need: NeedSubmitted, ranking: Ranking) -> list[str]:
        return [output_id for output_id, score in ranking if score >= self.threshold]


# ---------------------------------------------------------------------------------------
# redthread's own matcher


class Redthread:
    """services.matching.engine, imported when this system is built (so a changed engine
    is what gets measured), with every document's vector as the matching service keeps
    it (tests/eval/embeddings.py). Its ranking is engine.search, every candidate it finds
    regardless of whether it would propose it, so that it is measured on the same footing
    as the baselines' unthresholded rankings; what it proposes is engine.propose with the
    models' own minimum probabilities. `lessons` (output id → engine.Lesson) is what
    answers taught it, and `teaching` how much they move it (engine.Engine.teaching and
    record_prior), for
    the simulated loop."""

    name = "redthread"

    def __init__(
        self, outputs: Sequence[ResearchOutputPublished], lessons: dict | None = None,
        teaching: tuple[float, float, float | None] | None = None,
    ) -> None:
        from services.matching import decision, engine
        from tests.eval.embeddings import with_vectors

        self._engine_module = engine
        self._with_vectors = with_vectors
        self.engine = engine.Engine(lessons=dict(lessons or {}))
        if teaching is not None:
            *self.engine.teaching, self.engine.record_prior = teaching
        self.engine.add_all(with_vectors([engine.output_document(str(o.output_id), o) for o in outputs]))
        self._queries: dict[str, object] = {}
        model = decision.fitted_models()["meaning"]
        self.threshold_rule = (
            f"the engine's own decision (services/matching/decision.py): a calibrated chance of being useful of at least "
            f"{model.min_probability:.0%}, or {model.min_probability_nearest:.0%} for the output nearest to the need in "
            "meaning, fitted on the tuning sets only"
        )

    def _query(self, need: NeedSubmitted):
        key = need.model_dump_json()
        if key not in self._queries:
            document = self._engine_module.need_document(str(need.need_id), need)
            self._queries[key] = self._with_vectors([document])[0]
        return self._queries[key]

    def rank(self, need: NeedSubmitted) -> Ranking:
        hits = self.engine.search(self._query(need), limit=LIMIT, threshold=0.0)
        return [(hit.doc_id, hit.probability) for hit in hits]

    def proposed(self, need: NeedSubmitted, ranking: Ranking) -> list[str]:
        return [hit.doc_id for hit in self.proposed_hits(need)]

    def proposed_hits(self, need: NeedSubmitted) -> list:
        proposed, _ = self.engine.propose(self._query(need), limit=LIMIT)
        return proposed
