"""The evaluation's stored vectors (tests/eval/embeddings.py): complete, and what this
machine's model makes of the same texts, up to the CPU's arithmetic."""

from __future__ import annotations

import numpy as np

from services.matching import meaning
from services.matching.engine import embedded, need_document, output_document
from tests.eval import embeddings
from tests.eval.eval_matching import ALIKE, ALIKE_TUNING, DATA, INDEPENDENT, INFORMAL, load, stripped


def _documents():
    for directory in (DATA, INFORMAL, ALIKE_TUNING, INDEPENDENT, ALIKE):
        data = load(directory)
        for variant in (data, stripped(data)) if directory == DATA else (data,):
            yield from (need_document(str(need.need_id), need) for need in variant.needs)
            yield from (output_document(str(output.output_id), output) for output in variant.outputs)


def test_every_text_of_every_set_has_its_stored_vector():
    missing = [d.doc_id for d in _documents() if embeddings.digest(d) not in embeddings.stored()]
    assert not missing, f"{len(missing)} texts have no stored vector: run `make eval-matching` and commit tests/data/vectors.npz"


def test_this_machine_s_model_agrees_with_the_stored_vectors():
    sample = list(_documents())[::97]  # needs and outputs of every set
    fresh = [document for kind in ("need", "output")
             for document in embedded([d for d in sample if d.kind == kind], meaning.embedder())]
    for document in fresh:
        stored = embeddings.stored()[embeddings.digest(document)]
        cosine = float(np.dot(stored, meaning.from_bytes(document.vector)))
        # Another CPU's arithmetic moves a cosine of 1 by less than a hundredth; another
        # model or another text moves it by a tenth or more.
        assert cosine > 0.97, f"{document.kind} {document.doc_id}: cosine {cosine:.3f} with its stored vector"
