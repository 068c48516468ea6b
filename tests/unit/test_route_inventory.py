"""Every route of the four services and the operators' console, with who may call it (services/common/access.py).

A new route fails here until it declares its access and is added below, so that opening a
door is a decision someone writes down; a route that requires a key is called without one
and must answer 401 before it reads anything."""

from __future__ import annotations

import importlib
import re
import uuid

import httpx
import pytest

from services.common.access import route_inventory

DOCS = {("GET", path) for path in ("/docs", "/docs/oauth2-redirect", "/openapi.json", "/redoc")} | {
    ("HEAD", path) for path in ("/docs", "/docs/oauth2-redirect", "/openapi.json", "/redoc")
}
# Every service: its health for supervisors, its metrics for Prometheus.
HEALTH = {("GET", "/health"): "public", ("GET", "/metrics"): "public"}

EXPECTED: dict[str, dict[tuple[str, str], str]] = {
    "intake": HEALTH | {
        ("POST", "/v1/needs"): "partner",
        ("PUT", "/v1/needs/{need_id}"): "partner",
        ("GET", "/v1/needs/{need_id}"): "partner",
        ("POST", "/v1/needs/{need_id}/withdrawal"): "partner",
        ("POST", "/v1/needs/{need_id}/resolution"): "partner",
        ("POST", "/v1/research-outputs"): "partner",
        ("PUT", "/v1/research-outputs/{output_id}"): "partner",
        ("GET", "/v1/research-outputs/{output_id}"): "partner",
        ("POST", "/v1/research-outputs/{output_id}/withdrawal"): "partner",
        ("POST", "/v1/participations"): "partner",
        ("POST", "/v1/feedback"): "partner",
        ("GET", "/v1/partners/me"): "partner",
        ("POST", "/v1/erasures"): "operator",
    },
    "matching": HEALTH,
    "notification": HEALTH | {
        ("POST", "/v1/subscriptions"): "partner",
        ("GET", "/v1/subscriptions"): "partner",
        ("GET", "/v1/subscriptions/{subscription_id}"): "partner",
        ("PATCH", "/v1/subscriptions/{subscription_id}"): "partner",
        ("DELETE", "/v1/subscriptions/{subscription_id}"): "partner",
        ("POST", "/v1/subscriptions/{subscription_id}/webhook-secret"): "partner",
        ("GET", "/v1/subscriptions/{subscription_id}/deliveries"): "partner",
        ("GET", "/v1/feeds/{token}"): "link",
        ("GET", "/v1/unsubscribe/{token}"): "link",
        ("POST", "/v1/unsubscribe/{token}"): "link",
        ("GET", "/v1/answers/{token}"): "link",
        ("POST", "/v1/answers/{token}"): "link",
        ("GET", "/v1/notifications"): "operator",
    },
    "reporting": HEALTH | {
        ("GET", "/"): "public",
        ("GET", "/dashboard/{path}"): "public",
        ("GET", "/v1/board/funnel"): "reporting board",
        ("GET", "/v1/board/uptake"): "reporting board",
        ("GET", "/v1/board/white-spots"): "reporting board",
        ("GET", "/v1/board/reach"): "reporting board",
        ("GET", "/v1/board/coverage"): "reporting board",
        ("GET", "/v1/board/companies"): "reporting board",
        ("GET", "/v1/companies/{org_number}/timeline"): "reporting board or coach",
        ("GET", "/v1/needs/{need_id}/matches"): "reporting board or coach",
    },
    "operations": HEALTH | {
        ("GET", "/"): "public",
        ("GET", "/operations/{path}"): "public",
        ("GET", "/v1/operations/about"): "operator",
        ("GET", "/v1/operations/flow"): "operator",
        ("GET", "/v1/operations/lag"): "operator",
        ("GET", "/v1/operations/outbox"): "operator",
        ("GET", "/v1/operations/dead-letters"): "operator",
        ("GET", "/v1/operations/dead-letters/{dead_letter_id}"): "operator",
        ("POST", "/v1/operations/dead-letters/redrive"): "operator",
        ("GET", "/v1/operations/deliveries"): "operator",
        ("POST", "/v1/operations/deliveries/resend"): "operator",
    },
}


def app_of(service: str):
    return importlib.import_module(f"services.{service}.service").build().http_app


@pytest.mark.parametrize("service", EXPECTED)
def test_every_route_declares_exactly_one_access_and_it_is_the_expected_one(service):
    inventory = route_inventory(app_of(service))
    undeclared = sorted(route for route, access in inventory.items() if len(access) != 1)
    assert not undeclared, f"routes of {service} without exactly one declared access: {undeclared}"
    found = {route: access[0].kind for route, access in inventory.items() if route not in DOCS}
    assert found == EXPECTED[service]
    assert all(str(access[0]).startswith("public: the API's own documentation") for route, access in inventory.items()
               if route in DOCS)


def test_open_routes_say_why():
    for service in EXPECTED:
        for route, [access] in route_inventory(app_of(service)).items():
            if not access.needs_a_key:
                assert len(access.why) > 10, f"{service} {route} is open without a reason"


def _filled(path: str) -> str:
    return re.sub(r"\{[^}]+\}", lambda m: "5560360793" if "org_number" in m.group(0) else str(uuid.uuid4()), path)


KEYED = [(service, method, path) for service, routes in EXPECTED.items()
         for (method, path), kind in routes.items() if kind not in ("public", "link")]


@pytest.mark.parametrize(("service", "method", "path"), KEYED, ids=[f"{s} {m} {p}" for s, m, p in KEYED])
async def test_a_route_that_requires_a_key_answers_401_without_one_before_reading_anything(service, method, path):
    """The app is not started: a route that touched the database or Kafka before it asked
    for a key would fail with 500 here, not answer 401."""
    transport = httpx.ASGITransport(app=app_of(service))
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        for headers in ({}, {"Authorization": "Bearer not-a-key"}, {"X-API-Key": "rt_unknown"}):
            response = await client.request(method, _filled(path), headers=headers,
                                             json={} if method in ("POST", "PUT", "PATCH") else None)
            assert response.status_code == 401, (headers, response.text)
            assert response.headers["www-authenticate"].startswith("Bearer")
