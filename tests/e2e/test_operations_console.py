"""The operators' page in a real browser, on the running platform (the four services and
the console as processes, the real broker, database and Zipkin).

The story: a CRM sends its first need on Kafka before the programme office has registered
it, and intake dead-letters it. A partner's webhook endpoint for the need feed has moved
and answers 410 Gone. The operator, in Debian's Chromium:

1. logs in (a key that is not an operator's is refused, in words);
2. sees the need arrive in the flow of partner.needs.v1, and the dead letter with its
   reason, counted by reason, with a link into Zipkin;
3. once the CRM is registered, previews the redrive and redrives it: the need is accepted
   exactly once, and the feed's webhook gives up on it for good (410);
4. once the endpoint answers again, resends the delivery from the page: it arrives;
5. reads the page in Swedish.

Screenshots go to the test's tmp_path; with REDTHREAD_DOCS_SCREENSHOT=1 they are also
written to docs/operations.png and docs/operations-sv.png (the README's pictures).
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import httpx
import pytest
from playwright.async_api import Page, async_playwright, expect

from contracts.topics import NEEDS
from deploy.demo.partners import provision
from services.intake.admin import event_types
from services.intake.partners import Partner
from tests.conftest import a_need, publish_event, read_topic
from tests.peers import WebhookReceiver, wait_for

pytestmark = pytest.mark.e2e

REPO = Path(__file__).resolve().parents[2]
TIMEOUT_MS = 20_000
LATE = Partner("late-console-crm", "A CRM registered after its first need", event_types("needs"))
FEED_PATH = "/moved-endpoint"


@pytest.fixture(scope="module")
def platform_env() -> dict[str, str]:
    return {"REDTHREAD_WEBHOOK_ALLOW_INTERNAL": "true"}  # the feed's receiver listens on 127.0.0.1


@pytest.fixture(scope="module")
def receiver() -> Iterator[WebhookReceiver]:
    """The feed's endpoint: gone (410) until `moved_back` is set."""
    state = {"gone": True}
    receiver = WebhookReceiver(respond=lambda path, count: 410 if state["gone"] else 200).start()
    receiver.state = state
    yield receiver
    receiver.stop()


@pytest.fixture
async def page(tmp_path) -> AsyncIterator[Page]:
    executable = shutil.which("chromium") or shutil.which("chromium-browser")
    if executable is None:
        pytest.fail("Debian's chromium is not installed: run `make install` (deploy/debian-packages.sh)")
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(executable_path=executable)
        context = await browser.new_context(viewport={"width": 1280, "height": 900}, locale="en-GB")
        page = await context.new_page()
        errors: list[str] = []
        page.on("pageerror", lambda error: errors.append(str(error)))
        page.on("dialog", lambda dialog: asyncio.ensure_future(dialog.accept()))
        try:
            yield page
        finally:
            await browser.close()
        assert not errors, errors


def screenshot(name: str, tmp_path: Path) -> list[Path]:
    paths = [tmp_path / f"{name}.png"]
    if os.environ.get("REDTHREAD_DOCS_SCREENSHOT") == "1":
        paths.append(REPO / "docs" / f"{name}.png")
    return paths


async def test_an_operator_redrives_a_refused_need_and_resends_a_given_up_delivery_from_the_page(
    platform, settings, producer, receiver, zipkin_url, page, tmp_path
):
    console = platform.url("operations")
    keys = platform.keys
    # A partner with the need feed on a webhook whose endpoint has moved.
    subscription = {"about": "needs", "channel": "webhook", "webhook_url": receiver.url + FEED_PATH,
                    "subscriber": {"name": "Kundsystem", "email": "crm@example.se"}}
    created = httpx.post(platform.url("notification") + "/v1/subscriptions", json=subscription,
                         headers={"Authorization": f"Bearer {keys['iuc-smaland']}"}, timeout=10)
    assert created.status_code == 201, created.text

    # The CRM's first need, before it is a partner.
    need = a_need()
    need_id = str(need.need_id)
    await publish_event(producer, settings.topic("partner.needs.v1"), need, source=f"/partners/{LATE.partner_id}",
                        key=need_id)
    await read_topic(settings, settings.topic("redthread.dead-letters.v1"), where=lambda r: need_id in r.value.decode())

    # 1. Logging in: a partner that is not an operator is told so.
    await page.goto(console + "/")
    await page.fill("#api-key", keys["coach-tool"])
    await page.click("#login-form button[type=submit]")
    await expect(page.locator("#login-message")).to_have_text("That key is not an operator's.", timeout=TIMEOUT_MS)
    await page.fill("#api-key", keys["drift"])
    await page.click("#login-form button[type=submit]")
    await expect(page.locator("#who")).to_have_text("drift", timeout=TIMEOUT_MS)

    # 2. The flow, the dead letter, its reason counted, its trace.
    for section in ("flow", "lag", "outbox", "dead-letters", "deliveries"):
        await expect(page.locator(f"#{section}")).to_have_attribute("data-loaded", "true", timeout=TIMEOUT_MS)
    partner_needs = page.locator("#flow tr[data-topic='partner.needs.v1'] td.number")
    assert int((await partner_needs.inner_text()).replace("\u00a0", "").replace(",", "")) >= 1
    await page.fill("#filter-reason", "not a registered partner")
    await page.click("#letter-filters button[type=submit]")
    letter = page.locator("#dead-letters tbody tr", has_text=LATE.partner_id)
    await expect(letter).to_have_count(1, timeout=TIMEOUT_MS)
    reasons = page.locator("#dead-letters .bars li")
    await expect(reasons).to_have_count(1)
    await expect(reasons.locator(".count")).to_have_text("1")
    await expect(reasons.locator(".what")).to_have_text("source … is not a registered partner (expected /partners/<id>)")
    await letter.locator("summary", has_text="The refused record").click()
    await expect(letter.locator(".record-value")).to_contain_text(f'"need_id": "{need_id}"', timeout=TIMEOUT_MS)
    await expect(letter.locator(".record dd").first).to_have_text(need_id)  # the record's key
    trace = await letter.get_by_role("link", name="view").get_attribute("href")
    assert trace.startswith(f"{zipkin_url}/zipkin/")
    for path in screenshot("operations", tmp_path):
        await page.screenshot(path=path, full_page=True)

    # 3. The cause fixed, the letter redriven: previewed, confirmed, accepted once.
    await provision(settings, (LATE,))
    await asyncio.sleep(1.5)  # intake's partner cache learns the new partner
    await letter.locator("input[type=checkbox]").check()
    await page.click("#redrive-preview")
    await expect(page.locator("#redrive-message")).to_have_text("Would redrive 1.", timeout=TIMEOUT_MS)
    await page.click("#redrive")  # asks to confirm (accepted by the dialog handler)
    await expect(page.locator("#redrive-message")).to_contain_text("Redriven: 1.", timeout=TIMEOUT_MS)
    await expect(letter.locator(".badge--done")).to_contain_text("sent back", timeout=TIMEOUT_MS)
    await expect(letter.locator(".badge--done")).to_contain_text("by console:drift")
    accepted = await read_topic(settings, settings.topic(NEEDS.name), where=lambda r: need_id in r.value.decode(),
                                at_least=2, timeout_s=8)
    assert len(accepted) == 1

    # 4. The feed's webhook gave up on the need (410); back at its address, resent from the page.
    await asyncio.to_thread(wait_for, lambda: receiver.at(FEED_PATH), 30, "the feed's first attempt")
    given_up = page.locator("#deliveries tbody tr", has_text=FEED_PATH)
    for _ in range(30):
        await page.click("#refresh-now")
        if await given_up.count():
            break
        await asyncio.sleep(1)
    await expect(given_up).to_have_count(1, timeout=TIMEOUT_MS)
    await expect(given_up).to_contain_text("410")
    receiver.state["gone"] = False
    await given_up.locator("input[type=checkbox]").check()
    await page.click("#resend")
    await expect(page.locator("#resend-message")).to_have_text("Resent: 1.", timeout=TIMEOUT_MS)
    await asyncio.to_thread(wait_for, lambda: len(receiver.at(FEED_PATH)) >= 2, 30, "the resent delivery")
    [(_, first), (_, second)] = receiver.at(FEED_PATH)[:2]
    assert first == second and need_id in json.dumps(json.loads(second))
    metrics = httpx.get(platform.url("notification") + "/metrics", timeout=5).text
    assert 'redthread_delivery_seconds_count{channel="webhook"} 1.0' in metrics  # the resent one, owed since the 410

    # 5. In Swedish.
    await page.click("button[data-language=sv]")
    await expect(page.locator("html")).to_have_attribute("lang", "sv")
    await expect(page.locator("#dead-letters-heading")).to_have_text("Döda brev")
    await expect(page.locator("#deliveries-heading")).to_have_text("Leveranser att göra")
    await expect(page.locator("#flow th").first).to_have_text("Ämne")
    for path in screenshot("operations-sv", tmp_path):
        await page.screenshot(path=path, full_page=True)

