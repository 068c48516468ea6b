"""Services frozen (SIGSTOP) past the consumers' max.poll.interval.ms while needs flow in,
then resumed (SIGCONT): their group has moved on without them, their leases have run out;
what they do on waking must lose nothing and do nothing twice — e-mails included, since no
process died. The platform here leaves a group after 45 s without a poll instead of the
default 2 minutes, which is the same path, sooner."""

from __future__ import annotations

import signal
import time

import pytest

from services.common.settings import Settings
from tests.faults.harness import Workload, assert_clean, env_float

FROZEN = ("matching", "notification", "reporting")
MAX_POLL_INTERVAL_MS = 45_000
FREEZE_S = env_float("REDTHREAD_FAULTS_FREEZE_S", MAX_POLL_INTERVAL_MS / 1000 + 15)
assert FREEZE_S * 1000 > MAX_POLL_INTERVAL_MS and FREEZE_S > Settings().delivery_lease_s


@pytest.fixture(scope="module")
def platform_options() -> dict:
    return {"env": {"REDTHREAD_CONSUMER_MAX_POLL_INTERVAL_MS": str(MAX_POLL_INTERVAL_MS)}}


@pytest.mark.fault_timeout(int(FREEZE_S + 600))
def test_frozen_past_max_poll_interval_then_resumed(platform):
    workload = Workload(platform).start()
    workload.wait_acknowledged(0.4)
    try:
        for service in FROZEN:
            platform.signal(service, signal.SIGSTOP)
        time.sleep(FREEZE_S)  # the freeze itself
    finally:
        for service in FROZEN:
            platform.signal(service, signal.SIGCONT)
    healed_at = time.monotonic()
    result = platform.verify(f"{', '.join(FROZEN)} frozen {FREEZE_S:.0f}s (SIGSTOP), then resumed", workload, healed_at)
    assert_clean(result)
    assert not platform.exited(), f"exited on their own: {platform.exited()}"
