"""An engine's inverted index: feature → {document id: weight}.

Kept as dicts, which change cheaply as documents come and go. A search, though, sums
products over every document that shares a feature with the query — on 100,000
documents, tens of thousands of dict updates in Python per search. So each feature a
search reads is also kept compiled, as numpy arrays of document slots and weights, until
its posting changes; `leaders` then sums in numpy, in the same order and with the same
float64 arithmetic as the sum over the dicts would, and picks the highest the same way
(tests/unit/test_matching_postings.py holds it to the plain sum over the dicts).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterator, Mapping

import numpy as np


class Postings(Mapping[str, dict[str, float]]):
    """Read it as the mapping it is (`postings[feature][doc_id]`); change it only through
    `set` and `discard`, which keep the compiled copies true."""

    def __init__(self, by_feature: dict[str, dict[str, float]] | None = None) -> None:
        """Takes `by_feature` over as it is, without a copy (an index's postings are the
        largest thing matching holds): whoever passes it hands it over."""
        self._by_feature: dict[str, dict[str, float]] = defaultdict(dict)
        for feature, documents in (by_feature or {}).items():
            if documents:
                self._by_feature[feature] = documents
        self._slot_of: dict[str, int] = {}  # document id → its index in a search's sums
        self._ids: list[str] = []  # slot → document id; a slot is kept while this index lives
        self._compiled: dict[str, tuple[np.ndarray, np.ndarray]] = {}

    # --- the mapping -------------------------------------------------------------

    def __getitem__(self, feature: str) -> dict[str, float]:
        return self._by_feature[feature] if feature in self._by_feature else {}

    def __contains__(self, feature: object) -> bool:
        return feature in self._by_feature

    def __iter__(self) -> Iterator[str]:
        return iter(self._by_feature)

    def __len__(self) -> int:
        return len(self._by_feature)

    # --- changes -----------------------------------------------------------------

    def set(self, feature: str, doc_id: str, weight: float) -> None:
        self._by_feature[feature][doc_id] = weight
        self._compiled.pop(feature, None)

    def discard(self, feature: str, doc_id: str) -> None:
        documents = self._by_feature.get(feature)
        if documents is None or doc_id not in documents:
            return
        del documents[doc_id]
        if not documents:
            del self._by_feature[feature]
        self._compiled.pop(feature, None)

    # --- searching -----------------------------------------------------------------

    def leaders(self, query: Mapping[str, float], count: int) -> tuple[dict[str, float], np.ndarray]:
        """The `count` documents with the highest sum of query weight × posted weight over
        the query's features, highest first (ties by id; every document tied at the cut
        is weighed, then the first `count` kept), and every document's sum by slot (for
        `dot`)."""
        postings = [(query_weight, *self._compiled_posting(feature)) for feature, query_weight in query.items()]
        sums = np.zeros(len(self._ids))
        touched = np.zeros(len(self._ids), dtype=bool)
        for query_weight, slots, weights in postings:
            sums[slots] += query_weight * weights  # a document is in a posting once: no collisions
            touched[slots] = True
        found = np.flatnonzero(touched)
        if len(found) > count:
            values = sums[found]
            kth = -np.partition(-values, count - 1)[count - 1]
            found = found[values >= kth]  # ties at the cut, all
        ranked = sorted(((self._ids[slot], float(sums[slot])) for slot in found), key=lambda item: (-item[1], item[0]))
        return dict(ranked[:count]), sums

    def dot(self, sums: np.ndarray, doc_id: str) -> float:
        """A document's sum in `sums` (as `leaders` gave them); 0 for one it never saw."""
        slot = self._slot_of.get(doc_id)
        return float(sums[slot]) if slot is not None and slot < len(sums) else 0.0

    def _compiled_posting(self, feature: str) -> tuple[np.ndarray, np.ndarray]:
        compiled = self._compiled.get(feature)
        if compiled is None:
            documents = self[feature]
            slots = np.fromiter((self._slot(doc_id) for doc_id in documents), dtype=np.int32, count=len(documents))
            weights = np.fromiter(documents.values(), dtype=np.float64, count=len(documents))
            compiled = self._compiled[feature] = (slots, weights)
        return compiled

    def _slot(self, doc_id: str) -> int:
        slot = self._slot_of.get(doc_id)
        if slot is None:
            slot = self._slot_of[doc_id] = len(self._ids)
            self._ids.append(doc_id)
        return slot
