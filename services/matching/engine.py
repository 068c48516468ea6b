"""The matcher's engine: an in-memory inverted index of needs or outputs, searched with a
document of the other side. No I/O: the service feeds it from the database and Kafka.

Relevance is the cosine of TF-IDF vectors over the features of services/matching/text.py
(stems, compound parts and thesaurus concepts, the title and keywords counting double),
then adjusted for what a coach cares about beyond words: a shared Produktion2030
strength area adds a little, an output below the need's minimum TRL counts half. Every
hit carries the evidence behind it, from which services/matching/decision.py decides
whether to propose it, and says why, in words a coach understands.

Answers teach it (Rocchio's relevance feedback): an output that companies found useful
for a need takes on part of that need's words and concepts, so the next need written the
way that one was finds it, even when the researcher wrote otherwise; an output found not
useful for a need loses part of what it shared with it. And an output keeps a track
record: whether its answered proposals proved useful more or less often than the chances
they were proposed at (decision.track_record), which moves its chances for the next need.
What an output was taught is a Lesson, rebuilt from the answers, and every match it
changed says so.
"""

from __future__ import annotations

import math
import sys
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field, replace

import numpy as np

from contracts.events import NeedContent, ResearchOutputContent
from services.matching import meaning
from services.matching.decision import Evidence, decide, probability, track_record
from services.matching.meaning import Embedder, Nearness, Vectors
from services.matching.postings import Postings
from services.matching.text import Analysis, Thesaurus, analyse, default_thesaurus

# v2: proposed by a calibrated decision (decision.py), not a score threshold;
# v3: candidates and evidence from meaning too (meaning.py), ranked by that decision
METHOD = "concepts-tfidf-meaning-v3"
CONCEPT_WEIGHT = 1.5  # a shared concept says more than a shared word
AREA_BONUS, AREA_BONUS_MAX = 0.05, 0.1
TRL_PENALTY = 0.5
CANDIDATES = 50  # cosine leaders re-scored with areas and TRL
MEANING_CANDIDATES = 5  # the nearest in meaning join them, whatever words they share
# Words in more than this share of a large index say little (their IDF is low) and cost
# the most to search (their postings are long): a search leaves them out. Concepts are
# kept up to a larger share: a need about a popular topic must still match on it.
COMMON_SHARE = {"t": 0.05, "c": 0.2}
COMMON_FLOOR = 1000
# How much a need that an output was useful (or not useful) for adds to (or takes from)
# the output's weights, and how firmly an output's chances are held to what its evidence
# says against its track record of answers (decision.track_record's prior; None leaves
# the record unread). Chosen by the simulated loop on the tuning sets (`make eval-loop`,
# tests/eval/simulate_loop.py --sweep): of the choices that keep the precision of
# proposals within 0.02 of the untaught engine's on every tuning set, the one that serves
# the most needs right, then the best mean nDCG@10. Moving an output's words towards the
# needs it was useful for proposes it to needs that only share those needs' words; away
# from the others, it gave up precision on the set whose outputs collect answers from
# many companies. So the words stay as the researcher wrote them, and the track record
# alone carries what the answers taught (both are explained).
USEFUL_WEIGHT, NOT_USEFUL_WEIGHT = 0.0, 0.0
RECORD_PRIOR: float | None = 2.0


@dataclass(frozen=True)
class Document:
    """What the engine knows of a need or a research output."""

    doc_id: str
    kind: str  # "need" or "output"
    title: str
    text: str
    keywords: tuple[str, ...] = ()
    language: str | None = None
    focus_areas: frozenset[str] = frozenset()
    trl: int | None = None  # an output's TRL, or a need's minimum TRL
    vector: bytes | None = None  # its embedding (meaning.py), float32; the index keeps it apart

    def meaning_text(self) -> str:
        return meaning.document_text(self.title, self.text, self.keywords)


@dataclass(frozen=True)
class Lesson:
    """What companies answered about one output, as the needs they answered for: those
    it was useful for (or adopted for), and those it was not useful for; and its track
    record: for each answered proposal, the chance it was proposed at and whether it
    proved useful."""

    useful: tuple[Document, ...] = ()
    not_useful: tuple[Document, ...] = ()
    record: tuple[tuple[float, bool], ...] = ()
    _shifts: dict[float, float] = field(default_factory=dict, compare=False, repr=False)

    def shift(self, prior: float) -> float:
        """decision.track_record of the record, computed once per prior."""
        if prior not in self._shifts:
            self._shifts[prior] = round(track_record(self.record, prior), 4) if self.record else 0.0
        return self._shifts[prior]


@dataclass(frozen=True)
class Reason:
    kind: str  # shared-concepts | shared-terms | strength-area | trl | answers | confidence
    explanation: str


@dataclass(frozen=True)
class Hit:
    doc_id: str
    score: float  # relevance in words, 0..1
    reasons: tuple[Reason, ...]
    evidence: Evidence
    probability: float  # the decision's chance that the pair is useful: what ranks it


def need_document(need_id: str, need: NeedContent) -> Document:
    return Document(
        need_id, "need", need.title, need.description, tuple(need.keywords),
        need.language.value if need.language else None, frozenset(a.value for a in need.focus_areas), need.min_trl,
    )


def output_document(output_id: str, output: ResearchOutputContent) -> Document:
    return Document(
        output_id, "output", output.title, output.summary, tuple(output.keywords),
        output.language.value if output.language else None, frozenset(a.value for a in output.focus_areas), output.trl,
    )


def embedded(documents: list[Document], embedder: Embedder) -> list[Document]:
    """The documents with their vectors (slow: tens of milliseconds each, run it in a
    thread); needs are embedded as queries, outputs as passages."""
    texts = [document.meaning_text() for document in documents]
    vectors = (
        embedder.needs(texts) if documents and documents[0].kind == "need" else embedder.outputs(texts)
    ) if documents else []
    if any(document.kind != documents[0].kind for document in documents):
        raise ValueError("embed needs and outputs separately")
    return [replace(d, vector=meaning.to_bytes(v)) for d, v in zip(documents, vectors, strict=True)]


def analyse_document(document: Document, thesaurus: Thesaurus) -> Analysis:
    fields = [(document.title, 2.0), (" ".join(document.keywords), 2.0), (document.text, 1.0)]
    return analyse(fields, document.language, thesaurus)


def _tf(count: float, feature: str) -> float:
    return (1 + math.log(count)) * (CONCEPT_WEIGHT if feature.startswith("c:") else 1.0)


def term_weights(document: Document, thesaurus: Thesaurus) -> tuple[Analysis, dict[str, float]]:
    analysis = analyse_document(document, thesaurus)
    return analysis, {feature: _tf(count, feature) for feature, count in analysis.features.items()}


def taught(
    weights: dict[str, float], lesson: Lesson, thesaurus: Thesaurus,
    teaching: tuple[float, float] = (USEFUL_WEIGHT, NOT_USEFUL_WEIGHT),
) -> dict[str, float]:
    """An output's term weights moved towards the needs it was useful for, and away
    from those it was not (each group averaged, so many answers do not drown the text);
    `teaching` is (towards, away)."""
    moved = dict(weights)
    towards, away = teaching
    for needs, factor in ((lesson.useful, towards), (lesson.not_useful, -away)):
        for need in needs if factor else ():
            for feature, weight in term_weights(need, thesaurus)[1].items():
                moved[feature] = moved.get(feature, 0.0) + factor * weight / len(needs)
    return {feature: weight for feature, weight in moved.items() if weight > 1e-9}


@dataclass(slots=True)
class _Entry:
    document: Document
    weights: dict[str, float]  # feature (interned) -> tf weight
    surface: dict[str, str] | None  # feature -> the word behind it; kept for needs, whose words explain a match
    learned: frozenset[str] = frozenset()  # an output's features that only its lesson gave it


@dataclass
class Engine:
    """An index of documents of one kind, searched with documents of the other.

    Postings hold each document's TF-IDF weights already divided by its vector's length,
    so a search only sums products. IDF moves as the index grows; the weights are
    recomputed for all documents when the index has grown or shrunk by a tenth since,
    and `add_all` builds a whole index with one such pass.

    With `on_drift` set, a due reweighing is left to whoever it calls, which may compute
    the weights away from the event loop (`postings_for` over a snapshot of the entries)
    and `install` them; searches meanwhile use the weights as they are.

    `lessons` (output id → Lesson) is read for every output indexed or searched with;
    `teach` changes one and re-indexes the output. The two engines of a matcher share it.

    `vectors` holds the documents' embeddings, apart from their entries: a document
    added without a vector keeps the one it had (`document` gives it back with it).
    """

    thesaurus: Thesaurus = field(default_factory=default_thesaurus)
    entries: dict[str, _Entry] = field(default_factory=dict)
    postings: Postings = field(default_factory=Postings)
    _weighted_at: int = 0  # the index size the posted weights were computed at
    on_drift: Callable[[], None] | None = None
    lessons: dict[str, Lesson] = field(default_factory=dict)
    teaching: tuple[float, float] = (USEFUL_WEIGHT, NOT_USEFUL_WEIGHT)
    record_prior: float | None = RECORD_PRIOR
    vectors: Vectors = field(default_factory=Vectors)
    judge: Callable[[Evidence], float] = probability  # the chance a pair is useful, which ranks it
    # Postings of features only a lesson gave a document: they are searched, but do not
    # count in a feature's document frequency (a taught word must not lose weight for all).
    _learned_frequency: dict[str, int] = field(default_factory=lambda: defaultdict(int))

    def __len__(self) -> int:
        return len(self.entries)

    def add(self, document: Document) -> None:
        self._insert(document)
        self._post(self.entries[document.doc_id])
        self._reweigh_if_drifted()

    def add_all(self, documents: list[Document]) -> None:
        """Index many documents at once (at start): one weighting pass at the end."""
        for document in documents:
            self._insert(document)
        self.reweigh()

    def teach(self, output_id: str, lesson: Lesson | None) -> None:
        """Set (or, with None, forget) what answers taught about an output."""
        if lesson is None:
            self.lessons.pop(output_id, None)
        else:
            self.lessons[output_id] = lesson
        entry = self.entries.get(output_id)
        if entry is not None and entry.document.kind == "output":
            self.add(self.document(output_id))

    def saved(self, doc_id: str) -> tuple[_Entry | None, np.ndarray | None]:
        """What the index holds of a document, for `restore` (a need's entry keeps no
        text, so re-adding its document would not give it back)."""
        return self.entries.get(doc_id), self.vectors.get(doc_id)

    def restore(self, doc_id: str, saved: tuple[_Entry | None, np.ndarray | None]) -> None:
        entry, vector = saved
        self.remove(doc_id)
        if entry is not None:
            self.entries[doc_id] = entry
            self._post(entry)
            self._reweigh_if_drifted()
        if vector is not None:
            self.vectors.put(doc_id, vector)

    def document(self, doc_id: str) -> Document | None:
        """The document as indexed, with its vector."""
        entry = self.entries.get(doc_id)
        if entry is None:
            return None
        vector = self.vectors.get(doc_id)
        return entry.document if vector is None else replace(entry.document, vector=meaning.to_bytes(vector))

    def _weights(self, document: Document) -> tuple[Analysis, dict[str, float], frozenset[str]]:
        """A document's term weights, an output's as its lesson taught them, and the
        features only the lesson gave it."""
        analysis, weights = term_weights(document, self.thesaurus)
        lesson = self.lessons.get(document.doc_id) if document.kind == "output" else None
        if not lesson:
            return analysis, weights, frozenset()
        moved = taught(weights, lesson, self.thesaurus, self.teaching)
        return analysis, moved, frozenset(moved.keys() - weights.keys())

    def remove(self, doc_id: str) -> None:
        self.vectors.remove(doc_id)
        self._drop_entry(doc_id)

    def _drop_entry(self, doc_id: str) -> None:
        entry = self.entries.pop(doc_id, None)
        if entry is None:
            return
        self._unpost(doc_id, entry)
        self._reweigh_if_drifted()

    def _unpost(self, doc_id: str, entry: _Entry) -> None:
        for feature in entry.learned:
            if doc_id in self.postings.get(feature, ()):
                self._learned_frequency[feature] -= 1
        for feature in entry.weights:
            self.postings.discard(feature, doc_id)

    def idf(self, feature: str) -> float:
        frequency = len(self.postings.get(feature, ())) - self._learned_frequency.get(feature, 0)
        return math.log((len(self.entries) + 1) / (frequency + 1)) + 1

    def reweigh(self) -> None:
        """Recompute every posted weight with the IDF of the index as it is now."""
        entries = dict(self.entries)
        self.install(entries, postings_for(entries))

    def install(self, snapshot: dict[str, _Entry], postings: dict[str, dict[str, float]]) -> None:
        """Use `postings`, computed by postings_for(snapshot) from the entries as they
        were then; what was added, changed or removed since is brought up to date."""
        self.postings = Postings(postings)
        for doc_id, entry in snapshot.items():
            if self.entries.get(doc_id) is not entry:
                self._unpost(doc_id, entry)
        for doc_id, entry in self.entries.items():
            if snapshot.get(doc_id) is not entry:
                self._post(entry)
        self._learned_frequency = defaultdict(int)
        for doc_id in self.lessons.keys() & self.entries.keys():
            for feature in self.entries[doc_id].learned:
                self._learned_frequency[feature] += 1
        self._weighted_at = len(snapshot)

    def _insert(self, document: Document) -> None:
        self._drop_entry(document.doc_id)
        if document.vector is not None:
            self.vectors.put(document.doc_id, meaning.from_bytes(document.vector))
            document = replace(document, vector=None)
        analysis, weights, learned = self._weights(document)
        weights = {sys.intern(feature): weight for feature, weight in weights.items()}
        if document.kind == "need":
            # A need's own text is not needed once indexed (proposals read it from the
            # database), but its words are, to explain a match.
            words = {sys.intern(f): w for f, w in analysis.surface.items() if f.startswith("t:") and w != f[2:]}
            self.entries[document.doc_id] = _Entry(replace(document, text=""), weights, words)
        else:
            self.entries[document.doc_id] = _Entry(document, weights, None, learned)

    def _post(self, entry: _Entry) -> None:
        doc_id = entry.document.doc_id
        for feature in entry.learned:
            if doc_id not in self.postings[feature]:
                self._learned_frequency[feature] += 1
        for feature in entry.weights:  # counted in the document frequency before the IDF is read
            if doc_id not in self.postings[feature]:
                self.postings.set(feature, doc_id, 0.0)
        weighted = {feature: weight * self.idf(feature) for feature, weight in entry.weights.items()}
        norm = _length(weighted, entry.learned)
        for feature, weight in weighted.items():
            self.postings.set(feature, doc_id, weight / norm)

    def _reweigh_if_drifted(self) -> None:
        if abs(len(self.entries) - self._weighted_at) > max(50, self._weighted_at // 10):
            if self.on_drift is None:
                self.reweigh()
            else:
                self.on_drift()

    def search(
        self, query: Document, limit: int = 10, threshold: float = 0.0, nearness: Nearness | None = None
    ) -> list[Hit]:
        """The best `limit` documents for `query`, most probably useful first, scored in
        words at or above `threshold`: the ranking. Candidates are the leaders in words
        and, when the query has a vector, the nearest in meaning (`nearness`, when the
        caller has it already, is this index's nearness to the query). What is proposed
        of the ranking, `propose` decides."""
        analysis, weights, learned = self._weights(query)
        size = len(self.entries)
        vector = {}
        for feature, weight in weights.items():
            postings = self.postings.get(feature)
            if not postings or len(postings) > max(COMMON_FLOOR, COMMON_SHARE[feature[0]] * size):
                continue
            vector[feature] = weight * self.idf(feature)
        # Words only a lesson brought into the index add to a match, and take nothing
        # from the query's other matches: they are left out of its length.
        query_norm = _length(vector, learned | {f for f in vector if self._only_learned(f)})
        candidates, dots = self.postings.leaders(vector, max(CANDIDATES, limit))
        nearest = None
        if nearness is None and query.vector is not None and len(self.vectors):
            nearness = self.vectors.near(meaning.from_bytes(query.vector))
        if nearness is not None:
            closest = nearness.nearest(MEANING_CANDIDATES)
            if closest:  # the nearest cosine and the next one's, if any
                nearest = (closest[0][1], closest[1][1] if len(closest) > 1 else None)
            if query.kind == "output":
                # A need's nearest output is always among its candidates; so, from the
                # output's side, every need it is now the nearest output to.
                closest += self.vectors.now_nearest(nearness, max(CANDIDATES, limit))
            for doc_id, _ in closest:
                candidates.setdefault(doc_id, self.postings.dot(dots, doc_id))
        hits = [
            self._hit(query, analysis, doc_id, dot, query_norm, vector, learned, nearness, nearest)
            for doc_id, dot in candidates.items()
        ]
        kept = [hit for hit in hits if hit.score >= threshold and (hit.score > 0 or hit.evidence.meaning is not None)]
        kept.sort(key=lambda hit: (-hit.probability, -hit.score, hit.doc_id))
        return kept[:limit]

    def propose(
        self, query: Document, limit: int, min_probability: float | None = None, nearness: Nearness | None = None
    ) -> tuple[list[Hit], list[Hit]]:
        """(proposed, held back) among the best-ranked candidates: each proposed hit
        carries its decision as a reason; the held back ones say why in theirs. Without
        `min_probability`, each model's own minimum (decision.py)."""
        proposed, held_back = [], []
        for hit in self.search(query, limit=max(limit, 10), threshold=0.0, nearness=nearness):
            decision = decide(hit.evidence, min_probability)
            judged = replace(hit, reasons=(*hit.reasons, Reason("confidence", decision.why)))
            (proposed if decision.propose and len(proposed) < limit else held_back).append(judged)
        return proposed, held_back

    def _only_learned(self, feature: str) -> bool:
        return len(self.postings.get(feature, ())) == self._learned_frequency.get(feature, 0)

    def _hit(
        self, query: Document, analysis: Analysis, doc_id: str, dot: float, query_norm: float,
        vector: dict[str, float], query_learned: frozenset[str], nearness: Nearness | None,
        nearest: tuple[float, float | None] | None,
    ) -> Hit:
        cosine = dot / query_norm
        entry = self.entries[doc_id]
        need, output = (query, entry.document) if query.kind == "need" else (entry.document, query)
        need_surface = analysis.surface if query.kind == "need" else (entry.surface or {})
        shared = vector.keys() & entry.weights.keys()
        explained = explain_shared(shared, need_surface, need.language, self)
        lesson = self.lessons.get(output.doc_id)
        if lesson:
            explained += explain_lesson(lesson, shared & (entry.learned or query_learned), need_surface, need.language, self)
        score, reasons = adjust(min(cosine, 1.0), need, output, explained)
        if query.kind == "need":
            need_share = sum(vector[f] ** 2 for f in shared) / query_norm**2
            need_size = len(analysis.features)
        else:  # the need is indexed: its posted weights are already of unit length
            need_share = sum(self.postings[f].get(doc_id, 0.0) ** 2 for f in shared)
            need_size = len(entry.weights)
        concepts = sum(1 for f in shared if f.startswith("c:"))
        evidence = Evidence(
            record=lesson.shift(self.record_prior) if lesson and self.record_prior is not None else 0.0,
            score=score,
            need_share=min(need_share, 1.0),
            shared_concepts=concepts,
            shared_terms=len(shared) - concepts,
            same_area=bool(need.focus_areas & output.focus_areas),
            below_trl=need.trl is not None and output.trl is not None and output.trl < need.trl,
            need_described=bool(need.keywords or need.focus_areas),
            need_size=need_size,
        )
        if nearness is not None and doc_id in self.vectors:
            near = nearness.of(doc_id)
            # Against the need's best in meaning, whichever side is searched: for a need,
            # the nearest output here and the one after it; for an output, the need's
            # best before it (which, if this output is nearer, is now the one after it).
            if query.kind == "need":
                best, runner_up = nearest if nearest else (near, None)
            else:
                runner_up = self.vectors.best(doc_id)
                best = max(runner_up if runner_up is not None else near, near)
            first = near >= best
            evidence = replace(evidence, meaning=round(near, 4), nearest_in_meaning=first,
                               meaning_margin=round(min(near - best, 0.0), 4),
                               meaning_lead=round(near - runner_up, 4) if first and runner_up is not None else 0.0)
        return Hit(doc_id, score, reasons, evidence, self.judge(evidence))


def _length(weighted: dict[str, float], learned: frozenset[str]) -> float:
    """A vector's length, without what a lesson added: what an output was taught adds to
    its match with needs like those it was useful for, and takes nothing from the rest."""
    return math.sqrt(sum(w * w for f, w in weighted.items() if f not in learned)) or 1.0


def postings_for(entries: dict[str, _Entry]) -> dict[str, dict[str, float]]:
    """Every entry's TF-IDF weights, divided by its vector's length, by feature: what
    Engine.reweigh computes, as a pure function of the entries (it may run in a thread)."""
    frequency: dict[str, int] = defaultdict(int)
    for entry in entries.values():
        for feature in entry.weights:
            if feature not in entry.learned:
                frequency[feature] += 1
    size = len(entries)
    idf = {feature: math.log((size + 1) / (count + 1)) + 1 for feature, count in frequency.items()}
    unseen = math.log(size + 1) + 1  # a feature only lessons gave
    postings: dict[str, dict[str, float]] = defaultdict(dict)
    for doc_id, entry in entries.items():
        weighted = {feature: weight * idf.get(feature, unseen) for feature, weight in entry.weights.items()}
        norm = _length(weighted, entry.learned)
        for feature, weight in weighted.items():
            postings[feature][doc_id] = weight / norm
    return postings


def explain_shared(shared: set[str], need_surface: dict[str, str], language: str | None, engine: Engine) -> list[Reason]:
    """Say what the two share, strongest first, in the need's language and words."""
    ranked = _strongest(shared, engine)
    concepts = [explain_word(f, need_surface, language, engine) for f in ranked if f.startswith("c:")]
    terms = [explain_word(f, need_surface, language, engine) for f in ranked if f.startswith("t:")]
    reasons = []
    if concepts:
        reasons.append(Reason("shared-concepts", "Båda handlar om: " + ", ".join(dict.fromkeys(concepts[:6]))))
    if terms:
        reasons.append(Reason("shared-terms", "Gemensamma ord: " + ", ".join(dict.fromkeys(terms[:6]))))
    return reasons


def explain_lesson(
    lesson: Lesson, learned_shared: set[str], need_surface: dict[str, str], language: str | None, engine: Engine
) -> list[Reason]:
    """Say how answers about the output moved this match."""
    said = []
    if lesson.useful:
        found = (
            " Det delar med deras behov: " + ", ".join(
                dict.fromkeys(explain_word(f, need_surface, language, engine) for f in _strongest(learned_shared, engine)[:6])
            )
            if learned_shared else ""
        )
        said.append(f"Har varit till nytta för {_companies(len(lesson.useful))}.{found}")
    if lesson.not_useful:
        moved = ": det som förde dit väger mindre för liknande behov" if engine.teaching[1] else ""
        said.append(f"Inte till nytta för {_companies(len(lesson.not_useful))}{moved}.")
    return [Reason("answers", " ".join(said))]


def _companies(count: int) -> str:
    return "ett företag" if count == 1 else f"{count} företag"


def _strongest(features: set[str], engine: Engine) -> list[str]:
    return sorted(features, key=lambda f: (-engine.idf(f) * (CONCEPT_WEIGHT if f.startswith("c:") else 1), f))


def explain_word(feature: str, need_surface: dict[str, str], language: str | None, engine: Engine) -> str:
    if feature.startswith("c:"):
        return engine.thesaurus.concepts[feature[2:]].label(language or "sv")
    return need_surface.get(feature, feature[2:])


def adjust(cosine: float, need: Document, output: Document, reasons: list[Reason]) -> tuple[float, tuple[Reason, ...]]:
    """The textual score adjusted for strength areas and TRL fit, with the reasons."""
    score = cosine
    areas = sorted(need.focus_areas & output.focus_areas)
    if areas and cosine > 0:
        score += min(AREA_BONUS * len(areas), AREA_BONUS_MAX)
        reasons.append(Reason("strength-area", "Samma styrkeområde: " + ", ".join(areas)))
    if need.trl is not None and output.trl is not None:
        if output.trl < need.trl:
            score *= TRL_PENALTY
            reasons.append(Reason("trl", f"Mognadsgrad TRL {output.trl} är lägre än önskade TRL {need.trl}"))
        else:
            reasons.append(Reason("trl", f"Mognadsgrad TRL {output.trl} når önskade TRL {need.trl}"))
    return min(round(score, 4), 1.0), tuple(reasons)

