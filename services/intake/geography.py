"""Where a company is: country, county (län / fylke), municipality, and from those the
Produktionslyftet region and the regional IUC company.

Pure functions; the municipality table (`geography_data.json`) is read once, at import.

Names are matched case- and diacritic-insensitively: "Varnamo", "VÄRNAMO" and
"Värnamo kommun" all find Värnamo; "jonkopings lan", "Jönköping", "Region Jönköpings län",
"F", "SE-F" and "06" all find Jönköpings län; "Aalesund" and "Baerum" find Ålesund and
Bærum. A handful of well-known industrial localities (Huskvarna, Anderstorp, Raufoss,
Mo i Rana, …) resolve to the municipality they lie in, and that municipality is what
`place` returns. Where two names differ only by diacritics (Habo in Jönköpings län, Håbo in
Uppsala län) the spelling as written decides, so "Habo" means Habo.

WORKING ASSUMPTIONS, to be confirmed by the Produktionslyftet programme office and
IUC Sverige (they are data, not logic: change the tables below, not the code):

* Regions. From its second programme period (2010) Produktionslyftet worked through eight
  regional nodes (Luleå tekniska universitet, Mittuniversitetet, Högskolan i Gävle,
  Mälardalens högskola, KTH, Göteborgs Tekniska College, CIL in Småland and IUC Syd).
  redthread assumes the eight regions follow Sweden's eight NUTS-2 areas (riksområden),
  which those nodes match one to one:

    Norr                 Norrbottens län, Västerbottens län
    Mitt                 Jämtlands län, Västernorrlands län
    Norra Mellansverige  Dalarnas län, Gävleborgs län, Värmlands län
    Östra Mellansverige  Uppsala län, Södermanlands län, Östergötlands län,
                         Örebro län, Västmanlands län
    Stockholm            Stockholms län
    Väst                 Västra Götalands län, Hallands län
    Småland              Jönköpings län, Kronobergs län, Kalmar län, Gotlands län
    Syd                  Skåne län, Blekinge län

  Every Norwegian fylke maps to the region "Norge" (programme Produktivitetsspranget,
  no IUC company).

* IUC companies. One default IUC per county, see `_SWEDISH_COUNTIES`. The least certain
  names are marked "unconfirmed" there. Inside Västra Götaland the IUC follows the
  sub-region: the Sjuhärad municipalities map to IUC Sjuhärad and the Skaraborg
  municipalities to IUC Skaraborg (`_IUC_BY_MUNICIPALITY`); the rest of the county goes
  to IUC Väst. Gotland has no IUC company that we know of, so its IUC is None.

* Norway uses the fylke structure in force from 1 January 2024. The 2020–2023 fylker are
  accepted as input: Viken, Vestfold og Telemark and Troms og Finnmark were split, so
  they are resolved through the municipality (or rejected if there is no municipality).
"""

from __future__ import annotations

import json
import re
import unicodedata
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType
from typing import TypeVar

_T = TypeVar("_T")

SWEDEN = "SE"
NORWAY = "NO"
_COUNTRY_NAMES = {SWEDEN: "Sweden", NORWAY: "Norway"}
_COUNTRY_ALIASES = {
    "se": SWEDEN, "swe": SWEDEN, "sweden": SWEDEN, "sverige": SWEDEN, "svensk": SWEDEN,
    "no": NORWAY, "nor": NORWAY, "norway": NORWAY, "norge": NORWAY, "noreg": NORWAY,
}

NORGE = "Norge"
REGIONS: tuple[str, ...] = (
    "Norr",
    "Mitt",
    "Norra Mellansverige",
    "Östra Mellansverige",
    "Stockholm",
    "Väst",
    "Småland",
    "Syd",
    NORGE,
)

PROGRAMME_BY_COUNTRY: Mapping[str, str] = MappingProxyType(
    {SWEDEN: "Produktionslyftet", NORWAY: "Produktivitetsspranget"}
)


@dataclass(frozen=True)
class Placement:
    country: str
    county: str | None
    municipality: str | None
    region: str | None
    iuc: str | None

    @property
    def programme(self) -> str:
        """The national lean programme of the company's country."""
        return PROGRAMME_BY_COUNTRY[self.country]


@dataclass(frozen=True)
class _County:
    country: str
    name: str
    codes: tuple[str, ...]  # SCB länskod / letter, or fylkesnummer; ISO 3166-2 is derived
    region: str
    iuc: str | None
    aliases: tuple[str, ...] = ()


# name, codes, region, default IUC, aliases (the bare name without "län" and its genitive
# forms are matched without listing them).
_SWEDISH_COUNTIES = (
    _County(SWEDEN, "Stockholms län", ("01", "AB"), "Stockholm", "IUC Stockholm",  # unconfirmed
            ("Storstockholm",)),
    _County(SWEDEN, "Uppsala län", ("03", "C"), "Östra Mellansverige", "IUC Uppsala"),  # unconfirmed
    _County(SWEDEN, "Södermanlands län", ("04", "D"), "Östra Mellansverige", "Sörmlands IUC",  # unconfirmed
            ("Sörmland", "Sörmlands län")),
    _County(SWEDEN, "Östergötlands län", ("05", "E"), "Östra Mellansverige", "IUC Öst"),  # unconfirmed
    _County(SWEDEN, "Jönköpings län", ("06", "F"), "Småland", "IUC Småland"),  # unconfirmed
    _County(SWEDEN, "Kronobergs län", ("07", "G"), "Småland", "IUC Småland"),  # unconfirmed
    _County(SWEDEN, "Kalmar län", ("08", "H"), "Småland", "IUC Kalmar län"),  # unconfirmed
    _County(SWEDEN, "Gotlands län", ("09", "I"), "Småland", None),
    _County(SWEDEN, "Blekinge län", ("10", "K"), "Syd", "IUC Syd"),  # unconfirmed
    _County(SWEDEN, "Skåne län", ("12", "M"), "Syd", "IUC Syd",
            ("Skånes län", "Malmöhus län", "Kristianstads län")),
    _County(SWEDEN, "Hallands län", ("13", "N"), "Väst", "IUC Väst"),  # unconfirmed
    _County(SWEDEN, "Västra Götalands län", ("14", "O"), "Väst", "IUC Väst",
            ("VGR", "Västra Götalandsregionen", "VG", "Göteborgs och Bohus län", "Älvsborgs län",
             "Skaraborgs län", "Bohuslän", "Dalsland", "Skaraborg", "Sjuhärad")),
    _County(SWEDEN, "Värmlands län", ("17", "S"), "Norra Mellansverige", "Stål & Verkstad"),  # unconfirmed
    _County(SWEDEN, "Örebro län", ("18", "T"), "Östra Mellansverige", "IUC Örebro"),  # unconfirmed
    _County(SWEDEN, "Västmanlands län", ("19", "U"), "Östra Mellansverige", "IUC Västmanland"),  # unconfirmed
    _County(SWEDEN, "Dalarnas län", ("20", "W"), "Norra Mellansverige", "IUC Dalarna",
            ("Kopparbergs län",)),
    _County(SWEDEN, "Gävleborgs län", ("21", "X"), "Norra Mellansverige", "IUC Gävleborg",  # unconfirmed
            ("Gästrikland", "Hälsingland")),
    _County(SWEDEN, "Västernorrlands län", ("22", "Y"), "Mitt", "IUC Z-GROUP", ("Medelpad",)),
    _County(SWEDEN, "Jämtlands län", ("23", "Z"), "Mitt", "IUC Z-GROUP",
            ("Jämtland Härjedalen", "Härjedalen")),
    _County(SWEDEN, "Västerbottens län", ("24", "AC"), "Norr", "IUC Norr"),  # unconfirmed
    _County(SWEDEN, "Norrbottens län", ("25", "BD"), "Norr", "IUC Norr"),  # unconfirmed
)

_NORWEGIAN_COUNTIES = (
    _County(NORWAY, "Oslo", ("03",), NORGE, None),
    _County(NORWAY, "Rogaland", ("11",), NORGE, None),
    _County(NORWAY, "Møre og Romsdal", ("15",), NORGE, None, ("Møre & Romsdal", "Møre")),
    _County(NORWAY, "Nordland", ("18",), NORGE, None, ("Nordlánnda",)),
    _County(NORWAY, "Østfold", ("31",), NORGE, None),
    _County(NORWAY, "Akershus", ("32",), NORGE, None),
    _County(NORWAY, "Buskerud", ("33",), NORGE, None),
    _County(NORWAY, "Innlandet", ("34",), NORGE, None, ("Oppland", "Hedmark")),
    _County(NORWAY, "Vestfold", ("39",), NORGE, None),
    _County(NORWAY, "Telemark", ("40",), NORGE, None),
    _County(NORWAY, "Agder", ("42",), NORGE, None, ("Aust-Agder", "Vest-Agder")),
    _County(NORWAY, "Vestland", ("46",), NORGE, None, ("Hordaland", "Sogn og Fjordane")),
    _County(NORWAY, "Trøndelag", ("50",), NORGE, None,
            ("Trööndelage", "Sør-Trøndelag", "Nord-Trøndelag")),
    _County(NORWAY, "Troms", ("55",), NORGE, None, ("Romsa", "Tromssa")),
    _County(NORWAY, "Finnmark", ("56",), NORGE, None, ("Finnmárku", "Finmarkku")),
)

# Fylker of 2020–2023 that were split on 1 January 2024: resolved via the municipality.
_SPLIT_NORWEGIAN_COUNTIES = {
    "Viken": ("Akershus", "Buskerud", "Østfold"),
    "Vestfold og Telemark": ("Vestfold", "Telemark"),
    "Troms og Finnmark": ("Troms", "Finnmark"),
}

_SJUHARAD = ("Borås", "Bollebygd", "Herrljunga", "Mark", "Svenljunga", "Tranemo", "Ulricehamn", "Vårgårda")
_SKARABORG = ("Essunga", "Falköping", "Grästorp", "Gullspång", "Götene", "Hjo", "Karlsborg", "Lidköping",
              "Mariestad", "Skara", "Skövde", "Tibro", "Tidaholm", "Töreboda", "Vara")
_IUC_BY_MUNICIPALITY: Mapping[tuple[str, str], str] = MappingProxyType(
    {("Västra Götalands län", m): "IUC Sjuhärad" for m in _SJUHARAD}
    | {("Västra Götalands län", m): "IUC Skaraborg" for m in _SKARABORG}
)


# ---------------------------------------------------------------------------------------
# Name folding
# ---------------------------------------------------------------------------------------

# Index keys are built in three spellings so that input in any of them matches:
# plain letters (å, ä → a; ö, ø → o; æ → ae), transliterated (å → aa, ä, æ → ae, ö, ø → oe)
# and æ → a. Input is folded with the first only.
_PLAIN = str.maketrans({"å": "a", "ä": "a", "ö": "o", "ø": "o", "æ": "ae"})
_TRANSLITERATED = str.maketrans({"å": "aa", "ä": "ae", "ö": "oe", "ø": "oe", "æ": "ae"})
_SHORT_AE = str.maketrans({"å": "a", "ä": "a", "ö": "o", "ø": "o", "æ": "a"})
_NON_ALNUM = re.compile(r"[^0-9a-z]+")

_PREFIXES = ("region ", "regionen ", "landskapet ")
_SUFFIXES = (" fylkeskommune", " fylke", " county", " lan", " laen", " regionen", " kommune",
             " kommun", " municipality", " stad")


def _fold(text: str, table: dict[int, str] = _PLAIN) -> str:
    lowered = unicodedata.normalize("NFC", text).casefold().replace("&", " ").translate(table)
    # Any other accent (é, ü, á in Sami names) is dropped.
    bare = "".join(c for c in unicodedata.normalize("NFKD", lowered) if not unicodedata.combining(c))
    return _NON_ALNUM.sub(" ", bare).strip()


def _spellings(name: str) -> set[str]:
    return {_fold(name, table) for table in (_PLAIN, _TRANSLITERATED, _SHORT_AE)}


def _strip_affixes(key: str) -> str:
    for prefix in _PREFIXES:
        if key.startswith(prefix):
            key = key[len(prefix):]
    for suffix in _SUFFIXES:
        if key.endswith(suffix) and len(key) > len(suffix):
            key = key[: -len(suffix)]
    return key


def _without_genitive(key: str) -> str | None:
    return key[:-1] if key.endswith("s") and len(key) > 3 else None


def _candidates(key: str) -> Iterator[str]:
    """Input side: the folded name as given, then without "Region …", "… län", "… kommun"
    and the like, then without a genitive s ("jonkopings" → "jonkoping")."""
    yield key
    stripped = _strip_affixes(key)
    if stripped != key:
        yield stripped
    bare = _without_genitive(stripped)
    if bare:
        yield bare


def _index_keys(name: str) -> set[str]:
    """Index side: every spelling of a canonical name or alias, and, for one written with
    "län", "kommun", "Region …", also its bare form ("Jönköpings län" → "jonkoping")."""
    keys = set()
    for variant in _spellings(name):
        keys.add(variant)
        stripped = _strip_affixes(variant)
        if stripped != variant:
            keys.add(stripped)
            bare = _without_genitive(stripped)
            if bare:
                keys.add(bare)
    return keys


def _exact(text: str) -> str:
    """Case-insensitive but diacritic-sensitive, to tell Håbo from Habo."""
    return " ".join(re.sub(r"[\W_]+", " ", unicodedata.normalize("NFC", text).casefold()).split())


def _lookup(index: Mapping[str, _T], text: str) -> _T | None:
    for candidate in _candidates(_fold(text)):
        if candidate in index:
            return index[candidate]
    return None


# ---------------------------------------------------------------------------------------
# Tables, built at import
# ---------------------------------------------------------------------------------------

_COUNTIES: Mapping[tuple[str, str], _County] = MappingProxyType(
    {(c.country, c.name): c for c in _SWEDISH_COUNTIES + _NORWEGIAN_COUNTIES}
)


def _build_index(entries: Iterable[tuple[str, _T]]) -> dict[str, frozenset[_T]]:
    """Spelling key → what it may mean (more than one thing only for genuinely ambiguous
    names: the two Norwegian Herøy and Våler, or Habo and Håbo once diacritics are gone)."""
    index: dict[str, set[_T]] = {}
    for spelling, meaning in entries:
        for key in _index_keys(spelling):
            index.setdefault(key, set()).add(meaning)
    return {key: frozenset(meanings) for key, meanings in index.items()}


def _county_index(country: str) -> dict[str, tuple[str, ...]]:
    """Spelling → the county, or for a Norwegian fylke split in 2024 the fylker it became."""
    entries = [(name, (c.name,)) for c in _COUNTIES.values() if c.country == country
               for name in (c.name, *c.aliases)]
    if country == NORWAY:
        entries += list(_SPLIT_NORWEGIAN_COUNTIES.items())
    index = {}
    for key, meanings in _build_index(entries).items():
        if len(meanings) > 1:
            raise RuntimeError(f"county spelling {key!r} is ambiguous in {country}: {sorted(meanings)}")
        (index[key],) = meanings
    for c in _COUNTIES.values():
        if c.country == country:
            for code in c.codes:  # "06", "F", and ISO 3166-2: "SE-F", "NO-46"
                index[code.lower()] = (c.name,)
                if code.isalpha() or country == NORWAY:
                    index[_fold(f"{country}-{code}")] = (c.name,)
    return index


@dataclass(frozen=True)
class _Municipality:
    county: str
    name: str
    spelled: str  # the municipality's or locality's own name, with its diacritics


def _load_municipalities() -> dict[str, dict[str, frozenset[_Municipality]]]:
    data = json.loads(Path(__file__).with_name("geography_data.json").read_text(encoding="utf-8"))
    indexes = {}
    for country in (SWEDEN, NORWAY):
        entries: list[tuple[str, _Municipality]] = []
        for county, content in data[country].items():
            if (country, county) not in _COUNTIES:
                raise RuntimeError(f"geography_data.json names an unknown county {county!r}")
            for name in content["municipalities"]:
                entries.append((name, _Municipality(county, name, name)))
            for locality, name in content["localities"].items():
                if name not in content["municipalities"]:
                    raise RuntimeError(f"locality {locality} points at unknown municipality {name}")
                entries.append((locality, _Municipality(county, name, locality)))
        indexes[country] = _build_index(entries)
    return indexes


_COUNTY_INDEX = {country: _county_index(country) for country in (SWEDEN, NORWAY)}
_MUNICIPALITY_INDEX = _load_municipalities()

REGION_COUNTIES: Mapping[str, tuple[str, ...]] = MappingProxyType(
    {region: tuple(c.name for c in _COUNTIES.values() if c.region == region) for region in REGIONS}
)
COUNTY_REGION: Mapping[str, str] = MappingProxyType({c.name: c.region for c in _COUNTIES.values()})
COUNTY_IUC: Mapping[str, str | None] = MappingProxyType({c.name: c.iuc for c in _SWEDISH_COUNTIES})


# ---------------------------------------------------------------------------------------
# API
# ---------------------------------------------------------------------------------------


def normalise_country(country: str) -> str:
    """Map "SE", "Sverige", "sweden" → "SE" and "NO", "Norge", "Norway" → "NO"."""
    code = _COUNTRY_ALIASES.get(_fold(country or ""))
    if code is None:
        raise ValueError(f"unknown country {country!r}: expected Sweden (SE) or Norway (NO)")
    return code


def _other(country: str) -> str:
    return NORWAY if country == SWEDEN else SWEDEN


def _clean(value: str | None) -> str | None:
    return (" ".join(value.split()) or None) if value is not None else None


def _resolve_county(country: str, county: str) -> tuple[str, ...]:
    found = _lookup(_COUNTY_INDEX[country], county)
    if found:
        return found
    elsewhere = _lookup(_COUNTY_INDEX[_other(country)], county)
    if elsewhere and not _fold(county).isdigit():
        raise ValueError(
            f"county {county!r} is not in {_COUNTRY_NAMES[country]}: "
            f"{_and_list(elsewhere)} is in {_COUNTRY_NAMES[_other(country)]}"
        )
    raise ValueError(f"unknown county {county!r} in {_COUNTRY_NAMES[country]}")


def _find_municipality(country: str, written: str) -> set[_Municipality]:
    found = set(_lookup(_MUNICIPALITY_INDEX[country], written) or ())
    if len(found) > 1:  # "Håbo" written with its ring means Håbo, not Habo
        exact = _strip_affixes(_exact(written))
        found = {m for m in found if _exact(m.spelled) == exact} or found
    return found


def _and_list(names: Iterable[str], word: str = "and") -> str:
    names = sorted(set(names))
    return names[0] if len(names) == 1 else f"{', '.join(names[:-1])} {word} {names[-1]}"


def _placement(country: str, county: str, municipality: str | None) -> Placement:
    c = _COUNTIES[(country, county)]
    iuc = _IUC_BY_MUNICIPALITY.get((county, municipality or ""), c.iuc)
    return Placement(country, county, municipality, c.region, iuc)


def place(country: str, county: str | None, municipality: str | None) -> Placement:
    """Normalise a company's location and derive its Produktionslyftet region and IUC.

    - county and municipality are matched case- and diacritic-insensitively, and a known
      municipality or locality comes back as the municipality's official name;
    - a missing county is inferred from a known municipality;
    - a known municipality that lies in another county than the one given is an error;
    - an unknown municipality is kept as written; the region then follows the county
      (or is None when the county is missing too); both missing gives Nones;
    - raises ValueError, with a message meant for the partner who sent the data, for an
      unknown country or county, a contradiction, a county of the other country, or a
      municipality name shared by several counties when no county is given.
    """
    code = normalise_country(country)
    county, municipality = _clean(county), _clean(municipality)
    counties = _resolve_county(code, county) if county else None

    known = _find_municipality(code, municipality) if municipality else set()
    if counties is not None and known:
        inside = {m for m in known if m.county in counties}
        if not inside:
            given = counties[0] if len(counties) == 1 else f"{county} ({_and_list(counties)})"
            raise ValueError(
                f"municipality {_and_list({m.name for m in known}, '/')} lies in "
                f"{_and_list({m.county for m in known}, 'or')}, not {given}"
            )
        known = inside

    if len(known) > 1:
        options = _and_list({f"{m.name} ({m.county})" for m in known}, "or")
        raise ValueError(f"municipality {municipality} could be {options}; give the county")
    if known:
        (found,) = known
        return _placement(code, found.county, found.name)

    # The municipality is missing or unknown: the county alone decides.
    if counties is None:
        if municipality:
            elsewhere = _find_municipality(_other(code), municipality)
            if elsewhere:
                raise ValueError(
                    f"municipality {municipality} lies in {_COUNTRY_NAMES[_other(code)]} "
                    f"({_and_list({m.county for m in elsewhere}, 'or')}), not {_COUNTRY_NAMES[code]}"
                )
        return Placement(code, None, municipality, None, None)
    if len(counties) > 1:
        raise ValueError(
            f"{county} was split in 2024 into {_and_list(counties)}; "
            "give the current fylke or a municipality redthread knows"
        )
    return _placement(code, counties[0], municipality)
