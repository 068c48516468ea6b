"""The compiled postings (services/matching/postings.py) answer exactly as the plain sum
over the dicts would: the same leaders, the same sums to the last bit, ties broken by id,
through every change an index goes through (documents added, changed, removed)."""

from __future__ import annotations

import random
from collections import defaultdict

import pytest

from services.matching.postings import Postings


def plain_leaders(by_feature: dict[str, dict[str, float]], query: dict[str, float], count: int) -> dict[str, float]:
    """The specification: each document's sum of products, in the query's order; the
    highest `count`, highest first, ties by id."""
    sums: dict[str, float] = defaultdict(float)
    for feature, query_weight in query.items():
        for doc_id, weight in by_feature.get(feature, {}).items():
            sums[doc_id] += query_weight * weight
    return dict(sorted(sums.items(), key=lambda item: (-item[1], item[0]))[:count])


def random_index(rng: random.Random, documents: int, features: int) -> dict[str, dict[str, float]]:
    by_feature: dict[str, dict[str, float]] = defaultdict(dict)
    for d in range(documents):
        for f in rng.sample(range(features), rng.randint(1, 12)):
            by_feature[f"t:{f}"][f"doc-{d}"] = rng.random()
    return by_feature


@pytest.mark.parametrize("seed", range(5))
def test_the_same_leaders_and_sums_as_the_plain_sum_through_changes(seed):
    rng = random.Random(seed)
    plain = random_index(rng, 2000, 300)
    postings = Postings({feature: dict(documents) for feature, documents in plain.items()})  # its own copy
    for round_ in range(30):
        query = {f"t:{f}": rng.random() for f in rng.sample(range(310), rng.randint(1, 25))}  # some unknown
        count = rng.choice([1, 5, 50, 5000])
        leaders, sums = postings.leaders(query, count)
        expected = plain_leaders(plain, query, count)
        assert list(leaders.items()) == list(expected.items())  # exact: the same float64 arithmetic, in order
        some = rng.choice(list(expected)) if expected else "doc-0"
        assert postings.dot(sums, some) == expected.get(some, plain_leaders(plain, query, 10**6).get(some, 0.0))
        # The index changes between searches: a document added, re-weighted, removed.
        doc = f"doc-{rng.randrange(2100)}"
        for feature in rng.sample(sorted(plain), 3):
            if rng.random() < 0.5:
                weight = rng.random()
                plain[feature][doc] = weight
                postings.set(feature, doc, weight)
            else:
                plain[feature].pop(doc, None)
                postings.discard(feature, doc)
        assert {f: d for f, d in plain.items() if d} == dict(postings.items())


def test_ties_at_the_cut_are_broken_by_id_and_an_unseen_document_sums_to_nothing():
    postings = Postings({"t:a": {"b": 1.0, "a": 1.0, "c": 1.0, "d": 0.5}})
    leaders, sums = postings.leaders({"t:a": 1.0}, 2)
    assert list(leaders) == ["a", "b"]
    assert postings.dot(sums, "d") == 0.5 and postings.dot(sums, "never-indexed") == 0.0
    assert postings.leaders({"t:none": 1.0}, 5)[0] == {}


def test_a_document_whose_sum_is_zero_is_still_a_leader_as_in_the_plain_sum():
    postings = Postings({"t:a": {"zero": 0.0, "one": 1.0}})
    assert list(postings.leaders({"t:a": 1.0}, 5)[0].items()) == [("one", 1.0), ("zero", 0.0)]
