"""/health tells the truth: a service whose consumer is stuck on a batch, or whose
outbox is not being relayed, says "degraded" with the reason, and "ok" once it is not."""

from __future__ import annotations

import asyncio

import httpx
import pytest

from contracts.events import NeedSubmitted
from contracts.topics import NEEDS
from services.common.kafka_security import ADMIN
from services.common.runtime import Service, Subscription
from tests.conftest import a_need, publish_event

pytestmark = pytest.mark.integration


async def health_of(service: Service) -> dict:
    transport = httpx.ASGITransport(app=service.http_app)
    async with httpx.AsyncClient(transport=transport, base_url="http://service") as client:
        response = await asyncio.wait_for(client.get("/health"), 10)
    body = response.json()
    assert response.status_code == (503 if body["status"] == "failing" else 200)
    return body


async def eventually(check, timeout_s: float = 20):
    deadline = asyncio.get_running_loop().time() + timeout_s
    while True:
        found = await check()
        if found or asyncio.get_running_loop().time() > deadline:
            return found
        await asyncio.sleep(0.2)


async def test_a_stuck_batch_and_an_unrelayed_outbox_are_reported_and_clear(settings, producer):
    release = asyncio.Event()

    async def hold(_ctx, _event):
        await release.wait()

    service = Service(
        "health_test",
        package="services.common",
        description="a service whose handler waits to be released",
        # Nobody relays its outbox: what its requests stage stays there. Not a service the
        # broker's ACLs know: it connects as admin.
        settings=settings.model_copy(
            update={"health_stall_s": 1.0, "health_outbox_max_age_s": 1.0, "outbox_relay": "own-process",
                    "kafka_principal": ADMIN}
        ),
        subscriptions=(Subscription("health-test", (NEEDS,), handlers={NeedSubmitted.EVENT_TYPE: hold}),),
    )
    await service.start()
    try:
        assert (await health_of(service))["status"] == "ok"
        await publish_event(producer, settings.topic(NEEDS.name), a_need(coach=None))

        async def stuck():
            body = await health_of(service)
            return body if body["status"] == "degraded" and "in hand" in body["checks"]["consumer health-test"] else None

        body = await eventually(stuck)
        assert body, "a batch held for longer than health_stall_s was not reported"
        release.set()

        async with service.pool.acquire() as conn:
            await conn.execute(
                "INSERT INTO outbox (topic, value, headers, created_at) VALUES ('nowhere', '\\x00', '{}', now() - interval '5 minutes')"
            )

        async def late_outbox():
            body = await health_of(service)
            return body if body["checks"].get("consumer health-test") == "ok" and "oldest row" in body["checks"]["outbox"] else None

        body = await eventually(late_outbox)
        assert body, "the batch was released, but health still says it is stuck, or the outbox is not reported late"
        assert body["status"] == "degraded"

        async with service.pool.acquire() as conn:
            await conn.execute("DELETE FROM outbox")
        assert (await health_of(service))["status"] == "ok"
    finally:
        release.set()
        await service.stop()
