"""Whether to propose a research output for a need: a calibrated chance that the coach
finds it useful, from the evidence the two share, instead of a bare score threshold.

A raw score means different things for different needs: a need written with keywords
and strength areas scores high against almost anything on its topic, an informal
three-line need scores low even against its best answer. So the decision weighs the
score together with what stands behind it: how much of the need the two share (concepts
count more than words), how many concepts and words, whether they meet in a strength
area, whether the output is less mature than asked, how fully the need is described, and
how near the two are in meaning (services/matching/meaning.py), whether the output is
the need's nearest in meaning and by how much it leads the next. A logistic model turns
that evidence into the probability that the pair is graded useful (≥ 2 of 3); a pair is
proposed when it reaches the model's minimum, or the lower minimum the model keeps for
the output nearest to the need in meaning (`Model.minimum`).

There are two models: one for evidence with meaning, one for words alone (when the
matching service runs without its embedding model). Both are fitted on the tuning sets
only (tests/data/matching, as written and stripped of keywords and strength areas,
tests/data/matching-informal and tests/data/matching-alike-tuning) with `make
fit-matching` (tests/eval/fit_decision.py), and kept in decision_model.json; the
reporting sets are never fitted on. Every decision says why, in the coach's words.

What companies answered about an output's earlier proposals moves its chances too: its
track record (`track_record`), how much more or less often than their chances said they
proved useful, is added to the log-odds of its next pairs and said in the reasons.

The evidence of a pair does not depend on which side was searched, so a need and an
output are judged alike whether the need or the output arrived last.
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from dataclasses import dataclass, replace
from functools import cache
from pathlib import Path

import numpy as np

MODEL_FILE = Path(__file__).with_name("decision_model.json")


@dataclass(frozen=True)
class Evidence:
    """What a need and an output share, as the engine measured it."""

    score: float  # the engine's relevance in words, 0..1
    need_share: float  # share of the need's weighted content the two share, 0..1
    shared_concepts: int
    shared_terms: int
    same_area: bool  # a Produktion2030 strength area in common
    below_trl: bool  # the output is less mature than the need asks
    need_described: bool  # the need came with keywords or strength areas
    need_size: int  # how many distinct features the need has
    # Meaning (services/matching/meaning.py), when both have a vector: the cosine of
    # the two, whether this is the need's nearest output in meaning, how far below the
    # nearest it is (0 for the nearest), and for the nearest, how far it leads the next
    # nearest (0 for the others, and when it is the only output).
    meaning: float | None = None
    nearest_in_meaning: bool = False
    meaning_margin: float = 0.0
    meaning_lead: float = 0.0
    # What companies answered about the output's earlier proposals, as a shift of the
    # log-odds (track_record): 0 for an output without answers. Not a fitted feature: it
    # is added to what the model makes of the rest.
    record: float = 0.0

    @property
    def kind(self) -> str:
        """Which model weighs it: "meaning" when the pair has vectors, else "words"."""
        return "words" if self.meaning is None else "meaning"

    def features(self) -> list[float]:
        words = [
            self.score,
            self.need_share,
            math.log1p(self.shared_concepts),
            math.log1p(self.shared_terms),
            float(self.same_area),
            float(self.below_trl),
            float(self.need_described),
            float(self.need_described) * self.score,  # a described need's score reads higher
            math.log1p(self.need_size),
        ]
        if self.meaning is None:
            return words
        lead = min(self.meaning_lead, LEAD_CAP)
        return [*words, self.meaning, float(self.nearest_in_meaning), self.meaning_margin, lead]


# The largest lead of a need's nearest output over the next in the tuning sets (0.08; the
# median is 0.01 to 0.02): beyond it the model would extrapolate. Larger leads happen
# among the first few outputs of an index, on unlike subjects, not between answers. A
# lead shrinks as outputs grow more numerous; the tuning sets have 30 to 71 outputs.
LEAD_CAP = 0.08

WORDS_FEATURES = (
    "score", "need_share", "log1p_shared_concepts", "log1p_shared_terms", "same_area", "below_trl",
    "need_described", "need_described_x_score", "log1p_need_size",
)
FEATURE_NAMES = {
    "words": WORDS_FEATURES,
    "meaning": (*WORDS_FEATURES, "meaning", "nearest_in_meaning", "meaning_margin", "meaning_lead"),
}
KINDS = tuple(FEATURE_NAMES)


@dataclass(frozen=True)
class Model:
    """A logistic model over standardised features, and the probabilities from which a
    pair it weighs is proposed: `min_probability` for any pair, and the lower
    `min_probability_nearest` for the output nearest to the need in meaning. The
    probability is calibrated over all candidates, but a need's nearest in meaning is
    its best answer far more often than another pair of the same chance; with one bar,
    more than half of the informal tuning set's needs that had an answer and got nothing
    had it as their most probable candidate."""

    intercept: float
    weights: tuple[float, ...]
    means: tuple[float, ...]
    scales: tuple[float, ...]
    min_probability: float = 0.5
    min_probability_nearest: float | None = None  # None: the same as min_probability

    def probability(self, evidence: Evidence) -> float:
        z = self.intercept + evidence.record + sum(
            w * (x - m) / s for w, x, m, s in zip(self.weights, evidence.features(), self.means, self.scales, strict=True)
        )
        return _sigmoid(z)

    def minimum(self, evidence: Evidence) -> float:
        """The probability from which this pair is proposed."""
        if evidence.nearest_in_meaning and self.min_probability_nearest is not None:
            return self.min_probability_nearest
        return self.min_probability

    def to_json(self, kind: str) -> dict:
        return {
            "min_probability": self.min_probability, "min_probability_nearest": self.min_probability_nearest,
            "features": list(FEATURE_NAMES[kind]), "intercept": self.intercept,
            "weights": list(self.weights), "means": list(self.means), "scales": list(self.scales),
        }

    @classmethod
    def from_json(cls, kind: str, data: dict) -> Model:
        if tuple(data["features"]) != FEATURE_NAMES[kind]:
            raise ValueError(f"{MODEL_FILE.name} was fitted on other features; run `make fit-matching`")
        return cls(data["intercept"], tuple(data["weights"]), tuple(data["means"]), tuple(data["scales"]),
                   data["min_probability"], data.get("min_probability_nearest"))


# One model for each kind of evidence, with the probabilities at or above which it
# proposes (settings.match_min_probability overrides them all): of the values that,
# cross-validated on the tuning sets, keep the precision of proposals at 80 % or more on
# each, the ones that cover the most needs with an answer, then leave the most needs
# without one in peace (tests/eval/fit_decision.py prints the sweep).
@cache
def fitted_models() -> dict[str, Model]:
    data = json.loads(MODEL_FILE.read_text())
    return {kind: Model.from_json(kind, data[kind]) for kind in KINDS}


def probability(evidence: Evidence) -> float:
    return fitted_models()[evidence.kind].probability(evidence)


def chance_from_evidence(evidence: Evidence) -> float:
    """The chance of a pair from its evidence alone, without the output's track record:
    what the record's answers are measured against."""
    return probability(replace(evidence, record=0.0))


def _sigmoid(z: float) -> float:
    return 1 / (1 + math.exp(-max(min(z, 40.0), -40.0)))


def _logit(chance: float) -> float:
    chance = min(max(chance, 1e-6), 1 - 1e-6)
    return math.log(chance / (1 - chance))


def track_record(answers: Sequence[tuple[float, bool]], prior: float) -> float:
    """How far an output's answers move the log-odds of its next pairs: the one shift
    that best explains which of its proposals were useful, given the chances they were
    proposed at, held towards 0 by a Gaussian prior of precision `prior` (a few answers
    move it a little, many move it further). An output whose proposals were useful as
    often as their chances said keeps its chances; one that companies found useful more
    often rises, one found not useful more often falls. `answers`: (chance at proposal,
    useful) for each answered proposal."""
    shift = 0.0
    for _ in range(50):  # Newton's method on a concave function of one variable
        slope, curvature = -prior * shift, prior
        for chance, useful in answers:
            p = _sigmoid(_logit(chance) + shift)
            slope += float(useful) - p
            curvature += p * (1 - p)
        step = slope / curvature
        shift += step
        if abs(step) < 1e-9:
            break
    return shift


@dataclass(frozen=True)
class Decision:
    propose: bool
    probability: float
    why: str


def decide(evidence: Evidence, min_probability: float | None = None, model: Model | None = None) -> Decision:
    model = model or fitted_models()[evidence.kind]
    chance = model.probability(evidence)
    minimum = model.minimum(evidence) if min_probability is None else min_probability
    propose = chance >= minimum
    basis = (
        f"delar {evidence.shared_concepts} begrepp och {evidence.shared_terms} ord, "
        f"{evidence.need_share:.0%} av behovets innehåll"
    )
    if evidence.meaning is not None:
        basis += f", likhet i innebörd {evidence.meaning:.2f}"
    if evidence.meaning_lead >= 0.005:  # what rounds to 0.00 says nothing
        basis += f", {evidence.meaning_lead:.2f} närmare än nästa forskningsresultat"
    if evidence.record:
        without = model.probability(replace(evidence, record=0.0))
        moved = "höjer" if evidence.record > 0 else "sänker"
        basis += f"; svaren om resultatet {moved} chansen från {without:.0%}"
    if propose and min_probability is None and chance < model.min_probability:  # the nearest's own bar
        return Decision(True, chance, f"Bedömd chans att förslaget är till nytta: {chance:.0%}, och det ligger "
                                      f"närmast behovet i innebörd av allt vi har ({basis})")
    if propose:
        return Decision(True, chance, f"Bedömd chans att förslaget är till nytta: {chance:.0%} ({basis})")
    return Decision(False, chance, f"Hölls tillbaka: bedömd chans {chance:.0%} under {minimum:.0%} ({basis})")


# --- fitting (used by tests/eval/fit_decision.py, on the tuning set only) -----------------


def fit(
    examples: list[tuple[Evidence, bool]], l2: float = 1.0, iterations: int = 25, min_probability: float = 0.5,
    min_probability_nearest: float | None = None,
) -> Model:
    """A logistic model of `examples` (evidence, useful), by Newton's method with an L2
    penalty on the weights (not the intercept) over standardised features; deterministic
    on one machine (numpy's BLAS may differ in the last bits between CPUs, below the six
    decimals the model is kept to)."""
    rows = np.array([evidence.features() for evidence, _ in examples], dtype=float)
    means = rows.mean(axis=0)
    scales = rows.std(axis=0)
    scales[scales < 1e-9] = 1.0  # a constant feature (up to rounding) says nothing
    x = np.hstack([np.ones((len(rows), 1)), (rows - means) / scales])
    y = np.array([1.0 if useful else 0.0 for _, useful in examples])
    penalty = np.diag([0.0] + [l2] * rows.shape[1])
    beta = np.zeros(x.shape[1])
    for _ in range(iterations):
        p = 1 / (1 + np.exp(-np.clip(x @ beta, -40.0, 40.0)))
        step = np.linalg.solve((x * (p * (1 - p))[:, None]).T @ x + penalty, x.T @ (y - p) - penalty @ beta)
        beta = beta + step
        if np.abs(step).max() < 1e-10:
            break
    return Model(round(float(beta[0]), 6), tuple(round(float(b), 6) for b in beta[1:]),
                 tuple(round(float(m), 6) for m in means), tuple(round(float(s), 6) for s in scales),
                 min_probability, min_probability_nearest)
