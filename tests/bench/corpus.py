"""A generated corpus of needs and research outputs for benchmarks: deterministic (seeded),
as many as asked for, and written the way the hand-made evaluation set in
tests/data/matching/ is written.

Each document is about one production concept from the matcher's thesaurus
(services/matching/thesaurus/production_terms.tsv) and one to three related ones, mostly
from the same section; topics have a fixed Zipf-like popularity (the commonest about 60
times as frequent as the rarest). Sentences are recombined from templates per language and kind (informal
for needs: "o", "ngn", "pga"; descriptive for outputs), filled with the concepts' terms in
the document's language, the company's products, machines and customers, numbers, places
and now and then an article code or a sentence from the evaluation set, so the vocabulary
has the long tail of real texts. Swedish mostly, some English and Norwegian bokmål.

    needs(100_000)    -> list[NeedSubmitted]
    outputs(100_000)  -> list[ResearchOutputPublished]

The models are built with `model_construct` (validation would cost more than the
generation); every field is valid, which `validated()` checks on a sample.
"""

from __future__ import annotations

import json
import random
import re
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, datetime, timedelta, timezone
from functools import lru_cache
from pathlib import Path

from contracts.events import (
    CompanyRef,
    Confidentiality,
    Country,
    Language,
    NeedSubmitted,
    NeedType,
    OutputType,
    Person,
    Researcher,
    ResearchOutputPublished,
    StrengthArea,
    Urgency,
)
from contracts.org_numbers import luhn_is_valid, norwegian_check_digit

ROOT = Path(__file__).resolve().parents[2]
THESAURUS = ROOT / "services" / "matching" / "thesaurus" / "production_terms.tsv"
GEOGRAPHY = ROOT / "services" / "intake" / "geography_data.json"
EVALUATION = ROOT / "tests" / "data" / "matching"

NEED_LANGUAGES = (("sv", 0.76), ("en", 0.13), ("no", 0.11))
OUTPUT_LANGUAGES = (("sv", 0.68), ("en", 0.26), ("no", 0.06))

# Thesaurus sections -> Produktion2030 strength areas (first is the main one).
SECTION_AREAS = {
    "lean": ("P2",), "quality": ("P2", "P6"), "maintenance": ("P2", "P3"), "automation": ("P2",),
    "processes": ("P2", "P1"), "people": ("P4",), "digitalisation": ("P3",), "energy": ("P1",),
    "services": ("P5",), "product": ("P6",), "programme": (),
}


# ---------------------------------------------------------------------------------------
# Vocabulary per language
# ---------------------------------------------------------------------------------------

PRODUCTS = {
    "sv": """växelhus pumphus ventilhus hydraulcylindrar fästelement balkar pressdetaljer svetsade ramar
        axlar kugghjul flänsar konsoler bussningar hylsor lagerhus kabinett plåtkåpor elskåp
        styrskenor gjutgods smidesdetaljer fjädrar dörrbeslag möbelbeslag lastbärare pallställ
        trappsteg räcken ventilationsdon värmeväxlare tankar rörböjar slangkopplingar kablage
        kretskort sensorhus plastlock formsprutade detaljer gummilister tätningar borrkronor
        skärverktyg sågklingor knivar skopor gripklor bromsok hjulnav fordonsdetaljer
        hyttdetaljer instrumentpaneler stolsramar sängramar kranbalkar lyftok containrar""".split(),
    "no": """girhus pumpehus ventilhus hydraulikksylindrer festemidler bjelker pressdeler sveiste
        rammer aksler tannhjul flenser konsoller hylser lagerhus kabinetter platedeksler
        styreskinner støpegods smidde deler fjærer beslag rekkverk varmevekslere tanker
        rørbend slangekoblinger kabelsett kretskort plastlokk sprøytestøpte deler pakninger
        skjæreverktøy sagblad kniver skuffer bremsedeler fiskeriutstyr havbruksutstyr
        offshoredeler kranbjelker løfteåk containere båtdeler""".split(),
    "en": [p.strip() for p in """gearbox housings, pump housings, valve bodies, hydraulic cylinders, fasteners,
        beams, pressed parts, welded frames, shafts, gears, flanges, brackets, bushings, bearing housings,
        enclosures, sheet-metal covers, guide rails, castings, forgings, springs, hinges, railings,
        heat exchangers, tanks, pipe bends, hose couplings, wiring harnesses, circuit boards, plastic lids,
        moulded parts, seals, cutting tools, saw blades, knives, buckets, brake parts, wheel hubs, cab parts,
        seat frames, crane beams, containers""".split(",")],
}

MACHINES = {
    "sv": """kantpressar excenterpressar servopressar fleroperationsmaskiner svarvar fräsar
        fiberlasrar stansmaskiner svetsrobotar formsprutor slipmaskiner härdugnar
        pulverlackeringslinjer tvättlinjer monteringslinor gjutmaskiner rörbockar
        valsmaskiner bandsågar vattenskärare kompressorer truckar""".split(),
    "no": """kantpresser eksenterpresser CNC-maskiner dreiebenker freser fiberlasere
        stansemaskiner sveiseroboter sprøytestøpemaskiner slipemaskiner herdeovner
        lakkeringslinjer vaskelinjer monteringslinjer støpemaskiner rørbøyere""".split(),
    "en": """press-brakes presses machining-centres lathes milling-machines fibre-lasers
        punching-machines welding-robots injection-moulding-machines grinders furnaces
        paint-lines washing-lines assembly-lines casting-machines tube-benders""".split(),
}
MACHINES["en"] = [m.replace("-", " ") for m in MACHINES["en"]]

CUSTOMERS = {
    "sv": """fordonsindustrin vitvaror gruvindustrin försvarsindustrin medicinteknik byggindustrin
        energisektorn jordbruksmaskiner möbelindustrin livsmedelsindustrin järnvägen
        skogsmaskiner lastbilstillverkare elektronikindustrin vindkraften verkstadsindustrin""".split(),
    "no": """bilindustrien havbruk offshore forsvarsindustrien byggebransjen energisektoren
        landbruksmaskiner møbelindustrien næringsmiddelindustrien jernbanen fiskeriene
        skipsverft vindkraft verkstedindustrien""".split(),
    "en": """automotive appliances mining defence medtech construction energy agriculture
        furniture food-processing rail forestry trucks electronics wind-power aerospace""".split(),
}
CUSTOMERS["en"] = [c.replace("-", " ") for c in CUSTOMERS["en"]]

BRANCHES = {
    "sv": """Mekaniska Verkstad Plåt Plåt&Svets Precision Legotillverkning Stansteknik Gjuteri
        Industrier Smide Plast Elmontage Automation Härderi Lack Hydraulik Verktyg Maskin
        Montage Bearbetning Svets Metall Teknik Produkter Fjäder Rör""".split(),
    "no": """Mekaniske Verksted Plate Presisjon Støperi Industri Sveis Plast Automasjon
        Hydraulikk Verktøy Maskin Montasje Metall Teknikk Produkter""".split(),
}
BRANCHES["sv"] = [b.replace("&", " & ") for b in BRANCHES["sv"]]

FIRST_NAMES = {
    "SE": """Anna Johan Fatima Peter Mikael Sofia Karin Erik Lars Maria Elin Magnus Henrik Helena
        Aisha Sara Jonas Linda Ali Emma Oskar Nils Ida Per Ulrika Mohammed Lena Fredrik Malin
        Tomas Hanna Daniel Camilla Ahmed Josefin Andreas Eva Kristina Björn Amir""".split(),
    "NO": """Ingrid Ola Kari Lars Silje Håkon Marte Eirik Nora Sindre Tone Jørgen Astrid Øyvind
        Hilde Bjørn Mari Kristian Ragnhild Espen""".split(),
}
LAST_NAMES = {
    "SE": """Lindqvist Rahimi Ek Holmgren Sandberg Jonsson Nilsson Forsberg Ström Dahl Åberg
        Karimi Eklund Andersson Johansson Karlsson Persson Svensson Gustafsson Pettersson
        Olsson Larsson Berg Lund Sjöberg Wallin Engström Hassan Lindberg Björk Axelsson
        Nyström Holm Bergström Lundgren Mattsson Hedlund Öberg Falk""".split(),
    "NO": """Hansen Johansen Olsen Larsen Andersen Pedersen Nilsen Kristiansen Jensen Karlsen
        Haugen Bakken Solberg Berg Dahl Halvorsen Lie Strand Moen Sæther""".split(),
}
COACH_ORGS = {
    "SE": ["Produktionslyftet", "IUC Väst", "IUC Syd", "IUC Stål & Verkstad", "IUC Z-Group", "IUC Norrbotten",
           "IUC Dalarna", "Region Jönköpings län", "IF Metall", "Almi"],
    "NO": ["Produktivitetsspranget", "Norsk Industri", "Innovasjon Norge", "Fellesforbundet", "NHO"],
}
RESEARCH_ORGS = [
    "Chalmers tekniska högskola", "KTH Kungliga Tekniska högskolan", "Jönköping University", "RISE",
    "Högskolan i Skövde", "Mälardalens universitet", "Luleå tekniska universitet", "Linköpings universitet",
    "Lunds universitet", "Högskolan Väst", "Swerim", "IVL Svenska Miljöinstitutet", "Uppsala universitet",
    "Karlstads universitet", "Högskolan i Halmstad", "SINTEF Manufacturing", "NTNU",
]
ACCESS_TERMS = {
    "sv": ["Fritt att använda, CC BY 4.0", "Kostnadsfri pdf; workshop via IUC eller Produktionslyftet",
           "Öppen källkod (MIT)", "Kursavgift för företag utanför Produktionslyftet",
           "Besök och tester efter överenskommelse", "Licens för kommersiellt bruk, gratis för SMF"],
    "no": ["Fritt tilgjengelig, CC BY 4.0", "Gratis for bedrifter i Produktivitetsspranget",
           "Åpen kildekode (Apache 2.0)"],
    "en": ["Free to use, CC BY 4.0", "Open source (Apache 2.0)", "Free for SMEs; licence for commercial use",
           "Visits and trials by arrangement", "Course fee for companies outside Produktionslyftet"],
}

# ---------------------------------------------------------------------------------------
# Sentence templates. Slots: {t1} main concept, {t2} {t3} related concepts, {prod} a
# product, {mach} a machine, {cust} a customer industry, {n} {m} numbers, {pct} a share,
# {place} a town, {code} an article code, {org} a research organisation, {weeks} a count.
# ---------------------------------------------------------------------------------------

NEED_TITLES = {
    "sv": [
        "Problem med {t1} i {mach}", "Hur kommer vi igång med {t1}?", "Vill minska {t1} på {prod}",
        "{T1} o {t2} i en liten verkstad", "Behöver hjälp med {t1} för {prod}", "Söker metod för {t1} o {t2}",
        "{T1} – var börjar man?", "Vill testa {t1} innan vi investerar", "Hög {t1} på {prod} till {cust}",
        "{T1} äter upp kapaciteten i {mach}", "Kunden kräver {t1} – hur gör vi?", "Ngn som kan {t1} o {t2}?",
        "Vi tappar order pga {t1}", "{T1} i verkstaden i {place}", "Stora problem med {t1} på {mach}",
    ],
    "no": [
        "Problemer med {t1} på {mach}", "Hvordan kommer vi i gang med {t1}?", "Vil redusere {t1} på {prod}",
        "{T1} og {t2} i en liten bedrift", "Trenger hjelp med {t1} for {prod}", "Søker metode for {t1} og {t2}",
        "Kunden krever {t1} – hva gjør vi?", "{T1} i verkstedet i {place}", "Vil teste {t1} før vi investerer",
    ],
    "en": [
        "Problems with {t1} on our {mach}", "How do we get started with {t1}?", "Reducing {t1} on {prod}",
        "{T1} and {t2} in a small workshop", "Looking for help with {t1} for {prod}",
        "Need a method for {t1} and {t2}", "Customer demands {t1} – where do we start?",
        "Testing {t1} before we invest", "{T1} is eating our {mach} capacity",
    ],
}
NEED_CONTEXT = {
    "sv": [
        "Vi är ett företag m ca {n} anställda i {place} som tillverkar {prod} åt {cust}.",
        "Vi har {m} {mach} o kör mest korta serier, {n}–{n2} st per order.",
        "Vi kör två skift o har ca {n} pers i produktionen.",
        "Största kunden finns inom {cust} o de har skärpt kraven på oss.",
        "Det gäller främst vår serie {code} som går i {mach}.",
        "Vi är underleverantör till {cust} o gör mest {prod}.",
        "Verkstaden i {place} är från 70-talet o maskinparken är blandad.",
        "Ägaren går i pension om ngt år o nya ledningen vill ta tag i det här.",
        "Vi är med i Produktionslyftet sen i våras.",
        "Det gäller främst {rare} o {rare2} på vår serie {code}.",
        "Problemet syns mest vid {rare} o ibland vid {rare2}.",
        "Vi har redan bytt {rare} men problemet med {rare2} är kvar.",
        "Kunden {company} har klagat på {rare} flera gånger.",
    ],
    "no": [
        "Vi er en bedrift med rundt {n} ansatte i {place} som lager {prod} til {cust}.",
        "Vi har {m} {mach} og kjører mest korte serier.",
        "Største kunden er innen {cust} og de har skjerpet kravene.",
        "Det gjelder først og fremst serien {code}.",
        "Vi er med i Produktivitetsspranget.",
        "Det gjelder først og fremst {rare} og {rare2}.",
        "Problemet ses mest ved {rare} og av og til ved {rare2}.",
        "Kunden {company} har klaget på {rare} flere ganger.",
    ],
    "en": [
        "We are a company of about {n} people in {place} making {prod} for {cust} customers.",
        "We run {m} {mach} and mostly short batches of {n}–{n2} parts.",
        "Our largest customer is in {cust} and they have raised their requirements.",
        "It mainly concerns our {code} series.",
        "Our management team is international so we work in English.",
        "It mainly concerns the {rare} and the {rare2} on our {code} series.",
        "The problem shows up at the {rare} and sometimes at the {rare2}.",
        "Our customer {company} has complained about the {rare} several times.",
    ],
}
NEED_PROBLEM = {
    "sv": [
        "Just nu är {t1} vårt största problem, det kostar oss ca {n} timmar i veckan.",
        "Vi har försökt med {t2} förut men det föll ihop efter ngn månad.",
        "Vill jobba med {t1}, helst en beprövad metod som funkat hos andra i {cust}.",
        "Söker ngn som kan {t1} o gärna {t2}.",
        "Kunden kräver bättre {t2} o vi vet inte var vi ska börja.",
        "Har ngn räknat på återbetalningstid för {t1} i ett litet företag?",
        "Funderar på {t2} men vill veta vad andra har fått ut.",
        "Pga {t1} har vi {pct} % kassation på {prod}.",
        "Ev. kan {t3} vara en del av lösningen.",
        "Vi vill få med operatörerna från början o inte köra över dem.",
        "Finns det forskning om {t1} som passar en verkstad som vår?",
        "Ingen vet riktigt hur mycket {t1} kostar oss, vi mäter inget idag.",
        "Vi har fått en offert på {t2} men vet inte om det är rätt väg.",
        "Vill ha en utbildning i {t1} för teamledare o operatörer.",
        "Det står pallar m {prod} överallt o {t1} blir bara värre.",
        "Hur har andra SMF löst {t1} utan att anställa en specialist?",
    ],
    "no": [
        "Akkurat nå er {t1} det største problemet vårt, det koster oss rundt {n} timer i uka.",
        "Vi har prøvd {t2} før, men det rant ut i sanden.",
        "Vi vil jobbe med {t1}, helst en metode som er prøvd ut i små bedrifter.",
        "Vi trenger noen som kan {t1} og gjerne {t2}.",
        "Kunden krever bedre {t2} og vi vet ikke hvor vi skal begynne.",
        "Finnes det forskning på {t1} som passer for et verksted som vårt?",
        "På grunn av {t1} har vi {pct} % vrak på {prod}.",
        "Kanskje kan {t3} være en del av løsningen.",
    ],
    "en": [
        "Right now {t1} is our biggest problem and costs us about {n} hours a week.",
        "We tried {t2} before but it fell apart after a few months.",
        "Looking for a proven method for {t1}, ideally with examples from other {cust} suppliers.",
        "We need someone who knows {t1} and preferably {t2}.",
        "The customer wants better {t2} and we do not know where to start.",
        "Has anyone calculated the payback of {t1} in a small company?",
        "Because of {t1} we scrap {pct} % of our {prod}.",
        "Maybe {t3} could be part of the answer.",
        "Is there research on {t1} that fits a shop like ours?",
    ],
}
OUTPUT_TITLES = {
    "sv": [
        "{T1} i praktiken: {t2} och {t3}", "Metod för {t1} i små och medelstora företag",
        "{T1} för {cust}: demonstrator", "Guide till {t1} och {t2}", "Verktyg för {t1} kopplat till {t2}",
        "Kurs i {t1} för operatörer och arbetsledare", "Testbädd för {t1} och {t2}",
        "Rapport: {t1} hos {m} underleverantörer", "{T1} med {t2} – erfarenheter från {cust}",
        "Stegvis införande av {t1} i verkstadsindustrin", "Från {t2} till {t1}: en arbetsmetod",
    ],
    "no": [
        "{T1} i praksis: {t2} og {t3}", "Metode for {t1} i små og mellomstore bedrifter",
        "Veileder for {t1} og {t2}", "Kurs i {t1} for operatører og ledere", "Testarena for {t1} og {t2}",
    ],
    "en": [
        "{T1} in practice: {t2} and {t3}", "A method for {t1} in small manufacturers",
        "{T1} for {cust}: lab demonstrator", "A guide to {t1} and {t2}", "A tool for {t1} linked to {t2}",
        "Course in {t1} for operators and supervisors", "A testbed for {t1} and {t2}",
        "Report: {t1} at {m} suppliers", "{T1} with {t2}: lessons from {cust}",
    ],
}
OUTPUT_SENTENCES = {
    "sv": [
        "{Kind} för {t1} anpassad för små och medelstora tillverkare.",
        "Metoden har prövats hos {m} företag inom {cust} med {prod} i korta serier.",
        "Guiden visar hur man kartlägger {t2}, mäter {t1} och hittar {t3}.",
        "I pilotföretagen minskade {t1} i median med {pct} %.",
        "Mallar för {t2}, checklistor och räkneexempel ingår.",
        "Projektet söker fler företag som vill testa {t1} i egen produktion.",
        "Demonstratorn finns hos {org} och kan besökas efter överenskommelse.",
        "Kursen går på distans under {weeks} veckor och tar upp {t1}, {t2} och {t3}.",
        "Resultaten bygger på mätningar i {m} verkstäder med {mach}.",
        "Rapporten jämför {t1} med {t2} och beskriver vad som krävs av organisationen.",
        "Verktyget hämtar data från {t2} och visar {t1} per maskingrupp.",
        "Arbetet gjordes tillsammans med operatörer, arbetsledning och skyddsombud.",
        "Ett räkneexempel från en tillverkare av {prod} visar återbetalningstiden.",
        "Metoden kräver ingen specialist och kan införas på några veckor.",
        "Fallstudierna omfattar {rare}, {rare2} och {rare3}.",
        "Projektet {acro} drevs tillsammans med {company} och {company2}.",
        "Särskilt studerades {rare} och {rare2} hos {company}.",
    ],
    "no": [
        "{Kind} for {t1} tilpasset små og mellomstore produsenter.",
        "Metoden er prøvd ut hos {m} bedrifter innen {cust}.",
        "Veilederen viser hvordan man kartlegger {t2}, måler {t1} og finner {t3}.",
        "I pilotbedriftene ble {t1} redusert med {pct} %.",
        "Maler for {t2} og sjekklister følger med.",
        "Kurset går over {weeks} uker og tar for seg {t1}, {t2} og {t3}.",
        "Arbeidet ble gjort sammen med operatører, ledelse og tillitsvalgte.",
        "Casestudiene omfatter {rare}, {rare2} og {rare3}.",
        "Prosjektet {acro} ble gjennomført sammen med {company} og {company2}.",
    ],
    "en": [
        "A {kind} for {t1} adapted to small and medium-sized manufacturers.",
        "The method was tested at {m} companies in {cust} making {prod} in short batches.",
        "The guide shows how to map {t2}, measure {t1} and find {t3}.",
        "In the pilot companies {t1} fell by a median of {pct} %.",
        "Templates for {t2}, checklists and worked examples are included.",
        "The project is looking for companies that want to try {t1} in their own production.",
        "The demonstrator is at {org} and can be visited by arrangement.",
        "The course runs online over {weeks} weeks and covers {t1}, {t2} and {t3}.",
        "The results build on measurements in {m} workshops with {mach}.",
        "The report compares {t1} with {t2} and describes what it takes from the organisation.",
        "A worked example from a maker of {prod} shows the payback time.",
        "The case studies cover the {rare}, the {rare2} and the {rare3}.",
        "The {acro} project was run with {company} and {company2}.",
    ],
}
KIND_WORDS = {
    "sv": {"method": "Stegvis metod", "demonstrator": "Demonstrator", "tool": "Verktyg", "testbed": "Testbädd",
           "course": "Kurs", "report": "Rapport", "guide": "Handbok"},
    "no": {"method": "Metode", "demonstrator": "Demonstrator", "tool": "Verktøy", "testbed": "Testarena",
           "course": "Kurs", "report": "Rapport", "guide": "Veileder"},
    "en": {"method": "method", "demonstrator": "demonstrator", "tool": "tool", "testbed": "testbed",
           "course": "course", "report": "report", "guide": "guide"},
}
PROJECT_TITLES = {
    "sv": ["Produktion2030: {T1} i SMF", "Produktion2030: {T1} och {t2}", "Produktionslyftet: {T1}",
           "Vinnova: {T1} i verkstadsindustrin"],
    "no": ["Produktivitetsspranget: {T1}", "SINTEF: {T1} i små bedrifter"],
    "en": ["Produktion2030: {T1} in SMEs", "Produktion2030: {T1} and {t2}"],
}
# The long tail: the words a real corpus holds once or a few times in ten thousand
# documents (part names, defects, places, projects). Swedish and Norwegian compounds of a
# first part and a last part, English hyphenated ones; drawn with Zipf-like weights.
TAIL_PARTS = {
    "sv": (
        """stål alu mässing koppar plast gummi trä glas press svets lack härd gjut fräs svarv borr slip
        kant rör balk fläns axel hjul kugg lager ventil pump motor växel hydraul el kabel sensor styr
        robot truck pall kran lyft fixtur verktygs form stans plåt tråd fjäder skruv mutter nit list
        profil ram skåp lucka dörr golv tak vägg tank kärl filter fläkt brännar ugns tvätt kyl värme
        ång olje vatten luft gas damm spån skrot kartong etikett order kund montage pack kontroll mät
        prov test ritnings artikel serie batch skift operatörs team kvalitets underhålls service
        reserv säkerhets miljö energi chassi hytt stol bänk hylla trapp räcke bom arm gaffel""".split(),
        """hus lock platta ring tapp hylsa fäste list skena bygel kåpa ställ bord vagn station cell
        linje maskin mall rutin plan lista logg tavla mätare givare slang koppling fog söm yta kant
        hål spår gänga radie defekt spricka por repa buckla rost läckage stopp haveri fel avvikelse
        kostnad flöde nivå grad takt volym vikt längd bredd tjocklek temperatur tryck hastighet kraft
        moment tätning bult plugg krok lås hake bricka sats enhet modul""".split(),
    ),
    "no": (
        """stål alu messing kobber plast gummi tre glass presse sveise lakk herde støpe frese dreie bor
        slipe kant rør bjelke flens aksel hjul tann lager ventil pumpe motor gir hydraulikk kabel
        sensor styre robot truck pall kran løfte verktøy form stanse plate tråd fjær skrue mutter
        profil ramme skap luke dør gulv tak vegg tank filter vifte brenner ovn vaske kjøle varme olje
        vann luft gass støv spon skrap ordre kunde montasje pakke kontroll måle prøve test""".split(),
        """hus lokk plate ring tapp hylse feste list skinne bøyle deksel stativ bord vogn stasjon celle
        linje maskin mal rutine plan liste logg tavle måler giver slange kobling fuge søm flate kant
        hull spor gjenge radius defekt sprekk pore ripe bulk rust lekkasje stopp havari feil avvik
        kostnad flyt nivå grad takt volum vekt lengde bredde tykkelse temperatur trykk hastighet""".split(),
    ),
    "en": (
        """steel aluminium brass copper plastic rubber wood glass press weld paint harden cast mill
        turn drill grind edge tube beam flange shaft wheel gear bearing valve pump motor gearbox
        hydraulic cable sensor control robot truck pallet crane lift fixture tool mould die sheet
        wire spring screw nut rivet profile frame cabinet hatch door floor roof wall tank filter fan
        burner oven wash cooling heat steam oil water air gas dust chip scrap carton label order""".split(),
        """housing lid plate ring pin sleeve mount strip rail bracket cover stand table trolley station
        cell line machine template routine plan list log board gauge sensor hose coupling joint seam
        surface edge hole groove thread radius defect crack pore scratch dent rust leak stop failure
        fault deviation cost flow level rate volume weight length width thickness temperature pressure""".split(),
    ),
}
_SYLLABLES = "ka ro mi te su la ne vi po fa de lu ri so na ma ti ko be da".split()

# Informal Swedish of needs: what coaches and owners write.
_INFORMAL = (("någon", "ngn"), ("något", "ngt"), ("eller", "el."), ("exempel", "ex"), ("med", "m"))


# ---------------------------------------------------------------------------------------
# Sources read once
# ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Concept:
    concept_id: str
    section: str
    terms: dict[str, tuple[str, ...]]  # language -> terms, preferred first; "mul" terms added to each


@lru_cache(maxsize=1)
def _concepts() -> tuple[Concept, ...]:
    concepts = []
    section = "lean"
    keys = {"lean": "lean", "quality": "quality", "maintenance": "maintenance", "automation": "automation",
            "processes": "processes", "people": "people", "digitalisation": "digitalisation", "energy": "energy",
            "services": "services", "product and": "product", "programme": "programme"}
    for line in THESAURUS.read_text(encoding="utf-8").splitlines():
        if line.startswith("# ----"):
            title = line.strip("# -").lower()
            section = next((v for k, v in keys.items() if title.startswith(k)), section)
            continue
        if not line.strip() or line.startswith("#"):
            continue
        concept_id, *tagged = line.split("\t")
        terms: dict[str, list[str]] = {"sv": [], "no": [], "en": []}
        shared = []
        for item in tagged:
            language, _, term = item.partition(":")
            (shared if language == "mul" else terms[language]).append(term)
        concepts.append(Concept(concept_id, section, {k: tuple(v + shared) for k, v in terms.items()}))
    return tuple(concepts)


@lru_cache(maxsize=1)
def _places() -> dict[str, list[tuple[str, str]]]:
    data = json.loads(GEOGRAPHY.read_text(encoding="utf-8"))
    return {
        country: [(county, m) for county, entry in data[country].items() for m in entry["municipalities"]]
        for country in ("SE", "NO")
    }


@lru_cache(maxsize=1)
def _evaluation_sentences() -> dict[tuple[str, str], list[str]]:
    """Sentences of the hand-written evaluation set, by (kind, language)."""
    found: dict[tuple[str, str], list[str]] = {}
    for kind, file, text in (("need", "needs.jsonl", "description"), ("output", "outputs.jsonl", "summary")):
        for line in (EVALUATION / file).read_text(encoding="utf-8").splitlines():
            item = json.loads(line)
            for sentence in re.split(r"(?<=[.?!])\s+(?=[A-ZÅÄÖÆØ])", item[text]):
                if 4 <= len(sentence.split()) <= 30 and sentence.count("(") == sentence.count(")"):
                    found.setdefault((kind, item["language"]), []).append(sentence)
    return found


@lru_cache(maxsize=4)
def _tail(language: str) -> tuple[list[str], list[float]]:
    """The long-tail words of a language in a fixed order of popularity, with cumulative
    weights 1/rank (Zipf)."""
    firsts, lasts = TAIL_PARTS[language]
    if language == "en":
        words = [f"{a}-{b}" for a in firsts for b in lasts if a != b]
    else:
        words = [a + b for a in firsts for b in lasts if not a.endswith(b)]
    random.Random(f"redthread-bench:tail:{language}").shuffle(words)
    cumulative, total = [], 0.0
    for rank in range(len(words)):
        total += 1 / (rank + 1)
        cumulative.append(total)
    return words, cumulative


# ---------------------------------------------------------------------------------------
# The generator
# ---------------------------------------------------------------------------------------


def _se_org_number(rng: random.Random) -> str:
    while True:
        digits = "55" + str(rng.randint(6, 9)) + f"{rng.randrange(10**6):06d}"
        for check in "0123456789":
            if luhn_is_valid(digits + check):
                return digits + check


def _no_org_number(rng: random.Random) -> str:
    while True:
        first = str(rng.choice((8, 9))) + f"{rng.randrange(10**7):07d}"
        check = norwegian_check_digit(first)
        if check is not None:
            return first + str(check)


def _ascii(name: str) -> str:
    return name.lower().translate(str.maketrans("åäöøæéü", "aaooaeu")).replace(" ", "")


def _capitalise(text: str) -> str:
    return text[:1].upper() + text[1:] if text and not text[:2].isupper() else text


class _Writer:
    def __init__(self, seed: object, kind: str) -> None:
        self.rng = random.Random(f"redthread-bench:{seed}:{kind}")
        self.kind = kind
        concepts = list(_concepts())
        # Popularity: a fixed Zipf-like order of topics (the same for needs and outputs,
        # so both sides talk about the same things about as often).
        order = random.Random("redthread-bench:topics")
        order.shuffle(concepts)
        self.concepts = concepts
        self.weights = [1 / (rank + 1) ** 0.8 for rank in range(len(concepts))]
        self.by_section: dict[str, list[Concept]] = {}
        for concept in concepts:
            self.by_section.setdefault(concept.section, []).append(concept)
        self.places = _places()
        self.evaluation = _evaluation_sentences()
        self.tail = {language: _tail(language) for language in TAIL_PARTS}

    # -- small pieces ------------------------------------------------------------------

    def language(self, mix) -> str:
        r, acc = self.rng.random(), 0.0
        for language, share in mix:
            acc += share
            if r < acc:
                return language
        return mix[0][0]

    def topic(self) -> list[Concept]:
        rng = self.rng
        main = rng.choices(self.concepts, self.weights)[0]
        related = []
        for _ in range(rng.choice((1, 2, 2, 3))):
            pool = self.by_section[main.section] if rng.random() < 0.7 else self.concepts
            candidate = rng.choice(pool)
            if candidate is not main and candidate not in related:
                related.append(candidate)
        return [main, *related]

    def term(self, concept: Concept, language: str) -> str:
        terms = concept.terms[language] or concept.terms["sv"]
        return terms[0] if self.rng.random() < 0.4 else self.rng.choice(terms)

    def code(self) -> str:
        rng = self.rng
        return f"{rng.choice('ABCDEFGHKLMNPRSTVX')}{rng.choice('ABCDEFGHKLMNPRSTVX')}-{rng.randint(100, 9999)}"

    def rare(self, language: str) -> str:
        words, cumulative = self.tail[language]
        return self.rng.choices(words, cum_weights=cumulative)[0]

    def company(self, language: str) -> str:
        country = "NO" if language == "no" else "SE"
        _, place = self.rng.choice(self.places[country])
        branch = self.rng.choice(BRANCHES["no" if country == "NO" else "sv"])
        return f"{place} {branch} {'AS' if country == 'NO' else 'AB'}"

    def fill(self, template: str, slots: dict[str, str]) -> str:
        rng = self.rng
        n = rng.choice((5, 8, 12, 15, 20, 25, 30, 40, 45, 60, 80, 120, 200))
        values = {
            **slots,
            "n": str(n), "n2": str(n * rng.choice((3, 5, 10))), "m": str(rng.randint(2, 14)),
            "pct": str(rng.randint(3, 60)), "weeks": str(rng.randint(3, 12)),
            "org": rng.choice(RESEARCH_ORGS),
        }
        if "{code}" in template:
            values["code"] = self.code()
        if "{rare" in template:
            language = slots["language"]
            values.update(rare=self.rare(language), rare2=self.rare(language), rare3=self.rare(language))
        if "{company" in template:
            values.update(company=self.company(slots["language"]), company2=self.company(slots["language"]))
        if "{acro}" in template:
            values["acro"] = "".join(rng.choice(_SYLLABLES) for _ in range(rng.randint(2, 3))).upper()
        values["T1"] = _capitalise(values["t1"])
        return template.format_map(values)

    def slots(self, topic: list[Concept], language: str, country: str, place: str) -> dict[str, str]:
        rng = self.rng
        related = topic[1:] or topic
        return {
            "t1": self.term(topic[0], language),
            "t2": self.term(related[0], language),
            "t3": self.term(related[-1] if len(related) > 1 else topic[0], language),
            "prod": rng.choice(PRODUCTS[language]),
            "mach": rng.choice(MACHINES[language]),
            "cust": rng.choice(CUSTOMERS[language]),
            "place": place,
            "language": language,
        }

    def title(self, templates: list[str], slots: dict[str, str]) -> str:
        for _ in range(20):
            title = self.fill(self.rng.choice(templates), slots)
            if 4 <= len(title.split()) <= 10:
                return title
        words = title.split()
        return " ".join((words + ["i", "produktionen", "idag", "igen"])[: max(4, min(10, len(words)))])

    def body(self, pools: list[list[str]], slots: dict[str, str], language: str) -> str:
        """Sentences from the pools until 20–80 words, never more than 80."""
        rng = self.rng
        target = rng.randint(22, 75)
        sentences: list[str] = []
        words = 0
        borrowed = self.evaluation.get((self.kind, language), [])
        used: set[str] = set()
        for attempt in range(40):
            if borrowed and rng.random() < 0.15:
                template = sentence = rng.choice(borrowed)
            else:
                pool = pools[0] if attempt == 0 or len(pools) == 1 else rng.choice(pools[1:] + pools[1:] + pools[:1])
                template = rng.choice(pool)
                sentence = self.fill(template, slots)
            if template in used:
                continue
            used.add(template)
            if rng.random() < 0.5:  # the next sentence may bring in another side of the topic
                other = self.term(rng.choice(self.concepts), language) if rng.random() < 0.2 else slots["t3"]
                slots = {**slots, "t2": other, "t3": slots["t2"], "prod": rng.choice(PRODUCTS[language]),
                         "mach": rng.choice(MACHINES[language])}
            count = len(sentence.split())
            if words + count > 80:
                continue
            sentences.append(sentence)
            words += count
            if words >= target:
                break
        text = " ".join(sentences)
        if self.kind == "need" and language == "sv":
            text = text.replace(" och ", " o ") if rng.random() < 0.7 else text
            for formal, informal in _INFORMAL:
                if rng.random() < 0.3:
                    text = text.replace(f" {formal} ", f" {informal} ")
        return text

    def keywords(self, topic: list[Concept], language: str, slots: dict[str, str]) -> list[str]:
        rng = self.rng
        chosen = [self.term(topic[0], language)]
        chosen += [self.term(topic[0], language) for _ in range(rng.randint(0, 2))]
        for concept in topic[1:]:
            chosen += [self.term(concept, language) for _ in range(rng.randint(1, 2))]
        if rng.random() < 0.5:
            chosen.append(slots["prod"])
        if rng.random() < 0.3:
            chosen.append(slots["mach"])
        if rng.random() < 0.3:
            chosen.append(self.rare(language))
        return list(dict.fromkeys(k for k in chosen if k))[:10]

    def areas(self, topic: list[Concept]) -> list[StrengthArea]:
        areas: list[str] = []
        for concept in topic:
            options = SECTION_AREAS[concept.section] or ("P1", "P2", "P3", "P4", "P5", "P6")
            area = options[0] if self.rng.random() < 0.8 else self.rng.choice(options)
            if area not in areas:
                areas.append(area)
        return [StrengthArea(a) for a in areas[: self.rng.choice((1, 1, 2, 2, 3))]]

    def uuid(self) -> uuid.UUID:
        return uuid.UUID(int=self.rng.getrandbits(128), version=4)

    def person(self, country: str, domain: str, organisation: str | None) -> dict:
        first, last = self.rng.choice(FIRST_NAMES[country]), self.rng.choice(LAST_NAMES[country])
        email = f"{_ascii(first)}.{_ascii(last)}@{domain}"
        return {"name": f"{first} {last}", "email": email, "organisation": organisation}

    # -- documents ---------------------------------------------------------------------

    def need(self) -> NeedSubmitted:
        rng = self.rng
        language = self.language(NEED_LANGUAGES)
        country = "NO" if language == "no" or (language == "en" and rng.random() < 0.2) else "SE"
        county, place = rng.choice(self.places[country])
        topic = self.topic()
        slots = self.slots(topic, language, country, place)
        pools = [NEED_PROBLEM[language], NEED_CONTEXT[language], NEED_PROBLEM[language]]
        company = None
        if rng.random() < 0.95:
            branch = rng.choice(BRANCHES["no" if country == "NO" else "sv"])
            company = CompanyRef.model_construct(
                country=Country(country),
                org_number=_no_org_number(rng) if country == "NO" else _se_org_number(rng),
                name=f"{place} {branch} {'AS' if country == 'NO' else 'AB'}",
                county=county, municipality=place,
            )
        coach = Person.model_construct(
            **self.person(country, "example.no" if country == "NO" else "example.se", rng.choice(COACH_ORGS[country]))
        )
        need_type = rng.choice(list(NeedType))
        return NeedSubmitted.model_construct(
            need_id=self.uuid(), company=company, coach=coach,
            title=self.title(NEED_TITLES[language], slots),
            description=self.body(pools, slots, language),
            language=Language(language), need_type=need_type, focus_areas=self.areas(topic),
            keywords=self.keywords(topic, language, slots),
            min_trl=rng.choice((None, None, None, 4, 5, 6, 6, 7, 8)),
            urgency=rng.choice(list(Urgency)),
            confidentiality=rng.choice((Confidentiality.public, Confidentiality.public, Confidentiality.anonymised,
                                        Confidentiality.coach_only)),
            expires_on=date(2026, 6, 30) + timedelta(days=rng.randrange(0, 540)) if rng.random() < 0.3 else None,
        )

    def output(self) -> ResearchOutputPublished:
        rng = self.rng
        language = self.language(OUTPUT_LANGUAGES)
        county, place = rng.choice(self.places["NO" if language == "no" else "SE"])
        topic = self.topic()
        slots = self.slots(topic, language, "SE", place)
        output_type = rng.choice(list(OutputType))
        kind = KIND_WORDS[language][output_type.value]
        slots = {**slots, "Kind": kind, "kind": kind}
        researchers = []
        for _ in range(rng.choice((1, 1, 2, 2, 3))):
            person = self.person("NO" if language == "no" else "SE", "example.org", rng.choice(RESEARCH_ORGS))
            orcid = None
            if rng.random() < 0.3:
                orcid = (f"0000-000{rng.randint(0, 2)}-{rng.randrange(10000):04d}-"
                         f"{rng.randrange(1000):03d}{rng.choice('0123456789X')}")
            researchers.append(Researcher.model_construct(**person, orcid=orcid))
        slug = re.sub(r"[^a-z0-9]+", "-", _ascii(slots["t1"]).lower()).strip("-") or "resultat"
        published = datetime(2024, 1, 1, 8, tzinfo=timezone.utc) + timedelta(minutes=rng.randrange(0, 820 * 24 * 60))
        return ResearchOutputPublished.model_construct(
            output_id=self.uuid(),
            project=self.fill(rng.choice(PROJECT_TITLES[language]), slots)[:300],
            output_type=output_type,
            title=self.title(OUTPUT_TITLES[language], slots),
            summary=self.body([OUTPUT_SENTENCES[language]], slots, language),
            language=Language(language), trl=rng.choice((2, 3, 4, 4, 5, 5, 6, 6, 7, 7, 8, 9)),
            focus_areas=self.areas(topic), keywords=self.keywords(topic, language, slots),
            contact_researchers=researchers, access_terms=rng.choice(ACCESS_TERMS[language]),
            links=[f"https://example.org/produktion2030/{slug}-{rng.randrange(100000)}"],
            published_at=published,
        )


def iter_needs(count: int, seed: object = 0) -> Iterator[NeedSubmitted]:
    writer = _Writer(seed, "need")
    return (writer.need() for _ in range(count))


def iter_outputs(count: int, seed: object = 0) -> Iterator[ResearchOutputPublished]:
    writer = _Writer(seed, "output")
    return (writer.output() for _ in range(count))


def needs(count: int, seed: object = 0) -> list[NeedSubmitted]:
    """`count` needs; the first k of needs(n, seed) are needs(k, seed)."""
    return list(iter_needs(count, seed))


def outputs(count: int, seed: object = 0) -> list[ResearchOutputPublished]:
    return list(iter_outputs(count, seed))


def validated(models: list) -> int:
    """Validate each model through its JSON form (as a consumer would); the count, or
    the first ValidationError."""
    for model in models:
        type(model).model_validate_json(model.model_dump_json())
    return len(models)


if __name__ == "__main__":  # a look at a few: python -m tests.bench.corpus
    import time

    started = time.perf_counter()
    sample_needs, sample_outputs = needs(20_000), outputs(20_000)
    took = time.perf_counter() - started
    print(f"40,000 documents in {took:.2f} s; validated {validated(sample_needs[:500] + sample_outputs[:500])}")
    for item in sample_needs[:4] + sample_outputs[:3]:
        print(json.dumps(json.loads(item.model_dump_json(exclude_none=True)), ensure_ascii=False)[:900], "\n")
