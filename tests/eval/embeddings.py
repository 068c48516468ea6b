"""The evaluation sets' documents with their vectors (services/matching/meaning.py), as
stored in tests/data/vectors.npz (keyed by a digest of the model, the kind and the text).

The vectors are part of the evaluation data, not made afresh on each machine: the model's
arithmetic follows the CPU (a processor with AVX-512 VNNI computes other cosines, in the
second or third decimal, than one with AVX2 alone), and a fit or a figure that changed
with the machine it ran on could be neither checked nor compared. A text not yet in the
store is embedded here and added to it; commit the file after changing a set.
tests/unit/test_matching_stored_vectors.py checks that the store holds every set's texts
and that this machine's model agrees with it.
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import replace
from functools import cache
from pathlib import Path

import numpy as np

from services.matching import meaning
from services.matching.engine import Document, embedded

STORE = Path(__file__).resolve().parents[1] / "data" / "vectors.npz"


@cache
def stored() -> dict[str, np.ndarray]:
    if not STORE.exists():
        return {}
    with np.load(STORE) as archive:
        return {key: archive[key] for key in archive.files}


def with_vectors(documents: list[Document]) -> list[Document]:
    """`documents` (all needs or all outputs) with their stored vectors; those not yet
    stored are embedded and added to the store."""
    vectors = stored()
    digests = [digest(document) for document in documents]
    missing = [d for d, key in zip(documents, digests, strict=True) if key not in vectors]
    if missing:
        for document in embedded(missing, meaning.embedder()):
            vectors[digest(document)] = meaning.from_bytes(document.vector).astype(np.float32)
        _save(vectors)
    return [replace(d, vector=meaning.to_bytes(vectors[key])) for d, key in zip(documents, digests, strict=True)]


def _save(vectors: dict[str, np.ndarray]) -> None:
    partial = STORE.with_suffix(f".{os.getpid()}.tmp.npz")
    np.savez_compressed(partial, **dict(sorted(vectors.items())))
    partial.rename(STORE)


def digest(document: Document) -> str:
    return hashlib.sha256(f"{meaning.MODEL}\n{document.kind}\n{document.meaning_text()}".encode()).hexdigest()[:32]
