"""Ranking and white-spot measures for the matching evaluation. Pure functions, no I/O.

Conventions (tests/data/matching/README.md):

- `judged` maps output id → grade 0–3 for one need; an output missing from it is grade 0.
- An output is *relevant* when its grade is at least `RELEVANT` (2: "clearly useful").
- A need *has an answer* when at least one of its outputs is relevant; the ranking
  measures are averaged over those needs only. The others are *no-answer needs*, and for
  them the only question is whether the system proposed anything above its threshold.
- A ranking is a list of output ids, best first. An id repeated further down is ignored,
  so a system cannot earn the same output's gain twice.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

RELEVANT = 2


def gain(grade: int) -> float:
    """Graded gain: 2^grade − 1 (3 → 7, 2 → 3, 1 → 1, 0 → 0)."""
    return float(2**grade - 1)


def discount(position: int) -> float:
    """Discount of the result at 1-based `position`: 1 / log2(position + 1)."""
    return 1.0 / math.log2(position + 1)


def _unique(ranking: Iterable[str]) -> list[str]:
    seen: set[str] = set()
    kept = []
    for doc_id in ranking:
        if doc_id not in seen:
            seen.add(doc_id)
            kept.append(doc_id)
    return kept


def dcg(grades: Sequence[int], k: int) -> float:
    """Discounted cumulative gain of grades listed in rank order, cut at k."""
    return sum(gain(grade) * discount(position) for position, grade in enumerate(grades[:k], start=1))


def ndcg_at_k(ranking: Sequence[str], judged: Mapping[str, int], k: int = 10) -> float:
    """nDCG@k. The ideal ranking is every judged grade of the need, highest first, cut at
    k; when the need has no positive grade at all there is nothing to find and the
    result is 0.0 (callers only average it over needs that have an answer)."""
    ideal = dcg(sorted(judged.values(), reverse=True), k)
    if ideal == 0:
        return 0.0
    return dcg([judged.get(doc_id, 0) for doc_id in _unique(ranking)], k) / ideal


def reciprocal_rank(ranking: Sequence[str], judged: Mapping[str, int], relevant: int = RELEVANT) -> float:
    """1 / position of the first result graded ≥ `relevant`; 0.0 when none is in the ranking."""
    for position, doc_id in enumerate(_unique(ranking), start=1):
        if judged.get(doc_id, 0) >= relevant:
            return 1.0 / position
    return 0.0


def recall_at_k(ranking: Sequence[str], judged: Mapping[str, int], k: int = 10, relevant: int = RELEVANT) -> float:
    """Share of the need's outputs graded ≥ `relevant` that are in the top k (0.0 when
    it has none)."""
    wanted = {doc_id for doc_id, grade in judged.items() if grade >= relevant}
    if not wanted:
        return 0.0
    return len(wanted & set(_unique(ranking)[:k])) / len(wanted)


def has_answer(judged: Mapping[str, int], relevant: int = RELEVANT) -> bool:
    return any(grade >= relevant for grade in judged.values())


def no_answer_accuracy(matched: Mapping[str, bool], judgements: Mapping[str, Mapping[str, int]]) -> float:
    """Share of the no-answer needs for which the system proposed nothing above its
    threshold. `matched`: need id → whether the system proposed at least one output
    above its threshold. Needs with an answer are ignored; a no-answer need missing
    from `matched` counts as matched (proposed something), i.e. as a failure. NaN when
    there is no no-answer need."""
    no_answer = [need_id for need_id in judgements if not has_answer(judgements[need_id])]
    if not no_answer:
        return math.nan
    return sum(1 for need_id in no_answer if matched.get(need_id) is False) / len(no_answer)


def coverage(matched: Mapping[str, bool], judgements: Mapping[str, Mapping[str, int]]) -> float:
    """Share of the needs with an answer for which the system proposed at least one
    output (any: a wrong one counts here, and against precision). NaN when none has an
    answer."""
    answered = [need_id for need_id in judgements if has_answer(judgements[need_id])]
    if not answered:
        return math.nan
    return sum(1 for need_id in answered if matched.get(need_id)) / len(answered)


def precision_of_proposals(
    proposals: Mapping[str, Sequence[str]], judgements: Mapping[str, Mapping[str, int]], relevant: int = RELEVANT
) -> float:
    """Share of every (need, output) the system proposed that is graded ≥ `relevant`.
    NaN when it proposed nothing."""
    pairs = [(need_id, doc_id) for need_id, proposed in proposals.items() for doc_id in _unique(proposed)]
    if not pairs:
        return math.nan
    return sum(1 for need_id, doc_id in pairs if judgements.get(need_id, {}).get(doc_id, 0) >= relevant) / len(pairs)


def zeros_in_top(rankings: Mapping[str, Sequence[str]], judgements: Mapping[str, Mapping[str, int]], k: int = 5) -> int:
    """How many explicitly judged grade-0 pairs (the trap pairs and near-misses) appear in
    their need's top k."""
    count = 0
    for need_id, ranking in rankings.items():
        judged = judgements.get(need_id, {})
        count += sum(1 for doc_id in _unique(ranking)[:k] if doc_id in judged and judged[doc_id] == 0)
    return count


def _mean(values: Sequence[float]) -> float:
    return sum(values) / len(values) if values else math.nan


@dataclass(frozen=True)
class Summary:
    ndcg: float
    mrr: float
    recall: float
    no_answer_accuracy: float
    answered_needs: int  # needs with an answer that the ranking measures average over
    no_answer_needs: int


def summarise(
    rankings: Mapping[str, Sequence[str]],
    matched: Mapping[str, bool],
    judgements: Mapping[str, Mapping[str, int]],
    needs: Iterable[str] | None = None,
    k: int = 10,
) -> Summary:
    """The four headline measures over `needs` (default: every need in `judgements`; a
    need without judgements is a no-answer need). A need missing from `rankings` counts
    as an empty ranking. A measure with no need to average over is NaN."""
    need_ids = list(judgements if needs is None else needs)
    subset = {need_id: judgements.get(need_id, {}) for need_id in need_ids}
    answered = [need_id for need_id, judged in subset.items() if has_answer(judged)]
    return Summary(
        ndcg=_mean([ndcg_at_k(rankings.get(n, []), subset[n], k) for n in answered]),
        mrr=_mean([reciprocal_rank(rankings.get(n, []), subset[n]) for n in answered]),
        recall=_mean([recall_at_k(rankings.get(n, []), subset[n], k) for n in answered]),
        no_answer_accuracy=no_answer_accuracy(matched, subset),
        answered_needs=len(answered),
        no_answer_needs=len(subset) - len(answered),
    )
