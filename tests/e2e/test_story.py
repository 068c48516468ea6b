"""The story redthread exists for, told against the running platform.

A coach writes down a company's need. Later a research project publishes a result that
answers it. The coach gets an e-mail about it, and the board's report shows the need,
the match and the notification on the company's red thread. One trace follows it all.
"""

from __future__ import annotations

import json
import secrets
import time

import httpx
import pytest

from tests.conftest import a_need, an_output

pytestmark = pytest.mark.e2e


def eventually(check, timeout_s: float = 45, interval_s: float = 0.3):
    deadline = time.monotonic() + timeout_s
    while True:
        result = check()
        if result:
            return result
        if time.monotonic() > deadline:
            raise AssertionError(f"not true within {timeout_s}s: {check.__doc__ or check}")
        time.sleep(interval_s)


def post(platform, path: str, model, partner: str, traceparent: str | None = None) -> httpx.Response:
    headers = {"Authorization": f"Bearer {platform.keys[partner]}"} | ({"traceparent": traceparent} if traceparent else {})
    return httpx.post(platform.url("intake") + path, json=json.loads(model.model_dump_json()), headers=headers, timeout=10)


def new_trace() -> tuple[str, str]:
    trace_id = secrets.token_hex(16)
    return trace_id, f"00-{trace_id}-{secrets.token_hex(8)}-01"


def test_a_coachs_need_meets_new_research_and_the_coach_is_told(platform, inbox):
    # A coach at IUC Småland records the need of a die-casting shop in Värnamo.
    need = a_need(coach={"name": "Karin Lindqvist", "email": "karin.e2e@example.se"})
    assert post(platform, "/v1/needs", need, "iuc-smaland").status_code == 202

    # Weeks later, a Produktion2030 project publishes a method for shorter changeovers.
    output = an_output()
    assert post(platform, "/v1/research-outputs", output, "produktion2030").status_code == 202

    # The coach gets an e-mail that names the need, the research and why it fits.
    def mail_to_karin():
        """an e-mail reaches karin.e2e@example.se"""
        return next((m for m in inbox.messages if m["To"] == "karin.e2e@example.se"), None)

    mail = eventually(mail_to_karin)
    text = mail.get_content()
    assert need.title in mail["Subject"]
    assert output.title in text
    assert "ställtid" in text
    assert str(mail["X-Redthread-Match-Id"]) in text

    # The report shows the match for the need, with its reasons and who was told.
    def notified_match():
        """reporting shows the need's match as notified"""
        body = httpx.get(f"{platform.url('reporting')}/v1/needs/{need.need_id}/matches", timeout=5)
        matches = body.json()["matches"] if body.status_code == 200 else []
        return matches if matches and matches[0]["notified_to"] else None

    match = eventually(notified_match)[0]
    assert match["output_id"] == str(output.output_id)
    kinds = {reason["kind"] for reason in match["reasons"]}
    assert {"strength-area", "trl"} <= kinds and kinds & {"shared-concepts", "shared-terms"}

    # And the company's red thread holds the need, the match and the notification.
    timeline = httpx.get(f"{platform.url('reporting')}/v1/companies/556036-0793/timeline", timeout=5).json()
    kinds = [event["kind"] for event in timeline["events"] if event["need_id"] == str(need.need_id)]
    assert kinds == ["need-submitted", "match-proposed", "notification-dispatched"]

    # Exactly one e-mail, however often Kafka redelivers.
    time.sleep(1)
    assert sum(m["To"] == "karin.e2e@example.se" for m in inbox.messages) == 1


def test_one_trace_follows_a_need_through_all_four_services(platform, inbox, span_collector):
    def handled_by_matching() -> int:
        return httpx.get(platform.url("matching") + "/health", timeout=5).json()["consumers"]["matching"]["handled"]

    before = handled_by_matching()
    output = an_output(title="Digital tvilling för simulering av monteringsflöde", keywords=["digital tvilling", "simulering", "montering"])
    assert post(platform, "/v1/research-outputs", output, "rise").status_code == 202
    need = a_need(
        title="Simulering av monteringsflöde med digital tvilling",
        description="Vi vill simulera monteringslinan innan ombyggnad, med en digital tvilling.",
        keywords=["simulering", "digital tvilling"],
        coach={"name": "Per Holm", "email": "per.trace@example.se"},
    )
    # Matching stores the output first, so that the need's own trace is the one that causes the match.
    eventually(lambda: handled_by_matching() > before)

    trace_id, traceparent = new_trace()
    assert post(platform, "/v1/needs", need, "coach-tool", traceparent=traceparent).status_code == 202

    def all_four():
        """spans of intake, matching, notification and reporting share the need's trace id"""
        return span_collector.services_in_trace(trace_id) >= {
            "redthread-intake", "redthread-matching", "redthread-notification", "redthread-reporting"
        }

    eventually(all_four)
