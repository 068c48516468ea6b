"""The one background loop of redthread: do a pass of work, again at once while there is
more, otherwise when woken or after the poll interval; after a failure, again after an
exponential backoff. The outbox relay, the delivery dispatcher and the digest scheduler
are each a pass given to a Worker.

A Worker also says how it is doing (`health`): when it last succeeded, and since when
and why it keeps failing, so that /health can tell the truth about it.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from services.common.failures import is_transient

log = logging.getLogger(__name__)

# A pass returns True when it knows more work is waiting (a full batch): the next pass
# starts at once.
Pass = Callable[[], Awaitable[bool]]


@dataclass(frozen=True)
class WorkerHealth:
    name: str
    failing_for_s: float | None  # None while its last pass succeeded
    last_error: str | None
    consecutive_failures: int
    since_last_success_s: float | None  # None before its first success


class Worker:
    def __init__(
        self,
        name: str,
        work: Pass,
        *,
        poll_interval_s: float,
        backoff_initial_s: float,
        backoff_max_s: float,
        linger_s: float = 0.0,
        before_pass: Callable[[], Awaitable[None]] | None = None,
    ) -> None:
        """`linger_s`: once woken, wait this long so that what arrives meanwhile joins
        the pass. `before_pass`: run before each pass (say, to re-establish a listener)."""
        self.name = name
        self._work = work
        self._poll_interval_s = poll_interval_s
        self._backoff_initial_s = backoff_initial_s
        self._backoff_max_s = backoff_max_s
        self._linger_s = linger_s
        self._before_pass = before_pass
        self._wake = asyncio.Event()
        self._stopping = False
        self._task: asyncio.Task | None = None
        self._failures = 0
        self._failing_since: float | None = None
        self._last_error: str | None = None
        self._last_success: float | None = None

    def wake(self) -> None:
        """Start the next pass now (or as soon as the one under way ends)."""
        self._wake.set()

    def start(self) -> None:
        self._stopping = False
        self._task = asyncio.create_task(self._run(), name=self.name)

    async def stop(self, *, grace_s: float = 0.0) -> None:
        """Stop; with `grace_s`, let the pass under way finish within that time first."""
        self._stopping = True
        self._wake.set()
        if self._task is None:
            return
        if grace_s > 0:
            try:
                await asyncio.wait_for(asyncio.shield(self._task), grace_s)
            except TimeoutError:
                log.warning("%s: the pass under way did not end within %.0fs at stop; cut short", self.name, grace_s)
        self._task.cancel()
        await asyncio.gather(self._task, return_exceptions=True)
        self._task = None

    def health(self) -> WorkerHealth:
        now = time.monotonic()
        return WorkerHealth(
            name=self.name,
            failing_for_s=None if self._failing_since is None else now - self._failing_since,
            last_error=self._last_error if self._failures else None,
            consecutive_failures=self._failures,
            since_last_success_s=None if self._last_success is None else now - self._last_success,
        )

    async def _run(self) -> None:
        backoff = self._backoff_initial_s
        while not self._stopping:
            # Cleared before the pass, not after: a wake during the pass gets a pass of its
            # own at once, not after the poll interval.
            self._wake.clear()
            try:
                if self._before_pass is not None:
                    await self._before_pass()
                more = await self._work()
            except asyncio.CancelledError:
                raise
            except Exception as error:  # noqa: BLE001 - the loop must outlive any failure
                self._failed(error, backoff)
                await self._nap(backoff)
                backoff = min(backoff * 2, self._backoff_max_s)
                continue
            self._succeeded()
            backoff = self._backoff_initial_s
            if more:
                continue
            if await self._nap(self._poll_interval_s) and self._linger_s > 0 and not self._stopping:
                await asyncio.sleep(self._linger_s)

    async def _nap(self, seconds: float) -> bool:
        """Sleep up to `seconds`; True when woken before."""
        try:
            await asyncio.wait_for(self._wake.wait(), seconds)
        except TimeoutError:
            return False
        return True

    def _failed(self, error: Exception, retry_in_s: float) -> None:
        self._failures += 1
        if self._failing_since is None:
            self._failing_since = time.monotonic()
        self._last_error = f"{type(error).__name__}: {error}"[:500]
        if is_transient(error):
            log.warning("%s: failed (%s), again in %.1fs", self.name, self._last_error, retry_in_s)
        else:
            log.error("%s: failed, again in %.1fs", self.name, retry_in_s, exc_info=error)

    def _succeeded(self) -> None:
        self._failures = 0
        self._failing_since = None
        self._last_success = time.monotonic()
