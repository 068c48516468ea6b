"""`/metrics` after a known workload: three needs accepted and one refused over HTTP, and
the three handled by matching's consumer, read back from the services' Prometheus text;
their relay through intake's outbox timed; matching's group caught up on every partition,
as the operators' console reports it."""

from __future__ import annotations

import time

import httpx
from prometheus_client.parser import text_string_to_metric_families

from contracts.topics import NEEDS
from tests.conftest import a_need


def samples(platform, service: str) -> dict[tuple[str, tuple], float]:
    text = httpx.get(platform.url(service) + "/metrics", timeout=5).text
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(text) for sample in family.samples
    }


def value(found: dict, name: str, **labels: str) -> float:
    return found.get((name, tuple(sorted(labels.items()))), 0.0)


def test_metrics_count_a_known_workload(platform):
    as_coach_tool = {"Authorization": f"Bearer {platform.keys['coach-tool']}"}
    for _ in range(3):
        response = httpx.post(platform.url("intake") + "/v1/needs", json=a_need().model_dump(mode="json"),
                              headers=as_coach_tool, timeout=10)
        assert response.status_code == 202
    refused = httpx.post(platform.url("intake") + "/v1/needs", json={"title": ""}, headers=as_coach_tool, timeout=10)
    assert refused.status_code == 422

    intake = samples(platform, "intake")
    assert value(intake, "redthread_http_requests_total", method="POST", route="/v1/needs", status="202") == 3
    assert value(intake, "redthread_http_requests_total", method="POST", route="/v1/needs", status="422") == 1
    assert value(intake, "redthread_http_request_seconds_count", method="POST", route="/v1/needs") == 4
    relayed = value(intake, "redthread_outbox_relay_seconds_count")
    assert relayed >= 3  # the three needs (and the partner-access notices intake relayed before)
    assert value(intake, "redthread_outbox_relay_seconds_bucket", le="+Inf") == relayed

    deadline = time.monotonic() + 45
    while True:
        matching = samples(platform, "matching")
        if value(matching, "redthread_events_total", consumer="matching", outcome="handled",
                 type="redthread.need.submitted") >= 3:
            break
        assert time.monotonic() < deadline, "matching did not count the three needs"
        time.sleep(0.5)
    handled = {labels: count for (name, labels), count in matching.items()
               if name == "redthread_events_total" and ("consumer", "matching") in labels}
    assert handled == {(("consumer", "matching"), ("outcome", "handled"), ("type", "redthread.need.submitted")): 3}
    assert value(matching, "redthread_batch_seconds_count", consumer="matching") >= 1
    assert ("redthread_consumer_records_waiting", (("consumer", "matching"),)) in matching
    assert value(matching, "redthread_outbox_parked") == 0
    assert ("redthread_outbox_waiting", ()) in matching
    notification = samples(platform, "notification")
    assert ("redthread_deliveries_owed", (("channel", "email"),)) in notification
    assert value(notification, "redthread_peers_unreachable") == 0
    # Every group's lag per partition, from the console: matching has caught up on the needs.
    group = f"{platform.env['REDTHREAD_NAMESPACE']}.redthread.matching"
    deadline = time.monotonic() + 30
    while True:
        console = samples(platform, "operations")
        lag = {dict(labels)["partition"]: count for (name, labels), count in console.items()
               if name == "redthread_consumer_group_lag_records" and ("group", group) in labels
               and ("topic", "redthread.needs.v1") in labels}
        if lag and not any(lag.values()):
            break
        assert time.monotonic() < deadline, f"matching's lag on the needs as the console reports it: {lag}"
        time.sleep(1)
    assert len(lag) == NEEDS.partitions
    # No id, partner or company in any label.
    labels = {value for (_, pairs) in matching | intake | console for _, value in pairs}
    assert not any(len(label) == 36 and label.count("-") == 4 for label in labels)
