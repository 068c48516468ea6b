"""The OWASP API Security Top 10 (2023), tried against the four services as processes:
partner A tries each door against partner B, over HTTP and over Kafka. One test per item
that applies, named after it (the README's security table points here)."""

from __future__ import annotations

import asyncio
import json
import time
import uuid

import httpx
import pytest
import schemathesis
from aiokafka import AIOKafkaProducer
from aiokafka.errors import TopicAuthorizationFailedError
from hypothesis import HealthCheck, given, settings as hypothesis_settings

from contracts.envelope import encode, new_event
from contracts.topics import DEAD_LETTERS, PARTNER_NEEDS, own_topic
from deploy.demo.partners import provision
from deploy.local import EVERY_PROCESS
from services.common.kafka_provisioning import provision_partner, set_partner_password
from services.common.kafka_security import client_options
from services.intake.admin import event_types
from services.intake.partners import Partner
from tests.conftest import a_need, headers_of, read_topic
from tests.unit.test_route_inventory import EXPECTED

pytestmark = pytest.mark.e2e

COMPANY_A, COMPANY_B = "5560360793", "2120000142"
# The roles whose keys the generated requests use have allowances that fuzzing cannot use up.
MANY = 1_000_000
A = Partner("owasp-a", "Partner A", event_types("all"), org_numbers=frozenset({COMPANY_A}),
            own_kafka_topics=True, requests_per_minute=MANY)
B = Partner("owasp-b", "Partner B", event_types("needs,feedback"), org_numbers=frozenset({COMPANY_B}),
            own_kafka_topics=True)
READER = Partner("owasp-reader", "A partner that may send nothing", event_types("none"))
COACH_B = Partner("owasp-coach-b", "The coach of B's company", event_types("none"), org_numbers=frozenset({COMPANY_B}),
                  reporting="coach", requests_per_minute=MANY)
BOARD = Partner("owasp-board", "The board", event_types("none"), reporting="board", requests_per_minute=MANY)
OPERATOR = Partner("owasp-operator", "An operator", event_types("none"), operator=True, requests_per_minute=MANY)
SLOW = Partner("owasp-slow", "A partner with a small allowance", event_types("needs"), requests_per_minute=5)
PARTNERS = (A, B, READER, COACH_B, BOARD, OPERATOR, SLOW)


@pytest.fixture(scope="module")
def keys(platform, settings) -> dict[str, str]:
    keys = asyncio.run(provision(settings, PARTNERS))
    time.sleep(settings.partner_cache_s + 2)  # every service has heard of them (redthread.partner-access.v1)
    return keys


def call(platform, service: str, key: str | None = None) -> httpx.Client:
    headers = {"Authorization": f"Bearer {key}"} if key else {}
    return httpx.Client(base_url=platform.url(service), headers=headers, timeout=10)


def a_body(org_number: str = COMPANY_A) -> dict:
    need = a_need(company={"org_number": org_number, "name": "Företaget AB", "county": "Jönköpings län"})
    return json.loads(need.model_dump_json(exclude_none=True))


def a_subscription(**changes) -> dict:
    return {"about": "matches", "channel": "email", "subscriber": {"name": "Anna", "email": "anna@example.se"}} | changes


# --- API1:2023 Broken Object Level Authorization -----------------------------------------


def test_api1_broken_object_level_authorization_over_http(platform, keys):
    with call(platform, "intake", keys[A.partner_id]) as a, call(platform, "intake", keys[B.partner_id]) as b:
        body = a_body()
        assert a.post("/v1/needs", json=body).status_code == 202
        need = body["need_id"]
        tries = [
            b.get(f"/v1/needs/{need}"),
            b.put(f"/v1/needs/{need}", json=body | {"revision": 2, "title": "Kapad"}),
            b.post(f"/v1/needs/{need}/withdrawal", json={"need_id": need, "revision": 2}),
            b.post("/v1/needs", json=body),  # the same need id, as if it were B's
        ]
        # 404: no such need for B; 403: the company is not in B's scope. Never the need.
        assert all(r.status_code in (403, 404) for r in tries), [r.status_code for r in tries]
        assert all(body["title"] not in r.text for r in tries)
        assert a.get(f"/v1/needs/{need}").json()["data"]["title"] == body["title"]

    with call(platform, "notification", keys[A.partner_id]) as a, call(platform, "notification", keys[B.partner_id]) as b:
        mine = a.post("/v1/subscriptions", json=a_subscription()).json()["subscription_id"]
        tries = [
            b.get(f"/v1/subscriptions/{mine}"),
            b.patch(f"/v1/subscriptions/{mine}", json={"status": "paused"}),
            b.post(f"/v1/subscriptions/{mine}/webhook-secret"),
            b.get(f"/v1/subscriptions/{mine}/deliveries"),
            b.delete(f"/v1/subscriptions/{mine}"),
        ]
        assert [r.status_code for r in tries] == [404] * 5
        assert mine not in {s["subscription_id"] for s in b.get("/v1/subscriptions").json()}
        assert a.get(f"/v1/subscriptions/{mine}").json()["status"] == "active"

    with call(platform, "reporting", keys[COACH_B.partner_id]) as coach_b:
        tries = [coach_b.get(f"/v1/companies/{COMPANY_A}/timeline"), coach_b.get(f"/v1/needs/{need}/matches")]
        assert all(r.status_code in (403, 404) and body["title"] not in r.text for r in tries)


async def test_api1_broken_object_level_authorization_over_kafka(platform, keys, settings):
    """A's principal cannot write B's topics; on its own topics, B's source is refused."""
    passwords = {}
    for partner in (A, B):
        await provision_partner(settings, partner.partner_id)
        passwords[partner.partner_id] = await set_partner_password(settings, partner.partner_id)
    as_a = client_options(settings.model_copy(update={"kafka_password": _secret(passwords[A.partner_id])}), A.partner_id)
    producer = AIOKafkaProducer(**as_a, acks="all", enable_idempotence=True)
    await producer.start()
    try:
        with pytest.raises(TopicAuthorizationFailedError):
            await producer.send_and_wait(settings.topic(own_topic(PARTNER_NEEDS, B.partner_id)), b"{}")
        with pytest.raises(TopicAuthorizationFailedError):
            await producer.send_and_wait(settings.topic(PARTNER_NEEDS.name), b"{}")
        value, headers = encode(new_event(a_need(), source=f"/partners/{B.partner_id}"))
        sent = await producer.send_and_wait(
            settings.topic(own_topic(PARTNER_NEEDS, A.partner_id)), value, headers=[(k, v.encode()) for k, v in headers.items()]
        )
    finally:
        await producer.stop()
    [dead] = await read_topic(
        settings, settings.topic(DEAD_LETTERS.name), timeout_s=60,
        where=lambda r: headers_of(r).get("dlq_source_offset") == str(sent.offset)
        and headers_of(r).get("dlq_source_topic") == settings.topic(own_topic(PARTNER_NEEDS, A.partner_id)),
    )
    assert f"/partners/{B.partner_id}" in headers_of(dead)["dlq_reason"]


def _secret(value: str):
    from pydantic import SecretStr

    return SecretStr(value)


# --- API2:2023 Broken Authentication ------------------------------------------------------


def test_api2_broken_authentication(platform, keys):
    for service, path in (("intake", "/v1/partners/me"), ("notification", "/v1/subscriptions"),
                          ("reporting", "/v1/board/funnel")):
        for key in (None, "rt_nonsense", keys[A.partner_id] + "x", "' OR 1=1 --"):
            with call(platform, service, key) as client:
                response = client.get(path)
            assert response.status_code == 401, (service, key, response.text)
            assert response.headers["content-type"] == "application/problem+json"
        # A key in the URL (logged by every proxy on the way) is not a key.
        with call(platform, service) as client:
            assert client.get(path, params={"api_key": keys[BOARD.partner_id]}).status_code == 401


# --- API3:2023 Broken Object Property Level Authorization ---------------------------------


def test_api3_broken_object_property_level_authorization(platform, keys):
    """A request cannot set what its sender may not: unknown properties are refused with
    their path, not silently stored."""
    with call(platform, "notification", keys[A.partner_id]) as a:
        stolen = a.post("/v1/subscriptions", json=a_subscription(partner_id=B.partner_id))
        assert stolen.status_code == 422 and "partner_id" in stolen.text
    with call(platform, "intake", keys[A.partner_id]) as a:
        forged = a.post("/v1/needs", json=a_body() | {"status": "resolved"})
        assert forged.status_code == 422 and "status" in forged.text
        me = a.get("/v1/partners/me").json()
        assert "key_hashes" not in json.dumps(me) and "hash" not in json.dumps(me)


# --- API4:2023 Unrestricted Resource Consumption ------------------------------------------


def test_api4_unrestricted_resource_consumption(platform, keys):
    with call(platform, "intake", keys[A.partner_id]) as a:
        huge = a.post("/v1/needs", content=b"{" + b" " * 400_000 + b"}", headers={"content-type": "application/json"})
        assert huge.status_code == 413
    with call(platform, "intake", keys[SLOW.partner_id]) as slow:
        answers = [slow.get(f"/v1/needs/{uuid.uuid4()}").status_code for _ in range(8)]
    assert 429 in answers and answers[0] == 404
    with call(platform, "notification") as public:
        answers = [public.get("/v1/unsubscribe/not-a-token") for _ in range(320)]
    limited = [r for r in answers if r.status_code == 429]
    assert limited and int(limited[0].headers["retry-after"]) > 0


# --- API5:2023 Broken Function Level Authorization ----------------------------------------


def test_api5_broken_function_level_authorization(platform, keys):
    with call(platform, "intake", keys[READER.partner_id]) as reader:
        assert reader.post("/v1/needs", json=a_body()).status_code == 403
    with call(platform, "reporting", keys[READER.partner_id]) as reader:
        assert reader.get("/v1/board/funnel").status_code == 403
    with call(platform, "intake", keys[B.partner_id]) as b:
        assert b.post("/v1/needs", json=a_body(COMPANY_B)).status_code == 202
    with call(platform, "reporting", keys[COACH_B.partner_id]) as coach:
        assert coach.get("/v1/board/funnel").status_code == 403
        deadline = time.monotonic() + 30  # the need reaches reporting's read model
        while (own := coach.get(f"/v1/companies/{COMPANY_B}/timeline")).status_code == 404 and time.monotonic() < deadline:
            time.sleep(0.3)
        assert own.status_code == 200
    with call(platform, "notification", keys[A.partner_id]) as a:
        assert a.get("/v1/notifications").status_code == 403
    with call(platform, "notification", keys[OPERATOR.partner_id]) as operator:
        assert operator.get("/v1/notifications").status_code == 200


# --- API6:2023 Unrestricted Access to Sensitive Business Flows -----------------------------


def test_api6_unrestricted_access_to_sensitive_business_flows(platform, keys):
    """An "adopted" moves the board's funnel: only about a match redthread proposed, for a
    company in the sender's scope, and only by a partner that may send feedback."""
    feedback = {"feedback_id": str(uuid.uuid4()), "match_id": str(uuid.uuid4()), "verdict": "adopted",
                "company_org_number": COMPANY_A, "reporter": {"name": "Anna", "email": "anna@example.se"}}
    with call(platform, "intake", keys[A.partner_id]) as a:
        invented = a.post("/v1/feedback", json=feedback)
        assert invented.status_code in (403, 404), invented.text
    with call(platform, "intake", keys[READER.partner_id]) as reader:
        assert reader.post("/v1/feedback", json=feedback).status_code == 403


# --- API7:2023 Server Side Request Forgery --------------------------------------------------


@pytest.mark.parametrize("url", [
    "http://127.0.0.1:8001/v1/partners/me", "http://[::1]/", "http://[::ffff:127.0.0.1]/", "http://169.254.169.254/latest",
    "http://0x7f000001/", "http://2130706433/", "http://10.0.0.1/", "http://localhost/",
])
def test_api7_server_side_request_forgery(platform, keys, url):
    with call(platform, "notification", keys[A.partner_id]) as a:
        response = a.post("/v1/subscriptions", json=a_subscription(channel="webhook", webhook_url=url))
    assert response.status_code == 422, response.text
    assert "webhook_url" in response.text


# --- API8:2023 Security Misconfiguration ----------------------------------------------------


def test_api8_security_misconfiguration(platform, keys):
    for service in EVERY_PROCESS:
        with call(platform, service) as anonymous:
            missing = anonymous.get("/v1/no-such-thing")
            health = anonymous.get("/health")
        assert missing.status_code == 404 and missing.headers["content-type"] == "application/problem+json"
        assert "Traceback" not in missing.text and "File \"" not in missing.text
        for response in (missing, health):
            assert response.headers["x-content-type-options"] == "nosniff"
            assert response.headers["x-frame-options"] == "DENY"
            assert response.headers["referrer-policy"] == "no-referrer"
            assert "access-control-allow-origin" not in response.headers  # no CORS for any origin


# --- API9:2023 Improper Inventory Management ------------------------------------------------

# The board's dashboard and the operators' page: pages, not API, so not in the OpenAPI
# document (but inventoried).
PAGES = {("GET", "/"), ("GET", "/dashboard/{path}"), ("GET", "/operations/{path}")}


def test_api9_improper_inventory_management(platform):
    """What each running service publishes is exactly the reviewed inventory of routes and
    roles (tests/unit/test_route_inventory.py): no forgotten or undocumented route."""
    for service in EVERY_PROCESS:
        with call(platform, service) as anonymous:
            published = anonymous.get("/openapi.json").json()["paths"]
        routes = {(method.upper(), path) for path, methods in published.items() for method in methods}
        assert routes == set(EXPECTED[service]) - PAGES, service


# --- API10:2023 Unsafe Consumption of APIs --------------------------------------------------
# What redthread consumes from others: partners' Kafka records (tests/faults/
# test_hostile_records.py, tests/integration/test_intake_attacks.py) and webhook
# receivers' answers (tests/integration/test_notification_delivery.py: no redirect is
# followed, no body shown). Below, the generated requests of every role.


ROLES = {"partner": A, "coach": COACH_B, "board": BOARD, "operator": OPERATOR}


@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize("service", EVERY_PROCESS)
def test_generated_requests_with_each_roles_key_never_get_a_server_error(platform, keys, service, role):
    schema = schemathesis.openapi.from_url(platform.url(service) + "/openapi.json")
    auth = {"Authorization": f"Bearer {keys[ROLES[role].partner_id]}"}
    operations = [result.ok() for result in schema.get_all_operations()]
    assert operations

    for operation in operations:

        @given(case=operation.as_strategy())
        @hypothesis_settings(
            max_examples=15, deadline=None, suppress_health_check=list(HealthCheck), database=None, derandomize=True
        )
        def answers_clearly(case) -> None:
            response = case.call(headers=auth, timeout=10)
            where = f"{role} {case.method} {case.formatted_path}"
            assert response.status_code < 500, f"{where}: {response.status_code} {response.text[:500]}"
            if response.status_code >= 400 and response.status_code != 429:
                assert response.headers["content-type"][0].startswith("application/problem+json"), (where, response.text)

        answers_clearly()
