"""Intake on the real broker and database: what partners put on Kafka is accepted once,
and what is broken becomes a dead letter with its reason while the stream goes on."""

from __future__ import annotations

import asyncio
import json
import uuid

import httpx
import pytest

from contracts.envelope import decode, encode, new_event
from contracts.events import CompanyRef, MatchProposed, person_id
from contracts.personal_data import sealed_person_ids
from contracts.topics import DEAD_LETTERS, FEEDBACK, MATCHES, NEEDS, PARTNER_NEEDS, PERSON_KEYS
from services.common.consumer import BatchContext, TransientError
from services.intake.acceptance import AGGREGATE_OF, Effect, accept_batch
from services.intake.companies import CompanyBook, registered_companies, save_registrations
from services.intake.partners import Partner
from tests.integration.conftest import eventually_true
from tests.conftest import a_match, a_need, an_output, headers_of, register_partner, publish_event, publish_raw, read_topic

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module", autouse=True)
async def partners(intake):
    intake.keys = {partner: await register_partner(intake, partner) for partner in ("iuc-syd", "redelivery", "coach-tool")}


async def test_valid_broken_and_repeated_events_on_a_partner_topic(intake, settings, producer):
    partner_topic = settings.topic(PARTNER_NEEDS.name)
    good = a_need()
    good_id = await publish_event(producer, partner_topic, good, source="/partners/iuc-syd")
    await publish_event(producer, partner_topic, good, source="/partners/iuc-syd", event_id=good_id)  # resent
    await publish_raw(producer, partner_topic, b"{this is not json", {"ce_id": "x1", "ce_source": "/partners/iuc-syd",
        "ce_type": "redthread.need.submitted", "ce_specversion": "1.0", "ce_time": "2026-11-24T10:00:00Z",
        "content-type": "application/json"})
    invalid_value, invalid_headers = encode(new_event(a_need(), source="/partners/iuc-syd"))
    broken = json.loads(invalid_value) | {"min_trl": 12}
    await publish_raw(producer, partner_topic, json.dumps(broken).encode(), invalid_headers)
    await publish_raw(producer, partner_topic, b"{}", {"content-type": "application/json"})  # no envelope at all
    await producer.send_and_wait(partner_topic, value=b"{}", headers=[("ce_id", b"\xff\xfe")])  # not UTF-8
    await producer.send_and_wait(partner_topic, value=None, key=b"tombstone")
    await publish_event(producer, partner_topic, an_output(), source="/partners/iuc-syd")  # wrong topic for its type
    after = a_need(title="Kassation i härdningen")
    await publish_event(producer, partner_topic, after, source="/partners/iuc-syd")

    accepted = await read_topic(settings, settings.topic(NEEDS.name), at_least=2)
    letters = await read_topic(settings, settings.topic(DEAD_LETTERS.name), at_least=6)

    assert sorted(json.loads(r.value)["title"] for r in accepted) == sorted([good.title, after.title])
    assert {r.key.decode() for r in accepted} == {str(good.need_id), str(after.need_id)}
    reasons = {headers_of(r)["dlq_reason"] for r in letters}
    assert any("not valid JSON" in reason for reason in reasons)
    assert any("does not match" in reason for reason in reasons)
    assert any("CloudEvents headers" in reason for reason in reasons)
    assert any("research-output.published' is not accepted here" in reason for reason in reasons)
    assert len(letters) == 6
    trl_letter = next(json.loads(r.value) for r in letters if "does not match" in headers_of(r)["dlq_reason"])
    assert trl_letter["problems"][0]["location"] == "min_trl"
    assert json.loads(trl_letter["original_value"])["min_trl"] == 12
    async with intake.pool.acquire() as conn:
        assert await conn.fetchval("SELECT count(*) FROM needs") == 2


async def test_the_canonical_event_names_its_cause_and_continues_its_trace(intake, settings, producer):
    need = a_need()
    partner_event = new_event(need, source="/partners/iuc-syd")
    value, headers = encode(partner_event)
    trace_id = "4bf92f3577b34da6a3ce929d0e0e4736"
    await publish_raw(producer, settings.topic(PARTNER_NEEDS.name), value, headers | {"traceparent": f"00-{trace_id}-00f067aa0ba902b7-01"})

    [canonical] = await read_topic(settings, settings.topic(NEEDS.name), where=lambda r: r.key == str(need.need_id).encode())
    attributes = headers_of(canonical)
    assert need.coach.email.encode() not in canonical.value  # sealed under the coach's own key
    async with intake.pool.acquire() as conn:
        keyring = await intake.person_keys.keyring(conn, sealed_person_ids([canonical.value]))
    event = decode(attributes, canonical.value, open_person=keyring.open)
    assert event.data.coach == need.coach
    [issued] = await read_topic(settings, settings.topic(PERSON_KEYS.name), where=lambda r: r.key == person_id(need.coach.email).encode())
    assert headers_of(issued)["ce_type"] == "redthread.person-key.issued"
    assert attributes["traceparent"].split("-")[1] == trace_id
    assert event.envelope.causationid == partner_event.id
    assert event.envelope.correlationid == attributes["correlation_id"] == partner_event.id
    assert (event.envelope.source, event.envelope.subject) == ("/partners/iuc-syd", str(need.need_id))
    assert (event.data.company.region, event.data.language) == ("Småland", "sv")


async def test_redelivered_batch_changes_nothing(intake, settings, producer):
    partner_topic = settings.topic(PARTNER_NEEDS.name)
    need = a_need()
    await publish_event(producer, partner_topic, need, source="/partners/redelivery")
    records = await read_topic(
        settings, partner_topic, where=lambda r: dict(r.headers).get("ce_source") == b"/partners/redelivery"
    )
    await eventually_true(intake, "SELECT true FROM needs WHERE need_id = $1", need.need_id)

    async with intake.pool.acquire() as conn:
        before = await conn.fetchval("SELECT count(*) FROM needs")
    outcome = await intake.consumers["intake"].consume(records)  # as after a crash before the commit

    assert (outcome.handled, outcome.duplicates, outcome.dead_lettered) == (0, 1, 0)
    async with intake.pool.acquire() as conn:
        assert await conn.fetchval("SELECT count(*) FROM needs") == before


async def test_http_accepts_valid_needs_and_explains_invalid_ones(intake, settings):
    transport = httpx.ASGITransport(app=intake.http_app)
    async with httpx.AsyncClient(transport=transport, base_url="http://intake") as client:
        need = a_need()
        body = json.loads(need.model_dump_json())
        auth = {"Authorization": f"Bearer {intake.keys['coach-tool']}"}
        accepted = await client.post("/v1/needs", json=body, headers=auth)
        again = await client.post("/v1/needs", json=body, headers=auth)
        changed = await client.post("/v1/needs", json=body | {"title": "Annan titel"}, headers=auth)
        invalid = await client.post(
            "/v1/needs",
            json=body | {"need_id": str(uuid.uuid4()), "company": {"org_number": "556036-0794", "name": "X"}},
            headers=auth,
        )
        unknown_field = await client.post(
            "/v1/needs", json=body | {"need_id": str(uuid.uuid4()), "colour": "red"}, headers=auth
        )
        anonymous = await client.post("/v1/needs", json=body)
        read_back = await client.get(f"/v1/needs/{need.need_id}", headers=auth)
        health = await client.get("/health")

    assert accepted.status_code == 202, accepted.text
    assert accepted.json()["id"] == str(need.need_id)
    assert again.status_code == 202 and again.json() == accepted.json() | {"effect": "unchanged"}
    assert changed.status_code == 409
    assert invalid.status_code == 422
    assert invalid.headers["content-type"] == "application/problem+json"
    assert invalid.json()["errors"][0]["pointer"] == "/company/org_number"
    assert "Luhn" in invalid.json()["errors"][0]["detail"]
    assert unknown_field.status_code == 422 and unknown_field.json()["errors"][0]["pointer"] == "/colour"
    assert anonymous.status_code == 401
    assert read_back.json()["source"] == "/partners/coach-tool"
    assert health.json()["status"] == "ok"

    published = await read_topic(settings, settings.topic(NEEDS.name), where=lambda r: r.key == str(need.need_id).encode())
    assert headers_of(published[0])["ce_source"] == "/partners/coach-tool"


async def test_nul_characters_become_a_dead_letter_not_a_stuck_partition(intake, settings, producer):
    partner_topic = settings.topic(PARTNER_NEEDS.name)
    value, headers = encode(new_event(a_need(), source="/partners/iuc-syd"))
    poisoned = value.replace(b'"title":"', b'"title":"\\u0000')
    await publish_raw(producer, partner_topic, poisoned, headers | {"ce_id": "nul\x00id", "traceparent": "\x00"}, key="k")
    await publish_raw(producer, partner_topic, b'{"raw": "\x00"}', headers | {"ce_id": "nul-raw"}, key="k")
    after = a_need(title="Efter NUL")
    await publish_event(producer, partner_topic, after, source="/partners/iuc-syd", key="k")

    accepted = await read_topic(settings, settings.topic(NEEDS.name), where=lambda r: r.key == str(after.need_id).encode())
    letters = await read_topic(
        settings, settings.topic(DEAD_LETTERS.name), at_least=2,
        where=lambda r: json.loads(r.value)["original_headers"].get("ce_id", "").startswith("nul"),
    )
    assert len(accepted) == 1
    assert len(letters) == 2
    assert {json.loads(r.value)["original_value_encoding"] for r in letters} == {"utf-8", "base64"}


async def a_match_intake_knows(intake, settings, producer, **changes) -> MatchProposed:
    match = a_match(**changes)
    await publish_event(producer, settings.topic(MATCHES.name), match, source="/redthread/matching", key=str(match.need_id))
    await eventually_true(intake, "SELECT true FROM known_matches WHERE match_id = $1", match.match_id)
    return match


async def test_feedback_answered_again_replaces_the_earlier_answer(intake, settings, producer):
    match_id = str((await a_match_intake_knows(intake, settings, producer)).match_id)
    first = {
        "feedback_id": str(uuid.uuid4()), "match_id": match_id, "verdict": "useful",
        "reporter": {"name": "Karin Lindqvist", "email": "karin@example.se"},
    }
    transport = httpx.ASGITransport(app=intake.http_app)
    auth = {"Authorization": f"Bearer {intake.keys['coach-tool']}"}
    async with httpx.AsyncClient(transport=transport, base_url="http://intake") as client:
        answered = await client.post("/v1/feedback", json=first, headers=auth)
        repeated = await client.post("/v1/feedback", json=first, headers=auth)
        adopted = await client.post("/v1/feedback", json=first | {"revision": 2, "verdict": "adopted"}, headers=auth)
        late = await client.post("/v1/feedback", json=first | {"revision": 1, "verdict": "not-useful"}, headers=auth)
        same_revision_other_answer = await client.post(
            "/v1/feedback", json=first | {"revision": 2, "verdict": "not-useful"}, headers=auth
        )

    assert answered.status_code == 202 and answered.json()["effect"] == "accepted"
    assert repeated.json()["effect"] == "unchanged"
    assert adopted.status_code == 202 and adopted.json()["effect"] == "accepted"
    assert late.status_code == 409 and same_revision_other_answer.status_code == 409  # older or same revision: stale
    async with intake.pool.acquire() as conn:
        stored = json.loads(await conn.fetchval("SELECT data FROM feedback WHERE feedback_id = $1", uuid.UUID(first["feedback_id"])))
    assert stored["verdict"] == "adopted" and stored["revision"] == 2
    published = await read_topic(
        settings, settings.topic(FEEDBACK.name), at_least=2, where=lambda r: r.key == match_id.encode()
    )
    assert [json.loads(r.value)["verdict"] for r in published] == ["useful", "adopted"]


async def test_feedback_only_about_a_known_match_of_a_company_in_the_senders_scope(intake, settings, producer):
    """A partner cannot move the board's funnel with answers about matches it made up, or
    about companies that are not its own."""
    smaland = await a_match_intake_knows(intake, settings, producer)  # a company in Småland och öarna
    keys = {
        partner_id: await register_partner(intake, partner_id, may_send="feedback", regions=frozenset(regions))
        for partner_id, regions in (("iuc-smaland", {"Småland och öarna"}), ("iuc-norr", {"Norra Sverige"}))
    }

    async def answer(partner_id: str, match_id) -> httpx.Response:
        body = {"feedback_id": str(uuid.uuid4()), "match_id": str(match_id), "verdict": "adopted",
                "reporter": {"name": "Karin Lindqvist", "email": "karin@example.se"}}
        transport = httpx.ASGITransport(app=intake.http_app)
        async with httpx.AsyncClient(transport=transport, base_url="http://intake") as client:
            return await client.post("/v1/feedback", json=body, headers={"Authorization": f"Bearer {keys[partner_id]}"})

    own = await answer("iuc-smaland", smaland.match_id)
    not_its_company = await answer("iuc-norr", smaland.match_id)
    made_up = await answer("iuc-smaland", uuid.uuid4())

    assert own.status_code == 202
    assert not_its_company.status_code == 403
    assert "may not send events for region Småland och öarna" in not_its_company.json()["detail"]
    assert made_up.status_code == 404 and "not known" in made_up.json()["detail"]


def an_org_number() -> str:
    """A Swedish organisation number of its own for a test (ten digits, Luhn)."""
    base = [5, 5, 6] + [int(d) for d in f"{uuid.uuid4().int % 10**6:06d}"]
    total = sum(d * 2 - 9 * (d * 2 > 9) if i % 2 == 0 else d for i, d in enumerate(base))
    return "".join(map(str, base)) + str((10 - total % 10) % 10)


async def test_a_companys_master_data_changes_only_within_the_scope_it_is_registered_in(intake):
    """One partner cannot move another's company into its own region (and so hand its red
    thread to that region's coaches): scope is judged on the company as registered."""
    org = an_org_number()
    keys = {
        "iuc-smaland-reg": await register_partner(intake, "iuc-smaland-reg", may_send="needs", regions=frozenset({"Småland"})),
        "iuc-vast-reg": await register_partner(intake, "iuc-vast-reg", may_send="needs", regions=frozenset({"Väst"})),
        "riksnatverket": await register_partner(intake, "riksnatverket", may_send="needs"),
    }
    in_smaland = {"org_number": org, "name": "Gnosjö Fjäder AB", "county": "Jönköpings län", "municipality": "Gnosjö"}
    in_boras = in_smaland | {"county": "Västra Götalands län", "municipality": "Borås"}
    by_number = {"org_number": org, "name": "Gnosjö Fjäder AB"}

    async def need(partner_id: str, company: dict) -> httpx.Response:
        body = a_need(company=company).model_dump(mode="json")
        transport = httpx.ASGITransport(app=intake.http_app)
        async with httpx.AsyncClient(transport=transport, base_url="http://intake") as client:
            answer = await client.post("/v1/needs", json=body, headers={"Authorization": f"Bearer {keys[partner_id]}"})
            if answer.status_code == 202:
                stored = await client.get(f"/v1/needs/{body['need_id']}",
                                          headers={"Authorization": f"Bearer {keys[partner_id]}"})
                answer.stored_company = stored.json()["data"]["company"]
            return answer

    registered = await need("iuc-smaland-reg", in_smaland)
    moved_by_another_region = await need("iuc-vast-reg", in_boras)
    named_by_number = await need("iuc-smaland-reg", by_number)
    moved_by_a_national_partner = await need("riksnatverket", in_boras)
    smaland_after_the_move = await need("iuc-smaland-reg", by_number)

    assert registered.status_code == 202
    assert moved_by_another_region.status_code == 403
    assert "registered in region Småland" in moved_by_another_region.json()["detail"]
    assert named_by_number.status_code == 202
    assert (named_by_number.stored_company["municipality"], named_by_number.stored_company["region"]) == ("Gnosjö", "Småland")
    assert moved_by_a_national_partner.status_code == 202
    assert smaland_after_the_move.status_code == 403 and "Väst" in smaland_after_the_move.json()["detail"]
    async with intake.pool.acquire() as conn:
        row = await conn.fetchrow("SELECT region, sources FROM companies WHERE org_number = $1", org)
    sources = json.loads(row["sources"])
    assert row["region"] == "Väst"
    assert sources["municipality"]["partner"] == "riksnatverket" and sources["name"]["partner"] == "iuc-smaland-reg"


async def test_a_company_described_meanwhile_by_another_transaction_is_decided_again(intake):
    """Companies are read without a lock: a move decided on a revision that another batch
    has changed meanwhile fails as transient (the batch is decided again), never overwrites;
    a change that keeps the region is saved whatever happened meanwhile."""
    org = an_org_number()
    described = CompanyRef(org_number=org, name="Anderstorp Stål AB", county="Jönköpings län", region="Småland")
    async with intake.pool.acquire() as conn:
        first = CompanyBook({})
        first.described("iuc-smaland-reg", described)
        await save_registrations(conn, first.changed)  # registered, revision 1
        stale = CompanyBook({})  # decided before that registration could be seen
        stale.described("riksnatverket", described.model_copy(update={"region": "Väst", "county": "Västra Götalands län"}))
        with pytest.raises(TransientError, match=org):
            await save_registrations(conn, stale.changed)
        renamed_meanwhile = CompanyBook({})  # also decided before the registration, but keeps the region
        renamed_meanwhile.described("coachverktyg", described.model_copy(update={"name": "Anderstorp Stål och Svets AB"}))
        await save_registrations(conn, renamed_meanwhile.changed)
        row = await conn.fetchrow("SELECT name, region, revision FROM companies WHERE org_number = $1", org)
    assert (row["name"], row["region"], row["revision"]) == ("Anderstorp Stål och Svets AB", "Småland", 2)


async def test_an_aggregate_created_meanwhile_by_another_transaction_is_decided_again(intake, settings):
    """Two instances may create the same need at once (its events on two partitions); the
    one that loses is retried, not dead-lettered."""
    partner = Partner("race", "Race", frozenset(c.EVENT_TYPE for c in AGGREGATE_OF))
    need = a_need()
    first, second = new_event(need, source=partner.source), new_event(need, source=partner.source)
    async with intake.pool.acquire() as one, intake.pool.acquire() as other:
        transaction = one.transaction()
        await transaction.start()
        await accept_batch(BatchContext(one, settings), [(partner, first)])
        racing_transaction = other.transaction()
        await racing_transaction.start()
        racing = asyncio.create_task(accept_batch(BatchContext(other, settings), [(partner, second)]))
        await asyncio.sleep(0.5)  # it has found no such need, and waits for the first insert
        await transaction.commit()
        with pytest.raises(TransientError):
            await racing
        await racing_transaction.rollback()
        async with other.transaction():
            [again] = await accept_batch(BatchContext(other, settings), [(partner, second)])
    assert again.effect is Effect.UNCHANGED
