"""The evaluation's stored vectors (tests/eval/embeddings.py): complete, and what this
machine's model makes of the same texts, up to the CPU's arithmetic."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from services.matching import meaning
from services.matching.engine import embedded
from tests.eval import embeddings


def test_every_text_of_every_set_has_its_stored_vector():
    on_disk = embeddings.read_store()
    for name, documents in embeddings.every_document():
        missing = [d.doc_id for d in documents if embeddings.digest(d) not in on_disk]
        assert not missing, f"{name}: {len(missing)} texts have no stored vector: run `{embeddings.ADD}` and commit it"


def test_a_text_without_a_stored_vector_is_an_error_that_says_what_to_run():
    [(_, documents)] = embeddings.every_document()[:1]
    changed = [replace(documents[0], text=documents[0].text + " (ändrad)")]
    with pytest.raises(embeddings.MissingVectors, match=embeddings.ADD):
        embeddings.with_vectors(changed)


def test_this_machine_s_model_agrees_with_the_stored_vectors():
    on_disk = embeddings.read_store()
    for name, documents in embeddings.every_document():
        for kind in ("need", "output"):  # the first of each kind of every set
            [fresh] = embedded([next(d for d in documents if d.kind == kind)], meaning.embedder())
            cosine = float(np.dot(on_disk[embeddings.digest(fresh)], meaning.from_bytes(fresh.vector)))
            # Another CPU's arithmetic moves a cosine of 1 by less than a hundredth; another
            # model or another text moves it by a tenth or more.
            assert cosine > 0.97, f"{name}, {kind} {fresh.doc_id}: cosine {cosine:.3f} with its stored vector"
