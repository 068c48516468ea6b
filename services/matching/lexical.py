"""A plain lexical matcher: shared word stems, shared strength areas and TRL fit.
No I/O here; the service feeds it candidates from the database."""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

# Words that say nothing about production; Swedish, Norwegian and English.
STOPWORDS = frozenset(
    """
    och att det som för med till den har inte ett är på av om vid kan vill eller men hur
    vara vår våra vårt våran från efter under mer mycket alla andra även både sina sitt
    deras dess också bara inom utan mot denna detta dessa här där när vad vilka vilket
    företag företaget behov behöver problem ska skulle blir bli sig oss man
    og er til som med for det en ei et av har ikke vi på kan eller skal fra
    the and for with that this from are was our their have has can into about need needs
    company using use how what which
    """.split()
)
_WORD = re.compile(r"[a-zåäöæøéü0-9]+")
STEM_LENGTH = 6
METHOD = "lexical-v1"


def stem(word: str) -> str:
    """Crude but language-neutral: the first six letters (ställtid, ställtider → ställt)."""
    return word[:STEM_LENGTH]


def surface_terms(text: str) -> dict[str, str]:
    """stem → the first word in `text` that has it, for explaining a match in plain words."""
    terms: dict[str, str] = {}
    for word in _WORD.findall(text.lower()):
        if len(word) < 3 or word in STOPWORDS or word.isdigit():
            continue
        terms.setdefault(stem(word), word)
    return terms


def terms(text: str) -> list[str]:
    return sorted(surface_terms(text))


@dataclass(frozen=True)
class Profile:
    """What the matcher knows of a need or an output."""

    text: str
    focus_areas: frozenset[str]
    trl: int | None = None  # the output's TRL, or the need's minimum TRL


@dataclass(frozen=True)
class Reason:
    kind: str
    explanation: str


@dataclass(frozen=True)
class Score:
    value: float
    reasons: tuple[Reason, ...]


def score(need: Profile, output: Profile) -> Score:
    need_terms = surface_terms(need.text)
    output_terms = surface_terms(output.text)
    shared = [stem_ for stem_ in need_terms if stem_ in output_terms]
    if not need_terms or not output_terms or not shared:
        return Score(0.0, ())
    # Cosine of the two term sets: fair to short needs and long summaries alike.
    value = len(shared) / math.sqrt(len(need_terms) * len(output_terms))
    reasons = [Reason("shared-terms", "Båda handlar om: " + ", ".join(need_terms[s] for s in shared[:8]))]

    areas = sorted(need.focus_areas & output.focus_areas)
    if areas:
        value += 0.1 * len(areas)
        reasons.append(Reason("strength-area", "Samma styrkeområde: " + ", ".join(areas)))

    if need.trl is not None and output.trl is not None:
        if output.trl < need.trl:
            value *= 0.5
            reasons.append(Reason("trl", f"Mognadsgrad TRL {output.trl} är lägre än önskade TRL {need.trl}"))
        else:
            reasons.append(Reason("trl", f"Mognadsgrad TRL {output.trl} når önskade TRL {need.trl}"))
    return Score(min(round(value, 4), 1.0), tuple(reasons))


def best(candidates: list[tuple[str, Score]], threshold: float, limit: int) -> list[tuple[str, Score]]:
    """The top `limit` candidates at or above `threshold`, best first."""
    kept = [(key, s) for key, s in candidates if s.value >= threshold]
    return sorted(kept, key=lambda item: (-item[1].value, item[0]))[:limit]
