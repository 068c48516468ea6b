"""What an attempt comes to: delivered, retried after a capped and jittered backoff until
the horizon, or given up (at once when the failure is permanent)."""

from __future__ import annotations

import pytest

from services.common.settings import Settings
from services.notification.channels import Sent
from services.notification.channels.webhook import peer_state_of
from services.notification.delivery_policy import backoff_s, judge

SETTINGS = Settings(delivery_give_up_after_s=3600.0, delivery_backoff_initial_s=2.0, delivery_backoff_max_s=600.0,
                    delivery_max_attempts=500)
DOWN = Sent(ok=False, peer="down", error="mail server 127.0.0.1:8025: ConnectionRefusedError")
HIGHEST = lambda low, high: high  # noqa: E731 - the jitter at its ceiling


def test_delivered_is_delivered():
    assert judge(Sent.delivered(status_code=200), attempt=1, pending_for_s=0, settings=SETTINGS).result == "delivered"


def test_a_transient_failure_is_retried_with_a_backoff_doubling_to_its_cap():
    delays = [judge(DOWN, attempt=n, pending_for_s=0, settings=SETTINGS, uniform=HIGHEST).retry_in_s
              for n in range(1, 12)]
    assert delays == [2, 4, 8, 16, 32, 64, 128, 256, 512, 600, 600]
    verdict = judge(DOWN, attempt=1, pending_for_s=0, settings=SETTINGS)
    assert verdict.result == "failed" and 0 <= verdict.retry_in_s <= 2


def test_an_outage_of_an_hour_gives_up_nothing_before_the_horizon():
    # Eight attempts were the end before; an hour of failures is no reason to give up now.
    for attempt, pending_for_s in [(8, 240), (20, 3000), (60, 3599)]:
        assert judge(DOWN, attempt=attempt, pending_for_s=pending_for_s, settings=SETTINGS).result == "failed"


def test_the_last_retry_falls_on_the_horizon_and_a_failure_after_it_gives_up():
    near = judge(DOWN, attempt=12, pending_for_s=3500, settings=SETTINGS, uniform=HIGHEST)
    assert near.result == "failed" and near.retry_in_s == pytest.approx(100)
    over = judge(DOWN, attempt=13, pending_for_s=3600, settings=SETTINGS)
    assert (over.result, over.gave_up_because) == ("gave-up", "retrying for 1 h")


def test_a_permanent_failure_gives_up_at_once():
    refused = Sent(ok=False, peer="up", status_code=554, error="mail server: 554 rejected", permanent=True)
    verdict = judge(refused, attempt=1, pending_for_s=0, settings=SETTINGS)
    assert (verdict.result, verdict.gave_up_because) == ("gave-up", "a permanent failure")


def test_the_attempt_bound_is_only_a_safety_net():
    assert judge(DOWN, attempt=500, pending_for_s=10, settings=SETTINGS).result == "gave-up"


def test_backoff_has_full_jitter():
    assert backoff_s(3, SETTINGS, uniform=lambda low, high: low) == 0
    assert backoff_s(10_000, SETTINGS, uniform=HIGHEST) == 600  # no overflow, however many attempts


@pytest.mark.parametrize(("status", "state"), [(500, "down"), (503, "down"), (429, "down"), (408, "down"),
                                                (404, "up"), (410, "up"), (409, "up"), (302, "up")])
def test_a_webhook_host_is_down_when_it_cannot_take_calls_now(status, state):
    assert peer_state_of(status) == state
