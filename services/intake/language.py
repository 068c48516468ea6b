"""Which language a need or feedback text is written in: Swedish, Norwegian (bokmål) or
English — "sv", "no" or "en".

The texts are short and informal (one to three sentences written by a coach or an
operator), full of production jargon, abbreviations, compounds and typos, so statistical
detectors trained on edited prose do poorly on them. This one adds up evidence that
survives that kind of writing:

* letters: ä and ö only occur in Swedish, æ and ø only in Norwegian (å is shared);
* function words, weighted by how distinctive they are: "och, att, inte, är, jag, från"
  against "og, ikke, er, jeg, fra, hvordan, trenger" against "the, and, is, we, our, with";
  Scandinavian words both languages share ("vi har", "det", "som", "på", "med") count for
  both, so they tell Scandinavian from English without taking sides;
* word pieces that survive compounding: Swedish "utveckl-, tillverk-, ledtid, styrning,
  -arna/-erna", Norwegian "utvikl-, bedrift-, ledetid, -sjon, kk, hv-", English "th, w, -ly";
* abbreviations: "t.ex." against "f.eks." against "e.g.".

The language with the highest score wins; a tie, or no evidence at all, gives "sv" (the
programme's working language).

Known limits:

* Danish is not told apart from Norwegian, and nynorsk only through a few words (ikkje,
  eg, treng); both come out as "no".
* A text with no function words and no ä/ö/æ/ø ("OEE 5S SMED", "Cobot-pilot") carries no
  evidence and comes out "sv".
* Swedish typed without å/ä/ö is recognised by its function words ("och", "att", "inte")
  and ASCII forms ("ar", "behover"); Norwegian typed without æ/ø/å likewise ("ikke", "og").
  A one-line text that is only shared words ("vi har problem med pressen") is a tie: "sv".
* A mixed text (a Swedish sentence quoting an English title) gets the language with the
  most evidence, usually the one of the function words. English loanwords in
  Scandinavian jargon ("setup", "lean", "cobot") deliberately carry little or no weight.
* Letter evidence is capped, so a place name (Jönköping, Ålesund) in an English text does
  not outvote its English function words.
* Only the first 2,000 characters of a text are read (`MAX_TEXT`): a long summary that
  changes language after that is judged by its beginning.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Mapping
from functools import lru_cache
from itertools import chain

SWEDISH, NORWEGIAN, ENGLISH = "sv", "no", "en"
LANGUAGES = (SWEDISH, NORWEGIAN, ENGLISH)  # also the tie-break order

_WORD = re.compile(r"[^\W\d_]+")

# Weights: about 3 for a word that nearly settles the question, 1.5–2 for a clear sign,
# under 1 for a hint.
_SV_WORDS = {
    "och": 3, "att": 2.5, "inte": 3, "är": 3, "jag": 2, "ett": 1.5, "för": 2, "från": 2,
    "till": 1.5, "också": 2, "hur": 2, "vad": 2, "när": 2, "behöver": 3, "behövs": 2.5,
    "vill": 1.5, "måste": 2.5, "mycket": 2, "många": 2, "efter": 1.5, "utan": 1.5, "bara": 1.5,
    "våra": 1.5, "ofta": 1.5, "aldrig": 1.5, "nu": 1, "gör": 2, "göra": 2, "finns": 2,
    "hjälp": 2, "hjälpa": 2, "företag": 2, "företaget": 2, "företagen": 2, "skall": 1,
    "ska": 0.7, "sig": 1, "sina": 1, "dessa": 1.5, "denna": 1.5, "detta": 1.5, "vilka": 1.5,
    "vilken": 1, "mellan": 2, "vid": 1.5, "än": 1.5, "eftersom": 2, "kanske": 2, "väldigt": 2,
    "dålig": 1.5, "dåliga": 1.5, "anställda": 2, "fler": 1, "nya": 1, "upp": 1.5, "inga": 1,
    "någon": 1.5, "något": 1.5, "några": 1.5, "idag": 1, "ju": 1, "dock": 1, "även": 2,
    "alla": 1, "hade": 1.5, "varit": 1.5, "blivit": 1.5, "genom": 1.5, "sedan": 1,
    "medan": 1.5, "därför": 2, "där": 1.5, "här": 1.5, "svårt": 1.5, "svår": 1.5, "lång": 1,
    "långa": 1, "långt": 1, "jobbar": 1.5, "arbetar": 1.5, "använda": 1.5, "använder": 1.5,
    "tillsammans": 1.5, "sån": 1, "sådan": 1, "sådana": 1, "ni": 1, "ej": 1, "bättre": 1.5,
    "kunna": 1, "stora": 1, "nog": 1, "tycker": 1.5, "menar": 1, "speciellt": 1.5, "stort": 0.5,
    "tex": 1, "mkt": 1.5, "iaf": 1.5,
    # typed without å, ä, ö
    "ar": 1, "behover": 2, "hjalp": 1.5, "maste": 1.5, "foretag": 1.5, "foretaget": 1.5,
    "fran": 1.5, "ocksa": 1.5, "nar": 1, "manga": 1, "gora": 1, "gor": 1, "aven": 1,
    "darfor": 1.5, "valdigt": 1.5, "battre": 1.5, "lang": 0.3, "langa": 1, "for": 0.3,
    "at": 0.2,
}
_NO_WORDS = {
    "og": 3, "ikke": 3, "ikkje": 3, "jeg": 2.5, "eg": 0.7, "er": 1.5, "hva": 2, "hvordan": 3,
    "hvor": 2, "hvilke": 2, "hvilken": 2, "hvis": 2, "hver": 1.5, "hvorfor": 2, "trenger": 3,
    "treng": 1.5, "trenge": 2, "også": 2, "ogsa": 1.5, "fra": 2, "til": 1.5, "etter": 1.5,
    "uten": 1.5, "mye": 2, "mange": 1.5, "bare": 1.5, "noen": 2, "noe": 2, "nå": 1, "å": 2,
    "vil": 1, "må": 1.5, "gjøre": 2.5, "gjør": 2.5, "gjore": 1.5, "hjelp": 2.5, "hjelpe": 2.5,
    "ønsker": 2, "ønske": 1.5, "onsker": 1.5, "skal": 1, "deres": 1.5, "våre": 1.5, "meg": 2,
    "deg": 2, "dere": 2, "ved": 1, "mellom": 2, "enn": 1.5, "siden": 1, "fordi": 2,
    "kanskje": 2, "veldig": 2, "dårlig": 2, "darlig": 1.5, "ansatte": 2, "slik": 1.5,
    "hele": 1, "altfor": 1.5, "litt": 1.5, "nye": 1.5, "dette": 2, "disse": 2, "denne": 1.5,
    "når": 1.5, "opp": 1.5, "flere": 1.5, "hadde": 1.5, "vært": 1.5, "blitt": 1.5,
    "gjennom": 2, "sammen": 1.5, "jobber": 1.5, "arbeider": 1.5, "bruke": 1.5, "bruker": 1,
    "mulig": 2, "vanskelig": 2, "bedre": 1.5, "blant": 1.5, "seg": 1.5, "sine": 1, "sånn": 1,
    "kunne": 1, "store": 0.7, "nok": 1, "synes": 1.5, "mener": 1, "spesielt": 2, "ofte": 1.5,
    "aldri": 1.5, "problemer": 1.5, "linja": 1, "inn": 1, "eks": 1, "mtp": 1.5, "ift": 1,
    "at": 0.8, "for": 0.8,
}
_EN_WORDS = {
    "the": 3, "and": 2, "of": 2, "to": 1.5, "in": 0.8, "is": 2, "are": 2, "we": 2, "our": 2,
    "us": 1, "with": 2, "this": 2, "that": 2, "these": 1.5, "those": 1.5, "have": 1.5,
    "has": 1.5, "had": 1, "not": 2, "how": 1.5, "what": 1.5, "which": 1.5, "can": 1,
    "could": 1.5, "would": 1.5, "should": 1.5, "will": 1.5, "want": 1.5, "need": 2,
    "needs": 2, "needed": 1.5, "help": 1.5, "it": 1.5, "its": 1.5, "they": 1.5, "their": 1.5,
    "there": 1.5, "from": 1.5, "on": 1.5, "at": 1, "a": 1, "an": 1.5, "for": 1, "too": 1.5,
    "very": 1.5, "but": 1.5, "or": 1.5, "if": 1.5, "than": 1.5, "when": 1.5, "where": 1.5,
    "who": 1.5, "why": 1.5, "new": 1, "be": 1, "been": 1.5, "was": 1.5, "were": 1.5, "do": 1,
    "does": 1.5, "get": 1, "some": 1, "any": 1.5, "into": 1.5, "about": 1.5, "also": 1.5,
    "only": 1.5, "long": 1, "time": 0.7, "company": 1.5, "production": 1, "improve": 1,
    "reduce": 1, "looking": 1, "using": 1, "use": 1, "by": 0.7, "my": 1.5, "your": 1.5,
    "you": 1.5, "so": 0.7, "all": 0.3, "like": 1, "just": 1, "many": 1.5, "much": 1.5,
    "lot": 1, "lots": 1, "way": 1, "better": 1.5, "machine": 1, "machines": 1, "work": 1,
    "working": 1, "changeover": 1, "throughput": 1, "quality": 1, "supplier": 1,
    "suppliers": 1, "customer": 1, "customers": 1, "plant": 1, "factory": 1, "no": 0.5,
    "more": 0.7, "line": 0.5, "setup": 0.3, "store": 0.5,
}
# Words Swedish and Norwegian share: evidence for both against English.
_SCANDINAVIAN_WORDS = {
    "vi": 0.7, "har": 0.7, "det": 0.7, "som": 0.7, "på": 0.7, "med": 0.7, "av": 0.7,
    "om": 0.5, "den": 0.5, "de": 0.5, "en": 0.5, "i": 0.5, "men": 0.5, "eller": 0.7,
    "kan": 0.5, "oss": 0.7, "vår": 0.7, "vårt": 0.5, "få": 0.5, "får": 0.7, "hos": 0.7,
    "mer": 0.5, "mot": 0.5, "ut": 0.5, "ingen": 0.5, "alltid": 0.5, "samt": 0.5, "blir": 0.7,
    "bli": 0.5, "kommer": 0.7, "sin": 0.5, "sitt": 0.5, "egen": 0.5, "eget": 0.5, "bra": 0.5,
    "lite": 0.5, "pga": 0.5, "osv": 0.5, "dvs": 0.5, "tror": 0.5, "helt": 0.5, "både": 0.7,
    "ska": 0.3, "er": 0.2, "time": 0.2, "problem": 0.3,
}

# Pieces of words, so that compounds and inflections count: (piece, language, weight).
_INSIDE = (
    ("stalltid", SWEDISH, 2), ("omstalln", SWEDISH, 2), ("tillverk", SWEDISH, 2),
    ("utveckl", SWEDISH, 2), ("kompetens", SWEDISH, 1), ("styrning", SWEDISH, 1.5),
    ("ledtid", SWEDISH, 2), ("genomlopp", SWEDISH, 2), ("verkstad", SWEDISH, 1.5),
    ("svets", SWEDISH, 1.5), ("arbet", SWEDISH, 1), ("forbattr", SWEDISH, 1.5),
    ("leverans", SWEDISH, 0.7), ("tion", SWEDISH, 0.5), ("tion", ENGLISH, 0.5),
    ("sjon", NORWEGIAN, 2), ("utvikl", NORWEGIAN, 2), ("tilvirk", NORWEGIAN, 2),
    ("kompetanse", NORWEGIAN, 1.5), ("styring", NORWEGIAN, 1.5), ("ledetid", NORWEGIAN, 2),
    ("omstill", NORWEGIAN, 2), ("verksted", NORWEGIAN, 1.5), ("sveis", NORWEGIAN, 1.5),
    ("arbeid", NORWEGIAN, 1), ("leveranse", NORWEGIAN, 1.5), ("forbedr", NORWEGIAN, 2),
    ("utfordr", NORWEGIAN, 2), ("bedrift", NORWEGIAN, 2), ("kk", NORWEGIAN, 0.7),
    ("th", ENGLISH, 0.5), ("w", ENGLISH, 0.5), ("ou", ENGLISH, 0.5), ("ph", ENGLISH, 0.5),
)
_STARTS = (("hv", NORWEGIAN, 1.5), ("gj", NORWEGIAN, 1), ("kj", NORWEGIAN, 0.7))
# (ending, language, weight, minimum word length)
_ENDS = (
    ("arna", SWEDISH, 1.5, 6), ("erna", SWEDISH, 1.5, 6), ("orna", SWEDISH, 1.5, 6),
    ("ene", NORWEGIAN, 0.7, 5),
    ("ly", ENGLISH, 0.5, 5), ("ed", ENGLISH, 0.4, 5), ("ies", ENGLISH, 0.5, 5),
)
# (pattern, language, weight, clues): the pattern can only match a text holding one of its
# clues, and looking for a clue costs a fraction of a scan with the pattern.
_ABBREVIATIONS = (
    (re.compile(r"\bt\.\s?ex\b"), SWEDISH, 2, ("ex",)),
    (re.compile(r"\bf\.\s?eks\b"), NORWEGIAN, 2, ("eks",)),
    (re.compile(r"\b(?:e\.g|i\.e)\b"), ENGLISH, 1.5, ("e.g", "i.e")),
)
# Every abbreviation above is a t, f, e or i, a full stop and, perhaps after a space, an e or
# a g. Most texts hold no such spot and skip the abbreviations: this one scan is cheaper than
# looking for the clues, as the engine skips from full stop to full stop.
_MAYBE_ABBREVIATION = re.compile(r"\.(?<=[tfei]\.)\s?[eg]")
_LETTER_WEIGHT, _LETTER_CAP = 1.5, 6.0

# A longer text (a research summary may hold 10,000 characters) is judged on its first
# 2,000, cut at a space: by then the evidence has long settled, and the cost is bounded.
MAX_TEXT = 2_000

_ASCII = str.maketrans({"å": "a", "ä": "a", "ö": "o", "ø": "o", "æ": "ae"})


@lru_cache(maxsize=100_000)
def _word_evidence(word: str) -> tuple[float, ...]:
    """What one word says, per language in LANGUAGES order. Cached as well as the tokens
    below: a new token is often a known word with new punctuation ("pressen." for "pressen")."""
    scores = dict.fromkeys(LANGUAGES, 0.0)
    scores[SWEDISH] += _SV_WORDS.get(word, 0) + _SCANDINAVIAN_WORDS.get(word, 0)
    scores[NORWEGIAN] += _NO_WORDS.get(word, 0) + _SCANDINAVIAN_WORDS.get(word, 0)
    scores[ENGLISH] += _EN_WORDS.get(word, 0)
    if len(word) >= 4:
        plain = word.translate(_ASCII)
        for piece, language, weight in _INSIDE:
            if piece in plain:
                scores[language] += weight
        for start, language, weight in _STARTS:
            if plain.startswith(start):
                scores[language] += weight
        for end, language, weight, min_length in _ENDS:
            if len(plain) >= min_length and plain.endswith(end):
                scores[language] += weight
    return tuple(scores[language] for language in LANGUAGES)


class _TokenEvidence(dict):
    """A white-space separated token of a lower-cased text ("pressen,", "cnc-cellen") -> the
    evidence of its words, in order, leaving out the words that say nothing at all.

    Cached per token rather than per word, so that a text costs one dict look-up per token
    and no Python loop: the vocabulary of production texts is small and repeats, and this is
    intake's hottest loop. Leaving out silent words changes no score: adding 0.0 to a
    non-negative float gives the same float. When full, the cache starts over, which bounds
    its memory and lets it follow a vocabulary that drifts."""

    MAX_SIZE = 100_000

    def __missing__(self, token: str) -> tuple[tuple[float, ...], ...]:
        if len(self) >= self.MAX_SIZE:
            self.clear()
        evidence = self[token] = tuple(e for e in map(_word_evidence, _words(token)) if any(e))
        return evidence


_token_evidence = _TokenEvidence().__getitem__


def _scores(text: str) -> tuple[float, float, float]:
    """language_scores(text) in LANGUAGES order, without building a dict."""
    lowered = text or ""
    if not lowered.isascii():  # ASCII is always NFC: most English texts skip the check
        lowered = unicodedata.normalize("NFC", lowered)
    lowered = lowered.casefold()
    if len(lowered) > MAX_TEXT:
        lowered = lowered[:MAX_TEXT].rpartition(" ")[0] or lowered[:MAX_TEXT]

    if lowered.isascii():  # no ä, ö, æ or ø
        scores = [0.0, 0.0, 0.0]
    else:
        swedish = lowered.count("ä") + lowered.count("ö")
        norwegian = lowered.count("æ") + lowered.count("ø")
        scores = [
            min(_LETTER_WEIGHT * swedish, _LETTER_CAP),
            min(_LETTER_WEIGHT * norwegian, _LETTER_CAP),
            0.0,
        ]

    if _MAYBE_ABBREVIATION.search(lowered):
        for pattern, language, weight, clues in _ABBREVIATIONS:
            if any(clue in lowered for clue in clues):
                scores[LANGUAGES.index(language)] += weight * len(pattern.findall(lowered))

    # Each language's column of word evidence, added in the order of the words (sum()
    # adds floats one by one, as a loop would: ties stay exact).
    evidence = tuple(chain.from_iterable(map(_token_evidence, lowered.split())))
    if evidence:
        return tuple(map(sum, zip(*evidence), scores))
    return tuple(scores)


def language_scores(text: str) -> Mapping[str, float]:
    """The evidence for each language, for explaining or testing a decision."""
    return dict(zip(LANGUAGES, _scores(text)))


def _words(lowered: str) -> list[str]:
    """_WORD.findall(lowered), faster: no word spans white space, and most tokens
    between spaces are all letters, hence one word each."""
    words: list[str] = []
    for token in lowered.split():
        if token.isalpha():
            words.append(token)
        else:
            words += _WORD.findall(token)
    return words


def detect_language(text: str) -> str:
    """Return "sv", "no" or "en" for a short production text; "sv" on a tie or no evidence."""
    scores = _scores(text)
    # The first language with the best score, as LANGUAGES is also the tie-break order.
    return LANGUAGES[scores.index(max(scores))]
