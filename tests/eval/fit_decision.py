"""Fit the matcher's decision to propose (services/matching/decision.py) on the TUNING sets
only: the repository's labelled set as written, once more with every need's keywords and
strength areas removed, the way companies write, the informal tuning set
(tests/data/matching-informal) and the alike tuning set (tests/data/matching-alike-tuning,
another writer's). The reporting sets (independent, alike) are never read here.

    make fit-matching            # cross-validated sweeps, then writes decision_model.json
    python -m tests.eval.fit_decision --check   # fails if the committed models are not what this fits

Two models: "meaning", for pairs whose need and output both have a vector, and "words",
for an engine without them. The examples are each need's candidates: its ten best in
words and, for the meaning model, its five nearest in meaning; a pair is labelled useful
when graded 2 or 3 (an unjudged pair counts as 0). Each sweep estimates what each
minimum probability would give on needs the model was not fitted on, and on the informal
and alike sets on needs by a writer it was not fitted on: each is weighed whole by a
model fitted on the other sets. The reporting sets are each by a writer of their own,
and folds that mix a writer's needs into training and test promised those two sets more
coverage and precision than a model that never saw their writer gave them. The
repository's set is held out in five folds over its needs (a need and its stripped twin
in the same fold): it alone has needs described with keywords and strength areas.

The meaning model has two minimums: one for every pair, and a lower one for the output
nearest to the need in meaning, swept together. A probability is calibrated over all of
a need's candidates, and the need's own best candidates are far more often its answer
than others of the same chance: on the informal tuning set, more than half of the needs
that had an answer and got nothing under one bar had it as their most probable
candidate.
"""

from __future__ import annotations

import argparse
import json
import random
import sys

from services.matching import decision, engine
from tests.eval import metrics
from tests.eval.embeddings import with_vectors
from tests.eval.eval_matching import ALIKE_TUNING, DATA, INFORMAL, EvaluationSet, load, stripped

WORD_CANDIDATES = 10
SWEEP = [round(0.30 + 0.05 * i, 2) for i in range(12)]
# The minimum for a need's nearest output in meaning, at most the general one.
NEAREST_SWEEP = [round(0.05 + 0.05 * i, 2) for i in range(17)]
FOLDS = 5
SEED = 2030
PRECISION_FLOOR = 0.8
TUNING_SETS = ("as written", "stripped", "informal", "alike")
Example = tuple[str, str, decision.Evidence, bool]  # need id, output id, evidence, useful


def examples(data: EvaluationSet, kind: str) -> list[Example]:
    index = engine.Engine(judge=lambda evidence: 0.0)  # candidates, not ranked by a model being fitted
    outputs = [engine.output_document(str(output.output_id), output) for output in data.outputs]
    needs = [engine.need_document(str(need.need_id), need) for need in data.needs]
    if kind == "meaning":
        outputs, needs = with_vectors(outputs), with_vectors(needs)
    index.add_all(outputs)
    found = []
    for need in needs:
        hits = index.search(need, limit=engine.CANDIDATES + engine.MEANING_CANDIDATES)
        in_words = sorted((hit for hit in hits if hit.score > 0), key=lambda hit: (-hit.score, hit.doc_id))
        chosen = {hit.doc_id: hit for hit in in_words[:WORD_CANDIDATES]}
        if kind == "meaning":
            chosen |= {hit.doc_id: hit for hit in hits if hit.evidence.meaning is not None and _nearest(hit, hits)}
        for hit in chosen.values():
            useful = data.judgements[need.doc_id].get(hit.doc_id, 0) >= metrics.RELEVANT
            found.append((need.doc_id, hit.doc_id, hit.evidence, useful))
    return found


def _nearest(hit: engine.Hit, hits: list[engine.Hit]) -> bool:
    """Among the query's MEANING_CANDIDATES nearest in meaning."""
    nearer = sum(1 for other in hits if (other.evidence.meaning or -1) > (hit.evidence.meaning or -1))
    return nearer < engine.MEANING_CANDIDATES


Minimums = tuple[float, float]  # (for every pair, for a need's nearest output in meaning)


def folds(repository: EvaluationSet, others: list[EvaluationSet]) -> list[set[str]]:
    """Needs held out together: every other writer's set whole, so that it is weighed by a
    model that never saw its writer; the repository's set (with its stripped twin, which
    shares its ids) in five folds over its needs, since it alone has needs described
    with keywords and strength areas, which a model must have seen to weigh."""
    ids = sorted(str(need.need_id) for need in repository.needs)
    random.Random(SEED).shuffle(ids)
    return [set(ids[i::FOLDS]) for i in range(FOLDS)] + [{str(need.need_id) for need in data.needs} for data in others]


def sweep(
    sets: list[tuple[EvaluationSet, list[Example]]], kind: str, folds: list[set[str]]
) -> dict[Minimums, list[tuple[float, float, float]]]:
    """{(minimum probability, minimum for the nearest in meaning): [(coverage, silence,
    precision) per set]}, each fold of needs weighed by a model fitted without it. Words
    alone know no nearest in meaning."""
    held_out: dict[tuple[int, str, str], float] = {}
    for fold in folds:
        model = decision.fit([(e, useful) for _, found in sets for n, _, e, useful in found if n not in fold])
        for s, (_, found) in enumerate(sets):
            for need_id, output_id, evidence, _ in found:
                if need_id in fold:
                    held_out[s, need_id, output_id] = model.probability(evidence)
    results = {}
    pairs = [(m, n) for m in SWEEP for n in NEAREST_SWEEP if n <= m] if kind == "meaning" else [(m, m) for m in SWEEP]
    for minimum, nearest_minimum in pairs:
        per_set = []
        for s, (data, found) in enumerate(sets):
            proposals: dict[str, list[str]] = {str(need.need_id): [] for need in data.needs}
            for need_id, output_id, evidence, _ in found:
                if held_out[s, need_id, output_id] >= (nearest_minimum if evidence.nearest_in_meaning else minimum):
                    proposals[need_id].append(output_id)
            matched = {need_id: bool(p) for need_id, p in proposals.items()}
            per_set.append((
                metrics.coverage(matched, data.judgements),
                metrics.no_answer_accuracy(matched, data.judgements),
                metrics.precision_of_proposals(proposals, data.judgements),
            ))
        results[minimum, nearest_minimum] = per_set
    return results


def choose(swept: dict[Minimums, list[tuple[float, float, float]]], floor: float = PRECISION_FLOOR) -> Minimums:
    """Of the minimum probabilities that keep the precision of proposals at `floor` or
    more on every set, the one with the best coverage on the set it covers least, then
    the best silence: a company that hears nothing is the costliest mistake (issue 15),
    so coverage comes before silence on needs without an answer. When none keeps the
    floor everywhere, the one that comes nearest to it on the set it does worst on."""
    fine = [m for m, per_set in swept.items() if all(p >= floor for _, _, p in per_set)]
    if not fine:
        return max(swept, key=lambda m: (min(p for _, _, p in swept[m]), -m[0], -m[1]))
    return max(fine, key=lambda m: (min(c for c, _, _ in swept[m]), min(s for _, s, _ in swept[m]),
                                    min(p for _, _, p in swept[m])))


def fitted() -> tuple[dict[str, decision.Model], dict[str, dict[Minimums, list[tuple[float, float, float]]]]]:
    tuning = load(DATA)
    data_sets = [tuning, stripped(tuning), load(INFORMAL), load(ALIKE_TUNING)]  # as TUNING_SETS names them
    models, sweeps = {}, {}
    for kind in decision.KINDS:
        sets = [(data, examples(data, kind)) for data in data_sets]
        sweeps[kind] = sweep(sets, kind, folds(tuning, data_sets[2:]))
        minimum, nearest_minimum = choose(sweeps[kind])
        models[kind] = decision.fit(
            [(e, useful) for _, found in sets for _, _, e, useful in found], min_probability=minimum,
            min_probability_nearest=nearest_minimum if kind == "meaning" else None,
        )
    return models, sweeps


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--check", action="store_true", help="compare with the committed models instead of writing them")
    args = parser.parse_args()
    models, sweeps = fitted()
    text = json.dumps({kind: model.to_json(kind) for kind, model in models.items()}, indent=2) + "\n"
    if args.check:
        if decision.MODEL_FILE.read_text() != text:
            print(f"{decision.MODEL_FILE} is not what the tuning sets fit: run `make fit-matching`", file=sys.stderr)
            return 1
        print(f"{decision.MODEL_FILE.name} is what the tuning sets fit")
        return 0
    for kind, swept in sweeps.items():
        model = models[kind]
        chosen = (model.min_probability, model.min_probability_nearest or model.min_probability)
        print(f"\nmodel '{kind}', cross-validated on the tuning sets ({' | '.join(TUNING_SETS)}); the minimum for")
        print("every pair, and for a need's nearest output in meaning; shown: one minimum for all, and the pairs")
        print(f"of minimums that keep precision at {PRECISION_FLOOR:.0%} or more on every set:")
        print("min p  nearest  " + "  |  ".join(["coverage  silence  precision"] * len(TUNING_SETS)))
        for (minimum, nearest_minimum), per_set in swept.items():
            if nearest_minimum != minimum and any(p < PRECISION_FLOOR for _, _, p in per_set):
                continue
            cells = "  |  ".join(f"{c:8.3f} {s:8.3f} {p:10.3f}" for c, s, p in per_set)
            mark = "  <- chosen" if (minimum, nearest_minimum) == chosen else ""
            print(f"{minimum:5.2f}  {nearest_minimum:7.2f}  {cells}{mark}")
    decision.MODEL_FILE.write_text(text)
    print(f"\nwrote {decision.MODEL_FILE}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
