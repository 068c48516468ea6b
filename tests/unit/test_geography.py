import json
from pathlib import Path

import pytest

from services.intake import geography
from services.intake.geography import (
    COUNTY_IUC,
    REGION_COUNTIES,
    REGIONS,
    Placement,
    normalise_country,
    place,
)

DATA = json.loads((Path(geography.__file__).with_name("geography_data.json")).read_text(encoding="utf-8"))


# --- the tables --------------------------------------------------------------------------


def test_eight_swedish_regions_and_norway():
    assert len(REGIONS) == 9
    assert REGIONS[-1] == "Norge"
    assert all(REGION_COUNTIES[region] for region in REGIONS)


def test_every_swedish_county_is_in_exactly_one_region():
    swedish = [county for region in REGIONS[:-1] for county in REGION_COUNTIES[region]]
    assert len(swedish) == len(set(swedish)) == 21
    assert set(swedish) == set(DATA["SE"]) == set(COUNTY_IUC)


def test_norway_has_the_fifteen_fylker_of_2024():
    assert set(REGION_COUNTIES["Norge"]) == set(DATA["NO"]) == {
        "Oslo", "Akershus", "Buskerud", "Østfold", "Vestfold", "Telemark", "Agder", "Rogaland",
        "Vestland", "Møre og Romsdal", "Trøndelag", "Nordland", "Troms", "Finnmark", "Innlandet",
    }


def test_all_290_swedish_municipalities_are_known():
    per_county = {county: len(content["municipalities"]) for county, content in DATA["SE"].items()}
    assert sum(per_county.values()) == 290
    assert per_county["Västra Götalands län"] == 49
    assert per_county["Skåne län"] == 33
    assert per_county["Stockholms län"] == 26
    assert per_county["Gotlands län"] == 1
    assert all(n >= 5 for county, n in per_county.items() if county != "Gotlands län")


def test_every_swedish_municipality_places_back_into_its_own_county():
    for county, content in DATA["SE"].items():
        for municipality in content["municipalities"]:
            placed = place("SE", None, municipality)
            assert (placed.county, placed.municipality) == (county, municipality)


def test_every_norwegian_municipality_with_a_unique_name_places_into_its_fylke():
    names = [m for content in DATA["NO"].values() for m in content["municipalities"]]
    for county, content in DATA["NO"].items():
        for municipality in content["municipalities"]:
            if names.count(municipality) == 1:
                assert place("NO", None, municipality).county == county


# --- normalisation ------------------------------------------------------------------------


@pytest.mark.parametrize(
    "written",
    ["Jönköpings län", "Jönköping", "jonkopings lan", "JÖNKÖPINGS LÄN", "Region Jönköpings län",
     "Jönköping County", "Joenkoepings laen", "F", "SE-F", "06", "  Jönköpings   län "],
)
def test_spellings_of_jonkopings_lan(written):
    assert place("SE", written, None).county == "Jönköpings län"


@pytest.mark.parametrize(
    ("written", "county"),
    [
        ("Västra Götalands län", "Västra Götalands län"),
        ("VGR", "Västra Götalands län"),
        ("Västra Götalandsregionen", "Västra Götalands län"),
        ("vastra gotaland", "Västra Götalands län"),
        ("Region Skåne", "Skåne län"),
        ("Skane", "Skåne län"),
        ("Stockholm", "Stockholms län"),
        ("Örebro", "Örebro län"),
        ("Orebro County", "Örebro län"),
        ("Sörmland", "Södermanlands län"),
        ("Dalarna", "Dalarnas län"),
        ("Norrbotten", "Norrbottens län"),
        ("Jämtland Härjedalen", "Jämtlands län"),
        ("Gotland", "Gotlands län"),
        ("Älvsborgs län", "Västra Götalands län"),
    ],
)
def test_swedish_county_spellings(written, county):
    assert place("SE", written, None).county == county


@pytest.mark.parametrize(
    ("written", "fylke"),
    [
        ("Møre og Romsdal", "Møre og Romsdal"),
        ("more og romsdal", "Møre og Romsdal"),
        ("Trøndelag fylke", "Trøndelag"),
        ("Trondelag", "Trøndelag"),
        ("Østfold", "Østfold"),
        ("Ostfold", "Østfold"),
        ("Oppland", "Innlandet"),
        ("Hordaland", "Vestland"),
        ("NO-46", "Vestland"),
        ("03", "Oslo"),
    ],
)
def test_norwegian_fylke_spellings(written, fylke):
    assert place("NO", written, None).county == fylke


@pytest.mark.parametrize(
    ("written", "country"),
    [("SE", "SE"), ("se", "SE"), ("Sverige", "SE"), ("Sweden", "SE"), ("NO", "NO"), ("Norge", "NO"), ("Norway", "NO")],
)
def test_country_spellings(written, country):
    assert normalise_country(written) == country


@pytest.mark.parametrize(
    ("written", "municipality"),
    [
        ("Varnamo", "Värnamo"),
        ("VÄRNAMO", "Värnamo"),
        ("Värnamo kommun", "Värnamo"),
        ("Gislaveds kommun", "Gislaved"),
        ("Göteborgs Stad", "Göteborg"),
        ("Gothenburg", "Göteborg"),
        ("Malmo", "Malmö"),
        ("Upplands Bro", "Upplands-Bro"),
        ("Huskvarna", "Jönköping"),
        ("Anderstorp", "Gislaved"),
    ],
)
def test_municipality_spellings_and_localities(written, municipality):
    assert place("SE", None, written).municipality == municipality


# --- inference, regions and IUCs -----------------------------------------------------------


@pytest.mark.parametrize(
    ("municipality", "county", "region", "iuc"),
    [
        ("Värnamo", "Jönköpings län", "Småland", "IUC Småland"),
        ("Gnosjö", "Jönköpings län", "Småland", "IUC Småland"),
        ("Gislaved", "Jönköpings län", "Småland", "IUC Småland"),
        ("Sandviken", "Gävleborgs län", "Norra Mellansverige", "IUC Gävleborg"),
        ("Gävle", "Gävleborgs län", "Norra Mellansverige", "IUC Gävleborg"),
        ("Olofström", "Blekinge län", "Syd", "IUC Syd"),
        ("Karlshamn", "Blekinge län", "Syd", "IUC Syd"),
        ("Trollhättan", "Västra Götalands län", "Väst", "IUC Väst"),
        ("Borås", "Västra Götalands län", "Väst", "IUC Sjuhärad"),
        ("Skövde", "Västra Götalands län", "Väst", "IUC Skaraborg"),
        ("Borlänge", "Dalarnas län", "Norra Mellansverige", "IUC Dalarna"),
        ("Östersund", "Jämtlands län", "Mitt", "IUC Z-GROUP"),
        ("Örnsköldsvik", "Västernorrlands län", "Mitt", "IUC Z-GROUP"),
        ("Skellefteå", "Västerbottens län", "Norr", "IUC Norr"),
        ("Luleå", "Norrbottens län", "Norr", "IUC Norr"),
        ("Södertälje", "Stockholms län", "Stockholm", "IUC Stockholm"),
        ("Eskilstuna", "Södermanlands län", "Östra Mellansverige", "Sörmlands IUC"),
        ("Västerås", "Västmanlands län", "Östra Mellansverige", "IUC Västmanland"),
        ("Halmstad", "Hallands län", "Väst", "IUC Väst"),
        ("Visby", "Gotlands län", "Småland", None),
    ],
)
def test_county_region_and_iuc_are_inferred_from_the_municipality(municipality, county, region, iuc):
    placed = place("SE", None, municipality)
    assert (placed.county, placed.region, placed.iuc) == (county, region, iuc)
    assert placed.programme == "Produktionslyftet"


def test_a_full_placement():
    assert place("SE", "jonkopings lan", "Varnamo") == Placement(
        country="SE", county="Jönköpings län", municipality="Värnamo", region="Småland", iuc="IUC Småland"
    )


def test_unknown_municipality_in_a_known_county_is_kept_and_the_county_decides():
    placed = place("SE", "Jönköpings län", "Lilla Bruket")
    assert placed == Placement("SE", "Jönköpings län", "Lilla Bruket", "Småland", "IUC Småland")


def test_unknown_municipality_without_a_county_is_kept_without_a_region():
    assert place("SE", None, "Lilla Bruket") == Placement("SE", None, "Lilla Bruket", None, None)


@pytest.mark.parametrize(("county", "municipality"), [(None, None), ("", ""), ("  ", None)])
def test_nothing_known_gives_nones(county, municipality):
    assert place("SE", county, municipality) == Placement("SE", None, None, None, None)


def test_diacritics_tell_habo_from_habo():
    assert place("SE", None, "Håbo").county == "Uppsala län"
    assert place("SE", None, "Habo").county == "Jönköpings län"
    assert place("SE", "Uppsala län", "Håbo").municipality == "Håbo"


# --- Norway -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("municipality", "fylke", "canonical"),
    [
        ("Raufoss", "Innlandet", "Vestre Toten"),
        ("Vestre Toten", "Innlandet", "Vestre Toten"),
        ("Gjøvik", "Innlandet", "Gjøvik"),
        ("Ålesund", "Møre og Romsdal", "Ålesund"),
        ("Aalesund", "Møre og Romsdal", "Ålesund"),
        ("Sunndal", "Møre og Romsdal", "Sunndal"),
        ("Kongsberg", "Buskerud", "Kongsberg"),
        ("Stavanger", "Rogaland", "Stavanger"),
        ("Trondheim kommune", "Trøndelag", "Trondheim"),
        ("Bergen", "Vestland", "Bergen"),
        ("Mo i Rana", "Nordland", "Rana"),
        ("Rana", "Nordland", "Rana"),
        ("Baerum", "Akershus", "Bærum"),
        ("Tromsø", "Troms", "Tromsø"),
    ],
)
def test_norwegian_municipalities(municipality, fylke, canonical):
    assert place("NO", None, municipality) == Placement("NO", fylke, canonical, "Norge", None)


def test_norway_is_produktivitetsspranget():
    assert place("Norge", "Vestland", None).programme == "Produktivitetsspranget"


def test_a_fylke_split_in_2024_is_resolved_through_the_municipality():
    assert place("NO", "Viken", "Kongsberg").county == "Buskerud"
    assert place("NO", "Viken", "Fredrikstad").county == "Østfold"
    assert place("NO", "Troms og Finnmark", "Alta").county == "Finnmark"


def test_a_name_shared_by_two_fylker_needs_the_fylke():
    with pytest.raises(ValueError, match="Herøy.*give the county"):
        place("NO", None, "Herøy")
    assert place("NO", "Nordland", "Herøy").county == "Nordland"
    assert place("NO", "Møre og Romsdal", "Heroy").county == "Møre og Romsdal"


# --- errors -------------------------------------------------------------------------------


def test_a_municipality_contradicting_the_county_is_rejected():
    with pytest.raises(ValueError) as raised:
        place("SE", "Skåne län", "Värnamo")
    assert str(raised.value) == "municipality Värnamo lies in Jönköpings län, not Skåne län"


@pytest.mark.parametrize(
    ("country", "county", "municipality", "message"),
    [
        ("SE", "Blekinge", "Sandviken", "Sandviken lies in Gävleborgs län, not Blekinge län"),
        ("SE", "VGR", "Huskvarna", "Jönköping lies in Jönköpings län, not Västra Götalands län"),
        ("NO", "Rogaland", "Raufoss", "Vestre Toten lies in Innlandet, not Rogaland"),
        ("NO", "Viken", "Bergen", r"Bergen lies in Vestland, not Viken \(Akershus, Buskerud and Østfold\)"),
        ("SE", "Smaland", None, "unknown county 'Smaland' in Sweden"),
        ("SE", "Rogaland", None, "'Rogaland' is not in Sweden: Rogaland is in Norway"),
        ("NO", "Skåne", "Malmö", "'Skåne' is not in Norway: Skåne län is in Sweden"),
        ("SE", None, "Bergen", r"municipality Bergen lies in Norway \(Vestland\), not Sweden"),
        ("NO", "Viken", None, "Viken was split in 2024 into Akershus, Buskerud and Østfold"),
        ("DK", None, None, "unknown country 'DK'"),
    ],
)
def test_errors_say_what_is_wrong(country, county, municipality, message):
    with pytest.raises(ValueError, match=message):
        place(country, county, municipality)
