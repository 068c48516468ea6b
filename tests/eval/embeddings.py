"""The evaluation sets' documents with their vectors (services/matching/meaning.py),
computed once and kept in .local/embeddings/ (one file per text, named by a digest of
the model, the kind and the text), so that evaluating and fitting again is quick."""

from __future__ import annotations

import hashlib
from dataclasses import replace
from pathlib import Path

import numpy as np

from services.matching import meaning
from services.matching.engine import Document, embedded

CACHE = Path(__file__).resolve().parents[2] / ".local" / "embeddings"


def with_vectors(documents: list[Document]) -> list[Document]:
    """`documents` (all needs or all outputs) with their vectors."""
    CACHE.mkdir(parents=True, exist_ok=True)
    paths = [CACHE / f"{_digest(document)}.npy" for document in documents]
    missing = [d for d, path in zip(documents, paths, strict=True) if not path.exists()]
    for document in embedded(missing, meaning.embedder()) if missing else []:
        path = CACHE / f"{_digest(document)}.npy"
        np.save(path.with_suffix(".tmp.npy"), meaning.from_bytes(document.vector))
        path.with_suffix(".tmp.npy").rename(path)
    return [replace(d, vector=meaning.to_bytes(np.load(path))) for d, path in zip(documents, paths, strict=True)]


def _digest(document: Document) -> str:
    return hashlib.sha256(f"{meaning.MODEL}\n{document.kind}\n{document.meaning_text()}".encode()).hexdigest()[:32]
