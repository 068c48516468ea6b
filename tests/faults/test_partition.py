"""A network partition between matching and the broker, while needs flow.

Matching runs in a network namespace of the suite's own, joined to this host by two links:
one to the broker, which listens on this host's end of it (the other services reach that
address locally), and one to everything else — its database, through a forwarder to the
suite's PostgreSQL on loopback, and the suite asking for its /health. The broker's link is
cut for longer than the consumer's session timeout and the client's request timeout:
matching's connections hang without a reset, its group evicts it, its relay cannot send,
while intake goes on taking needs. Healed, matching must find its way back on its own:
nothing lost, nothing doubled, and /health must have said what was wrong meanwhile."""

from __future__ import annotations

import time
from collections.abc import Iterator

import httpx
import pytest

from deploy.local import Placement
from tests.faults.harness import Workload, assert_clean, env_float
from tests.faults.infra import PG_PORT, Forwarder, Kafka, NetworkNamespace, Postgres

PARTITION_S = env_float("REDTHREAD_FAULTS_PARTITION_S", 60)
PARTITIONED = "matching"
LINKS = {"broker": "10.231.77", "other": "10.231.78"}


@pytest.fixture(scope="module")
def network() -> Iterator[NetworkNamespace]:
    if reason := NetworkNamespace.unavailable():
        pytest.skip(f"a partition needs a network namespace of its own: {reason}")
    namespace = NetworkNamespace("rtfaults", LINKS)
    namespace.create()
    yield namespace
    namespace.delete()


@pytest.fixture(scope="module")
def kafka(network: NetworkNamespace) -> Iterator[Kafka]:
    broker = Kafka(nodes=1, host=network.host_address("broker"), shift=30_000, name="kafka-partition")
    broker.start()
    yield broker
    broker.stop()


@pytest.fixture(scope="module")
def database_forwarder(network: NetworkNamespace, postgres: Postgres) -> Iterator[Forwarder]:
    forwarder = Forwarder(network.host_address("other"), ("127.0.0.1", PG_PORT)).start()
    yield forwarder
    forwarder.stop()


@pytest.fixture(scope="module")
def platform_options(network: NetworkNamespace, database_forwarder: Forwarder, database_url: str) -> dict:
    here = f"127.0.0.1:{PG_PORT}"
    assert here in database_url, database_url
    host, port = database_forwarder.address
    inside = network.address("other")
    return {"placements": {PARTITIONED: Placement(
        prefix=network.prefix, host=inside,
        env={"DATABASE_URL": database_url.replace(here, f"{host}:{port}"), "REDTHREAD_HTTP_HOST": inside},
    )}}


def matches(platform) -> int:
    return platform.query("SELECT count(*) FROM matching.proposed_matches")


@pytest.mark.fault_timeout(int(PARTITION_S + 600))
def test_matching_cut_off_from_the_broker_then_reconnected(platform, network):
    workload = Workload(platform).start()
    workload.wait_acknowledged(0.4)
    try:
        network.cut("broker")
        cut_at = time.monotonic()
        time.sleep(min(20.0, PARTITION_S / 3))  # what matching had fetched before the cut is done by now
        matches_early = matches(platform)
        health = httpx.get(platform.url(PARTITIONED) + "/health", timeout=10)
        time.sleep(max(0.0, cut_at + PARTITION_S - 1 - time.monotonic()))
        matches_late = matches(platform)
        time.sleep(max(0.0, cut_at + PARTITION_S - time.monotonic()))  # the rest of the partition
    finally:
        network.heal("broker")
    healed_at = time.monotonic()
    result = platform.verify(f"{PARTITIONED} cut off from the broker {PARTITION_S:.0f}s (network partition,"
                             f" /health said {health.json()['status']})", workload, healed_at)
    assert matches_late == matches_early, "matching went on consuming: the partition did not hold"
    assert health.status_code == 503 and health.json()["checks"]["kafka"].startswith("failing"), health.text
    assert_clean(result)
    assert not platform.exited(), f"exited on their own: {platform.exited()}"
