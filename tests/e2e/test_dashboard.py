"""The board's dashboard in a real browser.

Reporting runs in-process under uvicorn on the real broker and database; a small story
whose figures are known by heart is published on the canonical topics, and two partner
keys (a board's, a coach's) on the partner-access topic — exactly as intake would. Then
Debian's Chromium, driven by Playwright (no browser download: `executable_path`), logs in
as the board and as a coach, reads the figures, switches and searches, downloads a CSV,
and takes screenshots whose pixels are checked.

The story (four outputs published 40 days ago, four needs from three companies):

    output            area  matched to (score)            told    answer
    O1 SMED-metod     P2    N1 (0.82), N4 (0.70)           N1, N4  N1 adopted, N4 useful
    O2 Tryckluft      P1    N2 (0.30)                      N2      –
    O3 Simulering     P3    –                              –       –
    O4 Cobot-guide    P2    N4 (0.60)                      –       –

    need  company                          region   area
    N1    Värnamo Pressgjuteri AB          Småland  P2
    N2    Värnamo Pressgjuteri AB          Småland  P1
    N3    Borås Plast AB                   Väst     P4   (no match: a white spot)
    N4    Gnosjö Svets AB                  Småland  P2

Funnel 4 → 3 → 2 → 1 → 1. White spots at 50 %: Småland P1 1 of 1, Småland P2 0 of 2,
Väst P4 1 of 1; at 75 % Småland P2 becomes 1 of 2 (N4's best is 0.70).

Screenshots go to the test's tmp_path; with REDTHREAD_DOCS_SCREENSHOT=1 the full page is
also written to docs/dashboard.png (the README's picture).
"""

from __future__ import annotations

import asyncio
import io
import os
import secrets
import shutil
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
import uvicorn
from PIL import Image
from playwright.async_api import Browser, Page, async_playwright, expect

from contracts.events import (
    FeedbackSubmitted,
    MatchProposed,
    NeedSubmitted,
    NotificationDispatched,
    ParticipationRecorded,
    ResearchOutputPublished,
)
from contracts.notices import ApiKeyHash, PartnerAccessChanged
from contracts.topics import FEEDBACK, MATCHES, NEEDS, NOTIFICATIONS, PARTICIPATIONS, PARTNER_ACCESS, RESEARCH_OUTPUTS
from services.common.api_keys import hash_secret
from services.reporting.service import build as build_reporting
from tests.conftest import publish_event
from tests.peers import free_port

pytestmark = pytest.mark.e2e

REPO = Path(__file__).resolve().parents[2]
VIEWPORT = {"width": 1280, "height": 900}
TIMEOUT_MS = 15_000

VARNAMO = {"org_number": "556036-0793", "name": "Värnamo Pressgjuteri AB", "county": "Jönköpings län",
           "municipality": "Värnamo", "region": "Småland", "iuc": "IUC Z-Group"}
GNOSJO = {"org_number": "556123-4567", "name": "Gnosjö Svets AB", "county": "Jönköpings län",
          "municipality": "Gnosjö", "region": "Småland", "iuc": "IUC Z-Group"}
BORAS = {"org_number": "556987-6542", "name": "Borås Plast AB", "county": "Västra Götalands län",
         "municipality": "Borås", "region": "Väst", "iuc": "IUC Väst"}
COACH = {"name": "Karin Lindqvist", "email": "karin.lindqvist@example.se"}

IUC = "/partners/iuc-smaland"
COACH_TOOL = "/partners/coach-tool"
REGISTRY = "/partners/produktion2030"
MATCHING = "/redthread/matching"
NOTIFICATION = "/redthread/notification"


def chromium_path() -> str:
    path = shutil.which("chromium") or shutil.which("chromium-browser")
    if path is None:
        pytest.fail("Debian's chromium is not installed: run `make install` (deploy/debian-packages.sh)")
    return path


# --- the story -------------------------------------------------------------------------


@dataclass
class Story:
    events: int = 0  # how many were published, so the fixture can wait for all of them


async def publish_story(settings, producer) -> Story:
    t0 = datetime.now(UTC).replace(microsecond=0) - timedelta(days=40)
    story = Story()
    at = lambda days: t0 + timedelta(days=days)  # noqa: E731 - a timeline reads better in days
    topic = settings.topic

    async def send(topic_name: str, data, source: str, key: str, when: datetime) -> None:
        await publish_event(producer, topic(topic_name), data, source=source, key=key, time=when)
        story.events += 1

    outputs = {}
    for name, title, project, area, researcher in (
        ("O1", "SMED-metod för kortare ställtider i pressar", "Produktion2030: Snabba omställningar", "P2",
         {"name": "Anders Berg", "email": "anders.berg@example.org", "organisation": "Chalmers"}),
        ("O2", "Energikartläggning av tryckluftssystem", "Produktion2030: Resurssmart produktion", "P1",
         {"name": "Maria Ek", "email": "maria.ek@example.org", "organisation": "RISE"}),
        ("O3", "Simuleringsmodell för linjebalansering", "Produktion2030: Virtuella fabriken", "P3",
         {"name": "Maria Ek", "email": "maria.ek@example.org", "organisation": "RISE"}),
        ("O4", "Guide: din första cobot i svetscellen", "Produktion2030: Snabba omställningar", "P2",
         {"name": "Anders Berg", "email": "anders.berg@example.org", "organisation": "Chalmers"}),
    ):
        output = ResearchOutputPublished.model_validate(dict(
            output_id=uuid.uuid4(), project=project, output_type="method", title=title,
            summary=f"{title}: beprövat i små och medelstora tillverkande företag.", trl=6,
            focus_areas=[area], keywords=["ställtid"], contact_researchers=[researcher], published_at=t0,
        ))
        outputs[name] = output
        await send(RESEARCH_OUTPUTS.name, output, REGISTRY, str(output.output_id), t0)

    await send(PARTICIPATIONS.name, ParticipationRecorded.model_validate(dict(
        participation_id=uuid.uuid4(), company=VARNAMO,
        initiative={"initiative_id": "pl-utv", "name": "Utvecklingsprogram", "owner": "Produktionslyftet"},
        phase="Fas 1", coaches=[COACH], started_on=at(1).date(),
    )), IUC, VARNAMO["org_number"], at(1))

    needs = {}
    for name, company, title, area, day in (
        ("N1", VARNAMO, "Långa ställtider i pressverkstaden", "P2", 2),
        ("N2", VARNAMO, "Hög energiförbrukning i tryckluften", "P1", 2.5),
        ("N3", BORAS, "Ergonomi vid manuell montering", "P4", 3),
        ("N4", GNOSJO, "Ställtider i svetscellen", "P2", 4),
    ):
        need = NeedSubmitted.model_validate(dict(
            need_id=uuid.uuid4(), company=company, coach=COACH, title=title,
            description=f"{title}. Vi söker en beprövad metod.", need_type="process", focus_areas=[area],
            keywords=["ställtid"],
        ))
        needs[name] = need
        await send(NEEDS.name, need, COACH_TOOL, str(need.need_id), at(day))

    matches = {}
    for need_name, output_name, score, day in (
        ("N1", "O1", 0.82, 3), ("N2", "O2", 0.30, 4), ("N4", "O1", 0.70, 8), ("N4", "O4", 0.60, 10),
    ):
        need, output = needs[need_name], outputs[output_name]
        match = MatchProposed.model_validate(dict(
            match_id=uuid.uuid4(), need_id=need.need_id, output_id=output.output_id, score=score,
            method="lexical-v1", reasons=[{"kind": "shared-terms", "explanation": "Båda handlar om: ställtid"}],
            need_title=need.title, output_title=output.title, output_summary=output.summary,
            company=need.company, coach=COACH, confidentiality="public", language="sv",
            focus_areas=need.focus_areas,
        ))
        matches[(need_name, output_name)] = match
        await send(MATCHES.name, match, MATCHING, str(need.need_id), at(day))

    for (need_name, output_name), day in ((("N1", "O1"), 3.5), (("N2", "O2"), 5), (("N4", "O1"), 9)):
        match = matches[(need_name, output_name)]
        await send(NOTIFICATIONS.name, NotificationDispatched.model_validate(dict(
            notification_id=uuid.uuid4(), match_id=match.match_id, need_id=match.need_id,
            company_org_number=match.company.org_number, channel="email", recipient=COACH["email"],
            subject=f"Ny forskning för behovet: {match.need_title}", dispatched_at=at(day),
        )), NOTIFICATION, str(match.need_id), at(day))

    for (need_name, output_name), verdict, day in ((("N1", "O1"), "adopted", 20), (("N4", "O1"), "useful", 15)):
        match = matches[(need_name, output_name)]
        await send(FEEDBACK.name, FeedbackSubmitted.model_validate(dict(
            feedback_id=uuid.uuid4(), match_id=match.match_id, company_org_number=match.company.org_number,
            reporter=COACH, verdict=verdict,
        )), COACH_TOOL, str(match.match_id), at(day))
    return story


# --- fixtures --------------------------------------------------------------------------


@dataclass
class Reporting:
    url: str
    service: object


@pytest.fixture(scope="module")
async def reporting(settings) -> AsyncIterator[Reporting]:
    """The real reporting service (API and /dashboard) under uvicorn, in this event loop."""
    service = build_reporting(settings)
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(service.http_app, host="127.0.0.1", port=port, log_level="warning"))
    serving = asyncio.create_task(server.serve())
    for _ in range(300):
        if server.started or serving.done():
            break
        await asyncio.sleep(0.1)
    if not server.started:
        serving.cancel()
        pytest.fail("reporting did not start under uvicorn within 30 s")
    try:
        yield Reporting(f"http://127.0.0.1:{port}", service)
    finally:
        server.should_exit = True
        await serving


@dataclass
class Keys:
    board: str
    coach: str


@pytest.fixture(scope="module")
async def keys(settings, producer, reporting) -> Keys:
    """A board partner and a coach partner (for Värnamo Pressgjuteri only), announced on the
    partner-access topic as intake announces them."""
    issued = {}
    for partner_id, role, org_numbers in (
        ("programkontoret", "board", None), ("coach-karin", "coach", [VARNAMO["org_number"].replace("-", "")]),
    ):
        key_id, secret = secrets.token_hex(6), secrets.token_urlsafe(32)
        access = PartnerAccessChanged(
            partner_id=partner_id, name=partner_id, event_types=[], org_numbers=org_numbers, reporting=role,
            keys=[ApiKeyHash(key_id=key_id, sha256=hash_secret(secret).hex())],
        )
        await publish_event(producer, settings.topic(PARTNER_ACCESS.name), access, source="/redthread/intake",
                            key=partner_id)
        issued[role] = f"rt_{key_id}_{secret}"
    keys = Keys(board=issued["board"], coach=issued["coach"])
    # ready when reporting knows both keys: the board's reads figures, the coach's is refused them
    async with httpx.AsyncClient(base_url=reporting.url) as http:
        for key, expected in ((keys.board, 200), (keys.coach, 403)):
            status = None
            for _ in range(200):
                status = (await http.get("/v1/board/funnel", headers={"Authorization": f"Bearer {key}"})).status_code
                if status == expected:
                    break
                await asyncio.sleep(0.1)
            assert status == expected, f"reporting did not take up the partner keys (last answer {status})"
    return keys


@pytest.fixture(scope="module")
async def story(settings, producer, reporting, keys) -> Story:
    story = await publish_story(settings, producer)
    # wait until reporting has taken in every event of the story (its inbox counts them)
    handled = 0
    for _ in range(300):
        async with reporting.service.pool.acquire() as conn:
            handled = await conn.fetchval("SELECT count(*) FROM inbox WHERE consumer = 'reporting'")
        if handled >= story.events + 2:  # + the two partner-access events
            break
        await asyncio.sleep(0.1)
    assert handled >= story.events + 2, f"reporting took in {handled} of {story.events + 2} events"
    return story


@pytest.fixture(scope="module")
async def browser() -> AsyncIterator[Browser]:
    async with async_playwright() as playwright:
        # --lang: date inputs and the like follow the browser's language, not the page's
        browser = await playwright.chromium.launch(executable_path=chromium_path(), args=["--lang=sv-SE"])
        try:
            yield browser
        finally:
            await browser.close()


async def new_page(browser: Browser) -> Page:
    # Swedish time, so that "today" in the period filter is the board's today
    context = await browser.new_context(viewport=VIEWPORT, locale="sv-SE", timezone_id="Europe/Stockholm",
                                        accept_downloads=True)
    context.set_default_timeout(TIMEOUT_MS)
    page = await context.new_page()
    page.errors = []  # uncaught JavaScript errors; every test ends by asserting there were none
    page.on("pageerror", lambda error: page.errors.append(str(error)))
    return page


async def log_in(page: Page, url: str, key: str) -> None:
    await page.goto(f"{url}/")  # reporting sends / to the dashboard
    await page.get_by_label("API-nyckel").fill(key)
    await page.get_by_role("button", name="Logga in").click()


@pytest.fixture(scope="module")
async def board(browser, reporting, keys, story) -> AsyncIterator[Page]:
    """The board's page, logged in, the default period (the last 12 months) loaded."""
    page = await new_page(browser)
    await log_in(page, reporting.url, keys.board)
    await expect(page.locator("#oversikt")).to_be_visible()
    await expect(page.locator("#kunskapsflodet svg.diagram")).to_be_visible()
    yield page
    assert page.errors == [], f"JavaScript errors on the page: {page.errors}"
    await page.context.close()


# --- screenshot checks -----------------------------------------------------------------


def check_png(png: bytes, *, width: int | None = None, min_height: int = 50, colour: tuple[int, int, int] | None = None,
              min_bytes: int = 4_000) -> Image.Image:
    """A real picture: big enough, the expected width, many colours (not a blank or a single
    colour), and — when given — `colour` visible in a fair number of pixels."""
    assert png[:8] == b"\x89PNG\r\n\x1a\n", "not a PNG"
    assert len(png) > min_bytes, f"suspiciously small PNG ({len(png)} bytes)"
    image = Image.open(io.BytesIO(png)).convert("RGB")
    if width is not None:
        assert image.width == width, f"width {image.width}, expected {width}"
    assert image.height >= min_height, f"height {image.height}"
    colours = image.getcolors(maxcolors=1 << 20) or []
    assert len(colours) > 20, f"only {len(colours)} colours: a blank screenshot?"
    most = max(count for count, _ in colours)
    assert most < 0.97 * image.width * image.height, "one colour fills almost the whole picture"
    if colour is not None:
        near = sum(count for count, rgb in colours if all(abs(a - b) <= 12 for a, b in zip(rgb, colour)))
        assert near > 100, f"colour {colour} hardly appears ({near} pixels)"
    return image


# --- the tests -------------------------------------------------------------------------


async def test_the_funnel_shows_the_storys_counts(board: Page):
    funnel = board.locator("#kunskapsflodet")
    expected = {"published": 4, "matched": 3, "notified": 2, "useful": 1, "adopted": 1}
    for stage, count in expected.items():
        bar = funnel.locator(f"svg g[data-stage={stage}]")
        await expect(bar).to_have_attribute("data-outputs", str(count))
        await expect(bar.locator("text.antal")).to_have_text(str(count))
    # conversions between stages, in Swedish percent (3 of 4 went on from published)
    await expect(funnel.locator("text.konvertering[data-stage=matched]")).to_contain_text("75\u00a0%")
    await expect(funnel.locator(".nyckeltal")).to_contain_text("25\u00a0%")


async def test_white_spots_grid_and_threshold(board: Page):
    spots = board.locator("#vita-flackar")

    def cell(region: str, area: str):
        return spots.locator(f'td[data-region="{region}"][data-omrade="{area}"]')

    for region, area, without, open_needs in (("Småland", "P1", 1, 1), ("Småland", "P2", 0, 2), ("Väst", "P4", 1, 1)):
        await expect(cell(region, area)).to_have_attribute("data-utan", str(without))
        await expect(cell(region, area)).to_have_attribute("data-oppna", str(open_needs))
    await expect(cell("Väst", "P2")).to_have_text("–")  # no open need there
    # every strength area is a column, and P1–P6 + övrigt only
    headers = await spots.locator("table.karta thead th abbr").all_inner_texts()
    assert headers == ["P1", "P2", "P3", "P4", "P5", "P6", "övrigt"]

    # a stricter idea of a good answer: N4's best match (0.70) no longer is one
    await spots.locator("#troskel").evaluate(
        "(el) => { el.value = '0.75'; el.dispatchEvent(new Event('input', { bubbles: true })); }")
    await expect(spots.locator("#troskel-varde")).to_have_text("75\u00a0%")
    await expect(cell("Småland", "P2")).to_have_attribute("data-utan", "1")
    await expect(cell("Småland", "P1")).to_have_attribute("data-utan", "1")


async def test_time_to_uptake_by_strength_area(board: Page):
    uptake = board.locator("#tid-till-nytta")
    await expect(uptake.locator("svg g[data-grupp=Småland]")).to_be_visible()  # by region first
    # all outputs: first matched after 3, 4 and 10 days (O3 never was, and does not count as 0)
    await expect(uptake.locator(".nyckeltal li strong").first).to_have_text("4 d")
    await uptake.get_by_label("Styrkeområde").check()
    for area in ("P1", "P2", "P3"):
        await expect(uptake.locator(f"svg g[data-grupp={area}]")).to_be_visible()
    await expect(uptake.locator("svg g[data-grupp=Småland]")).to_have_count(0)
    # P2: O1 first matched after 3 days, O4 after 10: median 6.5, written the Swedish way
    p2_first_match = uptake.locator("svg g[data-grupp=P2] rect[data-steg=to_first_match]")
    await expect(p2_first_match).to_have_attribute("data-median", "6.5")
    await expect(uptake.locator("svg g[data-grupp=P2]")).to_contain_text("6,5")
    await expect(uptake.locator("svg g[data-grupp=P2] title").first).to_contain_text("P2 Flexibla tillverkningsprocesser")


async def test_a_companys_red_thread(board: Page):
    section = board.locator("#roda-traden")
    await section.get_by_label("Företagets namn eller organisationsnummer").fill("Värnamo")
    await section.get_by_role("button", name="Sök").click()
    thread = section.locator("ol.trad")
    await expect(section.locator(".foretag-huvud h3")).to_have_text("Värnamo Pressgjuteri AB")
    kinds = [
        "participation-recorded", "need-submitted", "need-submitted", "match-proposed", "notification-dispatched",
        "match-proposed", "notification-dispatched", "feedback-submitted",
    ]
    await expect(thread.locator("li")).to_have_count(len(kinds))
    assert [await li.get_attribute("data-kind") for li in await thread.locator("li").all()] == kinds
    first = thread.locator("li").first
    await expect(first).to_have_class("typ-deltagande")
    await expect(first).to_contain_text("Utvecklingsprogram")
    await expect(first.locator(".trad__kalla")).to_have_text("källa: iuc-smaland")
    await expect(thread.locator("li[data-kind=feedback-submitted]")).to_contain_text("Återkoppling")
    await expect(thread.locator("li[data-kind=match-proposed] .trad__kalla").first).to_have_text(
        "källa: redthread (matching)")


async def test_csv_download(board: Page, tmp_path: Path):
    async with board.expect_download() as info:
        await board.locator("#kunskapsflodet button.csv").click()
    download = await info.value
    saved = tmp_path / download.suggested_filename
    await download.save_as(saved)
    assert saved.name.startswith("kunskapsflodet_") and saved.suffix == ".csv"
    rows = saved.read_text(encoding="utf-8-sig").splitlines()
    assert rows[0].split(";")[0] == "stage"
    assert {row.split(";")[0]: row.split(";")[-1] for row in rows[1:]} == {
        "published": "4", "matched": "3", "notified": "2", "useful": "1", "adopted": "1"}


async def test_screenshots(board: Page, tmp_path: Path):
    await board.locator("#tid-till-nytta").get_by_label("Region").check()
    await expect(board.locator("#tid-till-nytta svg g[data-grupp=Småland]")).to_be_visible()
    full = await board.screenshot(path=tmp_path / "dashboard.png", full_page=True)
    image = check_png(full, width=VIEWPORT["width"], min_height=VIEWPORT["height"], colour=(0xA4, 0x16, 0x1A),
                      min_bytes=40_000)
    assert image.height > 1500, "the whole page, not just the first screen"
    sections = {
        "kunskapsflodet": (0x00, 0x72, 0xB2),  # the published bar
        "tid-till-nytta": (0xE6, 0x9F, 0x00),  # the 'company told' bars
        "regionerna": (0x00, 0x72, 0xB2),      # needs told, inline
        "vita-flackar": (0xE6, 0x55, 0x0D),    # a hot cell
        "rackvidd": (0x00, 0x9E, 0x73),        # the researchers' bars
        "roda-traden": (0xA4, 0x16, 0x1A),     # the thread itself
    }
    for section, colour in sections.items():
        element = board.locator(f"#{section}")
        box = await element.bounding_box()
        png = await element.screenshot(path=tmp_path / f"{section}.png")
        check_png(png, width=round(box["width"]), colour=colour)
    if os.environ.get("REDTHREAD_DOCS_SCREENSHOT") == "1":
        # 256 colours are plenty for flat charts and keep the repository's copy small
        image.quantize(256).save(REPO / "docs" / "dashboard.png", optimize=True)


async def test_a_period_without_data_says_so(browser, reporting, keys, story):
    page = await new_page(browser)
    try:
        await log_in(page, reporting.url, keys.board)
        await expect(page.locator("#kunskapsflodet svg g[data-stage=published]")).to_have_attribute("data-outputs", "4")
        await page.get_by_label("Från", exact=True).fill("2020-01-01")
        await page.get_by_label("Till", exact=True).fill("2020-12-31")
        await page.get_by_role("button", name="Visa", exact=True).click()
        await expect(page.locator("#period-text")).to_have_text("Visar 1 januari 2020 – 31 december 2020.")
        for section in ("kunskapsflodet", "tid-till-nytta", "regionerna", "rackvidd"):
            await expect(page.locator(f"#{section} .tomt")).to_have_text("Inga data för perioden.")
        await expect(page.locator("#vita-flackar .tomt")).to_have_text("Inga öppna behov för perioden.")
        # and back to everything
        await page.get_by_role("button", name="Hela tiden").click()
        await expect(page.locator("#kunskapsflodet svg g[data-stage=published]")).to_have_attribute("data-outputs", "4")
        assert page.errors == []
    finally:
        await page.context.close()


async def test_dates_are_written_the_swedish_way_in_an_english_browser(reporting, keys, story):
    """A board member whose browser speaks English still reads and writes the period as
    ÅÅÅÅ-MM-DD (a date input would show 1/1/2025), and a date written otherwise is turned
    away in Swedish, the period unchanged."""
    async with async_playwright() as playwright:
        english = await playwright.chromium.launch(executable_path=chromium_path(), args=["--lang=en-US"])
        context = await english.new_context(viewport=VIEWPORT, locale="en-US", timezone_id="America/New_York")
        context.set_default_timeout(TIMEOUT_MS)
        page = await context.new_page()
        errors = []
        page.on("pageerror", lambda error: errors.append(str(error)))
        try:
            await log_in(page, reporting.url, keys.board)
            start = page.get_by_label("Från", exact=True)
            await expect(start).to_have_attribute("placeholder", "ÅÅÅÅ-MM-DD")
            await page.get_by_role("button", name="Förra året").click()
            last_year = datetime.now(UTC).year - 1
            await expect(start).to_have_value(f"{last_year}-01-01")
            await expect(page.get_by_label("Till", exact=True)).to_have_value(f"{last_year}-12-31")
            shown = await start.evaluate("input => input.type")
            assert shown == "text"  # what the user sees is the value itself, not a locale's rendering

            await start.fill("01/02/2020")
            await page.get_by_role("button", name="Visa", exact=True).click()
            message = await start.evaluate("input => input.validationMessage")
            assert message == "Skriv datumet som ÅÅÅÅ-MM-DD, till exempel 2026-01-31."
            await expect(page.locator("#period-text")).to_contain_text(f"1 januari {last_year}")
            await start.fill("2020-02-30")  # no such day
            await page.get_by_role("button", name="Visa", exact=True).click()
            assert await start.evaluate("input => input.validationMessage") != ""
            await start.fill("2020-01-01")
            await page.get_by_label("Till", exact=True).fill("2020-12-31")
            await page.get_by_role("button", name="Visa", exact=True).click()
            await expect(page.locator("#period-text")).to_have_text("Visar 1 januari 2020 – 31 december 2020.")
            assert errors == []
        finally:
            await context.close()
            await english.close()


async def test_a_coach_has_no_board_figures_but_its_companys_thread(browser, reporting, keys, story):
    page = await new_page(browser)
    try:
        await log_in(page, reporting.url, keys.coach)
        await expect(page.locator("#behorighet")).to_contain_text("Ingen behörighet")
        for section in ("kunskapsflodet", "tid-till-nytta", "regionerna", "vita-flackar", "rackvidd"):
            message = page.locator(f"#{section} p.fel")
            await expect(message).to_contain_text("Ingen behörighet")
            await expect(message).to_have_attribute("data-status", "403")
            await expect(page.locator(f"#{section} button.csv")).to_be_disabled()
        search = page.get_by_label("Företagets namn eller organisationsnummer")
        await search.fill(VARNAMO["org_number"])
        await page.get_by_role("button", name="Sök").click()
        await expect(page.locator("ol.trad li")).to_have_count(8)
        # another coach's company is not there for this one
        await search.fill(BORAS["org_number"])
        await page.get_by_role("button", name="Sök").click()
        await expect(page.locator("#tidslinje")).to_contain_text("Hittade inget företag")
        assert page.errors == []
    finally:
        await page.context.close()


async def test_a_wrong_key_is_turned_away_at_the_door(browser, reporting, keys):
    page = await new_page(browser)
    try:
        await log_in(page, reporting.url, "rt_000000000000_not-a-real-secret")
        await expect(page.locator("#inloggning-meddelande")).to_contain_text("Nyckeln godtogs inte")
        await expect(page.locator("#oversikt")).to_be_hidden()
        assert await page.evaluate("sessionStorage.getItem('redthread.api-nyckel')") is None
    finally:
        await page.context.close()
