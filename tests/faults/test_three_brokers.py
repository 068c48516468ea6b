"""Three brokers (replication 3, min.insync.replicas=2, every producer acks=all): the
leader of a partition the needs flow through killed with -9 and restarted, then the active
controller. One node down at a time leaves two in sync: nothing may be lost or doubled."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator

import pytest
from aiokafka.admin import AIOKafkaAdminClient

from contracts.topics import NEEDS
from services.common.kafka_security import ADMIN, client_options
from tests.faults.harness import Workload, assert_clean, env_float
from tests.faults.infra import Kafka

OUTAGE_S = env_float("REDTHREAD_FAULTS_OUTAGE_S", 10)


@pytest.fixture(scope="module")
def kafka() -> Iterator[Kafka]:
    cluster = Kafka(nodes=3)
    cluster.start()
    yield cluster
    cluster.stop()


async def leader_of(kafka: dict, topic: str, partition: int) -> int:
    admin = AIOKafkaAdminClient(**kafka)
    await admin.start()
    try:
        [described] = await admin.describe_topics([topic])
        return next(p["leader"] for p in described["partitions"] if p["partition"] == partition)
    finally:
        await admin.close()


@pytest.mark.fault_timeout(900)
def test_partition_leader_then_controller_killed_and_restarted(platform, kafka):
    workload = Workload(platform).start()
    workload.wait_acknowledged(0.3)
    killed = []
    try:
        leader = asyncio.run(leader_of(client_options(platform.settings, ADMIN), platform.settings.topic(NEEDS.name), 0))
        for find in (lambda: leader, kafka.quorum_leader):
            node = kafka.node(find())
            node.kill()
            killed.append(f"node {node.node_id}")
            time.sleep(OUTAGE_S)  # the outage itself
            kafka.restart(node)
    finally:
        for node in kafka.nodes:
            if not node.running():
                kafka.restart(node)
    healed_at = time.monotonic()
    result = platform.verify(f"three brokers: partition leader ({killed[0]}) then controller ({killed[1]}) "
                             f"kill -9, each down {OUTAGE_S:.0f}s", workload, healed_at)
    assert_clean(result)
    assert not platform.exited(), f"exited on their own: {platform.exited()}"
