"""The services' Kafka wiring on the real broker."""

from __future__ import annotations

import asyncio

import pytest

from services.common.kafka import make_broker
from services.common.settings import Settings
from services.common.telemetry import setup_tracing

pytestmark = pytest.mark.integration


async def test_a_list_of_brokers_is_a_list_and_one_down_does_not_stop_a_start(settings: Settings):
    # The first address has no broker (port 1): the client must go on to the next.
    listed = settings.model_copy(update={"kafka_bootstrap_servers": f"127.0.0.1:1, {settings.kafka_bootstrap_servers}"})
    assert listed.bootstrap_servers == ["127.0.0.1:1", settings.kafka_bootstrap_servers]
    broker = make_broker(listed, "matching", setup_tracing("wiring-test"))
    try:
        await asyncio.wait_for(broker.start(), 30)
        assert await broker.ping(timeout=5)
    finally:
        await broker.stop()
