"""language_scores takes shortcuts for speed (a cache per token that leaves out silent words,
skipped normalisation and abbreviation scans): it must still give, to the last bit, what the
plain definition gives."""

import unicodedata
from random import Random

from services.intake.language import (
    _ABBREVIATIONS,
    _LETTER_CAP,
    _LETTER_WEIGHT,
    _WORD,
    LANGUAGES,
    MAX_TEXT,
    _TokenEvidence,
    _word_evidence,
    detect_language,
    language_scores,
)
from tests.unit.test_language import ENGLISH, NORWEGIAN, SWEDISH


def reference_scores(text: str) -> dict[str, float]:
    """The scores as the module docstring defines them, one word at a time."""
    lowered = unicodedata.normalize("NFC", text or "").casefold()
    if len(lowered) > MAX_TEXT:
        lowered = lowered[:MAX_TEXT].rpartition(" ")[0] or lowered[:MAX_TEXT]
    scores = {
        "sv": min(_LETTER_WEIGHT * (lowered.count("ä") + lowered.count("ö")), _LETTER_CAP),
        "no": min(_LETTER_WEIGHT * (lowered.count("æ") + lowered.count("ø")), _LETTER_CAP),
        "en": 0.0,
    }
    for pattern, language, weight, _clues in _ABBREVIATIONS:
        scores[language] += weight * len(pattern.findall(lowered))
    for word in _WORD.findall(lowered):
        for language, value in zip(LANGUAGES, _word_evidence(word)):
            scores[language] += value
    return scores


def texts() -> list[str]:
    rng = Random(7)
    base = SWEDISH + NORWEGIAN + ENGLISH
    extras = ["t.ex.", "T. ex", "bl.a.", "f.eks.", "f. eks", "e.g.", "i.e.", "i.e.g", "(t.ex", "det. en",
              "a\u0308", "o\u0308", "æ", "Ø", "ß", "ﬁ", "²", "Ⅻ", "_", "12", "55%", ",", ".", "\u00a0", "och/eller"]
    out = list(base)
    for _ in range(1500):
        text = rng.choice(base)
        change = rng.randrange(5)
        if change == 0:
            text = text.upper()
        elif change == 1:
            text = unicodedata.normalize("NFD", text)
        elif change == 2:
            text = " ".join(rng.sample(base, 3)) * rng.randint(1, 12)  # also over MAX_TEXT
        else:
            for _ in range(rng.randint(1, 6)):
                at = rng.randint(0, len(text))
                text = text[:at] + rng.choice(["", " "]) + rng.choice(extras) + rng.choice(["", " "]) + text[at:]
        out.append(text)
    return out


def test_scores_are_exactly_those_of_the_plain_definition():
    for text in texts():
        scores = language_scores(text)
        assert list(scores.items()) == list(reference_scores(text).items()), text
        best = max(scores.values())
        assert detect_language(text) == next(language for language in LANGUAGES if scores[language] == best)


def test_scores_do_not_depend_on_the_token_cache_starting_over(monkeypatch):
    sample = texts()[:300]
    before = [language_scores(text) for text in sample]
    monkeypatch.setattr(_TokenEvidence, "MAX_SIZE", 10)
    assert [language_scores(text) for text in sample] == before
