from services.matching import lexical


def profile(text, areas=(), trl=None):
    return lexical.Profile(text, frozenset(areas), trl)


def test_shared_jargon_scores_and_is_explained_in_words():
    need = profile("Långa ställtider vid omställning av pressen", ["P2"], 4)
    output = profile("Metod för kortare ställtider: SMED och omställning i pressar", ["P2"], 6)
    scored = lexical.score(need, output)

    assert scored.value > 0.3
    kinds = [r.kind for r in scored.reasons]
    assert kinds == ["shared-terms", "strength-area", "trl"]
    assert "ställtider" in scored.reasons[0].explanation


def test_nothing_shared_means_no_score():
    assert lexical.score(profile("ergonomi vid montering"), profile("tryckluft läckage energi")).value == 0


def test_an_output_below_the_wanted_trl_ranks_lower():
    need_text = "digital tvilling för simulering av flöde"
    mature = lexical.score(profile(need_text, trl=6), profile(need_text, trl=7))
    immature = lexical.score(profile(need_text, trl=6), profile(need_text, trl=3))
    assert immature.value < mature.value
    assert "lägre" in immature.reasons[-1].explanation


def test_stopwords_do_not_match():
    assert lexical.terms("och att det företag behöver") == []


def test_best_keeps_the_top_above_threshold():
    s = lambda v: lexical.Score(v, ())  # noqa: E731
    kept = lexical.best([("a", s(0.1)), ("b", s(0.9)), ("c", s(0.5)), ("d", s(0.6))], threshold=0.2, limit=2)
    assert [key for key, _ in kept] == ["b", "d"]
