"""kill -9 of each service mid-batch, restarted at once as a supervisor would: nothing the
killed process had acknowledged may be lost, nothing done twice. E-mail has no idempotency
key, so the messages on the wire at the kill (at most the send concurrency) may go twice."""

from __future__ import annotations

import time

import pytest

from deploy.local import SERVICES
from services.common.settings import Settings
from tests.faults.harness import Workload, assert_clean

ON_THE_WIRE = Settings().delivery_concurrency


@pytest.mark.fault_timeout(600)
@pytest.mark.parametrize("service", SERVICES)
def test_kill_9_mid_batch(platform, service):
    workload = Workload(platform).start()
    workload.wait_acknowledged(0.4)
    platform.kill(service)
    platform.respawn(service)
    healed_at = time.monotonic()
    platform.wait_healthy(timeout_s=120)
    result = platform.verify(f"kill -9 {service}", workload, healed_at)
    assert_clean(result, {"email": ON_THE_WIRE} if service == "notification" else {})
