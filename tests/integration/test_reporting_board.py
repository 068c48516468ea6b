"""The board's figures from a small story whose answers can be worked out by hand.

Reporting runs in-process on the real broker and database. The story's events go onto
the canonical topics as intake, matching and notification would put them there, and
the partners' access onto the partner-access topic as intake announces it. Then every
figure is asked for over HTTP, as the dashboard asks, with each kind of key.

The story (all times UTC, 10:00):

    companies  A 556712-3483 Värnamo (Småland)  B 556280-6140 Skellefteå (Norr)
               C 556431-9076 Gnosjö (Småland, only takes part in an initiative)
    outputs    O1 P2, O2 P2+P4 "Snabba omställningar"; O3 P3 "Digital tvilling",
               all published 2026-03-01; O4 (no area) published 2025-06-01
    needs      N1 A P2 02-01 · N2 B P3 02-10 · N3 B (no area) 02-15 ·
               N4 A P2 coach-only 02-20 · N5 A P2 02-25, withdrawn 02-26
    matches    M1 N1–O1 0.8 03-03, told 03-04, useful 03-10, adopted 03-11
               M2 N2–O2 0.7 03-05, told 03-09, useful 03-12
               M3 N3–O3 0.3 03-07
               M4 N3–O3 0.9 03-02, retracted 03-03
               M5 N4–O1 0.6 03-06, told 03-08
"""

from __future__ import annotations

import csv
import io
import json
import secrets
import uuid
from datetime import UTC, date, datetime

import httpx
import pytest

from contracts.events import (
    FeedbackSubmitted,
    MatchProposed,
    MatchRetracted,
    NeedSubmitted,
    NeedWithdrawn,
    NotificationDispatched,
    ParticipationRecorded,
    ResearchOutputPublished,
)
from contracts.notices import ApiKeyHash, PartnerAccessChanged
from contracts.topics import (
    FEEDBACK,
    MATCHES,
    NEEDS,
    NOTIFICATIONS,
    PARTICIPATIONS,
    PARTNER_ACCESS,
    RESEARCH_OUTPUTS,
)
from services.common.api_keys import KEY_PREFIX, hash_secret
from services.reporting.access import CONFIDENTIAL_NEED
from services.reporting.service import build as build_reporting
from tests.conftest import publish_event
from tests.integration.conftest import eventually_true

pytestmark = pytest.mark.integration

A = {"org_number": "556712-3483", "name": "Värnamo Pressgjuteri AB", "county": "Jönköpings län",
     "municipality": "Värnamo", "region": "Småland", "iuc": "IUC Småland"}
B = {"org_number": "556280-6140", "name": "Skellefteå Mekaniska Verkstad AB", "county": "Västerbottens län",
     "municipality": "Skellefteå", "region": "Norr", "iuc": "IUC Norr"}
C = {"org_number": "556431-9076", "name": "Gnosjö Tråd & Fjäder AB", "county": "Jönköpings län",
     "municipality": "Gnosjö", "region": "Småland", "iuc": "IUC Småland"}
A_ORG, B_ORG = "5567123483", "5562806140"
COACH_EMAIL = "karin.lindqvist@example.se"
YEAR_2026 = "start=2026-01-01&end=2026-12-31"

O = {n: uuid.uuid4() for n in (1, 2, 3, 4)}
N = {n: uuid.uuid4() for n in (1, 2, 3, 4, 5)}
M = {n: uuid.uuid4() for n in (1, 2, 3, 4, 5)}


def at(month: int, day: int, year: int = 2026) -> datetime:
    return datetime(year, month, day, 10, tzinfo=UTC)


def an_output(n: int, project: str, areas: list[str], researchers: list[tuple[str, str]], published: datetime):
    return ResearchOutputPublished(
        output_id=O[n], project=project, output_type="method", title=f"Resultat {n}",
        summary="En metod som företag kan använda.", trl=6, focus_areas=areas,
        contact_researchers=[
            {"name": name, "organisation": org, "email": f"{name.split()[0].lower()}@{org.lower()}.example.se"}
            for name, org in researchers
        ],
        published_at=published,
    )


def a_need(n: int, company: dict, areas: list[str], confidentiality: str = "public") -> NeedSubmitted:
    return NeedSubmitted(
        need_id=N[n], company=company, coach={"name": "Karin Lindqvist", "email": COACH_EMAIL},
        title=f"Behov {n} hos {company['name']}", description="Vi behöver hjälp.", need_type="process",
        focus_areas=areas, confidentiality=confidentiality,
    )


def a_match(m: int, need: int, output: int, score: float, company: dict) -> MatchProposed:
    return MatchProposed(
        match_id=M[m], need_id=N[need], output_id=O[output], score=score, method="lexical-v1",
        reasons=[{"kind": "strength-area", "explanation": "Samma styrkeområde"}],
        need_title=f"Behov {need}", output_title=f"Resultat {output}", output_summary="En metod.",
        company=company, coach={"name": "Karin Lindqvist", "email": COACH_EMAIL}, confidentiality="public",
    )


def told(m: int, need: int, when: datetime, company_org_number: str | None) -> NotificationDispatched:
    return NotificationDispatched(
        notification_id=uuid.uuid4(), match_id=M[m], need_id=N[need], company_org_number=company_org_number,
        channel="email", recipient=COACH_EMAIL, subject=f"Ny forskning för behov {need}", dispatched_at=when,
    )


def answer(m: int, verdict: str, reason: str | None = None) -> FeedbackSubmitted:
    # Feedback names its match only: its company is found through the match's need.
    return FeedbackSubmitted(
        feedback_id=uuid.uuid4(), match_id=M[m], verdict=verdict, reason=reason,
        reporter={"name": "Karin Lindqvist", "email": COACH_EMAIL},
    )


def the_story() -> list[tuple[object, str, str, datetime]]:
    """(event data, topic, key, event time)"""
    participation = {"initiative_id": "pl-up", "name": "Produktionslyftet Utvecklingsprogram", "owner": "Produktionslyftet"}
    workshop = {"initiative_id": "p2030-tw", "name": "Teknikworkshop", "owner": "Produktion2030"}
    return [
        (ParticipationRecorded(participation_id=uuid.uuid4(), company=A, initiative=participation,
                               started_on=date(2025, 9, 1)), PARTICIPATIONS.name, A_ORG, at(9, 1, 2025)),
        (ParticipationRecorded(participation_id=uuid.uuid4(), company=C, initiative=participation,
                               started_on=date(2026, 1, 15)), PARTICIPATIONS.name, "5564319076", at(1, 15)),
        (ParticipationRecorded(participation_id=uuid.uuid4(), company=B, initiative=workshop, status="completed",
                               started_on=date(2025, 5, 1), ended_on=date(2025, 5, 2)),
         PARTICIPATIONS.name, B_ORG, at(5, 2, 2025)),
        (an_output(1, "Snabba omställningar", ["P2"], [("Anders Berg", "Chalmers")], at(3, 1)),
         RESEARCH_OUTPUTS.name, str(O[1]), at(3, 1)),
        (an_output(2, "Snabba omställningar", ["P2", "P4"], [("Anders Berg", "Chalmers"), ("Eva Forsberg", "RISE")],
                   at(3, 1)), RESEARCH_OUTPUTS.name, str(O[2]), at(3, 1)),
        (an_output(3, "Digital tvilling", ["P3"], [("Eva Forsberg", "RISE")], at(3, 1)),
         RESEARCH_OUTPUTS.name, str(O[3]), at(3, 1)),
        (an_output(4, "Digital tvilling", [], [("Eva Forsberg", "RISE")], at(6, 1, 2025)),
         RESEARCH_OUTPUTS.name, str(O[4]), at(6, 1, 2025)),
        (a_need(1, A, ["P2"]), NEEDS.name, str(N[1]), at(2, 1)),
        (a_need(2, B, ["P3"]), NEEDS.name, str(N[2]), at(2, 10)),
        (a_need(3, B, []), NEEDS.name, str(N[3]), at(2, 15)),
        (a_need(4, A, ["P2"], "coach-only"), NEEDS.name, str(N[4]), at(2, 20)),
        (a_need(5, A, ["P2"]), NEEDS.name, str(N[5]), at(2, 25)),
        (NeedWithdrawn(need_id=N[5], revision=2, company_org_number=A_ORG), NEEDS.name, str(N[5]), at(2, 26)),
        (a_match(1, 1, 1, 0.8, A), MATCHES.name, str(N[1]), at(3, 3)),
        (a_match(2, 2, 2, 0.7, B), MATCHES.name, str(N[2]), at(3, 5)),
        (a_match(3, 3, 3, 0.3, B), MATCHES.name, str(N[3]), at(3, 7)),
        (a_match(4, 3, 3, 0.9, B), MATCHES.name, str(N[3]), at(3, 2)),
        (MatchRetracted(match_id=M[4], need_id=N[3], output_id=O[3], reason="Passar inte längre",
                        company_org_number=B_ORG), MATCHES.name, str(N[3]), at(3, 3)),
        (a_match(5, 4, 1, 0.6, A), MATCHES.name, str(N[4]), at(3, 6)),
        (told(1, 1, at(3, 4), None), NOTIFICATIONS.name, str(N[1]), at(3, 4)),
        (told(2, 2, at(3, 9), B_ORG), NOTIFICATIONS.name, str(N[2]), at(3, 9)),
        (told(5, 4, at(3, 8), A_ORG), NOTIFICATIONS.name, str(N[4]), at(3, 8)),
        (answer(1, "useful"), FEEDBACK.name, str(M[1]), at(3, 10)),
        (answer(1, "adopted"), FEEDBACK.name, str(M[1]), at(3, 11)),
        (answer(2, "useful"), FEEDBACK.name, str(M[2]), at(3, 12)),
        (answer(5, "not-useful", "too-costly"), FEEDBACK.name, str(M[5]), at(3, 13)),
    ]


def a_key() -> tuple[str, ApiKeyHash]:
    key_id, secret = secrets.token_hex(6), secrets.token_urlsafe(32)
    return f"{KEY_PREFIX}_{key_id}_{secret}", ApiKeyHash(key_id=key_id, sha256=hash_secret(secret).hex())


PARTNERS = {
    # partner id: (reporting role, scope)
    "styrelsen": ("board", {}),
    "coach-varnamo": ("coach", {"org_numbers": ["556712-3483"]}),
    "coach-norr": ("coach", {"regions": ["Norr"]}),
    "coach-utan-scope": ("coach", {}),
    "iuc-crm": (None, {}),
}


@pytest.fixture(scope="module")
async def reporting(settings, producer):
    service = build_reporting(settings)
    await service.start()
    keys: dict[str, str] = {}
    for partner_id, (role, scope) in PARTNERS.items():
        key, hashed = a_key()
        keys[partner_id] = key
        extra = []
        if role == "board":  # and a key of the board's that was revoked
            keys["revoked"], revoked = a_key()
            extra = [revoked.model_copy(update={"revoked": True})]
        access = PartnerAccessChanged(
            partner_id=partner_id, name=partner_id, event_types=[], reporting=role, keys=[hashed, *extra], **scope
        )
        await publish_event(producer, settings.topic(PARTNER_ACCESS.name), access, source="/redthread/intake",
                            key=partner_id)
    for data, topic, key, when in the_story():
        source = "/redthread/matching" if topic == MATCHES.name else "/partners/iuc-smaland"
        await publish_event(producer, settings.topic(topic), data, source=source, key=key, time=when)
    await eventually_true(
        service,
        "SELECT (SELECT count(*) FROM research_outputs WHERE published_at IS NOT NULL) = 4"
        " AND (SELECT count(*) FROM needs WHERE submitted_at IS NOT NULL) = 5"
        " AND (SELECT count(*) FROM needs WHERE status = 'withdrawn') = 1"
        " AND (SELECT count(*) FROM participations) = 3"
        " AND (SELECT count(*) FROM need_matches WHERE proposed_at IS NOT NULL) = 5"
        " AND (SELECT count(*) FROM need_matches WHERE retracted_at IS NOT NULL) = 1"
        " AND (SELECT count(*) FROM need_matches WHERE notified_at IS NOT NULL) = 3"
        " AND (SELECT count(*) FROM need_matches WHERE adopted_at IS NOT NULL) = 1"
        " AND (SELECT count(*) FROM need_matches WHERE first_useful_at IS NOT NULL) = 2"
        " AND (SELECT count(*) FROM partner_keys) = 6",
        timeout_s=60,
    )
    service.keys = keys
    yield service
    await service.stop()


@pytest.fixture(scope="module")
async def client(reporting):
    transport = httpx.ASGITransport(app=reporting.http_app)
    async with httpx.AsyncClient(transport=transport, base_url="http://reporting") as client:
        yield client


def as_(reporting, partner_id: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {reporting.keys[partner_id]}"}


async def board_get(client, reporting, path: str) -> dict:
    response = await client.get(path, headers=as_(reporting, "styrelsen"))
    assert response.status_code == 200, response.text
    return response.json()


def csv_rows(response: httpx.Response) -> list[list[str]]:
    assert response.headers["content-type"].startswith("text/csv")
    text = response.content.decode("utf-8")
    assert text.startswith("\ufeff"), "Excel needs the BOM to read UTF-8"
    return list(csv.reader(io.StringIO(text.removeprefix("\ufeff")), delimiter=";"))


# --- the figures ---------------------------------------------------------------------------


async def test_the_funnel_narrows_from_published_to_adopted(client, reporting):
    year = await board_get(client, reporting, f"/v1/board/funnel?{YEAR_2026}")
    assert [(s["stage"], s["label"], s["outputs"]) for s in year["stages"]] == [
        ("published", "Publicerade", 3), ("matched", "Matchade", 3), ("notified", "Meddelade", 2),
        ("useful", "Användbara", 2), ("adopted", "Införda", 1),
    ]
    always = await board_get(client, reporting, "/v1/board/funnel")
    assert [s["outputs"] for s in always["stages"]] == [4, 3, 2, 2, 1]  # O4 was never matched

    rows = csv_rows(await client.get(f"/v1/board/funnel?format=csv&{YEAR_2026}", headers=as_(reporting, "styrelsen")))
    assert rows == [["stage", "label", "outputs"], ["published", "Publicerade", "3"], ["matched", "Matchade", "3"],
                    ["notified", "Meddelade", "2"], ["useful", "Användbara", "2"], ["adopted", "Införda", "1"]]


def durations(group: dict) -> tuple:
    """(count, median, p90) of each step, in days to two decimals."""
    def days(value: float | None) -> float | None:
        return None if value is None else round(value, 2)

    return tuple(
        (group[step]["count"], days(group[step]["median_days"]), days(group[step]["p90_days"]))
        for step in ("to_first_match", "to_notified", "to_adopted")
    )


async def test_time_to_uptake_overall_and_by_region_area_and_initiative(client, reporting):
    by_region = await board_get(client, reporting, f"/v1/board/uptake?by=region&{YEAR_2026}")
    overall = by_region["overall"]
    # first match after 2, 4, 6 days (M4 after 1 day was retracted); told after 3 and 8; adopted after 10
    assert overall["outputs"] == 3
    assert durations(overall) == ((3, 4.0, 5.6), (2, 5.5, 7.5), (1, 10.0, 10.0))
    groups = {g["group"]: g for g in by_region["groups"]}
    assert set(groups) == {"Norr", "Småland"}
    assert groups["Norr"]["outputs"] == 2
    assert durations(groups["Norr"]) == ((2, 5.0, 5.8), (1, 8.0, 8.0), (0, None, None))
    assert durations(groups["Småland"]) == ((1, 2.0, 2.0), (1, 3.0, 3.0), (1, 10.0, 10.0))

    by_area = {g["group"]: g for g in (await board_get(client, reporting, f"/v1/board/uptake?by=focus_area&{YEAR_2026}"))["groups"]}
    assert set(by_area) == {"P2", "P3", "P4"}
    assert durations(by_area["P2"]) == ((2, 3.0, 3.8), (2, 5.5, 7.5), (1, 10.0, 10.0))
    assert durations(by_area["P3"]) == ((1, 6.0, 6.0), (0, None, None), (0, None, None))

    by_initiative = {
        g["group"]: g for g in (await board_get(client, reporting, f"/v1/board/uptake?by=initiative&{YEAR_2026}"))["groups"]
    }
    assert set(by_initiative) == {"Produktionslyftet Utvecklingsprogram", "Teknikworkshop"}
    assert durations(by_initiative["Produktionslyftet Utvecklingsprogram"])[0] == pytest.approx((1, 2.0, 2.0))
    assert by_initiative["Teknikworkshop"]["outputs"] == 2

    rows = csv_rows(await client.get(f"/v1/board/uptake?by=focus_area&format=csv&{YEAR_2026}",
                                     headers=as_(reporting, "styrelsen")))
    assert rows[0][:4] == ["focus_area", "outputs", "to_first_match_count", "to_first_match_median_days"]
    assert rows[1][:5] == ["alla", "3", "3", "4", "5,6"]  # decimal comma, for Swedish Excel
    assert [row[0] for row in rows[2:]] == ["P2", "P3", "P4"]


async def test_white_spots_are_open_needs_without_a_standing_good_match(client, reporting):
    cells = (await board_get(client, reporting, f"/v1/board/white-spots?{YEAR_2026}"))["cells"]
    # N3's only good match was retracted; N5 was withdrawn and is no longer open
    assert [(c["region"], c["focus_area"], c["open_needs"], c["without_good_match"]) for c in cells] == [
        ("Norr", "P3", 1, 0), ("Norr", "övrigt", 1, 1), ("Småland", "P2", 2, 0),
    ]
    strict = await board_get(client, reporting, f"/v1/board/white-spots?threshold=0.75&{YEAR_2026}")
    assert strict["good_match_threshold"] == 0.75
    assert [c["without_good_match"] for c in strict["cells"]] == [1, 1, 1]

    rows = csv_rows(await client.get(f"/v1/board/white-spots?format=csv&{YEAR_2026}", headers=as_(reporting, "styrelsen")))
    assert rows[0] == ["region", "focus_area", "open_needs", "without_good_match", "good_match_threshold"]
    assert rows[2] == ["Norr", "övrigt", "1", "1", "0,5"]


async def test_reach_per_project_and_researcher_without_addresses(client, reporting):
    reach = await board_get(client, reporting, f"/v1/board/reach?{YEAR_2026}")
    assert [tuple(p.values()) for p in reach["projects"]] == [
        # project, outputs, matches, companies told, useful, adopted, not useful by reason
        ("Snabba omställningar", 2, 3, 2, 2, 1, {"too-costly": 1}),
        ("Digital tvilling", 1, 1, 0, 0, 0, {}),
    ]
    assert [(r["name"], r["not_useful"]) for r in reach["researchers"]] == [
        ("Anders Berg", {"too-costly": 1}), ("Eva Forsberg", {})]
    assert [(r["name"], r["organisation"], r["outputs"], r["matches"], r["companies_told"], r["adopted"])
            for r in reach["researchers"]] == [
        ("Anders Berg", "Chalmers", 2, 3, 2, 1),
        ("Eva Forsberg", "RISE", 2, 2, 1, 0),
    ]
    # found useful: M1 and M2 (Anders Berg's O1 and O2; Eva Forsberg's O2, not O3)
    assert [(r["name"], r["useful"]) for r in reach["researchers"]] == [("Anders Berg", 2), ("Eva Forsberg", 1)]
    assert "@" not in json.dumps(reach)

    rows = csv_rows(await client.get(f"/v1/board/reach?format=csv&{YEAR_2026}", headers=as_(reporting, "styrelsen")))
    assert [row[:3] for row in rows] == [
        ["kind", "name", "organisation"], ["project", "Snabba omställningar", ""], ["project", "Digital tvilling", ""],
        ["researcher", "Anders Berg", "Chalmers"], ["researcher", "Eva Forsberg", "RISE"],
    ]
    assert [row[6] for row in rows] == ["useful", "2", "0", "2", "1"]  # researchers' too, no longer empty
    too_costly = rows[0].index("not_useful_too-costly")
    assert [row[too_costly] for row in rows[1:]] == ["1", "0", "1", "0"]


async def test_coverage_per_region_and_iuc(client, reporting):
    regions = (await board_get(client, reporting, f"/v1/board/coverage?{YEAR_2026}"))["regions"]
    assert regions == [
        {"region": "Norr", "iuc": "IUC Norr", "companies": 1, "companies_in_initiatives": 0,
         "needs": 2, "needs_matched": 2, "needs_told": 1},
        {"region": "Småland", "iuc": "IUC Småland", "companies": 2, "companies_in_initiatives": 2,
         "needs": 3, "needs_matched": 2, "needs_told": 2},
    ]
    # without a period B's workshop of 2025 counts too
    always = {r["region"]: r for r in (await board_get(client, reporting, "/v1/board/coverage"))["regions"]}
    assert always["Norr"]["companies_in_initiatives"] == 1

    rows = csv_rows(await client.get(f"/v1/board/coverage?format=csv&{YEAR_2026}", headers=as_(reporting, "styrelsen")))
    assert rows[1:] == [["Norr", "IUC Norr", "1", "0", "2", "2", "1"], ["Småland", "IUC Småland", "2", "2", "3", "2", "2"]]


async def test_company_search_by_name_or_org_number(client, reporting):
    for query in ("värnamo", "VARNAMO pressgj", "556712", "5567-12"):
        found = (await board_get(client, reporting, f"/v1/board/companies?q={query}&{YEAR_2026}"))["companies"]
        assert [(c["org_number"], c["needs"], c["matches"]) for c in found] == [(A_ORG, 3, 2)], query
    found = (await board_get(client, reporting, "/v1/board/companies?q=gnos"))["companies"]
    assert [(c["name"], c["region"], c["needs"]) for c in found] == [("Gnosjö Tråd & Fjäder AB", "Småland", 0)]
    assert (await board_get(client, reporting, "/v1/board/companies?q=Zzz"))["companies"] == []


# --- the red thread and who sees it ----------------------------------------------------------


async def test_the_board_reads_every_timeline_without_contact_data_or_confidential_needs(client, reporting):
    timeline = await board_get(client, reporting, "/v1/companies/556712-3483/timeline")
    assert (timeline["org_number"], timeline["name"], timeline["region"]) == (A_ORG, A["name"], "Småland")
    kinds = [(e["kind"], e["need_id"]) for e in timeline["events"]]
    # the notification of M1 and the answers name no company: found through need and match
    assert ("notification-dispatched", str(N[1])) in kinds
    assert kinds.count(("feedback-submitted", str(N[1]))) == 2
    assert ("participation-recorded", None) in kinds
    assert "@" not in json.dumps(timeline)
    about_n4 = [e["summary"] for e in timeline["events"] if e["need_id"] == str(N[4])]
    assert about_n4 and set(about_n4) == {CONFIDENTIAL_NEED}
    assert "Behov 4" not in json.dumps(timeline)

    norr = await board_get(client, reporting, "/v1/companies/5562806140/timeline")
    assert {e["kind"] for e in norr["events"]} >= {"need-submitted", "match-retracted", "participation-recorded"}

    matches = await board_get(client, reporting, f"/v1/needs/{N[1]}/matches")
    assert [(m["output_id"], m["notified_to"]) for m in matches["matches"]] == [(str(O[1]), None)]
    assert matches["matches"][0]["adopted_at"] and matches["matches"][0]["reasons"][0]["kind"] == "strength-area"
    assert (await board_get(client, reporting, f"/v1/needs/{N[4]}/matches"))["title"] is None  # coach-only


async def test_a_coach_reads_its_own_companies_in_full_and_nothing_else(client, reporting):
    coach = as_(reporting, "coach-varnamo")
    own = await client.get(f"/v1/companies/{A_ORG}/timeline", headers=coach)
    assert own.status_code == 200
    assert "Behov 4 hos Värnamo Pressgjuteri AB" in own.text  # its own confidential need
    matches = (await client.get(f"/v1/needs/{N[1]}/matches", headers=coach)).json()["matches"]
    assert matches[0]["notified_to"] == COACH_EMAIL

    for path in (f"/v1/companies/{B_ORG}/timeline", f"/v1/needs/{N[2]}/matches", "/v1/companies/5564319076/timeline"):
        hidden = await client.get(path, headers=coach)
        assert hidden.status_code == 404, path  # not 403: whether it exists is not told
        assert hidden.headers["content-type"] == "application/problem+json"

    norr = as_(reporting, "coach-norr")
    assert (await client.get(f"/v1/companies/{B_ORG}/timeline", headers=norr)).status_code == 200
    assert (await client.get(f"/v1/companies/{A_ORG}/timeline", headers=norr)).status_code == 404
    no_scope = as_(reporting, "coach-utan-scope")
    assert (await client.get(f"/v1/companies/{A_ORG}/timeline", headers=no_scope)).status_code == 404

    figures = await client.get("/v1/board/funnel", headers=coach)
    assert figures.status_code == 403 and figures.json()["type"] == "urn:redthread:problem:board-only"


async def test_keys_without_a_role_or_not_valid_are_refused(client, reporting):
    for path in ("/v1/board/funnel", f"/v1/companies/{A_ORG}/timeline", f"/v1/needs/{N[1]}/matches"):
        no_role = await client.get(path, headers=as_(reporting, "iuc-crm"))
        assert no_role.status_code == 403 and no_role.json()["type"] == "urn:redthread:problem:no-reporting-role"
        for headers in ({}, {"X-API-Key": "rt_unknown_secret"}, {"X-API-Key": reporting.keys["revoked"]},
                        {"Authorization": f"Bearer {reporting.keys['styrelsen']}x"}):
            refused = await client.get(path, headers=headers)
            assert refused.status_code == 401, (path, headers)
            assert refused.headers["content-type"] == "application/problem+json"
    assert (await client.get("/v1/board/funnel", headers={"X-API-Key": reporting.keys["styrelsen"]})).status_code == 200


@pytest.mark.parametrize(
    ("path", "pointer"),
    [
        ("/v1/board/funnel?start=2026-03-01&end=2026-02-01", "/query/end"),
        ("/v1/board/funnel?start=2026-13-01", "/query/start"),
        ("/v1/board/white-spots?threshold=1.5", "/query/threshold"),
        ("/v1/board/uptake?by=county", "/query/by"),
        ("/v1/board/reach?format=xlsx", "/query/format"),
        ("/v1/board/companies", "/query/q"),
        ("/v1/companies/556712-3484/timeline", "/path/org_number"),
        ("/v1/needs/not-a-uuid/matches", "/path/need_id"),
    ],
)
async def test_bad_parameters_are_pointed_at(client, reporting, path, pointer):
    response = await client.get(path, headers=as_(reporting, "styrelsen"))
    assert response.status_code == 422
    assert response.headers["content-type"] == "application/problem+json"
    assert pointer in [e["pointer"] for e in response.json()["errors"]]


async def test_the_openapi_document_shows_the_answers_and_their_csv(client):
    spec = (await client.get("/openapi.json")).json()
    for path in ("funnel", "uptake", "white-spots", "reach", "coverage", "companies"):
        ok = spec["paths"][f"/v1/board/{path}"]["get"]["responses"]["200"]["content"]
        assert set(ok) == {"application/json", "text/csv"}, path
        assert "$ref" in ok["application/json"]["schema"]
    assert "Timeline" in spec["components"]["schemas"]
    redirected = await client.get("/")
    assert redirected.status_code in (302, 307) and redirected.headers["location"] == "/dashboard/"

