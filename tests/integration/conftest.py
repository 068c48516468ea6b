"""Services started in-process on the real broker and database, one per test module."""

from __future__ import annotations

import asyncio

import pytest

from services.intake.service import build as build_intake
from services.matching.service import build as build_matching
from services.notification.service import build as build_notification
from services.operations.service import build as build_console
from deploy.local import ServiceProcesses
from tests.peers import Inbox, free_port


async def _running(service):
    await service.start()
    yield service
    await service.stop()


@pytest.fixture(scope="module")
async def intake(settings):
    async for service in _running(build_intake(settings)):
        yield service


@pytest.fixture(scope="module")
async def matching(settings):
    async for service in _running(build_matching(settings)):
        yield service


@pytest.fixture(scope="module")
async def console(settings):
    async for service in _running(build_console(settings)):
        yield service


@pytest.fixture(scope="module")
def inbox():
    inbox = Inbox().start()
    yield inbox
    inbox.stop()


@pytest.fixture(scope="module")
async def notification(settings, inbox):
    """Notification sending mail to the module's real SMTP server, retrying quickly."""
    quick = settings.model_copy(
        update={
            "smtp_port": inbox.port,
            "delivery_backoff_initial_s": 0.05,
            "delivery_backoff_max_s": 0.2,
            "delivery_poll_interval_s": 0.1,
            "public_url": "http://notification.test",
            "webhook_allow_internal": True,  # the tests' receivers listen on 127.0.0.1
        }
    )
    async for service in _running(build_notification(quick)):
        yield service


async def eventually_true(service, query: str, *args, timeout_s: float = 20) -> None:
    """Wait until `query` on the service's schema returns true."""
    deadline = asyncio.get_running_loop().time() + timeout_s
    while asyncio.get_running_loop().time() < deadline:
        async with service.pool.acquire() as conn:
            if await conn.fetchval(query, *args):
                return
        await asyncio.sleep(0.1)
    raise AssertionError(f"not true within {timeout_s}s: {query} {args}")


@pytest.fixture(scope="module")
def intake_process(settings, tmp_path_factory):
    """Intake as a real process (as partners meet it), with the module's namespace,
    database and partner cache; the module provisions its own partners."""
    processes = ServiceProcesses(
        {
            "REDTHREAD_NAMESPACE": settings.namespace,
            "DATABASE_URL": settings.database_url,
            "REDTHREAD_PARTNER_CACHE_S": str(settings.partner_cache_s),
        },
        tmp_path_factory.mktemp("intake-logs"),
        {"intake": free_port()},
    )
    processes.start(only=("intake",))
    try:
        processes.wait_healthy(timeout_s=60)
        yield processes
    finally:
        processes.stop()
