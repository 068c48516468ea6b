"""The matching evaluation's measures, on small cases worked out by hand."""

import math

import pytest

from tests.eval import metrics

# log2(3) ≈ 1.5849625, so the discount at position 2 is ≈ 0.6309298; at 3 it is 1/2.
D2 = 1 / math.log2(3)


def test_ndcg_uses_exponential_gains_and_an_ideal_from_every_judged_grade():
    # judged 3, 2, 1 (d is never retrieved); the system ranks a (1), b (3), x (unjudged).
    judged = {"a": 1, "b": 3, "d": 2}
    # DCG  = (2^1−1)/1 + (2^3−1)·D2 + 0        = 1 + 7·0.63093      = 5.41651
    # IDCG = 7/1 + (2^2−1)·D2 + (2^1−1)/2       = 7 + 1.89279 + 0.5  = 9.39279
    assert metrics.ndcg_at_k(["a", "b", "x"], judged, k=10) == pytest.approx(5.41651 / 9.39279, abs=1e-5)
    assert metrics.ndcg_at_k(["a", "b", "x"], judged, k=10) == pytest.approx(0.57667, abs=1e-5)


def test_ndcg_cuts_both_the_ranking_and_the_ideal_at_k():
    judged = {"a": 3, "b": 3, "c": 3}
    # top 2 = a, x: DCG = 7; ideal top 2 = 3, 3: IDCG = 7 + 7·D2 = 11.41651
    assert metrics.ndcg_at_k(["a", "x", "b"], judged, k=2) == pytest.approx(7 / 11.41651, abs=1e-5)
    # at k = 3 b counts, with discount 1/2: (7 + 0 + 3.5) / (7 + 7·D2 + 3.5)
    assert metrics.ndcg_at_k(["a", "x", "b"], judged, k=3) == pytest.approx(10.5 / 14.91651, abs=1e-5)


def test_ndcg_of_the_ideal_order_is_one_and_of_nothing_useful_is_zero():
    judged = {"a": 3, "b": 2, "c": 0}
    assert metrics.ndcg_at_k(["a", "b", "c"], judged) == pytest.approx(1.0)
    assert metrics.ndcg_at_k(["c", "x", "y"], judged) == 0.0
    assert metrics.ndcg_at_k([], judged) == 0.0


def test_a_repeated_output_earns_its_gain_once():
    judged = {"a": 3, "b": 3}
    # a, a, b counts as a, b: the ideal order
    assert metrics.ndcg_at_k(["a", "a", "b"], judged) == pytest.approx(1.0)
    assert metrics.ndcg_at_k(["a", "a"], judged) == pytest.approx(7 / (7 + 7 * D2), abs=1e-9)


def test_reciprocal_rank_needs_grade_two_or_more():
    judged = {"a": 1, "b": 0, "c": 2, "d": 3}
    assert metrics.reciprocal_rank(["a", "b", "c", "d"], judged) == pytest.approx(1 / 3)
    assert metrics.reciprocal_rank(["d", "c"], judged) == 1.0
    assert metrics.reciprocal_rank(["a", "b", "x"], judged) == 0.0


def test_recall_counts_the_share_of_grade_two_or_more_in_the_top_k():
    judged = {"b": 3, "d": 2, "e": 2, "a": 1}
    ranking = ["b", "a", "d", "x"]
    assert metrics.recall_at_k(ranking, judged, k=2) == pytest.approx(1 / 3)
    assert metrics.recall_at_k(ranking, judged, k=3) == pytest.approx(2 / 3)
    assert metrics.recall_at_k(["a"], {"a": 1}, k=10) == 0.0  # nothing to recall


def test_no_answer_accuracy_counts_only_needs_without_a_grade_two():
    judgements = {
        "n1": {"a": 1},  # no answer, proposed nothing: right
        "n2": {"a": 0},  # no answer, proposed something: wrong
        "n3": {},  # no answer, proposed nothing: right
        "n4": {"a": 1, "b": 0},  # no answer, not reported at all: counts as wrong
        "y1": {"a": 2},  # has an answer: ignored whatever was proposed
    }
    matched = {"n1": False, "n2": True, "n3": False, "y1": False}
    assert metrics.no_answer_accuracy(matched, judgements) == pytest.approx(2 / 4)
    assert math.isnan(metrics.no_answer_accuracy({}, {"y1": {"a": 3}}))


def test_zeros_in_top_counts_judged_zeros_only():
    judgements = {"n1": {"t": 0, "a": 3}, "n2": {"t": 0, "u": 0}}
    rankings = {"n1": ["a", "t", "x"], "n2": ["x", "y", "z", "w", "v", "t"]}  # n2's t is 6th
    assert metrics.zeros_in_top(rankings, judgements, k=5) == 1
    assert metrics.zeros_in_top(rankings, judgements, k=6) == 2


def test_summarise_averages_ranking_measures_over_needs_with_an_answer():
    judgements = {
        "y1": {"a": 3},
        "y2": {"b": 2, "c": 3},
        "n1": {"a": 1},
    }
    rankings = {"y1": ["a"], "y2": ["x", "b"], "n1": ["a"]}
    matched = {"y1": True, "y2": True, "n1": True}
    summary = metrics.summarise(rankings, matched, judgements, k=10)
    # y1: nDCG 1, RR 1, recall 1. y2: DCG = 3·D2, IDCG = 7 + 3·D2; RR 1/2; recall 1/2.
    ndcg_y2 = (3 * D2) / (7 + 3 * D2)
    assert summary.ndcg == pytest.approx((1 + ndcg_y2) / 2)
    assert summary.ndcg == pytest.approx((1 + 0.21285) / 2, abs=1e-5)
    assert summary.mrr == pytest.approx(0.75)
    assert summary.recall == pytest.approx(0.75)
    assert summary.no_answer_accuracy == 0.0  # n1 got a match
    assert (summary.answered_needs, summary.no_answer_needs) == (2, 1)


def test_summarise_over_a_subset_and_a_need_without_ranking():
    judgements = {"y1": {"a": 3}, "y2": {"b": 3}}
    summary = metrics.summarise({"y1": ["a"]}, {}, judgements, needs=["y2"])
    assert summary.ndcg == 0.0 and summary.answered_needs == 1
    assert math.isnan(summary.no_answer_accuracy)


def test_coverage_counts_needs_with_an_answer_that_got_any_proposal():
    judgements = {"a": {"x": 3}, "b": {"y": 2}, "c": {"z": 1}, "d": {}}
    matched = {"a": True, "b": False, "c": True, "d": True}
    assert metrics.coverage(matched, judgements) == 0.5  # c and d have no answer: not counted
    assert math.isnan(metrics.coverage(matched, {"c": {"z": 1}}))


def test_precision_of_proposals_is_the_share_of_proposed_pairs_graded_at_least_two():
    judgements = {"a": {"x": 3, "y": 1}, "b": {"z": 2}}
    proposals = {"a": ["x", "y", "x"], "b": ["z", "w"], "c": []}
    assert metrics.precision_of_proposals(proposals, judgements) == 2 / 4
    assert math.isnan(metrics.precision_of_proposals({"a": []}, judgements))
