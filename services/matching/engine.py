"""The matcher's engine: an in-memory index of needs or outputs, searched with the text of
the other side. No I/O: the service feeds it from the database and Kafka.

This first version wraps the plain lexical scorer; the real one replaces its internals
without changing this interface.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from contracts.events import NeedContent, ResearchOutputContent
from services.matching import lexical

DEFAULT_THRESHOLD = 0.2


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


@dataclass(frozen=True)
class Reason:
    kind: str  # shared-terms | shared-concepts | strength-area | trl
    explanation: str


@dataclass(frozen=True)
class Hit:
    doc_id: str
    score: float  # 0..1
    reasons: tuple[Reason, ...]


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


@dataclass
class Engine:
    """An index of documents of one kind, searched with documents of the other."""

    documents: dict[str, Document] = field(default_factory=dict)

    def add(self, document: Document) -> None:
        self.documents[document.doc_id] = document

    def remove(self, doc_id: str) -> None:
        self.documents.pop(doc_id, None)

    def __len__(self) -> int:
        return len(self.documents)

    def search(self, query: Document, limit: int = 10, threshold: float = DEFAULT_THRESHOLD) -> list[Hit]:
        hits = []
        for document in self.documents.values():
            need, output = (query, document) if query.kind == "need" else (document, query)
            scored = lexical.score(_profile(need), _profile(output))
            if scored.value >= threshold and scored.value > 0:
                reasons = tuple(Reason(r.kind, r.explanation) for r in scored.reasons)
                hits.append(Hit(document.doc_id, scored.value, reasons))
        hits.sort(key=lambda hit: (-hit.score, hit.doc_id))
        return hits[:limit]


def _profile(document: Document) -> lexical.Profile:
    return lexical.Profile(
        " ".join([document.title, document.text, *document.keywords]), document.focus_areas, document.trl
    )
