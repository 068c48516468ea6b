"""`make eval-loop`: do coaches' answers make the next proposals better?

A simulated loop on each evaluation set. Its needs are split in two halves (seeded, the
same halves every run). Coaches answer for the needs of one half, and the engine is
taught by those answers (services/matching/engine.py, Lesson); the needs of the other
half are then matched by the taught engine and measured, and the same the other way
round, so every need is measured once, by an engine that never saw an answer about it.

Two ways to answer:

- judged: every judged pair of a need is answered: useful when graded 2 or 3, not
  useful when graded 0 or 1 (the issue's "answers for half the judged pairs");
- proposed: only what the engine proposed to the need is answered, as coaches can only
  answer what they were told of: useful when graded 2 or 3, otherwise not useful
  (an unjudged pair counts as 0).

Printed per set: coverage of needs with an answer, silence on needs without, precision
of proposals, nDCG@10 and MRR, untaught and taught. A report, not a test: it exits 0.

    python -m tests.eval.simulate_loop [--reporting] [--sweep]

--sweep tries a grid of teaching weights (how far a useful answer moves an output
towards the need, and a not-useful one away, and the prior that holds an output's track
record towards 0, or none to leave it unread) on the five tuning sets with judged
answers, and names the one the engine should use (engine.USEFUL_WEIGHT,
NOT_USEFUL_WEIGHT, RECORD_PRIOR): of those that keep the precision of proposals within
0.02 of the untaught engine's on every tuning set, the one that serves the most needs
right over them all (a need with an answer given a proposal, a need without one left
alone: the mistakes issue 15 ranks first), then the best mean nDCG@10. The tuning sets
are the three of eval-matching, the alike tuning set (tests/data/matching-alike-tuning),
whose needs come in clusters of four that ask alike, as companies do, and the loop
tuning set (tests/data/matching-loop-tuning), whose needs come in groups of eight that
one output answers, so that an output collects answers from many companies, as in
service. The independent, alike and loop sets (tests/data/matching-alike,
tests/data/matching-loop), written and graded by others, are measured only with
--reporting and never swept.
"""

from __future__ import annotations

import argparse
import random
import sys
from collections import defaultdict

from contracts.events import NeedSubmitted
from services.matching.engine import NOT_USEFUL_WEIGHT, RECORD_PRIOR, USEFUL_WEIGHT, Document, Lesson, need_document
from tests.eval import metrics
from tests.eval.eval_matching import (
    ALIKE,
    ALIKE_TUNING,
    DATA,
    INDEPENDENT,
    INFORMAL,
    LOOP,
    LOOP_TUNING,
    EvaluationSet,
    Result,
    load,
    measure,
    stripped,
)
from tests.eval.systems import LIMIT, Redthread

SEED = 2030
ANSWERS = ("judged", "proposed")
GRID = [
    (towards, away, prior)
    for towards in (0.0, 0.2, 0.4, 0.75) for away in (0.0, 0.25, 0.5, 1.0) for prior in (None, 1.0, 2.0, 4.0)
]
PRECISION_GIVEN_UP = 0.02


def halves(data: EvaluationSet) -> tuple[set[str], set[str]]:
    need_ids = sorted(str(need.need_id) for need in data.needs)
    random.Random(SEED).shuffle(need_ids)
    return set(need_ids[::2]), set(need_ids[1::2])


def answers(data: EvaluationSet, need_ids: set[str], how: str) -> dict[str, Lesson]:
    """What coaches would answer for `need_ids`, as lessons by output. The track record
    holds the answers about what the untaught engine proposed, at the chance it proposed
    them: the service knows no chance for anything else."""
    needs = {str(need.need_id): need for need in data.needs if str(need.need_id) in need_ids}
    chances = _untaught_proposals(data, needs)
    if how == "judged":
        answered = {need_id: list(data.judgements[need_id]) for need_id in needs}
    else:
        answered = {need_id: list(chances[need_id]) for need_id in needs}
    useful: dict[str, list[Document]] = defaultdict(list)
    not_useful: dict[str, list[Document]] = defaultdict(list)
    record: dict[str, list[tuple[float, bool]]] = defaultdict(list)
    for need_id, output_ids in answered.items():
        document = need_document(need_id, needs[need_id])
        for output_id in output_ids:
            was_useful = data.judgements[need_id].get(output_id, 0) >= metrics.RELEVANT
            (useful if was_useful else not_useful)[output_id].append(document)
            if output_id in chances[need_id]:
                record[output_id].append((chances[need_id][output_id], was_useful))
    return {
        output_id: Lesson(tuple(useful.get(output_id, ())), tuple(not_useful.get(output_id, ())),
                          tuple(record.get(output_id, ())))
        for output_id in useful.keys() | not_useful.keys()
    }


_UNTAUGHT: dict[tuple[int, frozenset[str]], dict[str, dict[str, float]]] = {}


def _untaught_proposals(data: EvaluationSet, needs: dict[str, NeedSubmitted]) -> dict[str, dict[str, float]]:
    """What the untaught engine proposes to each of `needs`, with its chance; the same
    for every teaching a sweep tries, so made once per set and half."""
    key = (id(data), frozenset(needs))
    if key not in _UNTAUGHT:
        engine = Redthread(data.outputs)
        _UNTAUGHT[key] = {
            need_id: {hit.doc_id: hit.probability for hit in engine.proposed_hits(need)}
            for need_id, need in needs.items()
        }
    return _UNTAUGHT[key]


def run(data: EvaluationSet, how: str | None, teaching: tuple[float, float, float | None] | None = None) -> Result:
    """Every need matched by an engine taught by the other half's answers (`how`), or
    by an untaught engine (None)."""
    rankings: dict[str, list[str]] = {}
    proposals: dict[str, list[str]] = {}
    for taught_half, measured_half in (halves(data), halves(data)[::-1]):
        system = Redthread(data.outputs, answers(data, taught_half, how) if how else None, teaching)
        for need in data.needs:
            need_id = str(need.need_id)
            if need_id in measured_half:
                rankings[need_id] = [output_id for output_id, _ in system.rank(need)]
                proposals[need_id] = system.proposed(need, [])
    return measure(how or "untaught", "", data, rankings, proposals, 0.0)


def render(name: str, data: EvaluationSet, results: list[Result]) -> str:
    answered = results[0].overall.answered_needs
    silent = results[0].overall.no_answer_needs
    lines = [
        f"{name}: {len(data.needs)} needs ({answered} with an answer, {silent} without), {len(data.outputs)} outputs",
        f"{'answers':<10} {'coverage':>16} {'silence':>14} {'precision':>10} {f'nDCG@{LIMIT}':>9} {'MRR':>7}",
    ]
    for r in results:
        lines.append(
            f"{r.name:<10} {r.coverage:>7.3f} ({round(r.coverage * answered):>3}/{answered:<3})"
            f" {r.overall.no_answer_accuracy:>6.3f} ({round(r.overall.no_answer_accuracy * silent):>2}/{silent:<2})"
            f" {r.precision:>10.3f} {r.overall.ndcg:>9.3f} {r.overall.mrr:>7.3f}"
        )
    return "\n".join(lines)


def sweep(sets: list[tuple[str, EvaluationSet]]) -> tuple[float, float, float | None]:
    untaught = [run(data, None) for _, data in sets]
    print("teaching (towards, away, record prior), judged answers: needs served right, precision, nDCG@10 per tuning set")
    fine = {}
    for teaching in GRID:
        taught = [run(data, "judged", teaching) for _, data in sets]
        keeps = all(t.precision >= u.precision - PRECISION_GIVEN_UP for t, u in zip(taught, untaught, strict=True))
        served = sum(_served(t) for t in taught)
        mean_ndcg = sum(t.overall.ndcg for t in taught) / len(taught)
        if keeps:
            fine[teaching] = (served, mean_ndcg)
        cells = "  ".join(f"{_served(t):3d} {t.precision:.3f} {t.overall.ndcg:.3f}" for t in taught)
        print(f"  {teaching!s:<18} {cells}   served {served}, mean nDCG {mean_ndcg:.3f}"
              f"{'' if keeps else '   (gives up precision)'}")
    # Ties go to the lighter touch: smaller weights, the record unread, then held firmer.
    chosen = max(fine, key=lambda t: (*fine[t], -t[0], -t[1], t[2] is None, t[2] or 0.0))
    print(f"chosen: {chosen}; the engine uses {(USEFUL_WEIGHT, NOT_USEFUL_WEIGHT, RECORD_PRIOR)}\n")
    return chosen


def _served(result: Result) -> int:
    summary = result.overall
    return round(result.coverage * summary.answered_needs + summary.no_answer_accuracy * summary.no_answer_needs)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--reporting", "--independent", action="store_true",
                        help="measure the reporting sets too (independent, alike)")
    parser.add_argument("--sweep", action="store_true", help="choose the teaching weights on the tuning sets")
    args = parser.parse_args()
    tuning = load(DATA)
    sets = [
        ("the tuning set", tuning),
        ("the tuning set, keywords and strength areas stripped", stripped(tuning)),
        ("the informal tuning set", load(INFORMAL)),
        ("the alike tuning set", load(ALIKE_TUNING)),
        ("the loop tuning set", load(LOOP_TUNING)),
    ]
    if args.sweep:
        sweep(sets)
    if args.reporting:
        sets.append(("the independent set (reporting only)", load(INDEPENDENT)))
        sets.append(("the alike set (reporting only)", load(ALIKE)))
        sets.append(("the loop set (reporting only)", load(LOOP)))
    print("Simulated loop: each half of the needs matched by an engine taught by the other half's answers.\n")
    for name, data in sets:
        print(render(name, data, [run(data, how) for how in (None, *ANSWERS)]) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
