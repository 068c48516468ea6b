"""The story redthread exists for, told against the running platform.

A coach writes down a company's need. Later a research project publishes a result that
answers it. The coach gets an e-mail about it, and the board's report shows the need,
the match and the notification on the company's red thread. One trace follows it all.
"""

from __future__ import annotations

import json
import re
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


def addressed_to(address: str):
    return lambda message: any(a.addr_spec == address for a in message["To"].addresses)


def test_a_coachs_need_meets_new_research_and_the_coach_is_told(platform, inbox):
    # A researcher at RISE follows the need feed for changeover problems, by e-mail, in English.
    rise = {"Authorization": f"Bearer {platform.keys['rise']}"}
    subscription = {
        "about": "needs", "channel": "email", "filters": {"keywords": ["ställtid"]},
        "subscriber": {"name": "Eva Forsberg", "email": "eva.e2e@ri.example.se", "language": "en"},
    }

    def subscribed():
        """the RISE key works at notification, and the researcher is subscribed"""
        response = httpx.post(platform.url("notification") + "/v1/subscriptions", json=subscription, headers=rise, timeout=5)
        return response.status_code == 201

    eventually(subscribed)

    # A coach at IUC Småland records the need of a die-casting shop in Värnamo.
    need = a_need(coach={"name": "Karin Lindqvist", "email": "karin.e2e@example.se"})
    assert post(platform, "/v1/needs", need, "iuc-smaland").status_code == 202

    # The researcher hears of the need.
    to_eva = addressed_to("eva.e2e@ri.example.se")
    eva_mail = eventually(lambda: next((m for m in inbox.messages if to_eva(m)), None))
    assert need.title in eva_mail.get_body(("plain",)).get_content()

    # Weeks later, a Produktion2030 project publishes a method for shorter changeovers.
    output = an_output()
    assert post(platform, "/v1/research-outputs", output, "produktion2030").status_code == 202

    # The coach gets an e-mail that names the need, the research and why it fits.
    to_karin = addressed_to("karin.e2e@example.se")

    def mail_to_karin():
        """an e-mail reaches karin.e2e@example.se"""
        return next((m for m in inbox.messages if to_karin(m)), None)

    mail = eventually(mail_to_karin)
    text = mail.get_body(("plain",)).get_content()
    assert need.title in mail["Subject"]
    assert output.title in text and output.title in mail.get_body(("html",)).get_content()
    assert "ställtid" in text
    answer_url = re.search(r"(http://\S+/v1/answers/[\w-]+)\?verdict=adopted", text).group(1)

    # The report shows the coach the match for the need, with its reasons and who was told.
    coach = {"Authorization": f"Bearer {platform.keys['coach-karin']}"}

    def notified_match():
        """reporting shows the need's match as notified"""
        body = httpx.get(f"{platform.url('reporting')}/v1/needs/{need.need_id}/matches", headers=coach, timeout=5)
        matches = body.json()["matches"] if body.status_code == 200 else []
        return matches if matches and matches[0]["notified_to"] else None

    match = eventually(notified_match)[0]
    assert match["output_id"] == str(output.output_id)
    kinds = {reason["kind"] for reason in match["reasons"]}
    assert {"strength-area", "trl"} <= kinds and kinds & {"shared-concepts", "shared-terms"}

    # The company tries the method and adopts it; the coach says so through the link.
    answered = httpx.post(answer_url, data={"verdict": "adopted", "comment": "Ställtiden halverad"}, timeout=5)
    assert answered.status_code == 200

    # And the company's red thread holds the need, the match, the notification and the answer.
    def whole_thread():
        """the company's timeline ends with the feedback"""
        answer = httpx.get(f"{platform.url('reporting')}/v1/companies/556036-0793/timeline", headers=coach, timeout=5)
        events = answer.json()["events"] if answer.status_code == 200 else []
        kinds = [event["kind"] for event in events if event["need_id"] == str(need.need_id)]
        return kinds if "feedback-submitted" in kinds else None

    assert eventually(whole_thread) == ["need-submitted", "match-proposed", "notification-dispatched", "feedback-submitted"]

    # The board sees the same thread without anyone's address, and the adoption in its funnel.
    board = {"Authorization": f"Bearer {platform.keys['styrelsen']}"}
    thread = httpx.get(f"{platform.url('reporting')}/v1/companies/5560360793/timeline", headers=board, timeout=5)
    assert thread.status_code == 200 and "@" not in thread.text
    funnel = httpx.get(f"{platform.url('reporting')}/v1/board/funnel", headers=board, timeout=5).json()
    assert {stage["stage"]: stage["outputs"] for stage in funnel["stages"]}["adopted"] >= 1

    # Exactly one e-mail to the coach, however often Kafka redelivers.
    time.sleep(1)
    assert sum(1 for m in inbox.messages if to_karin(m)) == 1


def test_one_trace_follows_a_need_through_all_four_services(platform, inbox, zipkin_url):
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
        """Zipkin shows spans of intake, matching, notification and reporting in the need's trace"""
        response = httpx.get(f"{zipkin_url}/api/v2/trace/{trace_id}", timeout=5)
        spans = response.json() if response.status_code == 200 else []
        services = {span.get("localEndpoint", {}).get("serviceName") for span in spans}
        return spans if services >= {"redthread-intake", "redthread-matching", "redthread-notification",
                                     "redthread-reporting"} else None

    spans = eventually(all_four)
    # An operator who knows only the need's id finds the same trace by searching for it.
    need_id = str(need.need_id)
    assert any(span.get("tags", {}).get("redthread.need_id") == need_id for span in spans)
    found = httpx.get(f"{zipkin_url}/api/v2/traces", timeout=5,
                      params={"annotationQuery": f"redthread.need_id={need_id}", "limit": 10}).json()
    assert trace_id in {span["traceId"] for trace in found for span in trace}
    # and the company's org number, and the partner that sent it, tag the spans too
    tags = {key: value for span in spans for key, value in span.get("tags", {}).items()}
    assert tags["redthread.company"] == need.company.org_number.replace("-", "")
    assert tags["redthread.partner"] == "coach-tool"


def test_every_service_logs_one_json_object_per_line(platform):
    """What the platform's processes wrote while the stories ran: each line of each
    service's log a JSON object naming its service (services/common/logs.py)."""
    for name in ("intake", "matching", "notification", "reporting"):
        lines = [line for line in (platform.log_dir / f"{name}.log").read_text().splitlines() if line.strip()]
        assert lines, f"{name} logged nothing"
        entries = [json.loads(line) for line in lines]
        assert {entry["service"] for entry in entries} == {name}
        assert all({"time", "level", "logger", "message"} <= entry.keys() for entry in entries)
