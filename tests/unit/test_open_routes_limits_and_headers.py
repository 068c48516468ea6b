"""The open routes are rate-limited per client address, /health is not, and every answer
carries the security headers; our pages carry a Content-Security-Policy."""

from __future__ import annotations

import httpx
import pytest

from services.common.problems import Problem
from services.common.rate_limits import RateLimits
from services.common.settings import Settings
from services.operations.service import build as build_operations
from services.reporting.service import build as build_reporting


def reporting_app(per_minute: int):
    return build_reporting(Settings(public_requests_per_minute=per_minute)).http_app


async def get_all(app, paths: list[str], client=("203.0.113.7", 5000)) -> list[httpx.Response]:
    transport = httpx.ASGITransport(app=app, client=client)
    async with httpx.AsyncClient(transport=transport, base_url="http://reporting.test") as http:
        return [await http.get(path) for path in paths]


async def test_an_address_past_its_allowance_gets_429_with_retry_after_and_another_address_does_not():
    app = reporting_app(per_minute=3)
    first = await get_all(app, ["/dashboard/"] * 4)
    other = await get_all(app, ["/dashboard/"], client=("198.51.100.9", 5000))
    assert [r.status_code for r in first] == [200, 200, 200, 429]
    assert int(first[-1].headers["retry-after"]) >= 1
    assert first[-1].json()["type"].endswith("rate-limited")
    assert other[0].status_code == 200


async def test_health_is_never_counted():
    app = reporting_app(per_minute=1)
    answers = await get_all(app, ["/health"] * 5)
    assert 429 not in [r.status_code for r in answers]


@pytest.mark.parametrize(("build", "page_path", "api_path"), [
    (build_reporting, "/dashboard/", "/v1/board/funnel"),
    (build_operations, "/operations/", "/v1/operations/lag"),
], ids=["the board's dashboard", "the operators' page"])
async def test_pages_carry_a_content_security_policy_and_every_answer_the_security_headers(build, page_path, api_path):
    app = build(Settings(public_requests_per_minute=100)).http_app
    page, docs, api = await get_all(app, [page_path, "/docs", api_path])
    assert page.status_code == 200 and "<html" in page.text
    assert "script-src 'self'" in page.headers["content-security-policy"]
    assert "frame-ancestors 'none'" in page.headers["content-security-policy"]
    assert "content-security-policy" not in docs.headers  # Swagger UI comes from its CDN
    for answer in (page, docs, api):
        assert answer.headers["referrer-policy"] == "no-referrer"
        assert answer.headers["x-content-type-options"] == "nosniff"
        assert answer.headers["x-frame-options"] == "DENY"
    assert api.status_code == 401


def test_a_partner_past_its_allowance_is_told_when_to_come_back():
    limits = RateLimits(per_address_per_minute=100)
    for _ in range(2):
        limits.charge_partner("iuc-vast", per_minute=2)
    with pytest.raises(Problem) as refused:
        limits.charge_partner("iuc-vast", per_minute=2)
    assert refused.value.status == 429 and "iuc-vast may send 2 requests per minute" in refused.value.detail
    limits.charge_partner("iuc-syd", per_minute=2)  # another partner has its own allowance
