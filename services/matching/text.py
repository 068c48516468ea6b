"""How the matcher reads a text: words, stems, compounds and production concepts.

Swedish and Norwegian write compounds as one word (ställtidsreduktion = ställtid +
reduktion), coaches write informally, and a need in Norwegian may be answered by a
Swedish output. So each text becomes features of two kinds:

- `t:<stem>`: a word stem in the text's own language (Snowball, via PyStemmer), plus the
  parts of compounds that split into stems the matcher knows;
- `c:<concept>`: a production concept from the thesaurus (OEE ~ tillgänglighet ~
  maskinutnyttjande ~ overall equipment effectiveness), the same in every language.

No I/O here but reading the thesaurus once.
"""

from __future__ import annotations

import re
import unicodedata
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import Stemmer

THESAURUS = Path(__file__).parent / "thesaurus" / "production_terms.tsv"
# How companies and coaches say the same concepts in everyday words ("ställa om",
# "står still"): more phrases for the concepts above, never a concept of its own. Their
# stems also count as parts of compounds, as every term's do.
EVERYDAY_TERMS = Path(__file__).parent / "thesaurus" / "everyday_terms.tsv"
STEMMERS = {"sv": "swedish", "no": "norwegian", "en": "english"}
_WORD = re.compile(r"[0-9a-zåäöæøéüß]+(?:-[0-9a-zåäöæøéüß]+)*")
MAX_PHRASE = 5
MIN_PART = 4  # a compound's parts are at least this long (ställ|tid would be too eager)
LINKS = ("s", "e", "")  # ställtid-s-reduktion, verktyg-s-byte, arbete-s-miljö

STOPWORDS = {
    "sv": set(
        """och att det som för med till den har inte ett är på av om vid kan vill eller men hur
        vara vår våra vårt från efter under mer mycket alla andra även både sina sitt deras dess
        också bara inom utan mot denna detta dessa här där när vad vilka vilket vi oss man en
        ska skulle blir bli sig så nu får fått ha hade har dag dagar går gör göra idag ca o ev
        t ex tex bl a osv mm etc behöver behov vi vill få finns just lite många flera""".split()
    ),
    "no": set(
        """og i det som for med til den har ikke et er på av om ved kan vil eller men hvordan
        være vår våre fra etter under mer mye alle andre også bare inn uten mot denne dette
        disse her der når hva vi oss man en skal ble blir seg så nå får ha hadde gjør gjøre
        trenger behov ønsker finnes litt mange flere""".split()
    ),
    "en": set(
        """the and for with that this from are was our their have has can into about need needs
        we us you it its is be been of to in on at by or an a as how what which want would
        could should will there here more much many some any also only very just""".split()
    ),
}


def normalise(text: str) -> str:
    return unicodedata.normalize("NFC", text).casefold()


def words(text: str) -> list[str]:
    return _WORD.findall(normalise(text))


@lru_cache(maxsize=8)
def _stemmer(language: str) -> Stemmer.Stemmer:
    return Stemmer.Stemmer(STEMMERS.get(language, "swedish"))


@lru_cache(maxsize=500_000)
def stem(word: str, language: str) -> str:
    return _stemmer(language).stemWord(word)


@dataclass(frozen=True)
class Concept:
    concept_id: str
    labels: dict[str, str]  # language -> preferred label

    def label(self, language: str) -> str:
        return self.labels.get(language) or self.labels.get("mul") or next(iter(self.labels.values()))


class Thesaurus:
    """Stemmed word sequences → concept, in every language, from production_terms.tsv
    (whose first term in each language labels the concept) and any further files of
    phrases for its concepts (everyday_terms.tsv)."""

    def __init__(self, path: Path = THESAURUS, *phrase_files: Path) -> None:
        self.concepts: dict[str, Concept] = {}
        self.phrases: dict[tuple[str, ...], str] = {}
        for concept_id, terms in thesaurus_lines(path):
            labels: dict[str, str] = {}
            for language, term in terms:
                labels.setdefault(language, term)
                self._add(concept_id, language, term)
            self.concepts[concept_id] = Concept(concept_id, labels)
        for phrases in phrase_files:
            for concept_id, terms in thesaurus_lines(phrases):
                if concept_id not in self.concepts:
                    raise ValueError(f"{phrases.name}: {concept_id} is not a concept of {path.name}")
                for language, term in terms:
                    self._add(concept_id, language, term)
        self.single_stems = {key[0] for key in self.phrases if len(key) == 1}
        # Any stem of any term may be a part of a compound (tryckluft|läckage).
        self.known_stems = frozenset(w for key in self.phrases for w in key if len(w) >= MIN_PART)
        self._splits: dict[tuple[str, str], tuple[str, ...]] = {}

    def _add(self, concept_id: str, language: str, term: str) -> None:
        for stem_language in (STEMMERS if language == "mul" else (language,)):
            key = tuple(stem(w, stem_language) for w in words(term))
            if key:
                self.phrases.setdefault(key, concept_id)

    def split(self, word_stem: str, language: str) -> tuple[str, ...]:
        """The parts of a compound the thesaurus knows, or () when it is not one."""
        key = (word_stem, language)
        if key not in self._splits:
            self._splits[key] = () if word_stem in self.single_stems else _split_known(word_stem, self.known_stems, language)
        return self._splits[key]


def thesaurus_lines(path: Path) -> Iterable[tuple[str, list[tuple[str, str]]]]:
    """(concept id, [(language, term)]) for each concept line of a thesaurus file."""
    for line in path.read_text(encoding="utf-8").splitlines():
        if line.strip() and not line.startswith("#"):
            concept_id, *terms = line.split("\t")
            yield concept_id, [(language, term) for language, _, term in (t.partition(":") for t in terms)]


@lru_cache(maxsize=1)
def default_thesaurus() -> Thesaurus:
    return Thesaurus(THESAURUS, EVERYDAY_TERMS)


@dataclass
class Analysis:
    """The features of one text, and the words behind them (for explaining a match)."""

    features: Counter
    surface: dict[str, str]  # feature -> a word of the text that produced it


def analyse(fields: Iterable[tuple[str, float]], language: str | None, thesaurus: Thesaurus) -> Analysis:
    """Features of weighted text fields (title counts more than body)."""
    language = language if language in STEMMERS else "sv"
    stop = STOPWORDS[language]
    features: Counter = Counter()
    surface: dict[str, str] = {}
    for text, weight in fields:
        tokens = [w for w in words(text) if len(w) > 1]
        stems = [stem(w, language) for w in tokens]
        covered = _concepts(stems, thesaurus, features, surface, tokens, weight)
        for position, (word, word_stem) in enumerate(zip(tokens, stems, strict=True)):
            if word in stop or word.isdigit():
                continue
            for part in [word_stem, *thesaurus.split(word_stem, language)]:
                key = f"t:{part}"
                features[key] += weight
                surface.setdefault(key, word)
                if part != word_stem and (concept := thesaurus.phrases.get((part,))) and position not in covered:
                    features[f"c:{concept}"] += weight
                    surface.setdefault(f"c:{concept}", word)
    return Analysis(features, surface)


def _concepts(stems, thesaurus: Thesaurus, features: Counter, surface: dict, tokens, weight: float) -> set[int]:
    """Add the concepts whose phrases occur in `stems`, longest first; returns the
    positions they cover."""
    covered: set[int] = set()
    for length in range(MAX_PHRASE, 0, -1):
        for start in range(len(stems) - length + 1):
            span = range(start, start + length)
            if any(p in covered for p in span):
                continue
            concept = thesaurus.phrases.get(tuple(stems[start : start + length]))
            if concept:
                features[f"c:{concept}"] += weight
                surface.setdefault(f"c:{concept}", " ".join(tokens[start : start + length]))
                covered.update(span)
    return covered


def _split_known(word_stem: str, known: frozenset[str], language: str) -> tuple[str, ...]:
    """The best split of a compound into two known stems, allowing a linking s/e."""
    if language == "en" or len(word_stem) < 2 * MIN_PART:
        return ()
    best: tuple[str, ...] = ()
    for cut in range(MIN_PART, len(word_stem) - MIN_PART + 1):
        head, tail = word_stem[:cut], word_stem[cut:]
        tail_stem = stem(tail, language)
        if tail_stem not in known and tail not in known:
            continue
        for link in LINKS:
            if link and not head.endswith(link):
                continue
            first = head[: len(head) - len(link)] if link else head
            if len(first) >= MIN_PART and (first in known or stem(first, language) in known):
                candidate = (stem(first, language), tail_stem if tail_stem in known else tail)
                # Prefer the split with the longest head: ställtids|reduktion over ställ|tidsreduktion.
                if not best or len(candidate[0]) > len(best[0]):
                    best = candidate
    return best
