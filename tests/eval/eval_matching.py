"""`make eval-matching`: how well the matcher finds the research outputs that answer a
need, next to two baselines run on the same data in the same run: PostgreSQL full-text
search and plain BM25 (tests/eval/systems.py). On five sets:

- the tuning set, tests/data/matching/ (the thesaurus was written alongside it);
- the same needs with their keywords and strength areas stripped, as coaches mostly
  write them;
- the informal tuning set, tests/data/matching-informal/;
- the independent set, tests/data/matching-independent/: written and graded by people
  who had not seen the engine or the tuning set. A reporting set: never tune on it;
- the alike set, tests/data/matching-alike/: needs in clusters that ask alike, written
  and graded the same way, for the loop (tests/eval/simulate_loop.py). Also reporting
  only; its twin tests/data/matching-alike-tuning/ is what the loop's weights are
  chosen on.

Printed per system:

- nDCG@10 (gain 2^grade − 1, ideal from all of the need's judged grades), MRR (first
  result graded ≥ 2) and recall@10 (share of the outputs graded ≥ 2 in the top 10),
  averaged over the needs that have an answer, on each system's top 10 *regardless of
  its threshold*, so the three rankings are compared on the same footing;
- nDCG@10 of what it would actually propose (only results at or above its threshold);
- coverage: the share of the needs with an answer that get at least one proposal, and
  precision: the share of all proposals graded ≥ 2;
- no-answer accuracy: the share of the needs that nothing answers for which the system
  proposed nothing at or above its threshold;
- nDCG@10 for Swedish, Norwegian and English needs separately;
- how many explicitly zero-graded pairs (trap pairs and near-misses) are in a top 5.

Then whether redthread's nDCG@10 reaches 1.2× the better baseline's. This is a report,
not a test: it exits 0 whether or not the target is met (and 2 when it cannot run).

    DATABASE_URL=… python -m tests.eval.eval_matching
"""

from __future__ import annotations

import csv
import json
import os
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import asyncpg

from contracts.events import NeedSubmitted, ResearchOutputPublished
from tests.eval import metrics
from tests.eval.systems import LIMIT, Bm25, PostgresFullText, Redthread, System

DATA = Path(__file__).resolve().parents[1] / "data" / "matching"
INDEPENDENT = Path(__file__).resolve().parents[1] / "data" / "matching-independent"
INFORMAL = Path(__file__).resolve().parents[1] / "data" / "matching-informal"
# Needs that companies ask alike (clusters of four), for the loop (tests/eval/simulate_loop.py):
# the first to choose its weights on, the second to report on.
ALIKE_TUNING = Path(__file__).resolve().parents[1] / "data" / "matching-alike-tuning"
ALIKE = Path(__file__).resolve().parents[1] / "data" / "matching-alike"
# Needs in groups of eight that one output answers, so that an output collects answers
# from many companies, as it does in service: the loop's (tests/eval/simulate_loop.py),
# the first to choose its weights on, the second to report on. The decision to propose
# is not fitted on them.
LOOP_TUNING = Path(__file__).resolve().parents[1] / "data" / "matching-loop-tuning"
LOOP = Path(__file__).resolve().parents[1] / "data" / "matching-loop"
TARGET = 1.2
K = LIMIT
TRAP_DEPTH = 5
LANGUAGES = ("sv", "no", "en")


@dataclass(frozen=True)
class EvaluationSet:
    needs: list[NeedSubmitted]
    outputs: list[ResearchOutputPublished]
    judgements: dict[str, dict[str, int]]  # need id → output id → grade; every need present

    def language_of(self, need: NeedSubmitted) -> str:
        return need.language.value if need.language else "?"


def load(directory: Path = DATA) -> EvaluationSet:
    needs = [NeedSubmitted.model_validate(json.loads(line)) for line in _lines(directory / "needs.jsonl")]
    outputs = [ResearchOutputPublished.model_validate(json.loads(line)) for line in _lines(directory / "outputs.jsonl")]
    need_ids = {str(need.need_id) for need in needs}
    output_ids = {str(output.output_id) for output in outputs}
    judgements: dict[str, dict[str, int]] = {need_id: {} for need_id in need_ids}
    with (directory / "judgements.csv").open(newline="", encoding="utf-8") as file:
        for line, row in enumerate(csv.DictReader(file), start=2):
            need_id, output_id, grade = row["need_id"], row["output_id"], int(row["grade"])
            if need_id not in need_ids or output_id not in output_ids or not 0 <= grade <= 3:
                raise ValueError(f"judgements.csv line {line}: unknown id or grade out of 0–3: {row}")
            if output_id in judgements[need_id]:
                raise ValueError(f"judgements.csv line {line}: pair judged twice: {need_id}, {output_id}")
            judgements[need_id][output_id] = grade
    return EvaluationSet(needs, outputs, judgements)


def stripped(data: EvaluationSet) -> EvaluationSet:
    """The same set with every need's keywords and strength areas removed."""
    needs = [need.model_copy(update={"keywords": [], "focus_areas": []}) for need in data.needs]
    return EvaluationSet(needs, data.outputs, data.judgements)


def _lines(path: Path) -> list[str]:
    return [line for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


@dataclass(frozen=True)
class Result:
    name: str
    threshold_rule: str
    overall: metrics.Summary
    proposed_ndcg: float
    coverage: float
    precision: float
    by_language: dict[str, metrics.Summary]
    zeros_in_top: int
    seconds: float


def evaluate(system: System, data: EvaluationSet) -> Result:
    started = time.perf_counter()
    rankings: dict[str, list[str]] = {}
    proposals: dict[str, list[str]] = {}
    for need in data.needs:
        ranking = system.rank(need)
        rankings[str(need.need_id)] = [output_id for output_id, _ in ranking]
        proposals[str(need.need_id)] = system.proposed(need, ranking)
    return measure(system.name, system.threshold_rule, data, rankings, proposals, time.perf_counter() - started)


def measure(
    name: str, threshold_rule: str, data: EvaluationSet, rankings: dict[str, list[str]],
    proposals: dict[str, list[str]], seconds: float,
) -> Result:
    """The measures of one system's rankings and proposals for every need of `data`."""
    matched = {need_id: bool(proposed) for need_id, proposed in proposals.items()}
    by_language = {
        language: metrics.summarise(
            rankings, matched, data.judgements, [str(n.need_id) for n in data.needs if data.language_of(n) == language], K
        )
        for language in LANGUAGES
    }
    return Result(
        name=name,
        threshold_rule=threshold_rule,
        overall=metrics.summarise(rankings, matched, data.judgements, k=K),
        proposed_ndcg=metrics.summarise(proposals, matched, data.judgements, k=K).ndcg,
        coverage=metrics.coverage(matched, data.judgements),
        precision=metrics.precision_of_proposals(proposals, data.judgements),
        by_language=by_language,
        zeros_in_top=metrics.zeros_in_top(rankings, data.judgements, TRAP_DEPTH),
        seconds=seconds,
    )


def run(data: EvaluationSet, server_url: str) -> list[Result]:
    results = []
    with PostgresFullText(server_url, data.outputs) as fts:
        results.append(evaluate(fts, data))
    results.append(evaluate(Bm25(data.outputs), data))
    results.append(evaluate(Redthread(data.outputs), data))
    return results


def verdict(results: Sequence[Result]) -> str:
    baselines = [r for r in results if r.name != "redthread"]
    ours = next(r for r in results if r.name == "redthread")
    better = max(baselines, key=lambda r: r.overall.ndcg)
    if better.overall.ndcg <= 0:
        return f"redthread nDCG@10 = {ours.overall.ndcg:.3f}; both baselines score 0, no ratio"
    ratio = ours.overall.ndcg / better.overall.ndcg
    outcome = "meets" if ratio >= TARGET else "MISSES"
    return (
        f"redthread nDCG@10 = {ratio:.2f}× the better baseline ({better.name}, {better.overall.ndcg:.3f}) "
        f"(target ≥ {TARGET}×): {outcome}"
    )


def render(name: str, data: EvaluationSet, results: Sequence[Result]) -> str:
    judged = sum(len(j) for j in data.judgements.values())
    zeros = sum(1 for j in data.judgements.values() for grade in j.values() if grade == 0)
    first = results[0]
    counts = {language: first.by_language[language].answered_needs for language in LANGUAGES}
    no_answer = first.overall.no_answer_needs
    lines = [
        f"Matching evaluation on {name}: "
        f"{len(data.needs)} needs ({first.overall.answered_needs} with an answer, {no_answer} without), "
        f"{len(data.outputs)} outputs, {judged} judged pairs ({zeros} graded 0); unlisted pairs count as 0.",
        f"Ranking measures: mean over the {first.overall.answered_needs} needs with an answer, on each system's top {K} "
        "regardless of its threshold; relevant = grade ≥ 2, gain 2^grade − 1.",
        "",
    ]
    header = [
        ("system", "", "<"),
        (f"nDCG@{K}", "", ">"),
        ("MRR", "", ">"),
        (f"recall@{K}", "", ">"),
        ("no-answer", f"acc. (n={no_answer})", ">"),
        ("coverage", f"(n={first.overall.answered_needs})", ">"),
        ("precision", "of proposals", ">"),
        (f"nDCG@{K}", "proposed only", ">"),
        *[(f"nDCG@{K} {language}", f"(n={counts[language]})", ">") for language in LANGUAGES],
        ("zeros in", f"top {TRAP_DEPTH} (of {zeros})", ">"),
        ("time", "", ">"),
    ]
    rows = [
        [
            r.name,
            f"{r.overall.ndcg:.3f}",
            f"{r.overall.mrr:.3f}",
            f"{r.overall.recall:.3f}",
            f"{r.overall.no_answer_accuracy:.3f} ({round(r.overall.no_answer_accuracy * no_answer)}/{no_answer})",
            f"{r.coverage:.3f} ({round(r.coverage * first.overall.answered_needs)}/{first.overall.answered_needs})",
            f"{r.precision:.3f}",
            f"{r.proposed_ndcg:.3f}",
            *[f"{r.by_language[language].ndcg:.3f}" for language in LANGUAGES],
            str(r.zeros_in_top),
            f"{r.seconds:.1f} s",
        ]
        for r in results
    ]
    widths = [max(len(h[0]), len(h[1]), *(len(row[i]) for row in rows)) for i, h in enumerate(header)]

    def line(cells: Sequence[str]) -> str:
        return "  ".join(
            f"{cell:{align}{width}}" for cell, width, (_, _, align) in zip(cells, widths, header, strict=True)
        ).rstrip()

    lines.append(line([h[0] for h in header]))
    lines.append(line([h[1] for h in header]))
    lines.append(line(["-" * width for width in widths]))
    lines.extend(line(row) for row in rows)
    lines += [
        "",
        "no-answer acc. = share of the no-answer needs for which the system proposed nothing at or above its threshold;",
        "coverage = share of the needs with an answer given at least one proposal; precision = share of all proposals",
        "graded ≥ 2.",
        "Thresholds (\"matched\" = at least one output at or above it; one fixed rule per system, the same for every need):",
        *[f"  {r.name}: {r.threshold_rule}" for r in results],
        "",
        verdict(results),
    ]
    return "\n".join(lines)


def main() -> int:
    server_url = os.environ.get("DATABASE_URL")
    if not server_url:
        print(
            "eval-matching: DATABASE_URL is not set; the PostgreSQL baseline needs a server. Run `make eval-matching`.",
            file=sys.stderr,
        )
        return 2
    tuning = load(DATA)
    sets = (
        ("the tuning set (tests/data/matching)", tuning),
        ("the tuning set with keywords and strength areas stripped", stripped(tuning)),
        ("the informal tuning set (tests/data/matching-informal)", load(INFORMAL)),
        ("the independent set (tests/data/matching-independent; reporting only, never tuned on)", load(INDEPENDENT)),
        ("the alike set (tests/data/matching-alike; reporting only, never tuned on)", load(ALIKE)),
    )
    for number, (name, data) in enumerate(sets):
        try:
            results = run(data, server_url)
        except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError) as error:
            print(f"eval-matching: PostgreSQL at DATABASE_URL is not usable ({error!r}); run `make up`.", file=sys.stderr)
            return 2
        print(("\n" + "=" * 100 + "\n\n" if number else "") + render(name, data, results))
    return 0


if __name__ == "__main__":
    sys.exit(main())
