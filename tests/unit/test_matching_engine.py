"""The matcher on its own: languages, compounds, concepts, TRL and thresholds."""

import pytest

from services.matching.engine import Document, Engine, Lesson
from services.matching.text import analyse, default_thesaurus


def need(text: str, language: str = "sv", title: str = "", areas=(), trl=None) -> Document:
    return Document("need-1", "need", title or text[:40], text, (), language, frozenset(areas), trl)


def output(doc_id: str, text: str, language: str = "sv", title: str = "", areas=(), trl=None) -> Document:
    return Document(doc_id, "output", title or text[:40], text, (), language, frozenset(areas), trl)


def outputs_index(*documents: Document) -> Engine:
    engine = Engine()
    for document in documents:
        engine.add(document)
    return engine


SMED = output("smed", "Metod för snabba omställningar i pressar: SMED halverar ställtiden.", title="Kortare ställtider")
ENERGY = output("energy", "Läcksökning i tryckluftssystem sparar el och energi i verkstaden.", title="Tryckluft utan läckor")
COBOT = output("cobot", "Kollaborativa robotar för maskinbetjäning i små serier.", title="Cobotar i CNC-celler")


def test_thesaurus_concepts_are_shared_across_languages():
    features = {
        language: {f for f in analyse([(text, 1.0)], language, default_thesaurus()).features if f.startswith("c:")}
        for language, text in (
            ("sv", "lång omställningstid"),
            ("no", "lang omstillingstid"),
            ("en", "long changeover time"),
        )
    }
    assert features["sv"] & features["no"] & features["en"]


def test_a_norwegian_need_finds_the_swedish_method():
    hits = outputs_index(SMED, ENERGY, COBOT).search(
        need("Vi trenger kortere omstillingstid i pressene", language="no"), limit=3, threshold=0.0
    )
    assert hits[0].doc_id == "smed"


def test_an_english_need_finds_the_swedish_output():
    hits = outputs_index(SMED, ENERGY, COBOT).search(
        need("Our compressed air system leaks and the energy bill is high", language="en"), limit=3, threshold=0.0
    )
    assert hits[0].doc_id == "energy"


def test_compounds_written_as_one_word_match_their_parts():
    engine = outputs_index(output("leak", "Vi hittar läckage i tryckluften", title="Tryckluft"), COBOT)
    hits = engine.search(need("tryckluftsläckage kostar oss mycket"), threshold=0.0)
    assert hits and hits[0].doc_id == "leak"


def test_nothing_shared_means_no_match():
    assert outputs_index(SMED, ENERGY).search(need("Ergonomi vid manuell montering av tunga detaljer")) == []


def test_an_output_below_the_wanted_trl_ranks_lower_and_says_why():
    mature = output("mature", "Digital tvilling för simulering av monteringsflöde", trl=7)
    immature = output("immature", "Digital tvilling för simulering av monteringsflöde", trl=3)
    hits = outputs_index(mature, immature).search(need("digital tvilling och simulering av flödet", trl=6), threshold=0.0)
    assert [hit.doc_id for hit in hits] == ["mature", "immature"]
    assert "lägre än önskade TRL 6" in hits[1].reasons[-1].explanation


def test_reasons_name_the_shared_concepts_and_areas():
    hits, held_back = outputs_index(output("smed", SMED.text, title=SMED.title, areas=["P2"])).propose(
        need("Ställtiderna i pressen är för långa", areas=["P2"]), limit=5
    )
    kinds = {reason.kind for reason in hits[0].reasons}
    assert {"shared-concepts", "strength-area", "confidence"} <= kinds and not held_back
    assert hits[0].reasons[-1].explanation.startswith("Bedömd chans att förslaget är till nytta")


def test_removed_documents_are_not_found():
    engine = outputs_index(SMED, ENERGY)
    engine.remove("smed")
    assert "smed" not in {hit.doc_id for hit in engine.search(need("omställning i pressar"), threshold=0.0)}
    assert len(engine) == 1



def test_weights_computed_from_a_snapshot_are_installed_with_what_changed_since():
    from services.matching.engine import postings_for

    documents = [output(str(i), f"SMED och ställtid i pressen {i}, omställning nummer {i % 7}") for i in range(90)]
    inline, background = Engine(), Engine()
    background.on_drift = lambda: None  # reweighing is left to the caller, as matching does in a thread
    for engine in (inline, background):
        engine.add_all(documents[:60])
        for document in documents[60:]:
            engine.add(document)
    snapshot = dict(background.entries)
    postings = postings_for(snapshot)
    inline.reweigh()
    untouched = {feature: dict(posted) for feature, posted in inline.postings.items()}

    # While the weights were computed, the index changed.
    background.add(output("3", "Förebyggande underhåll med vibrationsmätning"))
    background.remove("5")
    background.install(snapshot, postings)

    changed = {"3", "5"}
    for feature, posted in untouched.items():
        for doc_id, weight in posted.items():
            if doc_id not in changed:
                assert background.postings[feature][doc_id] == pytest.approx(weight)
    assert not any("5" in posted for posted in background.postings.values())
    assert [hit.doc_id for hit in background.search(need("vibrationsmätning för förebyggande underhåll"))] == ["3"]
    assert "3" not in {hit.doc_id for hit in background.search(need("SMED och ställtid i pressen"), limit=100)}


# What answers teach (engine.Lesson) -------------------------------------------------------

PAINT = output("paint", "Pulverlackering med kortare härdning i ugnen sparar energi.", title="Snabbare pulverlack")


def asked(doc_id: str, text: str) -> Document:
    return Document(doc_id, "need", text[:40], text, (), "sv")


def scores(engine: Engine, query: Document) -> dict[str, float]:
    return {hit.doc_id: hit.score for hit in engine.search(query, limit=100)}


def test_a_not_useful_answer_lowers_the_output_for_needs_like_that_one_and_says_so():
    engine = outputs_index(SMED, ENERGY, PAINT)
    engine.teaching = (0.0, 0.25)
    unhelped = asked("n1", "Ställtiden i pressen är för lång, vi vill prova SMED.")
    before = scores(engine, unhelped)
    engine.teach("smed", Lesson(not_useful=(unhelped,)))
    after = engine.search(unhelped, limit=100)
    smed = next(hit for hit in after if hit.doc_id == "smed")
    assert smed.score < before["smed"]
    assert [r.explanation for r in smed.reasons if r.kind == "answers"] == [
        "Inte till nytta för ett företag: det som förde dit väger mindre för liknande behov."]
    assert scores(engine, asked("n2", "Läckor i tryckluften kostar energi."))["energy"] == pytest.approx(
        scores(outputs_index(SMED, ENERGY, PAINT), asked("n2", "Läckor i tryckluften kostar energi."))["energy"])


def test_a_useful_answer_lets_a_need_worded_like_it_find_the_output():
    engine = outputs_index(SMED, ENERGY, PAINT)
    engine.teaching = (0.75, 0.0)
    worded = asked("n1", "Lacken på våra detaljer flagnar, vi misstänker förbehandlingen.")
    assert "paint" not in scores(engine, worded)
    engine.teach("paint", Lesson(useful=(worded,)))
    similar = asked("n2", "Flagnar lacken? Förbehandlingen av detaljerna strular.")
    taught = next(hit for hit in engine.search(similar, limit=100) if hit.doc_id == "paint")
    [said] = [r.explanation for r in taught.reasons if r.kind == "answers"]
    assert said.startswith("Har varit till nytta för ett företag. Det delar med deras behov: ")
    assert "flagnar" in said


def test_what_a_lesson_adds_does_not_move_other_outputs_and_forgetting_it_undoes_it():
    untaught = outputs_index(SMED, ENERGY, PAINT)
    engine = outputs_index(SMED, ENERGY, PAINT)
    engine.teaching = (0.75, 0.5)
    helped = asked("n1", "Energin i tryckluften läcker, vi vill spara el i verkstaden och pressarna.")
    engine.teach("energy", Lesson(useful=(helped,), not_useful=(asked("n3", "SMED i pressar"),)))
    probe = asked("n2", "Omställningar i pressar och lackering")
    assert {k: v for k, v in scores(engine, probe).items() if k != "energy"} == pytest.approx(
        {k: v for k, v in scores(untaught, probe).items() if k != "energy"})
    engine.teach("energy", None)
    assert scores(engine, probe) == pytest.approx(scores(untaught, probe))
    assert engine.postings.keys() == untaught.postings.keys()


def test_a_taught_index_reweighed_from_scratch_scores_as_the_incremental_one():
    from services.matching.engine import postings_for

    engine = outputs_index(SMED, ENERGY, PAINT)
    engine.teaching = (0.75, 0.5)
    engine.teach("paint", Lesson(useful=(asked("n1", "Lacken flagnar efter förbehandlingen"),)))
    probe = asked("n2", "flagnar lacken i ugnen")
    incremental = scores(engine, probe)
    engine.install(dict(engine.entries), postings_for(dict(engine.entries)))
    assert scores(engine, probe) == pytest.approx(incremental)


def test_an_output_often_answered_not_useful_is_less_likely_for_the_next_need_and_says_why():
    engine = outputs_index(SMED, ENERGY, PAINT)
    probe = asked("n9", "Ställtiden i pressen, SMED och omställning")
    before = next(hit for hit in engine.search(probe, limit=100) if hit.doc_id == "smed")
    record = tuple((0.7, False) for _ in range(6))
    engine.teach("smed", Lesson(not_useful=(asked("n1", "Lackering"),), record=record))
    after = next(hit for hit in engine.search(probe, limit=100) if hit.doc_id == "smed")
    assert after.evidence.record < 0 and after.probability < before.probability
    [proposed_or_not] = [hit for hit in engine.propose(probe, limit=10)[0] + engine.propose(probe, limit=10)[1]
                         if hit.doc_id == "smed"]
    assert "svaren om resultatet sänker chansen från" in proposed_or_not.reasons[-1].explanation
    engine.record_prior = None
    assert next(hit for hit in engine.search(probe, limit=100) if hit.doc_id == "smed").evidence.record == 0.0


def test_with_the_words_left_as_written_a_not_useful_answer_is_told_without_claiming_more():
    engine = Engine(teaching=(0.0, 0.0))
    engine.add_all([SMED, ENERGY, PAINT])  # weighed at the index's size, as a re-posted output is
    unhelped = asked("n1", "Ställtiden i pressen är för lång, vi vill prova SMED.")
    before = scores(engine, unhelped)
    engine.teach("smed", Lesson(not_useful=(unhelped,)))
    smed = next(hit for hit in engine.search(unhelped, limit=100) if hit.doc_id == "smed")
    assert smed.score == pytest.approx(before["smed"])
    assert [r.explanation for r in smed.reasons if r.kind == "answers"] == ["Inte till nytta för ett företag."]
