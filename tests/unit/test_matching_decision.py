"""The decision to propose: a calibrated chance from the evidence a pair shares (in words,
and in meaning when both sides have a vector), fitted on the tuning sets alone, and said
in words."""

import math
import random

import pytest

from services.matching import decision
from services.matching.decision import Evidence, decide, fit
from tests.eval import fit_decision


def evidence(**changes) -> Evidence:
    fields = dict(score=0.45, need_share=0.6, shared_concepts=3, shared_terms=4, same_area=True, below_trl=False,
                  need_described=False, need_size=20)
    return Evidence(**fields | changes)


def test_much_shared_evidence_is_proposed_and_a_lone_word_is_held_back_with_why():
    strong = decide(evidence())
    weak = decide(evidence(score=0.12, need_share=0.05, shared_concepts=0, shared_terms=1, same_area=False))
    assert strong.propose and strong.probability > weak.probability and not weak.propose
    assert strong.why.startswith("Bedömd chans att förslaget är till nytta") and "3 begrepp" in strong.why
    minimum = decision.fitted_models()["words"].min_probability
    assert weak.why.startswith("Hölls tillbaka") and f"{minimum:.0%}" in weak.why


def test_a_pair_near_in_meaning_is_weighed_by_the_meaning_model_and_says_so():
    near = decide(evidence(score=0.15, need_share=0.2, shared_concepts=0, shared_terms=2, same_area=False,
                           meaning=0.9, nearest_in_meaning=True, meaning_margin=0.0))
    far = decide(evidence(score=0.15, need_share=0.2, shared_concepts=0, shared_terms=2, same_area=False,
                          meaning=0.75, nearest_in_meaning=False, meaning_margin=-0.12))
    assert near.probability > far.probability
    assert "likhet i innebörd 0.90" in near.why
    assert evidence(meaning=0.8).kind == "meaning" and evidence().kind == "words"


def test_the_same_score_means_less_for_a_need_written_with_keywords():
    """Keywords raise every score of a need; the decision reads its score accordingly."""
    plain = decide(evidence(score=0.3, need_described=False)).probability
    described = decide(evidence(score=0.3, need_described=True)).probability
    assert described < plain


def test_an_output_less_mature_than_asked_counts_against_it():
    assert decide(evidence(below_trl=True)).probability < decide(evidence()).probability


def test_fitting_recovers_a_known_relationship():
    rng = random.Random(5)
    examples = []
    for _ in range(3000):
        e = evidence(score=rng.random(), need_share=rng.random(), shared_concepts=rng.randint(0, 5))
        true_z = -3 + 6 * e.score  # usefulness follows the score alone
        examples.append((e, rng.random() < 1 / (1 + math.exp(-true_z))))
    model = fit(examples, l2=1e-3)  # a constant feature needs some penalty to stay solvable
    weights = dict(zip(decision.FEATURE_NAMES["words"], model.weights))
    assert abs(weights["score"] / model.scales[0] - 6) < 1.0  # back on the raw scale
    assert abs(weights["need_share"]) < 0.15 and abs(weights["log1p_shared_concepts"]) < 0.15


def test_the_committed_model_is_what_the_tuning_set_fits():
    assert _run_check() == 0, "services/matching/decision_model.json drifted: run `make fit-matching`"


def _run_check() -> int:
    import sys

    argv, sys.argv = sys.argv, ["fit_decision", "--check"]
    try:
        return fit_decision.main()
    finally:
        sys.argv = argv


def test_the_need_s_nearest_in_meaning_is_proposed_from_a_lower_chance_and_says_why():
    model = decision.fitted_models()["meaning"]
    assert model.min_probability_nearest < model.min_probability
    between = (model.min_probability_nearest + model.min_probability) / 2
    # Evidence whose chance lies between the two minimums, found by moving the cosine.
    pairs = [evidence(score=0.1, need_share=0.1, shared_concepts=0, shared_terms=1, same_area=False,
                      meaning=m / 100, nearest_in_meaning=True) for m in range(70, 100)]
    nearest = min(pairs, key=lambda e: abs(model.probability(e) - between))
    assert model.min_probability_nearest <= model.probability(nearest) < model.min_probability
    other = Evidence(**{**nearest.__dict__, "nearest_in_meaning": False, "meaning_margin": -0.05})
    proposed, held = decide(nearest), decide(other)
    assert proposed.propose and "närmast behovet i innebörd" in proposed.why
    assert model.probability(other) < model.min_probability and not held.propose
    assert f"{model.min_probability:.0%}" in held.why
    assert not decide(nearest, min_probability=model.min_probability).propose  # the setting overrides both
    # A setting below both chances proposes both, and the nearest is not said to have
    # come in under its own bar: the setting is the one bar for every pair.
    low = min(model.probability(other), model.probability(nearest)) - 0.01
    assert decide(other, min_probability=low).propose
    overridden = decide(nearest, min_probability=low)
    assert overridden.propose and "närmast behovet" not in overridden.why


def test_the_nearest_output_s_lead_is_said_when_it_says_something():
    base = dict(score=0.2, need_share=0.3, shared_concepts=1, shared_terms=2, same_area=False, meaning=0.86,
                nearest_in_meaning=True)
    assert "0.03 närmare än nästa forskningsresultat" in decide(evidence(**base, meaning_lead=0.031)).why
    assert "närmare än nästa" not in decide(evidence(**base, meaning_lead=0.002)).why
    a_lead, none = decide(evidence(**base, meaning_lead=0.05)), decide(evidence(**base, meaning_lead=0.0))
    assert a_lead.probability > none.probability  # the clearer the nearest, the likelier it answers
    capped = decision.fitted_models()["meaning"].probability(evidence(**base, meaning_lead=0.5))
    assert capped == decision.fitted_models()["meaning"].probability(evidence(**base, meaning_lead=decision.LEAD_CAP))


# An output's track record (decision.track_record) ---------------------------------------


def test_an_output_whose_proposals_fared_as_their_chances_said_keeps_its_chances():
    fair = [(0.5, True), (0.5, False)] * 5
    assert decision.track_record(fair, prior=2.0) == pytest.approx(0.0, abs=1e-9)
    assert decision.track_record([], prior=2.0) == 0.0


def test_more_useful_than_said_raises_it_less_useful_lowers_it_and_more_answers_move_it_further():
    better = decision.track_record([(0.6, True)] * 4, prior=2.0)
    worse = decision.track_record([(0.6, False)] * 4, prior=2.0)
    assert better > 0 > worse
    assert decision.track_record([(0.6, False)] * 12, prior=2.0) < worse
    assert abs(decision.track_record([(0.6, False)] * 4, prior=8.0)) < abs(worse)  # a firmer prior holds it nearer 0


def test_the_record_moves_the_chance_and_says_from_what():
    plain = decide(evidence())
    doubted = decide(evidence(record=-1.5))
    assert doubted.probability < plain.probability
    assert decision.chance_from_evidence(evidence(record=-1.5)) == pytest.approx(plain.probability)
    assert f"sänker chansen från {plain.probability:.0%}" in doubted.why
    assert "svar" not in plain.why
