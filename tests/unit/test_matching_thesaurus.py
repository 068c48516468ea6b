"""The thesaurus files (services/matching/thesaurus/): well formed, one concept per term
across both, and everyday words reaching the concepts a researcher's jargon names."""

from __future__ import annotations

import re
from collections import defaultdict

from services.matching import text
from services.matching.text import EVERYDAY_TERMS, THESAURUS, Thesaurus, analyse

LANGUAGES = {"sv", "no", "en", "mul"}


def _terms(path):
    return [(concept_id, language, term) for concept_id, terms in text.thesaurus_lines(path) for language, term in terms]


def test_every_line_of_both_files_is_well_formed():
    for path in (THESAURUS, EVERYDAY_TERMS):
        for concept_id, language, term in _terms(path):
            assert re.fullmatch(r"[a-z0-9_]+", concept_id), (path.name, concept_id)
            assert language in LANGUAGES, (path.name, concept_id, language)
            assert term.strip() == term and text.words(term), (path.name, concept_id, term)
            assert len(text.words(term)) <= text.MAX_PHRASE, (path.name, term)


def test_a_term_belongs_to_one_concept_across_both_files():
    concepts_of = defaultdict(set)
    for path in (THESAURUS, EVERYDAY_TERMS):
        for concept_id, _, term in _terms(path):
            concepts_of[term.casefold()].add(concept_id)
    shared = {term: ids for term, ids in concepts_of.items() if len(ids) > 1}
    assert not shared, shared


def test_everyday_words_only_add_phrases_to_the_jargon_s_concepts():
    jargon = {concept_id for concept_id, _ in text.thesaurus_lines(THESAURUS)}
    assert {concept_id for concept_id, _ in text.thesaurus_lines(EVERYDAY_TERMS)} <= jargon
    both = Thesaurus(THESAURUS, EVERYDAY_TERMS)
    alone = Thesaurus(THESAURUS)
    assert both.concepts == alone.concepts  # labels come from the jargon
    assert len(both.phrases) > len(alone.phrases)


def test_a_company_s_everyday_words_reach_the_concept_a_researcher_names():
    thesaurus = text.default_thesaurus()
    said = analyse([("Det tar en evighet att ställa om pressen och maskinerna står still", 1.0)], "sv", thesaurus)
    written = analyse([("SMED-metodik för kortare ställtider och mindre stillestånd", 1.0)], "sv", thesaurus)
    alone = analyse([("Det tar en evighet att ställa om pressen och maskinerna står still", 1.0)], "sv",
                    Thesaurus(THESAURUS))
    shared = {f for f in said.features if f.startswith("c:")} & {f for f in written.features if f.startswith("c:")}
    assert "c:changeover" in shared
    assert "c:changeover" not in alone.features  # the jargon alone does not know how it is said


def test_every_everyday_term_turns_into_its_own_concept():
    """A term whose stems another concept's term already has is lost to it (the stemmer
    makes Swedish *stansa* the Norwegian *stans*, a stop)."""
    thesaurus = text.default_thesaurus()
    stemmers = {"mul": tuple(text.STEMMERS)}
    lost = []
    for concept_id, language, term in _terms(EVERYDAY_TERMS):
        for stem_language in stemmers.get(language, (language,)):
            key = tuple(text.stem(w, stem_language) for w in text.words(term))
            if thesaurus.phrases.get(key) != concept_id:
                lost.append((term, concept_id, thesaurus.phrases.get(key)))
    assert not lost, lost
