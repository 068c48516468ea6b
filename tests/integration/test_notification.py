"""Notification on the real broker and database, with real peers: an SMTP server, an HTTP
server receiving webhooks, feedparser reading the Atom feeds. The test plays matching and
intake by putting their events on the canonical topics; intake itself runs too, for the
partner keys and for the answers that come back as feedback."""

from __future__ import annotations

import argparse
import asyncio
import json
import re
import uuid
from datetime import UTC, datetime, timedelta

import feedparser
import httpx
import pytest
from standardwebhooks import Webhook

from contracts.events import FeedbackSubmitted
from contracts.topics import FEEDBACK, MATCHES, NEED_FEED, NEEDS, PARTNER_ACCESS
from services.intake.partners import revoke_key
from services.notification.digests import compose_due_digests
from services.notification.follow_ups import owe_follow_ups
from services.ops.links import revoke_links
from tests.conftest import a_match, a_need, give_intake_the_test_keys, opened, publish_event, read_topic, register_partner
from tests.integration.conftest import eventually_true
from tests.peers import WebhookReceiver, wait_for

pytestmark = pytest.mark.integration

INTAKE_SOURCE = "/redthread/intake"


@pytest.fixture(scope="module")
async def partner_key(intake, notification):
    key = await register_partner(intake, "forskarportalen", name="Forskarportalen")
    await eventually_true(notification, "SELECT true FROM partner_keys WHERE partner_id = 'forskarportalen'")
    return key


@pytest.fixture(scope="module")
async def operator_key(intake, notification):
    key = await register_partner(intake, "programkontoret-drift", name="Programkontoret, drift", may_send="none",
                                 operator=True)
    await eventually_true(notification, "SELECT true FROM partner_keys WHERE partner_id = 'programkontoret-drift'")
    return key


@pytest.fixture(scope="module")
def receiver():
    receiver = WebhookReceiver(respond=lambda path, count: 200).start()
    yield receiver
    receiver.stop()


def client(notification, key: str | None = None) -> httpx.AsyncClient:
    headers = {"Authorization": f"Bearer {key}"} if key else {}
    return httpx.AsyncClient(
        transport=httpx.ASGITransport(app=notification.http_app), base_url="http://notification.test", headers=headers
    )


async def subscribe(notification, key: str, **body) -> dict:
    async with client(notification, key) as api:
        response = await api.post("/v1/subscriptions", json=body)
    assert response.status_code == 201, response.text
    return response.json()


async def test_a_key_issued_by_intake_works_here_until_it_is_revoked(intake, notification, partner_key):
    async with client(notification, partner_key) as api:
        allowed = await api.get("/v1/subscriptions")
    async with client(notification, "rt_nonsense_key") as api:
        refused = await api.get("/v1/subscriptions")
    assert allowed.status_code == 200 and allowed.json() == []
    assert refused.status_code == 401 and refused.headers["content-type"] == "application/problem+json"

    doomed = await register_partner(intake, "short-lived")
    await eventually_true(notification, "SELECT true FROM partner_keys WHERE partner_id = 'short-lived'")
    async with intake.pool.acquire() as conn, conn.transaction():
        await revoke_key(conn, doomed.split("_")[1], access_topic=intake.settings.topic(PARTNER_ACCESS.name))
    await eventually_true(notification, "SELECT revoked FROM partner_keys WHERE partner_id = 'short-lived'")
    async with client(notification, doomed) as api:
        assert (await api.get("/v1/subscriptions")).status_code == 401


async def test_the_coach_is_mailed_the_match_once_and_the_answer_becomes_feedback(
    intake, notification, settings, producer, inbox, operator_key
):
    coach = f"coach-{uuid.uuid4().hex[:8]}@iuc.example.se"
    match = a_match(coach_email=coach, language="en")
    event_id = await publish_event(producer, settings.topic(MATCHES.name), match, source="/redthread/matching",
                                   key=str(match.need_id))
    await publish_event(producer, settings.topic(MATCHES.name), match, source="/redthread/matching",
                        key=str(match.need_id), event_id=event_id)  # redelivered
    await publish_event(producer, settings.topic(MATCHES.name), match, source="/redthread/matching",
                        key=str(match.need_id))  # the same match again, as a new event

    await asyncio.to_thread(wait_for, lambda: inbox.to(coach), what="the coach's mail")
    await asyncio.sleep(1.0)  # time for any duplicate to arrive
    [mail] = inbox.to(coach)
    text = mail.get_body(("plain",)).get_content()
    html = mail.get_body(("html",)).get_content()
    assert match.output_title in text and match.output_title in html
    assert mail["List-Unsubscribe"].startswith("<http://notification.test/v1/unsubscribe/")
    assert mail["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    token = re.search(r"http://notification\.test/v1/answers/([\w-]+)\?verdict=useful", text).group(1)

    await give_intake_the_test_keys(intake.pool, settings)  # as if intake had accepted the coach's need
    async with client(notification) as api:
        page = await api.get(f"/v1/answers/{token}", params={"verdict": "useful"})
        first = await api.post(f"/v1/answers/{token}", data={"verdict": "useful", "comment": "Bra!"})
        second = await api.post(f"/v1/answers/{token}", json={"verdict": "adopted", "comment": "Infört i linje 2"})
        again = await api.post(f"/v1/answers/{token}", json={"verdict": "adopted", "comment": "Infört i linje 2"})
        no_question = await api.post(f"/v1/answers/{token}", json={"verdict": "new-question"})
        unknown = await api.post("/v1/answers/not-a-token", json={"verdict": "useful"})

    assert page.status_code == 200 and 'value="useful" checked' in page.text
    assert first.status_code == 200 and "Thank you" in first.text and "lang=\"en\"" in page.text  # the match is in English
    assert second.json()["revision"] == 2 and second.json()["effect"] == "recorded"
    assert again.json()["effect"] == "unchanged" and again.json()["feedback_id"] == second.json()["feedback_id"]
    assert no_question.status_code == 422 and "new_question" in no_question.json()["detail"]
    assert unknown.status_code == 404

    # Intake accepts both answers from notification as one feedback, now at its second revision.
    feedback_id = uuid.UUID(second.json()["feedback_id"])
    await eventually_true(
        intake, "SELECT (data::jsonb->>'revision')::int = 2 FROM feedback WHERE feedback_id = $1", feedback_id
    )
    canonical = await read_topic(settings, settings.topic(FEEDBACK.name), at_least=2,
                                 where=lambda r: r.key == str(match.match_id).encode())
    assert [json.loads(r.value)["verdict"] for r in canonical] == ["useful", "adopted"]
    assert all(coach.encode() not in r.value and opened(r)["reporter"]["email"] == coach for r in canonical)
    async with client(notification, operator_key) as api:
        sent = (await api.get("/v1/notifications", params={"match_id": str(match.match_id)})).json()
    assert [n["recipient"] for n in sent] == [coach]

    # "Not useful" says why, from the fixed list offered on the page in the coach's language.
    assert 'name="reason"' in page.text and "Too costly to try" in page.text
    async with client(notification) as api:
        wrong = await api.post(f"/v1/answers/{token}", json={"verdict": "useful", "reason": "too-costly"})
        why_not = await api.post(f"/v1/answers/{token}", data={"verdict": "not-useful", "reason": "too-costly"})
    assert wrong.status_code == 422 and "reason" in wrong.text
    assert why_not.status_code == 200
    canonical = await read_topic(settings, settings.topic(FEEDBACK.name), at_least=3,
                                 where=lambda r: r.key == str(match.match_id).encode())
    assert [(json.loads(r.value)["verdict"], json.loads(r.value).get("reason")) for r in canonical][-1] == (
        "not-useful", "too-costly")


async def test_researchers_get_the_need_feed_their_way_and_confidentiality_holds(
    notification, settings, producer, inbox, receiver, partner_key
):
    researcher = f"forskare-{uuid.uuid4().hex[:8]}@chalmers.example.se"
    await subscribe(
        notification, partner_key, about="needs", channel="email",
        subscriber={"name": "Eva Forskare", "email": researcher, "language": "en"},
        filters={"focus_areas": ["P2"], "keywords": ["ställtid"]},
    )
    by_hook = await subscribe(
        notification, partner_key, about="needs", channel="webhook", webhook_url=f"{receiver.url}/needs",
        subscriber={"name": "Projektregistret"}, filters={"need_types": ["process"]},
    )
    by_feed = await subscribe(
        notification, partner_key, about="needs", channel="atom", subscriber={"name": "Läsare", "language": "sv"},
    )
    assert by_hook["webhook_secret"].startswith("whsec_") and by_feed["feed_url"].startswith("http://notification.test/")

    public = a_need(title="Långa ställtider i kantpressen")
    anonymised = a_need(title="Ställtid i svetscellen", confidentiality="anonymised")
    coach_only = a_need(title="Hemligt ställtidsprojekt", confidentiality="coach-only")
    elsewhere = a_need(title="Ledarskap i skiftlag", description="Hur leder vi tre skift?", focus_areas=["P4"],
                       need_type="organisation", keywords=["ledarskap"])
    for need in (public, anonymised, coach_only, elsewhere):
        await publish_event(producer, settings.topic(NEEDS.name), need, source=INTAKE_SOURCE, key=str(need.need_id))

    await asyncio.to_thread(wait_for, lambda: len(inbox.to(researcher)) >= 2, what="two need mails")
    await asyncio.to_thread(wait_for, lambda: len(receiver.at("/needs")) >= 2, what="two webhooks")
    await eventually_true(notification, "SELECT count(*) = 3 FROM deliveries WHERE channel = 'atom'")
    await asyncio.sleep(1.0)

    mails = inbox.to(researcher)
    bodies = [m.get_body(("plain",)).get_content() for m in mails]
    assert len(mails) == 2
    assert any(public.title in b for b in bodies) and any(anonymised.title in b for b in bodies)
    anonymised_body = next(b for b in bodies if anonymised.title in b)
    assert anonymised.company.name not in anonymised_body
    assert all(coach_only.title not in b and elsewhere.title not in b for b in bodies)

    hooks = receiver.at("/needs")
    verifier = Webhook(by_hook["webhook_secret"])
    payloads = [verifier.verify(body, headers) for headers, body in hooks]
    titles = sorted(p["notices"][0]["title"] for p in payloads)
    assert titles == sorted([public.title, anonymised.title])
    assert {p["subscription_id"] for p in payloads} == {by_hook["subscription_id"]}
    assert all(p["unsubscribe_url"] for p in payloads)
    with pytest.raises(Exception):
        Webhook("whsec_" + "QUJD" * 8).verify(hooks[0][1], hooks[0][0])  # someone else's secret fails

    async with client(notification) as api:
        feed_response = await api.get(by_feed["feed_url"].removeprefix("http://notification.test"))
    feed = feedparser.parse(feed_response.content)
    assert feed_response.headers["content-type"].startswith("application/atom+xml") and feed.bozo == 0
    entry_titles = " | ".join(e.title for e in feed.entries)
    assert len(feed.entries) == 3
    assert public.title in entry_titles and elsewhere.title in entry_titles and coach_only.title not in entry_titles

    on_kafka = await read_topic(settings, settings.topic(NEED_FEED.name), at_least=3)
    feed_items = {json.loads(r.value)["need_id"]: json.loads(r.value) for r in on_kafka}
    assert str(coach_only.need_id) not in feed_items
    assert feed_items[str(anonymised.need_id)].get("company") is None
    assert feed_items[str(public.need_id)]["company"]["name"] == public.company.name


async def test_researchers_hear_what_companies_say_about_their_output(notification, settings, producer, receiver, partner_key):
    output_id = uuid.uuid4()
    hook = await subscribe(
        notification, partner_key, about="feedback", channel="webhook", webhook_url=f"{receiver.url}/feedback",
        subscriber={"name": "Projekt SMED-lab", "email": "lab@example.org"}, filters={"output_ids": [str(output_id)]},
    )
    match = a_match(output_id=output_id)
    other = a_match()
    for m in (match, other):
        await publish_event(producer, settings.topic(MATCHES.name), m, source="/redthread/matching", key=str(m.need_id))
    for m in (match, other):
        feedback = FeedbackSubmitted(
            feedback_id=uuid.uuid4(), match_id=m.match_id, reporter={"name": "Karin", "email": "karin@example.se"},
            verdict="new-question", new_question="Fungerar SMED för kundorderstyrd tillverkning?",
        )
        await publish_event(producer, settings.topic(FEEDBACK.name), feedback, source="/partners/coach-tool",
                            key=str(m.match_id))

    await asyncio.to_thread(wait_for, lambda: receiver.at("/feedback"), what="the feedback webhook")
    await asyncio.sleep(0.5)
    [(headers, body)] = receiver.at("/feedback")
    notice = Webhook(hook["webhook_secret"]).verify(body, headers)["notices"][0]
    assert notice["kind"] == "feedback" and notice["output_id"] == str(output_id)
    assert notice["new_question"] == "Fungerar SMED för kundorderstyrd tillverkning?"


async def test_a_daily_digest_tells_each_thing_once(notification, settings, producer, inbox, partner_key):
    reader = f"digest-{uuid.uuid4().hex[:8]}@example.org"
    subscription = await subscribe(
        notification, partner_key, about="needs", channel="email", cadence="daily",
        subscriber={"name": "Dag Digest", "email": reader, "language": "no"}, filters={"keywords": ["kassation"]},
    )
    needs = [a_need(title=f"Kassation i gjuteriet {n}", keywords=["kassation"]) for n in range(3)]
    ids = [await publish_event(producer, settings.topic(NEEDS.name), need, source=INTAKE_SOURCE, key=str(need.need_id))
           for need in needs]
    sid = uuid.UUID(subscription["subscription_id"])
    await eventually_true(notification, "SELECT count(*) = 3 FROM deliveries WHERE subscription_id = $1 AND status = 'held'", sid)

    later = datetime.now(UTC) + timedelta(days=2)
    assert await compose_due_digests(notification.pool, notification.settings, now=later) >= 1
    await asyncio.to_thread(wait_for, lambda: inbox.to(reader), what="the digest")
    # Redelivered and repeated events, and a second composing, add nothing.
    await publish_event(producer, settings.topic(NEEDS.name), needs[0], source=INTAKE_SOURCE,
                        key=str(needs[0].need_id), event_id=ids[0])
    await publish_event(producer, settings.topic(NEEDS.name), needs[1], source=INTAKE_SOURCE, key=str(needs[1].need_id))
    await asyncio.sleep(1.0)
    assert await compose_due_digests(notification.pool, notification.settings, now=later + timedelta(days=2)) == 0
    await asyncio.sleep(0.5)

    [digest] = inbox.to(reader)
    text = digest.get_body(("plain",)).get_content()
    assert all(need.title in text for need in needs)
    async with client(notification, partner_key) as api:
        deliveries = (await api.get(f"/v1/subscriptions/{sid}/deliveries")).json()
    statuses = sorted(d["status"] for d in deliveries)
    assert statuses == ["delivered", "digested", "digested", "digested"]


async def test_partners_manage_their_subscriptions_and_recipients_can_leave(
    intake, notification, settings, producer, partner_key
):
    other_key = await register_partner(intake, "annan-partner")
    await eventually_true(notification, "SELECT true FROM partner_keys WHERE partner_id = 'annan-partner'")
    mine = await subscribe(
        notification, partner_key, about="needs", channel="email",
        subscriber={"name": "Paus Person", "email": "paus@example.org"}, filters={"keywords": ["pausad"]},
    )
    sid = mine["subscription_id"]
    async with client(notification, partner_key) as api:
        no_url = await api.post("/v1/subscriptions", json={"about": "needs", "channel": "webhook", "subscriber": {"name": "X"}})
        bad_filter = await api.post("/v1/subscriptions", json={
            "about": "needs", "channel": "atom", "subscriber": {"name": "X"}, "filters": {"trl_min": 12}})
        paused = await api.patch(f"/v1/subscriptions/{sid}", json={"status": "paused"})
    async with client(notification, other_key) as api:
        not_theirs = await api.get(f"/v1/subscriptions/{sid}")
        not_theirs_either = await api.delete(f"/v1/subscriptions/{sid}")

    assert no_url.status_code == 422 and "webhook_url" in no_url.json()["detail"]
    assert bad_filter.status_code == 422 and bad_filter.json()["errors"][0]["pointer"] == "/filters/trl_min"
    assert paused.json()["status"] == "paused"
    assert not_theirs.status_code == 404 and not_theirs_either.status_code == 404

    quiet = a_need(title="Pausad prenumeration", keywords=["pausad"])
    await publish_event(producer, settings.topic(NEEDS.name), quiet, source=INTAKE_SOURCE, key=str(quiet.need_id))
    await asyncio.sleep(1.5)
    async with notification.pool.acquire() as conn:
        assert await conn.fetchval("SELECT count(*) FROM deliveries WHERE subscription_id = $1", uuid.UUID(sid)) == 0

    async with client(notification) as api:
        confirm = await api.get(mine["unsubscribe_url"].removeprefix("http://notification.test"))
        one_click = await api.post(mine["unsubscribe_url"].removeprefix("http://notification.test"),
                                   data={"List-Unsubscribe": "One-Click"})
    async with client(notification, partner_key) as api:
        gone = await api.get(f"/v1/subscriptions/{sid}")
    assert confirm.status_code == 200 and "<form" in confirm.text
    assert one_click.status_code == 200 and gone.status_code == 404
    async with notification.pool.acquire() as conn:  # who they were is not kept once they have left
        kept = await conn.fetchval("SELECT subscriber::text FROM subscriptions WHERE subscription_id = $1", uuid.UUID(sid))
    assert "@" not in kept


async def test_answer_links_only_for_subscribers_whose_partner_may_send_feedback(intake, notification, settings,
                                                                                  producer, inbox):
    """An answer link sends feedback in the subscribing partner's stead: a partner that
    may send none gets its matches without one."""
    readers = {}
    for partner_id, may_send in (("bara-lasare", "none"), ("coachverktyg", "feedback")):
        key = await register_partner(intake, partner_id, may_send=may_send)
        await eventually_true(notification, f"SELECT true FROM partner_keys WHERE partner_id = '{partner_id}'")
        readers[partner_id] = f"{partner_id}-{uuid.uuid4().hex[:6]}@example.se"
        await subscribe(notification, key, about="matches", channel="email",
                        subscriber={"name": partner_id, "email": readers[partner_id], "language": "sv"})
    match = a_match()
    await publish_event(producer, settings.topic(MATCHES.name), match, source="/redthread/matching", key=str(match.need_id))

    texts = {}
    for partner_id, address in readers.items():
        await asyncio.to_thread(wait_for, lambda address=address: inbox.to(address), what=f"{partner_id}'s mail")
        [mail] = inbox.to(address)
        texts[partner_id] = mail.get_body(("plain",)).get_content()
    assert match.output_title in texts["bara-lasare"] and "/v1/answers/" not in texts["bara-lasare"]
    assert "/v1/answers/" in texts["coachverktyg"]
    async with notification.pool.acquire() as conn:  # no link, so no copy of who it would have been for
        linked = await conn.fetch("SELECT reporter->>'email' AS email FROM answer_links WHERE match_id = $1", match.match_id)
    assert {row["email"] for row in linked} == {readers["coachverktyg"]}


async def test_an_answer_link_expires_and_can_be_revoked(notification, settings, producer, inbox):
    tokens = []
    for _ in range(2):
        coach = f"coach-{uuid.uuid4().hex[:8]}@iuc.example.se"
        match = a_match(coach_email=coach)
        await publish_event(producer, settings.topic(MATCHES.name), match, source="/redthread/matching",
                            key=str(match.need_id))
        await asyncio.to_thread(wait_for, lambda coach=coach: inbox.to(coach), what="the coach's mail")
        text = inbox.to(coach)[0].get_body(("plain",)).get_content()
        tokens.append((match, coach, re.search(r"/v1/answers/([\w-]+)\?verdict=useful", text).group(1)))
    (revoked_match, revoked_coach, revoked), (old_match, _, expired) = tokens

    dry = await revoke_links(argparse.Namespace(match=revoked_match.match_id, email=revoked_coach.upper(), dry_run=True),
                             notification.settings)
    await revoke_links(argparse.Namespace(match=revoked_match.match_id, email=revoked_coach, dry_run=False),
                       notification.settings)
    async with notification.pool.acquire() as conn:
        await conn.execute("UPDATE answer_links SET created_at = now() - interval '181 days' WHERE token = $1", expired)
    async with client(notification) as api:
        after_revocation = await api.get(f"/v1/answers/{revoked}")
        after_expiry = await api.post(f"/v1/answers/{expired}", json={"verdict": "useful"})

    assert dry == 0
    assert after_revocation.status_code == 410 and after_revocation.json()["type"].endswith("link-revoked")
    assert after_expiry.status_code == 410 and "expired 180 days after" in after_expiry.json()["detail"]
    async with notification.pool.acquire() as conn:
        assert await conn.fetchval("SELECT count(*) FROM answers WHERE match_id = $1", old_match.match_id) == 0


async def test_what_went_out_is_for_operators_only(notification, partner_key, operator_key):
    """Messages sent name their recipients: no key, or a partner's key, reads none of them."""
    async with client(notification) as anonymous, client(notification, partner_key) as partner, \
            client(notification, operator_key) as operator:
        without_a_key = await anonymous.get("/v1/notifications")
        as_a_partner = await partner.get("/v1/notifications")
        as_an_operator = await operator.get("/v1/notifications")
    assert without_a_key.status_code == 401
    assert as_a_partner.status_code == 403 and as_a_partner.json()["type"].endswith("operators-only")
    assert as_an_operator.status_code == 200 and isinstance(as_an_operator.json(), list)


async def test_webhooks_into_redthreads_own_network_are_refused_unless_allowed(notification, partner_key):
    body = {"about": "needs", "channel": "webhook", "subscriber": {"name": "Nyfiken"}}
    strict = notification.settings.model_copy(update={"webhook_allow_internal": False})
    notification.settings, allowed = strict, notification.settings
    try:
        async with client(notification, partner_key) as api:
            answers = {url: await api.post("/v1/subscriptions", json=body | {"webhook_url": url}) for url in (
                "http://127.0.0.1:8004/v1/board/funnel", "http://localhost/x", "http://169.254.169.254/latest",
                "http://10.1.2.3/hook", "http://[::1]/hook", "http://2130706433:8004/", "http://0x7f.1/",
                "http://[::ffff:169.254.169.254]/", "https://crm.example.se/hooks/redthread")}
    finally:
        notification.settings = allowed
    refused = {url for url, answer in answers.items() if answer.status_code == 422}
    assert refused == set(answers) - {"https://crm.example.se/hooks/redthread"}
    assert answers["https://crm.example.se/hooks/redthread"].status_code == 201
    assert answers["http://10.1.2.3/hook"].json()["errors"][0]["pointer"] == "/webhook_url"


async def test_a_coach_nobody_answered_is_asked_again_after_three_and_six_months_once_each(
    intake, notification, settings, producer, inbox
):
    coach, other = (f"coach-{uuid.uuid4().hex[:8]}@iuc.example.se" for _ in range(2))
    unanswered, answered = a_match(coach_email=coach), a_match(coach_email=other)
    for match in (unanswered, answered):
        await publish_event(producer, settings.topic(MATCHES.name), match, source="/redthread/matching",
                            key=str(match.need_id))
    await asyncio.to_thread(wait_for, lambda: inbox.to(coach) and inbox.to(other), what="both coaches' mail")
    await give_intake_the_test_keys(intake.pool, settings)

    async def answer_in(mail, verdict: str) -> None:
        text = mail.get_body(("plain",)).get_content()
        token = re.search(r"/v1/answers/([\w-]+)\?verdict=useful", text).group(1)
        async with client(notification) as api:
            assert (await api.post(f"/v1/answers/{token}", json={"verdict": verdict})).status_code == 200

    await answer_in(inbox.to(other)[0], "useful")

    async def told_ago(months: int, days: int = 1) -> None:
        async with notification.pool.acquire() as conn:
            await conn.execute(
                "UPDATE deliveries SET delivered_at = now() - make_interval(months => $1, days => $2)"
                " WHERE notice_key = ANY($3)",
                months, days, [f"match:{unanswered.match_id}", f"match:{answered.match_id}"],
            )

    await told_ago(2)
    assert await owe_follow_ups(notification.pool) == 0, "not before three months"
    await told_ago(3, days=31)
    assert await owe_follow_ups(notification.pool) == 0, "a message long past its period is not followed up"
    await told_ago(3)
    assert await owe_follow_ups(notification.pool) == 1, "the coach nobody answered, not the one who did"
    assert await owe_follow_ups(notification.pool) == 0, "never twice for one period"

    notification.http_app.state.dispatcher.wake()
    await asyncio.to_thread(wait_for, lambda: len(inbox.to(coach)) == 2, what="the follow-up")
    follow_up = inbox.to(coach)[1]
    body = follow_up.get_body(("plain",)).get_content()
    assert follow_up["Subject"] == f'Hur gick det med forskningen för "{unanswered.need_title}"?'
    assert "För 3 månader sedan" in body and unanswered.output_title in body and "/v1/answers/" in body
    assert not inbox.to(other)[1:], "whoever answered is not asked"

    # Answered through the follow-up's link (valid again, though sent months ago): no second one.
    await answer_in(follow_up, "adopted")
    await eventually_true(notification, "SELECT true FROM answers WHERE match_id = $1", unanswered.match_id)
    await told_ago(6)
    assert await owe_follow_ups(notification.pool) == 0, "not after an answer"
