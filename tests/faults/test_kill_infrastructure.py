"""The broker and the database killed with -9 while traffic flows, and started again after
an outage: nothing acknowledged lost, nothing done twice — not even an e-mail, since no
process of redthread died."""

from __future__ import annotations

import time

import pytest

from tests.faults.harness import Workload, assert_clean, env_float

OUTAGE_S = env_float("REDTHREAD_FAULTS_OUTAGE_S", 10)  # how long the broker or the database stays down


@pytest.mark.fault_timeout(900)
def test_postgres_killed_and_restarted(platform, postgres):
    workload = Workload(platform).start()
    workload.wait_acknowledged(0.4)
    try:
        postgres.kill()
        time.sleep(OUTAGE_S)  # the outage itself: nothing to poll for
    finally:
        postgres.restart()
    healed_at = time.monotonic()
    result = platform.verify(f"PostgreSQL kill -9, down {OUTAGE_S:.0f}s", workload, healed_at)
    assert_clean(result)
    assert not platform.exited(), f"exited on their own: {platform.exited()}"
    assert workload.statuses["500"] == 0, f"intake answered 500 while the database was away (503 expected): {result.line()}"


@pytest.mark.fault_timeout(900)
def test_broker_killed_and_restarted(platform, kafka):
    [node] = kafka.nodes
    workload = Workload(platform).start()
    workload.wait_acknowledged(0.4)
    try:
        node.kill()
        time.sleep(OUTAGE_S)
    finally:
        kafka.restart(node)
    healed_at = time.monotonic()
    result = platform.verify(f"broker kill -9 (one node), down {OUTAGE_S:.0f}s", workload, healed_at)
    assert_clean(result)
    assert not platform.exited(), f"exited on their own: {platform.exited()}"
