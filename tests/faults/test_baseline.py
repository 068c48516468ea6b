"""No fault: the workload through all four services, as every other scenario's yardstick."""

from __future__ import annotations

import time

import pytest

from tests.faults.harness import Workload, assert_clean


@pytest.mark.fault_timeout(600)
def test_no_fault(platform):
    workload = Workload(platform).start()
    workload.join()
    result = platform.verify("no fault", workload, healed_at=time.monotonic())
    assert_clean(result)
