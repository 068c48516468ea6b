import pytest

from services.intake.language import detect_language, language_scores

SWEDISH = [
    "Ställtiden är för lång i pressen",
    "Vi har problem med långa ställtider vid omställning av pressarna.",
    "Behöver hjälp med 5S och standardiserat arbetssätt i monteringen",
    "Kassationen i svetsen har ökat sen vi bytte leverantör, vill förstå varför",
    "Ledtiden från order till leverans är ca 6 v, kunden vill ha 2",
    "Vi vill införa daglig styrning med pulsmöten men vet inte hur vi ska börja",
    "Företaget behöver kompetensförsörjning inom automation, svårt att rekrytera",
    "OEE på linje 3 ligger på 55%, mycket stopp pga materialbrist",
    "Intresserade av cobot för maskinbetjäning i CNC-cellen, t.ex. UR10",
    "Tryckluftsläckage och energieffektivisering – var börjar man?",
    "stalltiden ar for lang i pressen och vi behover hjalp med smed",
    "vi har inte koll på PIA och beläggningen i måleriet",
    "Jag undrar om det finns forskning om spårbarhet i affärssystemet",
    "Operatörerna tycker att ergonomin vid packningen är dålig",
    "Hur kan vi minska genomloppstiden? Flödet stannar vid härdningen",
    "Värdeflödesanalys gjord, nu vill vi ha stöd med ständiga förbättringar",
]

NORWEGIAN = [
    "Vi trenger hjelp med omstilling i pressen",
    "Ledetiden er altfor lang og vi vet ikke hvor vi skal begynne",
    "Hvordan kan vi redusere omstillingstiden på sprøytestøpemaskinene?",
    "Bedriften ønsker å innføre lean og daglig styring i produksjonen",
    "Vi har mye stopp på linja og trenger bedre vedlikehold",
    "Jeg lurer på om det finnes forskning på sporbarhet i ERP-systemet",
    "Operatørene synes at ergonomien ved pakkingen er dårlig",
    "vi trenger kompetanse pa robotisering og automasjon, f.eks. cobots",
    "Kassasjonen har økt etter at vi byttet leverandør",
    "Vi vil gjerne ha hjelp til verdistrømsanalyse og 5S i verkstedet",
    "Hva gjør andre bedrifter med trykkluftlekkasjer?",
    "Mangler folk med sveisekompetanse, vanskelig å rekruttere",
    "ikke nok kapasitet i lakkeringen, flaskehals hele uka",
    "Vi har problemer med leveransepresisjonen mot kundene",
    "Trenger støtte til digitalisering av produksjonsplanleggingen",
]

ENGLISH = [
    "We need help reducing setup time on the press line",
    "Our lead time is too long and we don't know where to start",
    "Looking for research on traceability in our ERP system",
    "How can we reduce scrap in the welding cell?",
    "The operators say ergonomics at the packing station is poor",
    "Interested in a cobot for machine tending, e.g. UR10",
    "We want to introduce daily management and pulse meetings",
    "Compressed air leaks are costing us a lot of energy",
    "OEE on line 3 is around 55% with many stops due to material shortage",
    "Need support with value stream mapping and 5S in the workshop",
    "Our company in Jönköping wants to cut changeover times",
    "Is there any testbed for additive manufacturing we could use?",
    "Hard to recruit people with automation skills",
    "Delivery precision has dropped since we changed supplier",
]


@pytest.mark.parametrize("text", SWEDISH)
def test_swedish(text):
    assert detect_language(text) == "sv", language_scores(text)


@pytest.mark.parametrize("text", NORWEGIAN)
def test_norwegian(text):
    assert detect_language(text) == "no", language_scores(text)


@pytest.mark.parametrize("text", ENGLISH)
def test_english(text):
    assert detect_language(text) == "en", language_scores(text)


def test_there_are_enough_examples():
    assert len(SWEDISH) + len(NORWEGIAN) + len(ENGLISH) >= 30


@pytest.mark.parametrize("text", ["", "   ", "OEE 5S SMED", "12345", "vi har problem med pressen"])
def test_no_evidence_or_a_tie_defaults_to_swedish(text):
    assert detect_language(text) == "sv"


def test_decomposed_diacritics_count_like_composed_ones():
    # Some CRMs send "ö" as "o" + combining diaeresis.
    decomposed = "Ledtiden fo\u0308r la\u030angt"
    assert detect_language(decomposed) == "sv"
    assert language_scores(decomposed)["sv"] == language_scores("Ledtiden för långt")["sv"]


def test_scores_explain_the_decision():
    scores = language_scores("Vi trenger hjelp med omstilling")
    assert scores["no"] > scores["sv"] > scores["en"]


def test_a_place_name_does_not_outvote_english_function_words():
    assert detect_language("We need help with OEE at our plant in Värnamo, Jönköping and Gävle") == "en"


def test_a_long_text_is_judged_by_its_first_characters():
    swedish = "Vi behöver hjälp med ställtiden och ledtiden i pressen. " * 40
    english = "We need help with the setup time of the press and the whole line. " * 200
    assert len(swedish) > 2_000
    assert detect_language(english) == "en"
    assert detect_language(swedish + english) == "sv"


def test_words_are_what_the_word_pattern_finds():
    from random import Random

    from services.intake.language import _WORD, _words

    rng = Random(3)
    alphabet = "aåäöæø é z ǅ Ⅻ ² 1 0 _ - . , ! \t \n \u00a0 \u2003 ' ’ ﬁ"
    for _ in range(3000):
        text = "".join(rng.choice(alphabet) for _ in range(rng.randint(0, 30)))
        assert _words(text) == _WORD.findall(text), text
