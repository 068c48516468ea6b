"""The evaluation sets' documents with their vectors (services/matching/meaning.py), as
stored in tests/data/vectors.npz (keyed by a digest of the model, the kind and the text).

The vectors are part of the evaluation data, not made afresh on each machine: the model's
arithmetic follows the CPU (a processor with AVX-512 VNNI computes other cosines, in the
second or third decimal, than one with AVX2 alone), and a fit or a figure that changed
with the machine it ran on could be neither checked nor compared. So evaluating and
fitting only read the store; after adding or changing a set, embed its new texts once
and commit the file:

    python -m tests.eval.embeddings

tests/unit/test_matching_stored_vectors.py checks that the store holds every set's texts
and that this machine's model agrees with it.
"""

from __future__ import annotations

import hashlib
import os
import sys
from dataclasses import replace
from functools import cache
from pathlib import Path

import numpy as np

from services.matching import meaning
from services.matching.engine import Document, embedded, need_document, output_document

STORE = Path(__file__).resolve().parents[1] / "data" / "vectors.npz"
ADD = "python -m tests.eval.embeddings"


class MissingVectors(LookupError):
    pass


def read_store() -> dict[str, np.ndarray]:
    if not STORE.exists():
        return {}
    with np.load(STORE) as archive:
        return {key: archive[key] for key in archive.files}


@cache
def stored_vectors() -> dict[str, np.ndarray]:
    return read_store()


def with_vectors(documents: list[Document]) -> list[Document]:
    """`documents` with their stored vectors; a text without one is an error that says
    how to add it."""
    vectors = stored_vectors()
    keys = [digest(document) for document in documents]
    missing = [d.doc_id for d, key in zip(documents, keys, strict=True) if key not in vectors]
    if missing:
        raise MissingVectors(f"{len(missing)} texts have no stored vector (e.g. {missing[0]}): run `{ADD}`")
    return [replace(d, vector=meaning.to_bytes(vectors[key])) for d, key in zip(documents, keys, strict=True)]


def digest(document: Document) -> str:
    return hashlib.sha256(f"{meaning.MODEL}\n{document.kind}\n{document.meaning_text()}".encode()).hexdigest()[:32]


def every_document() -> list[tuple[str, list[Document]]]:
    """(set name, its needs and outputs) for every evaluation set, the repository's set
    also stripped of keywords and strength areas, as the evaluations read them."""
    from tests.eval.eval_matching import (
        ALIKE, ALIKE_TUNING, DATA, INDEPENDENT, INFORMAL, LOOP, LOOP_TUNING, load, stripped,
    )

    sets = []
    for directory in (DATA, INFORMAL, ALIKE_TUNING, INDEPENDENT, ALIKE, LOOP_TUNING, LOOP):
        data = load(directory)
        variants = [(directory.name, data)]
        if directory == DATA:
            variants.append((f"{directory.name}, stripped", stripped(data)))
        for name, variant in variants:
            sets.append((name, [need_document(str(n.need_id), n) for n in variant.needs]
                         + [output_document(str(o.output_id), o) for o in variant.outputs]))
    return sets


def main() -> int:
    """Embed every set's texts the store lacks and write it (one writer at a time)."""
    vectors = read_store()
    missing = {digest(d): d for _, documents in every_document() for d in documents if digest(d) not in vectors}
    for kind in ("need", "output"):
        batch = [d for d in missing.values() if d.kind == kind]
        for document in embedded(batch, meaning.embedder()) if batch else []:
            vectors[digest(document)] = meaning.from_bytes(document.vector)
    if missing:
        partial = STORE.with_name(f".{STORE.stem}.{os.getpid()}.npz")
        try:
            np.savez_compressed(partial, **dict(sorted(vectors.items())))
            partial.replace(STORE)
        finally:
            partial.unlink(missing_ok=True)
    print(f"{STORE}: {len(missing)} texts embedded, {len(vectors)} stored")
    return 0


if __name__ == "__main__":
    sys.exit(main())
