"""Fit the matcher's decision to propose (services/matching/decision.py) on the TUNING set
only: the repository's labelled set as written, and once more with every need's keywords
and strength areas removed, the way companies write. The independent set is never read
here.

    make fit-matching            # cross-validated sweep, then writes decision_model.json
    python -m tests.eval.fit_decision --check   # fails if the committed model is not what this fits

The examples are the engine's ten best candidates for each need, labelled useful when the
pair is graded 2 or 3 (an unjudged pair counts as 0). The sweep estimates, by five-fold
cross-validation over needs (a need and its stripped twin always in the same fold), what
each minimum probability would give on needs the model was not fitted on.
"""

from __future__ import annotations

import argparse
import json
import random
import sys

from services.matching import decision, engine
from tests.eval import metrics
from tests.eval.eval_matching import DATA, EvaluationSet, load, stripped

CANDIDATES = 10
FOLDS = 5
SEED = 2030
SWEEP = [round(0.30 + 0.05 * i, 2) for i in range(12)]
Example = tuple[str, str, decision.Evidence, bool]  # need id, output id, evidence, useful


def examples(data: EvaluationSet) -> list[Example]:
    index = engine.Engine()
    for output in data.outputs:
        index.add(engine.output_document(str(output.output_id), output))
    found = []
    for need in data.needs:
        need_id = str(need.need_id)
        for hit in index.search(engine.need_document(need_id, need), limit=CANDIDATES, threshold=0.0):
            if hit.score > 0:
                useful = data.judgements[need_id].get(hit.doc_id, 0) >= metrics.RELEVANT
                found.append((need_id, hit.doc_id, hit.evidence, useful))
    return found


def sweep(sets: list[tuple[EvaluationSet, list[Example]]]) -> dict[float, list[tuple[float, float, float]]]:
    """{minimum probability: [(coverage, silence, precision) per set]}, cross-validated."""
    need_ids = sorted({need_id for _, found in sets for need_id, *_ in found})
    random.Random(SEED).shuffle(need_ids)
    folds = [set(need_ids[i::FOLDS]) for i in range(FOLDS)]
    held_out: dict[tuple[int, str, str], float] = {}
    for fold in folds:
        model = decision.fit([(e, useful) for _, found in sets for n, _, e, useful in found if n not in fold])
        for s, (_, found) in enumerate(sets):
            for need_id, output_id, evidence, _ in found:
                if need_id in fold:
                    held_out[s, need_id, output_id] = model.probability(evidence)
    results = {}
    for minimum in SWEEP:
        per_set = []
        for s, (data, found) in enumerate(sets):
            proposals: dict[str, list[str]] = {str(need.need_id): [] for need in data.needs}
            for need_id, output_id, _, _ in found:
                if held_out[s, need_id, output_id] >= minimum:
                    proposals[need_id].append(output_id)
            matched = {need_id: bool(p) for need_id, p in proposals.items()}
            per_set.append((
                metrics.coverage(matched, data.judgements),
                metrics.no_answer_accuracy(matched, data.judgements),
                metrics.precision_of_proposals(proposals, data.judgements),
            ))
        results[minimum] = per_set
    return results


def choose(swept: dict[float, list[tuple[float, float, float]]], floor: float = 0.8) -> float:
    """Of the minimum probabilities that keep the precision of proposals at `floor` or
    more on every set, the one with the best coverage on the set it covers least, then
    the best silence: a company that hears nothing is the costliest mistake (issue 15),
    so coverage comes before silence on needs without an answer."""
    fine = [m for m, per_set in swept.items() if all(p >= floor for _, _, p in per_set)]
    if not fine:
        raise SystemExit(f"no minimum probability keeps precision at {floor:.0%}: see the sweep")
    return max(fine, key=lambda m: (min(c for c, _, _ in swept[m]), min(s for _, s, _ in swept[m])))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--check", action="store_true", help="compare with the committed model instead of writing it")
    args = parser.parse_args()
    tuning = load(DATA)
    sets = [(tuning, examples(tuning)), (stripped(tuning), examples(stripped(tuning)))]
    model = decision.fit([(e, useful) for _, found in sets for _, _, e, useful in found])
    swept = sweep(sets)
    chosen = choose(swept)
    fitted = json.dumps(model.to_json(chosen), indent=2) + "\n"
    if args.check:
        if decision.MODEL_FILE.read_text() != fitted:
            print(f"{decision.MODEL_FILE} is not what the tuning set fits: run `make fit-matching`", file=sys.stderr)
            return 1
        print(f"{decision.MODEL_FILE.name} is what the tuning set fits")
        return 0
    print("cross-validated on the tuning set (as written | keywords and strength areas stripped):")
    print("min p   coverage  silence  precision  |  coverage  silence  precision")
    for minimum, per_set in swept.items():
        cells = "  |  ".join(f"{c:8.3f} {s:8.3f} {p:10.3f}" for c, s, p in per_set)
        mark = "  <- chosen" if minimum == chosen else ""
        print(f"{minimum:5.2f} {cells}{mark}")
    decision.MODEL_FILE.write_text(fitted)
    print(f"wrote {decision.MODEL_FILE} ({len(sets[0][1]) + len(sets[1][1])} examples)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
