"""A time limit on a peer that counts only the time this process runs.

A plain timeout counts wall time. When the process is stopped (SIGSTOP, a frozen VM, a
laptop lid), every timer is overdue the moment it runs again and fires before the answer
waiting in the socket is read: a call the peer had answered counts as failed and is made
again — an e-mail sent twice. This limit counts at most a tick's worth of time per tick,
so a pause is not blamed on the peer, and the answer is read first.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

TICK_S = 0.25


@asynccontextmanager
async def running_time_limit(seconds: float) -> AsyncIterator[None]:
    """Like asyncio.timeout(seconds), but time the process did not run does not count.
    Raises TimeoutError out of the block when the limit is reached."""
    async with asyncio.timeout(None) as limit:
        watcher = asyncio.get_running_loop().create_task(_count_running_time(limit, seconds))
        try:
            yield
        finally:
            watcher.cancel()


async def _count_running_time(limit: asyncio.Timeout, seconds: float) -> None:
    loop = asyncio.get_running_loop()
    used = 0.0
    while used < seconds:
        before = loop.time()
        await asyncio.sleep(min(TICK_S, seconds - used))
        # A gap far longer than the sleep is time the process did not run.
        used += min(loop.time() - before, 2 * TICK_S)
    limit.reschedule(loop.time())
