"""Services started in-process on the real broker and database, one per test module."""

from __future__ import annotations

import asyncio

import pytest

from services.intake.service import build as build_intake


@pytest.fixture(scope="module")
async def intake(settings):
    service = build_intake(settings)
    await service.start()
    yield service
    await service.stop()


async def eventually_true(service, query: str, *args, timeout_s: float = 20) -> None:
    """Wait until `query` on the service's schema returns true."""
    deadline = asyncio.get_running_loop().time() + timeout_s
    while asyncio.get_running_loop().time() < deadline:
        async with service.pool.acquire() as conn:
            if await conn.fetchval(query, *args):
                return
        await asyncio.sleep(0.1)
    raise AssertionError(f"not true within {timeout_s}s: {query} {args}")
