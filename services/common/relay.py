"""A service's outbox relay in a process of its own: `python -m services.common.relay intake`.

Run beside a service whose setting `outbox_relay` is "own-process" (docker-compose runs
one next to each service). Relaying then costs the service's event loop nothing: its
consumer and its HTTP requests only write outbox rows, and this process sends them,
woken by the notification each committing transaction sends (migration 005), polling
every `outbox_poll_interval_s` when notifications cannot be had. Any number may run
for the same service: rows are claimed with SKIP LOCKED. SIGTERM or Ctrl-C stops it
after a last pass. With REDTHREAD_HTTP_PORT set it serves its metrics (the relay's
latency, `redthread_outbox_relay_seconds`) at /metrics on that port.
"""

from __future__ import annotations

import asyncio
import logging
import re
import signal
import sys

from prometheus_client import start_http_server

from services.common.db import apply_migrations, create_pool
from services.common.logs import setup_logging
from services.common.metrics import Metrics
from services.common.outbox import OutboxRelay
from services.common.settings import SERVICE_PORTS, Settings

log = logging.getLogger("redthread.relay")


async def relay_until_stopped(
    service: str, settings: Settings, stopped: asyncio.Event, metrics: Metrics | None = None,
) -> int:
    """Relay `service`'s outbox until `stopped` is set; returns the rows relayed."""
    pool = await create_pool(settings.database_url, service, max_size=2)
    try:
        # The outbox and its notifications are the shared migrations; the service applies
        # them too, whichever starts first (they are serialised).
        await apply_migrations(pool, "services.common")
        relay = OutboxRelay(pool, settings, service,
                            on_sent=metrics.relay_seconds.observe if metrics else lambda _seconds: None)
        await relay.start(listen=True)
        try:
            await stopped.wait()
        finally:
            await relay.stop()
        return relay.relayed
    finally:
        await pool.close()


def main(argv: list[str]) -> int:
    # A service's schema bears its name; any schema with an outbox will do (the tests').
    if len(argv) != 1 or not re.fullmatch(r"[a-z][a-z0-9_]*", argv[0]):
        print(f"usage: python -m services.common.relay <service: {' | '.join(SERVICE_PORTS)}>", file=sys.stderr)
        return 2
    service = argv[0]
    settings = Settings()
    setup_logging(f"{service}-relay", settings.log_format)
    metrics = Metrics(f"{service}-relay")
    if settings.http_port:
        start_http_server(settings.http_port, settings.http_host, registry=metrics.registry)

    async def run() -> int:
        stopped = asyncio.Event()
        for signum in (signal.SIGTERM, signal.SIGINT):
            asyncio.get_running_loop().add_signal_handler(signum, stopped.set)
        relayed = await relay_until_stopped(service, settings, stopped, metrics)
        log.info("%s's relay stopped after %d rows", service, relayed)
        return 0

    return asyncio.run(run())


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
